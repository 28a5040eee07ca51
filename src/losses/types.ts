/**
 * What the losses share: tokenized columns as the collator produces them, the masks PyLate
 * derives from them, and the interface a loss implements to take part in a training graph.
 */
import type { Graph, Value } from "../graph/ir.js";
import type { Feed } from "../graph/session.js";
import { ShapeError } from "../util/errors.js";

/** One tokenized column ([batchSize, seqLength] row-major), as `ColBERT.tokenize` returns it. */
export interface TokenizedColumn {
  readonly inputIds: BigInt64Array;
  readonly attentionMask: BigInt64Array;
  readonly tokenTypeIds?: BigInt64Array;
  readonly batchSize: number;
  readonly seqLength: number;
}

/** How masks are derived from token ids (PyLate's extract_skiplist_mask). */
export interface MaskOptions {
  /** Ids of the skiplist words (punctuation): removed from documents. */
  readonly skiplistIds: ReadonlySet<number>;
  /** Queries padded with [MASK] take part in full (mask of ones); otherwise the attention mask. */
  readonly doQueryExpansion: boolean;
}

/** The graph a loss adds: its scalar value plus outputs worth reporting (scores). */
export interface LossGraph {
  readonly loss: Value;
  readonly outputs: Record<string, Value>;
}

/**
 * What a loss needs from the graph it is built into (training/graph.ts's TrainingGraphBuilder
 * implements it): the graph, and encoder passes whose embeddings the loss scores. Declared
 * here so that losses stand below training and do not import it.
 */
export interface LossGraphBuilder {
  readonly graph: Graph;
  /**
   * Adds one encoder pass over a new group of inputs (`<name>_input_ids`,
   * `<name>_attention_mask`[, `<name>_token_type_ids`]); embeddings are [batch, seq, E],
   * L2-normalised per token.
   */
  tower(name: string): { readonly embeddings: Value };
}

/** A loss that can be trained: builds its graph once, then turns batches into feeds. */
export interface ColBERTLoss<Batch> {
  readonly name: string;
  build(builder: LossGraphBuilder): LossGraph;
  feeds(batch: Batch, masks: MaskOptions, usesTokenTypeIds: boolean): Record<string, Feed>;
  /** Number of training examples in a batch (queries). */
  size(batch: Batch): number;
}

export function checkColumn(c: TokenizedColumn, what: string): void {
  const n = c.batchSize * c.seqLength;
  if (
    !Number.isInteger(c.batchSize) ||
    c.batchSize < 1 ||
    !Number.isInteger(c.seqLength) ||
    c.seqLength < 1
  ) {
    throw new ShapeError(
      `${what}: batchSize ${c.batchSize} and seqLength ${c.seqLength} must be positive integers (an empty batch cannot be trained on)`,
    );
  }
  for (const [k, v] of [
    ["inputIds", c.inputIds],
    ["attentionMask", c.attentionMask],
    ["tokenTypeIds", c.tokenTypeIds],
  ] as const) {
    if (v === undefined && k === "tokenTypeIds") continue;
    if (!(v instanceof BigInt64Array) || v.length !== n) {
      throw new ShapeError(
        `${what}.${k} must be a BigInt64Array of batchSize × seqLength = ${n} values`,
      );
    }
  }
}

/** Feeds of one tower (`<name>_input_ids`, ...). */
export function towerFeeds(
  name: string,
  c: TokenizedColumn,
  usesTokenTypeIds: boolean,
): Record<string, Feed> {
  const dims = [c.batchSize, c.seqLength];
  const out: Record<string, Feed> = {
    [`${name}_input_ids`]: { data: c.inputIds, dims },
    [`${name}_attention_mask`]: { data: c.attentionMask, dims },
  };
  if (usesTokenTypeIds)
    out[`${name}_token_type_ids`] = {
      data: c.tokenTypeIds ?? new BigInt64Array(c.inputIds.length),
      dims,
    };
  return out;
}

/** Documents: attention AND not a skiplist id. Queries: ones with expansion, else attention. */
export function tokenMask(c: TokenizedColumn, isQuery: boolean, masks: MaskOptions): Float32Array {
  const out = new Float32Array(c.inputIds.length);
  for (let i = 0; i < out.length; i++) {
    if (isQuery) out[i] = masks.doQueryExpansion ? 1 : Number(c.attentionMask[i]);
    else
      out[i] = c.attentionMask[i] !== 0n && !masks.skiplistIds.has(Number(c.inputIds[i])) ? 1 : 0;
  }
  return out;
}

/** Rows of several columns of equal seqLength, interleaved: row j·N+k = row j of column k. */
export function interleaveColumns(cols: readonly TokenizedColumn[]): TokenizedColumn {
  const b = cols[0].batchSize;
  const l = cols[0].seqLength;
  for (const c of cols) {
    if (c.batchSize !== b || c.seqLength !== l) {
      throw new ShapeError(
        `document columns must share batchSize and seqLength (pad them to the same length); got ${cols.map((x) => `[${x.batchSize}, ${x.seqLength}]`).join(", ")}`,
      );
    }
  }
  const n = cols.length;
  const take = (get: (c: TokenizedColumn) => BigInt64Array | undefined) => {
    const out = new BigInt64Array(b * n * l);
    cols.forEach((c, k) => {
      const src = get(c);
      if (!src) return;
      for (let j = 0; j < b; j++) out.set(src.subarray(j * l, (j + 1) * l), (j * n + k) * l);
    });
    return out;
  };
  return {
    inputIds: take((c) => c.inputIds),
    attentionMask: take((c) => c.attentionMask),
    tokenTypeIds: take((c) => c.tokenTypeIds),
    batchSize: b * n,
    seqLength: l,
  };
}
