/**
 * Trainable parameters: the backbone tensors a builder reads plus the Dense projection, held
 * as Float32Arrays that the optimiser updates in place and that are fed to the training
 * graph as inputs on every step (the graph has no weight initializers).
 */
import type { Graph, Value } from "../graph/ir.js";
import type { WeightStore } from "../io/safetensors.js";
import { type HfConfig, WeightLoader } from "../models/backbones/common.js";
import { BACKBONES } from "../models/backbones/registry.js";
import type { BackboneBuilder } from "../models/backbones/types.js";
import type { DenseWeights } from "../models/checkpoint.js";
import { ShapeError, UnsupportedError } from "../util/errors.js";

/** Graph-input names of the Dense tensors (PyLate's `1_Dense/model.safetensors`). */
export const DENSE_WEIGHT = "1_Dense/linear.weight";
export const DENSE_BIAS = "1_Dense/linear.bias";

export interface Parameter {
  /** Bare backbone tensor name, or DENSE_WEIGHT / DENSE_BIAS. */
  readonly name: string;
  readonly shape: readonly number[];
  /** Current values, updated in place by the optimiser. */
  readonly data: Float32Array;
  /** Excluded from weight decay (biases and LayerNorm weights, as the HF Trainer does). */
  noDecay: boolean;
}

/**
 * A WeightLoader that turns every tensor the builder asks for into a float32 graph input
 * (shared between the query and document towers), remembering name and shape.
 */
export class ParameterLoader extends WeightLoader {
  readonly used = new Map<string, Value>();
  constructor(
    private readonly g: Graph,
    store: WeightStore,
  ) {
    super(g, store);
  }

  override get(name: string, shape: readonly number[]): Value {
    const hit = this.used.get(name);
    if (hit) return hit;
    this.store.expect(name, shape);
    const v = this.g.input(name, "float32", shape);
    this.used.set(name, v);
    return v;
  }
}

/** The model a training graph is built from: a backbone (config + weights) and a Dense. */
export interface TrainableModel {
  readonly config: HfConfig;
  /** Backbone weights under their bare names (prefix already stripped). */
  readonly weights: WeightStore;
  readonly dense: DenseWeights;
}

export function backboneBuilder(config: HfConfig): BackboneBuilder {
  const type = config.str("model_type");
  const builder = BACKBONES[type];
  if (!builder) {
    throw new UnsupportedError(
      `${config.path}: model_type ${JSON.stringify(type)} cannot be trained (supported: ${Object.keys(BACKBONES).join(", ")})`,
    );
  }
  return builder;
}

/**
 * The parameters `names` of a model, with their current values (copies, so training never
 * writes into a memory-mapped checkpoint). Order = graph-input order.
 */
export function readParameters(model: TrainableModel, names: readonly string[]): Parameter[] {
  return names.map((name) => {
    if (name === DENSE_WEIGHT) {
      return {
        name,
        shape: [model.dense.outFeatures, model.dense.inFeatures],
        data: Float32Array.from(model.dense.weight),
        noDecay: false,
      };
    }
    if (name === DENSE_BIAS) {
      if (!model.dense.bias) throw new ShapeError("the Dense layer has no bias");
      return {
        name,
        shape: [model.dense.outFeatures],
        data: Float32Array.from(model.dense.bias),
        noDecay: true,
      };
    }
    const info = model.weights.info(name);
    return {
      name,
      shape: info.shape,
      data: Float32Array.from(model.weights.readFloat32(name)),
      noDecay: false,
    };
  });
}

/** Sets `noDecay` from the graph: biases, and tensors used as a LayerNormalization scale. */
export function markNoDecay(graph: Graph, params: readonly Parameter[]): void {
  const normScales = new Set<string>();
  for (const node of graph.nodes) {
    if (node.op === "LayerNormalization") {
      for (const v of node.inputs.slice(1)) if (v && v.kind === "input") normScales.add(v.name);
    }
  }
  for (const p of params) p.noDecay = p.name.endsWith("bias") || normScales.has(p.name);
}

/** L2 norm over all gradients (float64 accumulation), as torch's clip_grad_norm_ reports it. */
export function globalNorm(grads: readonly Float32Array[]): number {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}
