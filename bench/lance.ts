/**
 * Lance index benchmark (issue 17), beside PLAID and Exact in one run on the same embeddings:
 * build time, bytes per token, recall@10 against exact MaxSim, queries/s in 1 process and in
 * 2 processes (each opens the table read-only and searches half of the queries, as separate
 * machines sharing one store would).
 *
 *   node build/bench/lance.js [--set scifact|synthetic] [--queries N] [--ivf]
 *                             [--out bench/results/lance.json]
 *
 * Sets: "scifact": SciFact's document lengths (5,183 documents, ~0.9M tokens) with the index
 * benchmark's synthetic clustered embeddings, dim 128; "synthetic": ~2M tokens, same
 * generator. --ivf also builds LanceDB's IVF-PQ index and times its candidates + exact rescoring.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Exact } from "../src/indexes/exact.js";
import { Lance } from "../src/indexes/lance.js";
import { PLAID } from "../src/indexes/plaid/index.js";
import type { SearchResult } from "../src/indexes/types.js";
import { writeFileAtomic } from "../src/util/atomic.js";
import type { Matrix } from "../src/util/matrix.js";
import {
  benchCorpus,
  lengthsForTokens,
  SyntheticCorpus,
  scifactSizeSet,
} from "./lib/index-data.js";
import { recall } from "./lib/index-eval.js";

const argv = process.argv.slice(2);
const arg = (name: string, dflt?: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};

function duBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? duBytes(p) : statSync(p).size;
  }
  return total;
}

function saveQueries(path: string, queries: Matrix[]): void {
  writeFileSync(
    path,
    JSON.stringify(queries.map((q) => ({ rows: q.rows, cols: q.cols, data: Array.from(q.data) }))),
  );
}

async function child(uri: string, queriesPath: string, from: number, to: number): Promise<void> {
  const { readFileSync } = await import("node:fs");
  const raw = JSON.parse(readFileSync(queriesPath, "utf8")) as {
    rows: number;
    cols: number;
    data: number[];
  }[];
  const queries = raw
    .slice(from, to)
    .map((q) => ({ rows: q.rows, cols: q.cols, data: Float32Array.from(q.data) }));
  const index = await Lance.open(uri, { readOnly: true });
  const results = await index.search(queries, { k: 10 });
  await index.close();
  process.stdout.write(JSON.stringify(results));
}

/** Searches in `n` processes, each on a contiguous share of the queries; wall seconds. */
async function processes(
  uri: string,
  queriesPath: string,
  count: number,
  n: number,
): Promise<{ seconds: number; results: SearchResult[][] }> {
  const t0 = performance.now();
  const me = fileURLToPath(import.meta.url);
  const shares = Array.from({ length: n }, (_, i) => [
    Math.floor((i * count) / n),
    Math.floor(((i + 1) * count) / n),
  ]);
  const outs = await Promise.all(
    shares.map(
      ([a, b]) =>
        new Promise<SearchResult[][]>((resolveOut, reject) => {
          const c = spawn(
            process.execPath,
            [me, "--child", uri, queriesPath, String(a), String(b)],
            { stdio: ["ignore", "pipe", "inherit"] },
          );
          let out = "";
          c.stdout.on("data", (d) => {
            out += d;
          });
          c.on("exit", (code) =>
            code === 0 ? resolveOut(JSON.parse(out)) : reject(new Error(`child exited ${code}`)),
          );
        }),
    ),
  );
  return { seconds: (performance.now() - t0) / 1000, results: outs.flat() };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - t0) / 1000, value };
}

