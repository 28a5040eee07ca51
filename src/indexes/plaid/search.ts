import { fixedPointScore, WasmApprox, type WasmDecompressor } from "../../kernels/plaid.js";
import type { Matrix } from "../../util/matrix.js";
import { TopK } from "../../util/topk.js";
import { gemmABt, gemmTopK, type KernelOptions, maxSimPadded } from "../kernels.js";
import { numCentroids } from "./codec.js";
import type { PlaidSearchParameters } from "./config.js";
import { type DecompressSource, decompressBatch } from "./decompress.js";
import type { PlaidLists } from "./ivf.js";

/**
 * PLAID search, stage by stage (fast-plaid's order): query-centroid scores for a group of
 * queries (one product), probing (the `nIvfProbe` best cells of each query token, optionally
 * skipping cells below `centroidScoreThreshold` as next-plaid), approximate MaxSim from the
 * centroid scores over every candidate (WebAssembly SIMD), then exact MaxSim of the best
 * quarter of `nFullScores` on decompressed documents. Every per-call value is an argument:
 * the parameters, and a scratch workspace that no concurrent call shares.
 */

/**
 * Padded document tokens decompressed per exact-scoring batch (4 MB at dim 128: with 16 MB
 * batches two search workers' buffers crowd the shared L3 cache; 4 MB was 5-10% faster at
 * the defaults).
 */
const EXACT_BATCH_TOKENS = 8192;

/**
 * Query-centroid scores computed per product: queries are grouped up to 2M floats (8 MB, eight
 * 32-token queries at K = 8192), so the scores are still in the L3 cache when each query's
 * table is read out (64 MB groups cost 1.4x the CPU time per query on this machine).
 */
const SCORE_GROUP_FLOATS = 2 * 1024 * 1024;

/** What search reads of a PLAID index (a view built per call; nothing here is per call). */
export interface PlaidSearchSource extends DecompressSource {
  lists: PlaidLists;
  alive: Uint8Array;
  kernels: KernelOptions;
  /** The largest centroid norm (1 for fast-plaid's normalised centroids). */
  centroidNorm: number;
}

/**
 * Searches a group of queries: per query [docno, score] best first, at most k. Queries go
 * through in groups: one product gives the centroid scores of every query token of the
 * group ([rows, K], about 8 queries of 32 tokens at K = 8192); each query then takes its rows
 * out as its own table for the later stages (queryScores).
 */
export async function searchPlaid(
  src: PlaidSearchSource,
  queries: Matrix[],
  k: number,
  allowed: Uint8Array | null,
  allowedCount: number,
  params: PlaidSearchParameters,
  ws: SearchScratch,
): Promise<[number, number][][]> {
  const codec = src.codec;
  const dim = codec.dim;
  const K = numCentroids(codec);
  const out: [number, number][][] = [];
  for (let b = 0; b < queries.length; ) {
    let e = b;
    let rows = 0;
    while (e < queries.length && (e === b || (rows + queries[e].rows) * K <= SCORE_GROUP_FLOATS)) {
      rows += queries[e].rows;
      e++;
    }
    if (rows === 0) {
      for (let j = b; j < e; j++) out.push([]);
      b = e;
      continue;
    }
    const Q = new Float32Array(rows * dim);
    let o = 0;
    for (let j = b; j < e; j++) {
      Q.set(queries[j].data.subarray(0, queries[j].rows * dim), o);
      o += queries[j].rows * dim;
    }
    // [rows, K], and with onnxruntime the probed cells of every query token [rows, probe].
    const probe = Math.min(params.nIvfProbe, K);
    const withTop = await gemmTopK(Q, rows, codec.centroids, K, dim, probe, src.kernels);
    const S = withTop ? withTop.y : await gemmABt(Q, rows, codec.centroids, K, dim, src.kernels);
    let off = 0;
    for (let j = b; j < e; j++) {
      const q = queries[j];
      if (q.rows === 0) {
        out.push([]);
        continue;
      }
      const scores = queryScores(src, q, S, off, K, ws);
      const top = withTop ? withTop.top.subarray(off * probe, (off + q.rows) * probe) : null;
      out.push(await searchWithScores(src, q, scores, top, k, allowed, allowedCount, params, ws));
      off += q.rows;
    }
    b = e;
  }
  return out;
}

