/**
 * The JSON of tslate serve's API, which is next-plaid 1.6's (next-plaid-api/src/models.rs),
 * plus PyLate's /v1/embeddings. Field names are the wire's (snake_case).
 */

/** Every error answer. */
export interface ErrorResponse {
  code: string;
  message: string;
  details?: unknown;
}

export interface IndexConfig {
  nbits?: 1 | 2 | 4 | 8 | null;
  batch_size?: number | null;
  seed?: number | null;
  start_from_scratch?: number | null;
  max_documents?: number | null;
  fts_tokenizer?: "unicode61" | null;
}
export type IndexConfigStored = {
  [K in keyof IndexConfig]-?: Exclude<IndexConfig[K], undefined>;
} & { nbits: number; batch_size: number; start_from_scratch: number; fts_tokenizer: string };

export interface CreateIndexResponse {
  name: string;
  config: IndexConfigStored;
  message: string;
}

export interface IndexSummary {
  name: string;
  num_documents: number;
  num_embeddings: number;
  num_partitions: number;
  dimension: number;
  nbits: number;
  avg_doclen: number;
  has_metadata: boolean;
  max_documents?: number;
}

export interface IndexInfo extends Omit<IndexSummary, "nbits"> {
  metadata_count: number | null;
}

export interface UpdateStatus {
  index: string;
  status: "queued" | "running" | "complete" | "failed";
  stage: string;
  queued_documents?: number;
  processed_documents?: number;
  started_at: string;
  updated_at: string;
  elapsed_ms: number;
  message?: string;
  error?: string;
  /** tslate: writes waiting in this index's queue. */
  queue_depth?: number;
}

export interface ModelInfo {
  name?: string;
  path: string;
  quantized: boolean;
  embedding_dim: number;
  batch_size: number;
  num_sessions: number;
  query_prefix: string;
  document_prefix: string;
  query_length: number;
  document_length: number;
  do_query_expansion: boolean;
}

export interface HealthResponse {
  status: string;
  version: string;
  loaded_indices: number;
  index_dir: string;
  memory_usage_bytes: number;
  indices: IndexSummary[];
  updates: UpdateStatus[];
  model?: ModelInfo;
}

/** One embedding matrix: nested rows [tokens][dim], or base64 little-endian float32 + shape. */
export type Embeddings =
  | { embeddings: number[][]; embeddings_b64?: never; shape?: never }
  | { embeddings_b64: string; shape: [number, number]; embeddings?: never };

export type Metadata = Record<string, unknown>;

export interface SearchParams {
  top_k?: number;
  n_ivf_probe?: number;
  n_full_scores?: number;
  centroid_score_threshold?: number | null;
}

export interface SearchRequest {
  queries?: Embeddings[];
  params?: SearchParams;
  subset?: number[];
  text_query?: string[];
  alpha?: number;
  fusion?: "relative_score" | "rrf";
  filter_condition?: string;
  filter_parameters?: unknown[];
}

export interface TextSearchRequest extends Omit<SearchRequest, "queries"> {
  queries: string[];
}

export interface QueryResult {
  query_id: number;
  document_ids: number[];
  scores: number[];
  /** Each hit's metadata with `_subset_` (its document id), or null. */
  metadata: (Metadata | null)[];
}

export interface SearchResponse {
  results: QueryResult[];
  num_queries: number;
}

/** What a write answers with `wait: true` (tslate extension): 200 after the commit. */
export interface WriteDone {
  status: "complete";
  document_ids: number[];
  evicted?: number;
  deleted?: number;
  remaining?: number;
}

export interface UpdateIndexConfigResponse {
  name: string;
  config: IndexConfigStored;
  message: string;
}

export interface MetadataResponse {
  metadata: Metadata[];
  count: number;
}
export interface MetadataCount {
  count: number;
  has_metadata: boolean;
}
export interface CheckMetadataResponse {
  existing_ids: number[];
  missing_ids: number[];
  existing_count: number;
  missing_count: number;
}
export interface QueryMetadataResponse {
  document_ids: number[];
  count: number;
}

export interface EncodeResponse {
  embeddings?: number[][][];
  embeddings_b64?: string[];
  shapes?: [number, number][];
  num_texts: number;
}

export interface RerankResponse {
  results: { index: number; score: number }[];
  num_documents: number;
}

export interface EmbeddingsResponse {
  object: "list";
  data: { object: "embedding"; index: number; embedding: number[][] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}
