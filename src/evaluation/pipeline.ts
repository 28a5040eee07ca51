import { performance } from "node:perf_hooks";
import type { MultiVectorIndex, SearchResult } from "../indexes/types.js";
import {
  type BeirDataset,
  type BeirDocument,
  type BeirQuery,
  checkJudgedDocuments,
  countCorpus,
  documentText,
  listSplits,
  loadBeirQueries,
  streamBeirCorpus,
} from "../io/beir.js";
import type { EmbeddingModel } from "../models/types.js";
import { maxSim } from "../scores/maxsim.js";
import { InvalidArgumentError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import { makeProgress } from "../util/progress.js";
import { BM25, type BM25Options } from "./bm25.js";
import { evaluate, type Run } from "./metrics.js";

/** Times a named stage: the pipeline records seconds per stage for the results table. */
export type StageTimer = <T>(stage: string, fn: () => Promise<T> | T) => Promise<T>;

/**
 * Something that can index a BEIR corpus and answer its queries: a ColBERT model with an
 * index (ModelRetriever) or the BM25 baseline (BM25Retriever).
 */
export interface BeirRetriever {
  /** Name for the results table ("bm25", the model path, ...). */
  readonly name: string;
  /** Indexes the corpus, read as a stream (documents arrive in chunks for large corpora). */
  index(
    corpus: AsyncIterable<BeirDocument> | Iterable<BeirDocument>,
    stage: StageTimer,
    total?: number,
  ): Promise<void>;
  search(queries: BeirQuery[], k: number, stage: StageTimer): Promise<SearchResult[][]>;
  /** Releases the index (files stay on disk). */
  close?(): Promise<void>;
}

export interface ModelRetrieverOptions {
  /** Texts per encode call (default 32, PyLate's). */
  batchSize?: number;
  /** Documents encoded and added to the index per step, bounding memory (default 1024). */
  chunkSize?: number;
  /** Progress bars on stderr. */
  showProgress?: boolean;
  /**
   * Builds the index the embeddings go into (e.g. `() => PLAID.create(dir)`). Without it, the
   * embeddings stay in memory and search is exact brute-force MaxSim (src/scores/maxsim.ts).
   */
  createIndex?: () => Promise<MultiVectorIndex>;
  /** Name in the results table (default "model"). */
  name?: string;
}

/**
 * Encodes documents (as `title text`, PyLate's load_beir) and queries with any
 * EmbeddingModel, and searches them by MaxSim, through an index or by brute force.
 */
export class ModelRetriever implements BeirRetriever {
  readonly name: string;
  private index_: MultiVectorIndex | undefined;
  private ids: string[] = [];
  private embeddings: Matrix[] = [];

  constructor(
    private readonly model: EmbeddingModel,
    private readonly options: ModelRetrieverOptions = {},
  ) {
    this.name = options.name ?? "model";
  }

  async index(
    corpus: AsyncIterable<BeirDocument> | Iterable<BeirDocument>,
    stage: StageTimer,
    total?: number,
  ): Promise<void> {
    const chunk = this.options.chunkSize ?? 1024;
    if (!Number.isInteger(chunk) || chunk < 1) {
      throw new InvalidArgumentError(`chunkSize must be a positive integer, got ${chunk}`);
    }
    if (this.options.createIndex) this.index_ = await stage("index", this.options.createIndex);
    const n = total ?? (Array.isArray(corpus) ? corpus.length : undefined);
    const bar = makeProgress(this.options.showProgress && n !== undefined);
    bar.start(n ?? 0, "encode documents");
    const flush = async (docs: BeirDocument[]) => {
      const emb = await stage("encode documents", () =>
        this.model.encode(docs.map(documentText), {
          isQuery: false,
          batchSize: this.options.batchSize,
        }),
      );
      if (emb.length !== docs.length) {
        throw new InvalidArgumentError(
          `the model returned ${emb.length} embeddings for ${docs.length} documents`,
        );
      }
      const ids = docs.map((d) => d.id);
      if (this.index_) {
        const index = this.index_;
        await stage("index", () => index.add(ids, emb));
      } else {
        for (let i = 0; i < ids.length; i++) {
          this.ids.push(ids[i]);
          this.embeddings.push(emb[i]);
        }
      }
      bar.increment(docs.length);
    };
    try {
      let pending: BeirDocument[] = [];
      for await (const doc of corpus) {
        pending.push(doc);
        if (pending.length === chunk) {
          await flush(pending);
          pending = [];
        }
      }
      if (pending.length > 0) await flush(pending);
    } finally {
      bar.stop();
    }
  }

  async search(queries: BeirQuery[], k: number, stage: StageTimer): Promise<SearchResult[][]> {
    const emb = await stage("encode queries", () =>
      this.model.encode(
        queries.map((q) => q.text),
        {
          isQuery: true,
          batchSize: this.options.batchSize,
          showProgress: this.options.showProgress,
        },
      ),
    );
    const index = this.index_;
    if (index) return stage("search", () => index.search(emb, { k }));
    return stage("search", () => {
      const bar = makeProgress(this.options.showProgress);
      bar.start(emb.length, "search (exact MaxSim)");
      const out = emb.map((q) => {
        const r = exactTopK(q, this.ids, this.embeddings, k);
        bar.increment();
        return r;
      });
      bar.stop();
      return out;
    });
  }

  async close(): Promise<void> {
    await this.index_?.close();
  }
}

/** Brute-force MaxSim top-k over in-memory documents (ties: earlier document first). */
export function exactTopK(
  query: Matrix,
  ids: readonly string[],
  documents: readonly Matrix[],
  k: number,
): SearchResult[] {
  const scores = new Float64Array(documents.length);
  for (let i = 0; i < documents.length; i++) scores[i] = maxSim(query, documents[i]);
  const order = Array.from({ length: documents.length }, (_, i) => i);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, k).map((i) => ({ id: ids[i], score: scores[i] }));
}