/**
 * One query's centroid scores for approximate scoring, out of the group's [rows, K]: loaded
 * into the WebAssembly scorer as its int16 table, or transposed here ([K, nq]) for the scalar
 * loop. Approximate scores are sums of per-token maxima in steps of 1/scale, scale chosen so
 * that the largest possible |score| (Cauchy-Schwarz: query token norm × centroid norm) is
 * 32000 steps, which leaves 2% of int16's range for the float rounding of the products
 * (float16, which fast-plaid's examples search with, has steps of 1/2048 near 1).
 */
function queryScores(
  src: PlaidSearchSource,
  q: Matrix,
  S: Float32Array,
  off: number,
  K: number,
  ws: SearchScratch,
): QueryScores {
  const nq = q.rows;
  let qMax = 0;
  for (let i = 0; i < nq; i++) {
    let n2 = 0;
    for (let j = i * q.cols, e = j + q.cols; j < e; j++) n2 += q.data[j] * q.data[j];
    if (n2 > qMax) qMax = n2;
  }
  const bound = Math.sqrt(qMax) * src.centroidNorm;
  const scale = bound > 0 ? Math.fround(32000 / bound) : 1;
  if (src.wasm) {
    ws.wasm ??= new WasmApprox();
    ws.wasm.loadTable(S, off, K, nq, scale, src.lists.uniqUsed, src.alive.length);
    return { S, off, nq, scale, T: null };
  }
  if (ws.scoreTable.length < K * nq) ws.scoreTable = new Float32Array(K * nq);
  const T = ws.scoreTable.subarray(0, K * nq);
  // Transposed in blocks of 256 centroids: reads and writes both stay in cache.
  for (let c0 = 0; c0 < K; c0 += 256) {
    const c1 = Math.min(K, c0 + 256);
    for (let i = 0; i < nq; i++) {
      const so = (off + i) * K;
      for (let c = c0; c < c1; c++) T[c * nq + i] = S[so + c];
    }
  }
  return { S, off, nq, scale, T };
}

/** One query, given its centroid scores. */
async function searchWithScores(
  src: PlaidSearchSource,
  q: Matrix,
  scores: QueryScores,
  top: Int32Array | null,
  k: number,
  allowed: Uint8Array | null,
  allowedCount: number,
  params: PlaidSearchParameters,
  ws: SearchScratch,
): Promise<[number, number][]> {
  const K = numCentroids(src.codec);
  const n = src.alive.length;
  // fast-plaid and next-plaid keep the best nFullScores by approximate score, then
  // decompress the best quarter of those: that is the best M by approximate score.
  const M = Math.max(Math.floor(params.nFullScores / 4), k);
  let best: Int32Array;
  if (allowed && allowedCount <= params.nFullScores) {
    // A small filtered set: score all of it (probing would miss filtered documents).
    const cands: number[] = [];
    for (let d = 0; d < n; d++) if (allowed[d]) cands.push(d);
    best =
      cands.length <= M
        ? Int32Array.from(cands)
        : bestApprox(src, cands, cands.length, scores, M, ws);
  } else {
    best = probeAndApprox(src, scores, top, K, M, params, allowed, ws);
  }
  return await exactScores(src, q, best, k, ws);
}

/**
 * Probing, then the best M candidates by approximate score (fast-plaid: every candidate is
 * scored against all K centroid scores, not only the probed cells).
 *
 * centroidScoreThreshold (next-plaid): a probed cell whose best score over the query tokens
 * is below it is not opened (fewer candidates); approximate scores still use every centroid.
 */
