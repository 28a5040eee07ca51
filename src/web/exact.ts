/**
 * An in-memory brute-force MaxSim index for the browser (no file system, no SQLite): the same
 * scores and ranking as the Node `Exact` index on the same embeddings (ties broken by
 * insertion order), kept as one float32 array per document. Persisted with `saveIndex` /
 * `openIndex` (IndexedDB, see storage.ts) through `toRecord` / `fromRecord`.
 */
import type { SearchResult } from "../indexes/types.js";
import { maxSim } from "../scores/maxsim.js";
import { IndexError, InvalidArgumentError } from "../util/errors.js";
import { checkMatrix, type Matrix } from "../util/matrix.js";

/** What `Exact.toRecord` gives and `Exact.fromRecord` takes: structured-clone friendly. */
export interface ExactRecord {
  readonly type: "exact";
  readonly version: 1;
  readonly dim: number;
  readonly ids: readonly string[];
  /** Tokens per document, aligned with `ids`. */
  readonly rows: readonly number[];
  /** Every document's tokens, concatenated: [Σ rows, dim]. */
  readonly data: Float32Array;
}

export interface WebSearchOptions {
  /** Results per query (default 10). */
  readonly k?: number;
}

export class Exact {
  static readonly TYPE = "exact";
  private dimension = 0;
  private readonly docs: Matrix[] = [];
  private readonly ids: string[] = [];
  private readonly docnoOf = new Map<string, number>();

  /** Embedding width (0 until the first document). */
  get dim(): number {
    return this.dimension;
  }

  /** Live documents. */
  get size(): number {
    return this.docnoOf.size;
  }

  /** Adds documents; ids must be new and unique, embeddings [tokens, dim] of one width. */
  add(ids: string[], embeddings: Matrix[]): void {
    if (!Array.isArray(ids) || !Array.isArray(embeddings) || ids.length !== embeddings.length) {
      throw new InvalidArgumentError(
        `got ${ids?.length} ids but ${embeddings?.length} embeddings; pass one matrix per id`,
      );
    }
    const seen = new Set<string>();
    ids.forEach((id, i) => {
      if (typeof id !== "string" || id.length === 0)
        throw new InvalidArgumentError(
          `ids[${i}] must be a non-empty string, got ${JSON.stringify(id)}`,
        );
      if (seen.has(id) || this.docnoOf.has(id))
        throw new InvalidArgumentError(
          `id ${JSON.stringify(id)} is already in the index or repeated in this batch; ids must be unique`,
        );
      seen.add(id);
    });
    const dim = this.dimension || embeddings[0]?.cols || 0;
    embeddings.forEach((e, i) => {
      checkMatrix(e, `embeddings[${i}]`, dim || undefined);
      if (e.rows === 0) {
        throw new InvalidArgumentError(
          `embeddings[${i}] has no tokens; every document needs at least one embedding row`,
        );
      }
    });
    this.dimension = dim;
    ids.forEach((id, i) => {
      const e = embeddings[i];
      this.docnoOf.set(id, this.docs.length);
      this.ids.push(id);
      this.docs.push({ data: e.data.slice(0, e.rows * e.cols), rows: e.rows, cols: e.cols });
    });
  }

  /** Removes documents by id (unknown ids are ignored); returns how many were removed. */
  remove(ids: string[]): number {
    let n = 0;
    for (const id of ids) n += this.docnoOf.delete(id) ? 1 : 0;
    return n;
  }

  /** The k best documents per query by MaxSim, best first. */
  search(queries: Matrix[], options: WebSearchOptions = {}): SearchResult[][] {
    const k = options.k ?? 10;
    if (!Number.isInteger(k) || k < 1) {
      throw new InvalidArgumentError(`k must be a positive integer, got ${String(options.k)}`);
    }
    if (!Array.isArray(queries))
      throw new InvalidArgumentError("queries must be an array of matrices");
    queries.forEach((q, i) => {
      checkMatrix(q, `queries[${i}]`, this.dimension || undefined);
    });
    const live = [...this.docnoOf.values()].sort((a, b) => a - b);
    return queries.map((q) => {
      if (q.rows === 0) return [];
      const scored = live.map((d) => ({ d, score: maxSim(q, this.docs[d]) }));
      scored.sort((a, b) => b.score - a.score || a.d - b.d);
      return scored.slice(0, k).map(({ d, score }) => ({ id: this.ids[d], score }));
    });
  }

  /** The index as plain data (live documents only), for IndexedDB or any other store. */
  toRecord(): ExactRecord {
    const live = [...this.docnoOf.values()].sort((a, b) => a - b);
    const rows = live.map((d) => this.docs[d].rows);
    const data = new Float32Array(rows.reduce((s, r) => s + r, 0) * this.dimension);
    let o = 0;
    for (const d of live) {
      data.set(this.docs[d].data, o);
      o += this.docs[d].data.length;
    }
    return {
      type: "exact",
      version: 1,
      dim: this.dimension,
      ids: live.map((d) => this.ids[d]),
      rows,
      data,
    };
  }

  static fromRecord(record: ExactRecord): Exact {
    if (record?.type !== "exact" || record.version !== 1) {
      throw new IndexError(
        `not a stored Exact index (type ${JSON.stringify(record?.type)}, version ${JSON.stringify(record?.version)}); save it again with saveIndex`,
      );
    }
    const { dim, ids, rows, data } = record;
    const total = rows.reduce((s, r) => s + r, 0);
    if (ids.length !== rows.length || data.length !== total * dim) {
      throw new IndexError(
        `stored Exact index is damaged: ${ids.length} ids, ${rows.length} lengths, ${data.length} values for ${total} tokens of dim ${dim}; rebuild it`,
      );
    }
    const index = new Exact();
    let o = 0;
    const mats = rows.map((r) => {
      const m = { data: data.subarray(o * dim, (o + r) * dim), rows: r, cols: dim };
      o += r;
      return m;
    });
    if (ids.length > 0) index.add([...ids], mats);
    index.dimension = dim;
    return index;
  }
}
