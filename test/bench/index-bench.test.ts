import assert from "node:assert/strict";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { encodeBeirWithModel, trainingEvaluation } from "../../bench/lib/index-embeddings.js";
import { PLAID } from "../../src/indexes/plaid/index.js";
import { documentText } from "../../src/io/beir.js";
import { maxSim } from "../../src/scores/maxsim.js";
import { modelTestContext } from "../helpers/models.js";
import { sharedPath } from "../helpers/shared.js";
import { synthetic, tempDir } from "../indexes/helpers.js";

const ctx = modelTestContext("index-bench");

// The benchmark's "oracle" row (bench/index.ts) claims to measure the codec alone: with every
// centroid probed and nFullScores >= 4 × documents, PLAID must return exactly brute-force
// MaxSim over its own decompressed vectors. Scores: fp32 sums in another order, 1e-5.
test("PLAID oracle settings rank exactly as MaxSim over the decompressed documents", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const data = synthetic({ docs: 300, dim: 32, minLen: 4, maxLen: 20, seed: 5, vocab: 200 });
    const K = 32;
    const plaid = await PLAID.create(dir, { numCentroids: K });
    await plaid.add(data.ids, data.docs);
    const queries = [0, 17, 123, 250].map((d) => data.query(data.docs[d], 8, 0.3));
    const oracle = await plaid.search(queries, { k: 10, nIvfProbe: K, nFullScores: 4 * 300 });
    const narrow = await plaid.search(queries, { k: 10, nIvfProbe: 1, nFullScores: 4 });
    let narrowDiffers = false;
    queries.forEach((q, i) => {
      const brute = data.ids
        .map((id) => ({ id, score: maxSim(q, plaid.decompressed(id)!) }))
        .sort((a, b) => b.score - a.score)
        .slice(0, 10);
      assert.deepEqual(
        oracle[i].map((h) => h.id),
        brute.map((h) => h.id),
      );
      oracle[i].forEach((h, j) => assert.ok(Math.abs(h.score - brute[j].score) < 1e-5));
      if (narrow[i].map((h) => h.id).join() !== brute.map((h) => h.id).join()) narrowDiffers = true;
    });
    // The test would be vacuous if any setting found the same documents.
    assert.ok(narrowDiffers, "nIvfProbe 1 / nFullScores 4 should miss some of the oracle's top 10");
    await plaid.close();
  } finally {
    cleanup();
  }
});

test("encodeBeirWithModel stores the model's encode output and reuses it", async () => {
  const model = sharedPath("fixtures/bert-tiny-colbert");
  const data = join(ctx.tmp, "beir");
  mkdirSync(join(data, "qrels"), { recursive: true });
  const docs = [
    { _id: "a", title: "Cells", text: "Stem cells divide and differentiate." },
    { _id: "b", title: "", text: "Vitamin D and bone density in older adults." },
    { _id: "c", title: "Malaria", text: "Mosquito nets reduce malaria transmission in children." },
  ];
  writeFileSync(join(data, "corpus.jsonl"), docs.map((d) => JSON.stringify(d)).join("\n"));
  writeFileSync(
    join(data, "queries.jsonl"),
    [
      { _id: "q1", text: "do bed nets prevent malaria" },
      { _id: "q2", text: "unjudged query" },
      { _id: "q3", text: "vitamin d bones" },
    ]
      .map((q) => JSON.stringify(q))
      .join("\n"),
  );
  writeFileSync(
    join(data, "qrels", "test.tsv"),
    "query-id\tcorpus-id\tscore\nq1\tc\t1\nq3\tb\t1\n",
  );
  const cache = join(ctx.tmp, "cache");

  const first = await encodeBeirWithModel(model, data, "test", cache, () => {});
  const colbert = await ctx.load(model);
  const wantDocs = await colbert.encode(
    docs.map((d) => documentText({ id: d._id, title: d.title, text: d.text })),
    { isQuery: false },
  );
  const wantQueries = await colbert.encode(["do bed nets prevent malaria", "vitamin d bones"], {
    isQuery: true,
  });
  assert.equal(first.corpus.docs, 3);
  assert.equal(first.corpus.dim, 32);
  assert.deepEqual(first.corpus.meta.queryIds, ["q1", "q3"]);
  const streamed: string[] = [];
  for await (const d of first.corpus.stream()) {
    streamed.push(d.id);
    const i = streamed.length - 1;
    // Same model, same texts, a different batch: the same floats up to batching (1e-5).
    assert.equal(d.embedding.rows, wantDocs[i].rows);
    const diff = d.embedding.data.reduce(
      (m, x, j) => Math.max(m, Math.abs(x - wantDocs[i].data[j])),
      0,
    );
    assert.ok(diff < 1e-5, `document ${i}: max |diff| ${diff}`);
  }
  assert.deepEqual(streamed, ["a", "b", "c"]);
  assert.equal(
    first.corpus.tokens,
    wantDocs.reduce((s, m) => s + m.rows, 0),
  );
  first.queries.forEach((q, i) => {
    assert.equal(q.rows, wantQueries[i].rows);
    const diff = q.data.reduce((m, x, j) => Math.max(m, Math.abs(x - wantQueries[i].data[j])), 0);
    assert.ok(diff < 1e-5, `query ${i}: max |diff| ${diff}`);
  });
  assert.equal(first.qrels.get("q1")?.get("c"), 1);
  const lastDoc = first.corpus.document(2);
  first.corpus.close();

  // A second call with the same weights reads the cache instead of encoding again.
  const written = statSync(join(cache, "documents.f32")).mtimeMs;
  const second = await encodeBeirWithModel(model, data, "test", cache, () => {});
  assert.equal(statSync(join(cache, "documents.f32")).mtimeMs, written);
  assert.deepEqual(second.corpus.document(2).data, lastDoc.data);
  assert.deepEqual(
    second.queries.map((q) => [q.rows, Array.from(q.data)]),
    first.queries.map((q) => [q.rows, Array.from(q.data.subarray(0, q.rows * q.cols))]),
  );
  second.corpus.close();
});

test("trainingEvaluation reads the last evaluation of a trainer's loss log", () => {
  const dir = join(ctx.tmp, "trained");
  mkdirSync(dir, { recursive: true });
  assert.equal(trainingEvaluation(dir), null);
  writeFileSync(
    join(dir, "loss_log.jsonl"),
    [
      { step: 1, loss: 3 },
      { step: 116, eval: { "ndcg@10": 0.2 } },
      { step: 232, loss: 1 },
      { step: 348, eval: { "ndcg@10": 0.3 } },
    ]
      .map((e) => JSON.stringify(e))
      .join("\n"),
  );
  assert.deepEqual(trainingEvaluation(dir), { step: 348, metrics: { "ndcg@10": 0.3 } });
});
