import { WasmDecompressor } from "../../kernels/plaid.js";
import type { DocSlot } from "../base.js";
import { byteWeightTable, type Codec } from "./codec.js";
import type { PlaidChunk } from "./ivf.js";

/**
 * Decompression: a token is normalise(centroid + residual weights). One JavaScript reference
 * (`decompressInto`) and the WebAssembly SIMD kernel (nbits 2, 4, 8), which computes the same
 * float32 values: fround(fround(centroid + weight) · inverse norm).
 */

/** 1 / |centroid + weights| of each token (the norm accumulated in float64). */
export function inverseNorms(
  codec: Codec,
  table: Float32Array,
  codes: Uint16Array | Uint32Array,
  res: Uint8Array,
  tokens: number,
): Float32Array {
  const dim = codec.dim;
  const bytesPer = (dim * codec.nbits) / 8;
  const perByte = 8 / codec.nbits;
  const cen = codec.centroids;
  const inv = new Float32Array(tokens);
  for (let t = 0; t < tokens; t++) {
    const co = codes[t] * dim;
    let s = 0;
    for (let p = 0; p < bytesPer; p++) {
      const b = res[t * bytesPer + p] * perByte;
      for (let q = 0; q < perByte; q++) {
        const v = cen[co + p * perByte + q] + table[b + q];
        s += v * v;
      }
    }
    inv[t] = 1 / Math.max(Math.sqrt(s), 1e-12);
  }
  return inv;
}

/**
 * The reference: writes tokens start .. start+len, decompressed, into out at `o` ([len, dim]).
 * `table` is byteWeightTable(codec): the perByte weights of each residual byte.
 */
export function decompressInto(
  codec: Codec,
  table: Float32Array,
  codes: Uint16Array | Uint32Array,
  res: Uint8Array,
  inv: Float32Array,
  start: number,
  len: number,
  out: Float32Array,
  o: number,
): void {
  const { dim, centroids } = codec;
  const bytesPer = (dim * codec.nbits) / 8;
  const perByte = 8 / codec.nbits;
  if (perByte === 2) {
    // nbits 4, the default: two dimensions per byte, unrolled.
    for (let t = start; t < start + len; t++) {
      const co = codes[t] * dim;
      const ro = t * bytesPer;
      const w = inv[t];
      for (let p = 0; p < bytesPer; p++) {
        const b = res[ro + p] << 1;
        const j = p << 1;
        out[o + j] = Math.fround(centroids[co + j] + table[b]) * w;
        out[o + j + 1] = Math.fround(centroids[co + j + 1] + table[b + 1]) * w;
      }
      o += dim;
    }
    return;
  }
  for (let t = start; t < start + len; t++) {
    const co = codes[t] * dim;
    const ro = t * bytesPer;
    const w = inv[t];
    for (let p = 0; p < bytesPer; p++) {
      const b = res[ro + p] * perByte;
      const po = p * perByte;
      for (let j = 0; j < perByte; j++)
        out[o + po + j] = Math.fround(centroids[co + po + j] + table[b + j]) * w;
    }
    o += dim;
  }
}

/** Decompresses loose tokens (codes and packed residuals of n tokens) into [n, dim]. */
export function decompressTokens(
  codec: Codec,
  codes: ArrayLike<number>,
  packed: Uint8Array,
): Float32Array {
  const table = byteWeightTable(codec);
  const c = Uint32Array.from(codes);
  const inv = inverseNorms(codec, table, c, packed, c.length);
  const out = new Float32Array(c.length * codec.dim);
  decompressInto(codec, table, c, packed, inv, 0, c.length, out, 0);
  return out;
}

/** What decompression reads of an index. */
export interface DecompressSource {
  codec: Codec;
  table: Float32Array;
  chunks: PlaidChunk[];
  invNorms: Float32Array[];
  slots: DocSlot[];
  /** Use the WebAssembly kernel where it exists for (nbits, dim). */
  wasm: boolean;
}

/** Scratch of batch decompression (per search call). */
export interface DecompressScratch {
  decompressor: WasmDecompressor | null;
  decompressBuffer: Float32Array;
}

/**
 * Documents order[b .. e) decompressed into one block [e − b, L, dim]; a document shorter than
 * L repeats its first token (which leaves every max unchanged). A view, valid until the next
 * call with the same scratch.
 */
export function decompressBatch(
  src: DecompressSource,
  order: ArrayLike<number>,
  b: number,
  e: number,
  L: number,
  ws: DecompressScratch,
): Float32Array {
  const { codec } = src;
  const dim = codec.dim;
  if (src.wasm && WasmDecompressor.supports(codec.nbits, dim))
    return decompressBatchWasm(src, order, b, e, L, ws);
  if (ws.decompressBuffer.length < (e - b) * L * dim)
    ws.decompressBuffer = new Float32Array((e - b) * L * dim);
  const D = ws.decompressBuffer.subarray(0, (e - b) * L * dim);
  for (let j = b; j < e; j++) {
    const slot = src.slots[order[j]];
    const chunk = src.chunks[slot.chunk];
    const o = (j - b) * L * dim;
    decompressInto(
      codec,
      src.table,
      chunk.codes,
      chunk.residuals,
      src.invNorms[slot.chunk],
      slot.start,
      slot.len,
      D,
      o,
    );
    for (let t = slot.len; t < L; t++) D.copyWithin(o + t * dim, o, o + dim);
  }
  return D;
}

function decompressBatchWasm(
  src: DecompressSource,
  order: ArrayLike<number>,
  b: number,
  e: number,
  L: number,
  ws: DecompressScratch,
): Float32Array {
  const { codec } = src;
  const bytes = (codec.dim * codec.nbits) / 8;
  const n = (e - b) * L;
  ws.decompressor ??= new WasmDecompressor();
  const { codes, res, inv } = ws.decompressor.prepare(
    codec.centroids,
    codec.dim,
    codec.bucketWeights,
    n,
  );
  for (let j = b; j < e; j++) {
    const slot = src.slots[order[j]];
    const chunk = src.chunks[slot.chunk];
    const srcInv = src.invNorms[slot.chunk];
    const o = (j - b) * L;
    const s0 = slot.start;
    codes.set(chunk.codes.subarray(s0, s0 + slot.len), o);
    res.set(chunk.residuals.subarray(s0 * bytes, (s0 + slot.len) * bytes), o * bytes);
    inv.set(srcInv.subarray(s0, s0 + slot.len), o);
    if (slot.len < L) {
      codes.fill(chunk.codes[s0], o + slot.len, o + L);
      inv.fill(srcInv[s0], o + slot.len, o + L);
      for (let t = slot.len; t < L; t++)
        res.copyWithin((o + t) * bytes, o * bytes, (o + 1) * bytes);
    }
  }
  return ws.decompressor.run(n);
}

/** One document's tokens decompressed, [len, dim] (a fresh array). */
export function decompressDocument(src: DecompressSource, slot: DocSlot): Float32Array {
  const chunk = src.chunks[slot.chunk];
  const out = new Float32Array(slot.len * src.codec.dim);
  decompressInto(
    src.codec,
    src.table,
    chunk.codes,
    chunk.residuals,
    src.invNorms[slot.chunk],
    slot.start,
    slot.len,
    out,
    0,
  );
  return out;
}
