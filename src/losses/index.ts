// The losses module, as PyLate's `pylate.losses` exports it, plus the shared types.
export { CachedContrastive, type CachedContrastiveOptions } from "./cached-contrastive.js";
export { Contrastive, type ContrastiveBatch, type ContrastiveOptions } from "./contrastive.js";
export { Distillation, type DistillationBatch, type DistillationOptions } from "./distillation.js";
export type {
  ColBERTLoss,
  LossGraph,
  LossGraphBuilder,
  MaskOptions,
  TokenizedColumn,
} from "./types.js";
