// Backbone speed on a BERT-base-shaped random checkpoint (12 layers, hidden 768, 12 heads,
// intermediate 3072, vocab 30524 = 110M params, 440 MB float32), generated into a temp dir;
// --arch=modernbert: a ModernBERT-base-shaped one (149M params).
//
// Measures: (1) graph build + ORT session creation (the model load), (2) docs/s at batch
// 32 × 180 tokens through createEncoder (Dense 768→128 + normalise, as ColBERT encodes),
// (3) the same exported graph run by a bare onnxruntime-node session (no wrapper), to show
// our overhead. CPU time is reported next to wall time: on a shared machine, CPU time /
// threads estimates the idle-machine wall time.
// Run: npx tsc -p tsconfig.json && node build/bench/backbone.js [threads=2] [--arch=bert|modernbert] [--keep] [--dir=D]
// Or:  node build/bench/backbone.js --vs-torch [--threads=2 --batch=8 --seq=128 --reps=3]: the
//      issue-13 backbones (XLM-R flash, JinaBERT) as a ratio to PyTorch eager (backbone-vs-torch.ts).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { prepareRuntimeModel } from "../src/graph/session.js";
import { WeightStore, writeSafetensors } from "../src/io/safetensors.js";
import {
  buildEncoderGraph,
  openEncoder,
  readBackboneConfig,
} from "../src/models/backbones/index.js";

if (process.argv.includes("--vs-torch")) {
  // Issue 13: the new backbones against PyTorch eager (bench/backbone-vs-torch.ts).
  const { benchVsTorch } = await import("./backbone-vs-torch.js");
  const num = (k: string, d: number) =>
    Number(process.argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3) ?? d);
  const res = await benchVsTorch(
    num("threads", 2),
    num("batch", 8),
    num("seq", 128),
    num("reps", 3),
  );
  writeFileSync(
    new URL("../../bench/results/backbone-vs-torch.json", import.meta.url),
    `${JSON.stringify(res, null, 2)}\n`,
  );
  process.exit(0);
}

const threads = Number(process.argv[2] ?? 2);
const keep = process.argv.includes("--keep");
const existing = process.argv.find((a) => a.startsWith("--dir="))?.slice(6);
const [B, L, E] = [32, 180, 128];
const arch = process.argv.find((a) => a.startsWith("--arch="))?.slice(7) ?? "bert";
const bertConfig = {
  architectures: ["BertModel"],
  model_type: "bert",
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  vocab_size: 30524,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  hidden_act: "gelu",
  layer_norm_eps: 1e-12,
  position_embedding_type: "absolute",
};

let seed = 12345;
function fill(n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    a[i] = (seed / 2 ** 32 - 0.5) * scale;
  }
  return a;
}

// ModernBERT-base (answerdotai/ModernBERT-base, the backbone of GTE-ModernColBERT): 22 layers,
// hidden 768, 12 heads, GeGLU intermediate 1152, vocab 50368, global attention every 3rd layer.
const modernBertConfig = {
  architectures: ["ModernBertModel"],
  model_type: "modernbert",
  hidden_size: 768,
  num_hidden_layers: 22,
  num_attention_heads: 12,
  intermediate_size: 1152,
  vocab_size: 50368,
  max_position_embeddings: 8192,
  hidden_activation: "gelu",
  norm_eps: 1e-5,
  norm_bias: false,
  attention_bias: false,
  mlp_bias: false,
  global_attn_every_n_layers: 3,
  local_attention: 128,
  global_rope_theta: 160000,
  local_rope_theta: 10000,
};