/** The BM25 baseline as a BeirRetriever (see BM25 and BM25_PRESETS). */
export class BM25Retriever implements BeirRetriever {
  readonly name: string;
  private bm25: BM25 | undefined;
  constructor(
    private readonly options: BM25Options = {},
    name = "bm25",
  ) {
    this.name = name;
  }
  async index(
    corpus: AsyncIterable<BeirDocument> | Iterable<BeirDocument>,
    stage: StageTimer,
  ): Promise<void> {
    // BM25 is an in-memory index: it needs every document anyway.
    const docs: BeirDocument[] = [];
    for await (const d of corpus) docs.push(d);
    this.bm25 = await stage("index", () => BM25.build(docs, this.options));
  }
  async search(queries: BeirQuery[], k: number, stage: StageTimer): Promise<SearchResult[][]> {
    const bm25 = this.bm25;
    if (!bm25) throw new InvalidArgumentError("BM25Retriever.search called before index()");
    return stage("search", () => queries.map((q) => bm25.search(q.text, k)));
  }
}

export interface BeirEvaluationOptions {
  /** Qrels split (default "test"). */
  split?: string;
  /** Results kept per query (default 100). */
  k?: number;
  /** Metrics, ranx names (default ndcg@10, map@100, recall@100, mrr@10). */
  metrics?: string[];
}

export const DEFAULT_BEIR_METRICS: readonly string[] = [
  "ndcg@10",
  "map@100",
  "recall@100",
  "mrr@10",
];

export interface BeirEvaluation {
  retriever: string;
  dataset: string;
  split: string;
  documents: number;
  queries: number;
  k: number;
  /** Metric label -> mean over the split's queries. */
  metrics: Record<string, number>;
  /** Stage -> seconds (load, encode documents, index, encode queries, search, evaluate). */
  timings: Record<string, number>;
  /** Queries per second over encode queries + search. */
  queriesPerSecond: number;
  run: Run;
}

/**
 * One BEIR evaluation, end to end: load the split, index the corpus, search the queries,
 * compute the metrics. `data` is a BEIR folder or an already loaded dataset.
 */
