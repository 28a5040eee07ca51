/**
 * Encoding with the parameters being trained (evaluation during training, GradCache): the
 * same tower graph as the training step, forward only, fed the current Float32Arrays.
 */
import { GraphSession } from "../graph/session.js";
import { type TokenizedColumn, towerFeeds } from "../losses/types.js";
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

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}