async function main(): Promise<void> {
  if (argv[0] === "--child") return child(argv[1], argv[2], Number(argv[3]), Number(argv[4]));
  const setName = arg("set", "scifact")!;
  const nQueries = Number(arg("queries", "100"));
  const out = resolve(arg("out", `bench/results/lance-${setName}.json`)!);
  let corpus: SyntheticCorpus;
  let queries: Matrix[];
  if (setName === "scifact") {
    ({ corpus, queries } = scifactSizeSet(resolve("../shared/data/scifact"), nQueries));
  } else if (setName === "synthetic") {
    corpus = new SyntheticCorpus({ lengths: lengthsForTokens(2_000_000, 5), dim: 128, seed: 5 });
    queries = Array.from({ length: nQueries }, (_, i) =>
      corpus.query((i * 7919) % corpus.docs, 1000 + i),
    );
  } else throw new Error(`--set scifact|synthetic, got ${setName}`);
  const bc = benchCorpus(corpus);
  const work = mkdtempSync(join(tmpdir(), "tslate-bench-lance-"));
  const qPath = join(work, "queries.json");
  saveQueries(qPath, queries);
  const load0 = loadavg()[0];
  const rows: Record<string, unknown>[] = [];
  console.error(`${setName}: ${bc.docs} documents, ${bc.tokens} tokens, ${queries.length} queries`);
  try {
    // Exact: the ground truth and the baseline.
    const exactDir = join(work, "exact");
    const exactBuild = await timed(async () => {
      const ix = await Exact.create(exactDir, { dim: bc.dim });
      let ids: string[] = [];
      let embs: Matrix[] = [];
      for (let d = 0; d < bc.docs; d++) {
        ids.push(bc.id(d));
        embs.push(bc.document(d));
        if (ids.length === 500 || d === bc.docs - 1) {
          await ix.add(ids, embs);
          ids = [];
          embs = [];
        }
      }
      return ix;
    });
    const exact = exactBuild.value;
    const exactSearch = await timed(() => exact.search(queries, { k: 10 }));
    const truth = exactSearch.value.map((h) => h.map((x) => x.id));
    await exact.close();
    const row = (
      name: string,
      build: number | null,
      dir: string | null,
      s: number,
      r: SearchResult[][],
      extra = {},
    ) => {
      const x = {
        index: name,
        buildSeconds: build === null ? null : Number(build.toFixed(1)),
        bytesPerToken: dir ? Number((duBytes(dir) / bc.tokens).toFixed(1)) : null,
        recallAt10: Number(
          recall(
            r.map((h) => h.map((y) => y.id)),
            truth,
            10,
          ).toFixed(4),
        ),
        queriesPerSecond: Number((queries.length / s).toFixed(2)),
        qpsVsExact: Number((exactSearch.seconds / s).toFixed(2)),
        ...extra,
      };
      rows.push(x);
      console.error(JSON.stringify(x));
    };
    row("exact", exactBuild.seconds, exactDir, exactSearch.seconds, exactSearch.value);

    const plaidDir = join(work, "plaid");
    const plaidBuild = await timed(() => PLAID.build(plaidDir, bc.stream(), { dim: bc.dim }));
    const plaidSearch = await timed(() => plaidBuild.value.search(queries, { k: 10 }));
    row("plaid (defaults)", plaidBuild.seconds, plaidDir, plaidSearch.seconds, plaidSearch.value);
    await plaidBuild.value.close();

    const lanceDir = join(work, "lance");
    const lanceBuild = await timed(async () => {
      const ix = await Lance.create(lanceDir, { dim: bc.dim });
      let ids: string[] = [];
      let embs: Matrix[] = [];
      let tokens = 0;
      for (let d = 0; d < bc.docs; d++) {
        const m = bc.document(d);
        ids.push(bc.id(d));
        embs.push(m);
        tokens += m.rows;
        if (tokens >= 1 << 18 || d === bc.docs - 1) {
          await ix.add(ids, embs);
          ids = [];
          embs = [];
          tokens = 0;
        }
      }
      return ix;
    });
    const lance = lanceBuild.value;
    const scan1 = await timed(() => lance.search(queries, { k: 10 }));
    row("lance (exact scan), 1 process", lanceBuild.seconds, lanceDir, scan1.seconds, scan1.value);
    const scan2 = await processes(lanceDir, qPath, queries.length, 2);
    row("lance (exact scan), 2 processes", null, null, scan2.seconds, scan2.results);
    if (argv.includes("--ivf")) {
      const ivf = await timed(() => lance.createVectorIndex());
      const few = queries.slice(0, Math.min(20, queries.length));
      const s = await timed(() => lance.search(few, { k: 10 }));
      const x = {
        index: "lance (IVF-PQ candidates + exact rescoring), 1 process",
        buildSeconds: Number(ivf.seconds.toFixed(1)),
        bytesPerToken: Number((duBytes(lanceDir) / bc.tokens).toFixed(1)),
        recallAt10: Number(
          recall(
            s.value.map((h) => h.map((y) => y.id)),
            truth.slice(0, few.length),
            10,
          ).toFixed(4),
        ),
        queriesPerSecond: Number((few.length / s.seconds).toFixed(2)),
        qpsVsExact: Number(
          (exactSearch.seconds / queries.length / (s.seconds / few.length)).toFixed(2),
        ),
        queries: few.length,
      };
      rows.push(x);
      console.error(JSON.stringify(x));
    }
    await lance.close();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const result = {
    benchmark: "lance",
    set: setName,
    documents: bc.docs,
    tokens: bc.tokens,
    dim: bc.dim,
    queries: queries.length,
    cpus: cpus().length,
    loadAverageStart: Number(load0.toFixed(2)),
    loadAverageEnd: Number(loadavg()[0].toFixed(2)),
    date: new Date().toISOString(),
    rows,
  };
  writeFileAtomic(out, `${JSON.stringify(result, null, 2)}\n`);
  console.error(`wrote ${out}`);
}

await main();
