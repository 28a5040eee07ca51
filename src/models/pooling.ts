import { InvalidArgumentError } from "../util/errors.js";
import { checkMatrix, type Matrix } from "../util/matrix.js";

/**
 * Hierarchical (Ward) token pooling, PyLate's `pool_embeddings_hierarchical`
 * (colbert.py:805-876). For each document `[L, E]`:
 *   1. the first `protectedTokens` rows are kept as they are; the n = L - protectedTokens
 *      others are clustered into k = max(floor(n / poolFactor), 1) groups (nothing happens
 *      when k >= n, e.g. poolFactor 1 or documents of 0-2 tokens);
 *   2. distances are 1 - cosine computed in float32, clustered with scipy's Ward linkage
 *      (float64 Lance–Williams updates) and cut with scipy's `fcluster(maxclust)`;
 *   3. each cluster becomes the float32 mean of its rows (not re-normalised), in scipy's
 *      cluster numbering order.
 * Output: `[protected rows..., cluster 1 mean, ..., cluster k mean]`, so an L-token document
 * with the defaults becomes 1 + floor((L - 1) / 2) rows. (PyLate's method defaults to
 * pool_factor 1; here the default is 2, the value PyLate users pass to pool at all.)
 * Cost for one 180-token, 128-dim document: about 3 ms (bench/pooling.ts), mostly the
 * 179² dot products; the nearest-neighbour chain is O(n²).
 */
export function poolEmbeddingsHierarchical(
  embeddings: Matrix[],
  poolFactor = 2,
  protectedTokens = 1,
): Matrix[] {
  if (!Array.isArray(embeddings)) {
    throw new InvalidArgumentError(
      `poolEmbeddingsHierarchical needs an array of matrices, got ${typeof embeddings}`,
    );
  }
  if (!Number.isInteger(poolFactor) || poolFactor < 1) {
    throw new InvalidArgumentError(
      `poolFactor must be an integer >= 1 (1 = no pooling), got ${poolFactor}`,
    );
  }
  if (!Number.isInteger(protectedTokens) || protectedTokens < 0) {
    throw new InvalidArgumentError(
      `protectedTokens must be an integer >= 0, got ${protectedTokens}`,
    );
  }
  return embeddings.map((m, i) =>
    poolOne(checkMatrix(m, `embeddings[${i}]`), poolFactor, protectedTokens),
  );
}

function poolOne(m: Matrix, poolFactor: number, protectedTokens: number): Matrix {
  const E = m.cols;
  const kept = Math.min(protectedTokens, m.rows);
  const n = m.rows - kept;
  const k = Math.max(Math.floor(n / poolFactor), 1);
  if (k >= n) return m;
  const toPool = m.data.subarray(kept * E);
  const condensed = condensedCosineDistances(toPool, n, E);
  const Z = wardLinkage(Float64Array.from(condensed), n);
  const labels = fclusterMaxclust(Z, n, k);
  let nClusters = 0;
  for (let i = 0; i < n; i++) if (labels[i] > nClusters) nClusters = labels[i];
  // Float32 sums in token order, then one float32 division, as torch's scatter_add_ + div.
  const sums = new Float32Array(nClusters * E);
  const counts = new Int32Array(nClusters);
  for (let i = 0; i < n; i++) {
    const c = labels[i] - 1;
    counts[c]++;
    const so = c * E;
    const ro = i * E;
    for (let e = 0; e < E; e++) sums[so + e] = Math.fround(sums[so + e] + toPool[ro + e]);
  }
  const out = new Float32Array((kept + nClusters) * E);
  out.set(m.data.subarray(0, kept * E));
  for (let c = 0; c < nClusters; c++) {
    for (let e = 0; e < E; e++) out[(kept + c) * E + e] = sums[c * E + e] / counts[c];
  }
  return { data: out, rows: kept + nClusters, cols: E };
}

/**
 * `1 - x·xᵀ` for n rows of dimension E, each value rounded to float32 as PyTorch's float32
 * matmul and numpy's float32 subtraction do, condensed to the upper triangle in row-major
 * order: (0,1), (0,2), …, (0,n-1), (1,2), …
 */
