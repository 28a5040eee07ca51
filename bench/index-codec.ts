/**
 * Codec study (issue 4): how much recall@10 PLAID's residual codec costs, and what other
 * residual quantisers would give, on a set that bench/index.ts built with --work DIR (its
 * PLAID index, ground truth and, for scifact-model, the model's embeddings).
 *
 *   node build/bench/index-codec.js --work DIR [--set scifact-model|scifact-size]
 *     [--variants index-4bit,centroid,global-2bit,perdim-2bit,perdim-4bit,global-8bit]
 *     [--queries N] [--out bench/results/index-codec.json] [--append]
 *
 * Every variant keeps the index's centroids and each token's centroid (the build's rule:
 * argmax of the dot product), quantises the residual token − centroid and reconstructs
 * normalise(centroid + bucket weights), as PLAID's decompression does; the reconstructed corpus
 * is searched exactly (the library's Exact index) and compared with exact MaxSim on the
 * original vectors. Variants:
 *  - index-4bit: the index's own codec (global 4-bit buckets from its held-out sample). Its
 *    recall must equal the oracle row of bench/index.ts: the check that this simulation is
 *    PLAID's decompression.
 *  - centroid: no residual (what PLAID's approximate stage sees).
 *  - global-Nbit: 2^N buckets at quantiles of all dimensions' residuals pooled (ColBERTv2 /
 *    fast-plaid's rule, which tslate implements), from this study's residual sample.
 *  - perdim-Nbit: the same bits, with cutoffs and weights at quantiles of each dimension's own
 *    residuals (dim × 2^N weights more in the index; same bytes per token).
 * This is bench code: the library's codec is not changed.
 */
import { existsSync, readFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Exact } from "../src/indexes/exact.js";
import { argmaxABt } from "../src/indexes/kernels.js";
import { bucketOf, bucketsAtQuantiles, quantile } from "../src/indexes/plaid/codec.js";
import { PLAID } from "../src/indexes/plaid/index.js";
import { maxSim } from "../src/scores/maxsim.js";
import { writeFileAtomic } from "../src/util/atomic.js";
import type { Matrix } from "../src/util/matrix.js";
import { benchCorpus, scifactSizeSet } from "./lib/index-data.js";
import { type BenchCorpus, EncodedCorpus, type EncodedMeta } from "./lib/index-embeddings.js";
import { type Judged, ndcgAt10, type Ranked, recall, toRanked } from "./lib/index-eval.js";

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const SCIFACT = new URL("../../../shared/data/scifact/", import.meta.url);
const VARIANTS = [
  "index-4bit",
  "centroid",
  "global-2bit",
  "perdim-2bit",
  "global-4bit",
  "perdim-4bit",
  "global-8bit",
  "perdim-8bit",
];

/** A residual quantiser: per dimension t, cutoffs[t] (B − 1) and weights[t] (B). */
interface Quantizer {
  bits: number;
  cutoffs: Float32Array[];
  weights: Float32Array[];
}

/** Buckets at quantiles b/B, weights at (b + 0.5)/B: the codec's rule (src/indexes/codec.ts). */
function quantilesOf(values: Float32Array, bits: number): { cut: Float32Array; w: Float32Array } {
  const { bucketCutoffs, bucketWeights } = bucketsAtQuantiles(
    Float32Array.from(values).sort(),
    bits,
  );
  return { cut: bucketCutoffs, w: bucketWeights };
}

interface Study {
  corpus: BenchCorpus;
  queries: Matrix[];
  truth: Ranked;
  judged?: Judged;
  exactNdcgAt10?: number;
  centroids: Float32Array;
  indexCodec: { nbits: number; bucketCutoffs: Float32Array; bucketWeights: Float32Array };
  /** Each token's centroid, corpus order. */
  codes: Int32Array;
  /** First token of each document in `codes`. */
  starts: Float64Array;
  /** Residuals of every 16th token [n, dim]. */
  sample: Float32Array;
}

