/**
 * Embedding quantisation: the `precision` option of `encode`, after sentence-transformers'
 * `quantize_embeddings` (sentence_transformers/quantization.py), applied to token vectors.
 *
 * Each token vector is one embedding to quantise (one row of a Matrix):
 *   - "int8" / "uint8": per dimension d, start = min_d and step = (max_d - min_d) / 255, where
 *     min/max come from `ranges`, else from `calibrationEmbeddings`, else from every token
 *     vector being quantised; uint8 = trunc((x - start) / step), int8 = trunc((x - start) / step
 *     - 128), computed in float32 like numpy. tslate saturates values outside [0, 255] /
 *     [-128, 127] (numpy's cast wraps them, which is undefined behaviour in C), and a dimension
 *     with max == min quantises to 0 (what numpy's cast of NaN gives on x86).
 *   - "binary" / "ubinary": bit = x > 0, packed 8 per byte, most significant bit first
 *     (np.packbits), each row padded to a whole byte; "binary" stores byte - 128 as int8.
 *     A row of D floats becomes ceil(D / 8) bytes: `cols` is that packed byte count.
 *
 * PyLate passes the list of per-text matrices to quantize_embeddings as one numpy array. That
 * only works when every text has the same number of rows (queries with expansion, or
 * padding=True), and then int8/uint8 take their ranges from np.vstack of the per-position
 * min/max, i.e. start = min over texts of token 0 and "max" = min over texts of token 1, not a
 * per-dimension range. tslate uses the per-dimension rule above instead (for any row counts);
 * binary/ubinary bytes are identical to PyLate's whenever D is a multiple of 8.
 */
