import { Graph } from "../graph/ir.js";
import { GraphSession } from "../graph/session.js";
import { InvalidArgumentError } from "../util/errors.js";

/**
 * Dense kernels of the indexes: Y = A·Bᵀ and argmax_j (A·Bᵀ)[i, j].
 *
 *   A: [M, D] row-major, B: [N, D] row-major, Y: [M, N] row-major.
 *
 * Large products (k-means assignment, query-centroid scores) run through onnxruntime (about
 * 100x a JS loop on this machine) as small graphs of the tensor IR (graph/); small ones, and
 * calls with `{ onnx: false }`, use the blocked JS loop.
 */

/** Below this many multiply-adds the JS loop wins over a session run (about 30 µs overhead). */
const ORT_MIN_WORK = 2_000_000;
/** Rows of A per session run: bounds the [rows, N] score buffer to 64 MB (16M floats). */
const MAX_SCORE_FLOATS = 16 * 1024 * 1024;

const sessions = new Map<string, Promise<GraphSession>>();

/**
 * Which kernels an index uses: a setting of the index object (open/create options), passed
 * down to every call, never a module global (two indexes in one process may differ).
 */
export interface KernelOptions {
  /** Large products through onnxruntime (default true); false: the JS loops everywhere. */
  onnx?: boolean;
  /** WebAssembly SIMD kernels for approximate scores and decompression (default true). */
  wasm?: boolean;
  /**
   * Intra-op threads of each onnxruntime product (default 1). Search parallelism across
   * queries is the caller's business (worker threads).
   */
  threads?: number;
}

/** Checks kernel options (a clear error for a bad thread count or a non-boolean switch). */
export function checkKernelOptions(k: KernelOptions | undefined): KernelOptions {
  if (k === undefined) return {};
  if (k === null || typeof k !== "object")
    throw new InvalidArgumentError(`kernels must be an object, got ${String(k)}`);
  for (const [key, v] of Object.entries(k)) {
    if (v === undefined) continue;
    if (key === "threads") {
      if (!Number.isInteger(v) || (v as number) < 1)
        throw new InvalidArgumentError(`kernels.threads must be a positive integer, got ${v}`);
    } else if (key === "onnx" || key === "wasm") {
      if (typeof v !== "boolean")
        throw new InvalidArgumentError(`kernels.${key} must be true or false, got ${String(v)}`);
    } else {
      throw new InvalidArgumentError(
        `unknown kernel option ${JSON.stringify(key)}; allowed: onnx, wasm, threads`,
      );
    }
  }
  return { ...k };
}

function useOnnx(k: KernelOptions): boolean {
  return k.onnx !== false;
}

type KernelGraph = "gemm" | "argmax" | "topk" | "maxsim";

/**
 * gemm: Y = A·Bᵀ. argmax: I = ArgMax(A·Bᵀ + C) per row (ties: lowest index). topk: Y = A·Bᵀ
 * and I = the indices of the P largest entries of each row (largest first, ties: lower index).
 * maxsim: Y[n, i] = max over l of D[n, l, :]·Qt[:, i] (MatMul then ReduceMax).
 */
function kernelGraph(kind: KernelGraph): Graph {
  const g = new Graph(`tslate_${kind}`);
  if (kind === "maxsim") {
    const d = g.input("D", "float32", ["N", "L", "E"]);
    const qt = g.input("Qt", "float32", ["E", "Q"]);
    g.output(g.reduce("ReduceMax", g.matmul(d, qt), [1], false), "Y");
    return g;
  }
  const a = g.input("A", "float32", ["M", "D"]);
  const b = g.input("B", "float32", ["N", "D"]);
  if (kind === "argmax") {
    const y = g.gemm(a, b, g.input("C", "float32", ["N"]), { transB: 1 });
    g.output(g.op("ArgMax", [y], { axis: 1, keepdims: 0 }), "I");
    return g;
  }
  const y = g.gemm(a, b, null, { transB: 1 });
  g.output(y, "Y");
  if (kind === "topk") {
    const p = g.input("P", "int64", [1]);
    const [, idx] = g.node("TopK", [y, p], { axis: 1, largest: 1, sorted: 1 });
    g.output(idx, "I");
  }
  return g;
}

function session(kind: KernelGraph, k: KernelOptions): Promise<GraphSession> {
  const threads = k.threads ?? 1;
  const key = `${kind}:${threads}`;
  let s = sessions.get(key);
  if (!s) {
    s = GraphSession.create(kernelGraph(kind), { threads });
    sessions.set(key, s);
  }
  return s;
}

// ---- JS fallbacks ----

/** Y[M, N] = A[M, D] · B[N, D]ᵀ, four B rows per pass over an A row. */
export function gemmABtJs(
  a: Float32Array,
  m: number,
  b: Float32Array,
  n: number,
  d: number,
  out: Float32Array = new Float32Array(m * n),
): Float32Array {
  for (let i = 0; i < m; i++) {
    const ao = i * d;
    const yo = i * n;
    let j = 0;
    for (; j + 3 < n; j += 4) {
      const b0 = j * d;
      const b1 = b0 + d;
      const b2 = b1 + d;
      const b3 = b2 + d;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = 0; k < d; k++) {
        const av = a[ao + k];
        s0 += av * b[b0 + k];
        s1 += av * b[b1 + k];
        s2 += av * b[b2 + k];
        s3 += av * b[b3 + k];
      }
      out[yo + j] = s0;
      out[yo + j + 1] = s1;
      out[yo + j + 2] = s2;
      out[yo + j + 3] = s3;
    }
    for (; j < n; j++) {
      const bo = j * d;
      let s = 0;
      for (let k = 0; k < d; k++) s += a[ao + k] * b[bo + k];
      out[yo + j] = s;
    }
  }
  return out;
}

