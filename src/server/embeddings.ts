import type { Matrix } from "../util/matrix.js";
import { badRequest, dimensionMismatch } from "./errors.js";

/** One embedding matrix as next-plaid receives it: nested JSON rows, or base64 f32 + shape. */
export interface EmbeddingsInput {
  embeddings?: number[][] | null;
  embeddings_b64?: string | null;
  shape?: [number, number] | null;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes base64 little-endian float32 values of `shape` [rows, dim] (next-plaid's
 * decode_b64_embeddings): the byte count must match the shape and every value be finite.
 */
export function decodeBase64Matrix(b64: string, shape: [number, number], what: string): Matrix {
  const [rows, cols] = shape;
  if (rows === 0) throw badRequest(`Empty ${what} embeddings`);
  if (cols === 0) throw badRequest(`Zero dimension ${what} embeddings`);
  if (b64.length % 4 !== 0 || !BASE64.test(b64)) throw badRequest(`Invalid base64 in ${what}`);
  const bytes = Buffer.from(b64, "base64");
  const expected = rows * cols * 4;
  if (bytes.length !== expected) {
    throw badRequest(
      `Expected ${expected} bytes for shape [${rows}, ${cols}] of ${what}, got ${bytes.length}`,
    );
  }
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) {
    const v = bytes.readFloatLE(i * 4);
    if (!Number.isFinite(v)) {
      throw badRequest(`${what} embedding contains non-finite value at flat index ${i}: ${v}`);
    }
    data[i] = v;
  }
  return { data, rows, cols };
}

/** Nested JSON rows to a matrix: at least one row, no empty or ragged rows, finite values. */
export function jsonMatrix(rowsIn: number[][], what: string): Matrix {
  const rows = rowsIn.length;
  if (rows === 0) throw badRequest(`Empty ${what} embeddings`);
  const cols = rowsIn[0].length;
  if (cols === 0) throw badRequest(`Zero dimension ${what} embeddings`);
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = rowsIn[r];
    if (row.length !== cols) {
      throw badRequest(
        `Inconsistent ${what} embedding dimension at row ${r}: expected ${cols}, got ${row.length}`,
      );
    }
    for (let c = 0; c < cols; c++) {
      const v = row[c];
      if (typeof v !== "number" || !Number.isFinite(v) || !Number.isFinite(Math.fround(v))) {
        throw badRequest(
          `${what} embedding contains non-finite value at row ${r}, col ${c} (float32 range)`,
        );
      }
      data[r * cols + c] = v;
    }
  }
  return { data, rows, cols };
}

/** One next-plaid embeddings object to a matrix (base64 preferred when both are given). */
export function toMatrix(input: EmbeddingsInput, what: string): Matrix {
  if (typeof input.embeddings_b64 === "string" && Array.isArray(input.shape)) {
    return decodeBase64Matrix(input.embeddings_b64, input.shape, what);
  }
  if (Array.isArray(input.embeddings)) return jsonMatrix(input.embeddings, what);
  throw badRequest("Must provide either 'embeddings' or 'embeddings_b64' + 'shape'");
}

/** Every matrix must have `dim` columns (dim 0 = not fixed yet: the first one fixes it). */
export function checkDims(matrices: Matrix[], dim: number): void {
  const want = dim || matrices[0]?.cols || 0;
  for (const m of matrices) if (m.cols !== want) throw dimensionMismatch(want, m.cols);
}

/** A matrix as nested number rows (JSON answers). */
export function matrixRows(m: Matrix): number[][] {
  const out: number[][] = new Array(m.rows);
  for (let r = 0; r < m.rows; r++)
    out[r] = Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols));
  return out;
}

/** A matrix as base64 little-endian float32 (X-Embeddings-Format: base64). */
export function matrixBase64(m: Matrix): string {
  return Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString("base64");
}
