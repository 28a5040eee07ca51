/**
 * The options of `ColBERT.fromPretrained` / `fromFiles` and of `encode` (PyLate's arguments,
 * camelCased), and the checks of the values tslate accepts only in part.
 */
import type { HubOptions } from "../hub/download.js";
import { InvalidArgumentError, UnsupportedError } from "../util/errors.js";
import type { ColBERTConfig } from "./config.js";
import type { MatrixOfPrecision, Precision, QuantizeOptions } from "./quantization.js";
import type { EncodeOptions } from "./types.js";

/** Options of `ColBERT.fromPretrained` and `ColBERT.fromFiles`: PyLate's constructor arguments, camelCased. */
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

/** Checks the constructor options that tslate accepts only in some values. */
export function checkLoadOptions(options: ColBERTOptions): void {
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
export function checkEncodeOptions(options: ColBERTEncodeOptions): void {
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
export function backboneOverrides(
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
