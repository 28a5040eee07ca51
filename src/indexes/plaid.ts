import { ConfigError, IndexError, InvalidArgumentError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import { BaseIndex, type BaseIndexOptions, type EncodedChunk } from "./base.js";
import {
  type Codec,
  byteWeightTable,
  defaultNumCentroids,
  kmeans,
  numCentroids,
  quantizeResiduals,
  trainCodec,
} from "./codec.js";
import { argmaxABt, gemmABt } from "./kernels.js";
import type { MetadataStore } from "./metadata.js";
import type { ChunkRef, IndexDirectory, Manifest } from "./store.js";
import { type SpillReader, spillDocuments } from "./spill.js";
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
}

export const DEFAULT_PLAID_SEARCH: Readonly<PlaidSearchParameters> = Object.freeze({
  nIvfProbe: 8,
  nFullScores: 8192,
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
  if (![1, 2, 4, 8].includes(c.nbits)) throw new ConfigError(`nbits must be 1, 2, 4 or 8, got ${c.nbits}`);
  const ints: [string, number, number][] = [
    ["kmeansIterations", c.kmeansIterations, 1],
    ["maxPointsPerCentroid", c.maxPointsPerCentroid, 1],
    ["buildMemoryTokens", c.buildMemoryTokens, 1024],
    ["chunkTokens", c.chunkTokens, 1],
  ];
  for (const [name, v, min] of ints) {
    if (!Number.isInteger(v) || v < min) throw new ConfigError(`${name} must be an integer >= ${min}, got ${v}`);
  }
  if (c.numCentroids !== null && (!Number.isInteger(c.numCentroids) || c.numCentroids < 1)) {
    throw new ConfigError(`numCentroids must be a positive integer or null, got ${c.numCentroids}`);
  }
}

function checkSearch(p: PlaidSearchParameters): void {
  for (const [name, v] of Object.entries(p)) {
    if (!Number.isInteger(v) || (v as number) < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got ${v}`);
  }
}

/**
 * PLAID (ColBERTv2 + PLAID, as fast-plaid): centroids, `nbits` residuals, an inverted file from
 * centroid to documents. Search: query-centroid scores, top `nIvfProbe` centroids per query
 * token, approximate MaxSim from centroid scores over the candidates, keep `nFullScores`,
 * decompress the best quarter and score them exactly.
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

  private constructor(store: IndexDirectory, manifest: Manifest, meta: MetadataStore) {
    super(store, manifest, meta);
    const c = manifest.config;
    this.config = { ...DEFAULT_PLAID_CONFIG, ...(c.plaid as Partial<PlaidConfig>) };
    this.searchDefaults = { ...DEFAULT_PLAID_SEARCH, ...(c.search as Partial<PlaidSearchParameters>) };
  }

  static async create(dir: string, options: PlaidOptions = {}): Promise<PLAID> {
    const config: PlaidConfig = { ...DEFAULT_PLAID_CONFIG };
    for (const key of Object.keys(DEFAULT_PLAID_CONFIG) as (keyof PlaidConfig)[]) {
      if (options[key] !== undefined) (config as unknown as Record<string, unknown>)[key] = options[key];
    }
    checkConfig(config);
    const search = { ...DEFAULT_PLAID_SEARCH, ...options.search };
    checkSearch(search);
    const { store, manifest, meta } = BaseIndex.initDirectory(dir, PLAID.TYPE, options, { plaid: config, search });
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
      centroids: c.sections.centroids as Float32Array,
      bucketCutoffs: c.sections.bucketCutoffs as Float32Array,
      bucketWeights: c.sections.bucketWeights as Float32Array,
    };
    if (!codec.centroids || codec.centroids.length % codec.dim !== 0 || codec.bucketWeights?.length !== 2 ** codec.nbits) {
      throw new IndexError(`${index.store.path(ref.file)}: codec sections do not match nbits ${codec.nbits} / dim ${codec.dim}`);
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
      const sample = tokens > cfg.buildMemoryTokens ? x.subarray(0, cfg.buildMemoryTokens * dim) : x;
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
    if (codec.dim !== dim) throw new IndexError(`codec dimension ${codec.dim} does not match the index dimension ${dim}`);
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
        const extra = await kmeans(pts, dim, Math.ceil(outliers.length / this.config.maxPointsPerCentroid), {
          iterations: this.config.kmeansIterations,
          maxPointsPerCentroid: this.config.maxPointsPerCentroid,
          seed: this.config.seed + (this.manifest.generation + 1),
        });
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
      sections: { codes: k <= 65_536 ? Uint16Array.from(codes) : Uint32Array.from(codes), residuals: packed },
      state,
    };
    if (codecChanged) {
      out.files = {
        codec: this.store.writeFile(
          `codec-${this.manifest.generation + 1}`,
          { nbits: codec.nbits, dim: codec.dim, clusterThreshold: codec.clusterThreshold },
          { centroids: codec.centroids, bucketCutoffs: codec.bucketCutoffs, bucketWeights: codec.bucketWeights },
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
    if (!codec) throw new IndexError(`${this.store.dir}: chunk ${ref.file} has no codec in the manifest`);
    const dim = codec.dim;
    const sec = this.chunks[ci].sections;
    const codes = sec.codes as Uint16Array | Uint32Array;
    const res = sec.residuals as Uint8Array;
    const bytesPer = (dim * codec.nbits) / 8;
    if (!codes || !res || codes.length !== ref.tokens || res.length !== ref.tokens * bytesPer) {
      throw new IndexError(`${this.store.path(ref.file)}: codes/residuals do not hold ${ref.tokens} tokens`);
    }
    const k = numCentroids(codec);
    const inv = new Float32Array(ref.tokens);
    const perByte = 8 / codec.nbits;
    const table = this.table;
    const cen = codec.centroids;
    for (let t = 0; t < ref.tokens; t++) {
      const c = codes[t];
      if (c >= k) throw new IndexError(`${this.store.path(ref.file)}: token ${t} has centroid ${c} but the codec has ${k}`);
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
    for (let i = 0; i < ref.docs; i++) {
      const d = ref.firstDocno + i;
      const slot = this.slots[d];
      for (let t = slot.start; t < slot.start + slot.len; t++) {
        const c = codes[t];
        if (seen[c] !== d) {
          seen[c] = d;
          this.ivf[c].push(d);
        }
      }
    }
  }

  // ---- search ----

  override async search(queries: Matrix[], options: PlaidSearchOptions = {}): Promise<import("./types.js").SearchResult[][]> {
    const params = {
      nIvfProbe: options.nIvfProbe ?? this.searchDefaults.nIvfProbe,
      nFullScores: options.nFullScores ?? this.searchDefaults.nFullScores,
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
    // Query-centroid scores for up to 32 queries per product: [K, their tokens].
    const GROUP = 32;
    for (let g = 0; g < queries.length; g += GROUP) {
      const group = queries.slice(g, g + GROUP);
      const tot = group.reduce((s, q) => s + q.rows, 0);
      const qcat = new Float32Array(tot * dim);
      let o = 0;
      for (const q of group) {
        qcat.set(q.data, o);
        o += q.data.length;
      }
      const scores = tot > 0 ? await gemmABt(codec.centroids, K, qcat, tot, dim) : new Float32Array(0);
      let off = 0;
      for (const q of group) {
        out.push(q.rows === 0 ? [] : this.searchWithScores(q, scores, tot, off, k, allowed, allowedCount, params));
        off += q.rows;
      }
    }
    return out;
  }

  /** One query, given its centroid scores S[c·stride + off + i]. */
  private searchWithScores(
    q: Matrix,
    S: Float32Array,
    stride: number,
    off: number,
    k: number,
    allowed: Uint8Array | null,
    allowedCount: number,
    params: PlaidSearchParameters,
  ): [number, number][] {
    const codec = this.codec!;
    const nq = q.rows;
    const K = numCentroids(codec);
    const n = this.alive.length;
    if (this.stamp.length < n) this.stamp = new Int32Array(Math.max(n, this.stamp.length * 2));
    const stamp = this.stamp;
    const mark = ++this.stampValue;
    let cands: number[] = [];
    if (allowed && allowedCount <= params.nFullScores) {
      // A small filtered set: score all of it (probing would miss filtered documents).
      for (let d = 0; d < n; d++) if (allowed[d]) cands.push(d);
    } else {
      // 1. top nIvfProbe centroids per query token.
      const probe = Math.min(params.nIvfProbe, K);
      const cells = new Set<number>();
      const bestC = new Int32Array(probe);
      const bestS = new Float32Array(probe);
      for (let i = 0; i < nq; i++) {
        let filled = 0;
        for (let c = 0; c < K; c++) {
          const v = S[c * stride + off + i];
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
        for (let j = 0; j < filled; j++) cells.add(bestC[j]);
      }
      // 2. candidates: documents in the probed cells.
      for (const c of cells) {
        for (const d of this.ivf[c]) {
          if (stamp[d] === mark || !this.alive[d] || (allowed && !allowed[d])) continue;
          stamp[d] = mark;
          cands.push(d);
        }
      }
    }
    // 3. approximate scores: Σ_i max over the document's centroids of S[c, i].
    const approx = new Float32Array(cands.length);
    const mx = new Float32Array(nq);
    for (let ci = 0; ci < cands.length; ci++) {
      const slot = this.slots[cands[ci]];
      const codes = this.chunks[slot.chunk].sections.codes as Uint16Array;
      mx.fill(Number.NEGATIVE_INFINITY);
      for (let t = slot.start, e = slot.start + slot.len; t < e; t++) {
        const base = codes[t] * stride + off;
        for (let i = 0; i < nq; i++) {
          const v = S[base + i];
          if (v > mx[i]) mx[i] = v;
        }
      }
      let s = 0;
      for (let i = 0; i < nq; i++) s += mx[i];
      approx[ci] = s;
    }
    // 4. keep nFullScores, then the best quarter (at least k) for exact scoring.
    const nDecompress = Math.max(Math.floor(params.nFullScores / 4), k);
    if (cands.length > nDecompress) {
      const order = Array.from(cands.keys()).sort((a, b) => approx[b] - approx[a] || cands[a] - cands[b]);
      cands = order.slice(0, nDecompress).map((i) => cands[i]);
    }
    // 5. exact MaxSim on decompressed tokens, via per-query lookup tables:
    //    q_i · (c + r) = S[c, i] + Σ_p LUT[p][byte_p][i], times 1/|c + r|.
    const lut = this.queryLut(q);
    const bytesPer = (codec.dim * codec.nbits) / 8;
    const acc = new Float32Array(nq);
    const scored: [number, number][] = [];
    for (const d of cands) {
      const slot = this.slots[d];
      const sec = this.chunks[slot.chunk].sections;
      const codes = sec.codes as Uint16Array;
      const res = sec.residuals as Uint8Array;
      const inv = this.invNorms[slot.chunk];
      mx.fill(Number.NEGATIVE_INFINITY);
      for (let t = slot.start, e = slot.start + slot.len; t < e; t++) {
        const base = codes[t] * stride + off;
        for (let i = 0; i < nq; i++) acc[i] = S[base + i];
        const ro = t * bytesPer;
        for (let p = 0; p < bytesPer; p++) {
          const lo = (p * 256 + res[ro + p]) * nq;
          for (let i = 0; i < nq; i++) acc[i] += lut[lo + i];
        }
        const w = inv[t];
        for (let i = 0; i < nq; i++) {
          const v = acc[i] * w;
          if (v > mx[i]) mx[i] = v;
        }
      }
      let s = 0;
      for (let i = 0; i < nq; i++) s += mx[i];
      scored.push([d, s]);
    }
    scored.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    return scored.slice(0, k);
  }

  private lutBuffer = new Float32Array(0);

  /** LUT[p][v][i] = Σ over the dims packed in byte position p of q_i[dim] · weight(v, dim). */
  private queryLut(q: Matrix): Float32Array {
    const codec = this.codec!;
    const nq = q.rows;
    const dim = codec.dim;
    const perByte = 8 / codec.nbits;
    const bytesPer = dim / perByte;
    const size = bytesPer * 256 * nq;
    if (this.lutBuffer.length < size) this.lutBuffer = new Float32Array(size);
    const lut = this.lutBuffer;
    const table = this.table;
    const qd = q.data;
    for (let p = 0; p < bytesPer; p++) {
      for (let v = 0; v < 256; v++) {
        const o = (p * 256 + v) * nq;
        const tb = v * perByte;
        for (let i = 0; i < nq; i++) {
          let s = 0;
          const qo = i * dim + p * perByte;
          for (let j = 0; j < perByte; j++) s += qd[qo + j] * table[tb + j];
          lut[o + i] = s;
        }
      }
    }
    return lut;
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
    const res = (sec.residuals as Uint8Array).subarray(slot.start * bytesPer, (slot.start + slot.len) * bytesPer);
    const perByte = 8 / codec.nbits;
    const data = new Float32Array(slot.len * codec.dim);
    for (let t = 0; t < slot.len; t++) {
      const co = codes[t] * codec.dim;
      for (let p = 0; p < bytesPer; p++) {
        const b = res[t * bytesPer + p] * perByte;
        for (let j = 0; j < perByte; j++) data[t * codec.dim + p * perByte + j] = codec.centroids[co + p * perByte + j] + this.table[b + j];
      }
      const w = this.invNorms[slot.chunk][slot.start + t];
      for (let j = 0; j < codec.dim; j++) data[t * codec.dim + j] *= w;
    }
    return { data, rows: slot.len, cols: codec.dim };
  }
}

export { defaultNumCentroids };