function probeAndApprox(
  src: PlaidSearchSource,
  scores: QueryScores,
  top: Int32Array | null,
  K: number,
  M: number,
  params: PlaidSearchParameters,
  allowed: Uint8Array | null,
  ws: SearchScratch,
): Int32Array {
  const { S, off, nq } = scores;
  const probe = Math.min(params.nIvfProbe, K);
  // Top `probe` centroids of every query token [nq, probe], best first, ties to the lower
  // centroid: from onnxruntime's TopK, or one pass over the scores here.
  const pn = nq * probe;
  const bestC = top ?? scanTopCells(S, off, nq, K, probe, ws);
  // Candidates: the live (and allowed) documents of the probed cells, each once.
  if (ws.cellMark.length < K) ws.cellMark = new Int32Array(K);
  const mark = ws.cellMark;
  const epoch = ++ws.cellEpoch;
  const thr = params.centroidScoreThreshold;
  const n = src.alive.length;
  if (ws.candList.length < n) ws.candList = new Int32Array(n);
  const cands = ws.candList;
  const stampValue = ++ws.stampValue;
  if (ws.stamp.length < n) ws.stamp = new Int32Array(Math.max(n, ws.stamp.length * 2));
  const stamp = ws.stamp;
  let nc = 0;
  for (let j = 0; j < pn; j++) {
    const c = bestC[j];
    if (c < 0 || mark[c] === epoch) continue;
    mark[c] = epoch;
    if (thr !== null) {
      let mx = Number.NEGATIVE_INFINITY;
      for (let i = 0, o = off * K + c; i < nq; i++, o += K) if (S[o] > mx) mx = S[o];
      if (mx < thr) continue;
    }
    const list = src.lists.ivf[c];
    for (let li = 0; li < list.length; li++) {
      const d = list[li];
      if (stamp[d] === stampValue || !src.alive[d] || (allowed && !allowed[d])) continue;
      stamp[d] = stampValue;
      cands[nc++] = d;
    }
  }
  if (nc <= M) return cands.slice(0, nc).sort();
  return bestApprox(src, cands, nc, scores, M, ws);
}

/**
 * The `probe` best centroids of each query token ([nq, probe], best first, ties to the lower
 * centroid) by one pass over its row of scores.
 */
function scanTopCells(
  S: Float32Array,
  off: number,
  nq: number,
  K: number,
  probe: number,
  ws: SearchScratch,
): Int32Array {
  const pn = nq * probe;
  if (ws.probeScores.length < pn) {
    ws.probeScores = new Float32Array(pn);
    ws.probeCells = new Int32Array(pn);
  }
  const bestS = ws.probeScores;
  const bestC = ws.probeCells;
  bestS.fill(Number.NEGATIVE_INFINITY, 0, pn);
  bestC.fill(-1, 0, pn);
  for (let i = 0, base = 0; i < nq; i++, base += probe) {
    const row = (off + i) * K;
    for (let c = 0; c < K; c++) {
      const v = S[row + c];
      let j = base + probe - 1;
      if (v > bestS[j]) {
        while (j > base && bestS[j - 1] < v) {
          bestS[j] = bestS[j - 1];
          bestC[j] = bestC[j - 1];
          j--;
        }
        bestS[j] = v;
        bestC[j] = c;
      }
    }
  }
  return bestC.subarray(0, pn);
}

/** Approximate scores of cands[0 .. nc), the best M (ties: lower docno). */
function bestApprox(
  src: PlaidSearchSource,
  cands: ArrayLike<number>,
  nc: number,
  scores: QueryScores,
  M: number,
  ws: SearchScratch,
): Int32Array {
  const heap = new TopK(M);
  if (ws.approxOut.length < nc) ws.approxOut = new Int32Array(Math.max(nc, 1024));
  const out = ws.approxOut;
  if (scores.T === null) {
    ws.wasm!.score(
      src.lists.uniq,
      src.lists.uniqUsed,
      src.lists.uniqVersion,
      src.lists.uStart,
      src.lists.uLen,
      cands,
      nc,
      out,
    );
  } else {
    const mx = new Float32Array(scores.nq);
    for (let j = 0; j < nc; j++) {
      const d = cands[j];
      out[j] = approxKernel(scores, src.lists.uniq, src.lists.uStart[d], src.lists.uLen[d], mx);
    }
  }
  // A document without centroids (no tokens) ranks below every other.
  for (let j = 0; j < nc; j++)
    heap.push(cands[j], src.lists.uLen[cands[j]] > 0 ? out[j] : Number.NEGATIVE_INFINITY);
  return heap.docs();
}

