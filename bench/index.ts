/**
 * Index benchmark (issue 4): build time, bytes per token, build memory, queries/s at 1 and 2
 * threads (2 threads: the library's ParallelSearcher), recall@10 against exact MaxSim, and
 * PLAID queries/s as a ratio to Exact.
 *
 *   node dist/bench/index.js [--set scifact,scifact-model,synthetic|all] [--queries N]
 *                            [--model DIR] [--out bench/results/index.json] [--append]
 *                            [--build-memory-tokens N] [--slow-queries N]
 *
 * Sets: (1) "scifact": SciFact-sized (5,183 documents, lengths from the real corpus: words ×
 * 1.3 capped at 180) with synthetic clustered embeddings (bench/index-data.ts);
 * (1b) "scifact-model": the embeddings that a ColBERT model (--model) gives the real SciFact
 * texts and queries; (2) "synthetic": about 2M tokens. --append keeps the other sets of --out.
 * Ground truth: exact MaxSim over the fp32 embeddings, computed by streaming the corpus through
 * a matrix product (the Exact index is also timed on a few queries for the ratio).
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
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Exact } from "../src/indexes/exact.js";
import { gemmABt, setKernelThreads } from "../src/indexes/kernels.js";
import { ParallelSearcher } from "../src/indexes/parallel.js";
import { PLAID } from "../src/indexes/plaid.js";
import type { DocumentInput } from "../src/indexes/types.js";
import type { Matrix } from "../src/util/matrix.js";
import { lengthsForTokens, SyntheticCorpus, scifactLengths } from "./index-data.js";

interface Corpus {
  docs: number;
  tokens: number;
  dim: number;
  document(d: number): Matrix;
  stream(): AsyncIterable<DocumentInput>;
}

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const SCIFACT = new URL("../../../shared/data/scifact/", import.meta.url);

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
}

/** Exact top-k by MaxSim for all queries: corpus streamed in blocks through Q·Dᵀ. */
async function exactTopK(corpus: Corpus, queries: Matrix[], k: number): Promise<string[][]> {
  const dim = corpus.dim;
  const nq = queries.length;
  const qRows = queries.reduce((s, q) => s + q.rows, 0);
  const Q = new Float32Array(qRows * dim);
  const qOff: number[] = [];
  let o = 0;
  for (const q of queries) {
    qOff.push(o / dim);
    Q.set(q.data, o);
    o += q.data.length;
  }
  const best: { id: string; score: number }[][] = queries.map(() => []);
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
    const S = await gemmABt(Q, qRows, D, tok, dim); // [qRows, tok]
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
          list.push({ id: `d${first + j}`, score: total });
          list.sort((a, b) => b.score - a.score);
          if (list.length > k) list.pop();
        }
      });
    }
  }
  return best.map((l) => l.map((x) => x.id));
}

