import { ConfigError, IndexError } from "../../util/errors.js";
import { mulberry32 } from "../../util/random.js";
import { argmaxABt, type KernelOptions } from "../kernels.js";
import type { FileRef, IndexDirectory } from "../store.js";
import { kmeans } from "./kmeans.js";

/**
 * The PLAID residual codec (ColBERTv2 / fast-plaid): every token is stored as the id of its
 * nearest centroid plus its residual (token − centroid) quantised per dimension to `nbits`,
 * with bucket cutoffs and bucket weights learned as quantiles of held-out residuals.
 * A decompressed token is normalise(centroid + weights[bucket]) as in fast-plaid.
 */
export interface Codec {
  dim: number;
  nbits: number;
  /** [K, dim], rows L2-normalised. */
  centroids: Float32Array;
  /** 2^nbits − 1 ascending cutoffs: bucket b holds cutoffs[b−1] < r <= cutoffs[b]. */
  bucketCutoffs: Float32Array;
  /** 2^nbits reconstruction values. */
  bucketWeights: Float32Array;
  /** 75th percentile of held-out residual norms: farther tokens are outliers. */
  clusterThreshold: number;
}

export function numCentroids(codec: Codec): number {
  return codec.centroids.length / codec.dim;
}

/** Linear-interpolated quantile of sorted values (torch.quantile's default). */
export function quantile(sorted: Float32Array, q: number): number {
  if (sorted.length === 0) return 0;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export interface CodecTrainOptions {
  nbits: number;
  /** K; default 2^floor(log2(16·sqrt(totalTokens))). */
  numCentroids?: number;
  kmeansIterations: number;
  maxPointsPerCentroid: number;
  seed: number;
  kernels?: KernelOptions;
}

/** The fast-plaid rule for the number of centroids. */
export function defaultNumCentroids(totalTokens: number): number {
  return 2 ** Math.floor(Math.log2(16 * Math.sqrt(Math.max(1, totalTokens))));
}

/**
 * Trains a codec on a sample of token embeddings [n, dim] drawn from a collection of
 * `totalTokens` tokens: 5% (at most 50,000) held out for the residual statistics, k-means on
 * the rest (or on everything when the sample is tiny). Reorders `sample` in place.
 */
export async function trainCodec(
  sample: Float32Array,
  dim: number,
  totalTokens: number,
  options: CodecTrainOptions,
): Promise<Codec> {
  if (![1, 2, 4, 8].includes(options.nbits)) {
    throw new ConfigError(`nbits must be 1, 2, 4 or 8, got ${options.nbits}`);
  }
  if ((dim * options.nbits) % 8 !== 0) {
    throw new ConfigError(
      `dim × nbits must be a multiple of 8 (dim ${dim}, nbits ${options.nbits})`,
    );
  }
  const n = sample.length / dim;
  const rand = mulberry32(options.seed ^ 0x5eed);
  // Shuffle rows in place (no copy: the sample is the largest buffer of a build).
  const tmp = new Float32Array(dim);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    if (i === j) continue;
    tmp.set(sample.subarray(i * dim, i * dim + dim));
    sample.copyWithin(i * dim, j * dim, j * dim + dim);
    sample.set(tmp, j * dim);
  }
  const heldN = n >= 20 ? Math.min(Math.round(0.05 * n), 50_000) : 0;
  const trainN = n - heldN;
  const train = sample.subarray(0, trainN * dim);
  // Tiny samples: the residual statistics come from the training points themselves.
  const held = heldN ? sample.subarray(trainN * dim) : sample;
  const k = Math.min(options.numCentroids ?? defaultNumCentroids(totalTokens), trainN);
  const centroids = roundToF16(
    await kmeans(train, dim, k, {
      iterations: options.kmeansIterations,
      maxPointsPerCentroid: options.maxPointsPerCentroid,
      seed: options.seed,
      kernels: options.kernels,
    }),
  );
  const hn = held.length / dim;
  const codes = await argmaxABt(
    held,
    hn,
    centroids,
    centroids.length / dim,
    dim,
    undefined,
    options.kernels,
  );
  const residuals = new Float32Array(held.length);
  const norms = new Float32Array(hn);
  for (let i = 0; i < hn; i++) {
    let s = 0;
    for (let t = 0; t < dim; t++) {
      const r = held[i * dim + t] - centroids[codes[i] * dim + t];
      residuals[i * dim + t] = r;
      s += r * r;
    }
    norms[i] = Math.sqrt(s);
  }
  norms.sort();
  residuals.sort();
  const { bucketCutoffs, bucketWeights } = bucketsAtQuantiles(residuals, options.nbits);
  return {
    dim,
    nbits: options.nbits,
    centroids,
    bucketCutoffs,
    bucketWeights,
    clusterThreshold: quantile(norms, 0.75),
  };
}

/**
 * fast-plaid's residual buckets from sorted residuals: 2^nbits − 1 cutoffs at the quantiles
 * b / 2^nbits and a weight at the middle quantile (b + 0.5) / 2^nbits of each bucket.
 */
