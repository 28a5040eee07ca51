import { IndexError } from "../../util/errors.js";
import type { Matrix } from "../../util/matrix.js";
import { argmaxABt, type KernelOptions } from "../kernels.js";
import { type Codec, numCentroids, quantizeResiduals, roundToF16, trainCodec } from "./codec.js";
import type { PlaidConfig } from "./config.js";
import { kmeans } from "./kmeans.js";

/**
 * Writing a PLAID index: training the codec (first add, streaming build, rebuild) and encoding
 * tokens, with fast-plaid's update rule (tokens far from every centroid get new centroids).
 */

/** Drift counters kept in the manifest state. */
export interface PlaidState {
  initialCentroids?: number;
  tokensAddedAfterTraining?: number;
  outlierTokens?: number;
  [key: string]: unknown;
}

/** Trains a codec on a sample of a collection of `tokens` tokens with the index's settings. */
export function trainFor(
  sample: Float32Array,
  dim: number,
  tokens: number,
  cfg: PlaidConfig,
  kernels: KernelOptions,
): Promise<Codec> {
  return trainCodec(sample, dim, tokens, {
    nbits: cfg.nbits,
    numCentroids: cfg.numCentroids ?? undefined,
    kmeansIterations: cfg.kmeansIterations,
    maxPointsPerCentroid: cfg.maxPointsPerCentroid,
    seed: cfg.seed,
    kernels,
  });
}

/** The documents' tokens in one array [tokens, dim]. */
export function concatTokens(embeddings: Matrix[], dim: number): Float32Array {
  const tokens = embeddings.reduce((s, e) => s + e.rows, 0);
  const x = new Float32Array(tokens * dim);
  let o = 0;
  for (const e of embeddings) {
    x.set(e.data, o);
    o += e.data.length;
  }
  return x;
}

/** Evenly spaced tokens of the documents, at most `take` [take, dim]: a deterministic sample. */
export function evenSample(
  embs: Matrix[],
  tokens: number,
  take: number,
  dim: number,
): Float32Array {
  const sample = new Float32Array(take * dim);
  let t = 0;
  let next = 0;
  for (const e of embs) {
    for (let r = 0; r < e.rows; r++, t++) {
      if (next < take && t === Math.floor((next * tokens) / take)) {
        sample.set(e.data.subarray(r * dim, (r + 1) * dim), next * dim);
        next++;
      }
    }
  }
  return sample;
}

export interface EncodedTokens {
  /** The codec the tokens are encoded with (the input one, or it plus outlier centroids). */
  codec: Codec;
  /** Whether `codec` differs from the input one (outlier centroids were added). */
  grew: boolean;
  codes: Int32Array;
  packed: Uint8Array;
}

/**
 * Encodes tokens x [tokens, dim]: nearest centroid and packed residual. With `outliers`
 * (an update of a trained index), tokens whose residual is beyond the codec's cluster
 * threshold first get new centroids (k-means over them, K/maxPointsPerCentroid of them),
 * appended to the codec, and the state's drift counters advance.
 */
export async function encodeTokens(
  x: Float32Array,
  dim: number,
  codec: Codec,
  options: {
    outliers: boolean;
    cfg: PlaidConfig;
    /** Seeds the outlier k-means (the generation being written). */
    generation: number;
    state: PlaidState;
    kernels: KernelOptions;
  },
): Promise<EncodedTokens> {
  if (codec.dim !== dim)
    throw new IndexError(`codec dimension ${codec.dim} does not match the index dimension ${dim}`);
  const tokens = x.length / dim;
  const { cfg, state, kernels } = options;
  let codes = await argmaxABt(
    x,
    tokens,
    codec.centroids,
    numCentroids(codec),
    dim,
    undefined,
    kernels,
  );
  let { packed, sqNorms } = quantizeResiduals(codec, x, codes);
  if (!options.outliers) return { codec, grew: false, codes, packed };
  const thr = codec.clusterThreshold * codec.clusterThreshold;
  const outliers: number[] = [];
  for (let i = 0; i < tokens; i++) if (sqNorms[i] > thr) outliers.push(i);
  state.tokensAddedAfterTraining = (state.tokensAddedAfterTraining ?? 0) + tokens;
  state.outlierTokens = (state.outlierTokens ?? 0) + outliers.length;
  if (outliers.length === 0) return { codec, grew: false, codes, packed };
  const pts = new Float32Array(outliers.length * dim);
  outliers.forEach((t, i) => pts.set(x.subarray(t * dim, t * dim + dim), i * dim));
  const extra = roundToF16(
    await kmeans(pts, dim, Math.ceil(outliers.length / cfg.maxPointsPerCentroid), {
      iterations: cfg.kmeansIterations,
      maxPointsPerCentroid: cfg.maxPointsPerCentroid,
      seed: cfg.seed + options.generation,
      kernels,
    }),
  );
  const centroids = new Float32Array(codec.centroids.length + extra.length);
  centroids.set(codec.centroids);
  centroids.set(extra, codec.centroids.length);
  const grown = { ...codec, centroids };
  codes = await argmaxABt(x, tokens, centroids, numCentroids(grown), dim, undefined, kernels);
  ({ packed, sqNorms } = quantizeResiduals(grown, x, codes));
  return { codec: grown, grew: true, codes, packed };
}
