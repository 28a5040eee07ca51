import type { Matrix } from "../util/matrix.js";

/** One search hit: the user's document id and its (MaxSim or fused) score. */
export interface SearchResult {
  id: string;
  score: number;
}

/** A metadata filter: a SQL boolean expression over the metadata columns, with bound params. */
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

/**
 * The interface every index implements (PLAID, Exact, HNSW). Document ids are the user's
 * strings, stable across deletes. Every write is atomic on disk.
 */
export interface MultiVectorIndex {
  add(ids: string[], embeddings: Matrix[], metadata?: Record<string, unknown>[]): Promise<void>;
  delete(ids: string[]): Promise<void>;
  update(ids: string[], embeddings: Matrix[], metadata?: Record<string, unknown>[]): Promise<void>;
  search(queries: Matrix[], options?: SearchOptions): Promise<SearchResult[][]>;
  count(): number;
  close(): Promise<void>;
}
