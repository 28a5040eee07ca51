import { IndexError, InvalidArgumentError } from "../util/errors.js";
import { BaseIndex, type OpenOptions } from "./base.js";
import { Exact, type ExactOptions } from "./exact.js";
import { HNSW, type HnswOptions } from "./hnsw.js";
import { PLAID, type PlaidOptions } from "./plaid/index.js";
import { IndexDirectory } from "./store.js";

/**
 * The index types by name (as stored in the manifest) → their classes: the one place that
 * knows them all. The CLI, retrieve/ and the search worker create and open indexes through
 * here (static imports: no module path strings). HNSW's native module loads on first use.
 */
export const INDEX_CLASSES = { plaid: PLAID, exact: Exact, hnsw: HNSW } as const;

export type IndexType = keyof typeof INDEX_CLASSES;
export const INDEX_TYPES = Object.keys(INDEX_CLASSES) as IndexType[];

/** Any index this package implements. */
export type AnyIndex = PLAID | Exact | HNSW;

/** The create options of each index type. */
export interface IndexOptionsOf {
  plaid: PlaidOptions;
  exact: ExactOptions;
  hnsw: HnswOptions;
}

/** The class of each index type. */
export interface IndexOf {
  plaid: PLAID;
  exact: Exact;
  hnsw: HNSW;
}

export function isIndexType(type: unknown): type is IndexType {
  return typeof type === "string" && Object.hasOwn(INDEX_CLASSES, type);
}

function checkType(type: unknown, what: string): IndexType {
  if (!isIndexType(type))
    throw new InvalidArgumentError(
      `${what} ${JSON.stringify(type)} is not an index type; expected one of ${INDEX_TYPES.join(", ")}`,
    );
  return type;
}

/** Creates an empty index of the given type in `dir`. */
export async function createIndex<T extends IndexType>(
  type: T,
  dir: string,
  options?: IndexOptionsOf[T],
): Promise<IndexOf[T]> {
  const t = checkType(type, "index type");
  const cls = INDEX_CLASSES[t] as unknown as {
    create(dir: string, options?: IndexOptionsOf[T]): Promise<IndexOf[T]>;
  };
  return cls.create(dir, options);
}

/** Opens an index of whatever type the directory holds. */
export async function openIndex(dir: string, options: OpenOptions = {}): Promise<AnyIndex> {
  const type = new IndexDirectory(dir).readManifest().type;
  if (!isIndexType(type))
    throw new IndexError(
      `${dir}: unknown index type ${JSON.stringify(type)}; expected one of ${INDEX_TYPES.join(", ")}`,
    );
  return INDEX_CLASSES[type].open(dir, options);
}

/** Is this value one of our indexes (for the retriever)? */
export function isIndex(x: unknown): x is BaseIndex {
  return x instanceof BaseIndex;
}
