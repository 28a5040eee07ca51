/**
 * tslate public API. Nothing outside this file is promised.
 */

// Evaluation
export {
  type BeirDataset,
  type BeirDocument,
  type BeirEvaluation,
  type BeirQuery,
  type BeirRetriever,
  BM25,
  BM25_PRESETS,
  type BM25Options,
  type BM25Preset,
  BM25Retriever,
  ColBERTDistillationEvaluator,
  ColBERTTripletEvaluator,
  documentText,
  englishAnalyzer,
  evaluate,
  evaluateBeir,
  formatResultsTable,
  loadBeir,
  type MetricName,
  ModelRetriever,
  NanoBEIREvaluator,
  parseMetric,
  type Qrels,
  type Run,
  readQrels,
  readRun,
  streamCorpus,
  writeRun,
} from "./evaluation/index.js";
// Training
export { gradients } from "./graph/autodiff.js";
export { hubCacheDir } from "./hub/cache.js";
export type { DownloadProgress, HubOptions } from "./hub/download.js";
export { DEFAULT_ALLOW_PATTERNS, resolveModelPath, snapshotDownload } from "./hub/download.js";
// Indexes, retrieval, reranking
export { fuseRrf, fuseRsf } from "./indexes/fusion.js";
export type {
  ExactOptions,
  HnswConfig,
  HnswOptions,
  OpenOptions,
  PlaidConfig,
  PlaidDrift,
  PlaidOptions,
  PlaidSearchOptions,
  PlaidSearchParameters,
} from "./indexes/index.js";
export {
  DEFAULT_HNSW_CONFIG,
  DEFAULT_PLAID_CONFIG,
  DEFAULT_PLAID_SEARCH,
  Exact,
  HNSW,
  INDEX_TYPES,
  type IndexType,
  openIndex,
  PLAID,
} from "./indexes/index.js";
export { ParallelSearcher, type ParallelSearcherOptions } from "./indexes/parallel.js";
export type {
  DocumentInput,
  DocumentMetadata,
  HybridSearchOptions,
  MetadataFilter,
  MultiVectorIndex,
  SearchOptions,
  SearchResult,
} from "./indexes/types.js";
// Files: safetensors, streamed embedding files
export {
  type EmbeddingFile,
  type EmbeddingFileFormat,
  EmbeddingFileWriter,
  type EmbeddingPrecision,
  readEmbeddingFile,
} from "./io/embeddings.js";
export { readSafetensorsHeader, WeightStore, writeSafetensors } from "./io/safetensors.js";
export {
  CachedContrastive,
  type ColBERTLoss,
  Contrastive,
  type ContrastiveBatch,
  Distillation,
  type DistillationBatch,
} from "./losses/index.js";
// Models: ColBERT, tokenizer, config, pooling, hub
export {
  ColBERT,
  type ColBERTEncodeOptions,
  type ColBERTOptions,
  type EncodeInput,
  type EncodeResult,
} from "./models/colbert.js";
export { type ColBERTConfig, DEFAULT_COLBERT_CONFIG, PUNCTUATION } from "./models/config.js";
export { DENSE_ACTIVATIONS, type DenseActivation, type DenseLayer } from "./models/dense.js";
export { poolEmbeddingsHierarchical } from "./models/pooling.js";
export {
  type Int8Matrix,
  type MatrixOfPrecision,
  type Precision,
  type QuantizationRanges,
  type QuantizeOptions,
  quantizationRanges,
  quantizeEmbeddings,
  type Uint8Matrix,
} from "./models/quantization.js";
export { ColBERTTokenizer, type TokenizedBatch, type TokenizeOptions } from "./models/tokenizer.js";
export type { EmbeddingModel, EncodeOptions } from "./models/types.js";
export { rerank } from "./rank/rerank.js";
export { indexCorpus, searchQueries } from "./retrieve/beir.js";
export { type RetrieveOptions, Retriever } from "./retrieve/colbert.js";
// Scores
export type { ScoreMasks } from "./scores/colbert.js";
export {
  ColBERTScores,
  colbertKdScores,
  colbertScores,
  colbertScoresPairwise,
} from "./scores/colbert.js";
export { maxSim } from "./scores/maxsim.js";
export type { MaskTensor, Tensor } from "./scores/tensor.js";
export { padMatrices, tensor } from "./scores/tensor.js";
export type { XTRScoresOptions } from "./scores/xtr.js";
export { XTRKDScores, XTRScores, xtrKdScores, xtrScores } from "./scores/xtr.js";
export {
  AdamW,
  ColBERTCollator,
  type DistillationExample,
  distillationFromRows,
  type Evaluator,
  evaluateRetrieval,
  LiveEncoder,
  maskOptions,
  mineHardNegativesBM25,
  modelEvaluator,
  readRows,
  readTrainConfig,
  retrievalEvaluator,
  runTrainConfig,
  Trainer,
  type TrainingArguments,
  type TrainResult,
  type TripletExample,
  trainableModel,
  tripletsFromRows,
} from "./training/index.js";
// Errors and the matrix type every module exchanges
export * from "./util/errors.js";
export { fromRows, type Matrix, matrix } from "./util/matrix.js";
