/**
 * WebAssembly SIMD kernels of PLAID search. (1) Approximate scores: for each candidate document d,
 *
 *   approx(d) = Σ_i max over the distinct centroids c of d of T[c, i]
 *
 * where T is the query's [K, nq] centroid-score table. This is the inner loop of PLAID search
 * (every candidate, ~120 centroids × 32 query tokens each); scalar JavaScript does about
 * 0.6 G max-operations/s here, f32x4 lanes about 4x that. The module is assembled below
 * (about 200 bytes, no toolchain); the per-token maxima are exact and the sum runs in f64 in
 * token order, so the scores are bit-identical to the scalar loop.
 *
 * Memory layout (one module instance per index): [codes u32 | table f32 (rows padded to a
 * multiple of 4 columns with zeros) | docs (start, len) i32 pairs | out f64].
 */

// biome-ignore format: hand-assembled bytecode, one instruction per line group
const BODY = [
  0x03, 0x06, 0x7f, 0x01, 0x7c, 0x01, 0x7b, // locals: 6 × i32 (7..12), f64 (13), v128 (14)
  0x02, 0x40, 0x03, 0x40, // block, loop (documents)
  0x20, 0x07, 0x20, 0x05, 0x4f, 0x0d, 0x01, // d >= nDocs → exit
  // tBeg = codes + (docs[2d] << 2)
  0x20, 0x03, 0x20, 0x04, 0x20, 0x07, 0x41, 0x03, 0x74, 0x6a, 0x28, 0x02, 0x00, 0x41, 0x02, 0x74, 0x6a, 0x21, 0x08,
  // tEnd = tBeg + (docs[2d + 1] << 2)
  0x20, 0x08, 0x20, 0x04, 0x20, 0x07, 0x41, 0x03, 0x74, 0x6a, 0x28, 0x02, 0x04, 0x41, 0x02, 0x74, 0x6a, 0x21, 0x09,
  0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0x21, 0x0d, // s = 0
  0x41, 0x00, 0x21, 0x0a, // j = 0
  0x02, 0x40, 0x03, 0x40, // block, loop (blocks of 4 query tokens)
  0x20, 0x0a, 0x20, 0x02, 0x4f, 0x0d, 0x01, // j >= nBlocks → exit
  0x20, 0x00, 0x20, 0x0a, 0x41, 0x04, 0x74, 0x6a, 0x21, 0x0c, // boff = table + 16j
  // m = −∞ × 4
  0xfd, 0x0c, 0, 0, 0x80, 0xff, 0, 0, 0x80, 0xff, 0, 0, 0x80, 0xff, 0, 0, 0x80, 0xff, 0x21, 0x0e,
  0x20, 0x08, 0x21, 0x0b, // t = tBeg
  0x02, 0x40, 0x03, 0x40, // block, loop (centroids of the document)
  0x20, 0x0b, 0x20, 0x09, 0x4f, 0x0d, 0x01, // t >= tEnd → exit
  // m = pmax(m, load(boff + codes[t] · stride))
  0x20, 0x0e, 0x20, 0x0c, 0x20, 0x0b, 0x28, 0x02, 0x00, 0x20, 0x01, 0x6c, 0x6a, 0xfd, 0x00, 0x04, 0x00,
  0xfd, 0xeb, 0x01, 0x21, 0x0e,
  0x20, 0x0b, 0x41, 0x04, 0x6a, 0x21, 0x0b, // t += 4
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end; end
  // s += lanes 0..3 (f64, in token order)
  0x20, 0x0d, 0x20, 0x0e, 0xfd, 0x1f, 0x00, 0xbb, 0xa0, 0x21, 0x0d,
  0x20, 0x0d, 0x20, 0x0e, 0xfd, 0x1f, 0x01, 0xbb, 0xa0, 0x21, 0x0d,
  0x20, 0x0d, 0x20, 0x0e, 0xfd, 0x1f, 0x02, 0xbb, 0xa0, 0x21, 0x0d,
  0x20, 0x0d, 0x20, 0x0e, 0xfd, 0x1f, 0x03, 0xbb, 0xa0, 0x21, 0x0d,
  0x20, 0x0a, 0x41, 0x01, 0x6a, 0x21, 0x0a, // j++
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end; end
  // out[d] = s
  0x20, 0x06, 0x20, 0x07, 0x41, 0x03, 0x74, 0x6a, 0x20, 0x0d, 0x39, 0x03, 0x00,
  0x20, 0x07, 0x41, 0x01, 0x6a, 0x21, 0x07, // d++
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end; end
  0x0b, // end of function
];

