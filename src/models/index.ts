// Models: the ColBERT class, its loading (from a directory, a hub id, or bytes in memory),
// saving, settings, tokenizer, Dense chain, token pooling and quantisation.

export {
  type CheckpointDescription,
  type CheckpointLayout,
  describeCheckpoint,
} from "./checkpoint.js";
export { ColBERT } from "./colbert.js";
export {
  type ColBERTConfig,
  DEFAULT_COLBERT_CONFIG,
  PUNCTUATION,
  resolveColBERTConfig,
} from "./config.js";
export { DENSE_ACTIVATIONS, type DenseActivation, type DenseLayer } from "./dense.js";
export { directorySource } from "./directory.js";
export { type ColBERTParts, loadColBERT } from "./load.js";
export type {
  ColBERTEncodeOptions,
  ColBERTOptions,
  EncodeInput,
  EncodeResult,
} from "./options.js";
export { poolEmbeddingsHierarchical } from "./pooling.js";
export {
  type Int8Matrix,
  type MatrixOfPrecision,
  type Precision,
  type QuantizationRanges,
  type QuantizeOptions,
  quantizationRanges,
  quantizeEmbeddings,
  type Uint8Matrix,
} from "./quantization.js";
export { type SaveOptions, saveColBERT } from "./save.js";
export { type CheckpointFiles, type CheckpointSource, memorySource } from "./source.js";
export { ColBERTTokenizer, type TokenizedBatch, type TokenizeOptions } from "./tokenizer.js";
export type { EmbeddingModel, EncodeOptions } from "./types.js";
