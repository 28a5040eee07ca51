import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  ColBERTDistillationEvaluator,
  ColBERTTripletEvaluator,
  NanoBEIREvaluator,
  paddedMaxSim,
} from "../../src/evaluation/evaluators.js";
import { ColBERT } from "../../src/models/colbert.js";
import { colbertKdScores, colbertScoresPairwise } from "../../src/scores/colbert.js";
import { tensor } from "../../src/scores/tensor.js";
import { InvalidArgumentError } from "../../src/util/errors.js";
import { fromRows } from "../../src/util/matrix.js";
import { BagOfWordsModel } from "./fake-model.js";
import { shared, tempDir } from "./helpers.js";

const close = (a: number, b: number, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol, `expected ${b}, got ${a} (tolerance ${tol})`);

test("the fake model has no hash collision on the words used here", () => {
  const m = new BagOfWordsModel();
  const words =
    "cat food bowl red fast car blue sky a b c d apple banana engine ocean water waves x y z".split(
      " ",
    );
  assert.equal(new Set(words.map((w) => m.slot(w))).size, words.length);
});

test("ColBERTTripletEvaluator: accuracy of score(q, pos) > score(q, neg), ties count as misses", async () => {
  const model = new BagOfWordsModel();
  const ev = new ColBERTTripletEvaluator({
    anchors: ["cat food", "red car", "blue sky"],
    // scores: 2 vs 0 (hit); 2 vs 2 (tie: miss); 0 vs 1 (miss)
    positives: ["cat food bowl", "red fast car", "water"],
    negatives: ["sky", "red car", "sky"],
  });
  assert.deepEqual(await ev.evaluate(model), { accuracy: 1 / 3 });
  // Anchors are encoded as queries, the rest as documents.
  assert.deepEqual(model.calls, [
    { n: 3, isQuery: true },
    { n: 3, isQuery: false },
    { n: 3, isQuery: false },
  ]);
  assert.throws(
    () => new ColBERTTripletEvaluator({ anchors: ["a"], positives: [], negatives: ["b"] }),
    InvalidArgumentError,
  );
});

test("paddedMaxSim lets zero padding win over negative similarities, as PyLate's unmasked KD scores", () => {
  const q = fromRows([
    [1, 0],
    [0, 1],
  ]);
  const d = fromRows([[-1, 0.5]]);
  close(paddedMaxSim(q, d, 1), -1 + 0.5);
  close(paddedMaxSim(q, d, 3), 0 + 0.5);
});

test("ColBERTDistillationEvaluator: batch-mean KL(teacher || student) over min-max normalised MaxSim", async () => {
  const model = new BagOfWordsModel();
  const teacher = [
    [3, 1, 0.5],
    [0.2, 0.1, 2],
  ];
  const ev = new ColBERTDistillationEvaluator({
    queries: ["a b", "c"],
    documents: [
      ["a b", "a", "d"], // MaxSim 2, 1, 0
      ["a", "b", "c c"], // MaxSim 0, 0, 1
    ],
    scores: teacher,
    name: "dev",
  });
  const eps = 1e-8;
  const student = [
    [2 / (2 + eps), 1 / (2 + eps), 0],
    [0, 0, 1 / (1 + eps)],
  ];
  const softmax = (x: number[]) => {
    const e = x.map(Math.exp);
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  };
  let kl = 0;
  for (let i = 0; i < 2; i++) {
    const p = softmax(teacher[i]);
    const q = softmax(student[i]);
    for (let j = 0; j < 3; j++) kl += p[j] * Math.log(p[j] / q[j]);
  }
  const res = await ev.evaluate(model);
  assert.deepEqual(Object.keys(res), ["dev_kl_divergence"]);
  close(res.dev_kl_divergence, kl / 2);
  const raw = await new ColBERTDistillationEvaluator({
    queries: ["a b"],
    documents: [["a b", "a", "d"]],
    scores: [[2, 1, 0]],
    normalizeScores: false,
  }).evaluate(model);
  close(raw.kl_divergence, 0); // student MaxSim equals the teacher's scores
  assert.throws(
    () =>
      new ColBERTDistillationEvaluator({ queries: ["a"], documents: [["x", "y"]], scores: [[1]] }),
    /1 scores; every query needs 2/,
  );
});

function writeBeir(
  dir: string,
  docs: [string, string][],
  queries: [string, string][],
  qrels: [string, string][],
  split = "test",
) {
  mkdirSync(join(dir, "qrels"), { recursive: true });
  writeFileSync(
    join(dir, "corpus.jsonl"),
    docs.map(([id, text]) => JSON.stringify({ _id: id, title: "", text })).join("\n"),
  );
  writeFileSync(
    join(dir, "queries.jsonl"),
    queries.map(([id, text]) => JSON.stringify({ _id: id, text })).join("\n"),
  );
  writeFileSync(
    join(dir, "qrels", `${split}.tsv`),
    `query-id\tcorpus-id\tscore\n${qrels.map(([q, d]) => `${q}\t${d}\t1`).join("\n")}\n`,
  );
}

