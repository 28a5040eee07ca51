/**
 * Writing and reading many multi-vector embeddings in one file, streamed with bounded memory.
 *
 * Layout (`tslate encode` output):
 *   <out>.safetensors   tensors `embeddings` F32 [totalTokens, dim] (all texts' rows, in order)
 *                       and `offsets` I64 [n + 1]: text i is rows offsets[i] .. offsets[i+1]-1;
 *                       metadata `precision` ("float32" unless quantised)
 *   <out>.npy           the same `embeddings` matrix as a NumPy .npy (v1.0, '<f4', C order),
 *                       with `<out>.offsets.npy` ('<i8', [n + 1]) beside it
 * Quantised embeddings (precision int8/binary: I8 '|i1'; uint8/ubinary: U8 '|u1') have the
 * same layout; binary/ubinary rows hold ceil(dim / 8) packed bytes.
 *   <out>.ids.json      JSON array of the n text ids, in the same order (both formats)
 * Rows are written to a temporary data file as they come; the final file is assembled and
 * renamed into place at the end, so a crash never leaves a half-written output.
 */
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fsyncDir, writeFileAtomic } from "../util/atomic.js";
import { FileFormatError, InvalidArgumentError, ShapeError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import { WeightStore } from "./safetensors.js";

export type EmbeddingFileFormat = "safetensors" | "npy";

/** The `precision` of `ColBERT.encode` (models/quantization.ts), as stored in the file. */
export type EmbeddingPrecision = "float32" | "int8" | "uint8" | "binary" | "ubinary";

/** A row-major matrix of any stored element type. */
export interface StoredMatrix<D extends Float32Array | Int8Array | Uint8Array> {
  data: D;
  rows: number;
  cols: number;
}

/** What readEmbeddingFile returns: the element type follows the precision. */
export type EmbeddingFile =
  | { ids: string[]; precision: "float32"; embeddings: Matrix[] }
  | { ids: string[]; precision: "int8" | "binary"; embeddings: StoredMatrix<Int8Array>[] }
  | { ids: string[]; precision: "uint8" | "ubinary"; embeddings: StoredMatrix<Uint8Array>[] };

const STORAGE: Record<
  EmbeddingPrecision,
  {
    dtype: "F32" | "I8" | "U8";
    descr: string;
    bytes: number;
    array: Float32ArrayConstructor | Int8ArrayConstructor | Uint8ArrayConstructor;
  }
> = {
  float32: { dtype: "F32", descr: "<f4", bytes: 4, array: Float32Array },
  int8: { dtype: "I8", descr: "|i1", bytes: 1, array: Int8Array },
  binary: { dtype: "I8", descr: "|i1", bytes: 1, array: Int8Array },
  uint8: { dtype: "U8", descr: "|u1", bytes: 1, array: Uint8Array },
  ubinary: { dtype: "U8", descr: "|u1", bytes: 1, array: Uint8Array },
};

export function formatFromPath(path: string): EmbeddingFileFormat {
  if (path.endsWith(".safetensors")) return "safetensors";
  if (path.endsWith(".npy")) return "npy";
  throw new InvalidArgumentError(
    `output file ${path} must end in .safetensors or .npy (the two supported embedding formats)`,
  );
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
}

/** NumPy .npy v1.0 header for a C-order array. */
function npyHeader(descr: string, shape: number[]): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  const unpadded = 10 + dict.length + 1;
  const pad = (64 - (unpadded % 64)) % 64;
  const header = `${dict}${" ".repeat(pad)}\n`;
  const out = new Uint8Array(10 + header.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, "latin1"), 10);
  return out;
}

/** Streams matrices to disk; `finish()` assembles and atomically renames the final files. */
export class EmbeddingFileWriter {
  private readonly dataPath: string;
  private readonly fd: number;
  private readonly offsets: number[] = [0];
  private readonly ids: string[] = [];
  private dim = -1;
  private done = false;

  constructor(
    readonly path: string,
    readonly format: EmbeddingFileFormat = formatFromPath(path),
    readonly precision: EmbeddingPrecision = "float32",
  ) {
    if (!(precision in STORAGE)) {
      throw new InvalidArgumentError(
        `precision must be one of ${Object.keys(STORAGE).join(", ")}, got ${JSON.stringify(precision)}`,
      );
    }
    this.dataPath = join(dirname(path), `.${basename(path)}.${process.pid}.data.tmp`);
    this.fd = openSync(this.dataPath, "w");
  }

