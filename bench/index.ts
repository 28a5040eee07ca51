/**
 * Index benchmark (issue 4): build time, bytes per token, build memory, queries/s at 1 and 2
 * threads (2 threads: the library's ParallelSearcher), recall@10 against exact MaxSim, and
 * PLAID queries/s as a ratio to Exact.
 *
 *   node build/bench/index.js [--set scifact,scifact-model,synthetic|all] [--queries N]
 *                            [--model DIR] [--rows defaults,oracle,fast,threshold|all]
 *                            [--work DIR] [--out bench/results/index.json] [--append]
 *                            [--build-memory-tokens N] [--slow-queries N] [--nbits 4]
 *   node build/bench/index.js --index lance [--set scifact|synthetic] [--queries N] [--ivf]
 *     (the Lance table beside Exact and PLAID in one run: bench/lance.ts)
 *
 * Sets: (1) "scifact": SciFact-sized (5,183 documents, lengths from the real corpus: words ×
 * 1.3 capped at 180) with synthetic clustered embeddings (bench/lib/index-data.ts);
 * (1b) "scifact-model": the embeddings that a ColBERT model (--model) gives the real SciFact
 * corpus (isQuery false) and the SciFact test queries (isQuery true, all 300), with nDCG@10 on
 * the test qrels for every row and for Exact; (2) "synthetic": about 2M tokens.
 *
 * Rows: "defaults" (nIvfProbe 8, nFullScores 8192), "oracle" (every centroid probed and every
 * document scored exactly from its decompressed vectors: the 4-bit codec's cap on recall),
 * "fast" (smaller nIvfProbe / nFullScores), "threshold" (centroidScoreThreshold 0.4).
 *
 * --work DIR keeps each set's PLAID build, ground truth, Exact timings (and the model's
 * embeddings) in DIR/<set>/, so that a later run with other --rows reuses them: long
 * measurements can be split into runs that each hold the benchmark lock for a few minutes.
 * --append keeps the other sets of --out, and merges rows into a set built by the same build
 * (a set from another build moves to previousRuns).
 * Ground truth: exact MaxSim over the fp32 embeddings, computed by streaming the corpus through
 * a matrix product (the Exact index is also timed on a few queries for the ratio).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Exact } from "../src/indexes/exact.js";
import { gemmABt } from "../src/indexes/kernels.js";
import { ParallelSearcher } from "../src/indexes/parallel.js";
import { PLAID } from "../src/indexes/plaid/index.js";
import { writeFileAtomic } from "../src/util/atomic.js";
import type { Matrix } from "../src/util/matrix.js";
import {
  benchCorpus,
  lengthsForTokens,
  SyntheticCorpus,
  scifactSizeSet,
} from "./lib/index-data.js";
import {
  type BenchCorpus,
  encodeBeirWithModel,
  trainingEvaluation,
} from "./lib/index-embeddings.js";
import { type Judged, ndcgAt10, type Ranked, recall, toRanked } from "./lib/index-eval.js";

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const SCIFACT = new URL("../../../shared/data/scifact/", import.meta.url);
const ROW_GROUPS = ["defaults", "oracle", "fast", "threshold"] as const;
type RowGroup = (typeof ROW_GROUPS)[number];

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
}

/** Exact top-k by MaxSim for all queries: corpus streamed in blocks through Q·Dᵀ. */
async function exactTopK(corpus: BenchCorpus, queries: Matrix[], k: number): Promise<Ranked> {
  const dim = corpus.dim;
  const nq = queries.length;
  const qRows = queries.reduce((s, q) => s + q.rows, 0);
  const Q = new Float32Array(qRows * dim);
  const qOff: number[] = [];
  let o = 0;
  for (const q of queries) {
    qOff.push(o / dim);
    Q.set(q.data.subarray(0, q.rows * dim), o);
    o += q.rows * dim;
  }
  const best: { d: number; score: number }[][] = queries.map(() => []);
  const BLOCK = Math.max(256, Math.floor(24_000_000 / qRows));
  let d = 0;
  while (d < corpus.docs) {
    const docs: Matrix[] = [];
    let tok = 0;
    const first = d;
    while (d < corpus.docs && tok < BLOCK) {
      const m = corpus.document(d++);
      docs.push(m);
      tok += m.rows;
    }
    const D = new Float32Array(tok * dim);
    let p = 0;
    for (const m of docs) {
      D.set(m.data, p);
      p += m.data.length;
    }
    const S = await gemmABt(Q, qRows, D, tok, dim, { threads: 2 }); // [qRows, tok]
    for (let qi = 0; qi < nq; qi++) {
      const q = queries[qi];
      let start = 0;
      docs.forEach((m, j) => {
        let total = 0;
        for (let i = 0; i < q.rows; i++) {
          const row = (qOff[qi] + i) * tok;
          let mx = Number.NEGATIVE_INFINITY;
          for (let t = start; t < start + m.rows; t++) if (S[row + t] > mx) mx = S[row + t];
          total += mx;
        }
        start += m.rows;
        const list = best[qi];
        if (list.length < k || total > list[list.length - 1].score) {
          list.push({ d: first + j, score: total });
          list.sort((a, b) => b.score - a.score || a.d - b.d);
          if (list.length > k) list.pop();
        }
      });
    }
  }
  return {
    ids: best.map((l) => l.map((x) => corpus.id(x.d))),
    scores: best.map((l) => l.map((x) => x.score)),
  };
}