export function condensedCosineDistances(
  embeddings: Float32Array,
  n: number,
  E: number,
): Float32Array {
  // Widened once: float64 loads make the dot loop about 2x faster than float32 loads.
  const x = Float64Array.from(embeddings.subarray(0, n * E));
  const out = new Float32Array((n * (n - 1)) / 2);
  let p = 0;
  for (let i = 0; i < n; i++) {
    const io = i * E;
    let j = i + 1;
    // Four rows per load of row i: about 3x faster than one dot at a time in V8.
    for (; j + 3 < n; j += 4) {
      const o0 = j * E;
      const o1 = o0 + E;
      const o2 = o1 + E;
      const o3 = o2 + E;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let e = 0; e < E; e++) {
        const v = x[io + e];
        s0 += v * x[o0 + e];
        s1 += v * x[o1 + e];
        s2 += v * x[o2 + e];
        s3 += v * x[o3 + e];
      }
      out[p++] = 1 - Math.fround(s0);
      out[p++] = 1 - Math.fround(s1);
      out[p++] = 1 - Math.fround(s2);
      out[p++] = 1 - Math.fround(s3);
    }
    for (; j < n; j++) {
      const jo = j * E;
      let dot = 0;
      for (let e = 0; e < E; e++) dot += x[io + e] * x[jo + e];
      out[p++] = 1 - Math.fround(dot);
    }
  }
  return out;
}

/** Index of pair (i, j), i != j, in a condensed n x n distance matrix. */
function condensedIndex(n: number, i: number, j: number): number {
  if (i > j) [i, j] = [j, i];
  return n * i - (i * (i + 1)) / 2 + (j - i - 1);
}

/**
 * scipy.cluster.hierarchy.linkage(condensed, method="ward") for n >= 2 observations: the
 * nearest-neighbour-chain algorithm scipy uses (O(n²) time, the condensed matrix updated in
 * place), rows stably sorted by height, then relabelled with scipy's union-find. Returns the
 * `[n-1, 4]` linkage matrix row-major: `[id_a, id_b, height, size]`, id_a < id_b, new cluster
 * of row s gets id n + s. Lance–Williams Ward update, with scipy's operation order:
 *   d(i, x∪y) = sqrt((n_i+n_x)/T·d(i,x)² + (n_i+n_y)/T·d(i,y)² − n_i/T·d(x,y)²), T = n_x+n_y+n_i
 */
export function wardLinkage(condensed: Float64Array, n: number): Float64Array {
  if (condensed.length !== (n * (n - 1)) / 2 || n < 2) {
    throw new InvalidArgumentError(
      `wardLinkage needs n >= 2 and n(n-1)/2 = ${(n * (n - 1)) / 2} distances, got n = ${n} and ${condensed.length}`,
    );
  }
  const D = Float64Array.from(condensed);
  const size = new Int32Array(n).fill(1);
  const chain = new Int32Array(n);
  let chainLength = 0;
  const rows: { x: number; y: number; dist: number; size: number }[] = [];
  for (let k = 0; k < n - 1; k++) {
    if (chainLength === 0) {
      chainLength = 1;
      for (let i = 0; i < n; i++) {
        if (size[i] > 0) {
          chain[0] = i;
          break;
        }
      }
    }
    let x = 0;
    let y = 0;
    let currentMin = Number.POSITIVE_INFINITY;
    for (;;) {
      x = chain[chainLength - 1];
      // Prefer the previous chain element on ties, so that the chain cannot cycle.
      if (chainLength > 1) {
        y = chain[chainLength - 2];
        currentMin = D[condensedIndex(n, x, y)];
      } else {
        currentMin = Number.POSITIVE_INFINITY;
      }
      for (let i = 0; i < n; i++) {
        if (size[i] === 0 || i === x) continue;
        const d = D[condensedIndex(n, x, i)];
        if (d < currentMin) {
          currentMin = d;
          y = i;
        }
      }
      if (chainLength > 1 && y === chain[chainLength - 2]) break;
      chain[chainLength++] = y;
    }
    chainLength -= 2;
    if (x > y) [x, y] = [y, x];
    const nx = size[x];
    const ny = size[y];
    rows.push({ x, y, dist: currentMin, size: nx + ny });
    size[x] = 0;
    size[y] = nx + ny;
    for (let i = 0; i < n; i++) {
      const ni = size[i];
      if (ni === 0 || i === y) continue;
      const dxi = D[condensedIndex(n, i, x)];
      const dyi = D[condensedIndex(n, i, y)];
      const t = 1.0 / (nx + ny + ni);
      D[condensedIndex(n, i, y)] = Math.sqrt(
        (ni + nx) * t * dxi * dxi + (ni + ny) * t * dyi * dyi - ni * t * currentMin * currentMin,
      );
    }
  }
  rows.sort((a, b) => a.dist - b.dist); // stable, like numpy's mergesort argsort
  // Relabel: the chain recorded slot indices; union-find turns them into cluster ids.
  const parent = new Int32Array(2 * n - 1);
  for (let i = 0; i < parent.length; i++) parent[i] = i;
  const csize = new Int32Array(2 * n - 1).fill(1);
  const find = (v: number): number => {
    let r = v;
    while (parent[r] !== r) r = parent[r];
    while (parent[v] !== r) {
      const next = parent[v];
      parent[v] = r;
      v = next;
    }
    return r;
  };
  const Z = new Float64Array((n - 1) * 4);
  for (let s = 0; s < n - 1; s++) {
    const a = find(rows[s].x);
    const b = find(rows[s].y);
    const label = n + s;
    parent[a] = label;
    parent[b] = label;
    csize[label] = csize[a] + csize[b];
    Z[s * 4] = Math.min(a, b);
    Z[s * 4 + 1] = Math.max(a, b);
    Z[s * 4 + 2] = rows[s].dist;
    Z[s * 4 + 3] = csize[label];
  }
  return Z;
}

