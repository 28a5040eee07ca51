import { IndexError } from "../util/errors.js";
import { BaseIndex, type OpenOptions } from "./base.js";
import { Exact } from "./exact.js";
import { HNSW } from "./hnsw.js";
import { PLAID } from "./plaid.js";
import { IndexDirectory } from "./store.js";

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
} from "./plaid.js";
export { FORMAT_VERSION } from "./store.js";
export type * from "./types.js";

/** The index types by name, as stored in the manifest. */
export const INDEX_TYPES = ["plaid", "exact", "hnsw"] as const;
export type IndexType = (typeof INDEX_TYPES)[number];

/** Opens an index of whatever type the directory holds. */
export async function openIndex(
  dir: string,
  options: OpenOptions = {},
): Promise<PLAID | Exact | HNSW> {
  const type = new IndexDirectory(dir).readManifest().type;
  if (type === PLAID.TYPE) return PLAID.open(dir, options);
  if (type === Exact.TYPE) return Exact.open(dir, options);
  if (type === HNSW.TYPE) return HNSW.open(dir, options);
  throw new IndexError(
    `${dir}: unknown index type ${JSON.stringify(type)}; expected one of plaid, exact, hnsw`,
  );
}

/** Is this value one of our indexes (for the retriever)? */
export function isIndex(x: unknown): x is BaseIndex {
  return x instanceof BaseIndex;
}
