import { createRequire } from "node:module";

/**
 * Dense kernels of the indexes: Y = A·Bᵀ and argmax_j (A·Bᵀ)[i, j].
 *
 *   A: [M, D] row-major, B: [N, D] row-major, Y: [M, N] row-major.
 *
 * Large products (k-means assignment, query-centroid scores) run through onnxruntime-node
 * (about 100x a JS loop on this machine) with a two-node ONNX graph written below; small ones
 * and environments without onnxruntime use the blocked JS loop. onnxruntime is imported in
 * this one file only (STYLE.md §7).
 */

/** The subset of onnxruntime-node these kernels need. */
interface OrtTensorLike {
  data: unknown;
}
interface OrtSessionLike {
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensorLike>>;
}
interface OrtLike {
  InferenceSession: {
    create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSessionLike>;
  };
  Tensor: new (
    type: string,
    data: Float32Array | Int32Array | Uint8Array | BigInt64Array,
    dims: number[],
  ) => unknown;
}

/** Below this many multiply-adds the JS loop wins over a session run (about 30 µs overhead). */
const ORT_MIN_WORK = 2_000_000;
/** Rows of A per session run: bounds the [rows, N] score buffer to 64 MB (16M floats). */
const MAX_SCORE_FLOATS = 16 * 1024 * 1024;

let ort: OrtLike | null | undefined;
let kernelThreads = 1;
const sessions = new Map<string, Promise<OrtSessionLike>>();

function loadOrt(): OrtLike | null {
  if (ort !== undefined) return ort;
  try {
    ort = createRequire(import.meta.url)("onnxruntime-node") as OrtLike;
  } catch {
    ort = null;
  }
  return ort;
}

/**
 * Threads used by the onnxruntime kernels (default 1). Search parallelism across queries is
 * the caller's business (worker threads); this only sets intra-op threads of each product.
 */
export function setKernelThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`kernel threads must be a positive integer, got ${threads}`);
  }
  if (threads !== kernelThreads) {
    kernelThreads = threads;
    sessions.clear();
  }
}

let fastEnabled = true;

/** Whether the fast (onnxruntime) path is available and enabled. */
export function hasFastKernels(): boolean {
  return fastEnabled && loadOrt() !== null;
}

/** Turns the onnxruntime path off (pure JS everywhere) or back on: for tests and benchmarks. */
export function setFastKernels(enabled: boolean): void {
  fastEnabled = enabled;
}

// ---- a minimal protobuf writer for the two ONNX graphs ----

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
function fieldBytes(num: number, bytes: number[]): number[] {
  return [...varint((num << 3) | 2), ...varint(bytes.length), ...bytes];
}
function fieldInt(num: number, value: number): number[] {
  return [...varint(num << 3), ...varint(value)];
}
function str(s: string): number[] {
  return [...Buffer.from(s, "utf8")];
}
function valueInfo(name: string, elemType: number, dims: string[]): number[] {
  const shape = dims.flatMap((d) => fieldBytes(1, fieldBytes(2, str(d))));
  const tensorType = [...fieldInt(1, elemType), ...fieldBytes(2, shape)];
  return [...fieldBytes(1, str(name)), ...fieldBytes(2, fieldBytes(1, tensorType))];
}
function attrInt(name: string, value: number): number[] {
  // AttributeProto: name = 1, i = 3, type = 20 (INT = 2)
  return [...fieldBytes(1, str(name)), ...fieldInt(3, value), ...fieldInt(20, 2)];
}
function node(op: string, inputs: string[], outputs: string[], attrs: number[][]): number[] {
  return [
    ...inputs.flatMap((i) => fieldBytes(1, str(i))),
    ...outputs.flatMap((o) => fieldBytes(2, str(o))),
    ...fieldBytes(4, str(op)),
    ...attrs.flatMap((a) => fieldBytes(5, a)),
  ];
}

/** ONNX model: Y = Gemm(A, B, transB=1) and, if `argmax`, I = ArgMax(Y + C, axis=1). */
function gemmModel(argmax: boolean): Uint8Array {
  const gemmInputs = argmax ? ["A", "B", "C"] : ["A", "B"];
  const nodes = [fieldBytes(1, node("Gemm", gemmInputs, ["Y"], [attrInt("transB", 1)]))];
  if (argmax) {
    nodes.push(
      fieldBytes(1, node("ArgMax", ["Y"], ["I"], [attrInt("axis", 1), attrInt("keepdims", 0)])),
    );
  }
  const graph = [
    ...nodes.flat(),
    ...fieldBytes(2, str("tslate_gemm")),
    ...fieldBytes(11, valueInfo("A", 1, ["M", "D"])),
    ...fieldBytes(11, valueInfo("B", 1, ["N", "D"])),
    ...(argmax ? fieldBytes(11, valueInfo("C", 1, ["N"])) : []),
    ...fieldBytes(12, argmax ? valueInfo("I", 7, ["M"]) : valueInfo("Y", 1, ["M", "N"])),
  ];
  const model = [
    ...fieldInt(1, 7), // ir_version
    ...fieldBytes(2, str("tslate")),
    ...fieldBytes(7, graph),
    ...fieldBytes(8, [...fieldBytes(1, []), ...fieldInt(2, 13)]), // opset "" v13
  ];
  return Uint8Array.from(model);
}

/**
 * ONNX model: Y = Gemm(A, B, transB=1) [M, N] and I = the indices of the P largest entries of
 * each row of Y (TopK, largest first, ties: lower index first), int64 [M, P].
 */
