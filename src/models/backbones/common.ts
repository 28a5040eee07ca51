/**
 * Pieces shared by the backbone builders: config access with clear errors, weight loading
 * (external initializers pointing into safetensors), and standard blocks written in the IR.
 */
import type { Graph, Value } from "../../graph/ir.js";
import type { WeightStore } from "../../io/safetensors.js";
import { ConfigError, UnsupportedError } from "../../util/errors.js";

/** torch.finfo(torch.float32).min: HF adds it (not -inf) at masked positions. */
export const FLOAT32_MIN = -3.4028234663852886e38;

/** A parsed HF config.json with typed, validated access. */
export class HfConfig {
  constructor(
    readonly raw: Readonly<Record<string, unknown>>,
    /** Where the config came from, for messages. */
    readonly path: string,
  ) {}

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  private missing(key: string, what: string): never {
    throw new ConfigError(
      `${this.path}: field "${key}" is ${this.has(key) ? `${JSON.stringify(this.raw[key])}, not ${what}` : "missing"} (model_type ${JSON.stringify(this.raw.model_type)} needs ${what})`,
    );
  }

  /** A positive integer field (or `fallback` when absent). */
  int(key: string, fallback?: number): number {
    const v = this.raw[key] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      this.missing(key, "a positive integer");
    }
    return v;
  }

  num(key: string, fallback?: number): number {
    const v = this.raw[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) this.missing(key, "a number");
    return v;
  }

  str(key: string, fallback?: string): string {
    const v = this.raw[key] ?? fallback;
    if (typeof v !== "string") this.missing(key, "a string");
    return v;
  }

  bool(key: string, fallback?: boolean): boolean {
    const v = this.raw[key] ?? fallback;
    if (typeof v !== "boolean") this.missing(key, "a boolean");
    return v;
  }
}

/** Loads weights as graph initializers that point into the checkpoint (no copy). */
export class WeightLoader {
  private readonly loaded = new Map<string, Value>();
  constructor(
    private readonly graph: Graph,
    readonly store: WeightStore,
  ) {}

  has(name: string): boolean {
    return this.store.has(name);
  }

  /** The tensor `name`, checked to have `shape`. */
  get(name: string, shape: readonly number[]): Value {
    const hit = this.loaded.get(name);
    if (hit) return hit;
    const info = this.store.expect(name, shape);
    const storedAs =
      info.dtype === "F32" ? "float32" : info.dtype === "F16" ? "float16" : "bfloat16";
    const ref = {
      file: info.file,
      byteOffset: info.byteOffset,
      byteLength: info.byteLength,
      storedAs,
      data: info.data,
    } as const;
    // Half-precision tensors stay in their file in their own dtype and are cast in the graph
    // (ORT folds the Cast at load): nothing is converted into the model bytes, so checkpoints
    // of any size load (protobuf caps embedded data at 2 GiB).
    const v =
      storedAs === "float32"
        ? this.graph.external(name, "float32", shape, ref)
        : this.graph.cast(this.graph.external(name, storedAs, shape, ref), "float32");
    this.loaded.set(name, v);
    return v;
  }

  /** Like `get`, or null if the checkpoint has no such tensor. */
  optional(name: string, shape: readonly number[]): Value | null {
    return this.store.has(name) ? this.get(name, shape) : null;
  }
}

/**
 * y = x·Wᵀ (+ b), W in PyTorch nn.Linear layout [out, in], x of any rank >= 2.
 *
 * Written as Gemm(transB=1) on x flattened to 2-D: ORT packs W for its GEMM straight from the
 * [out, in] layout. MatMul(x, Transpose(W)) would make ORT constant-fold a transposed copy
 * of every weight at load (measured on BERT-base: +0.5 s per session).
 */
export function linear(g: Graph, x: Value, weight: Value, bias: Value | null): Value {
  const inFeatures = weight.shape[1] as number;
  const outFeatures = weight.shape[0] as number;
  if (x.shape.length === 2) return g.gemm(x, weight, bias, { transB: 1 });
  let flat = flattened.get(x);
  if (!flat) {
    flat = g.reshape(x, [-1, inFeatures]);
    flattened.set(x, flat);
  }
  const y = g.gemm(flat, weight, bias, { transB: 1 });
  // Symbolic dims name the same run-time value everywhere in a graph, so one shape tensor per
  // (leading dims, out) serves every linear layer.
  let cache = targetShapes.get(g);
  if (!cache) targetShapes.set(g, (cache = new Map()));
  const key = `${x.shape.slice(0, -1).join(",")}|${outFeatures}`;
  let target = cache.get(key);
  if (!target) {
    target = g.concat([g.shapeOf(x, 0, -1), g.ints([outFeatures])], 0);
    cache.set(key, target);
  }
  return g.reshape(y, target);
}

