/**
 * WebAssembly SIMD kernels of PLAID search, in one module assembled below (under 1 KB, no
 * toolchain; Node 20 has WebAssembly SIMD, callers fall back to JS loops without it):
 *
 * - approx: for each candidate document d, approx(d) = Σ_i max over the distinct centroids c
 *   of d of T[c, i], T the query's [K, nq] centroid-score table held as int16 fixed point
 *   (round(score · scale)). The inner loop of PLAID search (every candidate, ~150 centroids ×
 *   32 query tokens); four i16x8 maxima per centroid row. Int16 rather than float32 halves the
 *   table (512 KB at K = 8192: it stays in L2) and the work: 1.6-2x faster per candidate on
 *   this machine. Rounding is monotone, so each maximum is the rounded float maximum and the
 *   integer sum is exact: the scalar loop gives the same integers.
 * - transpose: the query's [nq, K] rows of the query-centroid product into T, cache-blocked,
 *   rounded to int16 (nearest, ties to even) on the way.
 * - decompress: nbits-4 tokens, (centroid + residual bucket weights) · inverse norm, sixteen
 *   dimensions per step (float32 rounding after the add and after the multiply).
 *
 * Scorer memory (WasmApprox, one instance per index): [codes u32 | table i16 (rows padded to
 * a multiple of 32 columns with zeros) | docs (start, len) i32 pairs | out i32 | scratch].
 */

import { uleb128, type WasmMemory, wasmApi, wasmName, wasmSection } from "../util/wasm.js";