function makeModernBertCheckpoint(dir: string): number {
  const c = modernBertConfig;
  const H = c.hidden_size;
  const I = c.intermediate_size;
  const t: Record<string, { data: Float32Array; shape: number[] }> = {};
  const w = (name: string, out: number, inp: number) => {
    t[name] = { data: fill(out * inp, 0.07), shape: [out, inp] };
  };
  const norm = (name: string) => {
    t[name] = { data: new Float32Array(H).fill(1), shape: [H] };
  };
  w("embeddings.tok_embeddings.weight", c.vocab_size, H);
  norm("embeddings.norm.weight");
  for (let l = 0; l < c.num_hidden_layers; l++) {
    if (l > 0) norm(`layers.${l}.attn_norm.weight`);
    w(`layers.${l}.attn.Wqkv.weight`, 3 * H, H);
    w(`layers.${l}.attn.Wo.weight`, H, H);
    norm(`layers.${l}.mlp_norm.weight`);
    w(`layers.${l}.mlp.Wi.weight`, 2 * I, H);
    w(`layers.${l}.mlp.Wo.weight`, H, I);
  }
  norm("final_norm.weight");
  writeSafetensors(join(dir, "model.safetensors"), t);
  writeFileSync(join(dir, "config.json"), JSON.stringify(c));
  return Object.values(t).reduce((a, x) => a + x.data.length, 0);
}

function makeCheckpoint(dir: string): number {
  if (arch === "modernbert") return makeModernBertCheckpoint(dir);
  const config = bertConfig;
  const H = config.hidden_size;
  const I = config.intermediate_size;
  const t: Record<string, { data: Float32Array; shape: number[] }> = {};
  const lin = (name: string, out: number, inp: number) => {
    t[`${name}.weight`] = { data: fill(out * inp, 0.07), shape: [out, inp] };
    t[`${name}.bias`] = { data: fill(out, 0.02), shape: [out] };
  };
  const ln = (name: string) => {
    t[`${name}.weight`] = { data: new Float32Array(H).fill(1), shape: [H] };
    t[`${name}.bias`] = { data: new Float32Array(H), shape: [H] };
  };
  t["embeddings.word_embeddings.weight"] = {
    data: fill(config.vocab_size * H, 0.1),
    shape: [config.vocab_size, H],
  };
  t["embeddings.position_embeddings.weight"] = { data: fill(512 * H, 0.1), shape: [512, H] };
  t["embeddings.token_type_embeddings.weight"] = { data: fill(2 * H, 0.1), shape: [2, H] };
  ln("embeddings.LayerNorm");
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `encoder.layer.${l}`;
    lin(`${p}.attention.self.query`, H, H);
    lin(`${p}.attention.self.key`, H, H);
    lin(`${p}.attention.self.value`, H, H);
    lin(`${p}.attention.output.dense`, H, H);
    ln(`${p}.attention.output.LayerNorm`);
    lin(`${p}.intermediate.dense`, I, H);
    lin(`${p}.output.dense`, H, I);
    ln(`${p}.output.LayerNorm`);
  }
  writeSafetensors(join(dir, "model.safetensors"), t);
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  return Object.values(t).reduce((a, x) => a + x.data.length, 0);
}

function countParams(store: WeightStore): number {
  return store.names().reduce((a, n) => a + store.info(n).byteLength / 4, 0);
}

function batch() {
  const ids = new BigInt64Array(B * L);
  const mask = new BigInt64Array(B * L);
  for (let b = 0; b < B; b++) {
    const len = L - 4 * b; // ragged lengths, padded like a real document batch
    for (let i = 0; i < L; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      ids[b * L + i] = i === 0 ? 101n : i < len ? BigInt(1000 + (seed % 28000)) : 103n;
      mask[b * L + i] = i < len ? 1n : 0n;
    }
  }
  return {
    inputIds: ids,
    attentionMask: mask,
    tokenTypeIds: new BigInt64Array(B * L),
    batchSize: B,
    seqLength: L,
  };
}

