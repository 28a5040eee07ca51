/**
 * PyLate's Distillation loss (`pylate.losses.Distillation`): KL divergence between the
 * teacher's score distribution and the student's, over each query's own documents.
 *
 *   s = colbert_kd_scores(Q, D)                     [B, K]
 *   s = (s − min_k s) / (max_k s − min_k s + 1e-8)   when normalizeScores (default)
 *   loss = Σ_ik exp(t_ik)·(t_ik − log_softmax(s)_ik) / B,   t = log_softmax(teacher)
 * (KLDivLoss(reduction="batchmean", log_target=True)).
 */
import type { Feed } from "../graph/session.js";
import { DataError, ShapeError } from "../util/errors.js";
import { colbertKdScoresGraph } from "./scores.js";
import {
  type ColBERTLoss,
  checkColumn,
  type LossGraph,
  type LossGraphBuilder,
  type MaskOptions,
  type TokenizedColumn,
  tokenMask,
  towerFeeds,
} from "./types.js";

export interface DistillationOptions {
  /** Min-max normalise the student scores per query (default true). */
  readonly normalizeScores?: boolean;
  /** Documents per query (K); fixed when the graph is built. */
  readonly documentsPerQuery: number;
}

/** queries [B]; documents [B·K], query-major (rows i·K..i·K+K-1 belong to query i). */
export interface DistillationBatch {
  readonly queries: TokenizedColumn;
  readonly documents: TokenizedColumn;
  /** Teacher scores [B·K], same order as the documents. */
  readonly teacherScores: Float32Array;
}

/** log_softmax over each row of K values, in float64. */
function logSoftmaxRows(x: Float32Array, k: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length; r += k) {
    let m = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < k; j++) m = Math.max(m, x[r + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(x[r + j] - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < k; j++) out[r + j] = x[r + j] - lse;
  }
  return out;
}

export class Distillation implements ColBERTLoss<DistillationBatch> {
  readonly name = "Distillation";
  readonly normalizeScores: boolean;
  readonly documentsPerQuery: number;

  constructor(options: DistillationOptions) {
    this.normalizeScores = options.normalizeScores ?? true;
    this.documentsPerQuery = options.documentsPerQuery;
    if (!Number.isInteger(this.documentsPerQuery) || this.documentsPerQuery < 1) {
      throw new ShapeError(
        `Distillation documentsPerQuery must be a positive integer, got ${options.documentsPerQuery}`,
      );
    }
  }

  build(b: LossGraphBuilder): LossGraph {
    const g = b.graph;
    const k = this.documentsPerQuery;
    const q = b.tower("query");
    const d = b.tower("document");
    const qMask = g.input("query_mask", "float32", ["query_batch", "query_seq"]);
    const dMask = g.input("document_mask", "float32", ["document_batch", "document_seq"]);
    const teacher = g.input("teacher_log_probs", "float32", ["query_batch", k]);
    const raw = colbertKdScoresGraph(g, q.embeddings, qMask, d.embeddings, dMask, k);
    let s = raw;
    if (this.normalizeScores) {
      const max = g.reduce("ReduceMax", raw, [1], true);
      const min = g.unary("Neg", g.reduce("ReduceMax", g.unary("Neg", raw), [1], true));
      s = g.div(g.sub(raw, min), g.add(g.sub(max, min), 1e-8));
    }
    const logp = g.op("LogSoftmax", [s], { axis: 1 });
    const kl = g.reduce(
      "ReduceSum",
      g.mul(g.unary("Exp", teacher), g.sub(teacher, logp)),
      [0, 1],
      false,
    );
    const loss = g.div(kl, g.cast(g.squeeze(g.shapeOf(raw, 0, 1), [0]), "float32"));
    return { loss, outputs: { student_scores_raw: raw, student_scores: s } };
  }

  size(batch: DistillationBatch): number {
    return batch.queries.batchSize;
  }

  feeds(
    batch: DistillationBatch,
    masks: MaskOptions,
    usesTokenTypeIds: boolean,
  ): Record<string, Feed> {
    const k = this.documentsPerQuery;
    checkColumn(batch.queries, "queries");
    checkColumn(batch.documents, "documents");
    const B = batch.queries.batchSize;
    if (batch.documents.batchSize !== B * k) {
      throw new ShapeError(
        `Distillation: ${B} queries need ${B} × ${k} documents, got ${batch.documents.batchSize}`,
      );
    }
    if (batch.teacherScores.length !== B * k) {
      throw new ShapeError(
        `Distillation: teacherScores has ${batch.teacherScores.length} values, expected ${B * k}`,
      );
    }
    if (!batch.teacherScores.every(Number.isFinite))
      throw new DataError("Distillation: teacher scores must be finite numbers");
    return {
      ...towerFeeds("query", batch.queries, usesTokenTypeIds),
      ...towerFeeds("document", batch.documents, usesTokenTypeIds),
      query_mask: {
        data: tokenMask(batch.queries, true, masks),
        dims: [B, batch.queries.seqLength],
      },
      document_mask: {
        data: tokenMask(batch.documents, false, masks),
        dims: [B * k, batch.documents.seqLength],
      },
      teacher_log_probs: { data: logSoftmaxRows(batch.teacherScores, k), dims: [B, k] },
    };
  }
}
