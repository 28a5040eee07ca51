/**
 * Evaluation during training: exact (brute-force) MaxSim retrieval over a BEIR corpus with
 * the parameters being trained, scored with the evaluation module's metrics (ranx semantics).
 *
 * Documents are encoded once per evaluation with LiveEncoder; scores come from a small ORT
 * graph: S[q, d] = Σ_i max_j (q_i·d_j + bias_dj), bias = 0 on kept tokens (attention and not
 * a skiplist id) and −1e4 elsewhere, so a dropped token never wins a max (PLAID's exact
 * MaxSim over kept tokens; embeddings are unit vectors, so real similarities are ≥ −1).
 *
 * Memory per scoring call: 32 queries × 32 tokens × 128 docs × 180 tokens × 4 B ≈ 94 MB.
 */

import { evaluate, type Run } from "../evaluation/metrics.js";
import { Graph } from "../graph/ir.js";
import { GraphSession } from "../graph/session.js";
import type { BeirDataset, BeirDocument, BeirQuery } from "../io/beir.js";
import { documentText } from "../io/beir.js";
import { type MaskOptions, type TokenizedColumn, tokenMask } from "../losses/types.js";
import type { EmbeddingModel } from "../models/types.js";
import {
  type MiningOptions,
  type TokenizeFn,
  type TripletExample,
  tripletsFromRankings,
} from "./data.js";
import { LiveEncoder } from "./live-encoder.js";
import type { EvaluationContext, Evaluator } from "./trainer.js";

const QUERY_CHUNK = 32;
const DOC_CHUNK = 128;

export interface RetrievalEvaluatorOptions {
  /** Metrics for `evaluate` (default ["ndcg@10"]). */
  readonly metrics?: readonly string[];
  /** Documents retrieved per query (default 100). */
  readonly k?: number;
  readonly threads?: number;
  /** Called with progress messages. */
  readonly log?: (message: string) => void;
}

interface EncodedChunk {
  ids: string[];
  data: Float32Array;
  bias: Float32Array;
  rows: number;
  seq: number;
}

async function scoringSession(dim: number, threads?: number): Promise<GraphSession> {
  const g = new Graph("maxsim");
  const q = g.input("q", "float32", ["nq", "lq", dim]);
  const d = g.input("d", "float32", ["nd", "ld", dim]);
  const bias = g.input("bias", "float32", ["nd", "ld"]);
  const sim = g.gemm(g.reshape(q, [-1, dim]), g.reshape(d, [-1, dim]), null, { transB: 1 });
  const s4 = g.reshape(sim, g.concat([g.shapeOf(q, 0, 2), g.shapeOf(d, 0, 2)], 0));
  const best = g.reduce("ReduceMax", g.add(s4, g.unsqueeze(bias, [0, 1])), [3], false);
  g.output(g.reduce("ReduceSum", best, [1], false), "scores");
  return GraphSession.create(g, { threads });
}

/** Top-k insertion into a small sorted list (descending). */
function pushTop(
  list: { id: string; score: number }[],
  id: string,
  score: number,
  k: number,
): void {
  if (list.length === k && score <= list[k - 1].score) return;
  let i = list.length;
  if (list.length < k) list.push({ id, score });
  else i = k - 1;
  while (i > 0 && list[i - 1].score < score) {
    list[i] = list[i - 1];
    i--;
  }
  list[i] = { id, score };
}

/**
 * Exact MaxSim retrieval: the `k` best documents of `corpus` for each query, with the
 * parameters of `ctx` (query id → document id → score).
 */
