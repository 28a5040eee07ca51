import { ShapeError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import { maxSimView } from "./colbert.js";

/**
 * MaxSim of one query against one document, the late-interaction score:
 *   score(q, d) = sum_i max_j q_i . d_j        q: [Lq, E], d: [Ld, E]
 * Over the real (unpadded) tokens only; an empty document scores 0 (as a zero-padded slot
 * does in PyLate, see colbertScores for padding rules). No validation beyond the dimension
 * check: this is the inner loop of search.
 */
export function maxSim(q: Matrix, d: Matrix): number {
  if (q.cols !== d.cols) {
    throw new ShapeError(
      `maxSim: query dimension ${q.cols} differs from document dimension ${d.cols}`,
    );
  }
  return maxSimView(
    { data: q.data, off: 0, len: q.rows, mask: null, maskOff: 0 },
    { data: d.data, off: 0, len: d.rows, mask: null, maskOff: 0 },
    q.cols,
  );
}
