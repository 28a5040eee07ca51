/**
 * The encoder: backbone last_hidden_state → optional Dense (y = x·Wᵀ (+ b)) → optional
 * per-token L2 normalisation (torch normalize: x / max(‖x‖, 1e-12)), shape [B, L, D].
 */
import type { Value } from "../../graph/ir.js";
import { Graph } from "../../graph/ir.js";
import { type Fetched, GraphSession } from "../../graph/session.js";
import type { WeightStore } from "../../io/safetensors.js";
import {
  FileFormatError,
  InvalidArgumentError,
  ShapeError,
  UnsupportedError,
} from "../../util/errors.js";
import { type HfConfig, WeightLoader } from "./common.js";
import { BACKBONES } from "./registry.js";

export interface EncoderBatch {
  /** [batchSize · seqLength] row-major. */
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  /** Ignored by backbones without token types; zeros when omitted. */
  tokenTypeIds?: BigInt64Array;
  batchSize: number;
  seqLength: number;
}

export interface EncoderOutput {
  /** [B, L, D] row-major. */
  embeddings: Float32Array;
  dims: [number, number, number];
  /** With `outputHiddenStates`: embedding output, then each layer's output, each [B, L, H]. */
  hiddenStates?: Float32Array[];
}

export interface EncoderSession {
  readonly hiddenSize: number;
  /** D of the embeddings: the Dense out_features, or hiddenSize without Dense. */
  readonly outputDim: number;
  readonly usesTokenTypeIds: boolean;
  run(batch: EncoderBatch): Promise<EncoderOutput>;
  dispose(): Promise<void>;
}

/** A Dense projection in PyTorch layout: weight [outFeatures, inFeatures]. */
export interface DenseWeights {
  weight: Float32Array;
  outFeatures: number;
  inFeatures: number;
  bias?: Float32Array;
}

export interface EncoderGraphOptions {
  dense?: DenseWeights | null;
  /**
   * Layers applied to the last hidden state instead of `dense` (models/dense.ts: a Dense chain
   * with non-linear activations); returns [batch, seq, outputDim].
   */
  head?: { readonly outputDim: number; build(g: Graph, hidden: Value): Value } | null;
  normalize?: boolean;
  outputHiddenStates?: boolean;
}

export interface EncoderOptions extends EncoderGraphOptions {
  /** Tensor name prefix (e.g. "bert." for Stanford ColBERT); detected when omitted. */
  weightPrefix?: string;
  /** ORT intra-op threads (default: all cores). */
  threads?: number;
  /**
   * Most weight bytes embedded in the ONNX model (default 1.9 GiB). Weights in the
   * checkpoint's directory are referenced in place whatever their dtype, so this only bounds
   * tensors that must be copied (files elsewhere); tests lower it to prove that.
   */
  maxEmbeddedBytes?: number;
  /** Let idle ORT threads spin (ORT default true; false is kinder on a shared machine). */
  allowSpinning?: boolean;
  /**
   * Most tokens (rows × seqLength) per onnxruntime run; larger batches run in row chunks.
   * Default: as many as keep the [tokens, intermediate_size] feed-forward activations within
   * ~18 MiB, i.e. cache-sized (BERT-base: 1,536 tokens). Results do not depend on it.
   */
  runTokenBudget?: number;
}

/** Bytes of [tokens, intermediate] float32 activations one run may hold (see runTokenBudget). */
const RUN_ACTIVATION_BYTES = 18 * 2 ** 20;

export interface EncoderGraph {
  readonly graph: Graph;
  readonly modelType: string;
  readonly hiddenSize: number;
  readonly outputDim: number;
  readonly usesTokenTypeIds: boolean;
  /** Graph input names. */
  readonly inputNames: readonly string[];
  /** "embeddings", then "hidden_state_0".. when hidden states are requested. */
  readonly outputNames: readonly string[];
}

/** Finds the prefix under which the checkpoint stores the backbone (e.g. "bert."). */
export function detectWeightPrefix(store: WeightStore, probeTensor: string): string {
  if (store.withPrefix("").has(probeTensor)) return "";
  const hits = store.allNames().filter((n) => n.endsWith(`.${probeTensor}`));
  if (hits.length === 1) return hits[0].slice(0, hits[0].length - probeTensor.length);
  throw new FileFormatError(
    store.source,
    hits.length === 0
      ? `no tensor named "${probeTensor}" (with or without a prefix): the weights do not match config.json's model_type`
      : `several candidate prefixes for "${probeTensor}": ${hits.join(", ")}; pass weightPrefix`,
  );
}

