import { InvalidArgumentError, ShapeError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import { batchViews, groupedViews, type ScoreMasks, type TokenView } from "./colbert.js";
import type { Tensor } from "./tensor.js";

/** torch.finfo(float32).min: what PyLate writes into masked document slots before the top-k. */
const FLOAT32_MIN = -3.4028234663852886e38;

/** Options of the XTR scorers. */
export interface XTRScoresOptions {
  /** Token matches kept per query token, chosen globally over all in-batch document tokens (default 256, as PyLate). */
  k?: number;
}

/**
 * XTR contrastive scoring (PyLate `XTRScores`): every query token keeps only its `k` best
 * matches among all document tokens of the batch (as if retrieved from an index), then
 *
 *   m[a,s,j] = max_t (Q[a,s]·D[j,t] if (j,t) is among the k best of (a,s), else 0) · queriesMask[a,s]
 *   scores[a][j] = sum_s m[a,s,j] / max(#{s : m[a,s,j] > 0}, 1e-3)
 *
 * Shapes: queries `[Qb, Qt, E]`, documents `[D, N, Dt, E]` (or `Matrix[D][N]`), documentsMask
 * `[D, N, Dt]` (masked tokens become float32-min before the top-k) → scores `[Qb, D·N]`,
 * column j·N + k = slot k of group j. Among equal similarities at the top-k boundary the
 * lower flat index wins (PyTorch leaves that order unspecified).
 *
 * Example (E = 1, one query with tokens [1] and [2], one group of N = 2 documents
 * [[3],[-1]] and [[2],[1]]; run by test/scores/xtr.test.ts): the similarities are 3, -1, 2, 1
 * for token 0 and 6, -2, 4, 2 for token 1.
 *   k = 2 → token 0 keeps 3 and 2, token 1 keeps 6 and 4 → [[(3+6)/2, (2+4)/2]] = [[4.5, 3]]
 *   k = 1 → only 3 and 6 survive (both in document 0)   → [[4.5, 0]]
 * (plain colbertScores gives [[9, 6]]: XTR averages over the query tokens that matched.)
 */
export class XTRScores {
  readonly k: number;

  constructor(options: XTRScoresOptions = {}) {
    const k = options.k ?? 256;
    if (!Number.isInteger(k) || k < 1) {
      throw new InvalidArgumentError(`XTR k must be a positive integer, got ${k}`);
    }
    this.k = k;
  }

  score(
    queries: Tensor | Matrix[],
    documents: Tensor | Matrix[][],
    masks: ScoreMasks = {},
  ): Matrix {
    const q = batchViews(queries, "queries", masks.queriesMask, "queriesMask");
    const g = groupedViews(documents, "documents", masks.documentsMask);
    if (q.E >= 0 && g.E >= 0 && q.E !== g.E) {
      throw new ShapeError(
        `queries have embedding dimension ${q.E} but documents have ${g.E}; both must come from the same model`,
      );
    }
    const E = q.E >= 0 ? q.E : g.E;
    const docs: TokenView[] = g.views.flat();
    const Db = docs.length;
    const P = docs.reduce((acc, d) => acc + d.len, 0);
    if (this.k > P) {
      throw new InvalidArgumentError(
        `XTR k = ${this.k} is larger than the ${P} document tokens in the batch; use k <= ${P} (PyTorch's topk fails the same way)`,
      );
    }
    const Qb = q.views.length;
    const out = new Float32Array(Qb * Db);
    const pool = new Float64Array(P);
    const sorted = new Float64Array(P);
    const sums = new Float64Array(Db);
    const counts = new Float64Array(Db);
    for (let a = 0; a < Qb; a++) {
      const qv = q.views[a];
      sums.fill(0);
      counts.fill(0);
      for (let s = 0; s < qv.len; s++) {
        const qo = qv.off + s * E;
        let p = 0;
        for (const d of docs) {
          for (let t = 0; t < d.len; t++) {
            if (d.mask !== null && !d.mask[d.maskOff + t]) {
              pool[p++] = FLOAT32_MIN;
              continue;
            }
            const o = d.off + t * E;
            let sim = 0;
            for (let e = 0; e < E; e++) sim += qv.data[qo + e] * d.data[o + e];
            pool[p++] = Math.fround(sim);
          }
        }
        // Threshold = k-th largest value; values above it are in, ties at it go by index.
        sorted.set(pool);
        sorted.sort();
        const threshold = sorted[P - this.k];
        let tiesLeft = this.k;
        for (let i = P - 1; i >= 0 && sorted[i] > threshold; i--) tiesLeft--;
        const qmul = qv.mask === null ? 1 : qv.mask[qv.maskOff + s];
        p = 0;
        for (let j = 0; j < Db; j++) {
          const d = docs[j];
          let best = Number.NEGATIVE_INFINITY;
          for (let t = 0; t < d.len; t++, p++) {
            let v = pool[p];
            if (v < threshold) v = 0;
            else if (v === threshold) {
              if (tiesLeft > 0) tiesLeft--;
              else v = 0;
            }
            if (v > best) best = v;
          }
          if (d.len === 0) best = 0;
          const m = best * qmul;
          sums[j] += m;
          if (m > 0) counts[j] += 1;
        }
      }
      for (let j = 0; j < Db; j++) out[a * Db + j] = sums[j] / Math.max(counts[j], 1e-3);
    }
    return { data: out, rows: Qb, cols: Db };
  }
}

/**
 * XTR scores for distillation (PyLate `XTRKDScores`): the same global top-k over all Q·N
 * documents, but each query keeps only its own N documents. Queries `[Q, Qt, E]`, documents
 * `[Q, N, Dt, E]` → `[Q, N]`.
 */
export class XTRKDScores extends XTRScores {
  override score(
    queries: Tensor | Matrix[],
    documents: Tensor | Matrix[][],
    masks: ScoreMasks = {},
  ): Matrix {
    const all = super.score(queries, documents, masks);
    const Q = all.rows;
    const groups = Array.isArray(documents) ? documents.length : documents.dims[0];
    if (groups !== Q) {
      throw new ShapeError(
        `XTRKDScores needs one group of documents per query, got ${Q} queries and ${groups} groups`,
      );
    }
    const N = Q === 0 ? 0 : all.cols / Q;
    const out = new Float32Array(Q * N);
    for (let i = 0; i < Q; i++) {
      for (let n = 0; n < N; n++) out[i * N + n] = all.data[i * all.cols + i * N + n];
    }
    return { data: out, rows: Q, cols: N };
  }
}

const defaultXtr = new XTRScores();
const defaultXtrKd = new XTRKDScores();

/** `new XTRScores().score(...)` with PyLate's default k = 256 (PyLate `xtr_scores`). */
export function xtrScores(
  queries: Tensor | Matrix[],
  documents: Tensor | Matrix[][],
  masks: ScoreMasks = {},
): Matrix {
  return defaultXtr.score(queries, documents, masks);
}

/** `new XTRKDScores().score(...)` with k = 256 (PyLate `xtr_kd_scores`). */
export function xtrKdScores(
  queries: Tensor | Matrix[],
  documents: Tensor | Matrix[][],
  masks: ScoreMasks = {},
): Matrix {
  return defaultXtrKd.score(queries, documents, masks);
}
