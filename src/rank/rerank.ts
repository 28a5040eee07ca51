import type { SearchResult } from "../indexes/types.js";
import { maxSim } from "../scores/maxsim.js";
import { InvalidArgumentError } from "../util/errors.js";
import { checkMatrix, type Matrix } from "../util/matrix.js";

/**
 * PyLate's `rank.rerank`: for each query, reorders its candidate documents by MaxSim
 * (sum over query tokens of the best document-token dot product), best first.
 *
 *   documentsIds[q][j] names documentsEmbeddings[q][j]; queriesEmbeddings[q] is [Lq, E].
 *
 * Example: q = [[1, 0]], candidates a = [[0, 1]] (score 0) and b = [[1, 0]] (score 1)
 * → [{ id: "b", score: 1 }, { id: "a", score: 0 }].
 *
 * As PyLate, a query's candidates are zero-padded to the longest of them and scored without
 * a mask: against a shorter candidate, a query token whose best match is negative scores 0
 * (q = [[1, 0]], a = [[-1, 0]], b = [[-1, 0], [-0.5, 0]] → a 0, b -0.5).
 */
export function rerank(
  documentsIds: string[][],
  queriesEmbeddings: Matrix[],
  documentsEmbeddings: Matrix[][],
): SearchResult[][] {
  if (
    !Array.isArray(documentsIds) ||
    !Array.isArray(queriesEmbeddings) ||
    !Array.isArray(documentsEmbeddings)
  ) {
    throw new InvalidArgumentError(
      "rerank(documentsIds, queriesEmbeddings, documentsEmbeddings) takes three arrays",
    );
  }
  if (
    documentsIds.length !== queriesEmbeddings.length ||
    documentsEmbeddings.length !== queriesEmbeddings.length
  ) {
    throw new InvalidArgumentError(
      `rerank needs one entry per query: ${queriesEmbeddings.length} queries, ${documentsIds.length} id lists, ${documentsEmbeddings.length} embedding lists`,
    );
  }
  return queriesEmbeddings.map((q, i) => {
    checkMatrix(q, `queriesEmbeddings[${i}]`);
    const ids = documentsIds[i];
    const docs = documentsEmbeddings[i];
    if (!Array.isArray(ids) || !Array.isArray(docs) || ids.length !== docs.length) {
      throw new InvalidArgumentError(
        `query ${i}: ${ids?.length} ids but ${docs?.length} document embeddings`,
      );
    }
    const longest = docs.reduce((m, d) => Math.max(m, d?.rows ?? 0), 0);
    const scored = ids.map((id, j) => {
      const d = checkMatrix(docs[j], `documentsEmbeddings[${i}][${j}]`, q.cols);
      return { id, score: d.rows < longest ? paddedMaxSim(q, d) : maxSim(q, d), j };
    });
    scored.sort((a, b) => b.score - a.score || a.j - b.j);
    return scored.map(({ id, score }) => ({ id, score }));
  });
}

/** MaxSim against `d` plus zero rows: each query token's best dot product, at least 0. */
function paddedMaxSim(q: Matrix, d: Matrix): number {
  const E = q.cols;
  let total = 0;
  for (let a = 0; a < q.rows; a++) {
    let best = 0;
    for (let b = 0; b < d.rows; b++) {
      let dot = 0;
      for (let k = 0; k < E; k++) dot += q.data[a * E + k] * d.data[b * E + k];
      if (dot > best) best = dot;
    }
    total += best;
  }
  return total;
}
