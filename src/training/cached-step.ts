/**
 * The GradCache step of CachedContrastive (see src/losses/cached-contrastive.ts). Three
 * sessions over the same tower graph: encode (no gradients), the loss on embeddings (with
 * the gradient w.r.t. the embeddings), and encode-and-backpropagate-an-upstream-gradient
 * (Σ embeddings·upstream differentiated w.r.t. the parameters).
 *
 * Memory: activations of one mini-batch at a time, plus the batch's embeddings
 * (B·(Lq + N·Ld)·E floats: 16·(32 + 2·180)·128·4 B ≈ 3.2 MB).
 */
import { gradients } from "../graph/autodiff.js";
import { Graph } from "../graph/ir.js";
import type { Feed } from "../graph/session.js";
import { GraphSession } from "../graph/session.js";
import { type CachedContrastive, sliceColumn } from "../losses/cached-contrastive.js";
import type { ContrastiveBatch } from "../losses/contrastive.js";
import {
  interleaveColumns,
  type MaskOptions,
  type TokenizedColumn,
  towerFeeds,
} from "../losses/types.js";
import { TrainingGraphBuilder } from "./graph.js";
import { markNoDecay, type Parameter, readParameters, type TrainableModel } from "./parameters.js";
import {
  readGradient,
  type StepResult,
  TRAINING_SESSION_OPTIONS,
  type TrainingStepLike,
} from "./step.js";

export class CachedContrastiveStep implements TrainingStepLike<ContrastiveBatch> {
  private constructor(
    private readonly encode: GraphSession,
    private readonly backward: GraphSession,
    private readonly lossSession: GraphSession,
    readonly loss: CachedContrastive,
    readonly parameters: Parameter[],
    readonly usesTokenTypeIds: boolean,
    private readonly dim: number,
  ) {}

  static async create(
    model: TrainableModel,
    loss: CachedContrastive,
    options: { threads?: number; parameters?: Parameter[] } = {},
  ): Promise<CachedContrastiveStep> {
    const threads = options.threads;
    const enc = new TrainingGraphBuilder(model);
    const t = enc.tower("x");
    enc.graph.output(t.embeddings, "embeddings");

    const bwd = new TrainingGraphBuilder(model);
    const tb = bwd.tower("x");
    const e = model.dense.outFeatures;
    const upstream = bwd.graph.input("upstream", "float32", ["x_batch", "x_seq", e]);
    const surrogate = bwd.graph.reduce(
      "ReduceSum",
      bwd.graph.mul(tb.embeddings, upstream),
      [0, 1, 2],
      false,
    );
    const names = bwd.finish(surrogate);

    const lg = new Graph("tslate-cached-loss");
    const q = lg.input("q_emb", "float32", ["query_batch", "query_seq", e]);
    const d = lg.input("d_emb", "float32", ["document_batch", "document_seq", e]);
    const built = loss.buildOnEmbeddings(lg, q, d);
    const [gq, gd] = gradients(lg, built.loss, [q, d]);
    lg.output(built.loss, "loss");
    lg.output(built.outputs.scores, "scores");
    lg.output(gq, "grad_q");
    lg.output(gd, "grad_d");

    const params = options.parameters ?? readParameters(model, names);
    markNoDecay(bwd.graph, params);
    const [s1, s2, s3] = await Promise.all([
      GraphSession.create(enc.graph, { threads }),
      GraphSession.create(bwd.graph, { threads, ...TRAINING_SESSION_OPTIONS }),
      GraphSession.create(lg, { threads }),
    ]);
    return new CachedContrastiveStep(
      s1,
      s2,
      s3,
      loss,
      params,
      enc.builder.usesTokenTypeIds(model.config),
      e,
    );
  }

  private paramFeeds(): Record<string, Feed> {
    const f: Record<string, Feed> = {};
    for (const p of this.parameters) f[p.name] = { data: p.data, dims: p.shape };
    return f;
  }

  private chunks(c: TokenizedColumn): TokenizedColumn[] {
    const out: TokenizedColumn[] = [];
    for (let s = 0; s < c.batchSize; s += this.loss.miniBatchSize) {
      out.push(sliceColumn(c, s, Math.min(s + this.loss.miniBatchSize, c.batchSize)));
    }
    return out;
  }

  private async embed(c: TokenizedColumn, params: Record<string, Feed>): Promise<Float32Array> {
    const out = new Float32Array(c.batchSize * c.seqLength * this.dim);
    let off = 0;
    for (const part of this.chunks(c)) {
      const r = await this.encode.run({
        ...params,
        ...towerFeeds("x", part, this.usesTokenTypeIds),
      });
      const e = r.embeddings.data as Float32Array;
      out.set(e, off);
      off += e.length;
    }
    return out;
  }

  private async backpropagate(
    c: TokenizedColumn,
    upstream: Float32Array,
    params: Record<string, Feed>,
    sums: Float32Array[],
  ): Promise<void> {
    let off = 0;
    for (const part of this.chunks(c)) {
      const n = part.batchSize * part.seqLength * this.dim;
      const r = await this.backward.run({
        ...params,
        ...towerFeeds("x", part, this.usesTokenTypeIds),
        upstream: {
          data: upstream.subarray(off, off + n),
          dims: [part.batchSize, part.seqLength, this.dim],
        },
      });
      off += n;
      this.parameters.forEach((p, i) => {
        readGradient(r, p, sums[i]);
      });
    }
  }

  async run(batch: ContrastiveBatch, masks: MaskOptions): Promise<StepResult> {
    this.loss.feeds(batch, masks, this.usesTokenTypeIds); // validates the batch
    const docs = interleaveColumns(batch.documents);
    const params = this.paramFeeds();
    const qEmb = await this.embed(batch.queries, params);
    const dEmb = await this.embed(docs, params);
    const r = await this.lossSession.run({
      q_emb: { data: qEmb, dims: [batch.queries.batchSize, batch.queries.seqLength, this.dim] },
      d_emb: { data: dEmb, dims: [docs.batchSize, docs.seqLength, this.dim] },
      ...this.loss.lossFeeds(batch.queries, docs, batch.documents.length, masks),
    });
    const sums = this.parameters.map((p) => new Float32Array(p.data.length));
    await this.backpropagate(batch.queries, r.grad_q.data as Float32Array, params, sums);
    await this.backpropagate(docs, r.grad_d.data as Float32Array, params, sums);
    return { loss: (r.loss.data as Float32Array)[0], grads: sums, outputs: { scores: r.scores } };
  }

  async dispose(): Promise<void> {
    await Promise.all([this.encode.dispose(), this.backward.dispose(), this.lossSession.dispose()]);
  }
}
