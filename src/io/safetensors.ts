/**
 * safetensors reading and writing.
 *
 * File layout: 8-byte little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}`, then the
 * data buffer; offsets are relative to the start of the data buffer (byte 8 + N).
 *
 * `WeightStore` only parses headers: it hands out where each tensor lives (file, absolute byte
 * offset, length) so that the ONNX exporter can point external data straight into the file
 * without copying, and reads tensors on demand (`readFloat32`, F16/BF16 converted).
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { writeFileAtomic } from "../util/atomic.js";
import { FileFormatError, InvalidArgumentError, ShapeError } from "../util/errors.js";

/** dtypes tslate understands; others (F64, BOOL, F8...) are rejected with an error. I8/U8
 * hold quantised embeddings (`tslate encode --precision`). */
export type SafetensorsDType = "F32" | "F16" | "BF16" | "I64" | "I32" | "I8" | "U8";

export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = Object.freeze({
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I8: 1,
  U8: 1,
});

/** Where one tensor lives on disk. `byteOffset` is absolute within `file`. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly file: string;
  readonly byteOffset: number;
  readonly byteLength: number;
  /**
   * In-memory stores: the bytes of the whole `file` (`byteOffset` is into it). File-backed
   * stores leave it undefined and read `file` from disk.
   */
  readonly data?: Uint8Array;
}

export interface SafetensorsHeader {
  /** Size of the 8-byte length prefix plus the JSON header: data starts here. */
  readonly dataStart: number;
  readonly tensors: ReadonlyMap<string, Omit<TensorInfo, "file">>;
  readonly metadata: Readonly<Record<string, string>>;
}

// Headers above 100 MB are refused by the reference implementation too.
const MAX_HEADER_BYTES = 100_000_000;

/**
 * Parses a safetensors header. `prefix` holds at least the first 8 + N bytes of the file;
 * `fileSize` is the total size, used to check that every tensor lies inside the file.
 * Pure (no fs): usable on bytes from a fetch in the browser.
 */
