import { InvalidArgumentError } from "../util/errors.js";
import { checkMatrix, type Matrix } from "../util/matrix.js";
import type { DocumentMetadata } from "./types.js";

/** A result count (k, candidates, ...): a positive integer, 10 when omitted. */
export function checkK(k: unknown, what = "k"): number {
  const kk = k ?? 10;
  if (typeof kk !== "number" || !Number.isInteger(kk) || kk < 1) {
    throw new InvalidArgumentError(`${what} must be a positive integer, got ${String(k)}`);
  }
  return kk;
}

/** Documents' embeddings: matrices of `dim` columns (the first one's when unknown), each with rows. */
export function checkDocumentEmbeddings(embeddings: Matrix[], what: string, dim?: number): void {
  if (!Array.isArray(embeddings))
    throw new InvalidArgumentError(`${what} must be an array of matrices`);
  const d = dim || (embeddings[0] as Matrix | undefined)?.cols;
  embeddings.forEach((e, i) => {
    checkMatrix(e, `${what}[${i}]`, d);
    if (e.rows < 1)
      throw new InvalidArgumentError(
        `${what}[${i}] has no tokens; every document needs at least one embedding row`,
      );
  });
}

/**
 * A batch of documents to write, as every index takes it: one matrix and at most one plain
 * metadata object per id, unique non-empty ids, none already present (when `isPresent` is
 * given: adds, not updates).
 */
export function checkDocumentBatch(
  ids: string[],
  embeddings: Matrix[],
  metadata: DocumentMetadata[] | undefined,
  dim: number | undefined,
  isPresent?: (id: string) => boolean,
): void {
  if (!Array.isArray(ids)) throw new InvalidArgumentError("ids must be an array of strings");
  if (!Array.isArray(embeddings) || embeddings.length !== ids.length) {
    throw new InvalidArgumentError(
      `got ${ids.length} ids but ${Array.isArray(embeddings) ? embeddings.length : typeof embeddings} embeddings; pass one matrix per id`,
    );
  }
  if (metadata !== undefined && (!Array.isArray(metadata) || metadata.length !== ids.length)) {
    throw new InvalidArgumentError(
      `got ${ids.length} ids but ${Array.isArray(metadata) ? metadata.length : typeof metadata} metadata entries; pass one object per id`,
    );
  }
  metadata?.forEach((m, i) => {
    if (m !== undefined && (m === null || typeof m !== "object" || Array.isArray(m))) {
      throw new InvalidArgumentError(
        `metadata[${i}] must be a plain object, got ${JSON.stringify(m)}`,
      );
    }
  });
  const seen = new Set<string>();
  ids.forEach((id, i) => {
    if (typeof id !== "string" || id.length === 0)
      throw new InvalidArgumentError(
        `ids[${i}] must be a non-empty string, got ${JSON.stringify(id)}`,
      );
    if (seen.has(id))
      throw new InvalidArgumentError(
        `duplicate id ${JSON.stringify(id)} in this batch; ids must be unique`,
      );
    seen.add(id);
    if (isPresent?.(id)) {
      throw new InvalidArgumentError(
        `id ${JSON.stringify(id)} is already in the index; use update() to replace it or delete() it first`,
      );
    }
  });
  checkDocumentEmbeddings(embeddings, "embeddings", dim);
}
