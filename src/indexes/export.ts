import { IndexError, InvalidArgumentError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import type { DocumentInput, DocumentMetadata, MultiVectorIndex } from "./types.js";

/** What `exportDocuments` reads from a source index: its ids, stored embeddings and metadata. */
export interface ExportableIndex {
  ids(): string[] | Promise<string[]>;
  embedding(id: string): Matrix | undefined | Promise<Matrix | undefined>;
  metadata(id: string): DocumentMetadata | undefined | Promise<DocumentMetadata | undefined>;
}

/** A source that streams its own documents in batches (Lance scans its table). */
export interface StreamableIndex {
  documents(batchRows?: number): AsyncIterable<DocumentInput[]>;
}

export interface ExportOptions {
  /** Token rows per write to the target (default 2^18 = 128 MB at dim 128): bounds memory. */
  batchTokens?: number;
  /** Called after every batch written, with documents done and in all. */
  onProgress?: (done: number, total: number) => void;
}

function isStreamable(x: unknown): x is StreamableIndex {
  return typeof (x as StreamableIndex)?.documents === "function";
}

function isExportable(x: unknown): x is ExportableIndex {
  const s = x as ExportableIndex;
  return typeof s?.ids === "function" && typeof s.embedding === "function";
}

/** The documents of an index (id, stored embedding, metadata), one at a time. */
export async function* documentsOf(source: unknown): AsyncGenerator<DocumentInput> {
  if (isStreamable(source)) {
    for await (const docs of source.documents()) yield* docs;
    return;
  }
  if (!isExportable(source))
    throw new IndexError(
      "this index does not keep its documents' embeddings (PLAID stores compressed residuals): export an Exact or Lance index, or rebuild from the corpus",
    );
  for (const id of await source.ids()) {
    const embedding = await source.embedding(id);
    if (!embedding) continue; // deleted since ids() was read
    yield { id, embedding, metadata: (await source.metadata(id)) ?? {} };
  }
}

/**
 * The documents of an index in batches of at most `batchTokens` token rows (a batch ends once
 * it reaches them), so that copying a corpus never holds it whole in memory.
 */
export async function* exportDocuments(
  source: unknown,
  batchTokens = 1 << 18,
): AsyncGenerator<DocumentInput[]> {
  if (!Number.isInteger(batchTokens) || batchTokens < 1)
    throw new InvalidArgumentError(`batchTokens must be a positive integer, got ${batchTokens}`);
  let batch: DocumentInput[] = [];
  let tokens = 0;
  for await (const d of documentsOf(source)) {
    batch.push(d);
    tokens += d.embedding.rows;
    if (tokens >= batchTokens) {
      yield batch;
      batch = [];
      tokens = 0;
    }
  }
  if (batch.length) yield batch;
}

/** Number of documents of a source, for progress. */
async function countOf(source: unknown): Promise<number> {
  const c = (source as { count?: () => number | Promise<number> }).count;
  return typeof c === "function" ? await c.call(source) : 0;
}

/**
 * Copies every document of `source` into `target` (ids, embeddings, metadata), batch by batch.
 * Returns the number of documents copied.
 */
export async function exportIndex(
  source: unknown,
  target: MultiVectorIndex,
  options: ExportOptions = {},
): Promise<number> {
  const total = await countOf(source);
  let done = 0;
  for await (const batch of exportDocuments(source, options.batchTokens)) {
    await target.add(
      batch.map((d) => d.id),
      batch.map((d) => d.embedding),
      batch.map((d) => d.metadata ?? {}),
    );
    done += batch.length;
    options.onProgress?.(done, total);
  }
  return done;
}