function gemmTopKModel(): Uint8Array {
  const nodes = [
    fieldBytes(1, node("Gemm", ["A", "B"], ["Y"], [attrInt("transB", 1)])),
    fieldBytes(
      1,
      node(
        "TopK",
        ["Y", "P"],
        ["V", "I"],
        [attrInt("axis", 1), attrInt("largest", 1), attrInt("sorted", 1)],
      ),
    ),
  ];
  const graph = [
    ...nodes.flat(),
    ...fieldBytes(2, str("tslate_gemm_topk")),
    ...fieldBytes(11, valueInfo("A", 1, ["M", "D"])),
    ...fieldBytes(11, valueInfo("B", 1, ["N", "D"])),
    ...fieldBytes(11, valueInfo("P", 7, ["one"])),
    ...fieldBytes(12, valueInfo("Y", 1, ["M", "N"])),
    ...fieldBytes(12, valueInfo("I", 7, ["M", "K"])),
  ];
  return Uint8Array.from([
    ...fieldInt(1, 7),
    ...fieldBytes(2, str("tslate")),
    ...fieldBytes(7, graph),
    ...fieldBytes(8, [...fieldBytes(1, []), ...fieldInt(2, 13)]),
  ]);
}

/** ONNX model: Y[n, i] = max over l of (D[n, l, :] · Qt[:, i])  (MatMul then ReduceMax). */
function maxSimModel(): Uint8Array {
  const axes = [...fieldBytes(1, str("axes")), ...fieldInt(8, 1), ...fieldInt(20, 7)]; // ints = [1]
  const nodes = [
    fieldBytes(1, node("MatMul", ["D", "Qt"], ["S"], [])),
    fieldBytes(1, node("ReduceMax", ["S"], ["Y"], [axes, attrInt("keepdims", 0)])),
  ];
  const graph = [
    ...nodes.flat(),
    ...fieldBytes(2, str("tslate_maxsim")),
    ...fieldBytes(11, valueInfo("D", 1, ["N", "L", "E"])),
    ...fieldBytes(11, valueInfo("Qt", 1, ["E", "Q"])),
    ...fieldBytes(12, valueInfo("Y", 1, ["N", "Q"])),
  ];
  return Uint8Array.from([
    ...fieldInt(1, 7),
    ...fieldBytes(2, str("tslate")),
    ...fieldBytes(7, graph),
    ...fieldBytes(8, [...fieldBytes(1, []), ...fieldInt(2, 13)]),
  ]);
}

function session(argmax: boolean | "maxsim" | "topk"): Promise<OrtSessionLike> {
  const key = `${argmax}:${kernelThreads}`;
  let s = sessions.get(key);
  if (!s) {
    const o = loadOrt()!;
    const model =
      argmax === "topk" ? gemmTopKModel() : argmax === "maxsim" ? maxSimModel() : gemmModel(argmax);
    s = o.InferenceSession.create(model, {
      intraOpNumThreads: kernelThreads,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
    });
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
): Promise<Float32Array> {
  if (m * n * d < ORT_MIN_WORK || !hasFastKernels() || m * n > MAX_SCORE_FLOATS) {
    if (m * n > MAX_SCORE_FLOATS && hasFastKernels()) {
      const out = new Float32Array(m * n);
      const rows = Math.max(1, Math.floor(MAX_SCORE_FLOATS / n));
      for (let r = 0; r < m; r += rows) {
        const e = Math.min(m, r + rows);
        out.set(await gemmABt(a.slice(r * d, e * d), e - r, b, n, d), r * n);
      }
      return out;
    }
    return gemmABtJs(a, m, b, n, d);
  }
  const o = loadOrt()!;
  const s = await session(false);
  const res = await s.run({
    A: new o.Tensor("float32", a, [m, d]),
    B: new o.Tensor("float32", b, [n, d]),
  });
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
): Promise<{ y: Float32Array; top: Int32Array } | null> {
  if (m * n * d < ORT_MIN_WORK || !hasFastKernels() || m * n > MAX_SCORE_FLOATS || p > n) {
    return null;
  }
  const o = loadOrt()!;
  const s = await session("topk");
  const res = await s.run({
    A: new o.Tensor("float32", a, [m, d]),
    B: new o.Tensor("float32", b, [n, d]),
    P: new o.Tensor("int64", BigInt64Array.of(BigInt(p)), [1]),
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
): Promise<Int32Array> {
  const out = new Int32Array(m);
  const rows = Math.max(1, Math.floor(MAX_SCORE_FLOATS / 4 / Math.max(1, n)));
  const fast = hasFastKernels();
  const scratch = new Float32Array(Math.min(m, rows) * n);
  for (let r = 0; r < m; r += rows) {
    const e = Math.min(m, r + rows);
    const chunk = r === 0 && e === m ? a : a.slice(r * d, e * d);
    if (!fast || (e - r) * n * d < ORT_MIN_WORK) {
      gemmABtJs(chunk, e - r, b, n, d, scratch);
      argmaxRows(scratch, e - r, n, bias, out, r);
    } else {
      const o = loadOrt()!;
      const s = await session(true);
      const res = await s.run({
        A: new o.Tensor("float32", chunk, [e - r, d]),
        B: new o.Tensor("float32", b, [n, d]),
        C: new o.Tensor("float32", bias, [n]),
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
): Promise<Float32Array> {
  if (!hasFastKernels() || n * l * nq * dim < ORT_MIN_WORK) {
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
  const o = loadOrt()!;
  const s = await session("maxsim");
  const res = await s.run({
    D: new o.Tensor("float32", d, [n, l, dim]),
    Qt: new o.Tensor("float32", qt, [dim, nq]),
  });
  return res.Y.data as Float32Array;
}