// approx(table, stride, nGroups, codes, docs, nDocs, out): for each document, four i16x8
// maxima (32 query tokens) per pass over its centroids, one pass per group of 32 tokens; the
// lanes are summed in int32 (exact) and out[d] is that sum.
// biome-ignore format: hand-assembled bytecode, one instruction per line group
const BODY = [
  0x02, 0x08, 0x7f, 0x05, 0x7b, // locals: 8 × i32 (7..14), 5 × v128 (15..19)
  0x02, 0x40, 0x03, 0x40, // block, loop (documents)
  0x20, 0x07, 0x20, 0x05, 0x4f, 0x0d, 0x01, // d >= nDocs → exit
  // tBeg = codes + (docs[2d] << 2)
  0x20, 0x03, 0x20, 0x04, 0x20, 0x07, 0x41, 0x03, 0x74, 0x6a, 0x28, 0x02, 0x00, 0x41, 0x02, 0x74, 0x6a, 0x21, 0x08,
  // tEnd = tBeg + (docs[2d + 1] << 2)
  0x20, 0x08, 0x20, 0x04, 0x20, 0x07, 0x41, 0x03, 0x74, 0x6a, 0x28, 0x02, 0x04, 0x41, 0x02, 0x74, 0x6a, 0x21, 0x09,
  0x41, 0x00, 0x21, 0x0e, // s = 0
  0x41, 0x00, 0x21, 0x0a, // g = 0
  0x02, 0x40, 0x03, 0x40, // block, loop (groups of 32 query tokens)
  0x20, 0x0a, 0x20, 0x02, 0x4f, 0x0d, 0x01, // g >= nGroups → exit
  0x20, 0x00, 0x20, 0x0a, 0x41, 0x06, 0x74, 0x6a, 0x21, 0x0c, // boff = table + 64g
  // m0 = −32768 × 8, m1..m3 = m0
  0xfd, 0x0c, 0x00, 0x80, 0x00, 0x80, 0x00, 0x80, 0x00, 0x80, 0x00, 0x80, 0x00, 0x80, 0x00, 0x80, 0x00, 0x80, 0x21, 0x0f,
  0x20, 0x0f, 0x21, 0x10,
  0x20, 0x0f, 0x21, 0x11,
  0x20, 0x0f, 0x21, 0x12,
  0x20, 0x08, 0x21, 0x0b, // t = tBeg
  0x02, 0x40, 0x03, 0x40, // block, loop (centroids of the document)
  0x20, 0x0b, 0x20, 0x09, 0x4f, 0x0d, 0x01, // t >= tEnd → exit
  0x20, 0x0c, 0x20, 0x0b, 0x28, 0x02, 0x00, 0x20, 0x01, 0x6c, 0x6a, 0x21, 0x0d, // row = boff + codes[t] · stride
  // m_k = i16x8.max_s(m_k, load(row + 16k)), k = 0..3
  0x20, 0x0f, 0x20, 0x0d, 0xfd, 0x00, 0x04, 0x00, 0xfd, 0x98, 0x01, 0x21, 0x0f,
  0x20, 0x10, 0x20, 0x0d, 0xfd, 0x00, 0x04, 0x10, 0xfd, 0x98, 0x01, 0x21, 0x10,
  0x20, 0x11, 0x20, 0x0d, 0xfd, 0x00, 0x04, 0x20, 0xfd, 0x98, 0x01, 0x21, 0x11,
  0x20, 0x12, 0x20, 0x0d, 0xfd, 0x00, 0x04, 0x30, 0xfd, 0x98, 0x01, 0x21, 0x12,
  0x20, 0x0b, 0x41, 0x04, 0x6a, 0x21, 0x0b, // t += 4
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end; end
  // acc = (pairwise(m0) + pairwise(m1)) + (pairwise(m2) + pairwise(m3)), i16 pairs → i32x4
  0x20, 0x0f, 0xfd, 0x7e, 0x20, 0x10, 0xfd, 0x7e, 0xfd, 0xae, 0x01,
  0x20, 0x11, 0xfd, 0x7e, 0x20, 0x12, 0xfd, 0x7e, 0xfd, 0xae, 0x01,
  0xfd, 0xae, 0x01, 0x21, 0x13,
  // s += the four lanes
  0x20, 0x0e, 0x20, 0x13, 0xfd, 0x1b, 0x00, 0x6a, 0x20, 0x13, 0xfd, 0x1b, 0x01, 0x6a,
  0x20, 0x13, 0xfd, 0x1b, 0x02, 0x6a, 0x20, 0x13, 0xfd, 0x1b, 0x03, 0x6a, 0x21, 0x0e,
  0x20, 0x0a, 0x41, 0x01, 0x6a, 0x21, 0x0a, // g++
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end; end
  // out[d] = s (i32)
  0x20, 0x06, 0x20, 0x07, 0x41, 0x02, 0x74, 0x6a, 0x20, 0x0e, 0x36, 0x02, 0x00,
  0x20, 0x07, 0x41, 0x01, 0x6a, 0x21, 0x07, // d++
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end; end
  0x0b, // end of function
];