// decompress(codes, res, inv, n, cent, pair, out, dimBytes, resBytes): nbits 4, for each token
// t: out[t] = (centroid[codes[t]] + pair[res bytes]) · inv[t], four dimensions per step.
// biome-ignore format: hand-assembled bytecode
const DECOMPRESS_BODY = [
  0x02, 0x05, 0x7f, 0x02, 0x7b, // locals: 5 × i32 (9..13), 2 × v128 (14, 15)
  0x20, 0x01, 0x21, 0x0b, 0x20, 0x06, 0x21, 0x0c, // rp = res; op = out
  0x02, 0x40, 0x03, 0x40, // block, loop (tokens)
  0x20, 0x09, 0x20, 0x03, 0x4f, 0x0d, 0x01, // t >= n → exit
  // cp = cent + codes[t] · dimBytes
  0x20, 0x04, 0x20, 0x00, 0x20, 0x09, 0x41, 0x02, 0x74, 0x6a, 0x28, 0x02, 0x00, 0x20, 0x07, 0x6c, 0x6a, 0x21, 0x0a,
  // w = splat(inv[t])
  0x20, 0x02, 0x20, 0x09, 0x41, 0x02, 0x74, 0x6a, 0x2a, 0x02, 0x00, 0xfd, 0x13, 0x21, 0x0e,
  0x20, 0x0b, 0x20, 0x08, 0x6a, 0x21, 0x0d, // rEnd = rp + resBytes
  0x02, 0x40, 0x03, 0x40, // block, loop (two bytes = four dimensions)
  0x20, 0x0b, 0x20, 0x0d, 0x4f, 0x0d, 0x01, // rp >= rEnd → exit
  // v = load64_zero(pair + 8 · res[rp])
  0x20, 0x05, 0x20, 0x0b, 0x2d, 0x00, 0x00, 0x41, 0x03, 0x74, 0x6a, 0xfd, 0x5d, 0x03, 0x00, 0x21, 0x0f,
  // v = load64_lane(pair + 8 · res[rp + 1], v, 1)
  0x20, 0x05, 0x20, 0x0b, 0x2d, 0x00, 0x01, 0x41, 0x03, 0x74, 0x6a, 0x20, 0x0f, 0xfd, 0x57, 0x03, 0x00, 0x01, 0x21, 0x0f,
  // store(op, (load(cp) + v) · w)
  0x20, 0x0c, 0x20, 0x0a, 0xfd, 0x00, 0x04, 0x00, 0x20, 0x0f, 0xfd, 0xe4, 0x01, 0x20, 0x0e, 0xfd, 0xe6, 0x01,
  0xfd, 0x0b, 0x04, 0x00,
  0x20, 0x0b, 0x41, 0x02, 0x6a, 0x21, 0x0b, // rp += 2
  0x20, 0x0a, 0x41, 0x10, 0x6a, 0x21, 0x0a, // cp += 16
  0x20, 0x0c, 0x41, 0x10, 0x6a, 0x21, 0x0c, // op += 16
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end; end
  0x20, 0x09, 0x41, 0x01, 0x6a, 0x21, 0x09, // t++
  0x0c, 0x00, 0x0b, 0x0b, // br loop; end; end
  0x0b, // end of function
];

function section(id: number, bytes: number[]): number[] {
  return [id, ...uleb(bytes.length), ...bytes];
}
function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
function name(s: string): number[] {
  return [s.length, ...[...s].map((c) => c.charCodeAt(0))];
}

