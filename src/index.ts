/**
 * tslate public API. Nothing outside this file is promised.
 */
export * from "./util/errors.js";
export { type Matrix, matrix, fromRows } from "./util/matrix.js";
export { maxSim } from "./scores/maxsim.js";
export type { Tensor, MaskTensor } from "./scores/tensor.js";
export { tensor, padMatrices } from "./scores/tensor.js";
export type { ScoreMasks } from "./scores/colbert.js";
export { colbertScores } from "./scores/colbert.js";
export { colbertScoresPairwise } from "./scores/colbert.js";
export { colbertKdScores } from "./scores/colbert.js";
export { ColBERTScores } from "./scores/colbert.js";
export type { XTRScoresOptions } from "./scores/xtr.js";
export { XTRScores, XTRKDScores } from "./scores/xtr.js";
export { xtrScores, xtrKdScores } from "./scores/xtr.js";
export { poolEmbeddingsHierarchical } from "./models/pooling.js";
export type { HubOptions, DownloadProgress } from "./hub/download.js";
export { snapshotDownload, resolveModelPath, DEFAULT_ALLOW_PATTERNS } from "./hub/download.js";
export { hubCacheDir } from "./hub/cache.js";
export { ColBERT, type ColBERTOptions, type ColBERTEncodeOptions } from "./models/colbert.js";
export {
  type ColBERTConfig,
  DEFAULT_COLBERT_CONFIG,
  PUNCTUATION,
} from "./models/config.js";
export { ColBERTTokenizer, type TokenizedBatch, type TokenizeOptions } from "./models/tokenizer.js";
export type { EmbeddingModel, EncodeOptions } from "./models/types.js";
export {
  EmbeddingFileWriter,
  readEmbeddingFile,
  type EmbeddingFileFormat,
} from "./io/embeddings.js";
export { WeightStore, writeSafetensors, readSafetensorsHeader } from "./io/safetensors.js";
export { PLAID, Exact, HNSW, openIndex, INDEX_TYPES, type IndexType } from "./indexes/index.js";
export { DEFAULT_PLAID_CONFIG, DEFAULT_PLAID_SEARCH, DEFAULT_HNSW_CONFIG } from "./indexes/index.js";
export type { PlaidConfig, PlaidOptions, PlaidSearchOptions, PlaidSearchParameters, PlaidDrift, HnswConfig, HnswOptions, ExactOptions } from "./indexes/index.js";
export type { SearchResult, SearchOptions, MetadataFilter, MultiVectorIndex, HybridSearchOptions, DocumentInput, DocumentMetadata } from "./indexes/types.js";
export { fuseRsf, fuseRrf } from "./indexes/fusion.js";
export { Retriever, type RetrieveOptions } from "./retrieve/colbert.js";
export { indexCorpus, searchQueries } from "./retrieve/beir.js";
export { rerank } from "./rank/rerank.js";
export { evaluate, parseMetric, type Qrels, type Run, type MetricName } from "./evaluation/index.js";
export { readRun, writeRun, readQrels } from "./evaluation/index.js";
export { loadBeir, streamCorpus, documentText, type BeirDataset, type BeirDocument, type BeirQuery } from "./evaluation/index.js";
export { BM25, BM25_PRESETS, englishAnalyzer, type BM25Options, type BM25Preset } from "./evaluation/index.js";
export { ColBERTTripletEvaluator, ColBERTDistillationEvaluator, NanoBEIREvaluator } from "./evaluation/index.js";
export { evaluateBeir, ModelRetriever, BM25Retriever, formatResultsTable, type BeirRetriever, type BeirEvaluation } from "./evaluation/index.js";
export { Contrastive, CachedContrastive, Distillation, type ContrastiveBatch, type DistillationBatch, type ColBERTLoss } from "./losses/index.js";
export { Trainer, type TrainingArguments, type TrainResult, type Evaluator, trainableModel, maskOptions, AdamW } from "./training/index.js";
export { ColBERTCollator, tripletsFromRows, distillationFromRows, readRows, mineHardNegativesBM25, type TripletExample, type DistillationExample } from "./training/index.js";
export { LiveEncoder, evaluateRetrieval, retrievalEvaluator, modelEvaluator, readTrainConfig, runTrainConfig } from "./training/index.js";
export { gradients } from "./graph/autodiff.js";
