import { InvalidArgumentError, ShapeError } from "./errors.js";

/**
 * A dense row-major float32 matrix: the unit of exchange between models, scores, indexes and
 * evaluation. One ColBERT embedding of a text is one Matrix (rows = kept tokens, cols = dim).
 */
export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

/** Builds a Matrix, checking that `data` holds exactly rows x cols values. */
export function matrix(data: Float32Array, rows: number, cols: number): Matrix {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new ShapeError(`matrix shape must be non-negative integers, got ${rows}x${cols}`);
  }
  if (data.length !== rows * cols) {
    throw new ShapeError(
      `matrix data has ${data.length} values but shape ${rows}x${cols} needs ${rows * cols}`,
    );
  }
  return { data, rows, cols };
}

/** Builds a Matrix from nested arrays (tests, small inputs). */
export function fromRows(rows: ArrayLike<number>[], cols?: number): Matrix {
  const c = cols ?? (rows.length > 0 ? rows[0].length : 0);
  const data = new Float32Array(rows.length * c);
  rows.forEach((row, i) => {
    if (row.length !== c) {
      throw new ShapeError(`row ${i} has ${row.length} values, expected ${c}`);
    }
    data.set(row as ArrayLike<number>, i * c);
  });
  return { data, rows: rows.length, cols: c };
}

/** Row i as a subarray view (no copy). */
export function row(m: Matrix, i: number): Float32Array {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

/**
 * Checks that a value is a Matrix with finite values and (optionally) a given column count.
 * `what` names the argument in the error message.
 */
export function checkMatrix(m: unknown, what: string, cols?: number): Matrix {
  const mm = m as Matrix;
  if (
    !mm ||
    typeof mm !== "object" ||
    !(mm.data instanceof Float32Array) ||
    typeof mm.rows !== "number" ||
    typeof mm.cols !== "number"
  ) {
    throw new InvalidArgumentError(
      `${what} must be a { data: Float32Array, rows, cols } matrix, got ${typeof m}`,
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
  for (let i = 0; i < mm.data.length; i++) {
    if (!Number.isFinite(mm.data[i])) {
      throw new InvalidArgumentError(
        `${what} contains a non-finite value (${mm.data[i]}) at row ${Math.floor(i / mm.cols)}, column ${i % mm.cols}`,
      );
    }
  }
  return mm;
}