export async function retrieveExact(
  ctx: EvaluationContext,
  corpus: readonly BeirDocument[],
  queries: readonly BeirQuery[],
  tokenize: TokenizeFn,
  masks: MaskOptions,
  options: { k?: number; threads?: number; log?: (message: string) => void } = {},
): Promise<Run> {
  const k = options.k ?? 100;
  const encoder = await LiveEncoder.create(ctx.model, ctx.parameters, { threads: options.threads });
  const scorer = await scoringSession(encoder.dim, options.threads);
  try {
    // Documents sorted by length so that each chunk is padded little.
    const docs = [...corpus].sort((a, b) => documentText(a).length - documentText(b).length);
    const chunks: EncodedChunk[] = [];
    for (let s = 0; s < docs.length; s += DOC_CHUNK) {
      const part = docs.slice(s, s + DOC_CHUNK);
      const col: TokenizedColumn = tokenize(part.map(documentText), { isQuery: false, pad: false });
      const data = await encoder.embed(col);
      const keep = tokenMask(col, false, masks);
      const bias = keep.map((m) => (m > 0 ? 0 : -1e4));
      chunks.push({
        ids: part.map((d) => d.id),
        data,
        bias,
        rows: col.batchSize,
        seq: col.seqLength,
      });
      options.log?.(`encoded ${Math.min(s + DOC_CHUNK, docs.length)}/${docs.length} documents`);
    }
    const run: Run = new Map();
    for (let s = 0; s < queries.length; s += QUERY_CHUNK) {
      const part = queries.slice(s, s + QUERY_CHUNK);
      const col = tokenize(
        part.map((q) => q.text),
        { isQuery: true, pad: true },
      );
      let q = await encoder.embed(col);
      if (!masks.doQueryExpansion) {
        // Without expansion PyLate keeps only attended query tokens: a zero vector scores 0
        // against every kept document token, so it adds nothing to any document's score.
        const m = tokenMask(col, true, masks);
        q = q.map((x, i) => x * m[Math.floor(i / encoder.dim)]);
      }
      const tops = part.map(() => [] as { id: string; score: number }[]);
      for (const c of chunks) {
        const r = await scorer.run({
          q: { data: q, dims: [col.batchSize, col.seqLength, encoder.dim] },
          d: { data: c.data, dims: [c.rows, c.seq, encoder.dim] },
          bias: { data: c.bias, dims: [c.rows, c.seq] },
        });
        const scores = r.scores.data as Float32Array;
        for (let i = 0; i < part.length; i++) {
          for (let j = 0; j < c.rows; j++) pushTop(tops[i], c.ids[j], scores[i * c.rows + j], k);
        }
      }
      part.forEach((query, i) => {
        run.set(query.id, new Map(tops[i].map((t) => [t.id, t.score])));
      });
    }
    return run;
  } finally {
    await encoder.dispose();
    await scorer.dispose();
  }
}

/**
 * Exact MaxSim retrieval of `dataset.queries` over `dataset.corpus` with the parameters of
 * `ctx`, evaluated against `dataset.qrels`. Returns metric label → mean.
 */
export async function evaluateRetrieval(
  ctx: EvaluationContext,
  dataset: BeirDataset,
  tokenize: TokenizeFn,
  masks: MaskOptions,
  options: RetrievalEvaluatorOptions = {},
): Promise<Record<string, number>> {
  const run = await retrieveExact(ctx, dataset.corpus, dataset.queries, tokenize, masks, options);
  return evaluate(dataset.qrels, run, options.metrics ?? ["ndcg@10"], { makeComparable: true })
    .mean;
}

/**
 * Hard negatives from a model instead of BM25: one triplet per judged (query, positive) pair,
 * negatives = the model's best-scored documents that are not judged relevant (ranks
 * skipTop.. in order), retrieved exactly with the parameters of `ctx`.
 */
export async function mineHardNegativesWithModel(
  ctx: EvaluationContext,
  dataset: BeirDataset,
  tokenize: TokenizeFn,
  masks: MaskOptions,
  options: MiningOptions & { threads?: number } = {},
): Promise<TripletExample[]> {
  const run = await retrieveExact(ctx, dataset.corpus, dataset.queries, tokenize, masks, {
    k: options.depth ?? 100,
    threads: options.threads,
  });
  const ranking = (q: BeirQuery) =>
    [...(run.get(q.id) ?? new Map<string, number>()).entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([id]) => id);
  return tripletsFromRankings(
    dataset.corpus,
    dataset.queries,
    dataset.qrels,
    ranking,
    options,
    "candidates",
  );
}

/** An Evaluator for the Trainer that runs `evaluateRetrieval` on `dataset`. */
export function retrievalEvaluator(
  dataset: BeirDataset,
  tokenize: TokenizeFn,
  masks: MaskOptions,
  options: RetrievalEvaluatorOptions = {},
): Evaluator {
  return (ctx) => evaluateRetrieval(ctx, dataset, tokenize, masks, options);
}

/**
 * An Evaluator that runs any EmbeddingModel-based evaluator of src/evaluation/ (e.g.
 * ColBERTTripletEvaluator, NanoBEIREvaluator) on the live parameters.
 */
export function modelEvaluator(
  tokenize: TokenizeFn,
  masks: MaskOptions,
  run: (model: EmbeddingModel) => Promise<Record<string, number>>,
  options: { threads?: number } = {},
): Evaluator {
  return async (ctx) => {
    const encoder = await LiveEncoder.create(ctx.model, ctx.parameters, options);
    try {
      return await run(encoder.asEmbeddingModel(tokenize, masks));
    } finally {
      await encoder.dispose();
    }
  };
}
