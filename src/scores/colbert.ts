import { InvalidArgumentError, ShapeError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import {
  checkMask,
  checkMatrixShape,
  checkTensor,
  type MaskTensor,
  type Tensor,
} from "./tensor.js";

/** Masks of the padded form; PyLate's `queries_mask` / `documents_mask`. */
export interface ScoreMasks {
  /** `[B, Lq]`, multiplied into every similarity of query token (b, s). */
  queriesMask?: MaskTensor;
  /** `[B, Ld]` (`[B, N, Ld]` for kd/grouped scores), multiplied into every similarity of document token t. */
  documentsMask?: MaskTensor;
}

/**
 * One text's token vectors inside a batch: `len` rows of E floats starting at `off` in
 * `data`, and an optional per-token multiplier (mask) starting at `maskOff`.
 */
export interface TokenView {
  data: Float32Array;
  off: number;
  len: number;
  mask: Float32Array | Uint8Array | null;
  maskOff: number;
}

/**
 * MaxSim of one query view against one document view, with PyLate's masking:
 *   sum_s max_t (q_s . d_t) * qmask_s * dmask_t
 * A masked pair is a 0 similarity that still takes part in the max (not -inf). A document
 * with no tokens scores 0. Dot products accumulate in float64 (more precise than PyTorch's
 * float32 matmul; differences are ~1e-6 on 32-term sums). E = dimension.
 * Four document rows are dotted per query-row load (about 3x faster than the naive loop).
 */
export function maxSimView(q: TokenView, d: TokenView, E: number): number {
  if (d.len === 0) return 0;
  const qd = q.data;
  const dd = d.data;
  const dm = d.mask;
  const dmo = d.maskOff;
  let total = 0;
  for (let s = 0; s < q.len; s++) {
    const qmul = q.mask === null ? 1 : q.mask[q.maskOff + s];
    const qo = q.off + s * E;
    let best = Number.NEGATIVE_INFINITY;
    let t = 0;
    for (; t + 3 < d.len; t += 4) {
      const o0 = d.off + t * E;
      const o1 = o0 + E;
      const o2 = o1 + E;
      const o3 = o2 + E;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let e = 0; e < E; e++) {
        const qv = qd[qo + e];
        s0 += qv * dd[o0 + e];
        s1 += qv * dd[o1 + e];
        s2 += qv * dd[o2 + e];
        s3 += qv * dd[o3 + e];
      }
      if (dm !== null) {
        s0 *= dm[dmo + t];
        s1 *= dm[dmo + t + 1];
        s2 *= dm[dmo + t + 2];
        s3 *= dm[dmo + t + 3];
      }
      if (s0 > best) best = s0;
      if (s1 > best) best = s1;
      if (s2 > best) best = s2;
      if (s3 > best) best = s3;
    }
    for (; t < d.len; t++) {
      const o = d.off + t * E;
      let sim = 0;
      for (let e = 0; e < E; e++) sim += qd[qo + e] * dd[o + e];
      if (dm !== null) sim *= dm[dmo + t];
      if (sim > best) best = sim;
    }
    // qmask multiplies every similarity of the row; for qmul >= 0 that equals scaling the max.
    total += qmul >= 0 ? best * qmul : minTimes(q, s, d, E, qmul);
  }
  return total;
}

/** Rare path: a negative query-mask value turns the max into a min. */
function minTimes(q: TokenView, s: number, d: TokenView, E: number, qmul: number): number {
  let best = Number.NEGATIVE_INFINITY;
  const qo = q.off + s * E;
  for (let t = 0; t < d.len; t++) {
    const o = d.off + t * E;
    let sim = 0;
    for (let e = 0; e < E; e++) sim += q.data[qo + e] * d.data[o + e];
    if (d.mask !== null) sim *= d.mask[d.maskOff + t];
    sim *= qmul;
    if (sim > best) best = sim;
  }
  return best;
}

/**
 * Views over a batch given either as a padded tensor `[B, L, E]` (+ optional mask `[B, L]`)
 * or as an array of matrices (each its own length, no mask).
 */
