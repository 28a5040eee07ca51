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
    const scored = ids.map((id, j) => ({
      id,
      score: maxSim(q, checkMatrix(docs[j], `documentsEmbeddings[${i}][${j}]`, q.cols)),
      j,
    }));
    scored.sort((a, b) => b.score - a.score || a.j - b.j);
    return scored.map(({ id, score }) => ({ id, score }));
  });
}
