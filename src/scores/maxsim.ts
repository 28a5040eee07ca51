import type { Matrix } from "../util/matrix.js";

/**
 * MaxSim of one query against one document, the late-interaction score:
 *   score(q, d) = sum_i max_j q_i . d_j        q: [Lq, E], d: [Ld, E]
 * Over the real (unpadded) tokens only; an empty document scores 0 per query token
 * (this matches PyLate when documents are zero-padded, see colbertScores for padding rules).
 * Blocked so that four document rows share each query row load (about 3x faster than the
 * naive triple loop in V8).
 */
export function maxSim(q: Matrix, d: Matrix): number {
  const E = q.cols;
  const qd = q.data;
  const dd = d.data;
  const Ld = d.rows;
  if (Ld === 0) return 0;
  let total = 0;
  for (let i = 0; i < q.rows; i++) {
    const qo = i * E;
    let best = Number.NEGATIVE_INFINITY;
    let j = 0;
    for (; j + 3 < Ld; j += 4) {
      const o0 = j * E;
      const o1 = o0 + E;
      const o2 = o1 + E;
      const o3 = o2 + E;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = 0; k < E; k++) {
        const qv = qd[qo + k];
        s0 += qv * dd[o0 + k];
        s1 += qv * dd[o1 + k];
        s2 += qv * dd[o2 + k];
        s3 += qv * dd[o3 + k];
      }
      if (s0 > best) best = s0;
      if (s1 > best) best = s1;
      if (s2 > best) best = s2;
      if (s3 > best) best = s3;
    }
    for (; j < Ld; j++) {
      const o = j * E;
      let s = 0;
      for (let k = 0; k < E; k++) s += qd[qo + k] * dd[o + k];
      if (s > best) best = s;
    }
    total += best;
  }
  return total;
}