/**
 * Exact MaxSim of the query against the decompressed documents (normalise(centroid +
 * residual weights)), in padded batches of documents of similar length, one
 * MatMul+ReduceMax run per batch, never a [nq, all tokens] score matrix.
 */
async function exactScores(
  src: PlaidSearchSource,
  q: Matrix,
  docs: Int32Array,
  k: number,
  ws: SearchScratch,
): Promise<[number, number][]> {
  const codec = src.codec;
  const dim = codec.dim;
  const nq = q.rows;
  const order = Array.from(docs).filter((d) => src.slots[d].len > 0);
  order.sort((a, b) => src.slots[a].len - src.slots[b].len || a - b);
  const scored: [number, number][] = [];
  if (order.length === 0) return [];
  const maxLen = src.slots[order[order.length - 1]].len;
  const budget = Math.max(EXACT_BATCH_TOKENS, maxLen);
  for (let b = 0; b < order.length; ) {
    // Lengths ascend, so the batch's last document sets its padded length.
    let e = b + 1;
    while (e < order.length && (e + 1 - b) * src.slots[order[e]].len <= budget) e++;
    const L = src.slots[order[e - 1]].len;
    const D = decompressBatch(src, order, b, e, L, ws);
    const Y = await maxSimPadded(q.data, nq, D, e - b, L, dim, src.kernels); // [docs, nq]
    for (let j = b; j < e; j++) {
      let s = 0;
      for (let i = 0; i < nq; i++) s += Y[(j - b) * nq + i];
      scored.push([order[j], s]);
    }
    b = e;
  }
  scored.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return scored.slice(0, k);
}

/**
 * Buffers and kernel instances of one search call, reused across calls through the pool:
 * two concurrent calls never share one (the exact stage awaits onnxruntime while it reads
 * the decompressed batch).
 */
export class SearchScratch {
  stamp = new Int32Array(0);
  stampValue = 0;
  candList = new Int32Array(0);
  approxOut = new Int32Array(0);
  wasm: WasmApprox | null = null;
  decompressor: WasmDecompressor | null = null;
  decompressBuffer = new Float32Array(0);
  scoreTable = new Float32Array(0);
  probeScores = new Float32Array(0);
  probeCells = new Int32Array(0);
  cellMark = new Int32Array(0);
  cellEpoch = 0;
}

/** One query's centroid scores, ready for approximate scoring (PLAID.queryScores). */
interface QueryScores {
  /** The group's [rows, K] query-centroid scores; this query's rows start at `off`. */
  S: Float32Array;
  off: number;
  nq: number;
  /** Float32 scale of the fixed-point approximate scores. */
  scale: number;
  /** [K, nq] for the scalar loop; null when the WebAssembly scorer holds the table. */
  T: Float32Array | null;
}

/**
 * The WebAssembly approx kernel in JS: Σ_i fixed(max over codes[start .. start+len) of
 * T[code·nq + i]); rounding is monotone, so this is the kernel's sum of rounded maxima.
 */
function approxKernel(
  scores: QueryScores,
  codes: Uint32Array,
  start: number,
  len: number,
  mx: Float32Array,
): number {
  const { T, nq, scale } = scores;
  mx.fill(Number.NEGATIVE_INFINITY);
  for (let t = start, e = start + len; t < e; t++) {
    const base = codes[t] * nq;
    for (let i = 0; i < nq; i++) {
      const v = T![base + i];
      if (v > mx[i]) mx[i] = v;
    }
  }
  let s = 0;
  for (let i = 0; i < nq; i++) s += fixedPointScore(mx[i], scale);
  return s;
}
