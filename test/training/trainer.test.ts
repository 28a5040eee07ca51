/**
 * The trainer on the tiny random BERT fixture: the loss falls, checkpoints are in PyLate's
 * layout and load back, resume continues exactly where a run stopped, a NaN loss stops with
 * the last good weights, Ctrl-C saves, and bad input is refused with clear errors.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { WeightStore } from "../../src/io/safetensors.js";
import { Contrastive } from "../../src/losses/contrastive.js";
import { Distillation } from "../../src/losses/distillation.js";
import { ColBERT } from "../../src/models/colbert.js";
import { AdamW } from "../../src/training/adamw.js";
import {
  ColBERTCollator,
  type DistillationExample,
  distillationFromRows,
  type TripletExample,
  tripletsFromRows,
} from "../../src/training/data.js";
import { globalNorm } from "../../src/training/parameters.js";
import { TrainingStep } from "../../src/training/step.js";
import {
  type Evaluator,
  linearScheduleFactor,
  maskOptions,
  shuffledOrder,
  Trainer,
  type TrainingArguments,
  trainableModel,
} from "../../src/training/trainer.js";
import { ConfigError, DataError, TrainingError } from "../../src/util/errors.js";
import { sharedPath } from "../helpers/shared.js";

const TOPICS = [
  ["capital of france", "Paris is the capital of France.", "Berlin is the capital of Germany."],
  [
    "who wrote hamlet",
    "Hamlet is a tragedy by William Shakespeare.",
    "The Odyssey is an epic poem by Homer.",
  ],
  [
    "how do solar panels work",
    "Solar panels turn sunlight into electricity.",
    "Wind turbines turn wind into power.",
  ],
  [
    "largest ocean",
    "The Pacific is the largest ocean on Earth.",
    "The Sahara is the largest hot desert.",
  ],
  [
    "speed of light",
    "Light travels at about 300,000 km per second.",
    "Sound travels at 343 metres per second.",
  ],
  [
    "boiling point of water",
    "Water boils at 100 degrees Celsius at sea level.",
    "Iron melts at 1538 degrees Celsius.",
  ],
];
const EXAMPLES: TripletExample[] = TOPICS.map(([query, positive, negative]) => ({
  query,
  positive,
  negatives: [negative],
}));

let model: ColBERT;
let collator: ColBERTCollator;
const dirs: string[] = [];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "tslate-trainer-"));
  dirs.push(d);
  return d;
}

function trainer(
  args: Partial<TrainingArguments> & { outputDir: string },
  extra: { resume?: string; loss?: Contrastive; evaluator?: Evaluator } = {},
) {
  return new Trainer({
    model,
    loss: extra.loss ?? new Contrastive(),
    examples: EXAMPLES,
    collate: (e) => collator.contrastive(e),
    args: { batchSize: 3, learningRate: 1e-3, showProgress: false, threads: 1, ...args },
    resumeFromCheckpoint: extra.resume,
    evaluator: extra.evaluator,
  });
}

function logLines(dir: string): Record<string, number>[] {
  return readFileSync(join(dir, "loss_log.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

before(async () => {
  model = await ColBERT.fromPretrained(sharedPath("fixtures/bert-tiny-colbert"), {
    warn: () => {},
    threads: 1,
  });
  collator = new ColBERTCollator((t, o) => model.tokenize(t, o));
});
after(async () => {
  await model?.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("linear warmup/decay schedule and seeded shuffling", () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((t) => linearScheduleFactor(t, 2, 6)),
    [0, 0.5, 1, 0.75, 0.5, 0.25],
  );
  assert.deepEqual(shuffledOrder(8, 3), shuffledOrder(8, 3));
  assert.notDeepEqual(shuffledOrder(8, 3), shuffledOrder(8, 4));
  assert.deepEqual([...shuffledOrder(8, 3)].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
});

test("training lowers the loss, logs JSONL and saves PyLate-layout checkpoints that load back", async () => {
  const out = tmp();
  const r = await trainer({
    outputDir: out,
    numTrainEpochs: 3,
    saveSteps: 3,
    saveTotalLimit: 1,
  }).train();
  assert.equal(r.globalStep, 6);
  assert.equal(r.interrupted, false);
  const log = logLines(out);
  assert.equal(log.length, 6);
  const firstEpoch = (log[0].loss + log[1].loss) / 2;
  const lastEpoch = (log[4].loss + log[5].loss) / 2;
  assert.ok(
    lastEpoch < firstEpoch * 0.5,
    `loss falls: first epoch ${firstEpoch}, last ${lastEpoch}`,
  );
  // Only the newest checkpoint is kept (saveTotalLimit 1); it holds the optimiser state.
  assert.ok(!existsSync(join(out, "checkpoint-3")));
  for (const f of [
    "modules.json",
    "config.json",
    "model.safetensors",
    "1_Dense/model.safetensors",
    "optimizer.safetensors",
    "trainer_state.json",
  ]) {
    assert.ok(existsSync(join(out, "checkpoint-6", f)), f);
  }
  // The final model is a PyLate directory whose weights are the trained ones.
  const trained = await ColBERT.fromPretrained(out, { warn: () => {}, threads: 1 });
  try {
    const [a] = await model.encode(["capital of france"], { isQuery: true });
    const [b] = await trained.encode(["capital of france"], { isQuery: true });
    let diff = 0;
    for (let i = 0; i < a.data.length; i++) diff = Math.max(diff, Math.abs(a.data[i] - b.data[i]));
    assert.ok(diff > 1e-3, `trained embeddings differ from the start (${diff})`);
    const w0 = WeightStore.open(sharedPath("fixtures/bert-tiny-colbert")).readFloat32(
      "encoder.layer.0.attention.self.query.weight",
    );
    const w1 = WeightStore.open(out).readFloat32("encoder.layer.0.attention.self.query.weight");
    assert.notDeepEqual(Array.from(w0.slice(0, 8)), Array.from(w1.slice(0, 8)));
  } finally {
    await trained.dispose();
  }
});

test("resume from a checkpoint continues exactly where the run stopped", async () => {
  const straight = tmp();
  await trainer({
    outputDir: straight,
    maxSteps: 4,
    saveSteps: 0,
    gradientAccumulationSteps: 1,
  }).train();
  const half = tmp();
  // stop() after step 2 (called from the evaluator that runs at step 2): the trainer saves
  // checkpoint-2 and returns.
  const t = trainer(
    { outputDir: half, maxSteps: 4, saveSteps: 0, evalSteps: 2 },
    {
      evaluator: async () => {
        t.stop();
        return {};
      },
    },
  );
  const stopped = await t.train();
  assert.equal(stopped.interrupted, true);
  assert.equal(stopped.globalStep, 2);
  assert.ok(existsSync(join(half, "checkpoint-2", "optimizer.safetensors")));
  const resumed = await trainer(
    { outputDir: half, maxSteps: 4, saveSteps: 0 },
    { resume: join(half, "checkpoint-2") },
  ).train();
  assert.equal(resumed.globalStep, 4);
  const a = WeightStore.open(straight);
  const b = WeightStore.open(half);
  for (const name of ["encoder.layer.1.output.dense.weight", "embeddings.word_embeddings.weight"]) {
    const x = a.readFloat32(name);
    const y = b.readFloat32(name);
    let d = 0;
    for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
    // Same batches, same order, same optimiser state: equal up to float32 noise.
    assert.ok(d <= 1e-6, `${name}: resumed run differs by ${d}`);
  }
  const log = logLines(half).filter((l) => l.loss !== undefined);
  assert.deepEqual(
    log.map((l) => l.step),
    [1, 2, 3, 4],
  );
});

test("an aborted signal stops training with a checkpoint; the library installs no signal handler", async () => {
  const out = tmp();
  const controller = new AbortController();
  const sigint = process.listenerCount("SIGINT");
  let duringTraining = -1;
  const t = new Trainer({
    model,
    loss: new Contrastive(),
    examples: EXAMPLES,
    collate: (e) => {
      // Called inside train(): no process-level handler has been added.
      duringTraining = process.listenerCount("SIGINT");
      controller.abort();
      return collator.contrastive(e);
    },
    args: {
      outputDir: out,
      batchSize: 3,
      maxSteps: 4,
      saveSteps: 0,
      showProgress: false,
      threads: 1,
    },
    signal: controller.signal,
  });
  const r = await t.train();
  assert.equal(duringTraining, sigint);
  assert.equal(r.interrupted, true);
  assert.equal(r.globalStep, 1);
  assert.equal(r.savedTo, join(out, "checkpoint-1"));
  assert.ok(existsSync(join(out, "checkpoint-1", "optimizer.safetensors")));
  assert.ok(!existsSync(join(out, "model.safetensors")), "no final model when stopped");
});

test("gradient accumulation averages the micro-batch gradients, clipping scales them, then one AdamW step", async () => {
  const out = tmp();
  await trainer({
    outputDir: out,
    maxSteps: 1,
    gradientAccumulationSteps: 2,
    maxGradNorm: 0.5,
    saveSteps: 0,
  }).train();
  // By hand: the same two micro-batches (seeded order), mean gradient, one AdamW step.
  const step = await TrainingStep.create(trainableModel(model), new Contrastive(), { threads: 1 });
  try {
    const order = shuffledOrder(EXAMPLES.length, 42);
    const masks = maskOptions(model);
    const a = await step.run(
      collator.contrastive(order.slice(0, 3).map((i) => EXAMPLES[i])),
      masks,
    );
    const ga = a.grads.map((g) => Float32Array.from(g));
    const b = await step.run(
      collator.contrastive(order.slice(3, 6).map((i) => EXAMPLES[i])),
      masks,
    );
    const mean = ga.map((g, i) => g.map((x, j) => x / 2 + b.grads[i][j] / 2));
    // clip_grad_norm_(0.5): scale by 0.5 / (norm + 1e-6) when the norm is larger.
    const norm = globalNorm(mean);
    assert.ok(norm > 0.5, `the test needs a gradient norm above the clip (${norm})`);
    for (const g of mean) for (let j = 0; j < g.length; j++) g[j] *= 0.5 / (norm + 1e-6);
    new AdamW(step.parameters, { lr: 1e-3, weightDecay: 0 }).step(mean, 1e-3);
    const log = logLines(out);
    assert.equal(log.length, 1);
    assert.ok(
      Math.abs(log[0].loss - (a.loss + b.loss) / 2) < 1e-6,
      "logged loss = mean of the micro-batch losses",
    );
    assert.equal(log[0].examples, 6);
    assert.ok(
      Math.abs(log[0].grad_norm - norm) <= 1e-6 * norm,
      "logged gradient norm is the pre-clipping norm",
    );
    const trained = WeightStore.open(out);
    for (const p of step.parameters.filter((q) => q.name.startsWith("encoder.layer.1"))) {
      const got = trained.readFloat32(p.name);
      let d = 0;
      for (let j = 0; j < got.length; j++) d = Math.max(d, Math.abs(got[j] - p.data[j]));
      assert.ok(d <= 1e-6, `${p.name}: trainer vs manual accumulation differ by ${d}`);
    }
  } finally {
    await step.dispose();
  }
});

test("a NaN loss stops training with a clear error and keeps the last good weights", async () => {
  const out = tmp();
  // A temperature this small turns the scores into ±Infinity, and the softmax into NaN.
  const t = trainer(
    { outputDir: out, maxSteps: 3 },
    { loss: new Contrastive({ temperature: 1e-45 }) },
  );
  await assert.rejects(
    () => t.train(),
    (e: unknown) =>
      e instanceof TrainingError &&
      /loss is NaN/.test(e.message) &&
      /last good weights/.test(e.message),
  );
  const w0 = WeightStore.open(sharedPath("fixtures/bert-tiny-colbert")).readFloat32(
    "encoder.layer.0.output.dense.weight",
  );
  const w1 = WeightStore.open(join(out, "checkpoint-0")).readFloat32(
    "encoder.layer.0.output.dense.weight",
  );
  assert.deepEqual(Array.from(w1), Array.from(w0));
});

test("distillation trains through the same trainer", async () => {
  const examples: DistillationExample[] = distillationFromRows(
    [
      { query_id: "q1", document_ids: ["d1", "d2", "d3"], scores: [8, 2.5, 5] },
      { query_id: "q2", document_ids: ["d2", "d3", "d1"], scores: [1, 9, 3] },
    ],
    [
      { query_id: "q1", text: "how do solar panels work" },
      { query_id: "q2", text: "what is the speed of light" },
    ],
    [
      { document_id: "d1", text: "Solar panels turn sunlight into electricity." },
      { document_id: "d2", text: "Wind turbines turn wind into power." },
      { document_id: "d3", text: "Light travels at about 300,000 km per second." },
    ],
  );
  const out = tmp();
  const t = new Trainer({
    model,
    loss: new Distillation({ documentsPerQuery: 3 }),
    examples,
    collate: (e) => collator.distillation(e),
    args: {
      outputDir: out,
      batchSize: 2,
      numTrainEpochs: 6,
      learningRate: 1e-3,
      showProgress: false,
      threads: 1,
      saveSteps: 0,
    },
  });
  const r = await t.train();
  const log = logLines(out);
  assert.equal(r.globalStep, 6);
  assert.ok(log[5].loss < log[0].loss, `distillation loss falls: ${log[0].loss} → ${log[5].loss}`);
});

test("bad input: missing columns, empty data, bad arguments, a checkpoint of another architecture", async () => {
  assert.throws(
    () => tripletsFromRows([{ question: "q", positive: "p" }]),
    (e: unknown) => e instanceof DataError && /query/.test(e.message),
  );
  assert.throws(
    () => tripletsFromRows([{ query: "q", negative: "n" }]),
    (e: unknown) => e instanceof DataError && /positive/.test(e.message),
  );
  assert.throws(() => tripletsFromRows([]), DataError);
  assert.throws(() => tripletsFromRows([{ query: "q", positive: 3 }]), DataError);
  const t = tripletsFromRows([{ query: "q", positive: "p", negative_2: "n2", negative_1: "n1" }]);
  assert.deepEqual(t[0].negatives, ["n1", "n2"]);
  assert.throws(() => collator.contrastive([]), DataError);
  assert.throws(
    () =>
      new Trainer({
        model,
        loss: new Contrastive(),
        examples: [],
        collate: (e) => collator.contrastive(e),
        args: { outputDir: tmp() },
      }),
    DataError,
  );
  assert.throws(() => trainer({ outputDir: tmp(), batchSize: 0 }), ConfigError);
  assert.throws(() => trainer({ outputDir: tmp(), warmupRatio: 2 }), ConfigError);
  assert.throws(() => new Contrastive({ temperature: 0 }), /temperature/);
  // A ModernBERT checkpoint cannot seed a BERT run.
  const modern = tmp();
  const other = await ColBERT.fromPretrained(sharedPath("fixtures/modernbert-tiny-colbert"), {
    warn: () => {},
    threads: 1,
  });
  try {
    const ot = new Trainer({
      model: other,
      loss: new Contrastive(),
      examples: EXAMPLES.slice(0, 2),
      collate: (e) => new ColBERTCollator((x, o) => other.tokenize(x, o)).contrastive(e),
      args: { outputDir: modern, maxSteps: 1, batchSize: 2, showProgress: false, threads: 1 },
    });
    await ot.train();
  } finally {
    await other.dispose();
  }
  await assert.rejects(
    () =>
      trainer({ outputDir: tmp(), maxSteps: 1 }, { resume: join(modern, "checkpoint-1") }).train(),
    (e: unknown) => e instanceof TrainingError && /another architecture/.test(e.message),
  );
  await assert.rejects(
    () => trainer({ outputDir: tmp(), maxSteps: 1 }, { resume: tmp() }).train(),
    (e: unknown) =>
      e instanceof TrainingError && /not a tslate training checkpoint/.test(e.message),
  );
});
