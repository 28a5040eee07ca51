import { closeSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { InvalidArgumentError } from "../../util/errors.js";
import { checkMatrix } from "../../util/matrix.js";
import { mulberry32 as rng } from "../../util/random.js";
import type { DocumentInput } from "../types.js";

/**
 * Streaming-build helper: documents from an (async) iterable are appended to a spill file on
 * disk while a reservoir keeps a uniform sample of at most `sampleTokens` token embeddings.
 * Memory stays bounded by the sample plus one batch, whatever the corpus size.
 *
 * Record layout: u32 idBytes, u32 metadataBytes, u32 rows, id (utf8), metadata (JSON), f32
 * [rows, dim].
 */
export interface SpillReader {
  docs: number;
  tokens: number;
  dim: number;
  /** The reservoir sample, [n, dim]. */
  sample: Float32Array;
  /** Re-reads the documents in batches of about `batchTokens` tokens. */
  batches(batchTokens: number): AsyncIterable<DocumentInput[]>;
  close(): void;
}

const FLUSH_BYTES = 4 * 1024 * 1024;

export async function spillDocuments(
  documents: AsyncIterable<DocumentInput> | Iterable<DocumentInput>,
  path: string,
  options: { sampleTokens: number; seed: number; dim?: number },
): Promise<SpillReader> {
  const fd = openSync(path, "w+");
  rmSync(path, { force: true }); // anonymous: vanishes with the descriptor, even on a crash
  const rand = rng(options.seed);
  let dim = options.dim ?? 0;
  let sample = new Float32Array(0);
  let seen = 0;
  let docs = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let written = 0;
  const ids = new Set<string>();
  const flush = () => {
    for (const b of pending) {
      let o = 0;
      while (o < b.length) o += writeSync(fd, b, o, b.length - o, written + o);
      written += b.length;
    }
    pending = [];
    pendingBytes = 0;
  };
  try {
    for await (const doc of documents as AsyncIterable<DocumentInput>) {
      if (!doc || typeof doc.id !== "string" || doc.id === "") {
        throw new InvalidArgumentError(
          `document ${docs} needs a non-empty string id, got ${JSON.stringify(doc?.id)}`,
        );
      }
      if (ids.has(doc.id))
        throw new InvalidArgumentError(
          `duplicate id ${JSON.stringify(doc.id)} in the build stream`,
        );
      ids.add(doc.id);
      const e = checkMatrix(
        doc.embedding,
        `embedding of ${JSON.stringify(doc.id)}`,
        dim || undefined,
      );
      if (e.rows < 1)
        throw new InvalidArgumentError(`document ${JSON.stringify(doc.id)} has no tokens`);
      if (!dim) dim = e.cols;
      if (sample.length === 0) sample = new Float32Array(options.sampleTokens * dim);
      for (let t = 0; t < e.rows; t++, seen++) {
        let slot = seen;
        if (seen >= options.sampleTokens) {
          slot = Math.floor(rand() * (seen + 1));
          if (slot >= options.sampleTokens) continue;
        }
        sample.set(e.data.subarray(t * dim, t * dim + dim), slot * dim);
      }
      const idb = Buffer.from(doc.id, "utf8");
      const mb = Buffer.from(JSON.stringify(doc.metadata ?? {}), "utf8");
      const head = Buffer.alloc(12);
      head.writeUInt32LE(idb.length, 0);
      head.writeUInt32LE(mb.length, 4);
      head.writeUInt32LE(e.rows, 8);
      const data = Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
      pending.push(head, idb, mb, Buffer.from(data));
      pendingBytes += 12 + idb.length + mb.length + data.length;
      docs++;
      if (pendingBytes >= FLUSH_BYTES) flush();
    }
    flush();
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  const size = written;
  const reader: SpillReader = {
    docs,
    tokens: seen,
    dim,
    sample: sample.subarray(0, Math.min(seen, options.sampleTokens) * dim),
    async *batches(batchTokens: number) {
      let pos = 0;
      let batch: DocumentInput[] = [];
      let batchTok = 0;
      const head = Buffer.alloc(12);
      while (pos < size) {
        readSync(fd, head, 0, 12, pos);
        const idLen = head.readUInt32LE(0);
        const mLen = head.readUInt32LE(4);
        const rows = head.readUInt32LE(8);
        const body = Buffer.alloc(idLen + mLen + rows * dim * 4);
        readSync(fd, body, 0, body.length, pos + 12);
        pos += 12 + body.length;
        const emb = new Float32Array(rows * dim);
        new Uint8Array(emb.buffer).set(body.subarray(idLen + mLen));
        batch.push({
          id: body.toString("utf8", 0, idLen),
          metadata: JSON.parse(body.toString("utf8", idLen, idLen + mLen)) as Record<
            string,
            unknown
          >,
          embedding: { data: emb, rows, cols: dim },
        });
        batchTok += rows;
        if (batchTok >= batchTokens) {
          yield batch;
          batch = [];
          batchTok = 0;
        }
      }
      if (batch.length) yield batch;
    },
    close() {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    },
  };
  return reader;
}