function builderFor(config: HfConfig) {
  const type = config.str("model_type");
  const builder = BACKBONES[type];
  if (!builder) {
    throw new UnsupportedError(
      `${config.path}: model_type ${JSON.stringify(type)} is not supported (supported: ${Object.keys(BACKBONES).join(", ")})`,
    );
  }
  return { type, builder };
}

/**
 * Builds the encoder graph (inputs input_ids, attention_mask[, token_type_ids], all int64
 * [batch, seq]; output "embeddings" [batch, seq, D]) without creating a session. Training
 * differentiates this same graph.
 */
export function buildEncoderGraph(
  config: HfConfig,
  weights: WeightStore,
  options: EncoderGraphOptions = {},
): EncoderGraph {
  const { type, builder } = builderFor(config);
  const g = new Graph(type);
  const usesTokenTypeIds = builder.usesTokenTypeIds(config);
  const inputIds = g.input("input_ids", "int64", ["batch", "seq"]);
  const attentionMask = g.input("attention_mask", "int64", ["batch", "seq"]);
  const tokenTypeIds = usesTokenTypeIds
    ? g.input("token_type_ids", "int64", ["batch", "seq"])
    : null;
  const out = builder.build(
    g,
    { inputIds, attentionMask, tokenTypeIds },
    config,
    new WeightLoader(g, weights),
  );
  const hiddenSize = builder.hiddenSize(config);

  let y: Value = out.lastHiddenState;
  let outputDim = hiddenSize;
  const dense = options.dense;
  if (options.head) {
    if (dense) throw new InvalidArgumentError("pass either dense or head, not both");
    y = options.head.build(g, y);
    outputDim = options.head.outputDim;
  } else if (dense) {
    if (dense.inFeatures !== hiddenSize) {
      throw new ShapeError(
        `Dense in_features ${dense.inFeatures} does not match the backbone hidden_size ${hiddenSize} (${config.path})`,
      );
    }
    if (dense.weight.length !== dense.outFeatures * dense.inFeatures) {
      throw new ShapeError(
        `Dense weight has ${dense.weight.length} values, expected out ${dense.outFeatures} × in ${dense.inFeatures}`,
      );
    }
    if (dense.bias && dense.bias.length !== dense.outFeatures) {
      throw new ShapeError(
        `Dense bias has ${dense.bias.length} values, expected ${dense.outFeatures}`,
      );
    }
    // Stored transposed ([in, out]) so the MatMul needs no Transpose.
    const wt = new Float32Array(dense.weight.length);
    for (let o = 0; o < dense.outFeatures; o++) {
      for (let i = 0; i < dense.inFeatures; i++)
        wt[i * dense.outFeatures + o] = dense.weight[o * dense.inFeatures + i];
    }
    y = g.matmul(
      y,
      g.constant(wt, { shape: [dense.inFeatures, dense.outFeatures], name: "dense.weight_t" }),
    );
    if (dense.bias) y = g.add(y, g.constant(dense.bias, { name: "dense.bias" }));
    outputDim = dense.outFeatures;
  }
  if (options.normalize) {
    const norm = g.unary("Sqrt", g.reduce("ReduceSum", g.mul(y, y), [-1], true));
    y = g.div(y, g.max(norm, 1e-12));
  }
  g.output(y, "embeddings");
  const outputNames = ["embeddings"];
  if (options.outputHiddenStates) {
    out.hiddenStates.forEach((h, i) => {
      g.output(h, `hidden_state_${i}`);
      outputNames.push(`hidden_state_${i}`);
    });
  }
  return {
    graph: g,
    modelType: type,
    hiddenSize,
    outputDim,
    usesTokenTypeIds,
    inputNames: g.inputs.map((v) => v.name),
    outputNames,
  };
}

function checkIds(
  name: string,
  data: BigInt64Array | undefined,
  n: number,
  batch: EncoderBatch,
): void {
  if (!(data instanceof BigInt64Array))
    throw new InvalidArgumentError(`EncoderBatch.${name} must be a BigInt64Array`);
  if (data.length !== n) {
    throw new ShapeError(
      `EncoderBatch.${name} has ${data.length} values, expected batchSize ${batch.batchSize} × seqLength ${batch.seqLength} = ${n}`,
    );
  }
}

/** runTokenBudget's default for a backbone config (tokens per onnxruntime run). */
export function defaultRunTokenBudget(config: HfConfig): number {
  const hidden = config.num("hidden_size", 768);
  const intermediate = config.num("intermediate_size", 4 * hidden);
  return Math.max(1, Math.floor(RUN_ACTIVATION_BYTES / (4 * Math.max(1, intermediate))));
}

