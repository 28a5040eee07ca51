import type { WeightStore } from "../io/safetensors.js";
import { InvalidArgumentError, UnsupportedError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import { makeProgress } from "../util/progress.js";
import type { EncoderSession } from "./backbones/encoder.js";
import type { CheckpointDescription, DenseWeights } from "./checkpoint.js";
import type { ColBERTConfig } from "./config.js";
import type { DenseLayer } from "./dense.js";
import { type ColBERTParts, loadColBERT } from "./load.js";
import {
  type ColBERTEncodeOptions,
  type ColBERTOptions,
  checkEncodeOptions,
  type EncodeInput,
  type EncodeResult,
} from "./options.js";
import { poolEmbeddingsHierarchical } from "./pooling.js";
import {
  checkPrecision,
  type MatrixOfPrecision,
  type Precision,
  quantizeEmbeddings,
} from "./quantization.js";
import type { SaveOptions } from "./save.js";
import { type CheckpointFiles, memorySource } from "./source.js";
import type { ColBERTTokenizer, TokenizedBatch, TokenizeOptions } from "./tokenizer.js";
import type { EmbeddingModel } from "./types.js";

export type { ColBERTEncodeOptions, ColBERTOptions, EncodeInput, EncodeResult } from "./options.js";
export type { CheckpointFiles } from "./source.js";

/** Python's len(): code points, used to sort texts by length as PyLate does. */
function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) n--;
  }
  return n;
}

/**
 * A ColBERT model: tokenizer + backbone + Dense, encoding texts into one L2-normalised vector
 * per kept token, with PyLate's exact semantics.
 *
 * ```ts
 * const model = await ColBERT.fromPretrained("lightonai/GTE-ModernColBERT-v1");
 * const [q] = await model.encode(["what is late interaction?"], { isQuery: true });
 * const docs = await model.encode(["ColBERT compares every token..."], { isQuery: false });
 * ```
 */
export class ColBERT implements EmbeddingModel {
  readonly config: ColBERTConfig;
  readonly tokenizer: ColBERTTokenizer;
  readonly checkpoint: CheckpointDescription;
  /** The Dense modules after the backbone, in order, as saved (activations, residuals). */
  readonly denseLayers: readonly DenseLayer[];
  /** Backbone weights (possibly with overridden tensors, e.g. resized embeddings). */
  readonly weights: WeightStore;
  /** Dimensions kept per token vector (truncateDim), or null for all. */
  readonly truncateDim: number | null;
  private readonly encoder: EncoderSession;
  /** Token ids dropped from document embeddings (the skiplist words' ids). */
  readonly skiplistIds: ReadonlySet<number>;
  private readonly warn: (message: string) => void;
  /** The chain as one linear map (folded once at load), null when it has activations. */
  private readonly folded: DenseWeights | null;
  private disposed = false;

  private constructor(args: ColBERTParts) {
    this.config = args.config;
    this.tokenizer = args.tokenizer;
    this.checkpoint = args.checkpoint;
    this.denseLayers = args.denseLayers;
    this.weights = args.weights;
    this.encoder = args.encoder;
    this.truncateDim = args.truncateDim;
    this.warn = args.warn;
    this.folded = args.folded;
    // colbert.py: convert_tokens_to_ids(word) for each skiplist word; unknown words map to
    // the tokenizer's own unk_token id, as in Python.
    const unk = this.tokenizer.unkTokenId;
    this.skiplistIds = new Set(
      this.config.skiplistWords
        .map((w) => this.tokenizer.tokenToId(w) ?? unk)
        .filter((id): id is number => id !== undefined),
    );
  }

  /**
   * Loads a model from a local directory (PyLate, Stanford ColBERT or plain Hugging Face
   * layout) or a hub id ("org/name", downloaded into the huggingface_hub cache). Node only:
   * float32 weights are read by onnxruntime straight from the directory's safetensors files.
   */
  static async fromPretrained(pathOrHubId: string, options: ColBERTOptions = {}): Promise<ColBERT> {
    // Imported here so that fromFiles' path (the browser's) imports no Node built-in.
    const { directorySource, resolveCheckpointDirectory } = await import("./directory.js");
    const dir = await resolveCheckpointDirectory(pathOrHubId, {
      ...options,
      cacheDir: options.cacheDir ?? options.cacheFolder,
      token: options.token ?? options.useAuthToken,
      offline: options.offline ?? options.localFilesOnly,
    });
    return new ColBERT(await loadColBERT(directorySource(dir), options));
  }

  /**
   * Builds a model from the checkpoint's files given as bytes, without touching any file
   * system (e.g. files fetched in a browser): keys are the paths inside the checkpoint
   * ("config.json", "model.safetensors", "tokenizer.json", "1_Dense/model.safetensors", ...),
   * values their contents. Same layouts, options and embeddings as `fromPretrained`; the
   * weights are handed to onnxruntime as in-memory external data (not copied).
   */
  static async fromFiles(files: CheckpointFiles, options: ColBERTOptions = {}): Promise<ColBERT> {
    if (files === null || typeof files !== "object") {
      throw new InvalidArgumentError(
        'fromFiles takes an object of file name -> bytes, e.g. { "config.json": bytes, "model.safetensors": bytes, ... }',
      );
    }
    return new ColBERT(await loadColBERT(memorySource(files), options));
  }