const targetShapes = new WeakMap<Graph, Map<string, Value>>();
const flattened = new WeakMap<Value, Value>();

/** HF ACT2FN activations we support, written with standard ops (ORT fuses them). */
export function activation(g: Graph, x: Value, name: string, config: HfConfig): Value {
  switch (name) {
    case "gelu": {
      // Exact GELU: 0.5·x·(1 + erf(x/√2)), the pattern ORT's GeluFusion recognises.
      const e = g.unary("Erf", g.div(x, Math.SQRT2));
      return g.mul(g.mul(x, g.add(e, 1)), 0.5);
    }
    case "gelu_new":
    case "gelu_pytorch_tanh":
    case "gelu_fast": {
      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
      const inner = g.mul(g.add(x, g.mul(g.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
      return g.mul(g.mul(x, g.add(g.unary("Tanh", inner), 1)), 0.5);
    }
    case "relu":
      return g.unary("Relu", x);
    case "silu":
    case "swish":
      return g.mul(x, g.unary("Sigmoid", x));
    default:
      throw new UnsupportedError(
        `${config.path}: activation ${JSON.stringify(name)} is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu)`,
      );
  }
}

/** Additive attention bias [batch, 1, 1, seq]: 0 where mask = 1, finfo.min where 0. */
export function maskBias(g: Graph, attentionMask: Value): Value {
  const m = g.cast(attentionMask, "float32");
  return g.unsqueeze(g.mul(g.sub(g.constant(1), m), FLOAT32_MIN), [1, 2]);
}

/** The sequence length of a [batch, seq] input as an int64 scalar. */
export function seqLength(g: Graph, ids: Value): Value {
  return g.squeeze(g.shapeOf(ids, 1, 2), [0]);
}

/** [batch, seq, heads·d] → [batch, heads, seq, d]. */
export function splitHeads(g: Graph, x: Value, heads: number, headDim: number): Value {
  return g.transpose(g.reshape(x, [0, 0, heads, headDim]), [0, 2, 1, 3]);
}

/**
 * Scaled dot-product attention over [batch, heads, seq, d] q/k/v with an additive bias that
 * broadcasts to [batch, heads, seq, seq]; returns [batch, seq, heads·d].
 */
export function attention(
  g: Graph,
  q: Value,
  k: Value,
  v: Value,
  bias: Value,
  headDim: number,
): Value {
  const scores = g.mul(g.matmul(q, g.transpose(k, [0, 1, 3, 2])), Math.fround(headDim ** -0.5));
  const probs = g.softmax(g.add(scores, bias), -1);
  const ctx = g.transpose(g.matmul(probs, v), [0, 2, 1, 3]);
  return g.reshape(ctx, [0, 0, -1]);
}

/** cos/sin tables [seq, dim] of rotary embeddings at positions 0..L-1 (HF default rope). */
export interface RopeTables {
  readonly cos: Value;
  readonly sin: Value;
  readonly dim: number;
}

/** inv_freq[i] = 1 / theta^(2i/d) in float32, as HF's default rope init computes it. */
export function ropeInverseFrequencies(theta: number, headDim: number): Float32Array {
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = 1 / Math.fround(theta ** Math.fround((2 * i) / headDim));
  }
  return out;
}

/** Rotary tables for positions 0..seq-1 of `ids` ([batch, seq]), angles p·inv_freq. */
export function ropeTables(g: Graph, ids: Value, theta: number, dim: number): RopeTables {
  const positions = g.range(g.ints(0), seqLength(g, ids), g.ints(1));
  const posF = g.unsqueeze(g.cast(positions, "float32"), [1]);
  const invFreq = g.constant(ropeInverseFrequencies(theta, dim), { shape: [1, dim / 2] });
  const ang = g.mul(posF, invFreq);
  const emb = g.concat([ang, ang], -1); // [seq, dim]
  return { cos: g.unary("Cos", emb), sin: g.unary("Sin", emb), dim };
}

/** u·cos + rotate_half(u)·sin over the last axis of [batch, heads, seq, dim] (GPT-NeoX style). */
export function applyRope(g: Graph, u: Value, r: RopeTables): Value {
  const half = r.dim / 2;
  const [u1, u2] = g.split(u, [half, half], -1);
  const rotated = g.concat([g.unary("Neg", u2), u1], -1);
  return g.add(g.mul(u, r.cos), g.mul(rotated, r.sin));
}
