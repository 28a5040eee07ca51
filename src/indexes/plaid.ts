import { ConfigError, IndexError, InvalidArgumentError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import { BaseIndex, type BaseIndexOptions, type EncodedChunk } from "./base.js";
import {
  byteWeightTable,
  type Codec,
  decodeF16,
  defaultNumCentroids,
  encodeF16,
  kmeans,
  numCentroids,
  quantizeResiduals,
  roundToF16,
  trainCodec,
} from "./codec.js";
import { argmaxABt, gatherMax, gemmABt, hasFastKernels, maxSimPadded } from "./kernels.js";

/** Padded document tokens decompressed per exact-scoring batch (16 MB at dim 128). */
const EXACT_BATCH_TOKENS = 32_768;

/** Below this much gather work the bounded JS scan beats a session run. */
const FAST_APPROX_MIN_WORK = 2_000_000;

import type { MetadataStore } from "./metadata.js";
import { type SpillReader, spillDocuments } from "./spill.js";
import type { ChunkRef, IndexDirectory, Manifest } from "./store.js";
import type { DocumentInput, SearchOptions } from "./types.js";

/** How a PLAID index is built (fast-plaid's defaults). Stored in the manifest. */
export interface PlaidConfig {
  /** Bits per residual dimension: 1, 2, 4 or 8 (default 4). */
  nbits: number;
  /** Lloyd iterations of k-means (default 4). */
  kmeansIterations: number;
  /** k-means trains on at most K × this many tokens (default 256). */
  maxPointsPerCentroid: number;
  /** K; null = 2^floor(log2(16·sqrt(tokens))) (default null). */
  numCentroids: number | null;
  /** Seed of sampling and k-means (default 42). */
  seed: number;
  /**
   * Streaming builds keep at most this many token embeddings in memory (the k-means sample
   * and the current batch); the rest waits in a spill file on disk. Default 2^19 tokens:
   * 524,288 × 128 dims × 4 bytes = 256 MB.
   */
  buildMemoryTokens: number;
  /** Tokens per chunk file written by a streaming build (default 65,536). */
  chunkTokens: number;
}

export const DEFAULT_PLAID_CONFIG: Readonly<PlaidConfig> = Object.freeze({
  nbits: 4,
  kmeansIterations: 4,
  maxPointsPerCentroid: 256,
  numCentroids: null,
  seed: 42,
  buildMemoryTokens: 2 ** 19,
  chunkTokens: 65_536,
});

/** How a PLAID index is searched (fast-plaid's defaults). */
export interface PlaidSearchParameters {
  /** Centroids probed per query token (default 8). */
  nIvfProbe: number;
  /** Candidates kept after the approximate (centroid) scores; a quarter of them are decompressed and scored exactly (default 8192). */
  nFullScores: number;
  /**
   * PLAID's centroid pruning (next-plaid's centroid_score_threshold): in the approximate
   * scores, a centroid whose best score over the query tokens is below this value is ignored
   * (a query token none of whose document centroids survives counts 0), and a candidate with
   * no surviving centroid is dropped before exact scoring. Faster on large candidate sets,
   * may change which documents are decompressed. null = no pruning (default, fast-plaid).
   */
  centroidScoreThreshold: number | null;
}

export const DEFAULT_PLAID_SEARCH: Readonly<PlaidSearchParameters> = Object.freeze({
  nIvfProbe: 8,
  nFullScores: 8192,
  centroidScoreThreshold: null,
});

export interface PlaidOptions extends BaseIndexOptions, Partial<PlaidConfig> {
  /** Default search parameters of this index. */
  search?: Partial<PlaidSearchParameters>;
}

export interface PlaidSearchOptions extends SearchOptions, Partial<PlaidSearchParameters> {}

/** Drift of an index updated after training: when to rebuild. */
export interface PlaidDrift {
  initialCentroids: number;
  addedCentroids: number;
  tokensAddedAfterTraining: number;
  outlierTokens: number;
  /** True when added centroids exceed 25% of the trained ones. */
  rebuildRecommended: boolean;
}

function checkConfig(c: PlaidConfig): void {
  if (![1, 2, 4, 8].includes(c.nbits))
    throw new ConfigError(`nbits must be 1, 2, 4 or 8, got ${c.nbits}`);
  const ints: [string, number, number][] = [
    ["kmeansIterations", c.kmeansIterations, 1],
    ["maxPointsPerCentroid", c.maxPointsPerCentroid, 1],
    ["buildMemoryTokens", c.buildMemoryTokens, 1024],
    ["chunkTokens", c.chunkTokens, 1],
  ];
  for (const [name, v, min] of ints) {
    if (!Number.isInteger(v) || v < min)
      throw new ConfigError(`${name} must be an integer >= ${min}, got ${v}`);
  }
  if (c.numCentroids !== null && (!Number.isInteger(c.numCentroids) || c.numCentroids < 1)) {
    throw new ConfigError(`numCentroids must be a positive integer or null, got ${c.numCentroids}`);
  }
}

function checkSearch(p: PlaidSearchParameters): void {
  for (const name of ["nIvfProbe", "nFullScores"] as const) {
    const v = p[name];
    if (!Number.isInteger(v) || v < 1)
      throw new InvalidArgumentError(`${name} must be a positive integer, got ${v}`);
  }
  const t = p.centroidScoreThreshold;
  if (t !== null && (typeof t !== "number" || !Number.isFinite(t))) {
    throw new InvalidArgumentError(
      `centroidScoreThreshold must be a finite number or null (no pruning), got ${t}`,
    );
  }
}

/**
 * PLAID (ColBERTv2 + PLAID, as fast-plaid): centroids, `nbits` residuals, an inverted file from
 * centroid to documents. Search: query-centroid scores, top `nIvfProbe` centroids per query
 * token, approximate MaxSim from centroid scores over the candidates (optionally with PLAID's
 * centroid pruning, `centroidScoreThreshold`), keep `nFullScores`, decompress the best quarter
 * and score them exactly (padded batches of documents, one MatMul+ReduceMax run each).
 *
 * Chunk sections: `codes` (u16, or u32 when K > 65,536) [tokens], `residuals` u8
 * [tokens, dim·nbits/8]. The codec is the file `codec` of the manifest.
 */
export class PLAID extends BaseIndex {
  static readonly TYPE = "plaid";
  private config: PlaidConfig;
  private searchDefaults: PlaidSearchParameters;
  private codec: Codec | null = null;
  private pendingCodec: Codec | null = null;
  private table: Float32Array = new Float32Array(0);
  /** Per chunk: 1 / |decompressed token| (decompressed vectors are normalised). */
  private invNorms: Float32Array[] = [];
  /** Centroid → docnos having a token there (deleted ones are skipped at search). */
  private ivf: number[][] = [];
  private buildMode = false;
  private stamp = new Int32Array(0);
  private stampValue = 0;
  /** Distinct centroids of each document (for approximate scores): uniq[uStart[d] …]. */
  private uniq = new Uint32Array(0);
  private uniqUsed = 0;
  private uStart = new Int32Array(0);
  private uLen = new Int32Array(0);

  private constructor(store: IndexDirectory, manifest: Manifest, meta: MetadataStore) {
    super(store, manifest, meta);
    const c = manifest.config;
    this.config = { ...DEFAULT_PLAID_CONFIG, ...(c.plaid as Partial<PlaidConfig>) };
    this.searchDefaults = {
      ...DEFAULT_PLAID_SEARCH,
      ...(c.search as Partial<PlaidSearchParameters>),
    };
  }

  static async create(dir: string, options: PlaidOptions = {}): Promise<PLAID> {
    const config: PlaidConfig = { ...DEFAULT_PLAID_CONFIG };
    for (const key of Object.keys(DEFAULT_PLAID_CONFIG) as (keyof PlaidConfig)[]) {
      if (options[key] !== undefined)
        (config as unknown as Record<string, unknown>)[key] = options[key];
    }
    checkConfig(config);
    const search = { ...DEFAULT_PLAID_SEARCH, ...options.search };
    checkSearch(search);
    const { store, manifest, meta } = BaseIndex.initDirectory(dir, PLAID.TYPE, options, {
      plaid: config,
      search,
    });
    return new PLAID(store, manifest, meta);
  }

  static async open(dir: string, options: { verifyChecksums?: boolean } = {}): Promise<PLAID> {
    const { store, manifest, meta } = BaseIndex.openDirectory(dir, PLAID.TYPE);
    const index = new PLAID(store, manifest, meta);
    const verify = options.verifyChecksums ?? true;
    if (manifest.files.codec) index.setCodec(PLAID.readCodec(index, verify));
    index.loadAll(verify);
    return index;
  }

  /**
   * Builds an index from a stream of documents with bounded memory: documents go to a spill
   * file while a reservoir keeps a uniform sample of at most `buildMemoryTokens` tokens; the
   * codec is trained on the sample, then the spill file is compressed chunk by chunk.
   */
  static async build(
    dir: string,
    documents: AsyncIterable<DocumentInput> | Iterable<DocumentInput>,
    options: PlaidOptions & { onProgress?: (done: number, total: number) => void } = {},
  ): Promise<PLAID> {
    const index = await PLAID.create(dir, options);
    const cfg = index.config;
    let spill: SpillReader | null = null;
    try {
      spill = await spillDocuments(documents, index.store.path(".build-spill.tmp"), {
        sampleTokens: Math.max(1, cfg.buildMemoryTokens - cfg.chunkTokens),
        seed: cfg.seed,
        dim: options.dim,
      });
      if (spill.docs === 0) return index;
      index.manifest.dim = spill.dim;
      const codec = await trainCodec(spill.sample, spill.dim, spill.tokens, {
        nbits: cfg.nbits,
        numCentroids: cfg.numCentroids ?? undefined,
        kmeansIterations: cfg.kmeansIterations,
        maxPointsPerCentroid: cfg.maxPointsPerCentroid,
        seed: cfg.seed,
      });
      spill.sample = new Float32Array(0);
      index.pendingCodec = codec;
      index.buildMode = true;
      let done = 0;
      for await (const batch of spill.batches(cfg.chunkTokens)) {
        await index.add(
          batch.map((d) => d.id),
          batch.map((d) => d.embedding),
          batch.map((d) => d.metadata ?? {}),
        );
        done += batch.length;
        options.onProgress?.(done, spill.docs);
      }
      return index;
    } catch (err) {
      await index.close();
      throw err;
    } finally {
      index.buildMode = false;
      spill?.close();
    }
  }

  private static readCodec(index: PLAID, verify: boolean): Codec {
    const ref = index.manifest.files.codec;
    const c = index.store.readFile(ref, verify);
    const h = c.header as { nbits: number; dim: number; clusterThreshold: number };
    const codec: Codec = {
      dim: h.dim,
      nbits: h.nbits,
      clusterThreshold: h.clusterThreshold,
      centroids:
        c.sections.centroids instanceof Uint16Array
          ? decodeF16(c.sections.centroids)
          : (c.sections.centroids as Float32Array),
      bucketCutoffs: c.sections.bucketCutoffs as Float32Array,
      bucketWeights: c.sections.bucketWeights as Float32Array,
    };
    if (
      !codec.centroids ||
      codec.centroids.length % codec.dim !== 0 ||
      codec.bucketWeights?.length !== 2 ** codec.nbits
    ) {
      throw new IndexError(
        `${index.store.path(ref.file)}: codec sections do not match nbits ${codec.nbits} / dim ${codec.dim}`,
      );
    }
    return codec;
  }

  private setCodec(codec: Codec): void {
    this.codec = codec;
    this.table = byteWeightTable(codec);
    const k = numCentroids(codec);
    while (this.ivf.length < k) this.ivf.push([]);
  }

  /** The trained codec, or null before the first add. */
  get trainedCodec(): Readonly<Codec> | null {
    return this.codec;
  }

  /** Build configuration and default search parameters. */
  get settings(): { config: Readonly<PlaidConfig>; search: Readonly<PlaidSearchParameters> } {
    return { config: this.config, search: this.searchDefaults };
  }

  drift(): PlaidDrift {
    const s = this.manifest.state as Record<string, number>;
    const initial = s.initialCentroids ?? 0;
    const added = this.codec ? numCentroids(this.codec) - initial : 0;
    return {
      initialCentroids: initial,
      addedCentroids: added,
      tokensAddedAfterTraining: s.tokensAddedAfterTraining ?? 0,
      outlierTokens: s.outlierTokens ?? 0,
      rebuildRecommended: initial > 0 && added > 0.25 * initial,
    };
  }

  /**
   * Rebuilds the index when `drift().rebuildRecommended`: trains a new codec (K from the current
   * token count) on the live documents, decompressed, and re-encodes them, in one atomic commit.
   * Ids and metadata are kept. Needs the decompressed index in memory (fp32).
   */
  async rebuild(): Promise<void> {
    this.checkOpen();
    const codec = this.codec;
    if (!codec || this.count() === 0) return;
    const ids = this.ids();
    const embs = ids.map((id) => this.decompressed(id)!);
    const metas = ids.map((id) => this.metadata(id) ?? {});
    const tokens = embs.reduce((s, e) => s + e.rows, 0);
    const cfg = this.config;
    const take = Math.min(tokens, cfg.buildMemoryTokens);
    const sample = new Float32Array(take * codec.dim);
    // Evenly spaced tokens: a deterministic sample of the whole collection.
    let t = 0;
    let next = 0;
    for (const e of embs) {
      for (let r = 0; r < e.rows; r++, t++) {
        if (next < take && t === Math.floor((next * tokens) / take)) {
          sample.set(e.data.subarray(r * codec.dim, (r + 1) * codec.dim), next * codec.dim);
          next++;
        }
      }
    }
    this.pendingCodec = await trainCodec(sample, codec.dim, tokens, {
      nbits: cfg.nbits,
      numCentroids: cfg.numCentroids ?? undefined,
      kmeansIterations: cfg.kmeansIterations,
      maxPointsPerCentroid: cfg.maxPointsPerCentroid,
      seed: cfg.seed,
    });
    this.buildMode = true;
    try {
      await this.update(ids, embs, metas);
    } finally {
      this.buildMode = false;
      this.pendingCodec = null;
    }
  }

  // ---- writes ----

  protected async encode(embeddings: Matrix[]): Promise<EncodedChunk> {
    // A codec staged by a failed earlier write is dropped (the build stages its own).
    if (!this.buildMode) this.pendingCodec = null;
    const dim = this.manifest.dim;
    const tokens = embeddings.reduce((s, e) => s + e.rows, 0);
    const x = new Float32Array(tokens * dim);
    let o = 0;
    for (const e of embeddings) {
      x.set(e.data, o);
      o += e.data.length;
    }
    const state = { ...(this.manifest.state as Record<string, number>) };
    let codec = this.pendingCodec ?? this.codec;
    let codecChanged = this.pendingCodec !== null && this.pendingCodec !== this.codec;
    if (!codec) {
      // First add to an empty index: train on this batch (sampled to the memory bound).
      const cfg = this.config;
      // A copy: training reorders its sample, and x is encoded below.
      const sample = x.slice(0, Math.min(tokens, cfg.buildMemoryTokens) * dim);
      codec = await trainCodec(sample, dim, tokens, {
        nbits: cfg.nbits,
        numCentroids: cfg.numCentroids ?? undefined,
        kmeansIterations: cfg.kmeansIterations,
        maxPointsPerCentroid: cfg.maxPointsPerCentroid,
        seed: cfg.seed,
      });
      codecChanged = true;
    }
    if (codecChanged) {
      state.initialCentroids = numCentroids(codec);
      state.tokensAddedAfterTraining = 0;
      state.outlierTokens = 0;
    }
    if (codec.dim !== dim)
      throw new IndexError(
        `codec dimension ${codec.dim} does not match the index dimension ${dim}`,
      );
    let k = numCentroids(codec);
    let codes = await argmaxABt(x, tokens, codec.centroids, k, dim);
    let { packed, sqNorms } = quantizeResiduals(codec, x, codes);
    if (!codecChanged && !this.buildMode) {
      // Tokens far from every centroid get new centroids (fast-plaid's update rule).
      const thr = codec.clusterThreshold * codec.clusterThreshold;
      const outliers: number[] = [];
      for (let i = 0; i < tokens; i++) if (sqNorms[i] > thr) outliers.push(i);
      state.tokensAddedAfterTraining = (state.tokensAddedAfterTraining ?? 0) + tokens;
      state.outlierTokens = (state.outlierTokens ?? 0) + outliers.length;
      if (outliers.length > 0) {
        const pts = new Float32Array(outliers.length * dim);
        outliers.forEach((t, i) => pts.set(x.subarray(t * dim, t * dim + dim), i * dim));
        const extra = roundToF16(
          await kmeans(pts, dim, Math.ceil(outliers.length / this.config.maxPointsPerCentroid), {
            iterations: this.config.kmeansIterations,
            maxPointsPerCentroid: this.config.maxPointsPerCentroid,
            seed: this.config.seed + (this.manifest.generation + 1),
          }),
        );
        const centroids = new Float32Array(codec.centroids.length + extra.length);
        centroids.set(codec.centroids);
        centroids.set(extra, codec.centroids.length);
        codec = { ...codec, centroids };
        codecChanged = true;
        k = numCentroids(codec);
        codes = await argmaxABt(x, tokens, codec.centroids, k, dim);
        ({ packed, sqNorms } = quantizeResiduals(codec, x, codes));
      }
    }
    const out: EncodedChunk = {
      sections: {
        codes: k <= 65_536 ? Uint16Array.from(codes) : Uint32Array.from(codes),
        residuals: packed,
      },
      state,
    };
    if (codecChanged) {
      out.files = {
        codec: this.store.writeFile(
          `codec-${this.manifest.generation + 1}`,
          { nbits: codec.nbits, dim: codec.dim, clusterThreshold: codec.clusterThreshold },
          {
            centroids: encodeF16(codec.centroids),
            bucketCutoffs: codec.bucketCutoffs,
            bucketWeights: codec.bucketWeights,
          },
        ),
      };
      this.pendingCodec = codec;
    }
    return out;
  }

  protected override onFilesChanged(_previous: Manifest): void {
    if (this.pendingCodec) {
      this.setCodec(this.pendingCodec);
      this.pendingCodec = null;
    }
  }

  protected onChunkAttached(ci: number, ref: ChunkRef): void {
    const codec = this.codec;
    if (!codec)
      throw new IndexError(`${this.store.dir}: chunk ${ref.file} has no codec in the manifest`);
    const dim = codec.dim;
    const sec = this.chunks[ci].sections;
    const codes = sec.codes as Uint16Array | Uint32Array;
    const res = sec.residuals as Uint8Array;
    const bytesPer = (dim * codec.nbits) / 8;
    if (!codes || !res || codes.length !== ref.tokens || res.length !== ref.tokens * bytesPer) {
      throw new IndexError(
        `${this.store.path(ref.file)}: codes/residuals do not hold ${ref.tokens} tokens`,
      );
    }
    const k = numCentroids(codec);
    const inv = new Float32Array(ref.tokens);
    const perByte = 8 / codec.nbits;
    const table = this.table;
    const cen = codec.centroids;
    for (let t = 0; t < ref.tokens; t++) {
      const c = codes[t];
      if (c >= k)
        throw new IndexError(
          `${this.store.path(ref.file)}: token ${t} has centroid ${c} but the codec has ${k}`,
        );
      const co = c * dim;
      let s = 0;
      for (let p = 0; p < bytesPer; p++) {
        const b = res[t * bytesPer + p] * perByte;
        for (let q = 0; q < perByte; q++) {
          const v = cen[co + p * perByte + q] + table[b + q];
          s += v * v;
        }
      }
      inv[t] = 1 / Math.max(Math.sqrt(s), 1e-12);
    }
    this.invNorms[ci] = inv;
    const seen = new Int32Array(k).fill(-1);
    const lastDoc = ref.firstDocno + ref.docs;
    if (this.uStart.length < lastDoc) {
      const size = Math.max(lastDoc, this.uStart.length * 2);
      const s0 = new Int32Array(size);
      s0.set(this.uStart);
      const l0 = new Int32Array(size);
      l0.set(this.uLen);
      this.uStart = s0;
      this.uLen = l0;
    }
    if (this.uniq.length < this.uniqUsed + ref.tokens) {
      const u = new Uint32Array(Math.max(this.uniqUsed + ref.tokens, this.uniq.length * 2));
      u.set(this.uniq.subarray(0, this.uniqUsed));
      this.uniq = u;
    }
    for (let i = 0; i < ref.docs; i++) {
      const d = ref.firstDocno + i;
      const slot = this.slots[d];
      this.uStart[d] = this.uniqUsed;
      for (let t = slot.start; t < slot.start + slot.len; t++) {
        const c = codes[t];
        if (seen[c] !== d) {
          seen[c] = d;
          this.ivf[c].push(d);
          this.uniq[this.uniqUsed++] = c;
        }
      }
      this.uLen[d] = this.uniqUsed - this.uStart[d];
    }
  }

  // ---- search ----

  override async search(
    queries: Matrix[],
    options: PlaidSearchOptions = {},
  ): Promise<import("./types.js").SearchResult[][]> {
    const params = {
      nIvfProbe: options.nIvfProbe ?? this.searchDefaults.nIvfProbe,
      nFullScores: options.nFullScores ?? this.searchDefaults.nFullScores,
      centroidScoreThreshold:
        options.centroidScoreThreshold !== undefined
          ? options.centroidScoreThreshold
          : this.searchDefaults.centroidScoreThreshold,
    };
    checkSearch(params);
    this.params = params;
    return await super.search(queries, options);
  }
  private params: PlaidSearchParameters = DEFAULT_PLAID_SEARCH;

  protected async searchOne(): Promise<[number, number][]> {
    throw new Error("unreachable: PLAID scores queries in searchBatch");
  }

  protected override async searchBatch(
    queries: Matrix[],
    k: number,
    allowed: Uint8Array | null,
    allowedCount: number,
  ): Promise<[number, number][][]> {
    const codec = this.codec;
    if (!codec) return queries.map(() => []);
    const params = this.params;
    const dim = codec.dim;
    const K = numCentroids(codec);
    const out: [number, number][][] = [];
    for (const q of queries) {
      if (q.rows === 0) {
        out.push([]);
        continue;
      }
      // Centroid-query scores [K, nq] straight from one product (a centroid's scores are
      // contiguous for the approximate scores; probing reads a column), plus a −∞ pad row K.
      const nq = q.rows;
      const Y = await gemmABt(codec.centroids, K, q.data, nq, dim);
      if (this.scoreTable.length < (K + 1) * nq) this.scoreTable = new Float32Array((K + 1) * nq);
      const S = this.scoreTable.subarray(0, (K + 1) * nq);
      S.set(Y);
      S.fill(Number.NEGATIVE_INFINITY, K * nq);
      out.push(await this.searchWithScores(q, S, nq, 0, k, allowed, allowedCount, params));
    }
    return out;
  }

  /**
   * One query, given its centroid scores S[c·stride + i] ([K + 1, nq], row K is −∞).
   */
  private async searchWithScores(
    q: Matrix,
    S: Float32Array,
    stride: number,
    off: number,
    k: number,
    allowed: Uint8Array | null,
    allowedCount: number,
    params: PlaidSearchParameters,
  ): Promise<[number, number][]> {
    const codec = this.codec!;
    const nq = q.rows;
    const K = numCentroids(codec);
    const n = this.alive.length;
    // fast-plaid keeps the best nFullScores by approximate score, then decompresses the best
    // quarter of those: that is the best M by approximate score.
    const M = Math.max(Math.floor(params.nFullScores / 4), k);
    let best: Int32Array;
    if (allowed && allowedCount <= params.nFullScores) {
      // A small filtered set: score all of it (probing would miss filtered documents).
      const cands: number[] = [];
      for (let d = 0; d < n; d++) if (allowed[d]) cands.push(d);
      best = this.topApprox(cands, S, stride, 0, nq, M);
    } else {
      best = await this.probeAndApprox(S, stride, off, nq, K, M, params, allowed);
    }
    return this.exactScores(q, best, S, stride, off, k);
  }

  /** Full approximate scores of `cands`, the best M (ties: lower docno). */
  private topApprox(
    cands: number[],
    S: Float32Array,
    stride: number,
    off: number,
    nq: number,
    M: number,
  ): Int32Array {
    const heap = new MinHeap(M);
    const mx = new Float32Array(nq);
    for (const d of cands) {
      heap.push(d, this.approx(d, S, stride, off, nq, mx));
    }
    return heap.sortedDocs();
  }

  /** Σ_i max over the document's (distinct) centroids c of S[c, i]. */
  private approx(
    d: number,
    S: Float32Array,
    stride: number,
    off: number,
    nq: number,
    mx: Float32Array,
  ): number {
    return approxKernel(S, stride, off, nq, this.uniq, this.uStart[d], this.uLen[d], mx);
  }

  /**
   * Probing plus the exact best M by approximate score, without scoring every candidate:
   * the cells probed give every candidate a lower bound m_i(d) = max over its probed cells of
   * S[c, i]; a cell that token i did not probe scores at most θ_i (its nIvfProbe-th best), so
   * approx(d) <= Σ_i max(m_i(d), θ_i). Candidates are scored in decreasing order of that
   * bound until the M-th best score beats the next bound: the same M documents as scoring
   * all of them (fast-plaid), for a fraction of the work.
   */
  private async probeAndApprox(
    S: Float32Array,
    stride: number,
    off: number,
    nq: number,
    K: number,
    M: number,
    params: PlaidSearchParameters,
    allowed: Uint8Array | null,
  ): Promise<Int32Array> {
    const probe = Math.min(params.nIvfProbe, K);
    const cells = new Set<number>();
    const theta = new Float32Array(nq);
    const bestC = new Int32Array(probe);
    const bestS = new Float32Array(probe);
    for (let i = 0; i < nq; i++) {
      const filled = topCells(S, i, stride, K, probe, bestC, bestS);
      for (let j = 0; j < filled; j++) cells.add(bestC[j]);
      theta[i] = filled === probe && probe < K ? bestS[filled - 1] : Number.NEGATIVE_INFINITY;
    }
    const n = this.alive.length;
    if (this.candIndex.length < n)
      this.candIndex = new Int32Array(Math.max(n, this.candIndex.length * 2));
    const candIndex = this.candIndex;
    const stampValue = ++this.stampValue;
    if (this.stamp.length < n) this.stamp = new Int32Array(Math.max(n, this.stamp.length * 2));
    const stamp = this.stamp;
    const cands: number[] = [];
    let lower = this.lowerBuffer;
    for (const c of cells) {
      const list = this.ivf[c];
      const so = c * stride; // S is this query's own table
      for (let li = 0; li < list.length; li++) {
        const d = list[li];
        if (!this.alive[d] || (allowed && !allowed[d])) continue;
        let idx: number;
        if (stamp[d] !== stampValue) {
          stamp[d] = stampValue;
          idx = cands.length;
          candIndex[d] = idx;
          cands.push(d);
          if (lower.length < (idx + 1) * nq) {
            const grown = new Float32Array(Math.max((idx + 1) * nq, lower.length * 2));
            grown.set(lower);
            lower = grown;
          }
          for (let i = 0; i < nq; i++) lower[idx * nq + i] = S[so + i];
        } else {
          idx = candIndex[d];
          const lo = idx * nq;
          for (let i = 0; i < nq; i++) if (S[so + i] > lower[lo + i]) lower[lo + i] = S[so + i];
        }
      }
    }
    this.lowerBuffer = lower;
    const thr = params.centroidScoreThreshold;
    if (thr !== null) return this.approxTopPruned(cands, S, nq, M, thr);
    if (cands.length <= M) return Int32Array.from(cands).sort();
    if (hasFastKernels() && cands.length * nq * 64 >= FAST_APPROX_MIN_WORK) {
      return this.approxTopFast(cands, S, nq, M);
    }
    const upper = new Float32Array(cands.length);
    for (let idx = 0; idx < cands.length; idx++) {
      let u = 0;
      const lo = idx * nq;
      for (let i = 0; i < nq; i++) u += Math.max(lower[lo + i], theta[i]);
      upper[idx] = u;
    }
    const order = Array.from(cands.keys()).sort((a, b) => upper[b] - upper[a]);
    const heap = new MinHeap(M);
    const mx = new Float32Array(nq);
    for (const idx of order) {
      if (heap.full && upper[idx] < heap.min) break;
      heap.push(cands[idx], this.approx(cands[idx], S, stride, 0, nq, mx));
    }
    return heap.sortedDocs();
  }

  /**
   * Approximate scores of all candidates in a few onnxruntime runs (Gather + ReduceMax over
   * each document's distinct centroids, padded with a −∞ row), then the best M.
   */
  private async approxTopFast(
    cands: number[],
    S: Float32Array,
    nq: number,
    M: number,
  ): Promise<Int32Array> {
    const K = numCentroids(this.codec!);
    // S is this query's [K + 1, nq] table (row K is −∞).
    const T = S;
    const heap = new MinHeap(M);
    const BATCH = 1024;
    for (let b = 0; b < cands.length; b += BATCH) {
      const e = Math.min(cands.length, b + BATCH);
      let L = 1;
      for (let j = b; j < e; j++) L = Math.max(L, this.uLen[cands[j]]);
      const idx = new Int32Array((e - b) * L).fill(K);
      for (let j = b; j < e; j++) {
        const d = cands[j];
        idx.set(this.uniq.subarray(this.uStart[d], this.uStart[d] + this.uLen[d]), (j - b) * L);
      }
      const Y = await gatherMax(T, K + 1, nq, idx, e - b, L);
      for (let j = b; j < e; j++) {
        let sum = 0;
        const yo = (j - b) * nq;
        for (let i = 0; i < nq; i++) sum += Y[yo + i];
        heap.push(cands[j], sum);
      }
    }
    return heap.sortedDocs();
  }

  /**
   * Approximate scores over each candidate's centroids that score at least `thr` for some
   * query token (PLAID's centroid pruning), the best M; candidates with none are dropped.
   */
  private async approxTopPruned(
    cands: number[],
    S: Float32Array,
    nq: number,
    M: number,
    thr: number,
  ): Promise<Int32Array> {
    const K = numCentroids(this.codec!);
    if (this.keepCentroid.length < K) this.keepCentroid = new Uint8Array(K);
    const keep = this.keepCentroid;
    for (let c = 0; c < K; c++) {
      let mx = Number.NEGATIVE_INFINITY;
      for (let i = 0, o = c * nq; i < nq; i++) if (S[o + i] > mx) mx = S[o + i];
      keep[c] = mx >= thr ? 1 : 0;
    }
    const kept: number[] = [];
    const lens: number[] = [];
    let total = 0;
    for (const d of cands) {
      let n = 0;
      for (let t = this.uStart[d], e = t + this.uLen[d]; t < e; t++) n += keep[this.uniq[t]];
      if (n > 0) {
        kept.push(d);
        lens.push(n);
        total += n;
      }
    }
    const heap = new MinHeap(M);
    const fast = hasFastKernels() && total * nq >= FAST_APPROX_MIN_WORK;
    const mx = new Float32Array(nq);
    const BATCH = 1024;
    for (let b = 0; b < kept.length; b += BATCH) {
      const e = Math.min(kept.length, b + BATCH);
      let L = 1;
      for (let j = b; j < e; j++) L = Math.max(L, lens[j]);
      // Surviving centroids of each document, padded with the −∞ row K.
      const idx = new Int32Array((e - b) * L).fill(K);
      for (let j = b; j < e; j++) {
        const d = kept[j];
        let o = (j - b) * L;
        for (let t = this.uStart[d], te = t + this.uLen[d]; t < te; t++) {
          if (keep[this.uniq[t]]) idx[o++] = this.uniq[t];
        }
      }
      if (fast) {
        const Y = await gatherMax(S, K + 1, nq, idx, e - b, L);
        for (let j = b; j < e; j++) {
          let sum = 0;
          const yo = (j - b) * nq;
          for (let i = 0; i < nq; i++) if (Y[yo + i] > Number.NEGATIVE_INFINITY) sum += Y[yo + i];
          heap.push(kept[j], sum);
        }
      } else {
        for (let j = b; j < e; j++) {
          mx.fill(Number.NEGATIVE_INFINITY);
          for (let t = (j - b) * L, te = t + lens[j]; t < te; t++) {
            const base = idx[t] * nq;
            for (let i = 0; i < nq; i++) if (S[base + i] > mx[i]) mx[i] = S[base + i];
          }
          let sum = 0;
          for (let i = 0; i < nq; i++) if (mx[i] > Number.NEGATIVE_INFINITY) sum += mx[i];
          heap.push(kept[j], sum);
        }
      }
    }
    return heap.sortedDocs();
  }

  private keepCentroid = new Uint8Array(0);
  private candIndex = new Int32Array(0);
  private decompressBuffer = new Float32Array(0);
  private scoreTable = new Float32Array(0);
  private lowerBuffer = new Float32Array(0);

  /**
   * Exact MaxSim of the query against decompressed documents: tokens are decompressed
   * (normalise(centroid + residual weights)) into one block and scored with one matrix
   * product Q·Dᵀ, then reduced per document.
   */
  private async exactScores(
    q: Matrix,
    docs: Int32Array,
    _S: Float32Array,
    _stride: number,
    _off: number,
    k: number,
  ): Promise<[number, number][]> {
    const codec = this.codec!;
    const dim = codec.dim;
    const nq = q.rows;
    // Documents in order of length, in batches padded to the longest of the batch (short
    // ones repeat their first token, which leaves every max unchanged): one MatMul+ReduceMax
    // run per batch, never a [nq, all tokens] score matrix.
    const order = Array.from(docs).filter((d) => this.slots[d].len > 0);
    order.sort((a, b) => this.slots[a].len - this.slots[b].len || a - b);
    const scored: [number, number][] = [];
    if (order.length === 0) return [];
    const maxLen = this.slots[order[order.length - 1]].len;
    const budget = Math.max(EXACT_BATCH_TOKENS, maxLen);
    if (this.decompressBuffer.length < budget * dim)
      this.decompressBuffer = new Float32Array(budget * dim);
    const bytesPer = (dim * codec.nbits) / 8;
    const perByte = 8 / codec.nbits;
    for (let b = 0; b < order.length; ) {
      // Lengths ascend, so the batch's last document sets its padded length.
      let e = b + 1;
      while (e < order.length && (e + 1 - b) * this.slots[order[e]].len <= budget) e++;
      const L = this.slots[order[e - 1]].len;
      const D = this.decompressBuffer.subarray(0, (e - b) * L * dim);
      for (let j = b; j < e; j++) {
        const slot = this.slots[order[j]];
        const sec = this.chunks[slot.chunk].sections;
        const o = (j - b) * L * dim;
        decompressInto(
          sec.codes as Uint16Array,
          sec.residuals as Uint8Array,
          this.invNorms[slot.chunk],
          slot.start,
          slot.len,
          codec.centroids,
          this.table,
          dim,
          bytesPer,
          perByte,
          D,
          o,
        );
        // Padding repeats the first token: maxima are unchanged.
        for (let t = slot.len; t < L; t++) D.copyWithin(o + t * dim, o, o + dim);
      }
      const Y = await maxSimPadded(q.data, nq, D, e - b, L, dim); // [docs, nq]
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

  /** Decompressed embedding of a live document (normalised tokens). */
  decompressed(id: string): Matrix | undefined {
    const d = this.docnoOf.get(id);
    if (d === undefined || !this.codec) return undefined;
    const slot = this.slots[d];
    const sec = this.chunks[slot.chunk].sections;
    const codec = this.codec;
    const bytesPer = (codec.dim * codec.nbits) / 8;
    const codes = (sec.codes as Uint16Array).subarray(slot.start, slot.start + slot.len);
    const res = (sec.residuals as Uint8Array).subarray(
      slot.start * bytesPer,
      (slot.start + slot.len) * bytesPer,
    );
    const perByte = 8 / codec.nbits;
    const data = new Float32Array(slot.len * codec.dim);
    for (let t = 0; t < slot.len; t++) {
      const co = codes[t] * codec.dim;
      for (let p = 0; p < bytesPer; p++) {
        const b = res[t * bytesPer + p] * perByte;
        for (let j = 0; j < perByte; j++)
          data[t * codec.dim + p * perByte + j] =
            codec.centroids[co + p * perByte + j] + this.table[b + j];
      }
      const w = this.invNorms[slot.chunk][slot.start + t];
      for (let j = 0; j < codec.dim; j++) data[t * codec.dim + j] *= w;
    }
    return { data, rows: slot.len, cols: codec.dim };
  }
}

export { defaultNumCentroids };

/** Σ_i max over codes[start .. start+len) of S[code·stride + off + i]. */
function approxKernel(
  S: Float32Array,
  stride: number,
  off: number,
  nq: number,
  codes: Uint32Array,
  start: number,
  len: number,
  mx: Float32Array,
): number {
  mx.fill(Number.NEGATIVE_INFINITY);
  for (let t = start, e = start + len; t < e; t++) {
    const base = codes[t] * stride + off;
    for (let i = 0; i < nq; i++) {
      const v = S[base + i];
      if (v > mx[i]) mx[i] = v;
    }
  }
  let s = 0;
  for (let i = 0; i < nq; i++) s += mx[i];
  return s;
}

/** The `probe` best centroids for one query token (T[o + c·step], c < K), best first. */
function topCells(
  T: Float32Array,
  o: number,
  step: number,
  K: number,
  probe: number,
  bestC: Int32Array,
  bestS: Float32Array,
): number {
  let filled = 0;
  for (let c = 0; c < K; c++) {
    const v = T[o + c * step];
    if (filled < probe || v > bestS[filled - 1]) {
      let j = filled < probe ? filled++ : filled - 1;
      while (j > 0 && bestS[j - 1] < v) {
        bestS[j] = bestS[j - 1];
        bestC[j] = bestC[j - 1];
        j--;
      }
      bestS[j] = v;
      bestC[j] = c;
    }
  }
  return filled;
}

/** Writes normalise(centroid + residual) of tokens start .. start+len into out at `o`. */
function decompressInto(
  codes: Uint16Array | Uint32Array,
  res: Uint8Array,
  inv: Float32Array,
  start: number,
  len: number,
  centroids: Float32Array,
  table: Float32Array,
  dim: number,
  bytesPer: number,
  perByte: number,
  out: Float32Array,
  o: number,
): void {
  if (perByte === 2) {
    // nbits 4, the default: two dimensions per byte, unrolled.
    for (let t = start; t < start + len; t++) {
      const co = codes[t] * dim;
      const ro = t * bytesPer;
      const w = inv[t];
      for (let p = 0; p < bytesPer; p++) {
        const b = res[ro + p] << 1;
        const j = p << 1;
        out[o + j] = (centroids[co + j] + table[b]) * w;
        out[o + j + 1] = (centroids[co + j + 1] + table[b + 1]) * w;
      }
      o += dim;
    }
    return;
  }
  for (let t = start; t < start + len; t++) {
    const co = codes[t] * dim;
    const ro = t * bytesPer;
    const w = inv[t];
    for (let p = 0; p < bytesPer; p++) {
      const b = res[ro + p] * perByte;
      const po = p * perByte;
      for (let j = 0; j < perByte; j++)
        out[o + po + j] = (centroids[co + po + j] + table[b + j]) * w;
    }
    o += dim;
  }
}

/** Keeps the best `cap` (doc, score) pairs; ties prefer the lower doc number. */
class MinHeap {
  private readonly cap: number;
  private readonly docs: Int32Array;
  private readonly scores: Float64Array;
  private size = 0;
  constructor(cap: number) {
    this.cap = cap;
    this.docs = new Int32Array(cap);
    this.scores = new Float64Array(cap);
  }
  get full(): boolean {
    return this.size >= this.cap;
  }
  get min(): number {
    return this.scores[0];
  }
  /** a is worse than b. */
  private worse(a: number, b: number): boolean {
    const sa = this.scores[a];
    const sb = this.scores[b];
    return sa < sb || (sa === sb && this.docs[a] > this.docs[b]);
  }
  private swap(a: number, b: number): void {
    const d = this.docs[a];
    this.docs[a] = this.docs[b];
    this.docs[b] = d;
    const s = this.scores[a];
    this.scores[a] = this.scores[b];
    this.scores[b] = s;
  }
  push(doc: number, score: number): void {
    if (this.size < this.cap) {
      let i = this.size++;
      this.docs[i] = doc;
      this.scores[i] = score;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.worse(i, p)) break;
        this.swap(i, p);
        i = p;
      }
      return;
    }
    if (score < this.scores[0] || (score === this.scores[0] && doc > this.docs[0])) return;
    this.docs[0] = doc;
    this.scores[0] = score;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.size && this.worse(l, m)) m = l;
      if (r < this.size && this.worse(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }
  /** The kept documents (any order). */
  sortedDocs(): Int32Array {
    return this.docs.slice(0, this.size);
  }
}
