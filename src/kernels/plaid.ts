/**
 * The WebAssembly SIMD kernels of PLAID search (plaid.wat, compiled into plaid.wasm.ts by
 * scripts/build-kernels.mjs; Node 20 and current browsers have WebAssembly SIMD, callers fall
 * back to JS loops without it):
 *
 * - approx: for each candidate document d, approx(d) = Σ_i max over the distinct centroids c
 *   of d of T[c, i], T the query's [K, nq] centroid-score table held as int16 fixed point
 *   (round(score · scale)). The inner loop of PLAID search (every candidate, ~150 centroids ×
 *   32 query tokens); four i16x8 maxima per centroid row. Int16 rather than float32 halves the
 *   table (512 KB at K = 8192: it stays in L2) and the work: 1.6-2x faster per candidate on
 *   this machine. Rounding is monotone, so each maximum is the rounded float maximum and the
 *   integer sum is exact: the scalar loop gives the same integers.
 * - transpose, transpose8: the query's [nq, K] rows of the query-centroid product into T,
 *   rounded to int16 (nearest, ties to even) on the way; cache-blocked one value at a time, or
 *   in 8 × 8 SIMD blocks when the shape allows.
 * - decompress (nbits 4), decompress2, decompress8: (centroid + residual bucket weights) ·
 *   inverse norm, float32 rounding after the add and after the multiply.
 *
 * Scorer memory (WasmApprox, one instance per index): [codes u32 | table i16 (rows padded to
 * a multiple of 32 columns with zeros) | docs (start, len) i32 pairs | out i32 | scratch].
 */

import { plaidWasm } from "./plaid.wasm.js";
import { compileKernel, instantiate, type WasmMemory } from "./wasm.js";

interface Exports {
  approx(
    table: number,
    stride: number,
    nBlocks: number,
    codes: number,
    docs: number,
    nDocs: number,
    out: number,
  ): void;
  decompress(
    codes: number,
    res: number,
    inv: number,
    n: number,
    cent: number,
    pair: number,
    out: number,
    dimBytes: number,
    resBytes: number,
  ): void;
  transpose(src: number, K: number, nq: number, dst: number, cols: number, scale: number): void;
  transpose8(src: number, K: number, nq8: number, dst: number, cols: number, scale: number): void;
  decompress2: Exports["decompress"];
  decompress8: Exports["decompress"];
  memory: WasmMemory;
}

let compiled: object | null | undefined;

/** The compiled module (once per process), or null without WebAssembly SIMD. */
function compile(): object | null {
  if (compiled === undefined) compiled = compileKernel(plaidWasm);
  return compiled;
}

let enabled = true;

/** Turns the WebAssembly kernel off (scalar loop) or back on: for tests and benchmarks. */
export function setWasmKernels(on: boolean): void {
  enabled = on;
}

