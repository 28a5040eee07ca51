/**
 * Training throughput: steps/s and peak memory of one Contrastive training step (forward,
 * backward, AdamW) for a BERT-base-shaped ColBERT (hidden 768, 12 layers, 12 heads,
 * intermediate 3072, vocab 30522, Dense 768 → 128) at batch 16 (queries of 32 tokens,
 * documents of 180 tokens), against PyTorch autograd on the same weights and batch
 * (bench/torch/train_torch.py, run with /usr/bin/python3 when `import torch` works). The two
 * sides alternate step by step (tslate, torch, tslate, torch, ...) so that background load
 * on a shared machine affects both alike; per-step ratios are reported too.
 *
 *   npx tsc -p tsconfig.json && node build/bench/train.js [--steps 5] [--threads 2] [--negatives 0]
 *
 * Weights are random (N(0, 0.02), LayerNorm 1/0), written once to a temporary safetensors
 * file that both sides read. Both sides use the same number of threads. Results go to
 * bench/results/train.json.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { type TensorToWrite, WeightStore, writeSafetensors } from "../src/io/safetensors.js";
import { Contrastive, type ContrastiveBatch } from "../src/losses/contrastive.js";
import type { TokenizedColumn } from "../src/losses/types.js";
import { HfConfig } from "../src/models/backbones/common.js";
import { AdamW } from "../src/training/adamw.js";
import { TrainingStep } from "../src/training/step.js";
import { mulberry32 } from "../src/util/random.js";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
    batch: { type: "string", default: "16" },
    negatives: { type: "string", default: "0" },
    layers: { type: "string", default: "12" },
    python: { type: "string", default: "/usr/bin/python3" },
  },
});
const STEPS = Number(values.steps);
const THREADS = Number(values.threads);
const B = Number(values.batch);
const NEG = Number(values.negatives);
const LQ = 32;
const LD = 180;
const H = 768;
const E = 128;
const LAYERS = Number(values.layers);
const VOCAB = 30522;

const rand = mulberry32(1234);
const normal = (std: number) => () => {
  // Box-Muller
  const u = Math.max(rand(), 1e-12);
  return std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
};

/**
 * Starts peak-RSS accounting afresh (Linux: writing 5 to clear_refs resets VmHWM), so the
 * random weights this script generates and writes do not count as training memory.
 */
function resetPeakRss(): void {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
  } catch {
    // not Linux, or not permitted: the peak then includes the weight generation
  }
}

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

