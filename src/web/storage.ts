/**
 * Indexes persisted in the browser's IndexedDB (database "tslate", object store "indexes",
 * one record per name). A record is written in one transaction, so a crash or a closed tab
 * leaves the previous version or the new one, never half of each.
 */
import { IndexError, UnsupportedError } from "../util/errors.js";
import { Exact, type ExactRecord } from "./exact.js";

// The slice of the IndexedDB API used here (this project compiles without the DOM typings).
interface IdbRequest<T> {
  result: T;
  error: unknown;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: (() => void) | null;
}
interface IdbStore {
  put(value: unknown, key: string): IdbRequest<unknown>;
  get(key: string): IdbRequest<unknown>;
  delete(key: string): IdbRequest<unknown>;
}
interface IdbTransaction {
  objectStore(name: string): IdbStore;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
  error: unknown;
}
interface IdbDatabase {
  objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string): unknown;
  transaction(store: string, mode: "readonly" | "readwrite"): IdbTransaction;
  close(): void;
}
interface IdbFactory {
  open(name: string, version: number): IdbOpenRequest;
}

const DB = "tslate";
const STORE = "indexes";

function openDb(): Promise<IdbDatabase> {
  const idb = (globalThis as { indexedDB?: IdbFactory }).indexedDB;
  if (!idb)
    throw new UnsupportedError(
      "IndexedDB is not available here: keep the index in memory or store toRecord() yourself",
    );
  return new Promise((resolve, reject) => {
    const req = idb.open(DB, 1);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () =>
      reject(new IndexError(`IndexedDB "${DB}" could not be opened: ${String(req.error)}`));
  });
}

async function run<T>(
  mode: "readonly" | "readwrite",
  op: (s: IdbStore) => IdbRequest<T>,
): Promise<T> {
  const db = await openDb();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = op(tx.objectStore(STORE));
      const fail = () =>
        reject(new IndexError(`IndexedDB ${mode} failed: ${String(tx.error ?? req.error)}`));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = fail;
      tx.onabort = fail;
    });
  } finally {
    db.close();
  }
}

/** Saves (or replaces) the index under `name`. */
export async function saveIndex(name: string, index: Exact): Promise<void> {
  await run("readwrite", (s) => s.put(index.toRecord(), name));
}

/** Reopens the index saved under `name`; an IndexError when there is none. */
export async function openIndex(name: string): Promise<Exact> {
  const record = (await run("readonly", (s) => s.get(name))) as ExactRecord | undefined;
  if (record === undefined) {
    throw new IndexError(
      `no index saved as ${JSON.stringify(name)} in this browser; build it and call saveIndex first`,
    );
  }
  return Exact.fromRecord(record);
}

/** Deletes the index saved under `name` (nothing when there is none). */
export async function deleteIndex(name: string): Promise<void> {
  await run("readwrite", (s) => s.delete(name));
}
