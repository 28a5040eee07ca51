import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type HubOptions, resolveModelPath } from "../hub/index.js";
import { type TensorToWrite, WeightStore, writeSafetensors } from "../io/safetensors.js";
import { fsyncDir, writeFileAtomic } from "../util/atomic.js";
import { InvalidArgumentError, UnsupportedError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import { makeProgress } from "../util/progress.js";
import { mulberry32 } from "../util/random.js";
import { createEncoder, type EncoderSession } from "./backbones/index.js";
import { type CheckpointDescription, type DenseWeights, describeCheckpoint } from "./checkpoint.js";
import { type ColBERTConfig, colbertConfigToJson, resolveColBERTConfig } from "./config.js";
import {
  buildDenseChain,
  type DenseLayer,
  denseLayerConfig,
  foldLinearChain,
  planDenseChain,
} from "./dense.js";
import { poolEmbeddingsHierarchical } from "./pooling.js";
import {
  checkPrecision,
  type MatrixOfPrecision,
  type Precision,
  type QuantizeOptions,
  quantizeEmbeddings,
} from "./quantization.js";
import { ColBERTTokenizer, type TokenizedBatch, type TokenizeOptions } from "./tokenizer.js";
import type { EmbeddingModel, EncodeOptions } from "./types.js";

/** Options of `ColBERT.fromPretrained`: PyLate's constructor arguments, camelCased. */
export interface ColBERTOptions extends Partial<ColBERTConfig>, HubOptions {
  /**
   * Output size of the projection. A checkpoint without one gets a new Dense of this size
   * (default 128); a checkpoint whose last Dense has another size gets one more Dense
   * (last size -> embeddingSize) appended, with random weights and a warning, as PyLate does.
   */
  embeddingSize?: number;
  /** Bias in that new Dense layer (default false, as PyLate). */
  bias?: boolean;
  /** Seed of the new Dense layer's initialisation (default 42). */
  seed?: number;
  /**
   * Keep the first `truncateDim` dimensions of every token vector, before L2 normalisation
   * (sentence-transformers' truncate_dim; PyLate accepts it but its encode ignores it). Not saved.
   */
  truncateDim?: number | null;
  /** Only "MaxSim" (PyLate's only similarity); kept for parity with PyLate's constructor. */
  similarityFnName?: "MaxSim";
  /** Only "cpu": tslate runs on onnxruntime's CPU provider. */
  device?: string | null;
  /** true (the default) truncates texts to queryLength/documentLength; false is not supported. */
  truncation?: boolean;
  /** Same as `offline` (PyLate's local_files_only). */
  localFilesOnly?: boolean;
  /** Same as `cacheDir` (PyLate's cache_folder). */
  cacheFolder?: string;
  /** Deprecated in PyLate: same as `token`. */
  useAuthToken?: string;
  /** Accepted for parity; tslate never runs code from a model repository. */
  trustRemoteCode?: boolean;
  /**
   * transformers' from_pretrained keyword arguments: `torch_dtype`/`dtype` ("float32", "float",
   * "auto": tslate computes in float32; half precisions are refused), `attn_implementation`
   * ("eager" or "sdpa": the same math), and config.json fields to override (keys must exist in
   * config.json, as transformers requires).
   */
  modelKwargs?: Record<string, unknown>;
  /** Merged over tokenizer_config.json (e.g. `mask_token`); saved with the model, as transformers does. */
  tokenizerKwargs?: Record<string, unknown>;
  /** Merged over the backbone's config.json before the graph is built; saved with the model. */
  configKwargs?: Record<string, unknown>;
  /** onnxruntime intra-op threads (default: all cores). */
  threads?: number;
  /** Where warnings go (default console.warn). */
  warn?: (message: string) => void;
}

/** What `encode` takes: one text, a list, or a list of lists (each encoded separately). */
export type EncodeInput = string | readonly string[] | readonly (readonly string[])[];

/** What `encode` returns for an input type and a precision (an untyped `any` input: a list). */
export type EncodeResult<T extends EncodeInput, P extends Precision> = 0 extends 1 & T
  ? MatrixOfPrecision<P>[]
  : T extends string
    ? MatrixOfPrecision<P>
    : T extends readonly (readonly string[])[]
      ? MatrixOfPrecision<P>[][]
      : MatrixOfPrecision<P>[];

/** Options of `ColBERT.encode`, beyond `EncodeOptions`: PyLate's encode arguments, camelCased. */
export interface ColBERTEncodeOptions<P extends Precision = Precision>
  extends EncodeOptions,
    QuantizeOptions {
  /** A prompt prepended to every text (sentence-transformers `prompt`); wins over promptName. */
  prompt?: string;
  /** The name of one of the model's `prompts` to prepend. */
  promptName?: string;
  /** L2-normalise each token vector (default true, as PyLate). */
  normalizeEmbeddings?: boolean;
  /** Zero-pad every matrix to the most rows of the call (PyLate's `padding=True`). */
  padding?: boolean;
  /**
   * "float32" (default) returns Matrix; "int8"/"uint8" return Int8Matrix/Uint8Matrix with
   * per-dimension ranges (`ranges`, else `calibrationEmbeddings`, else every token vector of
   * the call); "binary"/"ubinary" pack the signs, cols = ceil(dim / 8) bytes. See quantization.ts.
   */
  precision?: P;
  /** Accepted for parity: results are always typed-array matrices (numpy's twin). false is refused. */
  convertToNumpy?: boolean;
  /** tslate has no tensor type: true is refused (use padMatrices for one [N, L, D] array). */
  convertToTensor?: boolean;
  /** Only "cpu" (see ColBERTOptions.device). */
  device?: string | null;
}

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
  private readonly skiplistIds: Set<number>;
  private readonly tempDirs: string[];
  private readonly warn: (message: string) => void;
  /** The chain as one linear map (folded once at load), null when it has activations. */
  private readonly folded: DenseWeights | null;
  private disposed = false;

  private constructor(args: {
    config: ColBERTConfig;
    tokenizer: ColBERTTokenizer;
    checkpoint: CheckpointDescription;
    denseLayers: DenseLayer[];
    weights: WeightStore;
    encoder: EncoderSession;
    truncateDim: number | null;
    tempDirs: string[];
    warn: (message: string) => void;
    folded: DenseWeights | null;
  }) {
    this.config = args.config;
    this.tokenizer = args.tokenizer;
    this.checkpoint = args.checkpoint;
    this.denseLayers = args.denseLayers;
    this.weights = args.weights;
    this.encoder = args.encoder;
    this.truncateDim = args.truncateDim;
    this.tempDirs = args.tempDirs;
    this.warn = args.warn;
    this.folded = args.folded;
    // colbert.py: convert_tokens_to_ids(word) for each skiplist word; unknown words map to
    // the [UNK] id, as in Python.
    const unk = this.tokenizer.tokenToId("[UNK]");
    this.skiplistIds = new Set(
      this.config.skiplistWords
        .map((w) => this.tokenizer.tokenToId(w) ?? unk)
        .filter((id): id is number => id !== undefined),
    );
  }

  /**
   * Loads a model from a local directory (PyLate, Stanford ColBERT or plain Hugging Face
   * layout) or a hub id ("org/name", downloaded into the huggingface_hub cache).
   */
  static async fromPretrained(pathOrHubId: string, options: ColBERTOptions = {}): Promise<ColBERT> {
    if (typeof pathOrHubId !== "string" || pathOrHubId.trim() === "") {
      throw new InvalidArgumentError(
        `fromPretrained needs a model directory or a hub id like "org/name", got ${JSON.stringify(pathOrHubId)}`,
      );
    }
    checkLoadOptions(options);
    const warn = options.warn ?? ((m: string) => console.warn(`tslate: ${m}`));
    const hubOptions = {
      ...options,
      cacheDir: options.cacheDir ?? options.cacheFolder,
      token: options.token ?? options.useAuthToken,
      offline: options.offline ?? options.localFilesOnly,
    };
    const dir = existsSync(pathOrHubId)
      ? resolve(pathOrHubId)
      : await resolveModelPath(pathOrHubId, hubOptions);
    const checkpoint = describeCheckpoint(dir);
    const dropped = checkpoint.ignoredModules.filter((t) => !t.endsWith("Normalize"));
    if (dropped.length > 0) {
      warn(
        `${join(dir, "modules.json")}: ignoring ${dropped.join(", ")}: a ColBERT keeps only the Transformer and its Dense modules, as PyLate does`,
      );
    }
    const config = resolveColBERTConfig(options, checkpoint.colbert);
    if (options.tokenizerKwargs) {
      checkpoint.tokenizerConfig = { ...checkpoint.tokenizerConfig, ...options.tokenizerKwargs };
    }
    const configOverrides = backboneOverrides(options, checkpoint.backboneConfig);
    const tokenizer = new ColBERTTokenizer(
      checkpoint.tokenizerJson,
      checkpoint.tokenizerConfig,
      config,
      checkpoint.specialTokensMap,
    );
    const hidden = checkpoint.backboneConfig.hidden_size as number;
    const tempDirs: string[] = [];

    const denseLayers = [...checkpoint.denseLayers];
    const newDense = (inFeatures: number, outFeatures: number): DenseLayer => {
      // torch nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)).
      const rand = mulberry32(options.seed ?? 42);
      const bound = 1 / Math.sqrt(inFeatures);
      const weight = new Float32Array(outFeatures * inFeatures).map(() => (rand() * 2 - 1) * bound);
      const bias = options.bias
        ? new Float32Array(outFeatures).map(() => (rand() * 2 - 1) * bound)
        : undefined;
      return { weight, bias, outFeatures, inFeatures, activation: "Identity", useResidual: false };
    };
    if (denseLayers.length === 0) {
      const size = options.embeddingSize ?? 128;
      warn(
        `${dir} has no projection layer: adding a new Dense(${hidden} -> ${size}) with random weights, as PyLate does. Train or fine-tune the model before relying on its embeddings.`,
      );
      denseLayers.push(newDense(hidden, size));
    } else if (
      options.embeddingSize !== undefined &&
      denseLayers[denseLayers.length - 1].outFeatures !== options.embeddingSize
    ) {
      const last = denseLayers[denseLayers.length - 1].outFeatures;
      warn(
        `the checkpoint's projection gives ${last} dimensions and embeddingSize is ${options.embeddingSize}: appending a new Dense(${last} -> ${options.embeddingSize}) with random weights, as PyLate does. Train it before relying on its embeddings.`,
      );
      denseLayers.push(newDense(last, options.embeddingSize));
    }
    if (denseLayers[0].inFeatures !== hidden) {
      throw new InvalidArgumentError(
        `the first Dense module takes ${denseLayers[0].inFeatures} features but the backbone's hidden_size is ${hidden} (${join(checkpoint.backboneDir, "config.json")})`,
      );
    }

    let weights = checkpoint.weights.withPrefix(checkpoint.weightPrefix);
    let backboneDir = checkpoint.backboneDir;
    const resized =
      tokenizer.addedTokens.length > 0
        ? resizeWordEmbeddings(weights, checkpoint.wordEmbeddingName, tokenizer.vocabSize)
        : null;
    if (resized || Object.keys(configOverrides).length > 0) {
      // The backbone then lives in a temporary directory: its config.json (new vocab_size,
      // overrides) and, for resized embeddings, an index over the original shards plus the
      // resized tensor.
      backboneDir = mkdtempSync(join(tmpdir(), "tslate-weights-"));
      tempDirs.push(backboneDir);
      checkpoint.backboneConfig = { ...checkpoint.backboneConfig, ...configOverrides };
      if (resized) {
        warn(
          `added ${tokenizer.addedTokens.map((t) => JSON.stringify(t.token)).join(", ")} to the vocabulary; their embeddings start at the mean of the existing ones`,
        );
        weights = overrideTensors(weights, { [resized.name]: resized.tensor }, backboneDir);
        checkpoint.backboneConfig.vocab_size = tokenizer.vocabSize;
      }
      writeFileAtomic(join(backboneDir, "config.json"), JSON.stringify(checkpoint.backboneConfig));
    }

    // A linear chain is one matrix in the graph (the training graph reads the same `dense`);
    // a chain with activations is built layer by layer.
    const folded = foldLinearChain(denseLayers);
    const plan = folded ? [] : planDenseChain(denseLayers);
    const encoder = await createEncoder(backboneDir, {
      weights,
      weightPrefix: weights.prefix,
      dense: folded,
      head: folded
        ? null
        : {
            outputDim: plan[plan.length - 1].outFeatures,
            build: (g, hiddenState) => buildDenseChain(g, hiddenState, plan),
          },
      normalize: false,
      threads: options.threads ?? availableParallelism(),
    });
    const truncateDim = options.truncateDim ?? null;
    return new ColBERT({
      config,
      tokenizer,
      checkpoint,
      denseLayers,
      weights,
      encoder,
      truncateDim,
      tempDirs,
      warn,
      folded,
    });
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
   * `ColBERT.fromPretrained(dir)`). Each file is written atomically.
   */
  save(
    dir: string,
    options: { weights?: Record<string, TensorToWrite>; dense?: DenseWeights } = {},
  ): void {
    this.checkOpen();
    const out = resolve(dir);
    // `options.dense` (a trained linear projection) replaces the whole chain.
    const layers: readonly DenseLayer[] = options.dense
      ? [{ ...options.dense, activation: "Identity", useResidual: false }]
      : this.denseLayers;
    const denseDirs = layers.map((_, i) => `${i + 1}_Dense`);
    for (const d of denseDirs) mkdirSync(join(out, d), { recursive: true });
    const json = (name: string, value: unknown) =>
      writeFileAtomic(join(out, name), `${JSON.stringify(value, null, 2)}\n`);

    json("modules.json", [
      { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
      ...denseDirs.map((path, i) => ({
        idx: i + 1,
        name: String(i + 1),
        path,
        type: "pylate.models.Dense.Dense",
      })),
    ]);
    const { __version__, ...rest } = this.checkpoint.sentenceTransformersConfig;
    json(
      "config_sentence_transformers.json",
      colbertConfigToJson(this.config, {
        model_type: "ColBERT",
        ...(__version__ ? { __version__ } : {}),
        ...rest,
      }),
    );
    json("sentence_bert_config.json", {
      max_seq_length: this.config.documentLength - 1,
      do_lower_case: false,
    });
    const backboneConfig: Record<string, unknown> = { ...this.checkpoint.backboneConfig };
    if (this.checkpoint.layout === "stanford") {
      // Loaded through AutoModel, saved by the backbone class itself (as PyLate does).
      backboneConfig.architectures = ["BertModel"];
    }
    json("config.json", backboneConfig);

    // Backbone weights: copy the file when it is one unmodified, unprefixed safetensors,
    // else rewrite the tensors under their bare backbone names.
    const src = this.weights.source;
    if (
      !options.weights &&
      this.weights.prefix === "" &&
      src.endsWith(".safetensors") &&
      this.checkpoint.layout === "pylate"
    ) {
      copyFileAtomic(src, join(out, "model.safetensors"));
    } else {
      const tensors: Record<string, TensorToWrite> = {};
      for (const name of this.weights.names()) {
        if (name.startsWith("linear.")) continue;
        const override = options.weights?.[name];
        tensors[name] = override ?? {
          data: this.weights.readFloat32(name),
          shape: this.weights.info(name).shape,
        };
      }
      writeSafetensors(join(out, "model.safetensors"), tensors, { format: "pt" });
    }

    // Tokenizer files: tokenizer.json with the prefix tokens, pad token = [MASK] (colbert.py).
    json("tokenizer.json", this.tokenizer.tokenizerJson);
    const maskName = this.tokenizer.idToToken(this.tokenizer.padTokenId);
    json("tokenizer_config.json", { ...this.tokenizer.tokenizerConfig, pad_token: maskName });
    json("special_tokens_map.json", { ...this.checkpoint.specialTokensMap, pad_token: maskName });
    const vocab = join(this.checkpoint.backboneDir, "vocab.txt");
    if (existsSync(vocab) && resolve(vocab) !== join(out, "vocab.txt")) {
      copyFileAtomic(vocab, join(out, "vocab.txt"));
    }

    layers.forEach((layer, i) => {
      json(`${denseDirs[i]}/config.json`, denseLayerConfig(layer));
      const shape = [layer.outFeatures, layer.inFeatures];
      const tensors: Record<string, TensorToWrite> = {
        "linear.weight": { data: layer.weight, shape },
      };
      if (layer.bias) tensors["linear.bias"] = { data: layer.bias, shape: [layer.outFeatures] };
      if (layer.residualWeight) tensors["residual.weight"] = { data: layer.residualWeight, shape };
      writeSafetensors(join(out, denseDirs[i], "model.safetensors"), tensors, { format: "pt" });
    });
  }

  private checkOpen(): void {
    if (this.disposed) {
      throw new InvalidArgumentError("this ColBERT model was disposed; load it again");
    }
  }

  /** Frees the onnxruntime session and temporary files. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.encoder.dispose();
    for (const d of this.tempDirs) rmSync(d, { recursive: true, force: true });
  }
}

/** Copies a file next to the target, then renames it into place (atomic). */
function copyFileAtomic(src: string, target: string): void {
  const tmp = `${target}.${process.pid}.tmp`;
  copyFileSync(src, tmp);
  renameSync(tmp, target);
  fsyncDir(resolve(target, ".."));
}

/**
 * When prefix tokens were added to the vocabulary, the word-embedding matrix needs rows for
 * them. HF's resize_token_embeddings initialises new rows around the mean of the old ones;
 * we use the mean itself (deterministic).
 */
function resizeWordEmbeddings(
  weights: WeightStore,
  name: string,
  vocabSize: number,
): { name: string; tensor: TensorToWrite } | null {
  const [rows, cols] = weights.info(name).shape;
  if (rows >= vocabSize) return null;
  const old = weights.readFloat32(name);
  const data = new Float32Array(vocabSize * cols);
  data.set(old);
  const mean = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mean[c] += old[r * cols + c];
  for (let r = rows; r < vocabSize; r++) {
    for (let c = 0; c < cols; c++) data[r * cols + c] = mean[c] / rows;
  }
  return { name, tensor: { data, shape: [vocabSize, cols] } };
}

/**
 * A WeightStore where some tensors are replaced: the replacements go to a small safetensors
 * file in `tmp`; every other tensor still points into the original files (no copy).
 */
function overrideTensors(
  weights: WeightStore,
  replacements: Record<string, TensorToWrite>,
  tmp: string,
): WeightStore {
  const renamed: Record<string, TensorToWrite> = {};
  for (const [name, t] of Object.entries(replacements)) renamed[weights.prefix + name] = t;
  const file = join(tmp, "overrides.safetensors");
  writeSafetensors(file, renamed, { format: "pt" });
  return weights.withOverrides(WeightStore.open(file));
}

/** Checks the constructor options that tslate accepts only in some values. */
function checkLoadOptions(options: ColBERTOptions): void {
  checkDevice(options.device);
  if (options.similarityFnName !== undefined && options.similarityFnName !== "MaxSim") {
    throw new InvalidArgumentError(
      `similarityFnName must be "MaxSim" (ColBERT's late-interaction score), got ${JSON.stringify(options.similarityFnName)}`,
    );
  }
  if (options.truncation === false) {
    throw new UnsupportedError(
      "truncation: false (sliding-window encoding) is not implemented, in PyLate either (it ignores the flag); texts are truncated to queryLength / documentLength",
    );
  }
  const t = options.truncateDim;
  if (t !== undefined && t !== null && (!Number.isInteger(t) || t < 1)) {
    throw new InvalidArgumentError(`truncateDim must be a positive integer or null, got ${t}`);
  }
  const e = options.embeddingSize;
  if (e !== undefined && (!Number.isInteger(e) || e < 1)) {
    throw new InvalidArgumentError(`embeddingSize must be a positive integer, got ${e}`);
  }
  for (const key of ["modelKwargs", "tokenizerKwargs", "configKwargs"] as const) {
    const v = options[key];
    if (v !== undefined && (v === null || typeof v !== "object" || Array.isArray(v))) {
      throw new InvalidArgumentError(`${key} must be an object of keyword arguments`);
    }
  }
}

function checkDevice(device: string | null | undefined): void {
  if (device === undefined || device === null) return;
  if (typeof device !== "string" || !/^cpu(:\d+)?$/.test(device)) {
    throw new UnsupportedError(
      `device ${JSON.stringify(device)} is not supported: tslate runs on onnxruntime's CPU provider; pass "cpu" or leave device unset`,
    );
  }
}

/** Checks the encode options that have no meaning in TypeScript beyond their default. */
function checkEncodeOptions(options: ColBERTEncodeOptions): void {
  checkDevice(options.device);
  if (options.convertToTensor === true || options.convertToNumpy === false) {
    throw new UnsupportedError(
      "tslate has no tensor type: encode returns typed-array matrices (the twin of convert_to_numpy=True); use padMatrices(result) for one padded [N, L, D] array",
    );
  }
}

const FLOAT32_DTYPES = new Set(["float32", "float", "torch.float32", "torch.float", "auto"]);
const ATTENTION_IMPLEMENTATIONS = new Set(["eager", "sdpa"]);

/** config.json overrides from modelKwargs (transformers from_pretrained) and configKwargs. */
function backboneOverrides(
  options: ColBERTOptions,
  config: Record<string, unknown>,
): Record<string, unknown> {
  const overrides: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options.modelKwargs ?? {})) {
    if (key === "torch_dtype" || key === "dtype") {
      if (!FLOAT32_DTYPES.has(String(value))) {
        throw new UnsupportedError(
          `modelKwargs.${key} ${JSON.stringify(value)}: tslate computes in float32 (F16/BF16 weights are converted on load); use "float32" or "auto"`,
        );
      }
    } else if (key === "attn_implementation") {
      if (!ATTENTION_IMPLEMENTATIONS.has(String(value))) {
        throw new UnsupportedError(
          `modelKwargs.attn_implementation ${JSON.stringify(value)}: tslate computes attention as "eager" / "sdpa" do (same result); other implementations are not available`,
        );
      }
    } else if (key in config) {
      overrides[key] = value;
    } else {
      throw new InvalidArgumentError(
        `modelKwargs.${key} is neither torch_dtype, attn_implementation nor a field of the backbone's config.json (use configKwargs to add a new config field)`,
      );
    }
  }
  Object.assign(overrides, options.configKwargs ?? {});
  return overrides;
}