async function loadStudy(work: string, set: string, maxQueries: number): Promise<Study> {
  const root = join(work, set);
  const statePath = join(root, "state.json");
  if (!existsSync(statePath)) {
    throw new Error(`${statePath} not found: run bench/index.ts --set ... --work ${work} first`);
  }
  const state = JSON.parse(readFileSync(statePath, "utf8")) as {
    truth: Ranked;
    exactNdcgAt10?: number;
  };
  let corpus: BenchCorpus;
  let queries: Matrix[];
  let judged: Judged | undefined;
  if (set === "scifact-model") {
    const dir = join(work, "scifact-model-embeddings");
    const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as EncodedMeta;
    const encoded = new EncodedCorpus(dir, meta);
    const { loadBeirQueries } = await import("../src/io/beir.js");
    const { qrels } = await loadBeirQueries(meta.data, { split: meta.split });
    corpus = encoded;
    queries = encoded.queries();
    judged = { queryIds: meta.queryIds, qrels };
  } else if (set === "scifact-size") {
    const s = scifactSizeSet(SCIFACT.pathname, state.truth.ids.length);
    corpus = benchCorpus(s.corpus);
    queries = s.queries;
  } else {
    throw new Error(`--set must be scifact-model or scifact-size, got "${set}"`);
  }
  const plaid = await PLAID.open(join(root, "plaid"), { verifyChecksums: false });
  const codec = plaid.trainedCodec!;
  const centroids = Float32Array.from(codec.centroids);
  const indexCodec = {
    nbits: codec.nbits,
    bucketCutoffs: Float32Array.from(codec.bucketCutoffs),
    bucketWeights: Float32Array.from(codec.bucketWeights),
  };
  await plaid.close();
  const dim = corpus.dim;
  const K = centroids.length / dim;
  const codes = new Int32Array(corpus.tokens);
  const starts = new Float64Array(corpus.docs + 1);
  const sampleRows: Float32Array[] = [];
  let tok = 0;
  let block: Matrix[] = [];
  let blockTokens = 0;
  const flush = async () => {
    const x = new Float32Array(blockTokens * dim);
    let o = 0;
    for (const m of block) {
      x.set(m.data.subarray(0, m.rows * dim), o);
      o += m.rows * dim;
    }
    const c = await argmaxABt(x, blockTokens, centroids, K, dim);
    for (let i = 0; i < blockTokens; i++) {
      codes[tok + i] = c[i];
      if ((tok + i) % 16 === 0) {
        const r = new Float32Array(dim);
        for (let t = 0; t < dim; t++) r[t] = x[i * dim + t] - centroids[c[i] * dim + t];
        sampleRows.push(r);
      }
    }
    tok += blockTokens;
    block = [];
    blockTokens = 0;
  };
  for (let d = 0; d < corpus.docs; d++) {
    const m = corpus.document(d);
    starts[d + 1] = starts[d] + m.rows;
    block.push(m);
    blockTokens += m.rows;
    if (blockTokens >= 65_536) await flush();
  }
  if (blockTokens > 0) await flush();
  const sample = new Float32Array(sampleRows.length * dim);
  sampleRows.forEach((r, i) => sample.set(r, i * dim));
  return {
    corpus,
    // The first maxQueries queries (bench/index.ts runs its slow rows, oracle included, on a prefix).
    queries: queries.slice(0, maxQueries),
    truth: {
      ids: state.truth.ids.slice(0, maxQueries),
      scores: state.truth.scores.slice(0, maxQueries),
    },
    judged,
    exactNdcgAt10: state.exactNdcgAt10,
    centroids,
    indexCodec,
    codes,
    starts,
    sample,
  };
}

function quantizerFor(study: Study, variant: string): Quantizer | null {
  const dim = study.corpus.dim;
  if (variant === "centroid") return null;
  if (variant === "index-4bit") {
    const c = study.indexCodec;
    return {
      bits: c.nbits,
      cutoffs: Array.from({ length: dim }, () => c.bucketCutoffs),
      weights: Array.from({ length: dim }, () => c.bucketWeights),
    };
  }
  const m = /^(global|perdim)-(\d)bit$/.exec(variant);
  if (!m) throw new Error(`unknown variant "${variant}"; known: ${VARIANTS.join(", ")}`);
  const bits = Number(m[2]);
  if (m[1] === "global") {
    const { cut, w } = quantilesOf(study.sample, bits);
    return {
      bits,
      cutoffs: Array.from({ length: dim }, () => cut),
      weights: Array.from({ length: dim }, () => w),
    };
  }
  const n = study.sample.length / dim;
  const cutoffs: Float32Array[] = [];
  const weights: Float32Array[] = [];
  const col = new Float32Array(n);
  for (let t = 0; t < dim; t++) {
    for (let i = 0; i < n; i++) col[i] = study.sample[i * dim + t];
    const { cut, w } = quantilesOf(col, bits);
    cutoffs.push(cut);
    weights.push(w);
  }
  return { bits, cutoffs, weights };
}