test("NanoBEIREvaluator reports each dataset and the unweighted mean", async () => {
  const root = tempDir();
  const a = join(root, "alpha");
  const b = join(root, "beta");
  writeBeir(
    a,
    [
      ["d1", "apple banana"],
      ["d2", "car engine"],
      ["d3", "ocean water"],
    ],
    [
      ["q1", "apple"],
      ["q2", "engine"],
    ],
    [
      ["q1", "d1"],
      ["q2", "d2"],
    ],
  );
  // "ocean" matches x1, but the relevant document is x2 (score 0): rank 2. Only a train split.
  writeBeir(
    b,
    [
      ["x1", "ocean waves"],
      ["x2", "car"],
    ],
    [["q1", "ocean"]],
    [["q1", "x2"]],
    "train",
  );
  const ev = new NanoBEIREvaluator({
    datasets: [a, b],
    metrics: ["ndcg@10", "mrr@10", "hit_rate@1"],
  });
  const res = await ev.evaluate(new BagOfWordsModel());
  close(res.datasets.alpha["ndcg@10"], 1);
  close(res.datasets.beta["ndcg@10"], 1 / Math.log2(3));
  close(res.datasets.beta["mrr@10"], 0.5);
  close(res.mean["ndcg@10"], (1 + 1 / Math.log2(3)) / 2);
  close(res.mean["hit_rate@1"], 0.5);
  close(res.flat["beta_MaxSim_mrr@10"], 0.5);
  close(res.flat["NanoBEIR_mean_MaxSim_mrr@10"], 0.75);
  assert.equal(res.evaluations[1].split, "train");
  assert.throws(() => new NanoBEIREvaluator({ datasets: [a, a] }), /names must be unique/);
});

test("paddedMaxSim equals the scores module's colbertKdScores on PyLate's zero-padded batch", () => {
  // Random signed vectors, so that zero padding changes maxima (tolerance 1e-5: float32 output).
  let s = 1;
  const rnd = () => ((s = (s * 48271) % 2147483647) / 2147483647) * 2 - 1;
  const mat = (rows: number) => fromRows(Array.from({ length: rows }, () => [rnd(), rnd(), rnd()]));
  const queries = [mat(4), mat(4)];
  const docs = [
    [mat(2), mat(5), mat(1)],
    [mat(3), mat(5), mat(4)],
  ];
  const L = 5;
  const padded = new Float32Array(2 * 3 * L * 3);
  docs.forEach((group, b) => group.forEach((d, n) => padded.set(d.data, (b * 3 + n) * L * 3)));
  const kd = colbertKdScores(queries, tensor(padded, [2, 3, L, 3]));
  for (let b = 0; b < 2; b++) {
    for (let n = 0; n < 3; n++)
      close(paddedMaxSim(queries[b], docs[b][n], L), kd.data[b * 3 + n], 1e-5);
  }
});

test("the evaluators run on the real ColBERT (tiny random-weight fixture) and agree with the scores module", async () => {
  const model = await ColBERT.fromPretrained(shared("fixtures", "bert-tiny-colbert"));
  try {
    const anchors = ["what causes rain", "cell biology", "stars", "rna virus"];
    const positives = [
      "rain comes from clouds",
      "cells divide",
      "the sun is a star",
      "viruses with rna genomes",
    ];
    const negatives = [
      "stock markets",
      "the sun is a star",
      "rain comes from clouds",
      "cells divide",
    ];
    const { accuracy } = await new ColBERTTripletEvaluator({
      anchors,
      positives,
      negatives,
    }).evaluate(model);
    const a = await model.encode(anchors, { isQuery: true });
    const p = colbertScoresPairwise(a, await model.encode(positives, { isQuery: false }));
    const n = colbertScoresPairwise(a, await model.encode(negatives, { isQuery: false }));
    const expected = Array.from(p).filter((v, i) => v > n[i]).length / anchors.length;
    assert.equal(accuracy, expected);
    const res = await new ColBERTDistillationEvaluator({
      queries: anchors.slice(0, 2),
      documents: [positives.slice(0, 3), negatives.slice(0, 3)],
      scores: [
        [1, 0, 0],
        [0, 1, 0],
      ],
    }).evaluate(model);
    assert.ok(Number.isFinite(res.kl_divergence) && res.kl_divergence >= 0);
  } finally {
    await model.dispose();
  }
});