/**
 * Opens a backbone as an ORT session from its parsed config.json and its weights (a
 * WeightStore over files, or over bytes in memory: nothing here touches the file system).
 * A model directory: `createEncoder(readBackboneConfig(dir), WeightStore.open(dir))`.
 */
export async function createEncoder(
  config: HfConfig,
  weights: WeightStore,
  options: EncoderOptions = {},
): Promise<EncoderSession> {
  const { builder } = builderFor(config);
  weights = weights.withPrefix(
    options.weightPrefix ?? detectWeightPrefix(weights, builder.probeTensor),
  );
  const built = buildEncoderGraph(config, weights, options);
  const session = await GraphSession.create(built.graph, {
    threads: options.threads,
    allowSpinning: options.allowSpinning,
    maxEmbeddedBytes: options.maxEmbeddedBytes,
  });
  const vocab = config.int("vocab_size");
  const maxLength = builder.maxSequenceLength(config);
  // BERT-base, batch 32 × 180 tokens: chunks of 8 rows ran 15-20% faster than one run of 32
  // (bench/encode.ts), the feed-forward activations then staying in the last-level cache.
  const tokenBudget = options.runTokenBudget ?? defaultRunTokenBudget(config);
  if (!Number.isInteger(tokenBudget) || tokenBudget < 1) {
    throw new InvalidArgumentError(
      `runTokenBudget must be a positive integer, got ${options.runTokenBudget}`,
    );
  }
  return {
    hiddenSize: built.hiddenSize,
    outputDim: built.outputDim,
    usesTokenTypeIds: built.usesTokenTypeIds,
    async run(batch: EncoderBatch): Promise<EncoderOutput> {
      const { batchSize: B, seqLength: L } = batch;
      if (!Number.isInteger(B) || !Number.isInteger(L) || B < 1 || L < 1) {
        throw new InvalidArgumentError(
          `EncoderBatch: batchSize ${B} and seqLength ${L} must be positive integers`,
        );
      }
      if (maxLength !== null && L > maxLength) {
        throw new InvalidArgumentError(
          `EncoderBatch.seqLength ${L} exceeds the ${maxLength} positions of this ${built.modelType} checkpoint (max_position_embeddings in ${config.path}); truncate the inputs`,
        );
      }
      const n = B * L;
      checkIds("inputIds", batch.inputIds, n, batch);
      checkIds("attentionMask", batch.attentionMask, n, batch);
      for (const id of batch.inputIds) {
        if (id < 0n || id >= BigInt(vocab)) {
          throw new InvalidArgumentError(
            `EncoderBatch.inputIds: token id ${id} is outside the vocabulary [0, ${vocab})`,
          );
        }
      }
      if (built.usesTokenTypeIds && batch.tokenTypeIds) {
        checkIds("tokenTypeIds", batch.tokenTypeIds, n, batch);
      }
      const D = built.outputDim;
      const rowsPerRun = Math.max(1, Math.floor(tokenBudget / L));
      const runRows = async (r0: number, rows: number) => {
        const range = (a: BigInt64Array) => a.subarray(r0 * L, (r0 + rows) * L);
        const dims = [rows, L];
        const feeds: Record<string, { data: BigInt64Array; dims: number[] }> = {
          input_ids: { data: range(batch.inputIds), dims },
          attention_mask: { data: range(batch.attentionMask), dims },
        };
        if (built.usesTokenTypeIds) {
          feeds.token_type_ids = {
            data: batch.tokenTypeIds ? range(batch.tokenTypeIds) : new BigInt64Array(rows * L),
            dims,
          };
        }
        return session.run(feeds);
      };
      const outs: Record<string, Fetched>[] = [];
      for (let r0 = 0; r0 < B; r0 += rowsPerRun) {
        outs.push(await runRows(r0, Math.min(rowsPerRun, B - r0)));
      }
      // Rows are independent (attention stays within a row), so chunks give the same values;
      // one chunk is returned without a copy.
      const join = (name: string): Float32Array => {
        if (outs.length === 1) return outs[0][name].data as Float32Array;
        const parts = outs.map((o) => o[name].data as Float32Array);
        const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          all.set(p, at);
          at += p.length;
        }
        return all;
      };
      const result: EncoderOutput = { embeddings: join("embeddings"), dims: [B, L, D] };
      if (options.outputHiddenStates) result.hiddenStates = built.outputNames.slice(1).map(join);
      return result;
    },
    dispose: () => session.dispose(),
  };
}