// decompress(codes, res, inv, n, cent, planes, out, dimBytes, resBytes): nbits 4, for each
// token t: out[t] = (centroid[codes[t]] + weights[nibbles]) · inv[t], sixteen dimensions (eight
// residual bytes) per step. The 16 bucket weights are looked up with i8x16.swizzle, one byte
// of their float32 bits at a time (planes: byte k of weight n at planes[16k + n]), and the
// four byte vectors are interleaved back into floats: about half the instructions of a
// per-byte table lookup.
// biome-ignore format: hand-assembled bytecode
const DECOMPRESS_BODY = [
  0x02, 0x05, 0x7f, 0x0e, 0x7b, // locals: 5 × i32 (9..13), 14 × v128 (14..27)
  0x20, 0x01, 0x21, 0x0b, 0x20, 0x06, 0x21, 0x0c, // rp = res; op = out
  // W0..W3 = the four byte planes
  0x20, 0x05, 0xfd, 0x00, 0x04, 0x00, 0x21, 0x0f,
  0x20, 0x05, 0xfd, 0x00, 0x04, 0x10, 0x21, 0x10,
  0x20, 0x05, 0xfd, 0x00, 0x04, 0x20, 0x21, 0x11,
  0x20, 0x05, 0xfd, 0x00, 0x04, 0x30, 0x21, 0x12,
  0x02, 0x40, 0x03, 0x40, // block, loop (tokens)
  0x20, 0x09, 0x20, 0x03, 0x4f, 0x0d, 0x01, // t >= n → exit
  // cp = cent + codes[t] · dimBytes
  0x20, 0x04, 0x20, 0x00, 0x20, 0x09, 0x41, 0x02, 0x74, 0x6a, 0x28, 0x02, 0x00, 0x20, 0x07, 0x6c, 0x6a, 0x21, 0x0a,
  // w = splat(inv[t])
  0x20, 0x02, 0x20, 0x09, 0x41, 0x02, 0x74, 0x6a, 0x2a, 0x02, 0x00, 0xfd, 0x13, 0x21, 0x0e,
  0x20, 0x0b, 0x20, 0x08, 0x6a, 0x21, 0x0d, // rEnd = rp + resBytes
  0x02, 0x40, 0x03, 0x40, // block, loop (eight bytes = sixteen dimensions)
  0x20, 0x0b, 0x20, 0x0d, 0x4f, 0x0d, 0x01, // rp >= rEnd → exit
  0x20, 0x0b, 0xfd, 0x5d, 0x03, 0x00, 0x21, 0x13, // v = load64_zero(rp)
  // v = shuffle(v >> 4, v & 15, interleave): the 16 nibbles in dimension order (high first)
  0x20, 0x13, 0x41, 0x04, 0xfd, 0x6d,
  0x20, 0x13, 0xfd, 0x0c, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0xfd, 0x4e,
  0xfd, 0x0d, 0x00, 0x10, 0x01, 0x11, 0x02, 0x12, 0x03, 0x13, 0x04, 0x14, 0x05, 0x15, 0x06, 0x16, 0x07, 0x17, 0x21, 0x13,
  // P_k = swizzle(W_k, v): byte k of each dimension's weight
  0x20, 0x0f, 0x20, 0x13, 0xfd, 0x0e, 0x21, 0x14,
  0x20, 0x10, 0x20, 0x13, 0xfd, 0x0e, 0x21, 0x15,
  0x20, 0x11, 0x20, 0x13, 0xfd, 0x0e, 0x21, 0x16,
  0x20, 0x12, 0x20, 0x13, 0xfd, 0x0e, 0x21, 0x17,
  // A, B = bytes 0-1 of dimensions 0-7, 8-15 (byte pairs); C, D = bytes 2-3
  0x20, 0x14, 0x20, 0x15, 0xfd, 0x0d, 0x00, 0x10, 0x01, 0x11, 0x02, 0x12, 0x03, 0x13, 0x04, 0x14, 0x05, 0x15, 0x06, 0x16, 0x07, 0x17, 0x21, 0x18,
  0x20, 0x14, 0x20, 0x15, 0xfd, 0x0d, 0x08, 0x18, 0x09, 0x19, 0x0a, 0x1a, 0x0b, 0x1b, 0x0c, 0x1c, 0x0d, 0x1d, 0x0e, 0x1e, 0x0f, 0x1f, 0x21, 0x19,
  0x20, 0x16, 0x20, 0x17, 0xfd, 0x0d, 0x00, 0x10, 0x01, 0x11, 0x02, 0x12, 0x03, 0x13, 0x04, 0x14, 0x05, 0x15, 0x06, 0x16, 0x07, 0x17, 0x21, 0x1a,
  0x20, 0x16, 0x20, 0x17, 0xfd, 0x0d, 0x08, 0x18, 0x09, 0x19, 0x0a, 0x1a, 0x0b, 0x1b, 0x0c, 0x1c, 0x0d, 0x1d, 0x0e, 0x1e, 0x0f, 0x1f, 0x21, 0x1b,
  // store(op + 16j, (load(cp + 16j) + F_j) · w), F_j = the weights of dimensions 4j .. 4j + 3
  0x20, 0x0c, 0x20, 0x0a, 0xfd, 0x00, 0x04, 0x00, 0x20, 0x18, 0x20, 0x1a, 0xfd, 0x0d, 0x00, 0x01, 0x10, 0x11, 0x02, 0x03, 0x12, 0x13, 0x04, 0x05, 0x14, 0x15, 0x06, 0x07, 0x16, 0x17,
  0xfd, 0xe4, 0x01, 0x20, 0x0e, 0xfd, 0xe6, 0x01, 0xfd, 0x0b, 0x04, 0x00,
  0x20, 0x0c, 0x20, 0x0a, 0xfd, 0x00, 0x04, 0x10, 0x20, 0x18, 0x20, 0x1a, 0xfd, 0x0d, 0x08, 0x09, 0x18, 0x19, 0x0a, 0x0b, 0x1a, 0x1b, 0x0c, 0x0d, 0x1c, 0x1d, 0x0e, 0x0f, 0x1e, 0x1f,
  0xfd, 0xe4, 0x01, 0x20, 0x0e, 0xfd, 0xe6, 0x01, 0xfd, 0x0b, 0x04, 0x10,
  0x20, 0x0c, 0x20, 0x0a, 0xfd, 0x00, 0x04, 0x20, 0x20, 0x19, 0x20, 0x1b, 0xfd, 0x0d, 0x00, 0x01, 0x10, 0x11, 0x02, 0x03, 0x12, 0x13, 0x04, 0x05, 0x14, 0x15, 0x06, 0x07, 0x16, 0x17,
  0xfd, 0xe4, 0x01, 0x20, 0x0e, 0xfd, 0xe6, 0x01, 0xfd, 0x0b, 0x04, 0x20,
  0x20, 0x0c, 0x20, 0x0a, 0xfd, 0x00, 0x04, 0x30, 0x20, 0x19, 0x20, 0x1b, 0xfd, 0x0d, 0x08, 0x09, 0x18, 0x19, 0x0a, 0x0b, 0x1a, 0x1b, 0x0c, 0x0d, 0x1c, 0x1d, 0x0e, 0x0f, 0x1e, 0x1f,
  0xfd, 0xe4, 0x01, 0x20, 0x0e, 0xfd, 0xe6, 0x01, 0xfd, 0x0b, 0x04, 0x30,
  0x20, 0x0b, 0x41, 0x08, 0x6a, 0x21, 0x0b, // rp += 8
  0x20, 0x0a, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x0a, // cp += 64
  0x20, 0x0c, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x0c, // op += 64
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end; end
  0x20, 0x09, 0x41, 0x01, 0x6a, 0x21, 0x09, // t++
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end; end
  0x0b, // end of function
];

