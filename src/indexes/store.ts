import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fsyncDir, writeFileAtomic } from "../util/atomic.js";
import { FileFormatError, IndexError } from "../util/errors.js";

/**
 * The on-disk layer shared by all indexes (see FORMAT.md): immutable, checksummed container
 * files under `files/`, and `manifest.json`, swapped atomically, which names the files of the
 * current state. A file is written (and fsynced) before the manifest that refers to it, so a
 * crash leaves the previous manifest, pointing at complete files.
 */

export const FORMAT_NAME = "tslate-index";
export const FORMAT_VERSION = 1;
const MAGIC = "TSLATEC1";

export type TypedArray = Float32Array | Uint8Array | Uint16Array | Uint32Array | Int32Array;
type DType = "f32" | "u8" | "u16" | "u32" | "i32";
const CTORS = {
  f32: Float32Array,
  u8: Uint8Array,
  u16: Uint16Array,
  u32: Uint32Array,
  i32: Int32Array,
} as const;

function dtypeOf(a: TypedArray): DType {
  if (a instanceof Float32Array) return "f32";
  if (a instanceof Uint8Array) return "u8";
  if (a instanceof Uint16Array) return "u16";
  if (a instanceof Uint32Array) return "u32";
  return "i32";
}

/** A file referenced by the manifest, with its size and SHA-256. */
export interface FileRef {
  file: string;
  bytes: number;
  sha256: string;
}

/** A chunk of documents: numbers firstDocno .. firstDocno + docs − 1. */
export interface ChunkRef extends FileRef {
  firstDocno: number;
  docs: number;
  tokens: number;
}

export interface Manifest {
  format: typeof FORMAT_NAME;
  version: number;
  type: string;
  /** Embedding dimension, 0 until the first add. */
  dim: number;
  generation: number;
  nextDocno: number;
  config: Record<string, unknown>;
  chunks: ChunkRef[];
  /** Internal numbers of deleted documents (u32 section "docnos"). */
  deleted: FileRef | null;
  /** Index-specific files (PLAID codec, HNSW graph). */
  files: Record<string, FileRef>;
  /** Index-specific small state (counters, thresholds). */
  state: Record<string, unknown>;
}

export interface Container {
  header: Record<string, unknown>;
  sections: Record<string, TypedArray>;
}

/** Serialises a container: magic, u32 header length, JSON header, 8-aligned sections. */
export function encodeContainer(
  header: Record<string, unknown>,
  sections: Record<string, TypedArray>,
): Uint8Array[] {
  const layout: { name: string; dtype: DType; offset: number; length: number }[] = [];
  let offset = 0;
  for (const [name, arr] of Object.entries(sections)) {
    layout.push({ name, dtype: dtypeOf(arr), offset, length: arr.length });
    offset += Math.ceil(arr.byteLength / 8) * 8;
  }
  const json = Buffer.from(JSON.stringify({ ...header, sections: layout }), "utf8");
  const headLen = Math.ceil((12 + json.length) / 8) * 8;
  const head = Buffer.alloc(headLen, 0x20);
  head.write(MAGIC, 0, "latin1");
  head.writeUInt32LE(json.length, 8);
  json.copy(head, 12);
  const parts: Uint8Array[] = [head];
  for (const arr of Object.values(sections)) {
    parts.push(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
    const pad = Math.ceil(arr.byteLength / 8) * 8 - arr.byteLength;
    if (pad) parts.push(new Uint8Array(pad));
  }
  return parts;
}

export function decodeContainer(path: string, bytes: Uint8Array): Container {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 12 || buf.toString("latin1", 0, 8) !== MAGIC) {
    throw new FileFormatError(
      path,
      `not a tslate index file (bad magic); the index is damaged, rebuild it`,
    );
  }
  const jsonLen = buf.readUInt32LE(8);
  if (12 + jsonLen > buf.length) throw new FileFormatError(path, "truncated header");
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.toString("utf8", 12, 12 + jsonLen)) as Record<string, unknown>;
  } catch (err) {
    throw new FileFormatError(path, "header is not JSON", { cause: err });
  }
  const base = Math.ceil((12 + jsonLen) / 8) * 8;
  const sections: Record<string, TypedArray> = {};
  const layout = header.sections as {
    name: string;
    dtype: DType;
    offset: number;
    length: number;
  }[];
  if (!Array.isArray(layout)) throw new FileFormatError(path, "header has no section table");
  // Typed views need aligned offsets: view the bytes in place when they start 8-aligned (shared
  // files, whole-file buffers), else copy them into an aligned buffer once.
  let body: ArrayBufferLike;
  let bodyOffset: number;
  if (bytes.byteOffset % 8 === 0) {
    body = bytes.buffer;
    bodyOffset = bytes.byteOffset + base;
  } else {
    body = new ArrayBuffer(buf.length - base);
    new Uint8Array(body).set(buf.subarray(base));
    bodyOffset = 0;
  }
  const bodyLength = buf.length - base;
  for (const s of layout) {
    const C = CTORS[s.dtype];
    if (!C || !Number.isInteger(s.offset) || !Number.isInteger(s.length)) {
      throw new FileFormatError(path, `bad section ${JSON.stringify(s)}`);
    }
    if (s.offset + s.length * C.BYTES_PER_ELEMENT > bodyLength) {
      throw new FileFormatError(
        path,
        `section ${s.name} runs past the end of the file (truncated)`,
      );
    }
    // (a SharedArrayBuffer is as valid a backing store here as an ArrayBuffer)
    sections[s.name] = new C(body as ArrayBuffer, bodyOffset + s.offset, s.length);
  }
  delete header.sections;
  return { header, sections };
}