function argmaxRows(
  y: Float32Array,
  m: number,
  n: number,
  bias: Float32Array,
  out: Int32Array,
  offset: number,
): void {
  for (let i = 0; i < m; i++) {
    let best = 0;
    let bv = Number.NEGATIVE_INFINITY;
    const o = i * n;
    for (let j = 0; j < n; j++) {
      const v = y[o + j] + bias[j];
      if (v > bv) {
        bv = v;
        best = j;
      }
    }
    out[offset + i] = best;
  }
}

// ---- public kernels ----

/** Y = A·Bᵀ ([M, N]); the fast path when the product is large. */
export async function gemmABt(
  a: Float32Array,
  m: number,
  b: Float32Array,
  n: number,
  d: number,
  k: KernelOptions = {},
): Promise<Float32Array> {
  if (m * n * d < ORT_MIN_WORK || !useOnnx(k) || m * n > MAX_SCORE_FLOATS) {
    if (m * n > MAX_SCORE_FLOATS && useOnnx(k)) {
      const out = new Float32Array(m * n);
      const rows = Math.max(1, Math.floor(MAX_SCORE_FLOATS / n));
      for (let r = 0; r < m; r += rows) {
        const e = Math.min(m, r + rows);
        out.set(await gemmABt(a.slice(r * d, e * d), e - r, b, n, d, k), r * n);
      }
      return out;
    }
    return gemmABtJs(a, m, b, n, d);
  }
  const s = await session("gemm", k);
  const res = await s.run({ A: { data: a, dims: [m, d] }, B: { data: b, dims: [n, d] } });
  return res.Y.data as Float32Array;
}

/**
 * Y = A·Bᵀ ([M, N]) and, for each row of Y, the indices of its P largest entries, best first,
 * ties to the lower index (Int32Array [M, P]): PLAID's probing of P centroids per query token
 * (A = query tokens, B = centroids) in the same run as the query-centroid scores. Null when
 * the onnxruntime path is off or the product is small (the caller scans Y itself).
 */
export async function gemmTopK(
  a: Float32Array,
  m: number,
  b: Float32Array,
  n: number,
  d: number,
  p: number,
  k: KernelOptions = {},
): Promise<{ y: Float32Array; top: Int32Array } | null> {
  if (m * n * d < ORT_MIN_WORK || !useOnnx(k) || m * n > MAX_SCORE_FLOATS || p > n) {
    return null;
  }
  const s = await session("topk", k);
  const res = await s.run({
    A: { data: a, dims: [m, d] },
    B: { data: b, dims: [n, d] },
    P: { data: BigInt64Array.of(BigInt(p)), dims: [1] },
  });
  const idx = res.I.data as BigInt64Array;
  const top = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) top[i] = Number(idx[i]);
  return { y: res.Y.data as Float32Array, top };
}

/**
 * For each row i of A: argmax_j A[i]·B[j] + bias[j] (ties: lowest j), as Int32Array [M].
 * With bias_j = −|B[j]|²/2 this is the nearest row of B in L2 distance.
 */
export async function argmaxABt(
  a: Float32Array,
  m: number,
  b: Float32Array,
  n: number,
  d: number,
  bias: Float32Array = new Float32Array(n),
  k: KernelOptions = {},
): Promise<Int32Array> {
  const out = new Int32Array(m);
  const rows = Math.max(1, Math.floor(MAX_SCORE_FLOATS / 4 / Math.max(1, n)));
  const fast = useOnnx(k);
  const scratch = new Float32Array(Math.min(m, rows) * n);
  for (let r = 0; r < m; r += rows) {
    const e = Math.min(m, r + rows);
    const chunk = r === 0 && e === m ? a : a.slice(r * d, e * d);
    if (!fast || (e - r) * n * d < ORT_MIN_WORK) {
      gemmABtJs(chunk, e - r, b, n, d, scratch);
      argmaxRows(scratch, e - r, n, bias, out, r);
    } else {
      const s = await session("argmax", k);
      const res = await s.run({
        A: { data: chunk, dims: [e - r, d] },
        B: { data: b, dims: [n, d] },
        C: { data: bias, dims: [n] },
      });
      const idx = res.I.data as BigInt64Array;
      for (let i = 0; i < e - r; i++) out[r + i] = Number(idx[i]);
    }
  }
  return out;
}

/**
 * Per-query-token MaxSim of N padded documents: Y[n, i] = max over l < L of D[n, l]·Q[i], for
 * D [N, L, dim] (pad a short document by repeating one of its tokens) and Q [nq, dim], as
 * Float32Array [N, nq]. One session run instead of a [nq, N·L] product reduced in JS.
 */
export async function maxSimPadded(
  q: Float32Array,
  nq: number,
  d: Float32Array,
  n: number,
  l: number,
  dim: number,
  k: KernelOptions = {},
): Promise<Float32Array> {
  if (!useOnnx(k) || n * l * nq * dim < ORT_MIN_WORK) {
    const out = new Float32Array(n * nq);
    const s = gemmABtJs(q, nq, d, n * l, dim); // [nq, n·l]
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < nq; i++) {
        const row = i * n * l + j * l;
        let mx = s[row];
        for (let t = 1; t < l; t++) if (s[row + t] > mx) mx = s[row + t];
        out[j * nq + i] = mx;
      }
    }
    return out;
  }
  const qt = new Float32Array(dim * nq);
  for (let i = 0; i < nq; i++) for (let e = 0; e < dim; e++) qt[e * nq + i] = q[i * dim + e];
  const s = await session("maxsim", k);
  const res = await s.run({
    D: { data: d, dims: [n, l, dim] },
    Qt: { data: qt, dims: [dim, nq] },
  });
  return res.Y.data as Float32Array;
}