// transpose(src, K, nq, dst, cols, scale): dst[c·cols + i] (i16) = round(src[i·K + c] · scale)
// (f32 product, nearest, ties to even), in blocks of 256 centroids (a block of dst stays in
// cache while every row of src passes over it).
// biome-ignore format: hand-assembled bytecode
const TRANSPOSE_BODY = [
  0x01, 0x07, 0x7f, // locals: 7 × i32: i (6), c (7), s (8), d (9), dstride (10), c0 (11), c1 (12)
  0x20, 0x04, 0x41, 0x01, 0x74, 0x21, 0x0a, // dstride = cols << 1
  0x02, 0x40, 0x03, 0x40, // block, loop (blocks)
  0x20, 0x0b, 0x20, 0x01, 0x4f, 0x0d, 0x01, // c0 >= K → exit
  // c1 = min(c0 + 256, K)
  0x20, 0x0b, 0x41, 0x80, 0x02, 0x6a, 0x20, 0x01, 0x20, 0x0b, 0x41, 0x80, 0x02, 0x6a, 0x20, 0x01, 0x49, 0x1b, 0x21, 0x0c,
  0x41, 0x00, 0x21, 0x06, // i = 0
  0x02, 0x40, 0x03, 0x40, // block, loop (rows of src)
  0x20, 0x06, 0x20, 0x02, 0x4f, 0x0d, 0x01, // i >= nq → exit
  0x20, 0x00, 0x20, 0x06, 0x20, 0x01, 0x6c, 0x20, 0x0b, 0x6a, 0x41, 0x02, 0x74, 0x6a, 0x21, 0x08, // s = src + 4(iK + c0)
  0x20, 0x03, 0x20, 0x0b, 0x20, 0x04, 0x6c, 0x20, 0x06, 0x6a, 0x41, 0x01, 0x74, 0x6a, 0x21, 0x09, // d = dst + 2(c0·cols + i)
  0x20, 0x0b, 0x21, 0x07, // c = c0
  0x02, 0x40, 0x03, 0x40, // block, loop (centroids of the block)
  0x20, 0x07, 0x20, 0x0c, 0x4f, 0x0d, 0x01, // c >= c1 → exit
  // i32.store16(d, i32.trunc_sat_f32_s(f32.nearest(f32.load(s) · scale)))
  0x20, 0x09, 0x20, 0x08, 0x2a, 0x02, 0x00, 0x20, 0x05, 0x94, 0x90, 0xfc, 0x00, 0x3b, 0x01, 0x00,
  0x20, 0x08, 0x41, 0x04, 0x6a, 0x21, 0x08, // s += 4
  0x20, 0x09, 0x20, 0x0a, 0x6a, 0x21, 0x09, // d += dstride
  0x20, 0x07, 0x41, 0x01, 0x6a, 0x21, 0x07, // c++
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end; end
  0x20, 0x06, 0x41, 0x01, 0x6a, 0x21, 0x06, // i++
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end; end
  0x20, 0x0c, 0x21, 0x0b, // c0 = c1
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end; end
  0x0b, // end of function
];