/** Queries/s of a ParallelSearcher (library API) on these queries, after one warm-up call. */
async function parallelQps(
  searcher: ParallelSearcher,
  queries: Matrix[],
  params: Record<string, number>,
): Promise<{ qps: number; ids: string[][] }> {
  await searcher.search(queries.slice(0, searcher.workers), { k: 10, ...params });
  const t0 = performance.now();
  const res = await searcher.search(queries, { k: 10, ...params });
  const secs = (performance.now() - t0) / 1000;
  return { qps: queries.length / secs, ids: res.map((r) => r.map((h) => h.id)) };
}

/** What one build of a set measured once: kept in <work>/<set>/state.json for later runs. */
interface BuildState {
  /** The corpus, queries and build options this state belongs to. */
  key: string;
  builtAt: string;
  centroids: number;
  plaidBuild: Record<string, unknown>;
  exactBuild: Record<string, unknown>;
  exact: Record<string, unknown> & { queriesPerSecond1Thread: number };
  truth: Ranked;
  /** nDCG@10 of exact MaxSim on the qrels (judged sets only). */
  exactNdcgAt10?: number;
  loadAverageAtBuild: number[];
}

interface SetOptions {
  buildMemoryTokens: number;
  /** Bits per residual dimension of the PLAID build (the library's nbits option). */
  nbits: number;
  /** Queries the Exact index is timed on. */
  slowQueries: number;
  /** Queries of the slow rows (defaults, oracle, threshold). */
  slowRows: number;
  rows: ReadonlySet<RowGroup>;
  /** Keep the build in <work>/<set>/ (null: a temporary directory, removed). */
  work: string | null;
  key: string;
  judged?: Judged;
}

