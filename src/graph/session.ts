/**
 * Runs a Graph with onnxruntime. The model is handed to ORT as bytes, with the weights'
 * directory as the external-data folder, so float32 weights are read by ORT straight from
 * the safetensors files (location = file name, offset/length into it): no temporary files,
 * no copy through JS. (ORT refuses external-data paths that are absolute or that resolve,
 * symlinks included, outside the model's folder; this is why the folder is the weights'.)
 */
import { closeSync, openSync, readSync, realpathSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { bytesToFloat32 } from "../io/safetensors.js";
import {
  FileFormatError,
  InvalidArgumentError,
  ShapeError,
  UnsupportedError,
} from "../util/errors.js";
import { shapeToString } from "./dims.js";
import type { DType, ExternalTensor, Graph, Value } from "./ir.js";
import { type ExternalPlacement, serializeGraph } from "./onnx.js";
import {
  createInferenceSession,
  type InferenceSessionLike,
  makeTensor,
  type RuntimeOptions,
  type TensorLike,
  type TensorType,
} from "./runtime.js";

export type FeedData = Float32Array | BigInt64Array | Int32Array | Uint8Array;

export interface Feed {
  readonly data: FeedData;
  readonly dims: readonly number[];
}

export interface Fetched {
  readonly data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
  readonly dims: number[];
}

export interface GraphSessionOptions extends RuntimeOptions {
  /** External tensors smaller than this are embedded in the model (default 1024 bytes). */
  readonly embedBelowBytes?: number;
  /** Most bytes of weights embedded in the model (default 1.9 GiB, protobuf's 2 GiB cap). */
  readonly maxEmbeddedBytes?: number;
  /** Opens the session (default: onnxruntime-node); tests may pass a fake. */
  readonly openSession?: (
    model: RuntimeModel,
    options: RuntimeOptions,
  ) => Promise<InferenceSessionLike>;
}

const FEED_DTYPE: Record<string, DType> = {
  Float32Array: "float32",
  BigInt64Array: "int64",
  Int32Array: "int32",
  Uint8Array: "bool",
};

function readRange(file: string, offset: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  const fd = openSync(file, "r");
  try {
    let off = 0;
    while (off < length) {
      const got = readSync(fd, buf, off, length - off, offset + off);
      if (got === 0)
        throw new FileFormatError(file, `unexpected end of file at byte ${offset + off}`);
      off += got;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

/**
 * The real path of a weight file. onnxruntime follows symlinks and refuses external data
 * that resolves outside the external-data folder; the huggingface_hub cache is made of
 * symlinks (snapshots/<rev>/model.safetensors -> ../../blobs/<hash>), so point at the blob.
 */
function realFile(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}

/** A serialised model plus the directory its external data is relative to. */
export interface RuntimeModel {
  readonly bytes: Uint8Array;
  /** Directory of the weight files referenced as external data (null: none on disk). */
  readonly externalFolder: string | null;
  /**
   * In-memory weight files referenced as external data (onnxruntime's `externalData`
   * session option: the location in the model names one of these buffers).
   */
  readonly externalData?: readonly { readonly path: string; readonly data: Uint8Array }[];
}

// Protobuf messages cannot exceed 2 GiB; leave room for the rest of the model.
const MAX_EMBEDDED_BYTES = 1.9 * 2 ** 30;

/** True when the value holds the file's bytes as they are (no conversion needed). */
function storedAsIs(v: Value, ref: ExternalTensor): boolean {
  return v.dtype === ref.storedAs;
}

/**
 * Serialises `graph` for onnxruntime. Weights in the directory holding most weight bytes stay
 * in their files whenever the value has the file's dtype (float32, or float16/bfloat16 values
 * that the graph casts): external data, read or mapped by ORT, no copy through JS. Weights
 * held in memory (`ref.data`) are handed to ORT as in-memory external data when no weight is
 * read from disk (no copy into the model). Others (a float32 value over a half-precision
 * file, files elsewhere, tiny tensors) are embedded, at most `maxEmbeddedBytes` in all
 * (default 1.9 GiB, protobuf's limit).
 */
export function prepareRuntimeModel(
  graph: Graph,
  embedBelowBytes = 1024,
  maxEmbeddedBytes = MAX_EMBEDDED_BYTES,
): RuntimeModel {
  const bytesPerDir = new Map<string, number>();
  for (const v of graph.initializers) {
    const ref = v.source?.kind === "external" ? v.source.ref : null;
    if (!ref || ref.data || !storedAsIs(v, ref)) continue;
    const dir = dirname(realFile(ref.file));
    bytesPerDir.set(dir, (bytesPerDir.get(dir) ?? 0) + ref.byteLength);
  }
  let folder: string | null = null;
  for (const [dir, n] of bytesPerDir)
    if (folder === null || n > bytesPerDir.get(folder)!) folder = dir;
  // onnxruntime looks every external location up in the in-memory table once one is given,
  // so in-memory weights go there only when no weight is read from disk (else they are
  // embedded: e.g. a resized embedding matrix next to the checkpoint's files).
  const memoryExternal = folder === null;
  // One external-data name per in-memory buffer.
  const memoryNames = new Map<Uint8Array, string>();
  const externalData: { path: string; data: Uint8Array }[] = [];
  let embedded = 0;
  const resolveExternal = (v: Value, ref: ExternalTensor): ExternalPlacement => {
    const asIs = storedAsIs(v, ref);
    if (memoryExternal && ref.data && asIs && ref.byteLength >= embedBelowBytes) {
      let location = memoryNames.get(ref.data);
      if (!location) {
        location = `tslate-memory-${memoryNames.size}.bin`;
        memoryNames.set(ref.data, location);
        externalData.push({ path: location, data: ref.data });
      }
      return { location, offset: ref.byteOffset, length: ref.byteLength };
    }
    const abs = ref.data ? null : realFile(ref.file);
    if (abs !== null && asIs && ref.byteLength >= embedBelowBytes && dirname(abs) === folder) {
      return { location: basename(abs), offset: ref.byteOffset, length: ref.byteLength };
    }
    const raw = ref.data
      ? ref.data.subarray(ref.byteOffset, ref.byteOffset + ref.byteLength)
      : readRange(ref.file, ref.byteOffset, ref.byteLength);
    const bytes = asIs
      ? raw
      : new Uint8Array(bytesToFloat32(raw, ref.storedAs === "float16" ? "F16" : "BF16").buffer);
    embedded += bytes.byteLength;
    if (embedded > maxEmbeddedBytes) {
      throw new UnsupportedError(
        `weights that must be embedded in the ONNX model (outside ${folder}, or float32 values over float16/bfloat16 data) exceed ${(maxEmbeddedBytes / 2 ** 30).toFixed(2)} GiB at "${v.name}"; keep the checkpoint's weight files in one directory`,
      );
    }
    return { raw: bytes };
  };
  const bytes = serializeGraph(graph, { resolveExternal });
  return externalData.length > 0
    ? { bytes, externalFolder: folder, externalData }
    : { bytes, externalFolder: folder };
}

/** A compiled graph: feed typed arrays, get typed arrays. */
export class GraphSession {
  private disposed = false;

  private constructor(
    private readonly graph: Graph,
    private readonly session: InferenceSessionLike,
  ) {}

  static async create(graph: Graph, options: GraphSessionOptions = {}): Promise<GraphSession> {
    const model = prepareRuntimeModel(graph, options.embedBelowBytes, options.maxEmbeddedBytes);
    const open = options.openSession ?? createInferenceSession;
    return new GraphSession(graph, await open(model, options));
  }

  /** Checks feeds against the graph inputs (dtype, rank, static dims, consistent symbols). */
  private check(feeds: Readonly<Record<string, Feed>>): Record<string, TensorLike> {
    const bound = new Map<string, number>();
    const out: Record<string, TensorLike> = {};
    for (const input of this.graph.inputs) {
      const feed = feeds[input.name];
      if (!feed) {
        throw new InvalidArgumentError(
          `missing input "${input.name}"; the graph needs ${this.graph.inputs.map((i) => i.name).join(", ")}`,
        );
      }
      const dtype = FEED_DTYPE[feed.data.constructor.name];
      if (dtype !== input.dtype) {
        throw new InvalidArgumentError(
          `input "${input.name}" must be ${input.dtype}, got ${feed.data.constructor.name}`,
        );
      }
      const n = feed.dims.reduce((a, b) => a * b, 1);
      if (feed.dims.length !== input.shape.length || n !== feed.data.length) {
        throw new ShapeError(
          `input "${input.name}": dims ${shapeToString(feed.dims)} with ${feed.data.length} values do not match ${shapeToString(input.shape)}`,
        );
      }
      input.shape.forEach((d, i) => {
        const got = feed.dims[i];
        if (typeof d === "number" ? got !== d : (bound.get(d) ?? got) !== got) {
          const want = typeof d === "number" ? d : `${d} = ${bound.get(d)}`;
          throw new ShapeError(`input "${input.name}": dim ${i} is ${got}, expected ${want}`);
        }
        if (typeof d === "string") bound.set(d, got);
      });
      out[input.name] = makeTensor(dtype as TensorType, feed.data, feed.dims);
    }
    return out;
  }

  async run(feeds: Readonly<Record<string, Feed>>): Promise<Record<string, Fetched>> {
    if (this.disposed) throw new InvalidArgumentError("GraphSession.run after dispose()");
    const results = await this.session.run(this.check(feeds));
    const out: Record<string, Fetched> = {};
    for (const { name } of this.graph.outputs) {
      const t = results[name];
      out[name] = { data: t.data as Fetched["data"], dims: [...t.dims] };
    }
    return out;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.session.release();
  }
}
