/**
 * Writing and reading many multi-vector embeddings in one file, streamed with bounded memory.
 *
 * Layout (`tslate encode` output):
 *   <out>.safetensors   tensors `embeddings` F32 [totalTokens, dim] (all texts' rows, in order)
 *                       and `offsets` I64 [n + 1]: text i is rows offsets[i] .. offsets[i+1]-1
 *   <out>.npy           the same `embeddings` matrix as a NumPy .npy (v1.0, '<f4', C order),
 *                       with `<out>.offsets.npy` ('<i8', [n + 1]) beside it
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
  ) {
    this.dataPath = join(dirname(path), `.${basename(path)}.${process.pid}.data.tmp`);
    this.fd = openSync(this.dataPath, "w");
  }

  add(id: string, m: Matrix): void {
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
      if (this.format === "safetensors") {
        const embBytes = total * dim * 4;
        const headerJson = {
          __metadata__: { format: "tslate-embeddings", count: String(this.ids.length) },
          embeddings: { dtype: "F32", shape: [total, dim], data_offsets: [0, embBytes] },
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
        await this.assemble(this.path, [npyHeader("<f4", [total, dim])], []);
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

/** Reads a file written by EmbeddingFileWriter (safetensors format) back into matrices. */
export function readEmbeddingFile(path: string): { ids: string[]; embeddings: Matrix[] } {
  const store = WeightStore.open(path);
  const emb = store.info("embeddings");
  const data = new Float32Array(Uint8Array.from(store.readBytes("embeddings")).buffer);
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
  const embeddings: Matrix[] = ids.map((_, i) => {
    const a = Number(offsets[i]);
    const b = Number(offsets[i + 1]);
    return { data: data.slice(a * dim, b * dim), rows: b - a, cols: dim };
  });
  return { ids, embeddings };
}
