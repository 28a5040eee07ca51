/**
 * PyLate's CachedContrastive (GradCache, Gao et al. 2021): the Contrastive loss over a large
 * batch in bounded memory. Embeddings are computed mini-batch by mini-batch without keeping
 * activations, the loss and its gradient with respect to the embeddings are computed on the
 * full batch, then each mini-batch is re-encoded and back-propagated with that upstream
 * gradient. The loss and the summed parameter gradients equal the uncached Contrastive ones
 * (up to float32 summation order); only peak memory differs.
 *
 * The step that runs it is `CachedContrastiveStep` (src/training/cached-step.ts); this class
 * holds the settings.
 */
import { InvalidArgumentError } from "../util/errors.js";
import { Contrastive, type ContrastiveOptions } from "./contrastive.js";
import type { TokenizedColumn } from "./types.js";

export interface CachedContrastiveOptions extends ContrastiveOptions {
  /** Texts encoded at once (PyLate's mini_batch_size, default 32). */
  readonly miniBatchSize?: number;
}

export class CachedContrastive extends Contrastive {
  override readonly name: string = "CachedContrastive";
  readonly miniBatchSize: number;

  constructor(options: CachedContrastiveOptions = {}) {
    super(options);
    this.miniBatchSize = options.miniBatchSize ?? 32;
    if (!Number.isInteger(this.miniBatchSize) || this.miniBatchSize < 1) {
      throw new InvalidArgumentError(
        `CachedContrastive miniBatchSize must be a positive integer, got ${options.miniBatchSize}`,
      );
    }
  }
}

/** Rows start..end-1 of a column (views, no copy). */
export function sliceColumn(c: TokenizedColumn, start: number, end: number): TokenizedColumn {
  const l = c.seqLength;
  return {
    inputIds: c.inputIds.subarray(start * l, end * l),
    attentionMask: c.attentionMask.subarray(start * l, end * l),
    tokenTypeIds: c.tokenTypeIds?.subarray(start * l, end * l),
    batchSize: end - start,
    seqLength: l,
  };
}
