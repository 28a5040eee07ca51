import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type HubOptions, resolveModelPath } from "../hub/index.js";
import { type TensorToWrite, WeightStore, writeSafetensors } from "../io/safetensors.js";
import { fsyncDir, writeFileAtomic } from "../util/atomic.js";
import { InvalidArgumentError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import { makeProgress } from "../util/progress.js";
import { mulberry32 } from "../util/random.js";
import { createEncoder, type EncoderSession } from "./backbones/index.js";
import { type CheckpointDescription, type DenseWeights, describeCheckpoint } from "./checkpoint.js";
import { type ColBERTConfig, colbertConfigToJson, resolveColBERTConfig } from "./config.js";
import { poolEmbeddingsHierarchical } from "./pooling.js";
import { ColBERTTokenizer, type TokenizedBatch, type TokenizeOptions } from "./tokenizer.js";
import type { EmbeddingModel, EncodeOptions } from "./types.js";

/** Options of `ColBERT.fromPretrained`: PyLate's constructor arguments, camelCased. */
export interface ColBERTOptions extends Partial<ColBERTConfig>, HubOptions {
  /** Output size of the Dense layer created for a checkpoint that has none (default 128). */
  embeddingSize?: number;
  /** Bias in that new Dense layer (default false, as PyLate). */
  bias?: boolean;
  /** Seed of the new Dense layer's initialisation (default 42). */
  seed?: number;
  /** onnxruntime intra-op threads (default: all cores). */
  threads?: number;
  /** Where warnings go (default console.warn). */
  warn?: (message: string) => void;
}

/** Options of `ColBERT.encode`, beyond `EncodeOptions`. */
export interface ColBERTEncodeOptions extends EncodeOptions {
  /** A prompt prepended to every text (sentence-transformers `prompt`). */
  prompt?: string;
  /** The name of one of the model's `prompts` to prepend. */
  promptName?: string;
  /** L2-normalise each token vector (default true, as PyLate). */
  normalizeEmbeddings?: boolean;
  /** Zero-pad every matrix to the most rows of the call (PyLate's `padding=True`). */
  padding?: boolean;
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
  /** The projection applied after the backbone. */
  readonly dense: DenseWeights;
  /** Backbone weights (possibly with overridden tensors, e.g. resized embeddings). */
  readonly weights: WeightStore;
  private readonly encoder: EncoderSession;
  private readonly skiplistIds: Set<number>;
  private readonly tempDirs: string[];
  private disposed = false;

  private constructor(args: {
    config: ColBERTConfig;
    tokenizer: ColBERTTokenizer;
    checkpoint: CheckpointDescription;
    dense: DenseWeights;
    weights: WeightStore;
    encoder: EncoderSession;
    tempDirs: string[];
  }) {
    this.config = args.config;
    this.tokenizer = args.tokenizer;
    this.checkpoint = args.checkpoint;
    this.dense = args.dense;
    this.weights = args.weights;
    this.encoder = args.encoder;
    this.tempDirs = args.tempDirs;
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
    const warn = options.warn ?? ((m: string) => console.warn(`tslate: ${m}`));
    const dir = existsSync(pathOrHubId)
      ? resolve(pathOrHubId)
      : await resolveModelPath(pathOrHubId, options);
    const checkpoint = describeCheckpoint(dir);
    const config = resolveColBERTConfig(options, checkpoint.colbert);
    const tokenizer = new ColBERTTokenizer(
      checkpoint.tokenizerJson,
      checkpoint.tokenizerConfig,
      config,
      checkpoint.specialTokensMap,
    );
    const hidden = checkpoint.backboneConfig.hidden_size as number;
    const tempDirs: string[] = [];

    let dense = checkpoint.dense;
    if (!dense) {
      const size = options.embeddingSize ?? 128;
      warn(
        `${dir} has no projection layer: adding a new Dense(${hidden} -> ${size}) with random weights, as PyLate does. Train or fine-tune the model before relying on its embeddings.`,
      );
      // torch nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)).
      const rand = mulberry32(options.seed ?? 42);
      const bound = 1 / Math.sqrt(hidden);
      const weight = new Float32Array(size * hidden).map(() => (rand() * 2 - 1) * bound);
      const bias = options.bias
        ? new Float32Array(size).map(() => (rand() * 2 - 1) * bound)
        : undefined;
      dense = { weight, outFeatures: size, inFeatures: hidden, bias };
    }
    if (options.embeddingSize !== undefined && dense.outFeatures !== options.embeddingSize) {
      throw new InvalidArgumentError(
        `embeddingSize ${options.embeddingSize} differs from the checkpoint's projection size ${dense.outFeatures}; PyLate would append an untrained Dense layer, tslate asks you to drop the option or train that layer explicitly`,
      );
    }

    let weights = checkpoint.weights.withPrefix(checkpoint.weightPrefix);
    let backboneDir = checkpoint.backboneDir;
    if (tokenizer.addedTokens.length > 0) {
      const resized = resizeWordEmbeddings(
        weights,
        checkpoint.wordEmbeddingName,
        tokenizer.vocabSize,
      );
      if (resized) {
        warn(
          `added ${tokenizer.addedTokens.map((t) => JSON.stringify(t.token)).join(", ")} to the vocabulary; their embeddings start at the mean of the existing ones`,
        );
        // The resized backbone lives in a temporary directory: its config.json (new
        // vocab_size) and an index over the original shards plus the resized tensor.
        backboneDir = mkdtempSync(join(tmpdir(), "tslate-weights-"));
        tempDirs.push(backboneDir);
        weights = overrideTensors(weights, { [resized.name]: resized.tensor }, backboneDir);
        checkpoint.backboneConfig = {
          ...checkpoint.backboneConfig,
          vocab_size: tokenizer.vocabSize,
        };
        writeFileAtomic(
          join(backboneDir, "config.json"),
          JSON.stringify(checkpoint.backboneConfig),
        );
      }
    }

    const encoder = await createEncoder(backboneDir, {
      weights,
      weightPrefix: weights.prefix,
      dense,
      normalize: false,
      threads: options.threads ?? availableParallelism(),
    });
    return new ColBERT({ config, tokenizer, checkpoint, dense, weights, encoder, tempDirs });
  }

  /** Output vector size (the Dense layer's out_features). */
  get embeddingDim(): number {
    return this.dense.outFeatures;
  }

  /** PyLate's `tokenize`: ids, masks and token types as the backbone gets them. */
  tokenize(texts: string[], options: TokenizeOptions = {}): TokenizedBatch {
    return this.tokenizer.tokenize(texts, options);
  }

  private applyPrompt(texts: string[], options: ColBERTEncodeOptions): string[] {
    let prompt = options.prompt;
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
    return prompt ? texts.map((t) => prompt + t) : texts;
  }

  /**
   * Encodes texts into one matrix each (rows = kept tokens, cols = embeddingDim), in input
   * order. Queries: queryLength rows (expansion included). Documents: real tokens minus the
   * skiplist, optionally pooled.
   */
  async encode(texts: string[], options: ColBERTEncodeOptions = {}): Promise<Matrix[]> {
    this.checkOpen();
    if (!Array.isArray(texts)) {
      throw new InvalidArgumentError(`encode() takes an array of strings, got ${typeof texts}`);
    }
    texts.forEach((t, i) => {
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
    const inputs = this.applyPrompt(texts, options);
    // PyLate sorts by decreasing length so that each batch pads little, then restores order.
    const lengths = inputs.map(codePointLength);
    const order = inputs.map((_, i) => i).sort((a, b) => lengths[b] - lengths[a]);
    const out: Matrix[] = new Array(inputs.length);
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
      return out.map((m) => {
        const data = new Float32Array(rows * m.cols);
        data.set(m.data);
        return { data, rows, cols: m.cols };
      });
    }
    return out;
  }

  /**
   * Encodes a stream of texts with bounded memory: reads `chunkSize` texts at a time (sorted
   * by length inside the chunk) and yields their matrices in input order.
   */
  async *encodeStream(
    texts: AsyncIterable<string> | Iterable<string>,
    options: ColBERTEncodeOptions & { chunkSize?: number } = {},
  ): AsyncGenerator<Matrix> {
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

  /** One forward pass: tokenize, run, select kept tokens, normalise, pool. */
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
      const data = new Float32Array(kept.length * E);
      kept.forEach((j, r) => {
        const src = emb.subarray((b * L + j) * E, (b * L + j + 1) * E);
        const dst = data.subarray(r * E, (r + 1) * E);
        if (!normalize) {
          dst.set(src);
          return;
        }
        // torch.nn.functional.normalize: x / max(||x||, 1e-12)
        let ss = 0;
        for (let k = 0; k < E; k++) ss += src[k] * src[k];
        const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
        for (let k = 0; k < E; k++) dst[k] = src[k] * inv;
      });
      mats.push({ data, rows: kept.length, cols: E });
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
    mkdirSync(join(out, "1_Dense"), { recursive: true });
    const json = (name: string, value: unknown) =>
      writeFileAtomic(join(out, name), `${JSON.stringify(value, null, 2)}\n`);

    json("modules.json", [
      { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
      { idx: 1, name: "1", path: "1_Dense", type: "pylate.models.Dense.Dense" },
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

    const dense = options.dense ?? this.dense;
    json("1_Dense/config.json", {
      in_features: dense.inFeatures,
      out_features: dense.outFeatures,
      bias: dense.bias !== undefined,
      activation_function: "torch.nn.modules.linear.Identity",
      use_residual: false,
    });
    const denseTensors: Record<string, TensorToWrite> = {
      "linear.weight": { data: dense.weight, shape: [dense.outFeatures, dense.inFeatures] },
    };
    if (dense.bias) denseTensors["linear.bias"] = { data: dense.bias, shape: [dense.outFeatures] };
    writeSafetensors(join(out, "1_Dense", "model.safetensors"), denseTensors, { format: "pt" });
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
