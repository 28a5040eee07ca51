/**
 * PyLate's Contrastive loss (`pylate.losses.Contrastive`): cross-entropy over the scores of
 * each query against every document of the batch (its positive, its hard negatives and the
 * other queries' documents), divided by a temperature.
 *
 * Layout: with N documents per query (positive + N-1 negatives), scores are [B, B·N] with
 * column j·N+k = document slot k of example j, and the label of query i is i·N.
 */
import type { Graph, Value } from "../graph/ir.js";
import type { Feed } from "../graph/session.js";
import { InvalidArgumentError, ShapeError } from "../util/errors.js";
import { colbertScoresGraph } from "./scores.js";
import {
  type ColBERTLoss,
  checkColumn,
  interleaveColumns,
  type LossGraph,
  type LossGraphBuilder,
  type MaskOptions,
  type TokenizedColumn,
  tokenMask,
  towerFeeds,
} from "./types.js";

export interface ContrastiveOptions {
  /** Scores are divided by it before the softmax (default 1.0, PyLate's default). */
  readonly temperature?: number;
  /** Mean over queries (true, default) or sum. */
  readonly sizeAverage?: boolean;
}

/** A contrastive batch: queries [B] and N document columns [B] (positive first). */
export interface ContrastiveBatch {
  readonly queries: TokenizedColumn;
  readonly documents: readonly TokenizedColumn[];
}

export class Contrastive implements ColBERTLoss<ContrastiveBatch> {
  readonly name: string = "Contrastive";
  readonly temperature: number;
  readonly sizeAverage: boolean;

  constructor(options: ContrastiveOptions = {}) {
    this.temperature = options.temperature ?? 1.0;
    this.sizeAverage = options.sizeAverage ?? true;
    if (!(this.temperature > 0) || !Number.isFinite(this.temperature)) {
      throw new InvalidArgumentError(
        `Contrastive temperature must be a positive number, got ${options.temperature}`,
      );
    }
  }

  build(b: LossGraphBuilder): LossGraph {
    const q = b.tower("query");
    const d = b.tower("document");
    return this.buildOnEmbeddings(b.graph, q.embeddings, d.embeddings);
  }

  /**
   * The loss over given token embeddings Q [B, Lq, E] and D [B·N, Ld, E] (normalised), with
   * inputs query_mask, document_mask and the one-hot target [B, B·N].
   */
  buildOnEmbeddings(g: Graph, q: Value, d: Value): LossGraph {
    const qMask = g.input("query_mask", "float32", ["query_batch", "query_seq"]);
    const dMask = g.input("document_mask", "float32", ["document_batch", "document_seq"]);
    // One-hot labels [B, B·N]: cross-entropy = -Σ target·log_softmax.
    const target = g.input("target", "float32", ["query_batch", "document_batch"]);
    const scores = colbertScoresGraph(g, q, qMask, d, dMask);
    const logits = this.temperature === 1 ? scores : g.div(scores, this.temperature);
    const logp = g.op("LogSoftmax", [logits], { axis: 1 });
    const nll = g.unary("Neg", g.reduce("ReduceSum", g.mul(logp, target), [1], false));
    const loss = g.reduce(this.sizeAverage ? "ReduceMean" : "ReduceSum", nll, [0], false);
    return { loss, outputs: { scores } };
  }

  size(batch: ContrastiveBatch): number {
    return batch.queries.batchSize;
  }

  feeds(
    batch: ContrastiveBatch,
    masks: MaskOptions,
    usesTokenTypeIds: boolean,
  ): Record<string, Feed> {
    checkColumn(batch.queries, "queries");
    if (batch.documents.length < 1)
      throw new ShapeError(
        "a contrastive batch needs at least one document column (the positives)",
      );
    batch.documents.forEach((c, k) => {
      checkColumn(c, `documents[${k}]`);
      if (c.batchSize !== batch.queries.batchSize) {
        throw new ShapeError(
          `documents[${k}] has ${c.batchSize} rows, the queries ${batch.queries.batchSize}: every query needs one document per column`,
        );
      }
    });
    const docs = interleaveColumns(batch.documents);
    return {
      ...towerFeeds("query", batch.queries, usesTokenTypeIds),
      ...towerFeeds("document", docs, usesTokenTypeIds),
      ...this.lossFeeds(batch.queries, docs, batch.documents.length, masks),
    };
  }

  /** query_mask, document_mask and target for B queries and their B·N interleaved documents. */
  lossFeeds(
    queries: TokenizedColumn,
    docs: TokenizedColumn,
    n: number,
    masks: MaskOptions,
  ): Record<string, Feed> {
    const B = queries.batchSize;
    const target = new Float32Array(B * B * n);
    for (let i = 0; i < B; i++) target[i * B * n + i * n] = 1;
    return {
      query_mask: { data: tokenMask(queries, true, masks), dims: [B, queries.seqLength] },
      document_mask: {
        data: tokenMask(docs, false, masks),
        dims: [docs.batchSize, docs.seqLength],
      },
      target: { data: target, dims: [B, B * n] },
    };
  }
}