/**
 * scipy.cluster.hierarchy.fcluster(Z, t=maxClusters, criterion="maxclust"): the lowest cut
 * height giving at most `maxClusters` flat clusters (ties in height can give fewer), numbered
 * 1.. in scipy's depth-first order. Returns one 1-based label per observation.
 */
export function fclusterMaxclust(Z: Float64Array, n: number, maxClusters: number): Int32Array {
  const T = new Int32Array(n);
  if (maxClusters >= n) {
    for (let i = 0; i < n; i++) T[i] = i + 1;
    return T;
  }
  // Monotone criterion: the largest merge height inside each cluster (children come first).
  const MC = new Float64Array(n - 1);
  for (let s = 0; s < n - 1; s++) {
    let m = Z[s * 4 + 2];
    for (const child of [Z[s * 4], Z[s * 4 + 1]]) {
      if (child >= n && MC[child - n] > m) m = MC[child - n];
    }
    MC[s] = m;
  }
  // Binary search over MC's indices for the smallest threshold with <= maxClusters clusters.
  // Because MC grows towards the root, the merges kept at a threshold form whole subtrees and
  // the cluster count is n minus their number.
  const clustersAt = (thresh: number): number => {
    let kept = 0;
    for (let s = 0; s < n - 1; s++) if (MC[s] <= thresh) kept++;
    return n - kept;
  };
  let lower = -1;
  let upper = n - 2;
  while (upper - lower > 1) {
    const i = (lower + upper) >> 1;
    if (clustersAt(MC[i]) > maxClusters) lower = i;
    else upper = i;
  }
  const cutoff = MC[upper];
  // scipy's cluster_monocrit: depth-first from the root; a node under the cutoff is one cluster.
  const visited = new Uint8Array(2 * n - 1);
  const stack = new Int32Array(n);
  let k = 0;
  stack[0] = 2 * n - 2;
  let nCluster = 0;
  let leader = -1;
  while (k >= 0) {
    const root = stack[k] - n;
    const lc = Z[root * 4];
    const rc = Z[root * 4 + 1];
    if (leader === -1 && MC[root] <= cutoff) {
      leader = root;
      nCluster++;
    }
    if (lc >= n && !visited[lc]) {
      visited[lc] = 1;
      stack[++k] = lc;
      continue;
    }
    if (rc >= n && !visited[rc]) {
      visited[rc] = 1;
      stack[++k] = rc;
      continue;
    }
    if (lc < n) {
      if (leader === -1) nCluster++;
      T[lc] = nCluster;
    }
    if (rc < n) {
      if (leader === -1) nCluster++;
      T[rc] = nCluster;
    }
    if (leader === root) leader = -1;
    k--;
  }
  return T;
}