export function bucketsAtQuantiles(
  sorted: Float32Array,
  nbits: number,
): { bucketCutoffs: Float32Array; bucketWeights: Float32Array } {
  const B = 2 ** nbits;
  const bucketCutoffs = new Float32Array(B - 1);
  const bucketWeights = new Float32Array(B);
  for (let b = 1; b < B; b++) bucketCutoffs[b - 1] = quantile(sorted, b / B);
  for (let b = 0; b < B; b++) bucketWeights[b] = quantile(sorted, (b + 0.5) / B);
  return { bucketCutoffs, bucketWeights };
}

/** Bucket of residual r: the number of cutoffs strictly below r (torch.bucketize). */
export function bucketOf(cut: Float32Array, r: number): number {
  let lo = 0;
  let hi = cut.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cut[mid] < r) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Packs residuals (x − centroids[codes]) [n, dim] into n × dim·nbits/8 bytes, the first
 * dimension in the most significant bits of each byte. Also returns the squared residual
 * norms (for outlier detection).
 */
export function quantizeResiduals(
  codec: Codec,
  x: Float32Array,
  codes: ArrayLike<number>,
): { packed: Uint8Array; sqNorms: Float32Array } {
  const { dim, nbits, centroids, bucketCutoffs } = codec;
  const n = x.length / dim;
  const perByte = 8 / nbits;
  const bytesPer = (dim * nbits) / 8;
  const packed = new Uint8Array(n * bytesPer);
  const sqNorms = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const xo = i * dim;
    const co = codes[i] * dim;
    let s = 0;
    for (let p = 0; p < bytesPer; p++) {
      let byte = 0;
      for (let q = 0; q < perByte; q++) {
        const t = p * perByte + q;
        const r = x[xo + t] - centroids[co + t];
        s += r * r;
        byte = (byte << nbits) | bucketOf(bucketCutoffs, r);
      }
      packed[i * bytesPer + p] = byte;
    }
    sqNorms[i] = s;
  }
  return { packed, sqNorms };
}

/** For each byte value: its perByte residual values (first dimension first). */
export function byteWeightTable(codec: Codec): Float32Array {
  const perByte = 8 / codec.nbits;
  const mask = (1 << codec.nbits) - 1;
  const table = new Float32Array(256 * perByte);
  for (let v = 0; v < 256; v++) {
    for (let q = 0; q < perByte; q++) {
      const shift = codec.nbits * (perByte - 1 - q);
      table[v * perByte + q] = codec.bucketWeights[(v >> shift) & mask];
    }
  }
  return table;
}

// Centroids are stored as IEEE half floats (as ColBERT does) and used at that precision
// everywhere, so that the residuals computed at build time match the stored centroids.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE 754 half (round to nearest even). */
export function toF16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  let exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00; // overflow → inf (centroids are unit vectors: never)
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (exp << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  exp = 0;
  return sign | h;
}

/** IEEE 754 half → float32. */
export function fromF16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function encodeF16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = toF16Bits(x[i]);
  return out;
}

export function decodeF16(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = fromF16Bits(h[i]);
  return out;
}

/** Rounds every value to the nearest half float (in place). */
export function roundToF16(x: Float32Array): Float32Array {
  for (let i = 0; i < x.length; i++) x[i] = fromF16Bits(toF16Bits(x[i]));
  return x;
}

// ---- the codec file ----

/** Checks a codec's shape (a codec given by the caller, or read from a file). */
export function checkCodec(codec: Codec, where: string): void {
  const ok =
    codec !== null &&
    typeof codec === "object" &&
    Number.isInteger(codec.dim) &&
    codec.dim > 0 &&
    [1, 2, 4, 8].includes(codec.nbits) &&
    codec.centroids instanceof Float32Array &&
    codec.centroids.length > 0 &&
    codec.centroids.length % codec.dim === 0 &&
    codec.bucketWeights instanceof Float32Array &&
    codec.bucketWeights.length === 2 ** codec.nbits &&
    codec.bucketCutoffs instanceof Float32Array &&
    codec.bucketCutoffs.length === 2 ** codec.nbits - 1 &&
    typeof codec.clusterThreshold === "number";
  if (!ok) {
    throw new IndexError(
      `${where}: codec sections do not match nbits ${codec?.nbits} / dim ${codec?.dim} (centroids [K, dim] f32, ${2 ** codec?.nbits} bucket weights, one fewer cutoffs)`,
    );
  }
}

/** Writes the codec file (centroids as half floats, as ColBERT stores them). */
export function writeCodecFile(store: IndexDirectory, name: string, codec: Codec): FileRef {
  return store.writeFile(
    name,
    { nbits: codec.nbits, dim: codec.dim, clusterThreshold: codec.clusterThreshold },
    {
      centroids: encodeF16(codec.centroids),
      bucketCutoffs: codec.bucketCutoffs,
      bucketWeights: codec.bucketWeights,
    },
  );
}

export function readCodecFile(store: IndexDirectory, ref: FileRef, verify: boolean): Codec {
  const c = store.readFile(ref, verify);
  const h = c.header as { nbits: number; dim: number; clusterThreshold: number };
  const cen = c.sections.centroids;
  const codec = {
    dim: h.dim,
    nbits: h.nbits,
    clusterThreshold: h.clusterThreshold,
    centroids: cen instanceof Uint16Array ? decodeF16(cen) : cen,
    bucketCutoffs: c.sections.bucketCutoffs,
    bucketWeights: c.sections.bucketWeights,
  } as Codec;
  checkCodec(codec, store.path(ref.file));
  return codec;
}