export function batchViews(
  x: Tensor | Matrix[],
  what: string,
  mask: MaskTensor | undefined,
  maskName: string,
): { views: TokenView[]; E: number } {
  if (Array.isArray(x)) {
    if (mask !== undefined) {
      throw new InvalidArgumentError(
        `${maskName} only applies to padded tensors; ${what} is an array of unpadded matrices (all rows are real tokens). Drop the mask, or pad with padMatrices()`,
      );
    }
    if (x.length === 0) return { views: [], E: -1 };
    const E = x[0]?.cols;
    const views = x.map((m, i) => {
      checkMatrixShape(m, `${what}[${i}]`, E);
      return { data: m.data, off: 0, len: m.rows, mask: null, maskOff: 0 };
    });
    return { views, E };
  }
  const [B, L, E] = checkTensor(x, what, 3);
  const m = mask === undefined ? null : checkMask(mask, maskName, [B, L]).data;
  const views: TokenView[] = [];
  for (let b = 0; b < B; b++) {
    views.push({ data: x.data, off: b * L * E, len: L, mask: m, maskOff: b * L });
  }
  return { views, E };
}

/** Views over `[B, N, L, E]` documents (+ mask `[B, N, L]`) or a Matrix[B][N]; views[b][n]. */
function groupedViews(
  x: Tensor | Matrix[][],
  what: string,
  mask: MaskTensor | undefined,
): { views: TokenView[][]; E: number; N: number } {
  if (Array.isArray(x)) {
    if (mask !== undefined) {
      throw new InvalidArgumentError(
        `documentsMask only applies to padded tensors; ${what} is an array of unpadded matrices. Drop the mask`,
      );
    }
    const N = x.length > 0 && Array.isArray(x[0]) ? x[0].length : 0;
    let E = -1;
    const views = x.map((group, b) => {
      if (!Array.isArray(group) || group.length !== N) {
        throw new ShapeError(
          `${what}[${b}] must be an array of ${N} matrices (the same count for every query)`,
        );
      }
      return group.map((m, n) => {
        if (E < 0) E = (m as Matrix)?.cols;
        checkMatrixShape(m, `${what}[${b}][${n}]`, E);
        return { data: m.data, off: 0, len: m.rows, mask: null, maskOff: 0 };
      });
    });
    return { views, E, N };
  }
  const [B, N, L, E] = checkTensor(x, what, 4);
  const m = mask === undefined ? null : checkMask(mask, "documentsMask", [B, N, L]).data;
  const views: TokenView[][] = [];
  for (let b = 0; b < B; b++) {
    const group: TokenView[] = [];
    for (let n = 0; n < N; n++) {
      const i = b * N + n;
      group.push({ data: x.data, off: i * L * E, len: L, mask: m, maskOff: i * L });
    }
    views.push(group);
  }
  return { views, E, N };
}

function sameDim(Eq: number, Ed: number): number {
  if (Eq >= 0 && Ed >= 0 && Eq !== Ed) {
    throw new ShapeError(
      `queries have embedding dimension ${Eq} but documents have ${Ed}; both must come from the same model`,
    );
  }
  return Eq >= 0 ? Eq : Ed;
}

/**
 * ColBERT scores of every query against every document (PyLate `colbert_scores`):
 *
 *   scores[a][b] = sum_s max_t (Q[a,s] . D[b,t]) * queriesMask[a,s] * documentsMask[b,t]
 *
 * Shapes: queries `[A, Lq, E]`, documents `[B, Ld, E]`, queriesMask `[A, Lq]`,
 * documentsMask `[B, Ld]` → scores `[A, B]` (a Matrix with rows = queries).
 * A masked similarity is multiplied by 0, so it still takes part in the max: a zero-padded
 * document scores `max(real max, 0)` per query token, exactly as PyLate does.
 *
 * Either argument may instead be an array of unpadded matrices (one per text, rows = its real
 * tokens); then only real tokens count (true MaxSim, no mask allowed), which equals PyLate
 * whenever every real max is >= 0 or all documents have the same length. Use
 * `padMatrices()` + `documentsMask` to reproduce PyLate's zero-padded batches exactly.
 *
 * Worked example (E = 1; PyLate's doctest, run by test/scores/colbert.test.ts):
 *
 *   queries   = [[1],[0],[0],[0]], [[0],[2],[0],[0]], [[0],[0],[3],[0]]          [3, 4, 1]
 *   documents = [[10],[0],[1]], [[0],[100],[10]], [[1],[0],[1000]]              [3, 3, 1]
 *   queriesMask   = [1,1,1,1], [1,1,1,1], [1,1,0,1]
 *   documentsMask = [1,1,1], [1,0,1], [1,1,1]
 *   → scores = [[10, 10, 1000], [20, 20, 2000], [0, 0, 0]]
 *
 * (query 0 vs document 1: the 100 is masked, so max(0, 0·1, 10) = 10; query 2's only
 * non-zero token is masked, so all its scores are 0.)
 */
