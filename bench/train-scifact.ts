/**
 * A real fine-tuning run: SciFact's train split (809 queries, 919 judged pairs) with one BM25
 * hard negative per pair, PyLate's Contrastive loss, evaluated by exact MaxSim retrieval over
 * the 5,183-document corpus on SciFact test (300 queries, nDCG@10) before, during and after
 * training.
 *
 *   npx tsc -p tsconfig.json && node build/bench/train-scifact.js [--model dir] [--epochs n]
 *     [--batch n] [--lr x] [--out dir] [--threads n]
 *
 * The default model is the only one available offline: the tiny random-weight BERT fixture
 * (hidden 64, 2 layers, bert-base-uncased vocabulary, Dense 64 → 32). Results are written to
 * bench/results/train-scifact.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadBeir } from "../src/io/beir.js";
import { Contrastive } from "../src/losses/contrastive.js";
import { ColBERT } from "../src/models/colbert.js";
import { ColBERTCollator, mineHardNegativesBM25 } from "../src/training/data.js";
import { evaluateRetrieval, retrievalEvaluator } from "../src/training/evaluate.js";
import { trainableParameters } from "../src/training/graph.js";
import { maskOptions, Trainer, trainableModel } from "../src/training/trainer.js";

const { values } = parseArgs({
  options: {
    model: {
      type: "string",
      default: new URL("../../../shared/fixtures/bert-tiny-colbert", import.meta.url).pathname,
    },
    data: {
      type: "string",
      default: new URL("../../../shared/data/scifact", import.meta.url).pathname,
    },
    epochs: { type: "string", default: "6" },
    batch: { type: "string", default: "16" },
    lr: { type: "string", default: "1e-3" },
    out: { type: "string", default: "/tmp/tslate-scifact-run" },
    threads: { type: "string", default: "2" },
    "eval-every": { type: "string", default: "116" },
  },
});
const threads = Number(values.threads);
const t0 = Date.now();
const log = (m: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}`);

const train = await loadBeir(values.data, { split: "train" });
const test = await loadBeir(values.data, { split: "test" });
const triplets = mineHardNegativesBM25(train.corpus, train.queries, train.qrels, {
  numNegatives: 1,
});
log(
  `train: ${train.queries.length} queries → ${triplets.length} triplets with BM25 hard negatives; test: ${test.queries.length} queries, ${test.corpus.length} documents`,
);

const model = await ColBERT.fromPretrained(values.model, { warn: () => {}, threads });
const tokenize = (t: string[], o: { isQuery: boolean; pad: boolean }) => model.tokenize(t, o);
const masks = maskOptions(model);
const trainable = trainableModel(model);

const startParams = trainableParameters(trainable);
const before = await evaluateRetrieval(
  { step: 0, model: trainable, parameters: startParams },
  test,
  tokenize,
  masks,
  { threads, metrics: ["ndcg@10", "recall@100"] },
);
log(
  `start: nDCG@10 ${before["ndcg@10"].toFixed(4)}, recall@100 ${before["recall@100"].toFixed(4)}`,
);

const collator = new ColBERTCollator(tokenize);
const trainer = new Trainer({
  model,
  loss: new Contrastive(),
  examples: triplets,
  collate: (e) => collator.contrastive(e),
  args: {
    outputDir: values.out,
    batchSize: Number(values.batch),
    numTrainEpochs: Number(values.epochs),
    learningRate: Number(values.lr),
    warmupRatio: 0.05,
    saveSteps: 0,
    evalSteps: Number(values["eval-every"]),
    threads,
    showProgress: false,
  },
  evaluator: retrievalEvaluator(test, tokenize, masks, {
    threads,
    metrics: ["ndcg@10", "recall@100"],
  }),
});
const started = Date.now();
const result = await trainer.train();
const seconds = (Date.now() - started) / 1000;
const lossLog = readFileSync(join(values.out, "loss_log.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l));
const losses = lossLog.filter((l) => l.loss !== undefined).map((l) => l.loss as number);
const perEpoch = Math.ceil(triplets.length / Number(values.batch));
const epochMeans = Array.from({ length: Math.ceil(losses.length / perEpoch) }, (_, e) => {
  const part = losses.slice(e * perEpoch, (e + 1) * perEpoch);
  return part.reduce((a, x) => a + x, 0) / part.length;
});
const after = result.evaluations[result.evaluations.length - 1].metrics;
for (const e of result.evaluations)
  log(
    `step ${e.step}: nDCG@10 ${e.metrics["ndcg@10"].toFixed(4)}, recall@100 ${e.metrics["recall@100"].toFixed(4)}`,
  );
log(`mean loss per epoch: ${epochMeans.map((x) => x.toFixed(4)).join(" → ")}`);
log(
  `nDCG@10 ${before["ndcg@10"].toFixed(4)} → ${after["ndcg@10"].toFixed(4)}; ${result.globalStep} steps in ${seconds.toFixed(0)} s`,
);
const report = {
  model: values.model,
  data: "SciFact train (BM25 hard negatives, 1 per pair) → SciFact test",
  triplets: triplets.length,
  args: {
    epochs: Number(values.epochs),
    batchSize: Number(values.batch),
    learningRate: Number(values.lr),
    warmupRatio: 0.05,
    loss: "Contrastive(temperature 1)",
  },
  steps: result.globalStep,
  trainSeconds: seconds,
  lossFirstStep: losses[0],
  lossPerEpoch: epochMeans,
  before,
  evaluations: result.evaluations,
  after,
};
// Compiled to build/bench/: results go to the source tree's bench/results/.
const resultsDir = new URL("../../bench/results/", import.meta.url).pathname;
mkdirSync(resultsDir, { recursive: true });
const outFile = join(resultsDir, "train-scifact.json");
writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
log(`wrote ${outFile}`);
await model.dispose();
