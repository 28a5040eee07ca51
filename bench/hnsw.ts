/**
 * HNSW at SciFact size (issue 18): build time, build memory, disk, queries/s, recall@10
 * against exact MaxSim and nDCG@10, with the Exact index as the baseline in the same run.
 *
 *   node build/bench/hnsw.js --model DIR [--work DIR] [--builds "m=16,efConstruction=100;..."]
 *     [--searches "kToken=32,efSearch=64;..."] [--exact] [--profile N] [--label NAME]
 *     [--out bench/results/hnsw-scifact-model.json]
 *
 * Corpus: the model's token embeddings of the real SciFact corpus and of its 300 test
 * queries (bench/index-embeddings.ts, cached in --work). Documents are added in batches of
 * 1,024, as `tslate beir` and `tslate index` add them, then the index is closed and opened
 * again (what a user's next `tslate search` does) before searching in the main thread.
 *
 * --profile N: where the build time goes on the first N documents, per --builds setting: the
 * same tokens inserted into a bare hnswlib graph (the Float32Array → Array conversion timed
 * apart), against the HNSW index's add in batches of 1,024 (graph file writes included).
 *
 * Results are appended to --out (one entry per row, each with the load average).
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Exact } from "../src/indexes/exact.js";
import { HNSW } from "../src/indexes/hnsw.js";
import { writeFileAtomic } from "../src/util/atomic.js";
import type { Matrix } from "../src/util/matrix.js";
import { encodeBeirWithModel, trainingEvaluation } from "./lib/index-embeddings.js";
import { ndcgAt10, type Ranked, recall, toRanked } from "./lib/index-eval.js";

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const SCIFACT = new URL("../../../shared/data/scifact/", import.meta.url).pathname;
const ADD_BATCH = 1024;

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
}

function resetPeakRss(): void {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
  } catch {
    // not Linux: the peak then includes earlier rows
  }
}

function rssMb(field: "VmHWM" | "VmRSS"): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

const load = () => loadavg().map((x) => +x.toFixed(2));

/** CPU seconds of this process (user + system) since `from`: less sensitive than wall time to
 * the other jobs of a shared machine. */
function cpuSeconds(from?: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1e6;
}

/** "a=1,b=2;c=3" → [{a: 1, b: 2}, {c: 3}] */
function parseSettings(s: string | undefined): Record<string, number>[] {
  if (!s) return [];
  return s.split(";").map((part) =>
    Object.fromEntries(
      part
        .split(",")
        .filter((kv) => kv.trim() !== "")
        .map((kv) => {
          const [k, v] = kv.split("=");
          return [k.trim(), Number(v)];
        }),
    ),
  );
}

interface Corpus {
  docs: number;
  tokens: number;
  dim: number;
  id(d: number): string;
  document(d: number): Matrix;
}

async function addAll(
  index: { add(ids: string[], e: Matrix[]): Promise<void> },
  corpus: Corpus,
  docs = corpus.docs,
): Promise<void> {
  for (let d = 0; d < docs; d += ADD_BATCH) {
    const ids: string[] = [];
    const embs: Matrix[] = [];
    for (let x = d; x < Math.min(docs, d + ADD_BATCH); x++) {
      ids.push(corpus.id(x));
      embs.push(corpus.document(x));
    }
    await index.add(ids, embs);
  }
}

async function timedSearch(
  index: { search(q: Matrix[], o: Record<string, unknown>): Promise<unknown> },
  queries: Matrix[],
  options: Record<string, unknown>,
): Promise<{ ranked: Ranked; seconds: number; cpu: number }> {
  // Warm-up on a few queries (page cache, JIT), then all queries in one call.
  await index.search(queries.slice(0, 5), options);
  const t = performance.now();
  const c = process.cpuUsage();
  const res = (await index.search(queries, options)) as Parameters<typeof toRanked>[0];
  return {
    ranked: toRanked(res),
    seconds: (performance.now() - t) / 1000,
    cpu: cpuSeconds(c),
  };
}

interface HnswLike {
  initIndex(o: {
    maxElements: number;
    m: number;
    efConstruction: number;
    randomSeed: number;
  }): void;
  addPoint(p: number[], label: number): void;
  searchKnn(q: number[], k: number): { neighbors: number[] };
  setEf(ef: number): void;
}