/** approx: (i32 × 7) → (); decompress: (i32 × 9) → (); transpose: (i32 × 5, f32) → (). */
function moduleBytes(): Uint8Array {
  const i32s = (n: number) => [0x60, n, ...new Array<number>(n).fill(0x7f), 0x00];
  const exports = [
    ...[0x04, ...wasmName("approx"), 0x00, 0x00],
    ...[...wasmName("decompress"), 0x00, 0x01],
    ...[...wasmName("transpose"), 0x00, 0x02],
    ...[...wasmName("memory"), 0x02, 0x00],
  ];
  const code = [
    ...[0x03, ...uleb128(BODY.length), ...BODY],
    ...[...uleb128(DECOMPRESS_BODY.length), ...DECOMPRESS_BODY],
    ...[...uleb128(TRANSPOSE_BODY.length), ...TRANSPOSE_BODY],
  ];
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  return Uint8Array.from([
    ...header,
    ...wasmSection(1, [
      0x03,
      ...i32s(7),
      ...i32s(9),
      0x60,
      0x06,
      0x7f,
      0x7f,
      0x7f,
      0x7f,
      0x7f,
      0x7d,
      0x00,
    ]),
    ...wasmSection(3, [0x03, 0x00, 0x01, 0x02]),
    ...wasmSection(5, [0x01, 0x00, 0x01]),
    ...wasmSection(7, exports),
    ...wasmSection(10, code),
  ]);
}

const wasm = wasmApi();

interface Exports {
  approx(
    table: number,
    stride: number,
    nBlocks: number,
    codes: number,
    docs: number,
    nDocs: number,
    out: number,
  ): void;
  decompress(
    codes: number,
    res: number,
    inv: number,
    n: number,
    cent: number,
    pair: number,
    out: number,
    dimBytes: number,
    resBytes: number,
  ): void;
  transpose(src: number, K: number, nq: number, dst: number, cols: number, scale: number): void;
  memory: WasmMemory;
}

let compiled: object | null | undefined;

function compile(): object | null {
  if (compiled === undefined) {
    try {
      if (!wasm) throw new Error("no WebAssembly");
      compiled = new wasm.Module(moduleBytes());
    } catch {
      compiled = null; // no WebAssembly SIMD here: callers use the scalar loop
    }
  }
  return compiled;
}

let enabled = true;

/** Turns the WebAssembly kernel off (scalar loop) or back on: for tests and benchmarks. */
export function setWasmKernels(on: boolean): void {
  enabled = on;
}

