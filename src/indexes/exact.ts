import type { Matrix } from "../util/matrix.js";
import {
  BaseIndex,
  type BaseIndexOptions,
  type EncodedChunk,
  type OpenOptions,
  TopK,
} from "./base.js";
import { gemmABt } from "./kernels.js";
import { type ChunkRef, sectionOf } from "./store.js";
import type { SearchOptions } from "./types.js";

/** Search options of Exact beyond k, filter and subset: none. */
export const EXACT_SEARCH_KEYS: readonly string[] = [];

export type ExactOptions = BaseIndexOptions;

/** Scores per product in search: [query tokens of the batch, document tokens] ≤ 8M floats. */
const BLOCK_SCORES = 8 * 1024 * 1024;

/**
 * Brute-force MaxSim over every document, stored as fp32 (the ground truth for the other
 * indexes; fine for small collections). Chunk section `embeddings`: f32 [tokens, dim].
 * Search multiplies all query tokens of a batch with runs of consecutive document tokens
 * (one matrix product each) and reduces the scores per document.
 */
export class Exact extends BaseIndex<SearchOptions, null> {
  static readonly TYPE = "exact";

  static async create(dir: string, options: ExactOptions = {}): Promise<Exact> {
    const { store, manifest, meta } = BaseIndex.initDirectory(dir, Exact.TYPE, options, {});
    const index = new Exact(store, manifest, meta);
    index.useKernels(options.kernels);
    return index;
  }

  static async open(dir: string, options: OpenOptions = {}): Promise<Exact> {
    const { store, manifest, meta } = BaseIndex.openDirectory(dir, Exact.TYPE, options);
    const index = new Exact(store, manifest, meta);
    index.loadAll(options);
    return index;
  }

  protected async encode(embeddings: Matrix[]): Promise<EncodedChunk> {
    const total = embeddings.reduce((s, e) => s + e.data.length, 0);
    const data = new Float32Array(total);
    let o = 0;
    for (const e of embeddings) {
      data.set(e.data, o);
      o += e.data.length;
    }
    return { sections: { embeddings: data } };
  }

  /** Per chunk: its `embeddings` section, checked f32. */
  private embeddings: Float32Array[] = [];

  protected onChunkAttached(ci: number, ref: ChunkRef): void {
    this.embeddings[ci] = sectionOf(
      this.chunks[ci],
      "embeddings",
      Float32Array,
      this.store.path(ref.file),
    );
  }

  /** The stored embedding of a live document. */
  embedding(id: string): Matrix | undefined {
    const d = this.docnoOf.get(id);
    return d === undefined ? undefined : this.docMatrix(d);
  }

  protected docMatrix(d: number): Matrix {
    const s = this.slots[d];
    const dim = this.manifest.dim;
    const data = this.embeddings[s.chunk];
    return { data: data.subarray(s.start * dim, (s.start + s.len) * dim), rows: s.len, cols: dim };
  }

  /** Exact search takes only k, filter and subset. */
  protected searchKeys(): readonly string[] {
    return EXACT_SEARCH_KEYS;
  }

  protected searchParameters(_options: SearchOptions): null {
    return null;
  }

  protected async searchBatch(
    queries: Matrix[],
    k: number,
    allowed: Uint8Array | null,
  ): Promise<[number, number][][]> {
    const dim = this.manifest.dim;
    const rows = queries.reduce((s, q) => s + q.rows, 0);
    const tops = queries.map(() => new TopK(k));
    const Q = new Float32Array(rows * dim);
    const qOff: number[] = [];
    for (let j = 0, o = 0; j < queries.length; j++) {
      qOff.push(o);
      Q.set(queries[j].data.subarray(0, queries[j].rows * dim), o * dim);
      o += queries[j].rows;
    }
    // Live documents by chunk, in token order; empty documents score 0.
    const byChunk = new Map<number, number[]>();
    for (let d = 0; d < this.alive.length; d++) {
      if (!this.alive[d] || (allowed && !allowed[d])) continue;
      const s = this.slots[d];
      if (s.len === 0) {
        for (const t of tops) t.push(d, 0);
        continue;
      }
      let list = byChunk.get(s.chunk);
      if (!list) byChunk.set(s.chunk, (list = []));
      list.push(d);
    }
    if (rows === 0) return queries.map(() => []);
    const block = Math.max(1, Math.floor(BLOCK_SCORES / rows));
    for (const [chunk, docs] of byChunk) {
      docs.sort((a, b) => this.slots[a].start - this.slots[b].start);
      const data = this.embeddings[chunk];
      for (let b = 0; b < docs.length; ) {
        // A run of documents whose tokens span at most `block` (at least one document).
        const lo = this.slots[docs[b]].start;
        let e = b + 1;
        while (e < docs.length) {
          const s = this.slots[docs[e]];
          if (s.start + s.len - lo > block) break;
          e++;
        }
        const last = this.slots[docs[e - 1]];
        const width = last.start + last.len - lo;
        const S = await gemmABt(
          Q,
          rows,
          data.subarray(lo * dim, (lo + width) * dim),
          width,
          dim,
          this.kernels,
        );
        for (let j = 0; j < queries.length; j++) {
          const nq = queries[j].rows;
          if (nq === 0) continue;
          for (let x = b; x < e; x++) {
            const s = this.slots[docs[x]];
            let total = 0;
            for (let i = 0; i < nq; i++) {
              const o = (qOff[j] + i) * width + (s.start - lo);
              let mx = S[o];
              for (let t = 1; t < s.len; t++) if (S[o + t] > mx) mx = S[o + t];
              total += mx;
            }
            tops[j].push(docs[x], total);
          }
        }
        b = e;
      }
    }
    return tops.map((t, j) => (queries[j].rows === 0 ? [] : t.result()));
  }
}
