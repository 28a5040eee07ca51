import { hasWasmKernels } from "../../kernels/plaid.js";
import { ConfigError, IndexError } from "../../util/errors.js";
import type { Matrix } from "../../util/matrix.js";
import { BaseIndex, type EncodedChunk, type OpenOptions } from "../base.js";
import type { MetadataStore } from "../metadata.js";
import type { ChunkRef, IndexDirectory, Manifest } from "../store.js";
import type { DocumentInput } from "../types.js";
import {
  byteWeightTable,
  type Codec,
  checkCodec,
  numCentroids,
  readCodecFile,
  writeCodecFile,
} from "./codec.js";
import {
  checkConfig,
  checkSearch,
  DEFAULT_PLAID_CONFIG,
  DEFAULT_PLAID_SEARCH,
  PLAID_SEARCH_KEYS,
  type PlaidConfig,
  type PlaidDrift,
  type PlaidOptions,
  type PlaidSearchOptions,
  type PlaidSearchParameters,
} from "./config.js";
import { decompressDocument } from "./decompress.js";
import { codesFor, type PlaidChunk, PlaidLists, plaidChunk } from "./ivf.js";
import { type PlaidSearchSource, SearchScratch, searchPlaid } from "./search.js";
import { type SpillReader, spillDocuments } from "./spill.js";
import { concatTokens, encodeTokens, evenSample, type PlaidState, trainFor } from "./update.js";

export { type Codec, defaultNumCentroids } from "./codec.js";
export {
  DEFAULT_PLAID_CONFIG,
  DEFAULT_PLAID_SEARCH,
  PLAID_SEARCH_KEYS,
  type PlaidConfig,
  type PlaidDrift,
  type PlaidOptions,
  type PlaidSearchOptions,
  type PlaidSearchParameters,
} from "./config.js";

/**
 * PLAID (ColBERTv2 + PLAID, as fast-plaid): centroids, `nbits` residuals, an inverted file from
 * centroid to documents. This class holds the life cycle and the BaseIndex hooks; the stages
 * live next to it: config, codec + kmeans (training), update (encoding, outlier centroids),
 * ivf (typed chunk sections and the derived search tables), search (probe → approx → exact),
 * decompress (the JS reference and the WebAssembly dispatch), spill (streaming builds).
 *
 * Chunk sections: `codes` (u16, or u32 when K > 65,536) [tokens], `residuals` u8
 * [tokens, dim·nbits/8]. The codec is the file `codec` of the manifest.
 */