/** Whether approximate scores run in WebAssembly SIMD. */
export function hasWasmKernels(): boolean {
  return enabled && compile() !== null;
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;

/**
 * The int16 value of a query-centroid score in the approximate-score table: the float32
 * product v · scale rounded to the nearest integer, ties to even (the kernel's f32.nearest).
 * `scale` must be a float32 value (Math.fround) and |v · scale| at most 32767.
 */
export function fixedPointScore(v: number, scale: number): number {
  const x = Math.fround(Math.fround(v) * scale);
  const r = Math.round(x); // ties up: move the odd ones down to the even neighbour
  return (r - x === 0.5 && r % 2 !== 0 ? r - 1 : r) | 0; // | 0: −0 → 0, as the int16
}

/**
 * One index's approximate scorer: holds a copy of the documents' distinct centroids (synced
 * when they change) and the int16 table of the current query, and scores candidate lists
 * against it.
 */
export class WasmApprox {
  private readonly ex: Exports;
  private codesLength = -1;
  private codesVersion = -1;
  /** The loaded table: its byte offset and shape. */
  private tableAt = 0;
  private tableRows = 0;
  private tableCols = 0;

  constructor() {
    const mod = compile();
    if (!mod) throw new Error("WebAssembly SIMD is not available");
    this.ex = instantiate<Exports>(mod);
  }

  private ensure(bytes: number): void {
    const have = this.ex.memory.buffer.byteLength;
    if (bytes > have) this.ex.memory.grow(Math.ceil((bytes - have) / 65536));
  }

  /**
   * Loads one query's table: T [K, cols] (int16) = round(scale · transpose of S[off·K ..
   * (off + nq)·K)) ([nq, K] rows), cols = nq rounded up to a multiple of 32 (zero columns
   * leave every sum unchanged), with room behind it for up to maxDocs candidates. `scale` is a
   * float32 value with |S · scale| <= 32767.
   */
  loadTable(
    S: Float32Array,
    off: number,
    K: number,
    nq: number,
    scale: number,
    codesUsed: number,
    maxDocs: number,
  ): void {
    const cols = Math.ceil(nq / 32) * 32;
    const tableAt = align16(codesUsed * 4);
    const tableBytes = K * cols * 2;
    const scratch = align16(align16(align16(tableAt + tableBytes) + maxDocs * 8) + maxDocs * 4);
    this.ensure(scratch + K * nq * 4);
    const buf = this.ex.memory.buffer;
    new Float32Array(buf, scratch, K * nq).set(S.subarray(off * K, (off + nq) * K));
    if (cols !== nq) new Int16Array(buf, tableAt, K * cols).fill(0);
    // Blocks of 8 × 8 in SIMD where the shape allows, the remaining tokens one by one.
    const nq8 = K % 8 === 0 ? nq - (nq % 8) : 0;
    if (nq8 > 0) this.ex.transpose8(scratch, K, nq8, tableAt, cols, scale);
    if (nq8 < nq)
      this.ex.transpose(scratch + nq8 * K * 4, K, nq - nq8, tableAt + nq8 * 2, cols, scale);
    this.tableAt = tableAt;
    this.tableRows = K;
    this.tableCols = cols;
  }

  /** The loaded table [K, cols] (a view, valid until the next call). */
  get table(): Int16Array {
    return new Int16Array(this.ex.memory.buffer, this.tableAt, this.tableRows * this.tableCols);
  }

  /**
   * Scores docs (docnos) with the loaded table: out[j] = Σ_i max over the centroids c of
   * docs[j] of T[c, i] (int16 values, exact int32 sum; −32768 per token for a document without
   * centroids). `codes` are the distinct centroids of every document, document d at
   * codes[start[d] .. start[d] + len[d]); `version` changes whenever `codes` does, and
   * `codesUsed` must be the count given to loadTable.
   */
  score(
    codes: Uint32Array,
    codesUsed: number,
    version: number,
    start: Int32Array,
    len: Int32Array,
    docs: ArrayLike<number>,
    nDocs: number,
    out: Int32Array,
  ): void {
    if (align16(codesUsed * 4) !== this.tableAt) {
      throw new Error("WasmApprox.score: codesUsed differs from the loaded table's");
    }
    const cols = this.tableCols;
    const docsAt = align16(this.tableAt + this.tableRows * cols * 2);
    const outAt = align16(docsAt + nDocs * 8);
    this.ensure(outAt + nDocs * 4); // growing keeps the table
    const buf = this.ex.memory.buffer;
    if (version !== this.codesVersion || codesUsed !== this.codesLength) {
      new Uint32Array(buf, 0, codesUsed).set(codes.subarray(0, codesUsed));
      this.codesVersion = version;
      this.codesLength = codesUsed;
    }
    const pairs = new Int32Array(buf, docsAt, nDocs * 2);
    for (let j = 0; j < nDocs; j++) {
      const d = docs[j];
      pairs[2 * j] = start[d];
      pairs[2 * j + 1] = len[d];
    }
    this.ex.approx(this.tableAt, cols * 2, cols / 32, 0, docsAt, nDocs, outAt);
    out.set(new Int32Array(buf, outAt, nDocs));
  }
}

/**
 * Decompression of nbits-2, 4 and 8 tokens with WebAssembly SIMD: normalise(centroid +
 * residual bucket weights), the stored inverse norms applied. Holds a copy of the centroids
 * and of the codec's weight table (synced when they change); the caller fills the token inputs
 * and scores the output in place.
 */
export class WasmDecompressor {
  private readonly ex: Exports;
  private centroids: Float32Array | null = null;
  private centroidsLength = -1;
  private weights: Float32Array | null = null;
  private dim = 0;
  private nbits = 0;
  private capacity = 0;
  /** Byte offsets of the regions for the current capacity. */
  private codesAt = 0;
  private resAt = 0;
  private invAt = 0;
  private outAt = 0;
  private tableAt = 0;

  constructor() {
    const mod = compile();
    if (!mod) throw new Error("WebAssembly SIMD is not available");
    this.ex = instantiate<Exports>(mod);
  }

  /**
   * Whether tokens of this codec shape have a kernel: nbits 4 takes sixteen dimensions a step,
   * nbits 2 and 8 four.
   */
  static supports(nbits: number, dim: number): boolean {
    if (nbits === 4) return dim % 16 === 0;
    return (nbits === 2 || nbits === 8) && dim % 4 === 0;
  }

  /**
   * Prepares room for n tokens with these centroids [K, dim] and the codec's 2^nbits bucket
   * weights (4, 16 or 256: nbits 2, 4 or 8); returns views to fill: codes (i32), residual bytes
   * (dim · nbits / 8 per token, the first dimension in the highest bits), inverse norms.
   */
  prepare(
    centroids: Float32Array,
    dim: number,
    weights: Float32Array,
    n: number,
  ): { codes: Int32Array; res: Uint8Array; inv: Float32Array } {
    const nbits = Math.log2(weights.length);
    if (!WasmDecompressor.supports(nbits, dim)) {
      throw new Error(
        `WasmDecompressor: no kernel for ${weights.length} bucket weights at dim ${dim} (nbits 2 or 8: dim a multiple of 4; nbits 4: of 16)`,
      );
    }
    const resBytes = (dim * nbits) / 8;
    if (
      centroids !== this.centroids ||
      centroids.length !== this.centroidsLength ||
      dim !== this.dim ||
      weights !== this.weights ||
      n > this.capacity
    ) {
      const cap = Math.max(n, this.capacity);
      this.tableAt = align16(centroids.length * 4);
      this.codesAt = this.tableAt + 4096; // the largest table: 256 entries of 4 floats
      this.resAt = align16(this.codesAt + cap * 4);
      this.invAt = align16(this.resAt + cap * resBytes);
      this.outAt = align16(this.invAt + cap * 4);
      const need = this.outAt + cap * dim * 4;
      const have = this.ex.memory.buffer.byteLength;
      if (need > have) this.ex.memory.grow(Math.ceil((need - have) / 65536));
      const buf = this.ex.memory.buffer;
      new Float32Array(buf, 0, centroids.length).set(centroids);
      if (nbits === 4) {
        // Byte k of weight b at planes[16k + b] (the kernel's swizzle tables).
        const bytes = new Uint8Array(Float32Array.from(weights).buffer);
        const planes = new Uint8Array(buf, this.tableAt, 64);
        for (let k = 0; k < 4; k++)
          for (let b = 0; b < 16; b++) planes[16 * k + b] = bytes[4 * b + k];
      } else if (nbits === 2) {
        // Entry v: the weights of v's four 2-bit fields, highest bits first.
        const table = new Float32Array(buf, this.tableAt, 1024);
        for (let v = 0; v < 256; v++)
          for (let q = 0; q < 4; q++) table[4 * v + q] = weights[(v >> (6 - 2 * q)) & 3];
      } else {
        new Float32Array(buf, this.tableAt, 256).set(weights);
      }
      this.centroids = centroids;
      this.centroidsLength = centroids.length;
      this.weights = weights;
      this.dim = dim;
      this.nbits = nbits;
      this.capacity = cap;
    }
    const buf = this.ex.memory.buffer;
    return {
      codes: new Int32Array(buf, this.codesAt, n),
      res: new Uint8Array(buf, this.resAt, n * resBytes),
      inv: new Float32Array(buf, this.invAt, n),
    };
  }

  /** Decompresses the n prepared tokens; the result is a view [n, dim] (valid until next call). */
  run(n: number): Float32Array {
    const dim = this.dim;
    const kernel =
      this.nbits === 4
        ? this.ex.decompress
        : this.nbits === 2
          ? this.ex.decompress2
          : this.ex.decompress8;
    kernel(
      this.codesAt,
      this.resAt,
      this.invAt,
      n,
      0,
      this.tableAt,
      this.outAt,
      dim * 4,
      (dim * this.nbits) / 8,
    );
    return new Float32Array(this.ex.memory.buffer, this.outAt, n * dim);
  }
}
