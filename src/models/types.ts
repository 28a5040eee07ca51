import type { Matrix } from "../util/matrix.js";

/** Options of `ColBERT.encode`, the camelCase twins of PyLate's `encode` arguments. */
export interface EncodeOptions {
  /** Encode as queries ([Q] prefix, [MASK] expansion to queryLength) instead of documents. */
  isQuery?: boolean;
  /** Texts per forward pass (default 32, as PyLate). */
  batchSize?: number;
  /** Hierarchical token pooling factor for documents (1 = no pooling, PyLate's default). */
  poolFactor?: number;
  /** Tokens never pooled at the start of each document (default 1: [CLS]). */
  protectedTokens?: number;
  /** Show a progress bar on stderr. */
  showProgress?: boolean;
}

/**
 * What evaluators, indexes' CLI and trainers need from a model: anything that turns texts
 * into one Matrix per text (rows = kept tokens). `ColBERT` implements it.
 */
export interface EmbeddingModel {
  encode(texts: string[], options?: EncodeOptions): Promise<Matrix[]>;
}
