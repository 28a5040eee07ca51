/**
 * tslate in the browser (`tslate/web`): ESM, no Node built-ins. Scores, reranking, BM25 and
 * an in-memory Exact index persisted to IndexedDB; graphs run on onnxruntime-web (WASM SIMD,
 * threads when cross-origin isolated, or WebGPU). Built by scripts/build-web.mjs.
 */
export { BM25, type BM25Options, englishAnalyzer } from "../evaluation/bm25.js";
export { Graph } from "../graph/ir.js";
export { GraphSession } from "../graph/session.js";
export type { SearchResult } from "../indexes/types.js";
export { rerank } from "../rank/rerank.js";
export { colbertScores, colbertScoresPairwise } from "../scores/colbert.js";
export { maxSim } from "../scores/maxsim.js";
export { IndexError, InvalidArgumentError, TslateError, UnsupportedError } from "../util/errors.js";
export { fromRows, type Matrix, matrix } from "../util/matrix.js";
export { ColBERT, type WebColBERTOptions } from "./colbert.js";
export { Exact, type ExactRecord, type WebSearchOptions } from "./exact.js";
export { fetchCheckpointFiles, type WebHubOptions } from "./hub.js";
export {
  configureWebRuntime,
  createInferenceSession,
  crossOriginIsolated,
  makeTensor,
  type WebExecutionProvider,
  type WebRuntimeOptions,
} from "./runtime.js";
export { deleteIndex, openIndex, saveIndex } from "./storage.js";
