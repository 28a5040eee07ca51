import { mulberry32 } from "../../util/random.js";
import { argmaxABt, type KernelOptions } from "../kernels.js";

/** L2-normalises each row of x [n, dim] in place (all-zero rows stay zero). */
export function normalizeRows(x: Float32Array, dim: number): void {
  for (let o = 0; o < x.length; o += dim) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[o + j] * x[o + j];
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let j = 0; j < dim; j++) x[o + j] *= inv;
  }
}

/**
 * K-means (Lloyd, L2 distance) as fastkmeans does for fast-plaid: at most
 * k·maxPointsPerCentroid points (random subsample), k random points as initial centroids,
 * empty clusters keep their centroid. Returns L2-normalised centroids [k, dim].
 */
export async function kmeans(
  points: Float32Array,
  dim: number,
  k: number,
  options: {
    iterations: number;
    maxPointsPerCentroid: number;
    seed: number;
    kernels?: KernelOptions;
  },
): Promise<Float32Array> {
  const rand = mulberry32(options.seed);
  let n = points.length / dim;
  let x = points;
  if (n > k * options.maxPointsPerCentroid) {
    const keep = k * options.maxPointsPerCentroid;
    const perm = Uint32Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < keep; i++) {
      const j = i + Math.floor(rand() * (n - i));
      const t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    x = new Float32Array(keep * dim);
    for (let i = 0; i < keep; i++)
      x.set(points.subarray(perm[i] * dim, perm[i] * dim + dim), i * dim);
    n = keep;
  }
  const kk = Math.min(k, n);
  const perm = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < kk; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  const c = new Float32Array(kk * dim);
  for (let i = 0; i < kk; i++) c.set(x.subarray(perm[i] * dim, perm[i] * dim + dim), i * dim);
  const bias = new Float32Array(kk);
  const sums = new Float64Array(kk * dim);
  const counts = new Uint32Array(kk);
  for (let it = 0; it < options.iterations; it++) {
    for (let j = 0; j < kk; j++) {
      let s = 0;
      for (let t = 0; t < dim; t++) s += c[j * dim + t] * c[j * dim + t];
      bias[j] = -0.5 * s;
    }
    const labels = await argmaxABt(x, n, c, kk, dim, bias, options.kernels);
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const l = labels[i];
      counts[l]++;
      const xo = i * dim;
      const so = l * dim;
      for (let t = 0; t < dim; t++) sums[so + t] += x[xo + t];
    }
    for (let j = 0; j < kk; j++) {
      if (counts[j] === 0) continue;
      for (let t = 0; t < dim; t++) c[j * dim + t] = sums[j * dim + t] / counts[j];
    }
  }
  normalizeRows(c, dim);
  return c;
}
