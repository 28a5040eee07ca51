/**
 * Worker thread of ParallelSearcher (parallel.ts): holds the index open read-only and searches
 * the share of queries it is sent, one job at a time. Jobs carry the manifest generation the
 * caller saw; a worker holding an older one reopens the index first. Errors are sent back as
 * data (name, code, message, path) so the caller can rethrow the same error class.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { Matrix } from "../util/matrix.js";
import type { KernelOptions } from "./kernels.js";
import { openIndex } from "./registry.js";
import { readCommitted } from "./store.js";
import type { SearchOptions } from "./types.js";

export interface WorkerStart {
  dir: string;
  verifyChecksums: boolean;
  /** The index's files in shared memory, read and checked once by the searcher. */
  files: Map<string, Uint8Array>;
  kernels: KernelOptions;
}

/** One share of a search call: the queries packed into one transferable array. */
export interface SearchJob {
  type: "search";
  call: number;
  generation: number;
  /** The shared files of that generation when they changed since the last job. */
  files?: Map<string, Uint8Array>;
  data: Float32Array;
  rows: number[];
  cols: number[];
  options: SearchOptions;
}

export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  path?: string;
  stack?: string;
}

export type WorkerReply =
  | { type: "ready"; generation: number }
  | { type: "result"; call: number; results: { id: string; score: number }[][] }
  | { type: "error"; call: number | null; error: SerializedError };

function serialize(err: unknown): SerializedError {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; path?: unknown };
    return {
      name: e.name,
      message: e.message,
      code: typeof e.code === "string" ? e.code : undefined,
      path: typeof e.path === "string" ? e.path : undefined,
      stack: e.stack,
    };
  }
  return { name: "Error", message: String(err) };
}

type Index = Awaited<ReturnType<typeof openIndex>>;

/** Opens the newest committed state (again if a writer commits while we read). */
function openLatest(start: WorkerStart, files: Map<string, Uint8Array>): Promise<Index> {
  // Files of a newer generation than the shared ones are read from disk.
  return readCommitted(start.dir, () =>
    openIndex(start.dir, {
      verifyChecksums: start.verifyChecksums,
      readOnly: true,
      sharedFiles: files,
      kernels: start.kernels,
    }),
  );
}

if (parentPort && workerData) {
  const port = parentPort;
  const start = workerData as WorkerStart;
  let index: Index | null = null;
  let files = start.files;
  const run = async (job: SearchJob): Promise<WorkerReply> => {
    if (job.files) files = job.files;
    if (!index || index.generation < job.generation) {
      const old = index;
      index = null;
      await old?.close();
      index = await openLatest(start, files);
    }
    const queries: Matrix[] = [];
    let offset = 0;
    for (let i = 0; i < job.rows.length; i++) {
      const n = job.rows[i] * job.cols[i];
      queries.push({
        data: job.data.subarray(offset, offset + n),
        rows: job.rows[i],
        cols: job.cols[i],
      });
      offset += n;
    }
    const results = await index.search(queries, job.options);
    return { type: "result", call: job.call, results };
  };
  // The open and the jobs run one after another (search awaits inside; interleaving jobs would
  // only add latency).
  let queue: Promise<unknown> = (async () => {
    try {
      index = await openLatest(start, files);
      port.postMessage({ type: "ready", generation: index.generation } satisfies WorkerReply);
    } catch (err) {
      port.postMessage({ type: "error", call: null, error: serialize(err) } satisfies WorkerReply);
    }
  })();
  port.on("message", (job: SearchJob) => {
    queue = queue.then(async () => {
      let reply: WorkerReply;
      try {
        reply = await run(job);
      } catch (err) {
        reply = { type: "error", call: job.call, error: serialize(err) };
      }
      port.postMessage(reply);
    });
  });
}