/** Wall and CPU (user + system, all threads) milliseconds of `fn`. */
async function timed(fn: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const c = process.cpuUsage(c0);
  return { wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
}

/** Alternates the runners rep by rep (so load drift on a shared machine hits both alike). */
async function timeInterleaved(runs: (() => Promise<unknown>)[], reps: number) {
  for (const run of runs) await run(); // warm-up
  const wall = runs.map(() => [] as number[]);
  const cpu = runs.map(() => [] as number[]);
  for (let i = 0; i < reps; i++) {
    for (const [k, run] of runs.entries()) {
      const t = await timed(run);
      wall[k].push(t.wall);
      cpu[k].push(t.cpu);
    }
  }
  return runs.map((_, k) => ({ wall: median(wall[k]), cpu: median(cpu[k]) }));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const dir = existing ?? mkdtempSync(join(tmpdir(), "tslate-bench-bert-base-"));
  try {
    const params = existing ? countParams(WeightStore.open(dir)) : makeCheckpoint(dir);
    const dense = { weight: fill(E * 768, 0.07), outFeatures: E, inFeatures: 768 };

    // (1) Load: build graph + create session (page cache warm: the file was just written).
    const loads: { wall: number; cpu: number }[] = [];
    for (let i = 0; i < 3; i++) {
      let enc: Awaited<ReturnType<typeof openEncoder>> | undefined;
      loads.push(
        await timed(async () => {
          enc = await openEncoder(dir, { dense, normalize: true, threads });
        }),
      );
      await enc!.dispose();
    }
    const t0 = performance.now();
    const built = buildEncoderGraph(readBackboneConfig(dir), WeightStore.open(dir), {
      dense,
      normalize: true,
    });
    const buildMs = performance.now() - t0;
    const model = prepareRuntimeModel(built.graph);
    const serializeMs = performance.now() - t0 - buildMs;

    // (2) Through our wrapper.
    const b = batch();
    const enc = await openEncoder(dir, { dense, normalize: true, threads });

    // (3) Bare ORT on the same bytes and options.
    const session = await ort.InferenceSession.create(model.bytes, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
      extra: { "session.model_external_initializers_file_folder_path": model.externalFolder! },
    });
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", b.inputIds, [B, L]),
      attention_mask: new ort.Tensor("int64", b.attentionMask, [B, L]),
    };
    if (built.usesTokenTypeIds) {
      feeds.token_type_ids = new ort.Tensor("int64", b.tokenTypeIds, [B, L]);
    }
    const [ours, bare] = await timeInterleaved([() => enc.run(b), () => session.run(feeds)], 5);
    await enc.dispose();
    await session.release();

    const result = {
      checkpoint:
        arch === "modernbert"
          ? "random ModernBERT-base (22x768, 12 heads, GeGLU 1152, vocab 50368)"
          : "random BERT-base (12x768, 12 heads, ffn 3072, vocab 30524)",
      params,
      threads,
      batch: [B, L],
      graph_nodes: built.graph.nodes.length,
      build_graph_ms: +buildMs.toFixed(1),
      serialize_ms: +serializeMs.toFixed(1),
      load_createEncoder_wall_ms: loads.map((x) => +x.wall.toFixed(0)),
      load_createEncoder_cpu_ms: loads.map((x) => +x.cpu.toFixed(0)),
      ours_ms_per_batch: { wall: +ours.wall.toFixed(0), cpu: +ours.cpu.toFixed(0) },
      bare_ort_ms_per_batch: { wall: +bare.wall.toFixed(0), cpu: +bare.cpu.toFixed(0) },
      ours_docs_per_s: +((B * 1000) / ours.wall).toFixed(2),
      bare_ort_docs_per_s: +((B * 1000) / bare.wall).toFixed(2),
      // CPU time / threads = the wall time on an otherwise idle machine (contention-proof).
      ours_docs_per_s_idle_estimate: +((B * 1000 * threads) / ours.cpu).toFixed(2),
      bare_docs_per_s_idle_estimate: +((B * 1000 * threads) / bare.cpu).toFixed(2),
      overhead_wall_pct: +((100 * (ours.wall - bare.wall)) / bare.wall).toFixed(1),
      overhead_cpu_pct: +((100 * (ours.cpu - bare.cpu)) / bare.cpu).toFixed(1),
      load_average_at_end: loadavg().map((x) => +x.toFixed(1)),
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    if (!keep && !existing) rmSync(dir, { recursive: true, force: true });
    else console.error(`checkpoint kept in ${dir}`);
  }
}

await main();