export function parseSafetensorsHeader(
  prefix: Uint8Array,
  fileSize: number,
  path = "<bytes>",
): SafetensorsHeader {
  if (prefix.byteLength < 8 || fileSize < 8) {
    throw new FileFormatError(
      path,
      `truncated safetensors file: ${fileSize} bytes, need at least 8 for the header length. Re-download or re-save the file.`,
    );
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > MAX_HEADER_BYTES || 8 + n > fileSize) {
    throw new FileFormatError(
      path,
      `safetensors header length ${n} does not fit in a ${fileSize}-byte file (truncated or not a safetensors file). Re-download or re-save the file.`,
    );
  }
  if (prefix.byteLength < 8 + n) {
    throw new InvalidArgumentError(
      `parseSafetensorsHeader: got ${prefix.byteLength} bytes, need the first ${8 + n} (the header)`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(prefix.subarray(8, 8 + n)));
  } catch (err) {
    throw new FileFormatError(
      path,
      `safetensors header is not valid JSON (${(err as Error).message}). The file is corrupt; re-download or re-save it.`,
      { cause: err },
    );
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new FileFormatError(path, "safetensors header must be a JSON object");
  }
  const dataStart = 8 + n;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, Omit<TensorInfo, "file">>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (raw !== null && typeof raw === "object") metadata = raw as Record<string, string>;
      continue;
    }
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (entry === null || typeof entry !== "object") {
      throw new FileFormatError(path, `tensor "${name}": header entry is not an object`);
    }
    const dtype = entry.dtype;
    if (typeof dtype !== "string" || !(dtype in SAFETENSORS_DTYPE_BYTES)) {
      throw new FileFormatError(
        path,
        `tensor "${name}" has dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(", ")}. Convert the checkpoint to float32/float16/bfloat16.`,
      );
    }
    const shape = entry.shape;
    if (
      !Array.isArray(shape) ||
      !shape.every((d) => typeof d === "number" && Number.isInteger(d) && d >= 0)
    ) {
      throw new FileFormatError(
        path,
        `tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`,
      );
    }
    const offs = entry.data_offsets;
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => typeof o === "number" && Number.isInteger(o) && o >= 0) ||
      offs[1] < offs[0]
    ) {
      throw new FileFormatError(
        path,
        `tensor "${name}" has invalid data_offsets ${JSON.stringify(offs)}`,
      );
    }
    const [begin, end] = offs as [number, number];
    const elems = shape.reduce((a: number, b: number) => a * b, 1);
    const expected = elems * SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDType];
    if (end - begin !== expected) {
      throw new FileFormatError(
        path,
        `tensor "${name}" (${dtype} [${shape.join(", ")}]) needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    if (end > dataSize) {
      throw new FileFormatError(
        path,
        `tensor "${name}" ends at data byte ${end} but the file only has ${dataSize} data bytes (truncated download?). Re-download the file.`,
      );
    }
    tensors.set(name, {
      name,
      dtype: dtype as SafetensorsDType,
      shape: shape as number[],
      byteOffset: dataStart + begin,
      byteLength: end - begin,
    });
  }
  return { dataStart, tensors, metadata };
}

/** Reads and parses the header of one safetensors file (reads only the header bytes). */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new FileFormatError(path, "cannot open safetensors file", { cause: err, missing: true });
  }
  try {
    const size = fstatSync(fd).size;
    const lenBuf = Buffer.alloc(8);
    const got = size >= 8 ? readSync(fd, lenBuf, 0, 8, 0) : 0;
    if (got < 8) return parseSafetensorsHeader(lenBuf.subarray(0, got), size, path);
    const n = Number(lenBuf.readBigUInt64LE(0));
    if (n > MAX_HEADER_BYTES || 8 + n > size) return parseSafetensorsHeader(lenBuf, size, path);
    const buf = Buffer.alloc(8 + n);
    readExactly(fd, buf, 0, path);
    return parseSafetensorsHeader(buf, size, path);
  } finally {
    closeSync(fd);
  }
}

function readExactly(fd: number, buf: Uint8Array, position: number, path: string): void {
  let off = 0;
  while (off < buf.byteLength) {
    const got = readSync(fd, buf, off, buf.byteLength - off, position + off);
    if (got === 0)
      throw new FileFormatError(path, `unexpected end of file at byte ${position + off}`);
    off += got;
  }
}

/** float16 bits → float32 value. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Converts raw little-endian F32/F16/BF16 bytes to a Float32Array (copying). */
export function bytesToFloat32(bytes: Uint8Array, dtype: SafetensorsDType): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "F32": {
      const out = new Float32Array(bytes.byteLength / 4);
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    case "F16": {
      const out = new Float32Array(bytes.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      return out;
    }
    case "BF16": {
      // bfloat16 is the top half of a float32.
      const out = new Float32Array(bytes.byteLength / 2);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) u32[i] = view.getUint16(2 * i, true) << 16;
      return out;
    }
    default:
      throw new InvalidArgumentError(`cannot convert ${dtype} to float32: not a float dtype`);
  }
}

/**
 * The tensors of a checkpoint: one `model.safetensors`, or several shards listed by
 * `model.safetensors.index.json` (`weight_map`: tensor name → shard file).
 *
 * An optional `prefix` is prepended to every name looked up, so that a store over a Stanford
 * ColBERT checkpoint (`bert.embeddings...`) answers to bare backbone names
 * (`embeddings...`). `names()` lists the names without the prefix.
 */
export class WeightStore {
  private constructor(
    private readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly prefix: string,
    /** A description of where the tensors come from, for error messages. */
    readonly source: string,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  /**
   * Opens a checkpoint. `path` is a `.safetensors` file, a `.safetensors.index.json` file, or a
   * directory holding `model.safetensors` or `model.safetensors.index.json`.
   */
  static open(path: string, options: { prefix?: string } = {}): WeightStore {
    const abs = resolve(path);
    if (!existsSync(abs)) {
      throw new FileFormatError(
        abs,
        "no such file or directory (expected a safetensors checkpoint)",
        {
          missing: true,
        },
      );
    }
    let file = abs;
    if (statSync(abs).isDirectory()) {
      const single = join(abs, "model.safetensors");
      const index = join(abs, "model.safetensors.index.json");
      if (existsSync(single)) file = single;
      else if (existsSync(index)) file = index;
      else {
        throw new FileFormatError(
          abs,
          "directory has neither model.safetensors nor model.safetensors.index.json",
          { missing: true },
        );
      }
    }
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    if (file.endsWith(".json")) {
      let index: { weight_map?: unknown; metadata?: unknown };
      try {
        index = JSON.parse(readFileSync(file, "utf8"));
      } catch (err) {
        throw new FileFormatError(file, `not valid JSON (${(err as Error).message})`, {
          cause: err,
        });
      }
      const map = index?.weight_map;
      if (map === null || typeof map !== "object" || Array.isArray(map)) {
        throw new FileFormatError(file, 'missing "weight_map" object (tensor name → shard file)');
      }
      const shards = new Map<string, SafetensorsHeader>();
      for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
        if (typeof shard !== "string" || shard.includes("..") || shard.startsWith("/")) {
          throw new FileFormatError(
            file,
            `weight_map["${name}"] = ${JSON.stringify(shard)} is not a shard file name`,
          );
        }
        const shardPath = join(dirname(file), shard);
        let header = shards.get(shardPath);
        if (!header) {
          header = readSafetensorsHeader(shardPath);
          shards.set(shardPath, header);
        }
        const info = header.tensors.get(name);
        if (!info) {
          throw new FileFormatError(
            shardPath,
            `weight_map in ${file} says tensor "${name}" is in this shard, but it is not`,
          );
        }
        tensors.set(name, { ...info, file: shardPath });
      }
    } else {
      const header = readSafetensorsHeader(file);
      metadata = { ...header.metadata };
      for (const [name, info] of header.tensors) tensors.set(name, { ...info, file });
    }
    return new WeightStore(tensors, options.prefix ?? "", file, metadata);
  }

  /**
   * A store over checkpoint bytes already in memory (no file-system access): `files` maps
   * file names to their bytes; `entry` is `model.safetensors` or
   * `model.safetensors.index.json` (whose shards are looked up in `files` too, relative to
   * the index's folder). Tensors stay views into those bytes (no copy).
   */
  static fromBytes(
    files: Readonly<Record<string, Uint8Array>>,
    entry: string,
    options: { prefix?: string } = {},
  ): WeightStore {
    const bytesOf = (name: string): Uint8Array => {
      const b = files[name];
      if (!(b instanceof Uint8Array)) {
        throw new FileFormatError(
          name,
          "missing from the files given (pass its bytes under this name)",
          { missing: true },
        );
      }
      return b;
    };
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    if (entry.endsWith(".json")) {
      let index: { weight_map?: unknown };
      try {
        index = JSON.parse(new TextDecoder().decode(bytesOf(entry)));
      } catch (err) {
        if (err instanceof FileFormatError) throw err;
        throw new FileFormatError(entry, `not valid JSON (${(err as Error).message})`, {
          cause: err,
        });
      }
      const map = index?.weight_map;
      if (map === null || typeof map !== "object" || Array.isArray(map)) {
        throw new FileFormatError(entry, 'missing "weight_map" object (tensor name → shard file)');
      }
      const folder = entry.includes("/") ? entry.slice(0, entry.lastIndexOf("/") + 1) : "";
      const shards = new Map<string, SafetensorsHeader>();
      for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
        if (typeof shard !== "string" || shard.includes("..") || shard.startsWith("/")) {
          throw new FileFormatError(
            entry,
            `weight_map["${name}"] = ${JSON.stringify(shard)} is not a shard file name`,
          );
        }
        const shardName = folder + shard;
        const data = bytesOf(shardName);
        let header = shards.get(shardName);
        if (!header) {
          header = parseSafetensorsHeader(data, data.byteLength, shardName);
          shards.set(shardName, header);
        }
        const info = header.tensors.get(name);
        if (!info) {
          throw new FileFormatError(
            shardName,
            `weight_map in ${entry} says tensor "${name}" is in this shard, but it is not`,
          );
        }
        tensors.set(name, { ...info, file: shardName, data });
      }
    } else {
      const data = bytesOf(entry);
      const header = parseSafetensorsHeader(data, data.byteLength, entry);
      metadata = { ...header.metadata };
      for (const [name, info] of header.tensors) tensors.set(name, { ...info, file: entry, data });
    }
    return new WeightStore(tensors, options.prefix ?? "", entry, metadata);
  }

  /** An in-memory store holding `tensors` (e.g. replacements for `withOverrides`). */
  static fromTensors(
    tensors: Readonly<Record<string, TensorToWrite>>,
    source = "<tensors>",
  ): WeightStore {
    const parts = encodeSafetensors(tensors, {});
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.byteLength;
    }
    return WeightStore.fromBytes({ [source]: bytes }, source);
  }

  /** A store over tensors described elsewhere (another container format, e.g. a .bin). */
  static fromTensorInfos(
    tensors: Iterable<TensorInfo>,
    source: string,
    metadata: Readonly<Record<string, string>> = {},
  ): WeightStore {
    const map = new Map<string, TensorInfo>();
    for (const t of tensors) map.set(t.name, t);
    return new WeightStore(map, "", source, metadata);
  }

  /** True when every tensor is held in memory (no file is read). */
  get inMemory(): boolean {
    for (const info of this.tensors.values()) if (!info.data) return false;
    return true;
  }

  /**
   * This store with some tensors replaced by those of `overrides` (full names, prefix
   * included): e.g. resized embeddings or trained weights, while every other tensor still
   * points into the original files.
   */
  withOverrides(overrides: WeightStore): WeightStore {
    const merged = new Map(this.tensors);
    for (const [name, info] of overrides.tensors) merged.set(name, info);
    return new WeightStore(merged, this.prefix, this.source, this.metadata);
  }

  /** The same tensors, looked up under another prefix. */
  withPrefix(prefix: string): WeightStore {
    return new WeightStore(this.tensors, prefix, this.source, this.metadata);
  }

  /** Tensor names (without the prefix) that start with the prefix. */
  names(): string[] {
    const out: string[] = [];
    for (const name of this.tensors.keys()) {
      if (name.startsWith(this.prefix)) out.push(name.slice(this.prefix.length));
    }
    return out;
  }

  /** Every name in the checkpoint, ignoring the prefix. */
  allNames(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(this.prefix + name);
  }

  /** Location and type of a tensor; throws FileFormatError naming the checkpoint if absent. */
  info(name: string): TensorInfo {
    const info = this.tensors.get(this.prefix + name);
    if (!info) {
      const near = [...this.tensors.keys()].filter((n) => n.endsWith(name)).slice(0, 3);
      throw new FileFormatError(
        this.source,
        `missing tensor "${this.prefix + name}"` +
          (near.length > 0
            ? `; similar names present: ${near.join(", ")} (set the weight prefix?)`
            : "; is this checkpoint for another architecture?"),
      );
    }
    return info;
  }

  /** Like `info`, and checks the shape; throws ShapeError naming the file and tensor. */
  expect(name: string, shape: readonly number[]): TensorInfo {
    const info = this.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new ShapeError(
        `${info.file}: tensor "${info.name}" has shape [${info.shape.join(", ")}], but config.json implies [${shape.join(", ")}]. The config and the weights do not belong together.`,
      );
    }
    if (info.dtype !== "F32" && info.dtype !== "F16" && info.dtype !== "BF16") {
      throw new FileFormatError(
        info.file,
        `tensor "${info.name}" is ${info.dtype}; a float tensor (F32, F16, BF16) is required`,
      );
    }
    return info;
  }

  /** The raw bytes of a tensor. */
  readBytes(name: string): Uint8Array {
    const info = this.info(name);
    if (info.data) return info.data.subarray(info.byteOffset, info.byteOffset + info.byteLength);
    const buf = new Uint8Array(info.byteLength);
    const fd = openSync(info.file, "r");
    try {
      readExactly(fd, buf, info.byteOffset, info.file);
    } finally {
      closeSync(fd);
    }
    return buf;
  }

  /** A float tensor as float32 (F16/BF16 converted). */
  readFloat32(name: string): Float32Array {
    const info = this.info(name);
    if (info.dtype !== "F32" && info.dtype !== "F16" && info.dtype !== "BF16") {
      throw new FileFormatError(
        info.file,
        `tensor "${info.name}" is ${info.dtype}, not a float tensor`,
      );
    }
    return bytesToFloat32(this.readBytes(name), info.dtype);
  }
}

/** A tensor to write: float32 data or int64/int32 ids, row-major. */
export interface TensorToWrite {
  readonly data: Float32Array | BigInt64Array | Int32Array;
  readonly shape: readonly number[];
}

/** Serialises tensors to safetensors bytes (header entries sorted by name, as the reference). */
export function encodeSafetensors(
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array[] {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const name of names) {
    const { data, shape } = tensors[name];
    const elems = shape.reduce((a, b) => a * b, 1);
    if (elems !== data.length) {
      throw new ShapeError(
        `writeSafetensors: tensor "${name}" has ${data.length} values but shape [${shape.join(", ")}] needs ${elems}`,
      );
    }
    const dtype =
      data instanceof Float32Array ? "F32" : data instanceof BigInt64Array ? "I64" : "I32";
    header[name] = { dtype, shape: [...shape], data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
    parts.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  const json = JSON.stringify(header);
  // Pad the header with spaces so the data buffer starts 8-byte aligned (as the reference does).
  let jsonBytes = new TextEncoder().encode(json);
  jsonBytes = new TextEncoder().encode(
    json + " ".repeat((8 - ((8 + jsonBytes.byteLength) % 8)) % 8),
  );
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(jsonBytes.byteLength), true);
  return [len, jsonBytes, ...parts];
}

/** Writes a safetensors file atomically (temporary file, fsync, rename). */
export function writeSafetensors(
  path: string,
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata: Readonly<Record<string, string>> = { format: "pt" },
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