import { InvalidArgumentError, ShapeError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";

/** The `precision` values of PyLate's / sentence-transformers' encode. */
export type Precision = "float32" | "int8" | "uint8" | "binary" | "ubinary";

export const PRECISIONS: readonly Precision[] = Object.freeze([
  "float32",
  "int8",
  "uint8",
  "binary",
  "ubinary",
]);

/** A row-major int8 matrix ("int8": cols = dim; "binary": cols = packed bytes per row). */
export interface Int8Matrix {
  data: Int8Array;
  rows: number;
  cols: number;
}

/** A row-major uint8 matrix ("uint8": cols = dim; "ubinary": cols = packed bytes per row). */
export interface Uint8Matrix {
  data: Uint8Array;
  rows: number;
  cols: number;
}

/** The matrix type `encode` returns for a precision. */
export type MatrixOfPrecision<P extends Precision> = P extends "int8" | "binary"
  ? Int8Matrix
  : P extends "uint8" | "ubinary"
    ? Uint8Matrix
    : Matrix;

/** Per-dimension [min, max] (sentence-transformers' `ranges`, a (2, dim) array). */
export type QuantizationRanges = readonly [ArrayLike<number>, ArrayLike<number>];

export interface QuantizeOptions {
  /** Per-dimension [min, max] for int8/uint8; wins over `calibrationEmbeddings`. */
  ranges?: QuantizationRanges;
  /** Token vectors whose per-dimension min/max give the int8/uint8 ranges. */
  calibrationEmbeddings?: readonly Matrix[];
}

export function checkPrecision(precision: unknown): Precision {
  if (!PRECISIONS.includes(precision as Precision)) {
    throw new InvalidArgumentError(
      `precision must be one of ${PRECISIONS.map((p) => `"${p}"`).join(", ")}, got ${JSON.stringify(precision)}`,
    );
  }
  return precision as Precision;
}

function commonDim(embeddings: readonly Matrix[], what: string): number {
  let dim = -1;
  embeddings.forEach((m, i) => {
    if (!m || !(m.data instanceof Float32Array) || m.data.length !== m.rows * m.cols) {
      throw new InvalidArgumentError(
        `${what}[${i}] must be a { data: Float32Array, rows, cols } matrix`,
      );
    }
    if (dim === -1) dim = m.cols;
    else if (m.cols !== dim) {
      throw new ShapeError(`${what}[${i}] has dimension ${m.cols}, expected ${dim}`);
    }
  });
  return dim;
}

/**
 * Per-dimension [min, max] over every row of `embeddings` (float32), the ranges
 * `quantizeEmbeddings` uses when none are given. Save them to quantise later calls the same way.
 */
export function quantizationRanges(embeddings: readonly Matrix[]): [Float32Array, Float32Array] {
  const dim = commonDim(embeddings, "embeddings");
  if (dim === -1 || embeddings.every((m) => m.rows === 0)) {
    throw new InvalidArgumentError("int8/uint8 ranges need at least one token vector");
  }
  const min = new Float32Array(dim).fill(Number.POSITIVE_INFINITY);
  const max = new Float32Array(dim).fill(Number.NEGATIVE_INFINITY);
  for (const m of embeddings) {
    for (let r = 0; r < m.rows; r++) {
      const o = r * dim;
      for (let d = 0; d < dim; d++) {
        const v = m.data[o + d];
        if (v < min[d]) min[d] = v;
        if (v > max[d]) max[d] = v;
      }
    }
  }
  return [min, max];
}

function resolveRanges(
  embeddings: readonly Matrix[],
  dim: number,
  options: QuantizeOptions,
): [Float32Array, Float32Array] {
  if (options.ranges !== undefined) {
    const r = options.ranges;
    if (!Array.isArray(r) || r.length !== 2 || r[0]?.length !== dim || r[1]?.length !== dim) {
      throw new ShapeError(
        `ranges must be [min, max] with ${dim} values each (one per dimension), got ${Array.isArray(r) ? `${r.length} rows of ${r.map((x) => x?.length).join(", ")}` : typeof r}`,
      );
    }
    const min = Float32Array.from(r[0]);
    const max = Float32Array.from(r[1]);
    for (let d = 0; d < dim; d++) {
      if (!Number.isFinite(min[d]) || !Number.isFinite(max[d]) || max[d] < min[d]) {
        throw new InvalidArgumentError(
          `ranges at dimension ${d}: need finite min <= max, got [${r[0][d]}, ${r[1][d]}]`,
        );
      }
    }
    return [min, max];
  }
  if (options.calibrationEmbeddings !== undefined) {
    const cal = options.calibrationEmbeddings;
    const calDim = commonDim(cal, "calibrationEmbeddings");
    if (calDim !== dim) {
      throw new ShapeError(`calibrationEmbeddings have dimension ${calDim}, expected ${dim}`);
    }
    return quantizationRanges(cal);
  }
  return quantizationRanges(embeddings);
}

/**
 * sentence-transformers' `quantize_embeddings`, row by row over token vectors (see the file
 * header for the exact rule). Returns one matrix per input matrix, same row counts.
 *
 * ```ts
 * quantizeEmbeddings([{ data: Float32Array.of(0.5, -1, 2, 0, 1, 1, -3, 4, 0.1), rows: 1, cols: 9 }], "ubinary")
 * // → [{ data: Uint8Array [0b10101101, 0b10000000], rows: 1, cols: 2 }]
 * ```
 */
export function quantizeEmbeddings<P extends Precision>(
  embeddings: readonly Matrix[],
  precision: P,
  options: QuantizeOptions = {},
): MatrixOfPrecision<P>[] {
  checkPrecision(precision);
  if (!Array.isArray(embeddings)) {
    throw new InvalidArgumentError(
      `embeddings must be an array of matrices, got ${typeof embeddings}`,
    );
  }
  const dim = commonDim(embeddings, "embeddings");
  type Out = MatrixOfPrecision<P>[];
  if (precision === "float32") {
    return embeddings.map((m) => ({ data: m.data, rows: m.rows, cols: m.cols })) as Out;
  }
  if (embeddings.length === 0) return [] as Out;
  if (precision === "binary" || precision === "ubinary") {
    return embeddings.map((m) => packBits(m, precision === "binary")) as Out;
  }
  const [min, max] = resolveRanges(embeddings, dim, options);
  const f = Math.fround;
  const steps = new Float32Array(dim);
  for (let d = 0; d < dim; d++) steps[d] = f(f(max[d] - min[d]) / 255);
  const signed = precision === "int8";
  const lo = signed ? -128 : 0;
  const hi = signed ? 127 : 255;
  return embeddings.map((m) => {
    const data = signed ? new Int8Array(m.rows * dim) : new Uint8Array(m.rows * dim);
    for (let r = 0; r < m.rows; r++) {
      const o = r * dim;
      for (let d = 0; d < dim; d++) {
        if (steps[d] === 0) continue; // 0/0 in numpy: NaN, cast to 0
        // numpy: ((x - starts) / steps [- 128]).astype(...), every step in float32.
        let v = f(f(m.data[o + d] - min[d]) / steps[d]);
        if (signed) v = f(v - 128);
        data[o + d] = v < lo ? lo : v > hi ? hi : Math.trunc(v);
      }
    }
    return { data, rows: m.rows, cols: dim };
  }) as Out;
}

/** np.packbits(x > 0) per row (MSB first, last byte zero-padded); signed: byte - 128. */
function packBits(m: Matrix, signed: boolean): Int8Matrix | Uint8Matrix {
  const bytes = Math.ceil(m.cols / 8);
  const out = new Uint8Array(m.rows * bytes);
  for (let r = 0; r < m.rows; r++) {
    const src = r * m.cols;
    const dst = r * bytes;
    for (let d = 0; d < m.cols; d++) {
      if (m.data[src + d] > 0) out[dst + (d >> 3)] |= 0x80 >> (d & 7);
    }
  }
  if (!signed) return { data: out, rows: m.rows, cols: bytes };
  const data = new Int8Array(out.length);
  for (let i = 0; i < out.length; i++) data[i] = out[i] - 128;
  return { data, rows: m.rows, cols: bytes };
}