/** approx: (i32 × 7) → (); decompress: (i32 × 9) → (); one memory. */
function moduleBytes(): Uint8Array {
  const i32s = (n: number) => [0x60, n, ...new Array<number>(n).fill(0x7f), 0x00];
  const exports = [
    ...[0x03, ...name("approx"), 0x00, 0x00],
    ...[...name("decompress"), 0x00, 0x01],
    ...[...name("memory"), 0x02, 0x00],
  ];
  const code = [
    ...[0x02, ...uleb(BODY.length), ...BODY],
    ...[...uleb(DECOMPRESS_BODY.length), ...DECOMPRESS_BODY],
  ];
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  return Uint8Array.from([
    ...header,
    ...section(1, [0x02, ...i32s(7), ...i32s(9)]),
    ...section(3, [0x02, 0x00, 0x01]),
    ...section(5, [0x01, 0x00, 0x01]),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

/** The part of the WebAssembly API used here (not in this project's ES2023 + node typings). */
interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

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
  memory: WasmMemory;
}

let compiled: object | null | undefined;

function compile(): object | null {
  if (compiled === undefined) {
    try {
      if (!wasmApi) throw new Error("no WebAssembly");
      compiled = new wasmApi.Module(moduleBytes());
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
 * One index's approximate scorer: holds a copy of the documents' distinct centroids (synced
 * when they change) and scores candidate lists against one query table at a time.
 */
export class WasmApprox {
  private readonly ex: Exports;
  private codesLength = -1;
  private codesVersion = -1;
  private tableOffset = 0;

  constructor() {
    const mod = compile();
    if (!mod) throw new Error("WebAssembly SIMD is not available");
    this.ex = new wasmApi!.Instance(mod, {}).exports as Exports;
  }

  private ensure(bytes: number): void {
    const have = this.ex.memory.buffer.byteLength;
    if (bytes > have) this.ex.memory.grow(Math.ceil((bytes - have) / 65536));
  }

  /**
   * Scores docs (docnos) with T [K, nq] (row-major): out[j] = approx(docs[j]). `codes` are the
   * distinct centroids of every document, document d at codes[start[d] .. start[d] + len[d]);
   * `version` changes whenever `codes` does.
   */
  score(
    T: Float32Array,
    K: number,
    nq: number,
    codes: Uint32Array,
    codesUsed: number,
    version: number,
    start: Int32Array,
    len: Int32Array,
    docs: ArrayLike<number>,
    nDocs: number,
    out: Float64Array,
  ): void {
    const nq4 = Math.ceil(nq / 4) * 4;
    const codesBytes = align16(codesUsed * 4);
    const tableBytes = K * nq4 * 4;
    const docsOffset = codesBytes + tableBytes;
    const outOffset = align16(docsOffset + nDocs * 8);
    this.ensure(outOffset + nDocs * 8);
    const buf = this.ex.memory.buffer;
    if (version !== this.codesVersion || codesUsed !== this.codesLength) {
      new Uint32Array(buf, 0, codesUsed).set(codes.subarray(0, codesUsed));
      this.codesVersion = version;
      this.codesLength = codesUsed;
    }
    this.tableOffset = codesBytes;
    const table = new Float32Array(buf, codesBytes, K * nq4);
    if (nq4 === nq) table.set(T.subarray(0, K * nq));
    else {
      for (let c = 0; c < K; c++) {
        const o = c * nq4;
        for (let i = 0; i < nq; i++) table[o + i] = T[c * nq + i];
        for (let i = nq; i < nq4; i++) table[o + i] = 0; // + 0 leaves each sum unchanged
      }
    }
    const pairs = new Int32Array(buf, docsOffset, nDocs * 2);
    for (let j = 0; j < nDocs; j++) {
      const d = docs[j];
      pairs[2 * j] = start[d];
      pairs[2 * j + 1] = len[d];
    }
    this.ex.approx(this.tableOffset, nq4 * 4, nq4 / 4, 0, docsOffset, nDocs, outOffset);
    out.set(new Float64Array(buf, outOffset, nDocs));
  }
}

/**
 * Decompression of nbits-4 tokens with WebAssembly SIMD (four dimensions per step):
 * normalise(centroid + residual bucket weights), the stored inverse norms applied. Holds a
 * copy of the centroids (synced when they change); the caller fills the token inputs and
 * scores the output in place.
 */
export class WasmDecompressor {
  private readonly ex: Exports;
  private centroids: Float32Array | null = null;
  private centroidsLength = -1;
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
    this.ex = new wasmApi!.Instance(mod, {}).exports as Exports;
  }

  /**
   * Prepares room for n tokens with these centroids [K, dim] and byte table (256 × 2 weights);
   * returns views to fill: codes (i32), residual bytes (dim / 2 per token), inverse norms.
   */
  prepare(
    centroids: Float32Array,
    dim: number,
    pairTable: Float32Array,
    n: number,
  ): { codes: Int32Array; res: Uint8Array; inv: Float32Array } {
    const centBytes = align16(centroids.length * 4);
    if (
      centroids !== this.centroids ||
      centroids.length !== this.centroidsLength ||
      dim !== this.dim ||
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
      new Float32Array(buf, this.pairAt, 512).set(pairTable.subarray(0, 512));
      this.centroids = centroids;
      this.centroidsLength = centroids.length;
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