  /**
   * The projection as one linear map (y = x·Wᵀ + b): every Dense module folded together. Only
   * defined when every module has the Identity activation (what training needs).
   */
  get dense(): DenseWeights {
    const folded = this.folded;
    if (!folded) {
      const acts = this.denseLayers.map((l, i) => `${i + 1}_Dense: ${l.activation}`).join(", ");
      throw new UnsupportedError(
        `this model's Dense modules are not one linear map (${acts}); use denseLayers. Training such a model is not supported yet.`,
      );
    }
    return folded;
  }

  /** Output vector size: the last Dense module's out_features, or truncateDim when smaller. */
  get embeddingDim(): number {
    const out = this.denseLayers[this.denseLayers.length - 1].outFeatures;
    return this.truncateDim === null ? out : Math.min(out, this.truncateDim);
  }

  /** PyLate's `tokenize`: ids, masks and token types as the backbone gets them. */
  tokenize(texts: string[], options: TokenizeOptions = {}): TokenizedBatch {
    return this.tokenizer.tokenize(texts, options);
  }

  private applyPrompt(texts: readonly string[], options: ColBERTEncodeOptions): string[] {
    let prompt = options.prompt;
    if (prompt !== undefined && options.promptName !== undefined) {
      // sentence-transformers / PyLate: the explicit prompt wins, with a warning.
      this.warn(
        `both prompt and promptName given: using prompt and ignoring promptName "${options.promptName}"`,
      );
    }
    if (prompt === undefined && options.promptName !== undefined) {
      prompt = this.config.prompts[options.promptName];
      if (prompt === undefined) {
        throw new InvalidArgumentError(
          `prompt name "${options.promptName}" is not one of the model's prompts (${Object.keys(this.config.prompts).join(", ") || "none"})`,
        );
      }
    }
    if (prompt === undefined && this.config.defaultPromptName !== null) {
      prompt = this.config.prompts[this.config.defaultPromptName];
    }
    return prompt ? texts.map((t) => prompt + t) : [...texts];
  }

