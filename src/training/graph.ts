/**
 * The training graph: the backbone the inference path uses (same builder, same IR), with its
 * weights as graph inputs, followed by Dense, L2 normalisation and a loss; `gradients`
 * appends the backward pass, so one onnxruntime session returns the loss and every
 * parameter's gradient.
 *
 * A "tower" is one encoder pass over a group of texts (queries, or documents): it has its own
 * int64 inputs `<name>_input_ids`, `<name>_attention_mask`[, `<name>_token_type_ids`] of
 * shape [<name>_batch, <name>_seq], and shares the parameter inputs with the other towers.
 */
import { gradientParts } from "../graph/autodiff.js";
import { Graph, type Value } from "../graph/ir.js";
import type { LossGraphBuilder } from "../losses/types.js";
import { linear } from "../models/backbones/common.js";
import type { BackboneBuilder } from "../models/backbones/types.js";
import {
  backboneBuilder,
  DENSE_BIAS,
  DENSE_WEIGHT,
  markNoDecay,
  type Parameter,
  ParameterLoader,
  readParameters,
  type TrainableModel,
} from "./parameters.js";

export interface Tower {
  readonly name: string;
  /** [batch, seq, E], L2-normalised per token. */
  readonly embeddings: Value;
  readonly usesTokenTypeIds: boolean;
}

export class TrainingGraphBuilder implements LossGraphBuilder {
  readonly graph = new Graph("tslate-train");
  readonly loader: ParameterLoader;
  readonly builder: BackboneBuilder;
  private denseWeight: Value | null = null;
  private denseBias: Value | null = null;

  constructor(readonly model: TrainableModel) {
    this.builder = backboneBuilder(model.config);
    this.loader = new ParameterLoader(this.graph, model.weights);
  }

  /** Adds one encoder pass (backbone → Dense → normalize) over a new group of inputs. */
  tower(name: string): Tower {
    const g = this.graph;
    const dims = [`${name}_batch`, `${name}_seq`];
    const usesTokenTypeIds = this.builder.usesTokenTypeIds(this.model.config);
    const inputs = {
      inputIds: g.input(`${name}_input_ids`, "int64", dims),
      attentionMask: g.input(`${name}_attention_mask`, "int64", dims),
      tokenTypeIds: usesTokenTypeIds ? g.input(`${name}_token_type_ids`, "int64", dims) : null,
    };
    const out = this.builder.build(g, inputs, this.model.config, this.loader);
    const { outFeatures, inFeatures, bias } = this.model.dense;
    if (!this.denseWeight) {
      this.denseWeight = g.input(DENSE_WEIGHT, "float32", [outFeatures, inFeatures]);
      if (bias) this.denseBias = g.input(DENSE_BIAS, "float32", [outFeatures]);
    }
    const y = linear(g, out.lastHiddenState, this.denseWeight, this.denseBias);
    // torch.nn.functional.normalize: x / max(‖x‖₂, 1e-12)
    const norm = g.unary("Sqrt", g.reduce("ReduceSum", g.mul(y, y), [-1], true));
    return { name, embeddings: g.div(y, g.max(norm, 1e-12)), usesTokenTypeIds };
  }

  /** Parameter inputs in graph order (backbone tensors, then Dense). */
  parameterInputs(): Value[] {
    const dense = [this.denseWeight, this.denseBias].filter((v): v is Value => v !== null);
    return [...this.loader.used.values(), ...dense];
  }

  /**
   * Declares `loss` (output "loss"), its gradient w.r.t. every parameter and any extra
   * outputs. Returns the parameter names in output order. A parameter's gradient is output
   * "grad:<name>" (dense) and/or, for embedding tables, "grad-rows:<name>:indices" and
   * "grad-rows:<name>:updates" (row updates that `readGradient` adds in order: onnxruntime's
   * multi-threaded scatter-add loses updates to repeated rows, see graph/autodiff.ts).
   */
  finish(loss: Value, extra: Record<string, Value> = {}): string[] {
    const params = this.parameterInputs();
    const parts = gradientParts(this.graph, loss, params);
    this.graph.output(loss, "loss");
    for (const [name, v] of Object.entries(extra)) this.graph.output(v, name);
    params.forEach((p, i) => {
      const { dense, rows } = parts[i];
      if (rows) {
        this.graph.output(rows.indices, `grad-rows:${p.name}:indices`);
        this.graph.output(rows.updates, `grad-rows:${p.name}:updates`);
      }
      if (dense || !rows) {
        const zeros = () =>
          this.graph.expand(this.graph.constant(0, { dtype: p.dtype }), this.graph.shapeOf(p));
        this.graph.output(dense ?? zeros(), `grad:${p.name}`);
      }
    });
    return params.map((p) => p.name);
  }
}

/** The parameters a model trains (what one tower reads), with their current values. */
export function trainableParameters(model: TrainableModel): Parameter[] {
  const b = new TrainingGraphBuilder(model);
  b.tower("x");
  const params = readParameters(
    model,
    b.parameterInputs().map((v) => v.name),
  );
  markNoDecay(b.graph, params);
  return params;
}