export class PLAID extends BaseIndex<PlaidSearchOptions, PlaidSearchParameters> {
  static readonly TYPE = "plaid";
  private config: PlaidConfig;
  private searchDefaults: PlaidSearchParameters;
  private codec: Codec | null = null;
  /** A codec trained by this write, committed with it (onFilesChanged). */
  private pendingCodec: Codec | null = null;
  private table: Float32Array = new Float32Array(0);
  /** The largest centroid norm of the codec (bounds the approximate scores). */
  private centroidNorm = 1;
  /** Per chunk: its typed sections. */
  private parts: PlaidChunk[] = [];
  private lists = new PlaidLists();
  private buildMode = false;
  /** Scratch workspaces of finished searches, reused by later ones (one per concurrent call). */
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
    const given = options.codec;
    if (given !== undefined) {
      checkCodec(given, "options.codec");
      if (given.nbits !== config.nbits || (options.dim !== undefined && given.dim !== options.dim))
        throw new ConfigError(
          `options.codec has nbits ${given.nbits} / dim ${given.dim} but the index has nbits ${config.nbits}${options.dim !== undefined ? ` / dim ${options.dim}` : ""}`,
        );
    }
    const { store, manifest, meta } = BaseIndex.initDirectory(
      dir,
      PLAID.TYPE,
      given ? { ...options, dim: given.dim } : options,
      { plaid: config, search },
    );
    const index = new PLAID(store, manifest, meta);
    index.useKernels(options.kernels);
    if (given) {
      // A codec trained elsewhere is this index's trained codec from the start.
      manifest.files.codec = writeCodecFile(store, "codec-0", given);
      manifest.state = { initialCentroids: numCentroids(given), tokensAddedAfterTraining: 0 };
      store.writeManifest(manifest);
      index.setCodec(given);
    }
    return index;
  }

  static async open(dir: string, options: OpenOptions = {}): Promise<PLAID> {
    const { store, manifest, meta } = BaseIndex.openDirectory(dir, PLAID.TYPE, options);
    const index = new PLAID(store, manifest, meta);
    const verify = options.verifyChecksums ?? true;
    if (manifest.files.codec) index.setCodec(readCodecFile(store, manifest.files.codec, verify));
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
      if (!index.codec) {
        index.pendingCodec = await trainFor(
          spill.sample,
          spill.dim,
          spill.tokens,
          cfg,
          index.kernels,
        );
      }
      spill.sample = new Float32Array(0);
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

  private setCodec(codec: Codec): void {
    this.codec = codec;
    this.table = byteWeightTable(codec);
    this.lists.ensureCentroids(numCentroids(codec));
    let mx = 0;
    const c = codec.centroids;
    for (let o = 0; o < c.length; o += codec.dim) {
      let n2 = 0;
      for (let j = o; j < o + codec.dim; j++) n2 += c[j] * c[j];
      if (n2 > mx) mx = n2;
    }
    this.centroidNorm = Math.sqrt(mx);
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
    const s = this.manifest.state as PlaidState;
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
    const take = Math.min(tokens, this.config.buildMemoryTokens);
    const sample = evenSample(embs, tokens, take, codec.dim);
    this.pendingCodec = await trainFor(sample, codec.dim, tokens, this.config, this.kernels);
    this.buildMode = true;
    try {
      await this.update(ids, embs, metas);
    } finally {
      this.buildMode = false;
      this.pendingCodec = null;
    }
  }

  // ---- hooks: writes ----

  protected async encode(embeddings: Matrix[]): Promise<EncodedChunk> {
    // A codec staged by a failed earlier write is dropped (the build stages its own).
    if (!this.buildMode) this.pendingCodec = null;
    const dim = this.manifest.dim;
    const cfg = this.config;
    const x = concatTokens(embeddings, dim);
    const tokens = x.length / dim;
    const state: PlaidState = { ...(this.manifest.state as PlaidState) };
    let codec = this.pendingCodec ?? this.codec;
    let trained = this.pendingCodec !== null && this.pendingCodec !== this.codec;
    if (!codec) {
      // First add to an empty index: train on this batch (sampled to the memory bound; a
      // copy, as training reorders its sample).
      const sample = x.slice(0, Math.min(tokens, cfg.buildMemoryTokens) * dim);
      codec = await trainFor(sample, dim, tokens, cfg, this.kernels);
      trained = true;
    }
    if (trained) {
      state.initialCentroids = numCentroids(codec);
      state.tokensAddedAfterTraining = 0;
      state.outlierTokens = 0;
    }
    const enc = await encodeTokens(x, dim, codec, {
      outliers: !trained && !this.buildMode,
      cfg,
      generation: this.manifest.generation + 1,
      state,
      kernels: this.kernels,
    });
    const out: EncodedChunk = {
      sections: {
        codes: codesFor(enc.codes, numCentroids(enc.codec)),
        residuals: enc.packed,
      },
      state,
    };
    if (trained || enc.grew) {
      out.files = {
        codec: writeCodecFile(this.store, `codec-${this.manifest.generation + 1}`, enc.codec),
      };
      this.pendingCodec = enc.codec;
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
    const path = this.store.path(ref.file);
    const part = plaidChunk(this.chunks[ci], ref, codec, path);
    this.parts[ci] = part;
    this.lists.attach(ci, part, ref, this.slots, codec, this.table, path);
  }

  // ---- hooks: search ----

  protected searchKeys(): readonly string[] {
    return PLAID_SEARCH_KEYS;
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

  /** What the search and decompression stages read of this index. */
  private source(codec: Codec): PlaidSearchSource {
    return {
      codec,
      table: this.table,
      chunks: this.parts,
      invNorms: this.lists.invNorms,
      slots: this.slots,
      wasm: this.kernels.wasm !== false && hasWasmKernels(),
      lists: this.lists,
      alive: this.alive,
      kernels: this.kernels,
      centroidNorm: this.centroidNorm,
    };
  }

  protected async searchBatch(
    queries: Matrix[],
    k: number,
    allowed: Uint8Array | null,
    allowedCount: number,
    params: PlaidSearchParameters,
  ): Promise<[number, number][][]> {
    const codec = this.codec;
    if (!codec) return queries.map(() => []);
    // This call's scratch: concurrent calls each take their own.
    const ws = this.scratchPool.pop() ?? new SearchScratch();
    try {
      return await searchPlaid(this.source(codec), queries, k, allowed, allowedCount, params, ws);
    } finally {
      this.scratchPool.push(ws);
    }
  }

  /** Decompressed embedding of a live document (normalised tokens). */
  decompressed(id: string): Matrix | undefined {
    const d = this.docnoOf.get(id);
    if (d === undefined || !this.codec) return undefined;
    const slot = this.slots[d];
    const data = decompressDocument(this.source(this.codec), slot);
    return { data, rows: slot.len, cols: this.codec.dim };
  }
}