/** Build profile on the first `n` documents (see the module comment). */
async function profile(corpus: Corpus, n: number, build: Record<string, number>, work: string) {
  const Hnsw = (
    createRequire(import.meta.url)("hnswlib-node") as {
      HierarchicalNSW: new (s: string, d: number) => HnswLike;
    }
  ).HierarchicalNSW;
  const dim = corpus.dim;
  const mats: Matrix[] = [];
  let tokens = 0;
  for (let d = 0; d < n; d++) {
    mats.push(corpus.document(d));
    tokens += mats[d].rows;
  }
  const m = build.m ?? 64;
  const efc = build.efConstruction ?? 200;
  const g = new Hnsw("ip", dim);
  g.initIndex({ maxElements: tokens, m, efConstruction: efc, randomSeed: 42 });
  let label = 0;
  let convert = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const arrays: number[][] = [];
  for (const e of mats) {
    for (let r = 0; r < e.rows; r++) {
      const c = performance.now();
      const a = Array.from(e.data.subarray(r * dim, (r + 1) * dim));
      convert += performance.now() - c;
      arrays.push(a);
      g.addPoint(a, label++);
    }
  }
  const bare = (performance.now() - t0) / 1000;
  const bareCpu = cpuSeconds(c0);
  const dir = join(work, `profile-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  const index = await HNSW.create(dir, build);
  await addAll(index, corpus, n);
  await index.close();
  const indexed = (performance.now() - t1) / 1000;
  const indexedCpu = cpuSeconds(c1);
  const bytes = dirBytes(dir);
  rmSync(dir, { recursive: true, force: true });
  return {
    documents: n,
    tokens,
    build,
    bareHnswlibInsertSeconds: +bare.toFixed(2),
    bareHnswlibInsertCpuSeconds: +bareCpu.toFixed(2),
    indexAddCpuSeconds: +indexedCpu.toFixed(2),
    ofWhichArrayConversionSeconds: +(convert / 1000).toFixed(2),
    indexAddSecondsInBatchesOf1024: +indexed.toFixed(2),
    indexOverheadSeconds: +(indexed - bare).toFixed(2),
    indexBytes: bytes,
    insertsPerSecond: Math.round(tokens / bare),
  };
}

async function main(): Promise<void> {
  const modelDir = arg("model");
  if (!modelDir) throw new Error("--model DIR (a trained ColBERT, see bench/train-scifact.ts)");
  const work = resolve(arg("work", join(tmpdir(), "tslate-bench-hnsw"))!);
  mkdirSync(work, { recursive: true });
  const outPath = arg(
    "out",
    new URL("../../bench/results/hnsw-scifact-model.json", import.meta.url).pathname,
  )!;
  const label = arg("label", "run")!;
  const { corpus, queries, qrels } = await encodeBeirWithModel(
    modelDir,
    SCIFACT,
    "test",
    join(work, "embeddings"),
  );
  const judged = { queryIds: corpus.meta.queryIds, qrels };
  const results = existsSync(outPath)
    ? (JSON.parse(readFileSync(outPath, "utf8")) as Record<string, unknown>)
    : {};
  const rows = (results.rows as Record<string, unknown>[] | undefined) ?? [];
  results.about = {
    set: "SciFact corpus (5,183 documents) and its 300 test queries, encoded by the model",
    documents: corpus.docs,
    tokens: corpus.tokens,
    dim: corpus.dim,
    queries: queries.length,
    model: corpus.meta.model,
    trainingEvaluation: trainingEvaluation(modelDir),
    machine: { cpus: cpus().length, model: cpus()[0]?.model },
    method:
      "documents added in batches of 1,024 (as tslate beir / tslate index do), index closed and reopened, then all queries in one index.search call in the main thread after a 5-query warm-up; peak RSS is the process's VmHWM during the build after a reset, minus the RSS before it. Shared 2-core machine: see each row's load average.",
  };
  const save = () => {
    results.rows = rows;
    mkdirSync(join(outPath, ".."), { recursive: true });
    writeFileAtomic(outPath, `${JSON.stringify(results, null, 2)}\n`);
  };
  const log = (m: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

  // Exact: the baseline, and the ground truth for recall.
  const exactDir = join(work, "exact");
  let exactSeconds: number | null = null;
  let exactBuild: number | null = null;
  let exactBuildCpu: number | null = null;
  let exactCpu: number | null = null;
  let truth: Ranked;
  const truthPath = join(work, "exact-truth.json");
  if (process.argv.includes("--exact") || !existsSync(truthPath)) {
    rmSync(exactDir, { recursive: true, force: true });
    const startLoad = load();
    const rss0 = rssMb("VmRSS");
    resetPeakRss();
    const t = performance.now();
    const c = process.cpuUsage();
    const ex = await Exact.create(exactDir);
    await addAll(ex, corpus);
    await ex.close();
    exactBuild = (performance.now() - t) / 1000;
    exactBuildCpu = cpuSeconds(c);
    const peak = rssMb("VmHWM") - rss0;
    const opened = await Exact.open(exactDir);
    const s = await timedSearch(opened, queries, { k: 10 });
    await opened.close();
    truth = s.ranked;
    exactSeconds = s.seconds;
    exactCpu = s.cpu;
    writeFileSync(
      truthPath,
      JSON.stringify({ truth, exactSeconds, exactBuild, exactCpu, exactBuildCpu }),
    );
    const row = {
      label,
      index: "exact",
      date: new Date().toISOString(),
      buildSeconds: +exactBuild.toFixed(1),
      buildCpuSeconds: +(exactBuildCpu ?? 0).toFixed(1),
      buildPeakRssMb: Math.round(peak),
      diskMb: +(dirBytes(exactDir) / 2 ** 20).toFixed(1),
      searchSeconds: +s.seconds.toFixed(1),
      searchCpuSeconds: +s.cpu.toFixed(1),
      queriesPerSecond: +(queries.length / s.seconds).toFixed(1),
      queriesPerCpuSecond: +(queries.length / s.cpu).toFixed(1),
      ndcg10: +ndcgAt10(judged, s.ranked).toFixed(4),
      loadAverage: { start: startLoad, end: load() },
    };
    rows.push(row);
    save();
    log(JSON.stringify(row));
  } else {
    const saved = JSON.parse(readFileSync(truthPath, "utf8"));
    truth = saved.truth;
    exactSeconds = saved.exactSeconds;
    exactBuild = saved.exactBuild;
    exactCpu = saved.exactCpu;
    exactBuildCpu = saved.exactBuildCpu;
  }
  rmSync(exactDir, { recursive: true, force: true });

  const profileDocs = Number(arg("profile", "0"));
  for (const build of parseSettings(arg("builds"))) {
    if (profileDocs > 0) {
      const startLoad = load();
      const p = await profile(corpus, profileDocs, build, work);
      const row = {
        label,
        index: "hnsw-profile",
        ...p,
        loadAverage: { start: startLoad, end: load() },
      };
      rows.push(row);
      save();
      log(JSON.stringify(row));
      continue;
    }
    const dir = join(work, "hnsw");
    rmSync(dir, { recursive: true, force: true });
    const startLoad = load();
    const rss0 = rssMb("VmRSS");
    resetPeakRss();
    const t = performance.now();
    const c = process.cpuUsage();
    const index = await HNSW.create(dir, build);
    await addAll(index, corpus);
    await index.close();
    const buildSeconds = (performance.now() - t) / 1000;
    const buildCpu = cpuSeconds(c);
    const peak = rssMb("VmHWM") - rss0;
    const disk = dirBytes(dir);
    const t2 = performance.now();
    const opened = await HNSW.open(dir);
    const openSeconds = (performance.now() - t2) / 1000;
    log(
      `built ${JSON.stringify(build)} in ${buildSeconds.toFixed(1)} s, opened in ${openSeconds.toFixed(1)} s`,
    );
    const searches = parseSettings(arg("searches"));
    for (const search of searches.length ? searches : [{}]) {
      const s = await timedSearch(opened, queries, { k: 10, ...search });
      const row = {
        label,
        index: "hnsw",
        date: new Date().toISOString(),
        build,
        search,
        buildSeconds: +buildSeconds.toFixed(1),
        buildCpuSeconds: +buildCpu.toFixed(1),
        buildVsExact: exactBuild ? +(buildSeconds / exactBuild).toFixed(1) : null,
        buildCpuVsExact: exactBuildCpu ? +(buildCpu / exactBuildCpu).toFixed(1) : null,
        buildPeakRssMb: Math.round(peak),
        diskMb: +(disk / 2 ** 20).toFixed(1),
        openSeconds: +openSeconds.toFixed(1),
        searchSeconds: +s.seconds.toFixed(1),
        searchCpuSeconds: +s.cpu.toFixed(1),
        queriesPerSecond: +(queries.length / s.seconds).toFixed(1),
        queriesPerCpuSecond: +(queries.length / s.cpu).toFixed(1),
        searchSpeedVsExact: exactSeconds ? +(exactSeconds / s.seconds).toFixed(2) : null,
        searchCpuSpeedVsExact: exactCpu ? +(exactCpu / s.cpu).toFixed(2) : null,
        recall10VsExact: +recall(s.ranked.ids, truth.ids, 10).toFixed(4),
        ndcg10: +ndcgAt10(judged, s.ranked).toFixed(4),
        exactNdcg10: +ndcgAt10(judged, truth).toFixed(4),
        loadAverage: { start: startLoad, end: load() },
      };
      rows.push(row);
      save();
      log(JSON.stringify(row));
    }
    await opened.close();
    rmSync(dir, { recursive: true, force: true });
  }
  corpus.close();
  console.log(`wrote ${outPath}`);
}

await main();
