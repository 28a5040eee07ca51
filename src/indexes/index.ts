export { BaseIndex, type BaseIndexOptions, type OpenOptions } from "./base.js";
export { Exact, type ExactOptions } from "./exact.js";
export {
  type ExportableIndex,
  type ExportOptions,
  exportDocuments,
  exportIndex,
} from "./export.js";
export { fuseRrf, fuseRsf } from "./fusion.js";
export {
  DEFAULT_HNSW_CONFIG,
  HNSW,
  type HnswConfig,
  type HnswOptions,
  type HnswSearchOptions,
  type HnswSearchParameters,
} from "./hnsw.js";
export type { KernelOptions } from "./kernels.js";
export {
  Lance,
  type LanceOpenOptions,
  type LanceOptions,
  type LanceSearchOptions,
  lanceWhere,
  type VersionedResults,
} from "./lance.js";
export {
  MAX_DEFAULT_SEARCH_WORKERS,
  ParallelSearcher,
  type ParallelSearcherOptions,
  type ParallelSearchOptions,
} from "./parallel.js";
export {
  DEFAULT_PLAID_CONFIG,
  DEFAULT_PLAID_SEARCH,
  PLAID,
  type PlaidConfig,
  type PlaidDrift,
  type PlaidOptions,
  type PlaidSearchOptions,
  type PlaidSearchParameters,
} from "./plaid/index.js";
export {
  type AnyIndex,
  createIndex,
  INDEX_CLASSES,
  INDEX_TYPES,
  type IndexOf,
  type IndexOptionsOf,
  type IndexType,
  isIndex,
  isIndexType,
  openIndex,
} from "./registry.js";
export { FORMAT_VERSION } from "./store.js";
export type * from "./types.js";
