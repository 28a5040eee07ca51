import { fixedPointScore, hasWasmKernels, WasmApprox, WasmDecompressor } from "../kernels/plaid.js";
import { ConfigError, IndexError, InvalidArgumentError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import { BaseIndex, type BaseIndexOptions, type EncodedChunk, type OpenOptions } from "./base.js";
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
import { argmaxABt, gemmABt, gemmTopK, maxSimPadded } from "./kernels.js";

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
   * next-plaid's centroid_score_threshold: a probed centroid whose best score over the query
   * tokens is below this value is not opened (fewer candidates; approximate scores still use
   * every centroid). null = no pruning (default, fast-plaid; next-plaid's default is 0.4).
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

/** PLAID's search options beyond k, filter and subset. */
export const PLAID_SEARCH_KEYS: readonly (keyof PlaidSearchParameters)[] = [
  "nIvfProbe",
  "nFullScores",
  "centroidScoreThreshold",
];

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
 * centroid to documents. Search: query-centroid scores and the top `nIvfProbe` centroids per
 * query token (one onnxruntime run for a group of queries), the documents of those cells
 * (optionally skipping cells below `centroidScoreThreshold`, as next-plaid), approximate
 * MaxSim from centroid scores over every candidate (WebAssembly SIMD), keep `nFullScores`,
 * decompress the best quarter and score them exactly (padded batches of documents, one
 * MatMul+ReduceMax run each). At the defaults on a SciFact-size index that quarter is 2,048
 * documents, ~40% of the corpus: the exact stage dominates (see the README).
 *
 * Chunk sections: `codes` (u16, or u32 when K > 65,536) [tokens], `residuals` u8
 * [tokens, dim·nbits/8]. The codec is the file `codec` of the manifest.
 */
export class PLAID extends BaseIndex<PlaidSearchOptions, PlaidSearchParameters> {
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
  /** Distinct centroids of each document (for approximate scores): uniq[uStart[d] …]. */
  private uniq = new Uint32Array(0);
  private uniqUsed = 0;
  /** Changes whenever `uniq` does (the WebAssembly scorer keeps a copy). */
  private uniqVersion = 0;
  private uStart = new Int32Array(0);
  private uLen = new Int32Array(0);
  /** Scratch buffers of finished searches, reused by later ones (one per concurrent call). */
  private scratchPool: SearchScratch[] = [];

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
    const index = new PLAID(store, manifest, meta);
    index.useKernels(options.kernels);
    return index;
  }

  static async open(dir: string, options: OpenOptions = {}): Promise<PLAID> {
    const { store, manifest, meta } = BaseIndex.openDirectory(dir, PLAID.TYPE, options);
    const index = new PLAID(store, manifest, meta);
    const verify = options.verifyChecksums ?? true;
    if (manifest.files.codec) index.setCodec(PLAID.readCodec(index, verify));
    index.loadAll(options);
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
        kernels: index.kernels,
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
    this.checkWritable();
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
      kernels: this.kernels,
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
        kernels: this.kernels,
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
    let codes = await argmaxABt(x, tokens, codec.centroids, k, dim, undefined, this.kernels);
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
            kernels: this.kernels,
          }),
        );
        const centroids = new Float32Array(codec.centroids.length + extra.length);
        centroids.set(codec.centroids);
        centroids.set(extra, codec.centroids.length);
        codec = { ...codec, centroids };
        codecChanged = true;
        k = numCentroids(codec);
        codes = await argmaxABt(x, tokens, codec.centroids, k, dim, undefined, this.kernels);
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
    this.uniqVersion++;
  }

  // ---- search ----

  protected searchKeys(): readonly string[] {
    return PLAID_SEARCH_KEYS;
  }

  /** WebAssembly kernels: available here and not turned off by the kernel options. */
  private useWasm(): boolean {
    return this.kernels.wasm !== false && hasWasmKernels();
  }

  protected searchParameters(options: PlaidSearchOptions): PlaidSearchParameters {
    const d = this.searchDefaults;
    const params: PlaidSearchParameters = {
      nIvfProbe: options.nIvfProbe ?? d.nIvfProbe,
      nFullScores: options.nFullScores ?? d.nFullScores,
      centroidScoreThreshold:
        options.centroidScoreThreshold !== undefined
          ? options.centroidScoreThreshold
          : d.centroidScoreThreshold,
    };
    checkSearch(params);
    return params;
  }

  /**
   * Queries go through in groups: one product gives the centroid scores of every query token
   * of the group ([rows, K], about 8 queries of 32 tokens at K = 8192); each query then
   * takes its rows out as its own table for the later stages (queryScores).
   */
  protected async searchBatch(
    queries: Matrix[],
    k: number,
    allowed: Uint8Array | null,
    allowedCount: number,
    params: PlaidSearchParameters,
  ): Promise<[number, number][][]> {
    const codec = this.codec;
    if (!codec) return queries.map(() => []);
    // Scratch buffers of this call: concurrent calls each take their own.
    const ws = this.scratchPool.pop() ?? new SearchScratch();
    try {
      return await this.searchGroups(queries, k, allowed, allowedCount, params, codec, ws);
    } finally {
      this.scratchPool.push(ws);
    }
  }

  private async searchGroups(
    queries: Matrix[],
    k: number,
    allowed: Uint8Array | null,
    allowedCount: number,
    params: PlaidSearchParameters,
    codec: Codec,
    ws: SearchScratch,
  ): Promise<[number, number][][]> {
    const dim = codec.dim;
    const K = numCentroids(codec);
    const out: [number, number][][] = [];
    for (let b = 0; b < queries.length; ) {
      let e = b;
      let rows = 0;
      while (
        e < queries.length &&
        (e === b || (rows + queries[e].rows) * K <= SCORE_GROUP_FLOATS)
      ) {
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
      const withTop = await gemmTopK(Q, rows, codec.centroids, K, dim, probe, this.kernels);
      const S = withTop ? withTop.y : await gemmABt(Q, rows, codec.centroids, K, dim, this.kernels);
      let off = 0;
      for (let j = b; j < e; j++) {
        const q = queries[j];
        if (q.rows === 0) {
          out.push([]);
          continue;
        }
        const scores = this.queryScores(q, S, off, K, ws);
        const top = withTop ? withTop.top.subarray(off * probe, (off + q.rows) * probe) : null;
        out.push(await this.searchWithScores(q, scores, top, k, allowed, allowedCount, params, ws));
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
  private queryScores(
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
    const bound = Math.sqrt(qMax) * this.centroidNormMax();
    const scale = bound > 0 ? Math.fround(32000 / bound) : 1;
    if (this.useWasm()) {
      ws.wasm ??= new WasmApprox();
      ws.wasm.loadTable(S, off, K, nq, scale, this.uniqUsed, this.alive.length);
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

  /** The largest centroid norm (1 for fast-plaid's normalised centroids), cached per codec. */
  private centroidNormMax(): number {
    const codec = this.codec!;
    if (this.normCache?.centroids !== codec.centroids) {
      let mx = 0;
      const c = codec.centroids;
      for (let o = 0; o < c.length; o += codec.dim) {
        let n2 = 0;
        for (let j = o; j < o + codec.dim; j++) n2 += c[j] * c[j];
        if (n2 > mx) mx = n2;
      }
      this.normCache = { centroids: c, max: Math.sqrt(mx) };
    }
    return this.normCache.max;
  }
  private normCache: { centroids: Float32Array; max: number } | null = null;

  /** One query, given its centroid scores. */
  private async searchWithScores(
    q: Matrix,
    scores: QueryScores,
    top: Int32Array | null,
    k: number,
    allowed: Uint8Array | null,
    allowedCount: number,
    params: PlaidSearchParameters,
    ws: SearchScratch,
  ): Promise<[number, number][]> {
    const K = numCentroids(this.codec!);
    const n = this.alive.length;
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
          : this.bestApprox(cands, cands.length, scores, M, ws);
    } else {
      best = this.probeAndApprox(scores, top, K, M, params, allowed, ws);
    }
    return await this.exactScores(q, best, k, ws);
  }

  /**
   * Probing, then the best M candidates by approximate score (fast-plaid: every candidate is
   * scored against all K centroid scores, not only the probed cells).
   *
   * centroidScoreThreshold (next-plaid): a probed cell whose best score over the query tokens
   * is below it is not opened (fewer candidates); approximate scores still use every centroid.
   */
  private probeAndApprox(
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
    const bestC = top ?? this.scanTopCells(S, off, nq, K, probe, ws);
    // Candidates: the live (and allowed) documents of the probed cells, each once.
    if (ws.cellMark.length < K) ws.cellMark = new Int32Array(K);
    const mark = ws.cellMark;
    const epoch = ++ws.cellEpoch;
    const thr = params.centroidScoreThreshold;
    const n = this.alive.length;
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
      const list = this.ivf[c];
      for (let li = 0; li < list.length; li++) {
        const d = list[li];
        if (stamp[d] === stampValue || !this.alive[d] || (allowed && !allowed[d])) continue;
        stamp[d] = stampValue;
        cands[nc++] = d;
      }
    }
    if (nc <= M) return cands.slice(0, nc).sort();
    return this.bestApprox(cands, nc, scores, M, ws);
  }

  /**
   * The `probe` best centroids of each query token ([nq, probe], best first, ties to the lower
   * centroid) by one pass over its row of scores.
   */
  private scanTopCells(
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
  private bestApprox(
    cands: ArrayLike<number>,
    nc: number,
    scores: QueryScores,
    M: number,
    ws: SearchScratch,
  ): Int32Array {
    const heap = new MinHeap(M);
    if (ws.approxOut.length < nc) ws.approxOut = new Int32Array(Math.max(nc, 1024));
    const out = ws.approxOut;
    if (scores.T === null) {
      ws.wasm!.score(
        this.uniq,
        this.uniqUsed,
        this.uniqVersion,
        this.uStart,
        this.uLen,
        cands,
        nc,
        out,
      );
    } else {
      const mx = new Float32Array(scores.nq);
      for (let j = 0; j < nc; j++) {
        const d = cands[j];
        out[j] = approxKernel(scores, this.uniq, this.uStart[d], this.uLen[d], mx);
      }
    }
    // A document without centroids (no tokens) ranks below every other.
    for (let j = 0; j < nc; j++)
      heap.push(cands[j], this.uLen[cands[j]] > 0 ? out[j] : Number.NEGATIVE_INFINITY);
    return heap.sortedDocs();
  }

  /**
   * Exact MaxSim of the query against the decompressed documents (normalise(centroid +
   * residual weights)), in padded batches of documents of similar length, one
   * MatMul+ReduceMax run per batch, never a [nq, all tokens] score matrix.
   */
  private async exactScores(
    q: Matrix,
    docs: Int32Array,
    k: number,
    ws: SearchScratch,
  ): Promise<[number, number][]> {
    const codec = this.codec!;
    const dim = codec.dim;
    const nq = q.rows;
    const order = Array.from(docs).filter((d) => this.slots[d].len > 0);
    order.sort((a, b) => this.slots[a].len - this.slots[b].len || a - b);
    const scored: [number, number][] = [];
    if (order.length === 0) return [];
    const maxLen = this.slots[order[order.length - 1]].len;
    const budget = Math.max(EXACT_BATCH_TOKENS, maxLen);
    const bytesPer = (dim * codec.nbits) / 8;
    const perByte = 8 / codec.nbits;
    const useWasm = this.useWasm() && WasmDecompressor.supports(codec.nbits, dim);
    for (let b = 0; b < order.length; ) {
      // Lengths ascend, so the batch's last document sets its padded length.
      let e = b + 1;
      while (e < order.length && (e + 1 - b) * this.slots[order[e]].len <= budget) e++;
      const L = this.slots[order[e - 1]].len;
      const D = useWasm
        ? this.decompressWasm(order, b, e, L, ws)
        : this.decompressJs(order, b, e, L, bytesPer, perByte, ws);
      const Y = await maxSimPadded(q.data, nq, D, e - b, L, dim, this.kernels); // [docs, nq]
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
   * Documents order[b .. e) decompressed into one block [e − b, L, dim]; a document shorter
   * than L repeats its first token (which leaves every max unchanged).
   */
  private decompressJs(
    order: number[],
    b: number,
    e: number,
    L: number,
    bytesPer: number,
    perByte: number,
    ws: SearchScratch,
  ): Float32Array {
    const codec = this.codec!;
    const dim = codec.dim;
    if (ws.decompressBuffer.length < (e - b) * L * dim)
      ws.decompressBuffer = new Float32Array((e - b) * L * dim);
    const D = ws.decompressBuffer.subarray(0, (e - b) * L * dim);
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
      for (let t = slot.len; t < L; t++) D.copyWithin(o + t * dim, o, o + dim);
    }
    return D;
  }

  /** As decompressJs, with a WebAssembly SIMD kernel (nbits 2, 4, 8); a view valid until the next call. */
  private decompressWasm(
    order: number[],
    b: number,
    e: number,
    L: number,
    ws: SearchScratch,
  ): Float32Array {
    const codec = this.codec!;
    const dim = codec.dim;
    const bytes = (dim * codec.nbits) / 8;
    const n = (e - b) * L;
    ws.decompressor ??= new WasmDecompressor();
    const { codes, res, inv } = ws.decompressor.prepare(
      codec.centroids,
      dim,
      codec.bucketWeights,
      n,
    );
    for (let j = b; j < e; j++) {
      const slot = this.slots[order[j]];
      const sec = this.chunks[slot.chunk].sections;
      const srcCodes = sec.codes as Uint16Array | Uint32Array;
      const srcRes = sec.residuals as Uint8Array;
      const srcInv = this.invNorms[slot.chunk];
      const o = (j - b) * L;
      const s0 = slot.start;
      codes.set(srcCodes.subarray(s0, s0 + slot.len), o);
      res.set(srcRes.subarray(s0 * bytes, (s0 + slot.len) * bytes), o * bytes);
      inv.set(srcInv.subarray(s0, s0 + slot.len), o);
      if (slot.len < L) {
        codes.fill(srcCodes[s0], o + slot.len, o + L);
        inv.fill(srcInv[s0], o + slot.len, o + L);
        for (let t = slot.len; t < L; t++)
          res.copyWithin((o + t) * bytes, o * bytes, (o + 1) * bytes);
      }
    }
    return ws.decompressor.run(n);
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

/**
 * Buffers and kernel instances of one search call, reused across calls through the pool:
 * two concurrent calls never share one (the exact stage awaits onnxruntime while it reads
 * the decompressed batch).
 */
class SearchScratch {
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
