/**
 * `tslate train --config`, the config checks, parquet/JSONL data, and evaluation during
 * training (the live encoder equals ColBERT.encode; retrieval metrics equal a brute-force
 * MaxSim ranking built from ColBERT.encode).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { runTrainCommand, type TrainCommandOptions } from "../../src/cli/commands/train.js";
import { buildProgram } from "../../src/cli/main.js";
import { ColBERTTripletEvaluator } from "../../src/evaluation/evaluators.js";
import { evaluate, type Run } from "../../src/evaluation/metrics.js";
import type { BeirDataset } from "../../src/io/beir.js";
import { readRows } from "../../src/io/rows.js";
import { ColBERT } from "../../src/models/colbert.js";
import { maxSim } from "../../src/scores/maxsim.js";
import { parseTrainConfig, readTrainConfig } from "../../src/training/config.js";
import { distillationFromRows, tripletsFromRows } from "../../src/training/data.js";
import {
  evaluateRetrieval,
  mineHardNegativesWithModel,
  modelEvaluator,
} from "../../src/training/evaluate.js";
import { trainableParameters } from "../../src/training/graph.js";
import { LiveEncoder } from "../../src/training/live-encoder.js";
import { maskOptions, trainableModel } from "../../src/training/trainer.js";
import { ConfigError, DataError } from "../../src/util/errors.js";
import { sharedPath } from "../helpers/shared.js";
import { writeParquet } from "../io/parquet-writer.js";

const MODEL = sharedPath("fixtures/bert-tiny-colbert");
let dir: string;
let model: ColBERT;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tslate-train-cli-"));
  model = await ColBERT.fromPretrained(MODEL, { warn: () => {}, threads: 1 });
});
after(async () => {
  await model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const ROWS = [
  {
    query: "capital of france",
    positive: "Paris is the capital of France.",
    negative: "Berlin is in Germany.",
  },
  {
    query: "who wrote hamlet",
    positive: "Hamlet is by Shakespeare.",
    negative: "The Odyssey is by Homer.",
  },
  {
    query: "largest ocean",
    positive: "The Pacific is the largest ocean.",
    negative: "The Sahara is a desert.",
  },
  { query: "speed of light", positive: "Light travels fast.", negative: "Sound is slower." },
];

test("config: defaults, relative paths and clear errors", () => {
  const c = parseTrainConfig(
    { model: "./m", data: { triplets: "t.jsonl" }, output: "out" },
    "/base",
  );
  assert.equal(c.model, "/base/m");
  assert.deepEqual(c.data, { triplets: "/base/t.jsonl" });
  assert.equal(c.output, "/base/out");
  assert.equal(c.loss.name, "Contrastive");
  assert.equal(
    parseTrainConfig({ model: "org/name", data: { triplets: "t" }, output: "o" }).model,
    "org/name",
  );
  const bad = (raw: unknown, re: RegExp) =>
    assert.throws(
      () => parseTrainConfig(raw, "/b"),
      (e: unknown) => e instanceof ConfigError && re.test(e.message),
    );
  bad({ model: "m", data: { triplets: "t" }, output: "o", lr: 1 }, /unknown key "lr"/);
  bad(
    { model: "m", data: { triplet: "t" }, output: "o" },
    /one of "triplets", "distillation" or "beir"/,
  );
  bad(
    { model: "m", data: { triplets: "t" }, output: "o", loss: { name: "MarginMSE" } },
    /loss.name must be one of/,
  );
  bad(
    { model: "m", data: { triplets: "t" }, output: "o", loss: { name: "Distillation" } },
    /does not fit the data/,
  );
  bad(
    { model: "m", data: { triplets: "t" }, output: "o", training: { batchSize: "16" } },
    /training.batchSize must be a number/,
  );
  bad(
    { model: "m", data: { triplets: "t" }, output: "o", training: { learning_rate: 1 } },
    /unknown key "learning_rate"/,
  );
  bad({ model: "m", data: { triplets: "t" } }, /output must be a non-empty string/);
});

test("the example config (examples/train-scifact.json) is valid", () => {
  const file = fileURLToPath(new URL("../../../examples/train-scifact.json", import.meta.url));
  const c = readTrainConfig(file);
  assert.equal(c.model, MODEL);
  assert.deepEqual(c.data, {
    beir: sharedPath("data/scifact"),
    split: "train",
    hardNegatives: { from: "bm25", numNegatives: 1, skipTop: undefined, depth: undefined },
  });
  assert.equal(c.training.evalSteps, 116);
});

test("triplets from parquet and JSONL read the same", async () => {
  const pq = join(dir, "triplets.parquet");
  writeParquet(pq, [
    { name: "query", type: "string", values: ROWS.map((r) => r.query) },
    { name: "positive", type: "string", values: ROWS.map((r) => r.positive) },
    { name: "negative", type: "string", values: ROWS.map((r) => r.negative) },
  ]);
  const jl = join(dir, "triplets.jsonl");
  writeFileSync(jl, `${ROWS.map((r) => JSON.stringify(r)).join("\n")}\n`);
  const a = tripletsFromRows(await readRows(pq));
  const b = tripletsFromRows(await readRows(jl));
  assert.deepEqual(a, b);
  assert.deepEqual(a[1], {
    query: "who wrote hamlet",
    positive: "Hamlet is by Shakespeare.",
    negatives: ["The Odyssey is by Homer."],
  });
  writeFileSync(join(dir, "broken.jsonl"), '{"query": "q", "positive": "p"}\n{"query": \n');
  await assert.rejects(
    () => readRows(join(dir, "broken.jsonl")),
    (e: Error) => e instanceof DataError && /broken\.jsonl:2: not valid JSON/.test(e.message),
  );
  await assert.rejects(() => readRows(join(dir, "t.csv")), /\.jsonl .* or \.parquet/);
  // PyLate's knowledge-distillation tables; parquet int64 ids and scores arrive as BigInt.
  const queries = [{ query_id: 1n, text: "q one" }];
  const documents = [
    { document_id: 7n, text: "doc seven" },
    { document_id: 8n, text: "doc eight" },
  ];
  const kd = distillationFromRows(
    [{ query_id: 1n, document_ids: [8n, 7n], scores: [3n, 0.5] }],
    queries,
    documents,
  );
  assert.deepEqual(kd, [
    { query: "q one", documents: ["doc eight", "doc seven"], scores: [3, 0.5] },
  ]);
  assert.throws(
    () =>
      distillationFromRows([{ query_id: 1n, document_ids: [9n], scores: [1] }], queries, documents),
    /document_id 9 is not in the documents table/,
  );
  assert.throws(
    () =>
      distillationFromRows(
        [{ query_id: 1n, document_ids: [7n], scores: ["x"] }],
        queries,
        documents,
      ),
    /not a finite number/,
  );
  assert.throws(
    () =>
      distillationFromRows(
        [
          { query_id: 1n, document_ids: [7n, 8n], scores: [1, 2] },
          { query_id: 1n, document_ids: [7n], scores: [1] },
        ],
        queries,
        documents,
      ),
    /same number/,
  );
});

test("tslate train --config trains and saves a PyLate model", async () => {
  writeFileSync(join(dir, "train.jsonl"), `${ROWS.map((r) => JSON.stringify(r)).join("\n")}\n`);
  const config = join(dir, "train.json");
  writeFileSync(
    config,
    JSON.stringify({
      model: MODEL,
      data: { triplets: "train.jsonl" },
      loss: { name: "CachedContrastive", miniBatchSize: 2 },
      training: { batchSize: 4, maxSteps: 2, learningRate: 1e-3, threads: 1, saveSteps: 1 },
      output: "run",
    }),
  );
  const chunks: string[] = [];
  const sink = { write: (t: string) => chunks.push(t) };
  // Through commander, as `tslate train --config ... --no-progress` parses it.
  const program = buildProgram();
  const cmd = program.commands.find((c) => c.name() === "train")!;
  cmd.action(async (o: TrainCommandOptions) => {
    await runTrainCommand(o, sink, { write: () => true });
  });
  await program.parseAsync(["node", "tslate", "train", "--config", config, "--no-progress"]);
  assert.match(chunks.join(""), /trained 2 steps, last loss \d/);
  for (const f of [
    "model.safetensors",
    "1_Dense/model.safetensors",
    "loss_log.jsonl",
    "checkpoint-1/optimizer.safetensors",
    "checkpoint-2/trainer_state.json",
  ]) {
    assert.ok(existsSync(join(dir, "run", f)), f);
  }
  assert.equal(
    readFileSync(join(dir, "run", "loss_log.jsonl"), "utf8")
      .trim()
      .split("\n").length,
    2,
  );
});

test("tslate train: Ctrl-C (the CLI's handler, not the library's) saves a checkpoint and stops", async () => {
  writeFileSync(join(dir, "train.jsonl"), `${ROWS.map((r) => JSON.stringify(r)).join("\n")}\n`);
  const config = join(dir, "train-sigint.json");
  writeFileSync(
    config,
    JSON.stringify({
      model: MODEL,
      data: { triplets: "train.jsonl" },
      loss: { name: "Contrastive" },
      training: { batchSize: 2, maxSteps: 3, learningRate: 1e-3, threads: 1, saveSteps: 0 },
      output: "run-sigint",
    }),
  );
  const listeners = process.listenerCount("SIGINT");
  // The data log line comes just before the trainer is built; the SIGINT goes out on the next
  // turn of the event loop, once the CLI's handler is installed and training has started.
  const err = {
    write: (t: string) => {
      if (/training triplets/.test(t)) setImmediate(() => process.emit("SIGINT"));
      return true;
    },
  };
  const chunks: string[] = [];
  const result = await runTrainCommand(
    { config, progress: false },
    { write: (t: string) => chunks.push(t) },
    err,
  );
  assert.equal(result.interrupted, true);
  assert.equal(result.globalStep, 1);
  assert.ok(existsSync(join(dir, "run-sigint", "checkpoint-1", "optimizer.safetensors")));
  assert.match(chunks.join(""), /interrupted at step 1; checkpoint saved in .*checkpoint-1/);
  assert.equal(process.listenerCount("SIGINT"), listeners, "the CLI removes its handler");
});

test("evaluation during training: live encoder = ColBERT.encode, retrieval = brute-force MaxSim", async () => {
  const trainable = trainableModel(model);
  const params = trainableParameters(trainable);
  // The Hugging Face Trainer's rule: no weight decay on biases and LayerNorm weights.
  const noDecay = new Map(params.map((p) => [p.name, p.noDecay]));
  for (const n of [
    "embeddings.LayerNorm.weight",
    "embeddings.LayerNorm.bias",
    "encoder.layer.0.attention.self.query.bias",
    "encoder.layer.1.output.LayerNorm.weight",
  ]) {
    assert.equal(noDecay.get(n), true, n);
  }
  for (const n of [
    "embeddings.word_embeddings.weight",
    "encoder.layer.0.attention.self.query.weight",
    "1_Dense/linear.weight",
  ]) {
    assert.equal(noDecay.get(n), false, n);
  }
  assert.ok(!noDecay.has("pooler.dense.weight"), "the unused pooler is not trained");
  const tokenize = (t: string[], o: { isQuery: boolean; pad: boolean }) => model.tokenize(t, o);
  const masks = maskOptions(model);
  const docs = ROWS.flatMap((r, i) => [
    { id: `p${i}`, title: "", text: r.positive },
    { id: `n${i}`, title: "", text: r.negative },
  ]);
  const dataset: BeirDataset = {
    corpus: docs,
    queries: ROWS.map((r, i) => ({ id: `q${i}`, text: r.query })),
    qrels: new Map(ROWS.map((_, i) => [`q${i}`, new Map([[`p${i}`, 1]])])),
  };
  // The live encoder (training graph, forward only) against the inference encoder.
  const live = await LiveEncoder.create(trainable, params, { threads: 1 });
  const liveModel = live.asEmbeddingModel(tokenize, masks);
  const texts = docs.map((d) => d.text);
  const [a, b] = [await liveModel.encode(texts), await model.encode(texts)];
  let worst = 0;
  a.forEach((m, i) => {
    assert.equal(m.rows, b[i].rows, `document ${i}: same kept tokens`);
    for (let j = 0; j < m.data.length; j++)
      worst = Math.max(worst, Math.abs(m.data[j] - b[i].data[j]));
  });
  // Normalised embeddings, README §7 tolerance 2e-5.
  assert.ok(worst <= 2e-5, `live vs inference embeddings maxdiff ${worst}`);
  await live.dispose();

  const metrics = await evaluateRetrieval(
    { step: 0, model: trainable, parameters: params },
    dataset,
    tokenize,
    masks,
    {
      metrics: ["ndcg@10", "mrr@10"],
      threads: 1,
    },
  );
  const qs = await model.encode(
    dataset.queries.map((q) => q.text),
    { isQuery: true },
  );
  const run: Run = new Map(
    dataset.queries.map((q, i) => [q.id, new Map(docs.map((d, j) => [d.id, maxSim(qs[i], b[j])]))]),
  );
  const expected = evaluate(dataset.qrels, run, ["ndcg@10", "mrr@10"]).mean;
  assert.ok(
    Math.abs(metrics["ndcg@10"] - expected["ndcg@10"]) < 1e-6,
    `${metrics["ndcg@10"]} vs ${expected["ndcg@10"]}`,
  );
  assert.ok(Math.abs(metrics["mrr@10"] - expected["mrr@10"]) < 1e-6);

  // Hard negatives from the model: the best-scored document that is not judged relevant.
  const mined = await mineHardNegativesWithModel(
    { step: 0, model: trainable, parameters: params },
    dataset,
    tokenize,
    masks,
    {
      threads: 1,
    },
  );
  assert.equal(mined.length, dataset.queries.length);
  mined.forEach((t, i) => {
    const scored = [...run.get(`q${i}`)!.entries()]
      .filter(([id]) => id !== `p${i}`)
      .sort((x, y) => y[1] - x[1]);
    const best = docs.find((d) => d.id === scored[0][0])!;
    assert.deepEqual(t, {
      query: ROWS[i].query,
      positive: ROWS[i].positive,
      negatives: [best.text],
    });
  });

  // The evaluation module's evaluators run on the live parameters.
  const triplet = new ColBERTTripletEvaluator({
    anchors: ROWS.map((r) => r.query),
    positives: ROWS.map((r) => r.positive),
    negatives: ROWS.map((r) => r.negative),
  });
  const viaTrainer = await modelEvaluator(tokenize, masks, (m) => triplet.evaluate(m), {
    threads: 1,
  })({
    step: 0,
    model: trainable,
    parameters: params,
  });
  assert.deepEqual(viaTrainer, await triplet.evaluate(model));
});