  add(id: string, m: StoredMatrix<Float32Array | Int8Array | Uint8Array>): void {
    const want = STORAGE[this.precision].array;
    if (!(m.data instanceof want)) {
      throw new InvalidArgumentError(
        `embedding of "${id}" holds ${m.data?.constructor?.name ?? typeof m.data}, a ${this.precision} file takes ${want.name}`,
      );
    }
    if (this.dim === -1) this.dim = m.cols;
    if (m.cols !== this.dim) {
      throw new ShapeError(
        `embedding of "${id}" has dimension ${m.cols}, the file has ${this.dim}`,
      );
    }
    writeAll(this.fd, new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength));
    this.offsets.push(this.offsets[this.offsets.length - 1] + m.rows);
    this.ids.push(id);
  }

  get count(): number {
    return this.ids.length;
  }

  async finish(): Promise<void> {
    if (this.done) return;
    this.done = true;
    fsyncSync(this.fd);
    closeSync(this.fd);
    const total = this.offsets[this.offsets.length - 1];
    const dim = Math.max(this.dim, 0);
    const offsets = BigInt64Array.from(this.offsets, (v) => BigInt(v));
    try {
      const storage = STORAGE[this.precision];
      if (this.format === "safetensors") {
        const embBytes = total * dim * storage.bytes;
        const headerJson = {
          __metadata__: {
            format: "tslate-embeddings",
            count: String(this.ids.length),
            precision: this.precision,
          },
          embeddings: { dtype: storage.dtype, shape: [total, dim], data_offsets: [0, embBytes] },
          offsets: {
            dtype: "I64",
            shape: [offsets.length],
            data_offsets: [embBytes, embBytes + offsets.byteLength],
          },
        };
        let json = JSON.stringify(headerJson);
        json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
        await this.assemble(this.path, [len, Buffer.from(json)], [new Uint8Array(offsets.buffer)]);
      } else {
        await this.assemble(this.path, [npyHeader(storage.descr, [total, dim])], []);
        const offPath = this.path.replace(/\.npy$/, ".offsets.npy");
        writeFileAtomic(offPath, [
          npyHeader("<i8", [offsets.length]),
          new Uint8Array(offsets.buffer),
        ]);
      }
      writeFileAtomic(idsPath(this.path), JSON.stringify(this.ids));
    } finally {
      rmSync(this.dataPath, { force: true });
    }
  }

  /** Writes head + the streamed data + tail into a temporary file, fsyncs and renames it. */
  private async assemble(target: string, head: Uint8Array[], tail: Uint8Array[]): Promise<void> {
    const tmp = `${target}.${process.pid}.tmp`;
    const fd = openSync(tmp, "w");
    for (const h of head) writeAll(fd, h);
    closeSync(fd);
    await pipeline(createReadStream(this.dataPath), createWriteStream(tmp, { flags: "a" }));
    const fd2 = openSync(tmp, "a");
    for (const t of tail) writeAll(fd2, t);
    fsyncSync(fd2);
    closeSync(fd2);
    renameSync(tmp, target);
    fsyncDir(dirname(target));
  }

  /** Drops the temporary data (on error or Ctrl-C). */
  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      closeSync(this.fd);
    } catch {}
    rmSync(this.dataPath, { force: true });
  }
}

export function idsPath(path: string): string {
  return path.replace(/\.(safetensors|npy)$/, ".ids.json");
}

/**
 * Reads a file written by EmbeddingFileWriter (safetensors format) back into matrices, typed
 * by the stored precision.
 */
export function readEmbeddingFile(path: string): EmbeddingFile {
  const store = WeightStore.open(path);
  const emb = store.info("embeddings");
  const precision = (store.metadata.precision ?? "float32") as EmbeddingPrecision;
  if (!(precision in STORAGE) || STORAGE[precision].dtype !== emb.dtype) {
    throw new FileFormatError(
      path,
      `embeddings are ${emb.dtype} but the metadata says precision ${JSON.stringify(precision)}`,
    );
  }
  const bytes = Uint8Array.from(store.readBytes("embeddings")).buffer;
  const data =
    emb.dtype === "F32"
      ? new Float32Array(bytes)
      : emb.dtype === "I8"
        ? new Int8Array(bytes)
        : new Uint8Array(bytes);
  const offBytes = Uint8Array.from(store.readBytes("offsets"));
  const offsets = new BigInt64Array(offBytes.buffer);
  const dim = emb.shape[1];
  let ids: string[];
  try {
    ids = JSON.parse(readFileSync(idsPath(path), "utf8"));
  } catch (err) {
    throw new FileFormatError(idsPath(path), `cannot read the id list (${(err as Error).message})`);
  }
  if (ids.length !== offsets.length - 1) {
    throw new FileFormatError(path, `${ids.length} ids but ${offsets.length - 1} embeddings`);
  }
  const embeddings = ids.map((_, i) => {
    const a = Number(offsets[i]);
    const b = Number(offsets[i + 1]);
    return { data: data.slice(a * dim, b * dim), rows: b - a, cols: dim };
  });
  return { ids, precision, embeddings } as EmbeddingFile;
}
