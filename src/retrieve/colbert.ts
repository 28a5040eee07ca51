import type { MultiVectorIndex, SearchOptions, SearchResult } from "../indexes/types.js";
import { InvalidArgumentError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";

/** What the retriever needs of an index: an index, or a ParallelSearcher over one. */
export type SearchableIndex = Pick<MultiVectorIndex, "search">;

/** The search options an index's `search` accepts (PLAID's, HNSW's, ...). */
export type SearchOptionsOf<I extends SearchableIndex> = I extends {
  search(queries: Matrix[], options?: infer O): Promise<SearchResult[][]>;
}
  ? O extends SearchOptions
    ? O
    : SearchOptions
  : SearchOptions;

/**
 * The index's own search options (typed: PLAID's `nIvfProbe`, `nFullScores`, ...; a typo is a
 * type error, and the index refuses unknown keys at run time), with a per-query `subset` and a
 * query batch size.
 */
export type RetrieveOptions<O extends SearchOptions = SearchOptions> = Omit<O, "subset"> & {
  /** Only these ids: one list for all queries, or one list per query (as PyLate). */
  subset?: string[] | string[][];
  /** Queries searched per index call (default 64): bounds memory of big query sets. */
  batchSize?: number;
};

/**
 * PyLate's `retrieve.ColBERT`: searches an index with query embeddings and returns, per query,
 * `{ id, score }` sorted by decreasing score.
 */
export class Retriever<I extends SearchableIndex = SearchableIndex> {
  readonly index: I;
  constructor(index: I) {
    if (!index || typeof (index as SearchableIndex).search !== "function") {
      throw new InvalidArgumentError(
        "Retriever needs an index (PLAID, Exact, HNSW, any MultiVectorIndex) or a ParallelSearcher",
      );
    }
    this.index = index;
  }

  async retrieve(
    queriesEmbeddings: Matrix[],
    options: RetrieveOptions<SearchOptionsOf<I>> = {} as RetrieveOptions<SearchOptionsOf<I>>,
  ): Promise<SearchResult[][]> {
    if (!Array.isArray(queriesEmbeddings))
      throw new InvalidArgumentError("queriesEmbeddings must be an array of matrices");
    const { subset, batchSize = 64, ...rest } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new InvalidArgumentError(`batchSize must be a positive integer, got ${batchSize}`);
    const perQuery = Array.isArray(subset) && subset.length > 0 && Array.isArray(subset[0]);
    if (perQuery && subset.length !== queriesEmbeddings.length) {
      throw new InvalidArgumentError(
        `subset has ${subset.length} lists for ${queriesEmbeddings.length} queries; give one list per query or a single list`,
      );
    }
    const out: SearchResult[][] = [];
    if (perQuery) {
      for (let i = 0; i < queriesEmbeddings.length; i++) {
        out.push(
          ...(await this.index.search([queriesEmbeddings[i]], {
            ...rest,
            subset: (subset as string[][])[i],
          })),
        );
      }
      return out;
    }
    for (let i = 0; i < queriesEmbeddings.length; i += batchSize) {
      const batch = queriesEmbeddings.slice(i, i + batchSize);
      out.push(
        ...(await this.index.search(batch, { ...rest, subset: subset as string[] | undefined })),
      );
    }
    return out;
  }
}
