/**
 * Serialises a Graph to an ONNX ModelProto (protobuf wire format written by hand; only the
 * fields we emit). Field numbers are those of onnx/onnx.proto (ir_version 8, opset 18).
 *
 * Weights that live in files become ONNX external data (location/offset/length relative to
 * the model's directory); the caller decides the location of each file, or asks for the bytes
 * to be embedded (`resolveExternal`). Pure: no fs.
 */
import { UnsupportedError } from "../util/errors.js";
import type { Dim } from "./dims.js";
import type { DType, ExternalTensor, Graph, TensorData, Value } from "./ir.js";
import { type AttrType, OPS } from "./ops.js";

export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 18;

const ONNX_DTYPE: Record<DType, number> = {
  float32: 1,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  bfloat16: 16,
};

const ATTR_TYPE_CODE: Record<AttrType, number> = {
  float: 1,
  int: 2,
  string: 3,
  floats: 6,
  ints: 7,
  dtype: 2,
};

/** Protobuf writer: chunks are concatenated once, at the end. */
class PbWriter {
  private readonly chunks: Uint8Array[] = [];
  private scratch: number[] = [];
  length = 0;

  private flushScratch(): void {
    if (this.scratch.length > 0) {
      this.chunks.push(Uint8Array.from(this.scratch));
      this.scratch = [];
    }
  }

  private byte(b: number): void {
    this.scratch.push(b);
    this.length += 1;
  }

  varint(n: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(n));
    if (typeof n === "number" && n >= 0 && n < 2 ** 31) {
      let x = n;
      while (x > 0x7f) {
        this.byte((x & 0x7f) | 0x80);
        x >>>= 7;
      }
      this.byte(x);
      return;
    }
    while (v > 0x7fn) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }

  tag(field: number, wire: 0 | 1 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, n: number | bigint): void {
    this.tag(field, 0);
    this.varint(n);
  }

  float(field: number, f: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, f, true);
    for (const x of b) this.byte(x);
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.byteLength);
    this.flushScratch();
    this.chunks.push(data);
    this.length += data.byteLength;
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, child: PbWriter): void {
    this.tag(field, 2);
    this.varint(child.length);
    this.flushScratch();
    child.flushScratch();
    this.chunks.push(...child.chunks);
    this.length += child.length;
  }

  finish(): Uint8Array {
    this.flushScratch();
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.byteLength;
    }
    return out;
  }
}

/** How an external tensor goes into the model: a file reference, or embedded bytes. */
export type ExternalPlacement =
  | { readonly location: string; readonly offset: number; readonly length: number }
  | { readonly raw: Uint8Array };

export interface SerializeOptions {
  /** Called once per external initializer; `raw` must hold the value's dtype (float32). */
  readonly resolveExternal: (value: Value, ref: ExternalTensor) => ExternalPlacement;
  readonly producerName?: string;
}

function typeProto(dtype: DType, shape: readonly Dim[]): PbWriter {
  const shapeW = new PbWriter();
  for (const d of shape) {
    const dim = new PbWriter();
    if (typeof d === "number") dim.int(1, d);
    else dim.string(2, d);
    shapeW.message(1, dim);
  }
  const tensor = new PbWriter();
  tensor.int(1, ONNX_DTYPE[dtype]);
  tensor.message(2, shapeW);
  const type = new PbWriter();
  type.message(1, tensor);
  return type;
}

function valueInfo(v: Value, name = v.name): PbWriter {
  const w = new PbWriter();
  w.string(1, name);
  w.message(2, typeProto(v.dtype, v.shape));
  return w;
}

function dataBytes(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function tensorProto(v: Value, options: SerializeOptions): PbWriter {
  const w = new PbWriter();
  for (const d of v.shape) w.int(1, d as number);
  w.int(2, ONNX_DTYPE[v.dtype]);
  w.string(8, v.name);
  const src = v.source!;
  if (src.kind === "data") {
    w.bytes(9, dataBytes(src.data));
    return w;
  }
  const placed = options.resolveExternal(v, src.ref);
  if ("raw" in placed) {
    w.bytes(9, placed.raw);
    return w;
  }
  const entry = (key: string, value: string) => {
    const e = new PbWriter();
    e.string(1, key);
    e.string(2, value);
    w.message(13, e);
  };
  entry("location", placed.location);
  entry("offset", String(placed.offset));
  entry("length", String(placed.length));
  w.int(14, 1); // data_location = EXTERNAL
  return w;
}

function attribute(name: string, type: AttrType, value: unknown): PbWriter {
  const w = new PbWriter();
  w.string(1, name);
  w.int(20, ATTR_TYPE_CODE[type]);
  switch (type) {
    case "float":
      w.float(2, value as number);
      break;
    case "int":
      w.int(3, BigInt(value as number));
      break;
    case "dtype":
      w.int(3, ONNX_DTYPE[value as DType]);
      break;
    case "string":
      w.string(4, value as string);
      break;
    case "floats":
      for (const f of value as number[]) w.float(7, f);
      break;
    case "ints":
      for (const i of value as number[]) w.int(8, BigInt(i));
      break;
  }
  return w;
}

/** The ModelProto bytes of `graph`. */
export function serializeGraph(graph: Graph, options: SerializeOptions): Uint8Array {
  const g = new PbWriter();
  const domains = new Set<string>([""]);
  for (const node of graph.nodes) {
    const n = new PbWriter();
    for (const i of node.inputs) n.string(1, i ? i.name : "");
    for (const o of node.outputs) n.string(2, o.name);
    n.string(3, node.name);
    n.string(4, node.op);
    const types = OPS[node.op].attrs as Record<string, AttrType>;
    for (const [key, value] of Object.entries(node.attrs)) {
      if (value === undefined) continue;
      n.message(5, attribute(key, types[key], value));
    }
    if (node.domain) {
      n.string(7, node.domain);
      domains.add(node.domain);
    }
    g.message(1, n);
  }
  g.string(2, graph.name);
  for (const init of graph.initializers) g.message(5, tensorProto(init, options));
  for (const input of graph.inputs) g.message(11, valueInfo(input));
  if (graph.outputs.length === 0) {
    throw new UnsupportedError("serializeGraph: the graph has no outputs; call graph.output()");
  }
  for (const out of graph.outputs) g.message(12, valueInfo(out.value, out.name));

  const m = new PbWriter();
  m.int(1, ONNX_IR_VERSION);
  m.string(2, options.producerName ?? "tslate");
  m.message(7, g);
  for (const domain of domains) {
    const op = new PbWriter();
    if (domain) op.string(1, domain);
    op.int(2, domain === "" ? ONNX_OPSET : 1);
    m.message(8, op);
  }
  return m.finish();
}
