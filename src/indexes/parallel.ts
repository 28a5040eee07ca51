import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import {
  ConfigError,
  FileFormatError,
  IndexError,
  InvalidArgumentError,
  ShapeError,
  TslateError,
} from "../util/errors.js";
import { checkMatrix, type Matrix } from "../util/matrix.js";
import type { HnswSearchOptions } from "./hnsw.js";
import { checkKernelOptions, type KernelOptions } from "./kernels.js";
import type { SearchJob, SerializedError, WorkerReply, WorkerStart } from "./parallel-worker.js";
import type { PlaidSearchOptions } from "./plaid/index.js";
import { IndexDirectory, type Manifest, readCommitted } from "./store.js";
import type { SearchResult } from "./types.js";

/** Workers when `workers` is not given: the available cores, at most this many. */
export const MAX_DEFAULT_SEARCH_WORKERS = 4;
/** Queries sent to a worker at a time, at most (one PLAID scoring group). */
const MAX_CHUNK_QUERIES = 8;
/** Chunks per worker for calls too short to fill chunks of MAX_CHUNK_QUERIES. */
const CHUNKS_PER_WORKER = 4;

export interface ParallelSearcherOptions {
  /**
   * Worker threads (default: available cores, at most 4). They share one copy of the index's
   * files; each adds its own derived tables (inverse norms, inverted lists, kernel memory).
   */
  workers?: number;
  /** Verify the SHA-256 of every file when the searcher reads the index (default true). */
  verifyChecksums?: boolean;
  /** Compute kernels of the workers' indexes (default: all fast paths, 1 thread each). */
  kernels?: KernelOptions;
}

/**
 * Search options of any index type; the workers' index checks them (an option of another
 * index type is an InvalidArgumentError, as with `index.search`).
 */
export type ParallelSearchOptions = PlaidSearchOptions & HnswSearchOptions;

interface Pending {
  resolve: (results: SearchResult[][]) => void;
  reject: (err: Error) => void;
}

/** One worker thread and the calls waiting for it. */
class SearchWorker {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();
  /** Set when the thread died: every later call fails with it. */
  failure: Error | null = null;
  /** The generation of the shared files this worker has. */
  filesGeneration: number;
  ready: Promise<void>;

  constructor(
    url: URL,
    start: WorkerStart,
    generation: number,
    slot: number,
    onDeath: (err: Error) => void,
  ) {
    this.filesGeneration = generation;
    this.worker = new Worker(url, { workerData: start });
    let readyResolve!: () => void;
    let readyReject!: (err: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.ready.catch(() => undefined); // handled by whoever awaits it
    const die = (err: Error) => {
      if (this.failure) return;
      this.failure = err;
      readyReject(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      onDeath(err);
    };
    this.worker.on("message", (m: WorkerReply) => {
      if (m.type === "ready") readyResolve();
      else if (m.type === "error" && m.call === null) readyReject(rebuildError(m.error));
      else if (m.call !== null) {
        const p = this.pending.get(m.call);
        if (!p) return;
        this.pending.delete(m.call);
        if (m.type === "result") p.resolve(m.results);
        else p.reject(rebuildError(m.error));
      }
    });
    this.worker.on("error", (err) => {
      die(
        new IndexError(
          `search worker ${slot} of ${start.dir} crashed: ${err.message}; close() this searcher and open a new one`,
          { cause: err },
        ),
      );
    });
    this.worker.on("exit", (code) => {
      die(
        new IndexError(
          `search worker ${slot} of ${start.dir} exited (code ${code}); close() this searcher and open a new one`,
        ),
      );
    });
  }

  run(job: SearchJob): Promise<SearchResult[][]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(job.call, { resolve, reject });
      try {
        this.worker.postMessage(job, [job.data.buffer as ArrayBuffer]);
      } catch (err) {
        // e.g. options holding a function: not cloneable to the worker.
        this.pending.delete(job.call);
        reject(
          new InvalidArgumentError(
            `search options must be plain data (numbers, strings, arrays, objects): ${(err as Error).message}`,
          ),
        );
      }
    });
  }
}

