/**
 * tslate's public API. Nothing outside this file is promised.
 *
 * Modules are namespaces, as in PyLate (`pylate.models`, `pylate.indexes`, ...):
 *
 *   import { models, indexes, evaluation } from "tslate";
 *   const model = await models.ColBERT.fromPretrained(dir);
 *
 * and the names of the README quickstart are also exported at the top level:
 *
 *   import { ColBERT, colbertScores, PLAID, Retriever, rerank } from "tslate";
 *
 * The command line is `tslate/cli` (its `buildProgram()`); importing this module loads
 * neither commander nor the progress-bar package.
 */

export * as evaluation from "./evaluation/index.js";
// The quickstart: load, encode, score, index, retrieve, rerank, evaluate, train.
export { evaluate } from "./evaluation/metrics.js";
export * as hub from "./hub/index.js";
export * as indexes from "./indexes/index.js";
export { Exact, HNSW, openIndex, PLAID } from "./indexes/index.js";
export type { SearchOptions, SearchResult } from "./indexes/types.js";
export { loadBeir } from "./io/beir.js";
export * as io from "./io/index.js";
export * as losses from "./losses/index.js";
export { Contrastive, Distillation } from "./losses/index.js";
export { ColBERT } from "./models/colbert.js";
export * as models from "./models/index.js";
export * as rank from "./rank/index.js";
export { rerank } from "./rank/rerank.js";
export { Retriever } from "./retrieve/colbert.js";
export * as retrieve from "./retrieve/index.js";
export { colbertScores } from "./scores/colbert.js";
export * as scores from "./scores/index.js";
export * as training from "./training/index.js";
export { Trainer } from "./training/trainer.js";
// Errors every module throws, and the matrix type every module exchanges.
export * from "./util/errors.js";
export { fromRows, type Matrix, matrix } from "./util/matrix.js";
