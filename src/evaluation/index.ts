/**
 * tslate's evaluation module, the counterpart of `pylate.evaluation`: BEIR loading, ranx
 * metrics, TREC run files, the BM25 baseline, PyLate's evaluators and the BEIR pipeline.
 */

export {
  type BeirDataset,
  type BeirDocument,
  type BeirFiles,
  type BeirQueriesAndQrels,
  type BeirQuery,
  documentText,
  getBeirTriples,
  listSplits,
  loadBeir,
  streamCorpus,
  streamQueries,
} from "./beir.js";
export {
  BM25,
  BM25_PRESETS,
  type BM25Options,
  type BM25Preset,
  ENGLISH_STOP_WORDS,
  englishAnalyzer,
} from "./bm25.js";
export {
  ColBERTDistillationEvaluator,
  ColBERTTripletEvaluator,
  type DistillationEvaluatorOptions,
  NANO_BEIR_METRICS,
  NanoBEIREvaluator,
  type NanoBEIREvaluatorOptions,
  type NanoBEIRResult,
  type TripletEvaluatorOptions,
} from "./evaluators.js";
export {
  type EvaluateOptions,
  type EvaluationResult,
  evaluate,
  type MetricName,
  type MetricSpec,
  parseMetric,
  type Qrels,
  type Run,
  rankDocuments,
} from "./metrics.js";
export {
  type BeirEvaluation,
  type BeirEvaluationOptions,
  type BeirRetriever,
  BM25Retriever,
  DEFAULT_BEIR_METRICS,
  evaluateBeir,
  formatResultsTable,
  ModelRetriever,
  type ModelRetrieverOptions,
  type StageTimer,
} from "./pipeline.js";
export { porterStem } from "./porter.js";
export { readQrels, readRun, type WriteRunOptions, writeRun } from "./trec.js";