/** The worker's error as the same TslateError class (code and message kept). */
function rebuildError(e: SerializedError): Error {
  let err: Error;
  switch (e.code) {
    case "INVALID_ARGUMENT":
      err = new InvalidArgumentError(e.message);
      break;
    case "CONFIG":
      err = new ConfigError(e.message);
      break;
    case "SHAPE":
      err = new ShapeError(e.message);
      break;
    case "INDEX":
      err = new IndexError(e.message);
      break;
    case "FILE_NOT_FOUND":
    case "FILE_CORRUPT": {
      const path = e.path ?? "";
      const prefix = `${path}: `;
      const rest = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
      err = new FileFormatError(path, rest, { missing: e.code === "FILE_NOT_FOUND" });
      break;
    }
    default:
      err = e.code
        ? new TslateError(e.code as TslateError["code"], e.message)
        : new Error(e.message);
      err.name = e.name;
  }
  if (e.stack)
    err.stack = `${err.name}: ${err.message}\n    (in a search worker thread)\n${e.stack}`;
  return err;
}

/**
 * Searches an on-disk index (PLAID, Exact or HNSW) on several worker threads: each worker opens
 * the index read-only, a `search` call splits its queries into chunks of up to 8 queries
 * (each packed into one transferred Float32Array) handed to whichever worker is free, and
 * returns the results in query order, equal to what `index.search` returns.
 *
 * Writes made after `open` (by this or another process) are seen: every `search` reads the
 * manifest generation first, and workers holding an older one reopen the index before
 * searching. A writer in the same directory is never disturbed (workers open read-only).
 *
 *   const searcher = await ParallelSearcher.open(dir, { workers: 2 });
 *   const results = await searcher.search(queries, { k: 10 });
 *   await searcher.close();
 */
export class ParallelSearcher {
  readonly dir: string;
  private readonly slots: SearchWorker[];
  private readonly verify: boolean;
  private shared: SharedIndexFiles;
  private nextCall = 0;
  private closed = false;
  private failure: Error | null = null;

  private constructor(
    dir: string,
    slots: SearchWorker[],
    shared: SharedIndexFiles,
    verify: boolean,
  ) {
    this.dir = dir;
    this.slots = slots;
    this.shared = shared;
    this.verify = verify;
  }

  /** Starts the workers and waits until each has the index open. */
  static async open(dir: string, options: ParallelSearcherOptions = {}): Promise<ParallelSearcher> {
    const workers = options.workers ?? Math.min(availableParallelism(), MAX_DEFAULT_SEARCH_WORKERS);
    if (!Number.isInteger(workers) || workers < 1) {
      throw new InvalidArgumentError(
        `workers must be a positive integer, got ${String(options.workers)}; omit it for one per core (at most ${MAX_DEFAULT_SEARCH_WORKERS})`,
      );
    }
    if (typeof dir !== "string" || dir.length === 0) {
      throw new InvalidArgumentError(`dir must be an index directory path, got ${String(dir)}`);
    }
    const verify = options.verifyChecksums ?? true;
    const kernels = checkKernelOptions(options.kernels);
    // Read (and checked) once here, in shared memory: a clear error here rather than in N
    // workers, and one copy of the index's files instead of one per worker.
    const shared = await readSharedFiles(dir, verify, null);
    const url = new URL("./parallel-worker.js", import.meta.url);
    const start: WorkerStart = { dir, verifyChecksums: verify, files: shared.files, kernels };
    let searcher: ParallelSearcher | null = null;
    const slots = Array.from(
      { length: workers },
      (_, i) =>
        new SearchWorker(url, start, shared.generation, i, (err) => {
          if (searcher && !searcher.closed) searcher.failure ??= err;
        }),
    );
    searcher = new ParallelSearcher(dir, slots, shared, verify);
    try {
      await Promise.all(slots.map((s) => s.ready));
    } catch (err) {
      await searcher.close();
      throw err;
    }
    return searcher;
  }

  /** Number of worker threads. */
  get workers(): number {
    return this.slots.length;
  }

