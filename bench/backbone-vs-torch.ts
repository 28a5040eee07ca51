/**
 * bench/backbone.ts --vs-torch: encode speed of the backbones added for issue 13 (Jina's
 * XLM-R flash = jina-colbert-v2's, JinaBERT = jina-colbert-v1's) at BERT-base size (12 layers,
 * hidden 768, 12 heads, FFN 3072; random weights, vocab 8,000 since the table size does not
 * change the speed) as a ratio to PyTorch eager (bench/torch_backbones.py: the plain-torch
 * references) on the same weights and ids. tslate and torch alternate batch by batch so that
 * load from other processes hits both alike; CPU time is reported next to wall time.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { WeightStore, writeSafetensors } from "../src/io/safetensors.js";
import { createEncoder, readBackboneConfig } from "../src/models/backbones/index.js";
import { mulberry32 } from "../src/util/random.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const [H, I, LAYERS, HEADS, V, E] = [768, 3072, 12, 12, 8000, 128];

type Tensors = Record<string, { data: Float32Array; shape: number[] }>;

function checkpoint(dir: string, arch: "xlmr-flash" | "jinabert"): void {
  const r = mulberry32(arch.length);
  const t: Tensors = {};
  const fill = (name: string, shape: number[], scale: number, base = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    t[name] = { data: Float32Array.from({ length: n }, () => base + (r() - 0.5) * scale), shape };
  };
  const ln = (name: string) => {
    fill(`${name}.weight`, [H], 0.1, 1);
    fill(`${name}.bias`, [H], 0.1);
  };
  const lin = (name: string, out: number, inp: number, bias = true) => {
    fill(`${name}.weight`, [out, inp], 0.07);
    if (bias) fill(`${name}.bias`, [out], 0.02);
  };
  fill("embeddings.word_embeddings.weight", [V, H], 0.2);
  fill("embeddings.token_type_embeddings.weight", [arch === "jinabert" ? 2 : 1, H], 0.2);
  const common = {
    hidden_size: H,
    num_hidden_layers: LAYERS,
    num_attention_heads: HEADS,
    intermediate_size: I,
    vocab_size: V,
    hidden_act: "gelu",
  };
  let config: Record<string, unknown>;
  if (arch === "xlmr-flash") {
    ln("emb_ln");
    for (let l = 0; l < LAYERS; l++) {
      const p = `encoder.layers.${l}`;
      lin(`${p}.mixer.Wqkv`, 3 * H, H);
      lin(`${p}.mixer.out_proj`, H, H);
      ln(`${p}.norm1`);
      lin(`${p}.mlp.fc1`, I, H);
      lin(`${p}.mlp.fc2`, H, I);
      ln(`${p}.norm2`);
    }
    config = {
      ...common,
      model_type: "xlm-roberta",
      position_embedding_type: "rotary",
      rotary_emb_base: 20000,
      layer_norm_eps: 1e-5,
      type_vocab_size: 1,
      max_position_embeddings: 8194,
    };
  } else {
    ln("embeddings.LayerNorm");
    for (let l = 0; l < LAYERS; l++) {
      const p = `encoder.layer.${l}`;
      for (const n of ["query", "key", "value"]) lin(`${p}.attention.self.${n}`, H, H);
      lin(`${p}.attention.output.dense`, H, H);
      ln(`${p}.attention.output.LayerNorm`);
      lin(`${p}.mlp.gated_layers`, 2 * I, H, false);
      lin(`${p}.mlp.wo`, H, I);
      ln(`${p}.mlp.layernorm`);
    }
    config = {
      ...common,
      model_type: "bert",
      position_embedding_type: "alibi",
      feed_forward_type: "geglu",
      layer_norm_eps: 1e-12,
      type_vocab_size: 2,
      max_position_embeddings: 8192,
    };
  }
  writeSafetensors(join(dir, "model.safetensors"), t);
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  const dense: Tensors = {};
  dense["linear.weight"] = {
    data: Float32Array.from({ length: E * H }, () => (r() - 0.5) * 0.07),
    shape: [E, H],
  };
  writeSafetensors(join(dir, "dense.safetensors"), dense);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchVsTorch(threads: number, batch: number, seq: number, reps: number) {
  const results: Record<string, unknown> = {};
  for (const arch of ["xlmr-flash", "jinabert"] as const) {
    const dir = mkdtempSync(join(tmpdir(), `tslate-bench-${arch}-`));
    try {
      checkpoint(dir, arch);
      const d = WeightStore.open(join(dir, "dense.safetensors"));
      const enc = await createEncoder(
        readBackboneConfig(dir),
        WeightStore.open(join(dir, "model.safetensors")),
        {
          dense: { weight: d.readFloat32("linear.weight"), outFeatures: E, inFeatures: H },
          normalize: true,
          threads,
        },
      );
      const py: ChildProcessWithoutNullStreams = spawn(
        "/usr/bin/python3",
        [join(repo, "bench/torch_backbones.py"), dir, arch, String(threads)],
        { stdio: "pipe" },
      );
      const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
      const next = async () => JSON.parse((await lines.next()).value as string);
      const ready = await next();
      const r = mulberry32(7);
      const ids = Array.from({ length: batch }, () =>
        Array.from({ length: seq }, () => 5 + Math.floor(r() * (V - 5))),
      );
      const mask = ids.map((row, i) => row.map((_, j) => (j < seq - 8 * i ? 1 : 0)));
      const feed = {
        inputIds: BigInt64Array.from(ids.flat(), BigInt),
        attentionMask: BigInt64Array.from(mask.flat(), BigInt),
        batchSize: batch,
        seqLength: seq,
      };
      const ours: number[] = [];
      const oursCpu: number[] = [];
      const torch: number[] = [];
      const torchCpu: number[] = [];
      let headDiff = 0;
      for (let rep = 0; rep <= reps; rep++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const out = await enc.run(feed);
        const ms = performance.now() - t0;
        const c = process.cpuUsage(c0);
        py.stdin.write(`${JSON.stringify({ input_ids: ids, attention_mask: mask })}\n`);
        const tr = await next();
        (tr.head as number[]).forEach((v, i) => {
          headDiff = Math.max(headDiff, Math.abs(v - out.embeddings[i]));
        });
        if (rep === 0) continue; // warm-up
        ours.push(ms);
        oursCpu.push((c.user + c.system) / 1000);
        torch.push(tr.seconds * 1000);
        torchCpu.push(tr.cpu * 1000);
      }
      py.stdin.end();
      await enc.dispose();
      const res = {
        torch: ready.torch,
        batch: [batch, seq],
        threads,
        tslate_ms: ours.map(Math.round),
        torch_ms: torch.map(Math.round),
        tslate_cpu_ms: oursCpu.map(Math.round),
        torch_cpu_ms: torchCpu.map(Math.round),
        ratio_wall: +(median(torch) / median(ours)).toFixed(2),
        ratio_cpu: +(median(torchCpu) / median(oursCpu)).toFixed(2),
        max_abs_diff_first_values: headDiff,
      };
      console.log(arch, JSON.stringify(res));
      results[arch] = res;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  results.load_average_at_end = loadavg().map((x) => +x.toFixed(2));
  return results;
}