  /**
   * Encodes texts into one matrix each (rows = kept tokens, cols = embeddingDim), in input
   * order. Queries: queryLength rows (expansion included). Documents: real tokens minus the
   * skiplist, optionally pooled. As in PyLate, a single string gives one matrix and a list of
   * lists gives one list per inner list; `precision` selects float32 or quantised output.
   */
  async encode<T extends EncodeInput, P extends Precision = "float32">(
    texts: T,
    options: ColBERTEncodeOptions<P> = {},
  ): Promise<EncodeResult<T, P>> {
    this.checkOpen();
    const precision = checkPrecision(options.precision ?? "float32");
    checkEncodeOptions(options);
    if (typeof texts === "string") {
      const [one] = await this.encode([texts], options);
      return one as EncodeResult<T, P>;
    }
    if (!Array.isArray(texts)) {
      throw new InvalidArgumentError(
        `encode() takes a string, an array of strings or an array of arrays of strings, got ${typeof texts}`,
      );
    }
    if (texts.length > 0 && Array.isArray(texts[0])) {
      // PyLate: a list of lists is encoded list by list.
      const out: MatrixOfPrecision<P>[][] = [];
      for (const [i, inner] of texts.entries()) {
        if (!Array.isArray(inner)) {
          throw new InvalidArgumentError(
            `texts[${i}] must be an array of strings like texts[0], got ${typeof inner}`,
          );
        }
        out.push(await this.encode(inner as readonly string[], options));
      }
      return out as EncodeResult<T, P>;
    }
    const list = texts as readonly string[];
    list.forEach((t, i) => {
      if (typeof t !== "string") {
        throw new InvalidArgumentError(`texts[${i}] must be a string, got ${typeof t}`);
      }
    });
    const batchSize = options.batchSize ?? 32;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new InvalidArgumentError(`batchSize must be a positive integer, got ${batchSize}`);
    }
    const poolFactor = options.poolFactor ?? 1;
    if (!Number.isInteger(poolFactor) || poolFactor < 1) {
      throw new InvalidArgumentError(`poolFactor must be an integer >= 1, got ${poolFactor}`);
    }
    const inputs = this.applyPrompt(list, options);
    // PyLate sorts by decreasing length so that each batch pads little, then restores order.
    const lengths = inputs.map(codePointLength);
    const order = inputs.map((_, i) => i).sort((a, b) => lengths[b] - lengths[a]);
    let out: Matrix[] = new Array(inputs.length);
    const progress = makeProgress(options.showProgress);
    progress.start(inputs.length, options.isQuery ? "Encoding queries" : "Encoding documents");
    try {
      for (let start = 0; start < order.length; start += batchSize) {
        const idx = order.slice(start, start + batchSize);
        const mats = await this.encodeBatch(
          idx.map((i) => inputs[i]),
          options,
        );
        idx.forEach((i, k) => {
          out[i] = mats[k];
        });
        progress.increment(idx.length);
      }
    } finally {
      progress.stop();
    }
    if (options.padding) {
      const rows = out.reduce((m, x) => Math.max(m, x.rows), 0);
      out = out.map((m) => {
        const data = new Float32Array(rows * m.cols);
        data.set(m.data);
        return { data, rows, cols: m.cols };
      });
    }
    // PyLate quantises after padding and reordering, over the whole call.
    return quantizeEmbeddings(out, precision as P, options) as EncodeResult<T, P>;
  }

  /**
   * Encodes a stream of texts with bounded memory: reads `chunkSize` texts at a time (sorted
   * by length inside the chunk) and yields their matrices in input order. int8/uint8 need
   * `ranges` or `calibrationEmbeddings` here, so that every chunk is quantised alike.
   */
  async *encodeStream<P extends Precision = "float32">(
    texts: AsyncIterable<string> | Iterable<string>,
    options: ColBERTEncodeOptions<P> & { chunkSize?: number } = {},
  ): AsyncGenerator<MatrixOfPrecision<P>> {
    if (
      (options.precision === "int8" || options.precision === "uint8") &&
      options.ranges === undefined &&
      options.calibrationEmbeddings === undefined
    ) {
      throw new InvalidArgumentError(
        `encodeStream with precision "${options.precision}" needs ranges or calibrationEmbeddings (quantizationRanges(sample)), otherwise each chunk would get its own ranges`,
      );
    }
    const chunkSize = options.chunkSize ?? (options.batchSize ?? 32) * 8;
    let chunk: string[] = [];
    for await (const t of texts) {
      chunk.push(t);
      if (chunk.length >= chunkSize) {
        yield* await this.encode(chunk, { ...options, showProgress: false });
        chunk = [];
      }
    }
    if (chunk.length > 0) yield* await this.encode(chunk, { ...options, showProgress: false });
  }

  /** One forward pass: tokenize, run, select kept tokens, truncate, normalise, pool. */
  private async encodeBatch(texts: string[], options: ColBERTEncodeOptions): Promise<Matrix[]> {
    const isQuery = options.isQuery ?? false;
    const batch = this.tokenizer.tokenize(texts, { isQuery });
    const result = await this.encoder.run({
      inputIds: batch.inputIds,
      attentionMask: batch.attentionMask,
      tokenTypeIds: this.encoder.usesTokenTypeIds ? batch.tokenTypeIds : undefined,
      batchSize: batch.batchSize,
      seqLength: batch.seqLength,
    });
    const [B, L, E] = result.dims;
    const D = this.truncateDim === null ? E : Math.min(E, this.truncateDim);
    const emb = result.embeddings;
    const normalize = options.normalizeEmbeddings ?? true;
    const keepAll = isQuery && this.config.doQueryExpansion;
    let mats: Matrix[] = [];
    for (let b = 0; b < B; b++) {
      const ids = batch.ids[b];
      const kept: number[] = [];
      for (let j = 0; j < L; j++) {
        if (keepAll) kept.push(j);
        else if (j < ids.length && (isQuery || !this.skiplistIds.has(ids[j]))) kept.push(j);
      }
      const data = new Float32Array(kept.length * D);
      kept.forEach((j, r) => {
        // sentence-transformers truncates (truncate_dim) before normalising.
        const src = emb.subarray((b * L + j) * E, (b * L + j) * E + D);
        const dst = data.subarray(r * D, (r + 1) * D);
        if (!normalize) {
          dst.set(src);
          return;
        }
        // torch.nn.functional.normalize: x / max(||x||, 1e-12)
        let ss = 0;
        for (let k = 0; k < D; k++) ss += src[k] * src[k];
        const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
        for (let k = 0; k < D; k++) dst[k] = src[k] * inv;
      });
      mats.push({ data, rows: kept.length, cols: D });
    }
    const poolFactor = options.poolFactor ?? 1;
    if (poolFactor > 1 && !isQuery) {
      mats = poolEmbeddingsHierarchical(mats, poolFactor, options.protectedTokens ?? 1);
    }
    return mats;
  }

  /**
   * Saves the model in PyLate's layout (loadable by `pylate.models.ColBERT(dir)` and by
   * `ColBERT.fromPretrained(dir)`). Each file is written atomically. Node only.
   */
  async save(dir: string, options: SaveOptions = {}): Promise<void> {
    this.checkOpen();
    const { saveColBERT } = await import("./save.js");
    saveColBERT(this, dir, options);
  }

  private checkOpen(): void {
    if (this.disposed) {
      throw new InvalidArgumentError("this ColBERT model was disposed; load it again");
    }
  }

  /** Frees the onnxruntime session. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.encoder.dispose();
  }
}
