import { maxSim } from "../scores/maxsim.js";
import type { Matrix } from "../util/matrix.js";
import { BaseIndex, type BaseIndexOptions, type EncodedChunk, TopK } from "./base.js";
import type { ChunkRef } from "./store.js";

export type ExactOptions = BaseIndexOptions;

/**
 * Brute-force MaxSim over every document, stored as fp32 (the ground truth for the other
 * indexes; fine for small collections). Chunk section `embeddings`: f32 [tokens, dim].
 */
export class Exact extends BaseIndex {
  static readonly TYPE = "exact";

  static async create(dir: string, options: ExactOptions = {}): Promise<Exact> {
    const { store, manifest, meta } = BaseIndex.initDirectory(dir, Exact.TYPE, options, {});
    return new Exact(store, manifest, meta);
  }

  static async open(dir: string, options: { verifyChecksums?: boolean } = {}): Promise<Exact> {
    const { store, manifest, meta } = BaseIndex.openDirectory(dir, Exact.TYPE);
    const index = new Exact(store, manifest, meta);
    index.loadAll(options.verifyChecksums ?? true);
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

  protected onChunkAttached(_chunkIndex: number, _ref: ChunkRef): void {}

  /** The stored embedding of a live document. */
  embedding(id: string): Matrix | undefined {
    const d = this.docnoOf.get(id);
    return d === undefined ? undefined : this.docMatrix(d);
  }

  protected docMatrix(d: number): Matrix {
    const s = this.slots[d];
    const dim = this.manifest.dim;
    const data = this.chunks[s.chunk].sections.embeddings as Float32Array;
    return { data: data.subarray(s.start * dim, (s.start + s.len) * dim), rows: s.len, cols: dim };
  }

  protected async searchOne(
    query: Matrix,
    k: number,
    allowed: Uint8Array | null,
  ): Promise<[number, number][]> {
    const top = new TopK(k);
    for (let d = 0; d < this.alive.length; d++) {
      if (!this.alive[d] || (allowed && !allowed[d])) continue;
      top.push(d, maxSim(query, this.docMatrix(d)));
    }
    return top.result();
  }
}