function recall(got: string[][], truth: string[][], k: number): number {
  let hit = 0;
  let tot = 0;
  for (let i = 0; i < truth.length; i++) {
    const t = new Set(truth[i].slice(0, k));
    hit += got[i].slice(0, k).filter((id) => t.has(id)).length;
    tot += t.size;
  }
  return hit / tot;
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

async function runSet(
  name: string,
  corpus: Corpus,
  queries: Matrix[],
  options: { buildMemoryTokens: number; slowQueries: number },
) {
  const root = join(tmpdir(), `tslate-bench-${name}-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const plaidDir = join(root, "plaid");
  const exactDir = join(root, "exact");
  const out: Record<string, unknown> = {
    set: name,
    documents: corpus.docs,
    tokens: corpus.tokens,
    dim: corpus.dim,
    queries: queries.length,
  };
  console.log(
    `\n== ${name}: ${corpus.docs} documents, ${corpus.tokens} tokens, dim ${corpus.dim}, ${queries.length} queries`,
  );

  // Build (streaming; memory sampled every 50 ms).
  setKernelThreads(2);
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  let t0 = performance.now();
  const plaid = await PLAID.build(plaidDir, corpus.stream(), {
    buildMemoryTokens: options.buildMemoryTokens,
  });
  const buildSeconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const K = plaid.trainedCodec!.centroids.length / corpus.dim;
  const filesBytes = dirBytes(join(plaidDir, "files"));
  out.plaidBuild = {
    seconds: +buildSeconds.toFixed(1),
    centroids: K,
    buildMemoryTokens: options.buildMemoryTokens,
    rssBeforeMB: Math.round(rss0 / 2 ** 20),
    peakRssMB: Math.round(peak / 2 ** 20),
    indexFilesBytes: filesBytes,
    bytesPerToken: +(filesBytes / corpus.tokens).toFixed(2),
    metadataSqliteBytes: statSync(join(plaidDir, "metadata.sqlite")).size,
  };
  console.log("plaid build", out.plaidBuild);
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
  out.exactBuild = {
    seconds: +((performance.now() - t0) / 1000).toFixed(1),
    bytesPerToken: +(dirBytes(join(exactDir, "files")) / corpus.tokens).toFixed(1),
  };

  t0 = performance.now();
  const truth = await exactTopK(corpus, queries, 10);
  console.log(`ground truth in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // Exact index: q/s on a few queries, and agreement with the streamed ground truth.
  setKernelThreads(1);
  const few = queries.slice(0, options.slowQueries);
  t0 = performance.now();
  const ex = await exact.search(few, { k: 10 });
  const exactQps = few.length / ((performance.now() - t0) / 1000);
  out.exact = {
    queriesPerSecond1Thread: +exactQps.toFixed(2),
    measuredOn: few.length,
    recallVsGroundTruth: recall(
      ex.map((r) => r.map((h) => h.id)),
      truth.slice(0, few.length),
      10,
    ),
  };
  console.log("exact", out.exact);
  await exact.close();
  rmSync(exactDir, { recursive: true, force: true });

  const slow = Math.min(queries.length, options.slowQueries * 10);
  const settings: { label: string; params: Record<string, number>; queries: number }[] = [
    { label: "defaults (nIvfProbe 8, nFullScores 8192)", params: {}, queries: slow },
    {
      label: "nIvfProbe 8, nFullScores 1024",
      params: { nFullScores: 1024 },
      queries: queries.length,
    },
    {
      label: "nIvfProbe 4, nFullScores 256",
      params: { nIvfProbe: 4, nFullScores: 256 },
      queries: queries.length,
    },
    {
      label: "nIvfProbe 2, nFullScores 128",
      params: { nIvfProbe: 2, nFullScores: 128 },
      queries: queries.length,
    },
    {
      label: "nIvfProbe 2, nFullScores 64",
      params: { nIvfProbe: 2, nFullScores: 64 },
      queries: queries.length,
    },
    {
      label: "nIvfProbe 1, nFullScores 64",
      params: { nIvfProbe: 1, nFullScores: 64 },
      queries: queries.length,
    },
    {
      label: "defaults + centroidScoreThreshold 0.4 (next-plaid's default)",
      params: { centroidScoreThreshold: 0.4 },
      queries: slow,
    },
    {
      label: "nIvfProbe 4, nFullScores 256, centroidScoreThreshold 0.4",
      params: { nIvfProbe: 4, nFullScores: 256, centroidScoreThreshold: 0.4 },
      queries: queries.length,
    },
  ];
  const runs: Record<string, unknown>[] = [];
  const reopened = await PLAID.open(plaidDir, { verifyChecksums: false });
  // The library's multi-core search: worker threads, each with the index open read-only.
  const oneWorker = await ParallelSearcher.open(plaidDir, { workers: 1, verifyChecksums: false });
  const twoWorkers = await ParallelSearcher.open(plaidDir, { workers: 2, verifyChecksums: false });
  for (const s of settings) {
    const qs = queries.slice(0, s.queries);
    await reopened.search(qs.slice(0, 2), { k: 10, ...s.params });
    t0 = performance.now();
    const r = await reopened.search(qs, { k: 10, ...s.params });
    const qps1 = qs.length / ((performance.now() - t0) / 1000);
    const got = r.map((x) => x.map((h) => h.id));
    const one = await parallelQps(oneWorker, qs, s.params);
    const two = await parallelQps(twoWorkers, qs, s.params);
    const row = {
      setting: s.label,
      queries: qs.length,
      recallAt10: +recall(got, truth.slice(0, qs.length), 10).toFixed(4),
      queriesPerSecond1Thread: +qps1.toFixed(1),
      queriesPerSecond1Worker: +one.qps.toFixed(1),
      queriesPerSecond2Threads: +two.qps.toFixed(1),
      ratioToExact1Thread: +(qps1 / exactQps).toFixed(1),
      loadAverage1Min: +loadavg()[0].toFixed(2),
      workerResultsIdentical:
        JSON.stringify(one.ids) === JSON.stringify(got) &&
        JSON.stringify(two.ids) === JSON.stringify(got),
    };
    console.log(row);
    runs.push(row);
  }
  await reopened.close();
  await oneWorker.close();
  await twoWorkers.close();
  out.plaid = runs;
  rmSync(root, { recursive: true, force: true });
  return out;
}

async function realCorpus(modelDir: string): Promise<{ corpus: Corpus; queries: Matrix[] }> {
  const { ColBERT } = await import("../src/models/colbert.js");
  const { readBeirCorpus, readBeirQueries, documentText } = await import("../src/retrieve/beir.js");
  const model = await ColBERT.fromPretrained(modelDir);
  const records = [];
  for await (const r of readBeirCorpus(new URL("corpus.jsonl", SCIFACT).pathname)) records.push(r);
  const embs = await model.encode(records.map(documentText), {
    isQuery: false,
    showProgress: true,
  });
  const queries = await model.encode(
    (await readBeirQueries(new URL("queries.jsonl", SCIFACT).pathname))
      .slice(0, Number(arg("queries", "200")))
      .map((q) => q.text),
    { isQuery: true },
  );
  const corpus: Corpus = {
    docs: embs.length,
    tokens: embs.reduce((s, e) => s + e.rows, 0),
    dim: embs[0].cols,
    document: (d) => embs[d],
    async *stream() {
      for (let d = 0; d < embs.length; d++) yield { id: `d${d}`, embedding: embs[d] };
    },
  };
  return { corpus, queries };
}

async function main(): Promise<void> {
  // --set: comma list of scifact (synthetic embeddings, SciFact lengths), scifact-model (the
  // --model's embeddings of the SciFact texts), synthetic (2M tokens); "all" = scifact +
  // synthetic (+ scifact-model with --model). --append keeps the other sets of --out.
  const wanted = new Set(arg("set", "all")!.split(","));
  if (wanted.has("all")) {
    wanted.add("scifact");
    wanted.add("synthetic");
    if (arg("model")) wanted.add("scifact-model");
  }
  const nQueries = Number(arg("queries", "200"));
  const buildMemoryTokens = Number(arg("build-memory-tokens", String(2 ** 19)));
  const slowQueries = Number(arg("slow-queries", "10"));
  const outPath = arg("out", new URL("../../bench/results/index.json", import.meta.url).pathname)!;
  const previous =
    process.argv.includes("--append") && existsSync(outPath)
      ? (JSON.parse(readFileSync(outPath, "utf8")) as {
          sets?: { set: string }[];
          previousRuns?: unknown[];
        })
      : null;
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model },
    note: "Shared 2-core machine: other jobs ran at the same time (see each set's and each row's load averages), so timings are noisy upper bounds on latency. 1-thread numbers: index.search in the main thread. 1-worker / 2-thread numbers: the library's ParallelSearcher with 1 / 2 worker threads (each with its own read-only copy of the index, queries split into contiguous halves, one transferred Float32Array per worker, the manifest generation checked per call), one call with all the queries after a warm-up call.",
    sets: [] as Record<string, unknown>[],
  };
  const sets = results.sets as Record<string, unknown>[];
  const run = async (
    name: string,
    embeddings: string,
    corpus: Corpus,
    queries: Matrix[],
    slow: number,
  ) => {
    const loadAtStart = loadavg().map((x) => +x.toFixed(2));
    const date = new Date().toISOString();
    const out = await runSet(name, corpus, queries, { buildMemoryTokens, slowQueries: slow });
    sets.push({
      ...out,
      set: name,
      embeddings,
      date,
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: loadavg().map((x) => +x.toFixed(2)),
    });
  };
  if (wanted.has("scifact")) {
    const corpus = new SyntheticCorpus({
      lengths: scifactLengths(new URL("corpus.jsonl", SCIFACT).pathname),
      dim: 128,
      seed: 11,
    });
    const queries = Array.from({ length: nQueries }, (_, i) =>
      corpus.query((i * 7919) % corpus.docs, 1000 + i),
    );
    const what = "synthetic clustered (bench/index-data.ts), SciFact document lengths";
    await run("scifact-size", what, corpus, queries, slowQueries);
  }
  if (wanted.has("scifact-model")) {
    const model = arg("model");
    if (!model) throw new Error("--set scifact-model needs --model DIR");
    const { corpus, queries } = await realCorpus(model);
    const what = `model ${model} on the real SciFact texts (corpus and the first ${queries.length} queries)`;
    await run("scifact-model", what, corpus, queries, slowQueries);
  }
  if (wanted.has("synthetic")) {
    const corpus = new SyntheticCorpus({
      lengths: lengthsForTokens(2_000_000, 5),
      dim: 128,
      seed: 23,
    });
    const queries = Array.from({ length: Math.min(nQueries, 100) }, (_, i) =>
      corpus.query((i * 7919) % corpus.docs, 5000 + i),
    );
    const what = "synthetic clustered (bench/index-data.ts)";
    await run("synthetic-2M", what, corpus, queries, Math.max(2, Math.floor(slowQueries / 2)));
  }
  for (const old of previous?.sets ?? []) {
    if (!sets.some((s) => s.set === old.set)) sets.push(old);
  }
  // Hand-kept history of earlier runs survives --append.
  if (previous?.previousRuns) results.previousRuns = previous.previousRuns;
  mkdirSync(join(outPath, ".."), { recursive: true });
  writeFileSync(outPath, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${outPath}`);
}

await main();
