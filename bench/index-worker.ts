// Worker of bench/index.ts: opens an index, waits for "go", searches its share of the
// queries and reports results. One worker per thread for the multi-thread queries/s.
import { parentPort, workerData } from "node:worker_threads";
import { openIndex } from "../src/indexes/index.js";
import type { Matrix } from "../src/util/matrix.js";

interface Job {
  dir: string;
  queries: { data: Float32Array; rows: number; cols: number }[];
  params: Record<string, number>;
  k: number;
}

if (parentPort && workerData) {
  const job = workerData as Job;
  const index = await openIndex(job.dir, { verifyChecksums: false });
  // Warm up (JIT, buffers) on one query before the clock starts.
  await index.search(job.queries.slice(0, 1) as Matrix[], { k: job.k, ...job.params });
  parentPort.postMessage({ ready: true });
  parentPort.once("message", async () => {
    const res = await index.search(job.queries as Matrix[], { k: job.k, ...job.params });
    parentPort!.postMessage({ done: true, ids: res.map((r) => r.map((h) => h.id)) });
    await index.close();
  });
}
