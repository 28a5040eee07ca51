/**
 * Load test of `tslate serve` on loopback (run under `flock /tmp/tslate-bench.lock`):
 *
 *   node build/bench/serve.js [--duration 60] [--connections 32] [--search-workers 2] [--kill-seconds 10] [--docs N: smoke run on N documents] [--batch-window-ms 1000]
 *
 * 1. Builds a SciFact-size PLAID index (bench/lib/index-data.ts: SciFact's 5,183 document lengths,
 *    dim 128, 907k tokens) in the server's layout, once, with PLAID.build.
 * 2. Load run: starts the server as a child process, autocannon drives 32 connections for 60 s,
 *    each cycling 4 searches (80%) and 1 update (20%, one new document, 202 as next-plaid); the
 *    index has max_documents = its size, so updates evict the oldest documents and the index
 *    size stays constant. Reports errors, p50/p99 latency, requests/s and the server's RSS
 *    sampled every 5 s.
 * 3. Crash run: a copy of the index, 8 clients sending updates with ?wait=true (answered after
 *    the commit), `kill -9` of the server after --kill-seconds, restart, and a check that every
 *    update answered as done is present (by its metadata key) and that the index searches.
 *
 * Writes bench/results/serve.json.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { PLAID } from "../src/indexes/plaid/index.js";
import { TEXT_FIELD } from "../src/server/registry.js";
import { scifactSizeSet } from "./lib/index-data.js";

const args = process.argv.slice(2);
const flag = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const DURATION = flag("duration", 60);
const CONNECTIONS = flag("connections", 32);
const SEARCH_WORKERS = flag("search-workers", 2);
const KILL_SECONDS = flag("kill-seconds", 10);
// Smoke runs of this script only: the first N documents (0 = all of them).
const DOCS = flag("docs", 0);
// One commit a second at most: every commit makes the search workers reopen the index.
const BATCH_WINDOW_MS = flag("batch-window-ms", 1000);
const root = fileURLToPath(new URL("../../", import.meta.url));
const work = join(root, ".bench-serve");
const cli = join(root, "build/src/cli/main.js");
const SCIFACT = fileURLToPath(new URL("../../../shared/data/scifact/", import.meta.url));
// Fast search settings of bench/index.ts (synthetic recall@10 0.957 vs Exact).
const SEARCH_PARAMS = { top_k: 10, n_ivf_probe: 4, n_full_scores: 256 };

const b64 = (m: { data: Float32Array }) =>
  Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString("base64");

function corpusSet(queries: number) {
  const set = scifactSizeSet(SCIFACT, queries);
  if (DOCS > 0) set.corpus.spec.lengths = set.corpus.spec.lengths.slice(0, DOCS);
  return set;
}

async function buildIndex(dir: string): Promise<number> {
  const { corpus } = corpusSet(0);
  if (existsSync(join(dir, "config.json"))) return corpus.docs;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  async function* docs() {
    for (let d = 0; d < corpus.docs; d++) {
      const title = `synthetic document ${d}`;
      yield {
        id: String(d),
        embedding: corpus.document(d),
        metadata: { title, n: d, [TEXT_FIELD]: title },
      };
    }
  }
  const index = await PLAID.build(join(dir, "plaid"), docs(), {
    textFields: [TEXT_FIELD],
    nbits: 4,
  });
  await index.close();
  const config = {
    nbits: 4,
    batch_size: 50_000,
    seed: null,
    start_from_scratch: 999,
    max_documents: null,
    fts_tokenizer: "unicode61",
    next_id: corpus.docs,
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2));
  console.log(
    `built the SciFact-size index (${corpus.docs} documents, ${corpus.tokens} tokens) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return corpus.docs;
}

function startServer(indexDir: string, port: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      cli,
      "serve",
      "--index-dir",
      indexDir,
      "--port",
      String(port),
      "--search-workers",
      String(SEARCH_WORKERS),
      "--batch-window-ms",
      String(BATCH_WINDOW_MS),
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr!.on("data", (b: Buffer) => {
      err += b.toString();
      if (err.includes("listening on")) resolve(child);
    });
    child.on("exit", (code) => reject(new Error(`server exited (${code}): ${err}`)));
  });
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function post(base: string, path: string, body: unknown, method = "POST") {
  const res = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function loadRun(indexDir: string, docs: number) {
  const port = 18600 + Math.floor(Math.random() * 300);
  const base = `http://127.0.0.1:${port}`;
  const server = await startServer(indexDir, port);
  try {
    // Constant size: every update evicts the oldest document.
    await post(base, "/indices/scifact/config", { max_documents: docs }, "PUT");
    const { corpus, queries } = corpusSet(200);
    const searchBodies = queries.map((q) =>
      JSON.stringify({
        queries: [{ embeddings_b64: b64(q), shape: [q.rows, q.cols] }],
        params: SEARCH_PARAMS,
      }),
    );
    const updateBodies = Array.from({ length: 200 }, (_, i) => {
      const m = corpus.document((i * 104729) % corpus.docs);
      return JSON.stringify({
        documents: [{ embeddings_b64: b64(m), shape: [m.rows, m.cols] }],
        metadata: [{ title: `update ${i}`, kind: "load" }],
      });
    });
    // Warm-up: the searcher's workers open the index.
    await fetch(`${base}/indices/scifact/search`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: searchBodies[0],
    }).then((r) => r.text());
    let si = 0;
    let ui = 0;
    const search = {
      method: "POST" as const,
      path: "/indices/scifact/search",
      headers: { "content-type": "application/json" },
      setupRequest: (r: any) => ({ ...r, body: searchBodies[si++ % searchBodies.length] }),
    };
    const update = {
      method: "POST" as const,
      path: "/indices/scifact/update",
      headers: { "content-type": "application/json" },
      setupRequest: (r: any) => ({ ...r, body: updateBodies[ui++ % updateBodies.length] }),
    };
    const rss: { t: number; mb: number }[] = [{ t: 0, mb: rssMb(server.pid!) }];
    const t0 = Date.now();
    const timer = setInterval(
      () => rss.push({ t: Math.round((Date.now() - t0) / 1000), mb: rssMb(server.pid!) }),
      5000,
    );
    const statuses: Record<string, number> = {};
    let inst!: autocannon.Instance;
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      inst = autocannon(
        {
          url: base,
          connections: CONNECTIONS,
          duration: DURATION,
          requests: [search, search, search, search, update],
        },
        (err, res) => (err ? reject(err) : resolve(res)),
      );
      inst.on("response", (_c: unknown, status: number) => {
        statuses[status] = (statuses[status] ?? 0) + 1;
      });
    });
    clearInterval(timer);
    rss.push({ t: Math.round((Date.now() - t0) / 1000), mb: rssMb(server.pid!) });
    const info = await (await fetch(`${base}/indices/scifact`)).json();
    const health = (await (await fetch(`${base}/health`)).json()) as { updates: unknown };
    return {
      connections: CONNECTIONS,
      duration_s: DURATION,
      mix: "4 searches : 1 update per connection cycle (80% / 20%)",
      search_params: SEARCH_PARAMS,
      requests: result.requests.total,
      requests_per_s: result.requests.average,
      latency_ms: {
        p50: result.latency.p50,
        p90: result.latency.p90,
        p99: result.latency.p99,
        max: result.latency.max,
        mean: result.latency.mean,
      },
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
      statuses,
      index_after: info,
      updates_after: health.updates,
      rss_mb: rss,
      rss_growth_mb: rss[rss.length - 1].mb - rss[1].mb,
    };
  } finally {
    server.kill("SIGTERM");
    await new Promise((r) => server.once("exit", r));
  }
}

async function crashRun(builtDir: string) {
  const dir = join(work, "crash");
  rmSync(dir, { recursive: true, force: true });
  cpSync(builtDir, join(dir, "scifact"), { recursive: true });
  const port = 18900 + Math.floor(Math.random() * 50);
  const base = `http://127.0.0.1:${port}`;
  let server = await startServer(dir, port);
  const { corpus } = corpusSet(0);
  const done: string[] = [];
  let sent = 0;
  let failedAfterKill = 0;
  let stop = false;
  const clients = Array.from({ length: 8 }, async (_, c) => {
    while (!stop) {
      const key = `k${c}-${sent++}`;
      const m = corpus.document((sent * 7919) % corpus.docs);
      try {
        const r = await post(base, "/indices/scifact/update?wait=true", {
          documents: [{ embeddings_b64: b64(m), shape: [m.rows, m.cols] }],
          metadata: [{ bench_key: key }],
        });
        if (r.status === 200 && r.body.status === "complete") done.push(key);
      } catch {
        failedAfterKill++;
        return;
      }
    }
  });
  await new Promise((r) => setTimeout(r, KILL_SECONDS * 1000));
  server.kill("SIGKILL");
  await new Promise((r) => server.once("exit", r));
  stop = true;
  await Promise.all(clients);
  server = await startServer(dir, port);
  try {
    let missing = 0;
    for (const key of done) {
      const r = await post(base, "/indices/scifact/metadata/query", {
        condition: "bench_key = ?",
        parameters: [key],
      });
      if (r.body.count !== 1) missing++;
    }
    const info = (await (await fetch(`${base}/indices/scifact`)).json()) as any;
    const q = corpusSet(1).queries[0];
    const s = await post(base, "/indices/scifact/search", {
      queries: [{ embeddings_b64: b64(q), shape: [q.rows, q.cols] }],
      params: SEARCH_PARAMS,
    });
    return {
      kill_after_s: KILL_SECONDS,
      clients: 8,
      updates_sent: sent,
      updates_answered_done: done.length,
      requests_cut_by_kill: failedAfterKill,
      done_missing_after_restart: missing,
      documents_after_restart: info.num_documents,
      documents_before: corpus.docs,
      search_after_restart_status: s.status,
      search_after_restart_hits: s.body.results?.[0]?.document_ids?.length ?? 0,
    };
  } finally {
    server.kill("SIGTERM");
    await new Promise((r) => server.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  mkdirSync(work, { recursive: true });
  const built = join(work, DOCS > 0 ? `built-${DOCS}` : "built", "scifact");
  const docs = await buildIndex(built);
  const loadDir = join(work, "load");
  rmSync(loadDir, { recursive: true, force: true });
  cpSync(built, join(loadDir, "scifact"), { recursive: true });
  const load0 = loadavg();
  const load = await loadRun(loadDir, docs);
  console.log(JSON.stringify(load, null, 2));
  rmSync(loadDir, { recursive: true, force: true });
  const crash = await crashRun(built);
  console.log(JSON.stringify(crash, null, 2));
  const out = {
    date: new Date().toISOString(),
    machine: "2 shared cores (the load generator runs on them too)",
    loadavg_before: load0,
    loadavg_after: loadavg(),
    search_workers: SEARCH_WORKERS,
    batch_window_ms: BATCH_WINDOW_MS,
    index: { documents: docs, dim: 128, nbits: 4, set: "bench/lib/index-data.ts scifactSizeSet" },
    load,
    crash,
  };
  const file = DOCS > 0 ? join(work, "smoke.json") : join(root, "bench/results/serve.json");
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${file}`);
}

await main();