export function colbertScores(
  queries: Tensor | Matrix[],
  documents: Tensor | Matrix[],
  masks: ScoreMasks = {},
): Matrix {
  const q = batchViews(queries, "queries", masks.queriesMask, "queriesMask");
  const d = batchViews(documents, "documents", masks.documentsMask, "documentsMask");
  const E = sameDim(q.E, d.E);
  const A = q.views.length;
  const B = d.views.length;
  const out = new Float32Array(A * B);
  for (let a = 0; a < A; a++) {
    for (let b = 0; b < B; b++) out[a * B + b] = maxSimView(q.views[a], d.views[b], E);
  }
  return { data: out, rows: A, cols: B };
}

/**
 * Score of each query against its own document (PyLate `colbert_scores_pairwise`):
 * `scores[i] = sum_s max_t Q[i,s] . D[i,t]`, no masks. Shapes: queries `[B, Lq, E]` and
 * documents `[B, Ld, E]` (or arrays of B matrices) → `[B]`.
 *
 * Example (E = 1): queries [[1],[0],[0],[0]], [[0],[2],[0],[0]], [[0],[0],[3],[0]] and
 * documents [[10],[0],[1]], [[0],[100],[1]], [[1],[0],[1000]] → [10, 200, 3000].
 */
export function colbertScoresPairwise(
  queries: Tensor | Matrix[],
  documents: Tensor | Matrix[],
): Float32Array {
  const q = batchViews(queries, "queries", undefined, "queriesMask");
  const d = batchViews(documents, "documents", undefined, "documentsMask");
  if (q.views.length !== d.views.length) {
    throw new ShapeError(
      `colbertScoresPairwise needs as many documents as queries, got ${q.views.length} queries and ${d.views.length} documents`,
    );
  }
  const E = sameDim(q.E, d.E);
  const out = new Float32Array(q.views.length);
  for (let i = 0; i < out.length; i++) out[i] = maxSimView(q.views[i], d.views[i], E);
  return out;
}

/**
 * Knowledge-distillation scores (PyLate `colbert_kd_scores`): each query against its own N
 * candidate documents. Shapes: queries `[B, Lq, E]`, documents `[B, N, Ld, E]` (or
 * `Matrix[B][N]`), queriesMask `[B, Lq]`, documentsMask `[B, N, Ld]` → `[B, N]`, masked as in
 * `colbertScores`.
 *
 * Example (E = 1): query 0 = [[1],[0],[0],[0]] against documents [[10],[0],[1]],
 * [[20],[0],[1]], [[30],[0],[1]] with documentsMask [0,1,1], [1,1,1], [1,1,1] → [1, 20, 30].
 */
export function colbertKdScores(
  queries: Tensor | Matrix[],
  documents: Tensor | Matrix[][],
  masks: ScoreMasks = {},
): Matrix {
  const q = batchViews(queries, "queries", masks.queriesMask, "queriesMask");
  const d = groupedViews(documents, "documents", masks.documentsMask);
  if (q.views.length !== d.views.length) {
    throw new ShapeError(
      `colbertKdScores needs one group of documents per query, got ${q.views.length} queries and ${d.views.length} groups`,
    );
  }
  const E = sameDim(q.E, d.E);
  const B = q.views.length;
  const N = d.N;
  const out = new Float32Array(B * N);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) out[b * N + n] = maxSimView(q.views[b], d.views[b][n], E);
  }
  return { data: out, rows: B, cols: N };
}

/**
 * Contrastive scoring over stacked document groups (PyLate `ColBERTScores`): queries
 * `[Q, Lq, E]`, documents `[D, N, Ld, E]` (group j holds the N documents of triplet j, slot 0
 * usually the positive), documentsMask `[D, N, Ld]` → scores `[Q, D·N]` with
 * `scores[i][j·N + k] = colbertScores(queries, documents[:, k], ...)[i][j]`: query-major, so
 * with Q = D the positive of query i sits at column i·N.
 */
export class ColBERTScores {
  score(
    queries: Tensor | Matrix[],
    documents: Tensor | Matrix[][],
    masks: ScoreMasks = {},
  ): Matrix {
    const q = batchViews(queries, "queries", masks.queriesMask, "queriesMask");
    const d = groupedViews(documents, "documents", masks.documentsMask);
    const E = sameDim(q.E, d.E);
    const Q = q.views.length;
    const D = d.views.length;
    const N = d.N;
    const out = new Float32Array(Q * D * N);
    for (let i = 0; i < Q; i++) {
      for (let j = 0; j < D; j++) {
        for (let k = 0; k < N; k++) {
          out[i * D * N + j * N + k] = maxSimView(q.views[i], d.views[j][k], E);
        }
      }
    }
    return { data: out, rows: Q, cols: D * N };
  }
}

export { groupedViews };