/** Whether approximate scores run in WebAssembly SIMD. */
export function hasWasmKernels(): boolean {
  return enabled && compile() !== null;
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;

/**
 * The int16 value of a query-centroid score in the approximate-score table: the float32
 * product v · scale rounded to the nearest integer, ties to even (the kernel's f32.nearest).
 * `scale` must be a float32 value (Math.fround) and |v · scale| at most 32767.
 */
export function fixedPointScore(v: number, scale: number): number {
  const x = Math.fround(Math.fround(v) * scale);
  const r = Math.round(x); // ties up: move the odd ones down to the even neighbour
  return (r - x === 0.5 && r % 2 !== 0 ? r - 1 : r) | 0; // | 0: −0 → 0, as the int16
}

/**
 * One index's approximate scorer: holds a copy of the documents' distinct centroids (synced
 * when they change) and the int16 table of the current query, and scores candidate lists
 * against it.
 */
export class WasmApprox {
  private readonly ex: Exports;
  private codesLength = -1;
  private codesVersion = -1;
  /** The loaded table: its byte offset and shape. */
  private tableAt = 0;
  private tableRows = 0;
  private tableCols = 0;

  constructor() {
    const mod = compile();
    if (!mod) throw new Error("WebAssembly SIMD is not available");
    this.ex = new wasm!.Instance(mod, {}).exports as Exports;
  }

  private ensure(bytes: number): void {
    const have = this.ex.memory.buffer.byteLength;
    if (bytes > have) this.ex.memory.grow(Math.ceil((bytes - have) / 65536));
  }

  /**
   * Loads one query's table: T [K, cols] (int16) = round(scale · transpose of S[off·K ..
   * (off + nq)·K)) ([nq, K] rows), cols = nq rounded up to a multiple of 32 (zero columns
   * leave every sum unchanged), with room behind it for up to maxDocs candidates. `scale` is a
   * float32 value with |S · scale| <= 32767.
   */
  loadTable(
    S: Float32Array,
    off: number,
    K: number,
    nq: number,
    scale: number,
    codesUsed: number,
    maxDocs: number,
  ): void {
    const cols = Math.ceil(nq / 32) * 32;
    const tableAt = align16(codesUsed * 4);
    const tableBytes = K * cols * 2;
    const scratch = align16(align16(align16(tableAt + tableBytes) + maxDocs * 8) + maxDocs * 4);
    this.ensure(scratch + K * nq * 4);
    const buf = this.ex.memory.buffer;
    new Float32Array(buf, scratch, K * nq).set(S.subarray(off * K, (off + nq) * K));
    if (cols !== nq) new Int16Array(buf, tableAt, K * cols).fill(0);
    this.ex.transpose(scratch, K, nq, tableAt, cols, scale);
    this.tableAt = tableAt;
    this.tableRows = K;
    this.tableCols = cols;
  }

  /**
   * Scores docs (docnos) with the loaded table: out[j] = Σ_i max over the centroids c of
   * docs[j] of T[c, i] (int16 values, exact int32 sum; −32768 per token for a document without
   * centroids). `codes` are the distinct centroids of every document, document d at
   * codes[start[d] .. start[d] + len[d]); `version` changes whenever `codes` does, and
   * `codesUsed` must be the count given to loadTable.
   */
  score(
    codes: Uint32Array,
    codesUsed: number,
    version: number,
    start: Int32Array,
    len: Int32Array,
    docs: ArrayLike<number>,
    nDocs: number,
    out: Int32Array,
  ): void {
    if (align16(codesUsed * 4) !== this.tableAt) {
      throw new Error("WasmApprox.score: codesUsed differs from the loaded table's");
    }
    const cols = this.tableCols;
    const docsAt = align16(this.tableAt + this.tableRows * cols * 2);
    const outAt = align16(docsAt + nDocs * 8);
    this.ensure(outAt + nDocs * 4); // growing keeps the table
    const buf = this.ex.memory.buffer;
    if (version !== this.codesVersion || codesUsed !== this.codesLength) {
      new Uint32Array(buf, 0, codesUsed).set(codes.subarray(0, codesUsed));
      this.codesVersion = version;
      this.codesLength = codesUsed;
    }
    const pairs = new Int32Array(buf, docsAt, nDocs * 2);
    for (let j = 0; j < nDocs; j++) {
      const d = docs[j];
      pairs[2 * j] = start[d];
      pairs[2 * j + 1] = len[d];
    }
    this.ex.approx(this.tableAt, cols * 2, cols / 32, 0, docsAt, nDocs, outAt);
    out.set(new Int32Array(buf, outAt, nDocs));
  }
}

/**
 * Decompression of nbits-4 tokens with WebAssembly SIMD (sixteen dimensions per step, so the
 * dimension must be a multiple of 16):
 * normalise(centroid + residual bucket weights), the stored inverse norms applied. Holds a
 * copy of the centroids (synced when they change); the caller fills the token inputs and
 * scores the output in place.
 */
export class WasmDecompressor {
  private readonly ex: Exports;
  private centroids: Float32Array | null = null;
  private centroidsLength = -1;
  private weights: Float32Array | null = null;
  private dim = 0;
  private capacity = 0;
  /** Byte offsets of the regions for the current capacity. */
  private codesAt = 0;
  private resAt = 0;
  private invAt = 0;
  private outAt = 0;
  private pairAt = 0;

  constructor() {
    const mod = compile();
    if (!mod) throw new Error("WebAssembly SIMD is not available");
    this.ex = new wasm!.Instance(mod, {}).exports as Exports;
  }

  /**
   * Prepares room for n tokens with these centroids [K, dim] and the 16 bucket weights of the
   * codec; returns views to fill: codes (i32), residual bytes (dim / 2 per token, the first
   * dimension in the high nibble), inverse norms.
   */
  prepare(
    centroids: Float32Array,
    dim: number,
    weights: Float32Array,
    n: number,
  ): { codes: Int32Array; res: Uint8Array; inv: Float32Array } {
    const centBytes = align16(centroids.length * 4);
    if (
      centroids !== this.centroids ||
      centroids.length !== this.centroidsLength ||
      dim !== this.dim ||
      weights !== this.weights ||
      n > this.capacity
    ) {
      const cap = Math.max(n, this.capacity);
      this.pairAt = centBytes;
      this.codesAt = this.pairAt + 2048;
      this.resAt = align16(this.codesAt + cap * 4);
      this.invAt = align16(this.resAt + (cap * dim) / 2);
      this.outAt = align16(this.invAt + cap * 4);
      const need = this.outAt + cap * dim * 4;
      const have = this.ex.memory.buffer.byteLength;
      if (need > have) this.ex.memory.grow(Math.ceil((need - have) / 65536));
      const buf = this.ex.memory.buffer;
      new Float32Array(buf, 0, centroids.length).set(centroids);
      if (weights.length !== 16) throw new Error("WasmDecompressor: 16 bucket weights (nbits 4)");
      // Byte k of weight n at planes[16k + n].
      const bytes = new Uint8Array(Float32Array.from(weights).buffer);
      const planes = new Uint8Array(buf, this.pairAt, 64);
      for (let k = 0; k < 4; k++)
        for (let b = 0; b < 16; b++) planes[16 * k + b] = bytes[4 * b + k];
      this.centroids = centroids;
      this.centroidsLength = centroids.length;
      this.weights = weights;
      this.dim = dim;
      this.capacity = cap;
    }
    const buf = this.ex.memory.buffer;
    return {
      codes: new Int32Array(buf, this.codesAt, n),
      res: new Uint8Array(buf, this.resAt, (n * dim) / 2),
      inv: new Float32Array(buf, this.invAt, n),
    };
  }

  /** Decompresses the n prepared tokens; the result is a view [n, dim] (valid until next call). */
  run(n: number): Float32Array {
    const dim = this.dim;
    this.ex.decompress(
      this.codesAt,
      this.resAt,
      this.invAt,
      n,
      0,
      this.pairAt,
      this.outAt,
      dim * 4,
      dim / 2,
    );
    return new Float32Array(this.ex.memory.buffer, this.outAt, n * dim);
  }
}
