import { basename } from "node:path";
import type { MultiVectorIndex } from "../indexes/types.js";
import type { EmbeddingModel } from "../models/types.js";
import { maxSim } from "../scores/maxsim.js";
import { InvalidArgumentError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import { type BeirEvaluation, evaluateBeir, ModelRetriever, resolveSplit } from "./pipeline.js";

/** PyLate's `prefix_name_to_metrics`: `name_metric` when a name is given. */
function prefixed(name: string, metrics: Record<string, number>): Record<string, number> {
  if (!name) return metrics;
  return Object.fromEntries(Object.entries(metrics).map(([k, v]) => [`${name}_${k}`, v]));
}

export interface TripletEvaluatorOptions {
  anchors: string[];
  positives: string[];
  negatives: string[];
  /** Name for the output (PyLate's `name`). */
  name?: string;
  /** Texts per encode call (default 32, as PyLate). */
  batchSize?: number;
  showProgress?: boolean;
}

/**
 * PyLate's ColBERTTripletEvaluator: the share of triplets whose MaxSim score(anchor, positive)
 * is strictly greater than score(anchor, negative) (a tie counts as a miss), anchors encoded
 * as queries and the others as documents, scored unpadded as `colbert_scores_pairwise`.
 * Returns `{ accuracy }` (PyLate returns the bare key even when named).
 */
export class ColBERTTripletEvaluator {
  readonly name: string;
  private readonly o: TripletEvaluatorOptions;

  constructor(options: TripletEvaluatorOptions) {
    const { anchors, positives, negatives } = options;
    if (anchors.length === 0) throw new InvalidArgumentError("no triplets: anchors is empty");
    if (positives.length !== anchors.length || negatives.length !== anchors.length) {
      throw new InvalidArgumentError(
        `anchors, positives and negatives must have the same length, got ${anchors.length}, ${positives.length}, ${negatives.length}`,
      );
    }
    this.o = options;
    this.name = options.name ?? "";
  }

  async evaluate(model: EmbeddingModel): Promise<{ accuracy: number }> {
    const enc = { batchSize: this.o.batchSize ?? 32, showProgress: this.o.showProgress };
    const a = await model.encode(this.o.anchors, { ...enc, isQuery: true });
    const p = await model.encode(this.o.positives, { ...enc, isQuery: false });
    const n = await model.encode(this.o.negatives, { ...enc, isQuery: false });
    let correct = 0;
    for (let i = 0; i < a.length; i++) if (maxSim(a[i], p[i]) > maxSim(a[i], n[i])) correct++;
    return { accuracy: correct / a.length };
  }
}

export interface DistillationEvaluatorOptions {
  queries: string[];
  /** Documents per query; every query must have the same number. */
  documents: string[][];
  /** Teacher scores, one per document, same shape as `documents`. */
  scores: number[][];
  name?: string;
  /** Texts per encode call (default 16, as PyLate). */
  batchSize?: number;
  showProgress?: boolean;
  /** Min-max normalise the student scores per query before the softmax (default true). */
  normalizeScores?: boolean;
}

/**
 * PyLate's ColBERTDistillationEvaluator: KL(teacher || student) of the softmax distributions
 * over each query's documents, averaged over queries (torch KLDivLoss, reduction "batchmean",
 * log_target). Student scores are MaxSim (`colbert_kd_scores`), min-max normalised per query
 * with epsilon 1e-8 when normalizeScores; teacher scores go into the softmax as given.
 *
 * PyLate zero-pads all documents to the longest one and scores without a mask, so a padded
 * slot takes part in each query token's max as 0: for any document shorter than the longest,
 * a query token's max similarity is at least 0. We reproduce that.
 * Returns `{ kl_divergence }`, or `{ <name>_kl_divergence }` when named.
 */
export class ColBERTDistillationEvaluator {
  readonly name: string;
  private readonly o: DistillationEvaluatorOptions;

  constructor(options: DistillationEvaluatorOptions) {
    const { queries, documents, scores } = options;
    if (queries.length === 0) throw new InvalidArgumentError("no queries to evaluate");
    if (documents.length !== queries.length || scores.length !== queries.length) {
      throw new InvalidArgumentError(
        `queries, documents and scores must have the same length, got ${queries.length}, ${documents.length}, ${scores.length}`,
      );
    }
    const n = documents[0].length;
    documents.forEach((docs, i) => {
      if (docs.length !== n || scores[i].length !== n) {
        throw new InvalidArgumentError(
          `query ${i} has ${docs.length} documents and ${scores[i].length} scores; every query needs ${n} of each`,
        );
      }
      for (const s of scores[i]) {
        if (!Number.isFinite(s))
          throw new InvalidArgumentError(`query ${i}: teacher score ${s} is not finite`);
      }
    });
    if (n === 0) throw new InvalidArgumentError("every query needs at least one document");
    this.o = options;
    this.name = options.name ?? "";
  }

  async evaluate(model: EmbeddingModel): Promise<Record<string, number>> {
    const enc = { batchSize: this.o.batchSize ?? 16, showProgress: this.o.showProgress };
    const q = await model.encode(this.o.queries, { ...enc, isQuery: true });
    const docs = await model.encode(this.o.documents.flat(), { ...enc, isQuery: false });
    const padded = docs.reduce((m, d) => Math.max(m, d.rows), 0);
    const n = this.o.documents[0].length;
    let total = 0;
    for (let i = 0; i < q.length; i++) {
      let student = Array.from({ length: n }, (_, j) =>
        paddedMaxSim(q[i], docs[i * n + j], padded),
      );
      if (this.o.normalizeScores ?? true) {
        const max = Math.max(...student);
        const min = Math.min(...student);
        student = student.map((s) => (s - min) / (max - min + 1e-8));
      }
      const logP = logSoftmax(this.o.scores[i]);
      const logQ = logSoftmax(student);
      for (let j = 0; j < n; j++) total += Math.exp(logP[j]) * (logP[j] - logQ[j]);
    }
    return prefixed(this.name, { kl_divergence: total / q.length });
  }
}

/** MaxSim against a document zero-padded to `paddedRows` rows (no mask), as PyLate's KD scores. */
export function paddedMaxSim(q: Matrix, d: Matrix, paddedRows: number): number {
  if (d.rows >= paddedRows) return maxSim(q, d);
  // Each query token's max also sees the zero rows: max(best, 0).
  let total = 0;
  const E = q.cols;
  for (let i = 0; i < q.rows; i++) {
    let best = 0;
    for (let j = 0; j < d.rows; j++) {
      let s = 0;
      for (let e = 0; e < E; e++) s += q.data[i * E + e] * d.data[j * E + e];
      if (s > best) best = s;
    }
    total += best;
  }
  return total;
}

function logSoftmax(x: readonly number[]): number[] {
  const m = Math.max(...x);
  let s = 0;
  for (const v of x) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  return x.map((v) => v - lse);
}

/**
 * The metrics sentence-transformers' InformationRetrievalEvaluator reports (and so PyLate's
 * NanoBEIREvaluator), under their ranx names: accuracy@k = hit_rate@k. Values follow ranx
 * semantics (see MetricName); map@100 divides by |R| where sentence-transformers divides by
 * min(k, |R|), and the ranking is by MaxSim over the whole corpus with graded qrels.
 */
export const NANO_BEIR_METRICS: readonly string[] = [
  "hit_rate@1",
  "hit_rate@3",
  "hit_rate@5",
  "hit_rate@10",
  "precision@1",
  "precision@3",
  "precision@5",
  "precision@10",
  "recall@1",
  "recall@3",
  "recall@5",
  "recall@10",
  "ndcg@10",
  "mrr@10",
  "map@100",
];

export interface NanoBEIREvaluatorOptions {
  /** BEIR folders (jsonl or HF parquet), or named ones. Names default to the folder name. */
  datasets: (string | { name: string; dir: string })[];
  /** Qrels split; a folder with only one split (NanoBEIR: "train") uses it (default "test"). */
  split?: string;
  metrics?: string[];
  /** Results per query (default 100, enough for map@100). */
  k?: number;
  batchSize?: number;
  showProgress?: boolean;
  /** Index to search through, one per dataset; default exact in-memory MaxSim. */
  createIndex?: (dataset: string) => Promise<MultiVectorIndex>;
}

export interface NanoBEIRResult {
  /** Dataset name -> metric -> value. */
  datasets: Record<string, Record<string, number>>;
  /** Metric -> mean over datasets (each dataset weighs the same). */
  mean: Record<string, number>;
  /** sentence-transformers style flat keys: `<dataset>_MaxSim_<metric>`, `NanoBEIR_mean_MaxSim_<metric>`. */
  flat: Record<string, number>;
  /** Full per-dataset evaluations (timings, runs). */
  evaluations: BeirEvaluation[];
}

/**
 * A NanoBEIR-style evaluator: runs one model over several BEIR folders, reporting each
 * dataset and the unweighted mean, as PyLate's NanoBEIREvaluator does over the NanoBEIR sets.
 */
export class NanoBEIREvaluator {
  private readonly o: NanoBEIREvaluatorOptions;
  private readonly datasets: { name: string; dir: string }[];

  constructor(options: NanoBEIREvaluatorOptions) {
    if (options.datasets.length === 0) throw new InvalidArgumentError("no datasets given");
    this.o = options;
    this.datasets = options.datasets.map((d) =>
      typeof d === "string" ? { name: basename(d.replace(/[\\/]+$/, "")), dir: d } : d,
    );
    const names = new Set(this.datasets.map((d) => d.name));
    if (names.size !== this.datasets.length) {
      throw new InvalidArgumentError(
        `dataset names must be unique, got ${this.datasets.map((d) => d.name).join(", ")}; pass { name, dir } objects`,
      );
    }
  }

  async evaluate(model: EmbeddingModel): Promise<NanoBEIRResult> {
    const metrics = this.o.metrics ?? [...NANO_BEIR_METRICS];
    const evaluations: BeirEvaluation[] = [];
    for (const d of this.datasets) {
      const createIndex = this.o.createIndex;
      const retriever = new ModelRetriever(model, {
        batchSize: this.o.batchSize,
        showProgress: this.o.showProgress,
        name: "MaxSim",
        createIndex: createIndex ? () => createIndex(d.name) : undefined,
      });
      try {
        const ev = await evaluateBeir(retriever, d.dir, {
          split: resolveSplit(d.dir, this.o.split ?? "test"),
          metrics,
          k: this.o.k ?? 100,
        });
        evaluations.push({ ...ev, dataset: d.name });
      } finally {
        await retriever.close();
      }
    }
    const datasets: Record<string, Record<string, number>> = {};
    const mean: Record<string, number> = {};
    const flat: Record<string, number> = {};
    for (const ev of evaluations) {
      datasets[ev.dataset] = ev.metrics;
      for (const m of metrics) flat[`${ev.dataset}_MaxSim_${m}`] = ev.metrics[m];
    }
    for (const m of metrics) {
      mean[m] = evaluations.reduce((s, ev) => s + ev.metrics[m], 0) / evaluations.length;
      flat[`NanoBEIR_mean_MaxSim_${m}`] = mean[m];
    }
    return { datasets, mean, flat, evaluations };
  }
}