const loadAtStart = loadavg();
const dir = mkdtempSync(join(tmpdir(), "tslate-bench-train-"));
try {
  const config = {
    model_type: "bert",
    hidden_size: H,
    num_hidden_layers: LAYERS,
    num_attention_heads: 12,
    intermediate_size: 3072,
    vocab_size: VOCAB,
    max_position_embeddings: 512,
    type_vocab_size: 2,
    layer_norm_eps: 1e-12,
    hidden_act: "gelu",
    hidden_dropout_prob: 0,
    attention_probs_dropout_prob: 0,
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  const tensors: Record<string, TensorToWrite> = {};
  const add = (name: string, shape: number[], init: "normal" | "ones" | "zeros") => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (init === "ones") data.fill(1);
    else if (init === "normal") {
      const g = normal(0.02);
      for (let i = 0; i < n; i++) data[i] = g();
    }
    tensors[name] = { data, shape };
  };
  add("embeddings.word_embeddings.weight", [VOCAB, H], "normal");
  add("embeddings.position_embeddings.weight", [512, H], "normal");
  add("embeddings.token_type_embeddings.weight", [2, H], "normal");
  add("embeddings.LayerNorm.weight", [H], "ones");
  add("embeddings.LayerNorm.bias", [H], "zeros");
  for (let l = 0; l < LAYERS; l++) {
    const p = `encoder.layer.${l}`;
    for (const n of [
      "attention.self.query",
      "attention.self.key",
      "attention.self.value",
      "attention.output.dense",
    ]) {
      add(`${p}.${n}.weight`, [H, H], "normal");
      add(`${p}.${n}.bias`, [H], "zeros");
    }
    add(`${p}.attention.output.LayerNorm.weight`, [H], "ones");
    add(`${p}.attention.output.LayerNorm.bias`, [H], "zeros");
    add(`${p}.intermediate.dense.weight`, [3072, H], "normal");
    add(`${p}.intermediate.dense.bias`, [3072], "zeros");
    add(`${p}.output.dense.weight`, [H, 3072], "normal");
    add(`${p}.output.dense.bias`, [H], "zeros");
    add(`${p}.output.LayerNorm.weight`, [H], "ones");
    add(`${p}.output.LayerNorm.bias`, [H], "zeros");
  }
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
  const dense: TensorToWrite = { data: new Float32Array(E * H).map(normal(0.02)), shape: [E, H] };
  writeSafetensors(join(dir, "dense.safetensors"), { "linear.weight": dense }, { format: "pt" });
  for (const k of Object.keys(tensors)) delete tensors[k];

  // A batch: real-looking lengths (queries 8-20 real tokens then [MASK] expansion, documents
  // 60-180 real tokens then padding), ids uniform over the vocabulary.
  const column = (rows: number, len: number, isQuery: boolean): TokenizedColumn => {
    const ids = new BigInt64Array(rows * len);
    const mask = new BigInt64Array(rows * len);
    for (let r = 0; r < rows; r++) {
      const real = isQuery ? 8 + Math.floor(rand() * 13) : 60 + Math.floor(rand() * 121);
      for (let t = 0; t < len; t++) {
        const i = r * len + t;
        if (t < real) {
          ids[i] = BigInt(
            t === 0 ? 101 : t === real - 1 ? 102 : 1000 + Math.floor(rand() * (VOCAB - 1000)),
          );
          mask[i] = 1n;
        } else ids[i] = 103n; // [MASK]: query expansion / PyLate's pad id
      }
    }
    return {
      inputIds: ids,
      attentionMask: mask,
      tokenTypeIds: new BigInt64Array(rows * len),
      batchSize: rows,
      seqLength: len,
    };
  };
  const batch: ContrastiveBatch = {
    queries: column(B, LQ, true),
    documents: Array.from({ length: 1 + NEG }, () => column(B, LD, false)),
  };
  const batchFile = join(dir, "batch.json");
  writeFileSync(
    batchFile,
    JSON.stringify({
      queries: {
        ids: Array.from(batch.queries.inputIds, Number),
        mask: Array.from(batch.queries.attentionMask, Number),
      },
      documents: batch.documents.map((c) => ({
        ids: Array.from(c.inputIds, Number),
        mask: Array.from(c.attentionMask, Number),
      })),
      B,
      LQ,
      LD,
    }),
  );

  // ---- tslate (onnxruntime) ----
  resetPeakRss();
  const model = {
    config: new HfConfig(config, join(dir, "config.json")),
    weights: WeightStore.open(dir),
    dense: { weight: dense.data as Float32Array, outFeatures: E, inFeatures: H },
  };
  const t0 = Date.now();
  const step = await TrainingStep.create(model, new Contrastive(), { threads: THREADS });
  const buildSeconds = (Date.now() - t0) / 1000;
  const opt = new AdamW(step.parameters, { lr: 1e-5, weightDecay: 0.01 });
  const masks = { skiplistIds: new Set<number>(), doQueryExpansion: true };
  const tslateStep = async () => {
    const t = process.hrtime.bigint();
    const c = process.cpuUsage();
    const r = await step.run(batch, masks);
    opt.step(r.grads);
    const cpu = process.cpuUsage(c);
    return {
      seconds: Number(process.hrtime.bigint() - t) / 1e9,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      loss: r.loss,
    };
  };

  // PyTorch in a child process that takes one step per request, so that the two sides
  // alternate step by step (ABAB) and see the same background load on a shared machine.
  let torchNote = "";
  let torchStep: (() => Promise<{ seconds: number; cpuSeconds: number; loss: number }>) | null =
    null;
  let torchQuit: (() => Promise<{ peakRssMb: number; torchVersion: string }>) | null = null;
  const hasTorch =
    spawnSync(values.python, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
  if (hasTorch) {
    const script = new URL("../../bench/torch/train_torch.py", import.meta.url).pathname;
    const child = spawn(
      values.python,
      [script, dir, batchFile, "-1", String(THREADS), String(LAYERS)],
      {
        stdio: ["pipe", "pipe", "inherit"],
      },
    );
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async () => {
      const r = await lines.next();
      if (r.done) throw new Error("the PyTorch process ended early (see its stderr above)");
      return JSON.parse(r.value);
    };
    await next(); // ready
    torchStep = async () => {
      child.stdin.write("step\n");
      return next();
    };
    torchQuit = async () => {
      child.stdin.write("quit\n");
      return next();
    };
  } else torchNote = `${values.python} cannot import torch: no PyTorch comparison`;

  const rounds: {
    tslate: number;
    torch: number | null;
    tslateCpu: number;
    torchCpu: number | null;
    tslateLoss: number;
    torchLoss: number | null;
    loadavg: number;
  }[] = [];
  for (let s = 0; s <= STEPS; s++) {
    const a = await tslateStep();
    const b = torchStep ? await torchStep() : null;
    console.log(
      `step ${s}${s === 0 ? " (warm-up)" : ""}: tslate ${a.seconds.toFixed(2)} s (cpu ${a.cpuSeconds.toFixed(1)} s), loss ${a.loss.toFixed(5)}` +
        (b
          ? ` | torch ${b.seconds.toFixed(2)} s (cpu ${b.cpuSeconds.toFixed(1)} s), loss ${b.loss.toFixed(5)}`
          : "") +
        ` | load ${loadavg()[0].toFixed(2)}`,
    );
    rounds.push({
      tslate: a.seconds,
      torch: b?.seconds ?? null,
      tslateCpu: a.cpuSeconds,
      torchCpu: b?.cpuSeconds ?? null,
      tslateLoss: a.loss,
      torchLoss: b?.loss ?? null,
      loadavg: loadavg()[0],
    });
  }
  await step.dispose();
  const timed = rounds.slice(1);
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  const tsMean = mean(timed.map((r) => r.tslate));
  const tslate = {
    stepsPerSecond: 1 / tsMean,
    secondsPerStep: tsMean,
    cpuSecondsPerStep: mean(timed.map((r) => r.tslateCpu)),
    peakRssMb: peakRssMb(),
    sessionBuildSeconds: buildSeconds,
    lossFirstStep: rounds[0].tslateLoss,
  };
  let torch: Record<string, number | string> | null = null;
  if (torchQuit) {
    const fin = await torchQuit();
    const tMean = mean(timed.map((r) => r.torch as number));
    torch = {
      stepsPerSecond: 1 / tMean,
      secondsPerStep: tMean,
      cpuSecondsPerStep: mean(timed.map((r) => r.torchCpu as number)),
      peakRssMb: fin.peakRssMb,
      lossFirstStep: rounds[0].torchLoss as number,
      torchVersion: fin.torchVersion,
    };
  }
  const maxLossDiff = Math.max(
    ...rounds.map((r) => (r.torchLoss === null ? 0 : Math.abs(r.tslateLoss - r.torchLoss))),
  );

  const result = {
    shape: { hidden: H, layers: LAYERS, heads: 12, intermediate: 3072, vocab: VOCAB, dense: E },
    batch: { queries: B, queryLength: LQ, documentsPerQuery: 1 + NEG, documentLength: LD },
    threads: THREADS,
    steps: STEPS,
    tslate,
    torch,
    ratio: torch ? tslate.stepsPerSecond / (torch.stepsPerSecond as number) : null,
    perStepRatios: torch ? timed.map((r) => (r.torch as number) / r.tslate) : null,
    cpuRatio: torch ? (torch.cpuSecondsPerStep as number) / tslate.cpuSecondsPerStep : null,
    loadavg: { start: loadAtStart, end: loadavg() },
    maxLossDiff: torch ? maxLossDiff : null,
    rounds,
    note:
      torchNote ||
      "same weights and batch; forward + backward + AdamW per step, the two sides alternating step by step; step 0 excluded (warm-up); the loss is compared at every step (same AdamW trajectory); ratio = torch seconds / tslate seconds (> 1: tslate faster), wall and CPU time (all threads; idle threads that spin count too); tslate's peak RSS counts from loading the model (the random weights the script writes are not counted)",
  };
  console.log(JSON.stringify(result, null, 2));
  const resultsDir = new URL("../../bench/results/", import.meta.url).pathname;
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, "train.json"), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
