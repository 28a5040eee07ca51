/**
 * tslate's evaluation module, the counterpart of `pylate.evaluation`: ranx metrics, the BM25
 * baseline, PyLate's evaluators and the BEIR pipeline. BEIR loading and TREC files live in
 * `io/` and are re-exported here under PyLate's names (`load_beir`, `get_beir_triples`).
 */

export {
  type BeirDataset,
  type BeirDocument,
  type BeirFiles,
  type BeirQueriesAndQrels,
  type BeirQuery,
  documentText,
  listSplits,
  loadBeir,
  streamCorpus,
  streamQueries,
} from "../io/beir.js";
export { readQrels, readRun, type WriteRunOptions, writeRun } from "../io/trec.js";
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
export { getBeirTriples } from "./triples.js";
