import { type Qrels, type Run, rankDocuments } from "../io/trec.js";
import { InvalidArgumentError } from "../util/errors.js";

export { type Qrels, type Run, rankDocuments };

/**
 * The metrics tslate computes, named as in ranx (`ndcg@10`, `map@100`, `recall@100`, ...).
 *
 * Semantics follow ranx 0.3's metric functions (AmenRa/ranx), which match trec_eval on
 * integer judgements. For one query, with `R` = the judged documents whose relevance is at
 * least `relLevel` (default 1; written `ndcg@10-l2` for 2, as in ranx) and the run cut at
 * `k` (k = 0 or no `@k` means the whole run):
 *  - `hits@k`: number of documents of R in the top k.
 *  - `hit_rate@k`: 1 if any document of R is in the top k, else 0 (trec_eval `success`).
 *  - `precision@k`: hits@k / k (k, not the run length, when the run is shorter; trec_eval
 *    `P_k`). Without `@k`: hits / run length.
 *  - `recall@k`: hits@k / |R|.
 *  - `mrr@k`: 1 / rank of the first document of R in the top k, 0 if none (ranx's docstring
 *    says k is ignored, but its code cuts at k, and so do we).
 *  - `map@k`: sum of precision@i over the ranks i <= k holding a document of R, divided by |R|
 *    (not by min(k, |R|): that is sentence-transformers' variant, which gives higher values).
 *  - `ndcg@k`: DCG@k / IDCG@k with LINEAR gain (Järvelin & Kekäläinen): DCG = sum over ranks i
 *    of rel_i / log2(i + 1), where rel_i is the judged relevance if >= relLevel, else 0. IDCG is
 *    the DCG of the judged documents sorted by relevance. This is ranx's `ndcg` and
 *    trec_eval's `ndcg_cut` (pytrec_eval, hence BEIR's numbers).
 *  - `ndcg_burges@k`: the same with exponential gain 2^rel - 1 (ranx `ndcg_burges`). On binary
 *    qrels both gains are equal.
 * A query whose judgements hold no relevant document (R empty) scores 0 on every metric and
 * still counts in the mean, as in ranx.
 *
 * Ties: documents are ranked by score descending, and equal scores by document id descending
 * (code-unit order), which is trec_eval's rule and so BEIR's. ranx itself sorts with numpy's
 * non-stable argsort and leaves the order of tied documents unspecified; any tie order gives
 * the same value only when tied documents have the same relevance.
 */
export type MetricName =
  | "ndcg"
  | "ndcg_burges"
  | "map"
  | "recall"
  | "precision"
  | "mrr"
  | "hits"
  | "hit_rate";

const METRIC_NAMES: readonly MetricName[] = [
  "ndcg",
  "ndcg_burges",
  "map",
  "recall",
  "precision",
  "mrr",
  "hits",
  "hit_rate",
];

/** A parsed metric string: `ndcg@10` -> { name: "ndcg", k: 10, relLevel: 1 }. */
export interface MetricSpec {
  /** The string as the user wrote it; the key of results. */
  label: string;
  name: MetricName;
  /** Cutoff; 0 = the whole run. */
  k: number;
  /** Minimum judged relevance that counts as relevant. */
  relLevel: number;
}

/** Parses `name[@k][-lN]` as ranx does, with a clear error for unknown names or bad k. */
export function parseMetric(label: string): MetricSpec {
  const m = /^([a-z][a-z0-9_]*)(?:@(\d+))?(?:-l(-?\d+))?$/.exec(label.trim());
  if (!m) {
    throw new InvalidArgumentError(
      `metric "${label}" is not of the form name[@k][-lN], e.g. ndcg@10, map@100, recall@100-l2`,
    );
  }
  const name = m[1] as MetricName;
  if (!METRIC_NAMES.includes(name)) {
    throw new InvalidArgumentError(
      `unknown metric "${m[1]}" in "${label}"; known metrics: ${METRIC_NAMES.join(", ")}`,
    );
  }
  const k = m[2] === undefined ? 0 : Number(m[2]);
  const relLevel = m[3] === undefined ? 1 : Number(m[3]);
  return { label: label.trim(), name, k, relLevel };
}

/**
 * One metric for one query. `ranked` is the run's document ids, best first (see
 * rankDocuments); `judged` the query's judgements (possibly empty).
 */