  /**
   * Searches like `index.search` (same options, same results, same order), the queries split
   * across the workers. Rejects with the worker's error (same class and message) when a worker
   * throws, and with an IndexError when a worker thread died.
   */
  async search(queries: Matrix[], options: ParallelSearchOptions = {}): Promise<SearchResult[][]> {
    if (this.closed) {
      throw new IndexError(
        `this ParallelSearcher of ${this.dir} is closed; open a new one with ParallelSearcher.open()`,
      );
    }
    if (this.failure) throw this.failure;
    if (!Array.isArray(queries))
      throw new InvalidArgumentError("queries must be an array of matrices");
    let manifest = new IndexDirectory(this.dir).readManifest();
    if (manifest.generation !== this.shared.generation) {
      this.shared = await readSharedFiles(this.dir, this.verify, this.shared);
      manifest = this.shared.manifest;
    }
    queries.forEach((q, i) => {
      checkMatrix(q, `queries[${i}]`, manifest.dim || undefined);
    });
    // Chunks handed out as workers come free, so that a slower share (longer queries, a core
    // busy with something else) does not leave the other workers idle at the end of the call.
    // At most 8 queries a chunk (one PLAID scoring group), about 4 chunks a worker for short
    // calls; at least one chunk, so an empty call still validates the options like index.search.
    const n = queries.length;
    const size = Math.min(
      MAX_CHUNK_QUERIES,
      Math.max(1, Math.ceil(n / (this.slots.length * CHUNKS_PER_WORKER))),
    );
    const chunks: [number, number][] = [];
    for (let b = 0; b < n; b += size) chunks.push([b, Math.min(n, b + size)]);
    if (chunks.length === 0) chunks.push([0, 0]);
    const results: SearchResult[][][] = new Array(chunks.length);
    let next = 0;
    let failure: { error: unknown } | null = null;
    const serve = async (slot: SearchWorker) => {
      while (failure === null && next < chunks.length) {
        const c = next++;
        try {
          const job = this.job(queries.slice(...chunks[c]), manifest.generation, options);
          if (slot.filesGeneration !== this.shared.generation) {
            job.files = this.shared.files;
            slot.filesGeneration = this.shared.generation;
          }
          results[c] = await slot.run(job);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    // Every worker stops taking chunks after the first error and finishes the one it has (none
    // is left running into the next call); then the first error is reported.
    await Promise.all(this.slots.slice(0, chunks.length).map(serve));
    if (failure) throw (failure as { error: unknown }).error;
    return results.flat();
  }

  /** One chunk of queries packed into one transferable array. */
  private job(part: Matrix[], generation: number, options: ParallelSearchOptions): SearchJob {
    const data = new Float32Array(part.reduce((n, q) => n + q.rows * q.cols, 0));
    let offset = 0;
    for (const q of part) {
      data.set(q.data.subarray(0, q.rows * q.cols), offset);
      offset += q.rows * q.cols;
    }
    return {
      type: "search",
      call: this.nextCall++,
      generation,
      data,
      rows: part.map((q) => q.rows),
      cols: part.map((q) => q.cols),
      options,
    };
  }

  /** Terminates the workers; pending and later calls reject. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new IndexError(`this ParallelSearcher of ${this.dir} was closed during the call`);
    for (const s of this.slots) {
      s.failure ??= err;
      for (const p of s.pending.values()) p.reject(err);
      s.pending.clear();
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/** An index's files in shared memory, as of one manifest generation. */
interface SharedIndexFiles {
  generation: number;
  manifest: Manifest;
  files: Map<string, Uint8Array>;
}

/**
 * Reads every file of the current manifest into SharedArrayBuffers (files already held in
 * `previous` are kept: index files are immutable); again if a writer commits while we read.
 */
function readSharedFiles(
  dir: string,
  verify: boolean,
  previous: SharedIndexFiles | null,
): Promise<SharedIndexFiles> {
  const store = new IndexDirectory(dir);
  return readCommitted(dir, () => {
    const manifest = store.readManifest();
    const files = new Map<string, Uint8Array>();
    for (const ref of IndexDirectory.filesOf(manifest)) {
      files.set(ref.file, previous?.files.get(ref.file) ?? store.readBytes(ref, verify, true));
    }
    return { generation: manifest.generation, manifest, files };
  });
}