export async function evaluateBeir(
  retriever: BeirRetriever,
  data: string | { name: string; dataset: BeirDataset },
  options: BeirEvaluationOptions = {},
): Promise<BeirEvaluation> {
  const split = options.split ?? "test";
  const k = options.k ?? 100;
  if (!Number.isInteger(k) || k < 1) {
    throw new InvalidArgumentError(`k must be a positive integer, got ${k}`);
  }
  const metrics = options.metrics ?? [...DEFAULT_BEIR_METRICS];
  const timings: Record<string, number> = {};
  const stage: StageTimer = async (name, fn) => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings[name] = (timings[name] ?? 0) + (performance.now() - t0) / 1000;
    }
  };
  const name = typeof data === "string" ? data : data.name;
  let queries: BeirQuery[];
  let qrels: BeirDataset["qrels"];
  let documents = 0;
  if (typeof data === "string") {
    // Only queries and qrels are held; the corpus streams into the retriever, and reading
    // it counts as "load" time.
    const loaded = await stage("load", () => loadBeirQueries(data, { split }));
    const total = await stage("load", () => countCorpus(loaded.files));
    ({ queries, qrels } = loaded);
    // Only judged ids are remembered (the loader itself rejects duplicate ids).
    const judged = new Set<string>();
    for (const docs of qrels.values()) for (const d of docs.keys()) judged.add(d);
    const found = new Set<string>();
    const source = streamBeirCorpus(loaded.files);
    const counted = async function* () {
      for (;;) {
        const t0 = performance.now();
        const next = await source.next();
        timings.load = (timings.load ?? 0) + (performance.now() - t0) / 1000;
        if (next.done) return;
        documents++;
        if (judged.has(next.value.id)) found.add(next.value.id);
        yield next.value;
      }
    };
    await retriever.index(counted(), stage, total);
    checkJudgedDocuments(qrels, found, loaded.files);
  } else {
    ({ queries, qrels } = data.dataset);
    documents = data.dataset.corpus.length;
    await retriever.index(data.dataset.corpus, stage);
  }
  const results = await retriever.search(queries, k, stage);
  const run: Run = new Map();
  queries.forEach((q, i) => {
    run.set(q.id, new Map(results[i].map((r) => [r.id, r.score])));
  });
  const scores = await stage("evaluate", () =>
    evaluate(qrels, run, metrics, { makeComparable: true }),
  );
  const searchSeconds = (timings["encode queries"] ?? 0) + (timings.search ?? 0);
  return {
    retriever: retriever.name,
    dataset: name,
    split,
    documents,
    queries: queries.length,
    k,
    metrics: scores.mean,
    timings,
    queriesPerSecond: searchSeconds > 0 ? queries.length / searchSeconds : 0,
    run,
  };
}

/** Picks `wanted` if the folder has it, else its only split (NanoBEIR ships only "train"). */
export function resolveSplit(dir: string, wanted: string): string {
  const splits = listSplits(dir);
  if (splits.includes(wanted) || splits.length !== 1) return wanted;
  return splits[0];
}

/** A plain-text table of evaluations: one row per (retriever, dataset), metrics as columns. */
export function formatResultsTable(rows: readonly BeirEvaluation[]): string {
  if (rows.length === 0) return "";
  const metricNames = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))];
  const stageNames = [...new Set(rows.flatMap((r) => Object.keys(r.timings)))];
  const header = [
    "retriever",
    "dataset",
    "docs",
    "queries",
    ...metricNames,
    ...stageNames.map((s) => `${s} s`),
    "queries/s",
  ];
  const body = rows.map((r) => [
    r.retriever,
    r.dataset,
    String(r.documents),
    String(r.queries),
    ...metricNames.map((m) => (r.metrics[m] === undefined ? "-" : r.metrics[m].toFixed(4))),
    ...stageNames.map((s) => (r.timings[s] === undefined ? "-" : r.timings[s].toFixed(2))),
    r.queriesPerSecond.toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}