async function buildSet(
  corpus: BenchCorpus,
  queries: Matrix[],
  root: string,
  options: SetOptions,
): Promise<BuildState> {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const plaidDir = join(root, "plaid");
  const exactDir = join(root, "exact");
  const loadAtBuild = loadavg().map((x) => +x.toFixed(2));

  // Build (streaming; memory sampled every 50 ms).
  // Build and ground truth with 2 onnxruntime threads; every search below with 1.
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  let t0 = performance.now();
  const plaid = await PLAID.build(plaidDir, corpus.stream(), {
    buildMemoryTokens: options.buildMemoryTokens,
    nbits: options.nbits,
    kernels: { threads: 2 },
  });
  const buildSeconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const K = plaid.trainedCodec!.centroids.length / corpus.dim;
  const filesBytes = dirBytes(join(plaidDir, "files"));
  const plaidBuild = {
    seconds: +buildSeconds.toFixed(1),
    centroids: K,
    nbits: options.nbits,
    buildMemoryTokens: options.buildMemoryTokens,
    rssBeforeMB: Math.round(rss0 / 2 ** 20),
    peakRssMB: Math.round(peak / 2 ** 20),
    indexFilesBytes: filesBytes,
    bytesPerToken: +(filesBytes / corpus.tokens).toFixed(2),
    metadataSqliteBytes: statSync(join(plaidDir, "metadata.sqlite")).size,
  };
  console.log("plaid build", plaidBuild);
  await plaid.close();

  t0 = performance.now();
  const exact = await Exact.create(exactDir);
  let ids: string[] = [];
  let embs: Matrix[] = [];
  for await (const d of corpus.stream()) {
    ids.push(d.id);
    embs.push(d.embedding);
    if (ids.length >= 1000) {
      await exact.add(ids, embs);
      ids = [];
      embs = [];
    }
  }
  if (ids.length) await exact.add(ids, embs);
  const exactBuild = {
    seconds: +((performance.now() - t0) / 1000).toFixed(1),
    bytesPerToken: +(dirBytes(join(exactDir, "files")) / corpus.tokens).toFixed(1),
  };

  t0 = performance.now();
  const truth = await exactTopK(corpus, queries, 10);
  console.log(`ground truth in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // Exact index: q/s on a few queries, and agreement with the streamed ground truth.
  const few = queries.slice(0, options.slowQueries);
  t0 = performance.now();
  const ex = await exact.search(few, { k: 10 });
  const exactQps = few.length / ((performance.now() - t0) / 1000);
  const exactRow = {
    queriesPerSecond1Thread: +exactQps.toFixed(2),
    measuredOn: few.length,
    recallVsGroundTruth: recall(
      ex.map((r) => r.map((h) => h.id)),
      truth.ids,
      10,
    ),
    loadAverage1Min: +loadavg()[0].toFixed(2),
  };
  console.log("exact", exactRow);
  await exact.close();
  rmSync(exactDir, { recursive: true, force: true });
  const state: BuildState = {
    key: options.key,
    builtAt: new Date().toISOString(),
    centroids: K,
    plaidBuild,
    exactBuild,
    exact: exactRow,
    truth,
    loadAverageAtBuild: loadAtBuild,
  };
  if (options.judged) state.exactNdcgAt10 = +ndcgAt10(options.judged, truth).toFixed(4);
  writeFileAtomic(join(root, "state.json"), JSON.stringify(state));
  return state;
}

function settingsFor(
  state: BuildState,
  docs: number,
  nQueries: number,
  slow: number,
): { group: RowGroup; label: string; params: Record<string, number>; queries: number }[] {
  return [
    {
      group: "defaults",
      label: "defaults (nIvfProbe 8, nFullScores 8192)",
      params: {},
      queries: slow,
    },
    {
      group: "oracle",
      label: `oracle: every centroid probed (nIvfProbe ${state.centroids}), every document scored exactly from its decompressed vectors (nFullScores ${4 * docs})`,
      params: { nIvfProbe: state.centroids, nFullScores: 4 * docs },
      queries: slow,
    },
    {
      group: "fast",
      label: "nIvfProbe 8, nFullScores 1024",
      params: { nFullScores: 1024 },
      queries: nQueries,
    },
    {
      group: "fast",
      label: "nIvfProbe 4, nFullScores 256",
      params: { nIvfProbe: 4, nFullScores: 256 },
      queries: nQueries,
    },
    {
      group: "fast",
      label: "nIvfProbe 2, nFullScores 128",
      params: { nIvfProbe: 2, nFullScores: 128 },
      queries: nQueries,
    },
    {
      group: "fast",
      label: "nIvfProbe 2, nFullScores 64",
      params: { nIvfProbe: 2, nFullScores: 64 },
      queries: nQueries,
    },
    {
      group: "fast",
      label: "nIvfProbe 1, nFullScores 64",
      params: { nIvfProbe: 1, nFullScores: 64 },
      queries: nQueries,
    },
    {
      group: "threshold",
      label: "defaults + centroidScoreThreshold 0.4 (next-plaid's default)",
      params: { centroidScoreThreshold: 0.4 },
      queries: slow,
    },
    {
      group: "threshold",
      label: "nIvfProbe 4, nFullScores 256, centroidScoreThreshold 0.4",
      params: { nIvfProbe: 4, nFullScores: 256, centroidScoreThreshold: 0.4 },
      queries: nQueries,
    },
  ];
}

async function runSet(name: string, corpus: BenchCorpus, queries: Matrix[], options: SetOptions) {
  const root = options.work
    ? join(options.work, name)
    : join(tmpdir(), `tslate-bench-${name}-${process.pid}`);
  const plaidDir = join(root, "plaid");
  console.log(
    `\n== ${name}: ${corpus.docs} documents, ${corpus.tokens} tokens, dim ${corpus.dim}, ${queries.length} queries`,
  );
  let state: BuildState | null = null;
  const statePath = join(root, "state.json");
  if (options.work && existsSync(statePath)) {
    const saved = JSON.parse(readFileSync(statePath, "utf8")) as BuildState;
    if (saved.key === options.key) {
      state = saved;
      console.log(`reusing the build of ${saved.builtAt} in ${root}`);
    }
  }
  state ??= await buildSet(corpus, queries, root, options);
  const truth = state.truth;
  const exactQps = state.exact.queriesPerSecond1Thread;

  const slow = Math.min(queries.length, options.slowRows);
  const settings = settingsFor(state, corpus.docs, queries.length, slow).filter((s) =>
    options.rows.has(s.group),
  );
  const runs: Record<string, unknown>[] = [];
  const reopened = await PLAID.open(plaidDir, { verifyChecksums: false });
  // The library's multi-core search: worker threads, each with the index open read-only.
  const oneWorker = await ParallelSearcher.open(plaidDir, { workers: 1, verifyChecksums: false });
  const twoWorkers = await ParallelSearcher.open(plaidDir, { workers: 2, verifyChecksums: false });
  for (const s of settings) {
    const qs = queries.slice(0, s.queries);
    await reopened.search(qs.slice(0, 2), { k: 10, ...s.params });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await reopened.search(qs, { k: 10, ...s.params });
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const qps1 = qs.length / secs;
    const ranked = toRanked(r);
    const got = ranked.ids;
    const one = await parallelQps(oneWorker, qs, s.params);
    const two = await parallelQps(twoWorkers, qs, s.params);
    const row: Record<string, unknown> = {
      setting: s.label,
      group: s.group,
      queries: qs.length,
      recallAt10: +recall(got, truth.ids, 10).toFixed(4),
      queriesPerSecond1Thread: +qps1.toFixed(1),
      cpuSecondsPerQuery1Thread: +((cpu.user + cpu.system) / 1e6 / qs.length).toFixed(4),
      queriesPerSecond1Worker: +one.qps.toFixed(1),
      queriesPerSecond2Threads: +two.qps.toFixed(1),
      ratioToExact1Thread: +(qps1 / exactQps).toFixed(1),
      loadAverage1Min: +loadavg()[0].toFixed(2),
      measuredAt: new Date().toISOString(),
      workerResultsIdentical:
        JSON.stringify(one.ids) === JSON.stringify(got) &&
        JSON.stringify(two.ids) === JSON.stringify(got),
    };
    if (options.judged) {
      row.ndcgAt10 = +ndcgAt10(options.judged, ranked).toFixed(4);
      row.exactNdcgAt10SameQueries = +ndcgAt10(options.judged, {
        ids: truth.ids.slice(0, qs.length),
        scores: truth.scores.slice(0, qs.length),
      }).toFixed(4);
    }
    console.log(row);
    runs.push(row);
  }
  await reopened.close();
  await oneWorker.close();
  await twoWorkers.close();
  if (!options.work) rmSync(root, { recursive: true, force: true });
  const { truth: _truth, key: _key, exact, ...kept } = state;
  return { ...kept, exact, plaid: runs };
}

async function main(): Promise<void> {
  // --set: comma list of scifact (synthetic embeddings, SciFact lengths), scifact-model (the
  // --model's embeddings of the SciFact texts), synthetic (2M tokens); "all" = scifact +
  // synthetic (+ scifact-model with --model).
  const wanted = new Set(arg("set", "all")!.split(","));
  if (wanted.has("all")) {
    wanted.add("scifact");
    wanted.add("synthetic");
    if (arg("model")) wanted.add("scifact-model");
  }
  const rowArg = arg("rows", "all")!.split(",");
  for (const r of rowArg) {
    if (r !== "all" && !ROW_GROUPS.includes(r as RowGroup))
      throw new Error(`--rows takes a comma list of ${ROW_GROUPS.join(", ")} or all; got "${r}"`);
  }
  const rows = new Set<RowGroup>(rowArg.includes("all") ? ROW_GROUPS : (rowArg as RowGroup[]));
  const nQueries = Number(arg("queries", "200"));
  const buildMemoryTokens = Number(arg("build-memory-tokens", String(2 ** 19)));
  // --nbits: PLAID's residual bits (default 4); other values name the sets "<set>-nbits<N>".
  const nbits = Number(arg("nbits", "4"));
  const suffix = nbits === 4 ? "" : `-nbits${nbits}`;
  const slowQueries = Number(arg("slow-queries", "10"));
  const work = arg("work") ? resolve(arg("work")!) : null;
  const outPath = arg("out", new URL("../../bench/results/index.json", import.meta.url).pathname)!;
  const previous =
    process.argv.includes("--append") && existsSync(outPath)
      ? (JSON.parse(readFileSync(outPath, "utf8")) as {
          sets?: Record<string, unknown>[];
          previousRuns?: unknown[];
        })
      : null;
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model },
    note: "Shared 2-core machine: other jobs ran at the same time (see each set's and each row's load averages), so timings are noisy upper bounds on latency. 1-thread numbers: index.search in the main thread. 1-worker / 2-thread numbers: the library's ParallelSearcher with 1 / 2 worker threads (each with its own read-only copy of the index, queries split into contiguous halves, one transferred Float32Array per worker, the manifest generation checked per call), one call with all the queries after a warm-up call. The oracle row probes every centroid and scores every document exactly from its decompressed (4-bit residual) vectors: its recall@10 against exact MaxSim on the fp32 vectors is the codec's cap, and defaults' distance below it is the search's loss.",
    sets: [] as Record<string, unknown>[],
  };
  const sets = results.sets as Record<string, unknown>[];
  const previousRuns = [...(previous?.previousRuns ?? [])];
  const run = async (
    name: string,
    about: Record<string, unknown>,
    corpus: BenchCorpus,
    queries: Matrix[],
    opts: { slowQueries: number; slowRows: number; key: string; judged?: Judged },
  ) => {
    const loadAtStart = loadavg().map((x) => +x.toFixed(2));
    const date = new Date().toISOString();
    const setName = `${name}${suffix}`;
    // (4-bit keys predate --nbits: kept so that their --work builds stay valid.)
    const key = JSON.stringify(
      nbits === 4
        ? { set: name, key: opts.key, buildMemoryTokens }
        : { set: setName, key: opts.key, buildMemoryTokens, nbits },
    );
    const out = await runSet(setName, corpus, queries, {
      buildMemoryTokens,
      nbits,
      rows,
      work,
      ...opts,
      key,
    });
    const thisRun = {
      date,
      rows: [...rows],
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: loadavg().map((x) => +x.toFixed(2)),
    };
    const entry: Record<string, unknown> = {
      set: setName,
      ...about,
      documents: corpus.docs,
      tokens: corpus.tokens,
      dim: corpus.dim,
      queries: queries.length,
      ...out,
      runs: [thisRun],
    };
    const old = previous?.sets?.find((s) => s.set === setName);
    if (old && old.builtAt === out.builtAt) {
      // Same build, other rows: keep the old rows not measured now, in settings order.
      const fresh = new Map(out.plaid.map((r) => [r.setting as string, r]));
      const merged = [...(old.plaid as Record<string, unknown>[])].map(
        (r) => fresh.get(r.setting as string) ?? r,
      );
      for (const r of out.plaid) if (!merged.includes(r)) merged.push(r);
      const order = (r: Record<string, unknown>) => ROW_GROUPS.indexOf(r.group as RowGroup);
      entry.plaid = merged.sort((a, b) => order(a) - order(b));
      entry.runs = [...((old.runs as unknown[]) ?? []), thisRun];
    } else if (old) {
      previousRuns.push({ description: `earlier build of set ${setName}, replaced`, ...old });
    }
    sets.push(entry);
  };
  if (wanted.has("scifact")) {
    const { corpus, queries } = scifactSizeSet(SCIFACT.pathname, nQueries);
    const about = {
      embeddings: "synthetic clustered (bench/lib/index-data.ts), SciFact document lengths",
    };
    await run("scifact-size", about, benchCorpus(corpus), queries, {
      slowQueries,
      slowRows: slowQueries * 10,
      key: `synthetic seed 11, SciFact lengths, dim 128, ${nQueries} queries`,
    });
  }
  if (wanted.has("scifact-model")) {
    const modelDir = arg("model");
    if (!modelDir) throw new Error("--set scifact-model needs --model DIR (a saved ColBERT model)");
    const cache = work
      ? join(work, "scifact-model-embeddings")
      : join(tmpdir(), `tslate-bench-embeddings-${process.pid}`);
    const { corpus, queries, qrels } = await encodeBeirWithModel(
      modelDir,
      SCIFACT.pathname,
      "test",
      cache,
    );
    const judged = { queryIds: corpus.meta.queryIds, qrels };
    const about = {
      embeddings: `the model's token embeddings of the real SciFact corpus (isQuery false) and of all ${queries.length} SciFact test queries (isQuery true)`,
      model: {
        dir: corpus.meta.model,
        dim: corpus.dim,
        note:
          corpus.dim === 128
            ? `128-dimensional token vectors (tiny BERT fixture, hidden 64, Dense → 128), as ColBERT's: PLAID stores ${(128 * nbits) / 8} bytes of ${nbits}-bit residuals per token`
            : `${corpus.dim}-dimensional token vectors (tiny BERT fixture, hidden 64, Dense → ${corpus.dim}), not ColBERT's 128: PLAID stores ${(corpus.dim * nbits) / 8} bytes of ${nbits}-bit residuals per token instead of ${(128 * nbits) / 8}`,
        trainingEvaluation: trainingEvaluation(modelDir),
        encodeDocumentsSeconds: corpus.meta.encodeDocumentsSeconds,
        encodeQueriesSeconds: corpus.meta.encodeQueriesSeconds,
      },
    };
    try {
      await run("scifact-model", about, corpus, queries, {
        slowQueries,
        slowRows: queries.length,
        key: `model ${corpus.meta.model} weights mtime ${corpus.meta.modelWeightsMtimeMs}, SciFact test queries`,
        judged,
      });
    } finally {
      corpus.close();
      if (!work) rmSync(cache, { recursive: true, force: true });
    }
  }
  if (wanted.has("synthetic")) {
    const corpus = new SyntheticCorpus({
      lengths: lengthsForTokens(2_000_000, 5),
      dim: 128,
      seed: 23,
    });
    const n = Math.min(nQueries, 100);
    const queries = Array.from({ length: n }, (_, i) =>
      corpus.query((i * 7919) % corpus.docs, 5000 + i),
    );
    const about = { embeddings: "synthetic clustered (bench/lib/index-data.ts)" };
    const slow = Math.max(2, Math.floor(slowQueries / 2));
    await run("synthetic-2M", about, benchCorpus(corpus), queries, {
      slowQueries: slow,
      slowRows: slow * 10,
      key: `synthetic seed 23, 2M tokens, dim 128, ${n} queries`,
    });
  }
  for (const old of previous?.sets ?? []) {
    if (!sets.some((s) => s.set === old.set)) sets.push(old);
  }
  // Hand-kept history of earlier runs survives --append.
  if (previousRuns.length > 0) results.previousRuns = previousRuns;
  mkdirSync(join(outPath, ".."), { recursive: true });
  writeFileAtomic(outPath, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${outPath}`);
}

// --index lance: the Lance benchmark (bench/lance.ts reads the same --set/--queries/--out).
if (arg("index") === "lance") await import("./lance.js");
else await main();
