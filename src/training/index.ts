// Training: the trainer, its data helpers, the optimiser and evaluation during training.

// The autodiff the trainer runs on (graph/), for custom losses and steps.
export { gradients } from "../graph/autodiff.js";
// Training tables are read by io/; re-exported here beside tripletsFromRows.
export { type Row, readRows } from "../io/rows.js";
export { AdamW, type AdamWOptions, type AdamWState, DEFAULT_ADAMW } from "./adamw.js";
export { parseTrainConfig, readTrainConfig, runTrainConfig, type TrainConfig } from "./config.js";
export {
  ColBERTCollator,
  type DistillationExample,
  distillationFromRows,
  type MiningOptions,
  mineHardNegativesBM25,
  type TripletExample,
  tripletsFromRows,
} from "./data.js";
export {
  evaluateRetrieval,
  mineHardNegativesWithModel,
  modelEvaluator,
  retrievalEvaluator,
  retrieveExact,
} from "./evaluate.js";
export { trainableParameters } from "./graph.js";
export { LiveEncoder } from "./live-encoder.js";
export type { Parameter, TrainableModel } from "./parameters.js";
export {
  DEFAULT_TRAINING_ARGUMENTS,
  type EvaluationContext,
  type Evaluator,
  maskOptions,
  Trainer,
  type TrainerSetup,
  type TrainingArguments,
  type TrainResult,
  trainableModel,
} from "./trainer.js";