function sha256(parts: Uint8Array[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

/** The directory of an index: manifest, files/, metadata.sqlite. */
export class IndexDirectory {
  readonly dir: string;
  /**
   * Files already read and checked by someone else (ParallelSearcher's shared memory), by
   * name: readFile takes them from here instead of the disk.
   */
  sharedFiles: ReadonlyMap<string, Uint8Array> | null = null;
  constructor(dir: string) {
    this.dir = dir;
  }
  get manifestPath(): string {
    return join(this.dir, "manifest.json");
  }
  get metadataPath(): string {
    return join(this.dir, "metadata.sqlite");
  }
  path(file: string): string {
    return join(this.dir, "files", file);
  }

  /** Creates the directory; refuses to overwrite an existing index. */
  init(): void {
    if (existsSync(this.manifestPath)) {
      throw new IndexError(
        `${this.dir} already holds an index; open it with open(), or pick an empty directory`,
      );
    }
    mkdirSync(join(this.dir, "files"), { recursive: true });
    // A previous crashed create may have left a metadata database without a manifest.
    for (const f of ["metadata.sqlite", "metadata.sqlite-wal", "metadata.sqlite-shm"]) {
      rmSync(join(this.dir, f), { force: true });
    }
  }

  /** Writes an immutable container file under a fresh name; returns its reference. */
  writeFile(
    prefix: string,
    header: Record<string, unknown>,
    sections: Record<string, TypedArray>,
  ): FileRef {
    const parts = encodeContainer(header, sections);
    const file = `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}.bin`;
    writeFileAtomic(this.path(file), parts);
    return { file, bytes: parts.reduce((s, p) => s + p.byteLength, 0), sha256: sha256(parts) };
  }

  /** Reads a container, checking size and checksum against the manifest. */
  readFile(ref: FileRef, verify = true): Container {
    const shared = this.sharedFiles?.get(ref.file);
    if (shared && shared.byteLength === ref.bytes)
      return decodeContainer(this.path(ref.file), shared);
    return decodeContainer(this.path(ref.file), this.readBytes(ref, verify));
  }

  /**
   * A file's bytes, checked against the manifest; in a SharedArrayBuffer with `shared` (for
   * worker threads to read without a copy each).
   */
  readBytes(ref: FileRef, verify = true, shared = false): Uint8Array {
    const p = this.path(ref.file);
    let bytes: Buffer;
    try {
      bytes = readFileSync(p);
    } catch (err) {
      throw new FileFormatError(p, "is missing; the index is damaged (restore it or rebuild)", {
        cause: err,
        missing: true,
      });
    }
    if (bytes.length !== ref.bytes) {
      throw new FileFormatError(
        p,
        `has ${bytes.length} bytes, the manifest says ${ref.bytes} (truncated or replaced)`,
      );
    }
    if (verify && sha256([bytes]) !== ref.sha256) {
      throw new FileFormatError(p, "checksum mismatch (the file is corrupted); rebuild the index");
    }
    if (!shared) return bytes;
    const out = new Uint8Array(new SharedArrayBuffer(bytes.length));
    out.set(bytes);
    return out;
  }

  /** Every container file a manifest references. */
  static filesOf(m: Manifest): FileRef[] {
    return [...m.chunks, ...Object.values(m.files), ...(m.deleted ? [m.deleted] : [])];
  }

  readManifest(): Manifest {
    const p = this.manifestPath;
    if (!existsSync(p)) {
      throw new FileFormatError(
        p,
        "not found: this directory holds no tslate index (create one first)",
        {
          missing: true,
        },
      );
    }
    let m: Manifest;
    try {
      m = JSON.parse(readFileSync(p, "utf8")) as Manifest;
    } catch (err) {
      throw new FileFormatError(p, "is not valid JSON (corrupted)", { cause: err });
    }
    if (m.format !== FORMAT_NAME)
      throw new FileFormatError(
        p,
        `format is ${JSON.stringify(m.format)}, expected "${FORMAT_NAME}"`,
      );
    if (typeof m.version !== "number" || m.version > FORMAT_VERSION) {
      throw new FileFormatError(
        p,
        `format version ${m.version} is newer than this tslate reads (${FORMAT_VERSION}); upgrade tslate`,
      );
    }
    if (!Array.isArray(m.chunks) || typeof m.nextDocno !== "number" || typeof m.dim !== "number") {
      throw new FileFormatError(p, "is missing required fields (chunks, nextDocno, dim)");
    }
    m.files ??= {};
    m.state ??= {};
    m.config ??= {};
    m.deleted ??= null;
    return m;
  }

  /** The commit point of every write. */
  writeManifest(m: Manifest): void {
    writeFileAtomic(this.manifestPath, `${JSON.stringify(m, null, 1)}\n`);
  }

  /** Deletes files (and temp files) that the manifest does not reference. */
  collectGarbage(m: Manifest): void {
    const keep = new Set<string>(IndexDirectory.filesOf(m).map((f) => f.file));
    const dir = join(this.dir, "files");
    let removed = false;
    for (const f of readdirSync(dir)) {
      if (!keep.has(f)) {
        rmSync(join(dir, f), { force: true });
        removed = true;
      }
    }
    if (removed) fsyncDir(dir);
  }
}

/**
 * Runs `read` (which reads the committed state of the index at `dir`) and, when it fails
 * because a writer committed meanwhile and removed files of the state it started from (the
 * manifest generation has moved on), runs it again; at most 5 attempts.
 */
export async function readCommitted<T>(dir: string, read: () => T | Promise<T>): Promise<T> {
  const generation = (): number | null => {
    try {
      return new IndexDirectory(dir).readManifest().generation;
    } catch {
      return null;
    }
  };
  for (let attempt = 0; ; attempt++) {
    const before = generation();
    try {
      return await read();
    } catch (err) {
      if (attempt >= 4 || before === null || generation() === before) throw err;
    }
  }
}

/**
 * A container's section `name`, checked to be of the given array type: chunk readers use this
 * instead of casting, so a section of another width is an error, not a misread.
 */
export function sectionOf<T extends TypedArray>(
  c: Container,
  name: string,
  type: abstract new (...args: never[]) => T,
  path: string,
): T {
  const s = c.sections[name];
  if (!(s instanceof type))
    throw new FileFormatError(
      path,
      `section "${name}" is ${s ? s.constructor.name : "missing"}, expected ${type.name}; the index is damaged, rebuild it`,
    );
  return s;
}
