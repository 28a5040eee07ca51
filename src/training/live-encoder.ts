/**
 * Encoding with the parameters being trained (evaluation during training, GradCache): the
 * same tower graph as the training step, forward only, fed the current Float32Arrays.
 */
import { GraphSession } from "../graph/session.js";
import { type MaskOptions, type TokenizedColumn, tokenMask, towerFeeds } from "../losses/types.js";
import type { EmbeddingModel, EncodeOptions } from "../models/types.js";
import type { Matrix } from "../util/matrix.js";
import type { TokenizeFn } from "./data.js";
import { TrainingGraphBuilder } from "./graph.js";
import type { Parameter, TrainableModel } from "./parameters.js";

export class LiveEncoder {
  private constructor(
    private readonly session: GraphSession,
    private readonly parameters: readonly Parameter[],
    private readonly usesTokenTypeIds: boolean,
    /** Output dimension E. */
    readonly dim: number,
  ) {}

  static async create(
    model: TrainableModel,
    parameters: readonly Parameter[],
    options: { threads?: number } = {},
  ): Promise<LiveEncoder> {
    const b = new TrainingGraphBuilder(model);
    const t = b.tower("x");
    b.graph.output(t.embeddings, "embeddings");
    const used = new Set(b.graph.inputs.map((v) => v.name));
    const session = await GraphSession.create(b.graph, { threads: options.threads });
    return new LiveEncoder(
      session,
      parameters.filter((p) => used.has(p.name)),
      t.usesTokenTypeIds,
      model.dense.outFeatures,
    );
  }

  /** L2-normalised token embeddings [B, L, E] of a tokenized column (all positions). */
  async embed(column: TokenizedColumn): Promise<Float32Array> {
    const feeds = towerFeeds("x", column, this.usesTokenTypeIds);
    for (const p of this.parameters) feeds[p.name] = { data: p.data, dims: p.shape };
    return (await this.session.run(feeds)).embeddings.data as Float32Array;
  }

  /**
   * An EmbeddingModel over the live parameters, so the evaluation module's evaluators can run
   * during training: one Matrix per text with the tokens PyLate keeps (documents: attended and
   * not in the skiplist; queries: all 32 with expansion, else the attended ones).
   */
  asEmbeddingModel(tokenize: TokenizeFn, masks: MaskOptions): EmbeddingModel {
    return {
      encode: async (texts: string[], options: EncodeOptions = {}): Promise<Matrix[]> => {
        const isQuery = options.isQuery ?? false;
        const batch = options.batchSize ?? 32;
        const out: Matrix[] = [];
        for (let s = 0; s < texts.length; s += batch) {
          const col = tokenize(texts.slice(s, s + batch), { isQuery, pad: false });
          const emb = await this.embed(col);
          const keep = tokenMask(col, isQuery, masks);
          const E = this.dim;
          for (let r = 0; r < col.batchSize; r++) {
            const rows: number[] = [];
            for (let t = 0; t < col.seqLength; t++)
              if (keep[r * col.seqLength + t] > 0) rows.push(t);
            const data = new Float32Array(rows.length * E);
            rows.forEach((t, i) => {
              const off = (r * col.seqLength + t) * E;
              data.set(emb.subarray(off, off + E), i * E);
            });
            out.push({ data, rows: rows.length, cols: E });
          }
        }
        return out;
      },
    };
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}
