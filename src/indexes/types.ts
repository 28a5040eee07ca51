import type { Matrix } from "../util/matrix.js";

/** One search hit: the user's document id and its (MaxSim, BM25 or fused) score. */
export interface SearchResult {
  id: string;
  score: number;
}

/**
 * A metadata filter: one SQL boolean expression over the metadata columns, with `?`
 * placeholders bound to `params` (values are never pasted into the SQL text).
 * Example: `{ sql: "year >= ? AND lang = ?", params: [2020, "en"] }`.
 */
export interface MetadataFilter {
  sql: string;
  params?: unknown[];
}

export interface SearchOptions {
  /** Results per query (default 10). */
  k?: number;
  /** Only documents whose metadata satisfies this SQL condition. */
  filter?: MetadataFilter;
  /** Only these document ids. */
  subset?: string[];
}

/** Options of keyword (BM25) search. */
export type KeywordSearchOptions = SearchOptions;

/** How vector and keyword results are fused by `hybridSearch`. */
export interface HybridSearchOptions extends SearchOptions {
  /**
   * "rsf": relative score fusion, alpha·minmax(vector) + (1 − alpha)·minmax(bm25);
   * "rrf": reciprocal rank fusion, Σ 1 / (rrfK + rank). Default "rsf".
   */
  fusion?: "rsf" | "rrf";
  /** Weight of the vector scores in relative score fusion, in [0, 1] (default 0.5). */
  alpha?: number;
  /** The constant of reciprocal rank fusion (default 60). */
  rrfK?: number;
  /** Results fetched from each side before fusion (default max(4·k, 50)). */
  candidates?: number;
}

/** Per-document metadata: a JSON object. */
export type DocumentMetadata = Record<string, unknown>;

/** One document for streaming builds. */
export interface DocumentInput {
  id: string;
  embedding: Matrix;
  metadata?: DocumentMetadata;
}

/**
 * The interface every index implements (PLAID, Exact, HNSW). Document ids are the user's
 * strings, stable across deletes. Every write is atomic on disk.
 */
export interface MultiVectorIndex {
  add(ids: string[], embeddings: Matrix[], metadata?: DocumentMetadata[]): Promise<void>;
  delete(ids: string[]): Promise<void>;
  update(ids: string[], embeddings: Matrix[], metadata?: DocumentMetadata[]): Promise<void>;
  search(queries: Matrix[], options?: SearchOptions): Promise<SearchResult[][]>;
  count(): number;
  close(): Promise<void>;
}