/** Document d reconstructed: normalise(centroid + quantised residual) per token. */
function reconstruct(study: Study, qz: Quantizer | null, d: number, x: Matrix): Matrix {
  const dim = x.cols;
  const out = new Float32Array(x.rows * dim);
  const first = study.starts[d];
  for (let i = 0; i < x.rows; i++) {
    const co = study.codes[first + i] * dim;
    let s = 0;
    for (let t = 0; t < dim; t++) {
      let v = study.centroids[co + t];
      if (qz) v += qz.weights[t][bucketOf(qz.cutoffs[t], x.data[i * dim + t] - v)];
      out[i * dim + t] = v;
      s += v * v;
    }
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let t = 0; t < dim; t++) out[i * dim + t] *= inv;
  }
  return { data: out, rows: x.rows, cols: dim };
}

async function runVariant(study: Study, variant: string): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const qz = quantizerFor(study, variant);
  const dim = study.corpus.dim;
  const dir = join(tmpdir(), `tslate-bench-codec-${process.pid}`);
  const exact = await Exact.create(dir, { kernels: { threads: 2 } });
  let cosSum = 0;
  try {
    let ids: string[] = [];
    let embs: Matrix[] = [];
    for (let d = 0; d < study.corpus.docs; d++) {
      const x = study.corpus.document(d);
      const r = reconstruct(study, qz, d, x);
      for (let i = 0; i < x.rows; i++) {
        let c = 0;
        let nx = 0;
        for (let t = 0; t < dim; t++) {
          c += x.data[i * dim + t] * r.data[i * dim + t];
          nx += x.data[i * dim + t] ** 2;
        }
        cosSum += c / Math.sqrt(nx);
      }
      ids.push(study.corpus.id(d));
      embs.push(r);
      if (ids.length >= 1000) {
        await exact.add(ids, embs);
        ids = [];
        embs = [];
      }
    }
    if (ids.length) await exact.add(ids, embs);
    const ranked = toRanked(await exact.search(study.queries, { k: 10 }));
    const row: Record<string, unknown> = {
      variant,
      bitsPerDimension: qz?.bits ?? 0,
      residualBytesPerToken: ((qz?.bits ?? 0) * dim) / 8,
      meanTokenCosine: +(cosSum / study.corpus.tokens).toFixed(5),
      recallAt10: +recall(ranked.ids, study.truth.ids, 10).toFixed(4),
    };
    if (study.judged) row.ndcgAt10 = +ndcgAt10(study.judged, ranked).toFixed(4);
    row.top10ScoreError = scoreErrors(study, qz);
    row.seconds = +((performance.now() - t0) / 1000).toFixed(1);
    row.loadAverage1Min = +loadavg()[0].toFixed(2);
    console.log(row);
    return row;
  } finally {
    await exact.close();
    const { rmSync } = await import("node:fs");
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(x: number[]): number {
  const s = [...x].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * How far reconstruction moves MaxSim scores where recall@10 is decided: |score on the
 * reconstructed document − exact score| over every query's exact top 10.
 */
function scoreErrors(study: Study, qz: Quantizer | null): Record<string, number> {
  const docOf = new Map<string, number>();
  for (let d = 0; d < study.corpus.docs; d++) docOf.set(study.corpus.id(d), d);
  const abs: number[] = [];
  study.truth.ids.forEach((ids, qi) => {
    ids.forEach((id, j) => {
      const d = docOf.get(id)!;
      const r = reconstruct(study, qz, d, study.corpus.document(d));
      abs.push(Math.abs(maxSim(study.queries[qi], r) - study.truth.scores[qi][j]));
    });
  });
  return {
    medianAbs: +median(abs).toFixed(4),
    p90Abs: +quantile(Float32Array.from(abs).sort(), 0.9).toFixed(4),
  };
}

/**
 * How close the exact top 10 are: median over queries of the gap between ranks 9 and 10 and
 * of the spread rank 1 − rank 10 (absolute MaxSim, and relative to the rank-1 score).
 */
function top10Margins(truth: Ranked): Record<string, number> {
  const s = truth.scores.filter((q) => q.length >= 10);
  return {
    medianTop1Score: +median(s.map((q) => q[0])).toFixed(3),
    medianGapRank9To10: +median(s.map((q) => q[8] - q[9])).toFixed(4),
    medianSpreadRank1To10: +median(s.map((q) => q[0] - q[9])).toFixed(4),
    medianRelativeSpreadRank1To10: +median(s.map((q) => (q[0] - q[9]) / q[0])).toFixed(4),
  };
}

/** Spread of the residuals' standard deviation over dimensions (the case for per-dim buckets). */
function residualSpread(study: Study): Record<string, number> {
  const dim = study.corpus.dim;
  const n = study.sample.length / dim;
  const sd: number[] = [];
  for (let t = 0; t < dim; t++) {
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const v = study.sample[i * dim + t];
      s += v;
      s2 += v * v;
    }
    sd.push(Math.sqrt(Math.max(0, s2 / n - (s / n) ** 2)));
  }
  sd.sort((a, b) => a - b);
  return {
    sampledTokens: n,
    minStd: +sd[0].toFixed(4),
    medianStd: +sd[Math.floor(dim / 2)].toFixed(4),
    maxStd: +sd[dim - 1].toFixed(4),
  };
}

async function main(): Promise<void> {
  const work = resolve(arg("work") ?? "");
  if (!arg("work")) throw new Error("--work DIR is needed (the --work of bench/index.ts)");
  const set = arg("set", "scifact-model")!;
  const variants = arg(
    "variants",
    "index-4bit,centroid,global-2bit,perdim-2bit,perdim-4bit,global-8bit",
  )!.split(",");
  for (const v of variants) {
    if (!VARIANTS.includes(v))
      throw new Error(`unknown variant "${v}"; known: ${VARIANTS.join(", ")}`);
  }
  const outPath = arg(
    "out",
    new URL("../../bench/results/index-codec.json", import.meta.url).pathname,
  )!;
  const loadAtStart = loadavg().map((x) => +x.toFixed(2));
  const study = await loadStudy(work, set, Number(arg("queries", "1000000")));
  console.log(
    `${set}: ${study.corpus.docs} documents, ${study.corpus.tokens} tokens, dim ${study.corpus.dim}, ${study.queries.length} queries`,
  );
  const rows: Record<string, unknown>[] = [];
  for (const v of variants) rows.push(await runVariant(study, v));
  const previous =
    process.argv.includes("--append") && existsSync(outPath)
      ? (JSON.parse(readFileSync(outPath, "utf8")) as { sets: Record<string, unknown>[] })
      : null;
  const sets = (previous?.sets ?? []).filter((s) => s.set !== set);
  const old = previous?.sets.find((s) => s.set === set);
  if (old && old.queries !== study.queries.length) old.variants = [];
  const merged = [
    ...((old?.variants as Record<string, unknown>[]) ?? []).filter(
      (r) => !variants.includes(r.variant as string),
    ),
    ...rows,
  ].sort((a, b) => VARIANTS.indexOf(a.variant as string) - VARIANTS.indexOf(b.variant as string));
  sets.push({
    set,
    documents: study.corpus.docs,
    tokens: study.corpus.tokens,
    dim: study.corpus.dim,
    queries: study.queries.length,
    centroids: study.centroids.length / study.corpus.dim,
    exactNdcgAt10: study.exactNdcgAt10,
    exactTop10Margins: top10Margins(study.truth),
    residualStdOverDimensions: residualSpread(study),
    variants: merged,
    runs: [
      ...((old?.runs as unknown[]) ?? []),
      {
        date: new Date().toISOString(),
        variants,
        loadAverageAtStart: loadAtStart,
        loadAverageAtEnd: loadavg().map((x) => +x.toFixed(2)),
      },
    ],
  });
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model },
    note: "Recall@10 against exact MaxSim on the original vectors, of exact MaxSim on reconstructed vectors (centroid of the built index + quantised residual, normalised), searched with the library's Exact index. index-4bit reproduces PLAID's decompression (compare bench/results/index-*.json's oracle row). Not a timing benchmark (seconds are wall time of the study).",
    sets,
  };
  writeFileAtomic(outPath, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${outPath}`);
}

await main();
