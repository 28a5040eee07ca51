import { InvalidArgumentError, ShapeError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";

/**
 * A dense row-major float32 tensor: the padded batch form PyLate's score functions take.
 * Embeddings are `[B, L, E]` (batch, tokens, dim) or `[B, N, L, E]` (batch, documents per
 * query, tokens, dim); element `[b, t, e]` of a 3-D tensor is `data[(b * L + t) * E + e]`.
 */
export interface Tensor {
  data: Float32Array;
  dims: readonly number[];
}

/**
 * A mask over the token axis, `[B, L]` or `[B, N, L]`. Values are multiplied into the
 * similarities as PyLate does (1 = keep, 0 = the similarity becomes 0 and still takes part in
 * the max); Uint8Array masks are read as 0/1 numbers.
 */
export interface MaskTensor {
  data: Float32Array | Uint8Array;
  dims: readonly number[];
}

/** Builds a Tensor, checking that `data` holds exactly the product of `dims` values. */
export function tensor(data: Float32Array, dims: readonly number[]): Tensor {
  checkDims(dims, "tensor");
  const size = dims.reduce((a, b) => a * b, 1);
  if (data.length !== size) {
    throw new ShapeError(
      `tensor data has ${data.length} values but shape [${dims.join(", ")}] needs ${size}`,
    );
  }
  return { data, dims: [...dims] };
}

/**
 * Zero-pads a list of matrices (one per text, different row counts) into one `[B, L, E]`
 * tensor with L = the longest matrix, and returns the mask (1 = real token, 0 = padding).
 * Pass both to `colbertScores` to get what PyLate computes on padded batches.
 */
export function padMatrices(matrices: Matrix[]): { embeddings: Tensor; mask: MaskTensor } {
  if (!Array.isArray(matrices) || matrices.length === 0) {
    throw new InvalidArgumentError("padMatrices needs a non-empty array of matrices");
  }
  const E = matrices[0].cols;
  let L = 0;
  matrices.forEach((m, i) => {
    checkMatrixShape(m, `matrices[${i}]`, E);
    if (m.rows > L) L = m.rows;
  });
  const B = matrices.length;
  const data = new Float32Array(B * L * E);
  const mask = new Float32Array(B * L);
  matrices.forEach((m, b) => {
    data.set(m.data, b * L * E);
    mask.fill(1, b * L, b * L + m.rows);
  });
  return { embeddings: { data, dims: [B, L, E] }, mask: { data: mask, dims: [B, L] } };
}

function checkDims(dims: readonly number[], what: string): void {
  if (!Array.isArray(dims) || dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`${what} dims must be non-negative integers, got ${String(dims)}`);
  }
}

/** Checks a Matrix's structure (not its values) and its column count. */
export function checkMatrixShape(m: unknown, what: string, cols?: number): Matrix {
  const mm = m as Matrix;
  if (!mm || typeof mm !== "object" || !(mm.data instanceof Float32Array)) {
    throw new InvalidArgumentError(
      `${what} must be a { data: Float32Array, rows, cols } matrix, got ${describe(m)}`,
    );
  }
  if (mm.data.length !== mm.rows * mm.cols) {
    throw new ShapeError(
      `${what}: data has ${mm.data.length} values but shape ${mm.rows}x${mm.cols} needs ${mm.rows * mm.cols}`,
    );
  }
  if (cols !== undefined && mm.cols !== cols) {
    throw new ShapeError(`${what} has dimension ${mm.cols}, expected ${cols}`);
  }
  checkFinite(mm.data, what);
  return mm;
}

/** Checks a Tensor of the given rank; returns its dims. */
export function checkTensor(t: unknown, what: string, rank: number): number[] {
  const tt = t as Tensor;
  if (!tt || typeof tt !== "object" || !(tt.data instanceof Float32Array) || !tt.dims) {
    throw new InvalidArgumentError(
      `${what} must be a { data: Float32Array, dims } tensor or an array of matrices, got ${describe(t)}`,
    );
  }
  checkDims(tt.dims, what);
  if (tt.dims.length !== rank) {
    throw new ShapeError(
      `${what} must have ${rank} dims, got [${tt.dims.join(", ")}] (${tt.dims.length} dims)`,
    );
  }
  const size = tt.dims.reduce((a, b) => a * b, 1);
  if (tt.data.length !== size) {
    throw new ShapeError(
      `${what}: data has ${tt.data.length} values but shape [${tt.dims.join(", ")}] needs ${size}`,
    );
  }
  checkFinite(tt.data, what);
  return [...tt.dims];
}

/** Checks that a mask exists with exactly the expected dims. */
export function checkMask(m: unknown, what: string, expected: number[]): MaskTensor {
  const mm = m as MaskTensor;
  if (
    !mm ||
    typeof mm !== "object" ||
    !(mm.data instanceof Float32Array || mm.data instanceof Uint8Array) ||
    !Array.isArray(mm.dims)
  ) {
    throw new InvalidArgumentError(
      `${what} must be a { data: Float32Array | Uint8Array, dims } mask, got ${describe(m)}`,
    );
  }
  if (mm.dims.length !== expected.length || mm.dims.some((d, i) => d !== expected[i])) {
    throw new ShapeError(
      `${what} has shape [${mm.dims.join(", ")}], expected [${expected.join(", ")}] to match the embeddings`,
    );
  }
  if (mm.data.length !== expected.reduce((a, b) => a * b, 1)) {
    throw new ShapeError(`${what}: data has ${mm.data.length} values for shape [${expected}]`);
  }
  checkFinite(mm.data, what);
  return mm;
}

function checkFinite(data: Float32Array | Uint8Array, what: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new InvalidArgumentError(
        `${what} contains a non-finite value (${data[i]}) at flat index ${i}`,
      );
    }
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  return typeof v;
}
