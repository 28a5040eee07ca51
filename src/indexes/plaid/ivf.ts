import { IndexError } from "../../util/errors.js";
import type { DocSlot } from "../base.js";
import type { ChunkRef, Container } from "../store.js";
import { type Codec, numCentroids } from "./codec.js";
import { inverseNorms } from "./decompress.js";

/**
 * A PLAID chunk's sections, typed: `codes` are u16 while K <= 65,536 and u32 above (the
 * width is the file's), `residuals` u8 [tokens, dim·nbits/8]. Code reads these, never
 * `sections.codes as …`, so a wrong width cannot be assumed.
 */
export interface PlaidChunk {
  codes: Uint16Array | Uint32Array;
  residuals: Uint8Array;
}

/** The narrowest code type that holds K centroids (the on-disk rule). */
export function codesFor(codes: ArrayLike<number>, k: number): Uint16Array | Uint32Array {
  return k <= 65_536 ? Uint16Array.from(codes) : Uint32Array.from(codes);
}

/** Checks and types a chunk container's PLAID sections. */
export function plaidChunk(c: Container, ref: ChunkRef, codec: Codec, path: string): PlaidChunk {
  const codes = c.sections.codes;
  const residuals = c.sections.residuals;
  const bytesPer = (codec.dim * codec.nbits) / 8;
  if (
    !(codes instanceof Uint16Array || codes instanceof Uint32Array) ||
    !(residuals instanceof Uint8Array) ||
    codes.length !== ref.tokens ||
    residuals.length !== ref.tokens * bytesPer
  ) {
    throw new IndexError(
      `${path}: codes (u16/u32) / residuals (u8) do not hold ${ref.tokens} tokens; the index is damaged, rebuild it`,
    );
  }
  return { codes, residuals };
}

/**
 * What search needs besides the chunks, derived when a chunk attaches: per chunk the inverse
 * norms of its decompressed tokens; the inverted file (centroid → documents having a token
 * there; deleted ones are skipped at search); per document its distinct centroids
 * (uniq[uStart[d] .. uStart[d] + uLen[d]), for approximate scores).
 */
export class PlaidLists {
  /** Per chunk: 1 / |decompressed token| (decompressed vectors are normalised). */
  invNorms: Float32Array[] = [];
  ivf: number[][] = [];
  uniq = new Uint32Array(0);
  uniqUsed = 0;
  /** Changes whenever `uniq` does (the WebAssembly scorer keeps a copy). */
  uniqVersion = 0;
  uStart = new Int32Array(0);
  uLen = new Int32Array(0);

  /** Makes room for K centroids (the codec grew or was replaced). */
  ensureCentroids(k: number): void {
    while (this.ivf.length < k) this.ivf.push([]);
  }

  attach(
    ci: number,
    chunk: PlaidChunk,
    ref: ChunkRef,
    slots: DocSlot[],
    codec: Codec,
    table: Float32Array,
    path: string,
  ): void {
    const k = numCentroids(codec);
    const { codes } = chunk;
    for (let t = 0; t < ref.tokens; t++) {
      if (codes[t] >= k)
        throw new IndexError(`${path}: token ${t} has centroid ${codes[t]} but the codec has ${k}`);
    }
    this.invNorms[ci] = inverseNorms(codec, table, chunk.codes, chunk.residuals, ref.tokens);
    const seen = new Int32Array(k).fill(-1);
    const lastDoc = ref.firstDocno + ref.docs;
    if (this.uStart.length < lastDoc) {
      const size = Math.max(lastDoc, this.uStart.length * 2);
      const s0 = new Int32Array(size);
      s0.set(this.uStart);
      const l0 = new Int32Array(size);
      l0.set(this.uLen);
      this.uStart = s0;
      this.uLen = l0;
    }
    if (this.uniq.length < this.uniqUsed + ref.tokens) {
      const u = new Uint32Array(Math.max(this.uniqUsed + ref.tokens, this.uniq.length * 2));
      u.set(this.uniq.subarray(0, this.uniqUsed));
      this.uniq = u;
    }
    for (let i = 0; i < ref.docs; i++) {
      const d = ref.firstDocno + i;
      const slot = slots[d];
      this.uStart[d] = this.uniqUsed;
      for (let t = slot.start; t < slot.start + slot.len; t++) {
        const c = codes[t];
        if (seen[c] !== d) {
          seen[c] = d;
          this.ivf[c].push(d);
          this.uniq[this.uniqUsed++] = c;
        }
      }
      this.uLen[d] = this.uniqUsed - this.uStart[d];
    }
    this.uniqVersion++;
  }
}