export function metricForQuery(
  spec: MetricSpec,
  ranked: readonly string[],
  judged: Map<string, number> | undefined,
): number {
  const relevant = new Map<string, number>();
  if (judged) for (const [doc, rel] of judged) if (rel >= spec.relLevel) relevant.set(doc, rel);
  if (relevant.size === 0) return 0;
  const n = spec.k === 0 || spec.k > ranked.length ? ranked.length : spec.k;
  switch (spec.name) {
    case "hits":
      return countHits(ranked, n, relevant);
    case "hit_rate":
      return countHits(ranked, n, relevant) > 0 ? 1 : 0;
    case "precision": {
      const denom = spec.k === 0 ? ranked.length : spec.k;
      return denom === 0 ? 0 : countHits(ranked, n, relevant) / denom;
    }
    case "recall":
      return countHits(ranked, n, relevant) / relevant.size;
    case "mrr":
      for (let i = 0; i < n; i++) if (relevant.has(ranked[i])) return 1 / (i + 1);
      return 0;
    case "map": {
      let hits = 0;
      let sum = 0;
      for (let i = 0; i < n; i++) {
        if (relevant.has(ranked[i])) {
          hits++;
          sum += hits / (i + 1);
        }
      }
      return sum / relevant.size;
    }
    case "ndcg":
    case "ndcg_burges": {
      const gain = spec.name === "ndcg" ? (r: number) => r : (r: number) => 2 ** r - 1;
      let dcg = 0;
      for (let i = 0; i < n; i++) {
        const rel = relevant.get(ranked[i]);
        if (rel !== undefined) dcg += gain(rel) / Math.log2(i + 2);
      }
      // ranx cuts the ideal list at k over all judged documents of the query.
      const ideal = [...relevant.values()].sort((a, b) => b - a);
      const judgedCount = judged ? judged.size : 0;
      const m = spec.k === 0 || spec.k > judgedCount ? judgedCount : spec.k;
      let idcg = 0;
      for (let i = 0; i < Math.min(m, ideal.length); i++) idcg += gain(ideal[i]) / Math.log2(i + 2);
      return idcg === 0 ? 0 : dcg / idcg;
    }
  }
}

function countHits(ranked: readonly string[], n: number, relevant: Map<string, number>): number {
  let hits = 0;
  for (let i = 0; i < n; i++) if (relevant.has(ranked[i])) hits++;
  return hits;
}

export interface EvaluateOptions {
  /**
   * As ranx's `make_comparable`: evaluate exactly the queries of the qrels, giving an empty
   * result list to those missing from the run and ignoring run queries without judgements.
   * When false (ranx's default), the two query sets must be equal.
   */
  makeComparable?: boolean;
}

export interface EvaluationResult {
  /** Metric label -> mean over queries. */
  mean: Record<string, number>;
  /** Metric label -> query id -> value. */
  perQuery: Record<string, Map<string, number>>;
  /** Number of queries averaged over. */
  queries: number;
}

/**
 * Evaluates a run against qrels, like `ranx.evaluate(qrels, run, metrics)`. Every query is
 * weighted equally; see MetricName for each metric's definition.
 */
export function evaluate(
  qrels: Qrels,
  run: Run,
  metrics: readonly string[],
  options: EvaluateOptions = {},
): EvaluationResult {
  if (metrics.length === 0) {
    throw new InvalidArgumentError("no metrics given; pass e.g. ['ndcg@10', 'recall@100']");
  }
  const specs = metrics.map(parseMetric);
  let queryIds: string[];
  if (options.makeComparable) {
    queryIds = [...qrels.keys()];
  } else {
    const missing = [...qrels.keys()].filter((q) => !run.has(q));
    const extra = [...run.keys()].filter((q) => !qrels.has(q));
    if (missing.length > 0 || extra.length > 0) {
      throw new InvalidArgumentError(
        `qrels and run query ids do not match: ${missing.length} qrels queries are not in the run` +
          ` (e.g. ${missing.slice(0, 3).join(", ") || "-"}), ${extra.length} run queries have no` +
          ` qrels (e.g. ${extra.slice(0, 3).join(", ") || "-"}); pass makeComparable: true` +
          " (CLI: --make-comparable) to evaluate the qrels' queries only",
      );
    }
    queryIds = [...qrels.keys()];
  }
  if (queryIds.length === 0) {
    throw new InvalidArgumentError("the qrels hold no query; nothing to evaluate");
  }
  const perQuery: Record<string, Map<string, number>> = {};
  const mean: Record<string, number> = {};
  for (const s of specs) perQuery[s.label] = new Map();
  for (const q of queryIds) {
    const results = run.get(q);
    const ranked = results ? rankDocuments(results) : [];
    const judged = qrels.get(q);
    for (const s of specs) perQuery[s.label].set(q, metricForQuery(s, ranked, judged));
  }
  for (const s of specs) {
    let sum = 0;
    for (const v of perQuery[s.label].values()) sum += v;
    mean[s.label] = sum / queryIds.length;
  }
  return { mean, perQuery, queries: queryIds.length };
}
