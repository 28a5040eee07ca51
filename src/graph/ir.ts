/**
 * A small typed tensor-expression IR.
 *
 * A `Graph` is a list of `Node`s in topological order (a node can only use values that exist
 * when it is built), over `Value`s that are graph inputs, initializers (constants, or weights
 * that live in a file) or node outputs. Every value has a dtype and a static-or-symbolic shape
 * (`Dim`), inferred and checked by the op table (ops.ts) when the node is built: a bad shape
 * throws ShapeError naming the op, at build time, not inside onnxruntime.
 *
 * The IR is pure data: no fs, no onnxruntime. `onnx.ts` serialises it, `session.ts` runs it.
 * Ops are the ONNX operators (opset 18) so serialisation is one-to-one; a reverse-mode pass can
 * walk `nodes` backwards and look up one gradient rule per `node.op`.
 */
import { ShapeError } from "../util/errors.js";
import { canonDim, type Dim, type Shape, shapeToString } from "./dims.js";
import { OPS, type OpSchema, type OpType } from "./ops.js";

export type DType = "float32" | "float16" | "bfloat16" | "int64" | "int32" | "bool";

/** Attribute values: ints/floats are told apart by the op table's attribute types. */
export type AttrValue = number | readonly number[] | string;
export type Attrs = Readonly<Record<string, AttrValue>>;

/** In-memory tensor data (bool as Uint8Array of 0/1). */
export type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array;

/**
 * A tensor stored in a file (e.g. inside a safetensors file), little-endian, row-major.
 * `storedAs` is the on-disk type; the serialiser converts float16/bfloat16 to float32.
 */
export interface ExternalTensor {
  /** The file holding the tensor (a path, or a name when `data` holds the file's bytes). */
  readonly file: string;
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly storedAs: "float32" | "float16" | "bfloat16";
  /** The bytes of the whole `file` when it is in memory (no file-system access). */
  readonly data?: Uint8Array;
}

export type InitializerSource =
  | { readonly kind: "data"; readonly data: TensorData }
  | { readonly kind: "external"; readonly ref: ExternalTensor };

export interface Value {
  /** Unique within the graph; also the ONNX name. */
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
  readonly kind: "input" | "initializer" | "node";
  /** The node that computes this value (kind "node"). */
  readonly producer: Node | null;
  /** Where the data comes from (kind "initializer"). */
  readonly source: InitializerSource | null;
  /**
   * Element values known at build time, for small int64 tensors (constants, Shape outputs and
   * what is derived from them): lets Reshape/Slice/Expand infer symbolic output shapes.
   */
  readonly known?: readonly Dim[];
}

export interface Node {
  readonly op: OpType;
  /** ONNX domain: "" for the standard ops. */
  readonly domain: string;
  /** `null` marks an omitted optional input. */
  readonly inputs: readonly (Value | null)[];
  readonly outputs: readonly Value[];
  readonly attrs: Attrs;
  readonly name: string;
}

export interface GraphOutput {
  readonly name: string;
  readonly value: Value;
}

const DTYPE_OF_DATA = (d: TensorData): DType =>
  d instanceof Float32Array
    ? "float32"
    : d instanceof BigInt64Array
      ? "int64"
      : d instanceof Int32Array
        ? "int32"
        : "bool";

type Operand = Value | number;

export class Graph {
  readonly inputs: Value[] = [];
  readonly initializers: Value[] = [];
  readonly nodes: Node[] = [];
  readonly outputs: GraphOutput[] = [];
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, Value>();
  private readonly owned = new WeakSet<Value>();
  private counter = 0;

  constructor(readonly name = "tslate") {}

  private claim(name: string): string {
    if (this.names.has(name)) throw new ShapeError(`graph already has a value named "${name}"`);
    this.names.add(name);
    return name;
  }

  private autoName(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    return this.claim(name);
  }

  /** A graph input. Symbolic dims are strings ("batch", "seq"). */
  input(name: string, dtype: DType, shape: Shape): Value {
    const v: Value = {
      name: this.claim(name),
      dtype,
      shape: shape.map(canonDim),
      kind: "input",
      producer: null,
      source: null,
    };
    this.inputs.push(v);
    this.owned.add(v);
    return v;
  }

  /** A weight whose data lives in a file (external data, not copied into the model). */
  external(name: string, dtype: DType, shape: readonly number[], ref: ExternalTensor): Value {
    const v: Value = {
      name: this.claim(name),
      dtype,
      shape,
      kind: "initializer",
      producer: null,
      source: { kind: "external", ref },
    };
    this.initializers.push(v);
    this.owned.add(v);
    return v;
  }

  /**
   * A constant tensor. A plain number or number[] becomes float32 unless `dtype` says
   * otherwise; shape defaults to [] for a number and [n] for an array. Small int64 constants
   * are deduplicated and their values are `known` for shape inference.
   */
  constant(
    value: TensorData | number | readonly number[],
    options: { dtype?: DType; shape?: readonly number[]; name?: string } = {},
  ): Value {
    let data: TensorData;
    if (typeof value === "number" || Array.isArray(value)) {
      const arr = typeof value === "number" ? [value] : (value as readonly number[]);
      const dtype = options.dtype ?? "float32";
      data =
        dtype === "int64"
          ? BigInt64Array.from(arr, (x) => BigInt(x))
          : dtype === "int32"
            ? Int32Array.from(arr)
            : dtype === "bool"
              ? Uint8Array.from(arr)
              : Float32Array.from(arr);
    } else data = value as TensorData;
    const shape =
      options.shape ?? (typeof value === "number" ? [] : [(data as { length: number }).length]);
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) {
      throw new ShapeError(
        `constant: ${data.length} values do not fill shape ${shapeToString(shape)}`,
      );
    }
    const dtype = DTYPE_OF_DATA(data);
    const small = data.length <= 16 && !options.name;
    const key = small
      ? `${dtype}:${shape.join(",")}:${Array.from(data as ArrayLike<unknown>).join(",")}`
      : "";
    if (small) {
      const hit = this.constCache.get(key);
      if (hit) return hit;
    }
    const known =
      dtype === "int64" && shape.length <= 1
        ? Array.from(data as BigInt64Array, (x) => Number(x))
        : undefined;
    const v: Value = {
      name: options.name ? this.claim(options.name) : this.autoName("const"),
      dtype,
      shape,
      kind: "initializer",
      producer: null,
      source: { kind: "data", data },
      known,
    };
    this.initializers.push(v);
    this.owned.add(v);
    if (small) this.constCache.set(key, v);
    return v;
  }

  /** An int64 constant (shape [n], or [] for a number): for shapes, axes, indices. */
  ints(value: number | readonly number[]): Value {
    return this.constant(value, { dtype: "int64" });
  }

  /** Builds a node: infers and checks output dtypes/shapes; returns the outputs. */
  node(
    op: OpType,
    inputs: readonly (Value | null)[],
    attrs: Attrs = {},
    name?: string,
    outputNames?: readonly string[],
  ): Value[] {
    const schema: OpSchema = OPS[op];
    for (const v of inputs) {
      if (v && !this.owned.has(v)) {
        throw new ShapeError(`${op}: input "${v.name}" does not belong to this graph`);
      }
    }
    for (const key of Object.keys(attrs)) {
      if (!(key in schema.attrs)) {
        throw new ShapeError(
          `${op}: unknown attribute "${key}" (known: ${Object.keys(schema.attrs).join(", ") || "none"})`,
        );
      }
    }
    const specs = schema.infer(inputs, attrs, op);
    const nodeName = name ? this.claim(name) : this.autoName(op);
    const outputs: Value[] = [];
    const node: Node = {
      op,
      domain: schema.domain,
      inputs: [...inputs],
      outputs,
      attrs,
      name: nodeName,
    };
    specs.forEach((spec, i) => {
      outputs.push({
        name: outputNames?.[i] ?? (specs.length === 1 ? `${nodeName}_out` : `${nodeName}_out${i}`),
        dtype: spec.dtype,
        shape: spec.shape.map(canonDim),
        kind: "node",
        producer: node,
        source: null,
        known: spec.known,
      });
      if (outputNames?.[i]) this.claim(outputNames[i]);
      else this.names.add(outputs[i].name);
      this.owned.add(outputs[i]);
    });
    this.nodes.push(node);
    return outputs;
  }

  /** A single-output node. */
  op(op: OpType, inputs: readonly (Value | null)[], attrs: Attrs = {}): Value {
    return this.node(op, inputs, attrs)[0];
  }

  /** Declares a graph output (adds an Identity node if the value needs a different name). */
  output(value: Value, name: string): void {
    if (this.outputs.some((o) => o.name === name)) {
      throw new ShapeError(`graph already has an output named "${name}"`);
    }
    const v =
      value.name === name ? value : this.node("Identity", [value], {}, undefined, [name])[0];
    this.outputs.push({ name, value: v });
  }

  // ---- sugar (numbers become constants of the other operand's dtype) ----

  private lift(x: Operand, like: Value): Value {
    return typeof x === "number" ? this.constant(x, { dtype: like.dtype }) : x;
  }

  private bin(op: OpType, a: Operand, b: Operand): Value {
    if (typeof a === "number" && typeof b === "number") {
      throw new ShapeError(`${op}: at least one operand must be a Value`);
    }
    const av = this.lift(a, b as Value);
    return this.op(op, [av, this.lift(b, av)]);
  }

  add(a: Operand, b: Operand): Value {
    return this.bin("Add", a, b);
  }
  sub(a: Operand, b: Operand): Value {
    return this.bin("Sub", a, b);
  }
  mul(a: Operand, b: Operand): Value {
    return this.bin("Mul", a, b);
  }
  div(a: Operand, b: Operand): Value {
    return this.bin("Div", a, b);
  }
  pow(a: Value, b: Operand): Value {
    return this.bin("Pow", a, b);
  }
  max(a: Value, b: Operand): Value {
    return this.bin("Max", a, b);
  }
  equal(a: Value, b: Operand): Value {
    return this.bin("Equal", a, b);
  }
  less(a: Value, b: Operand): Value {
    return this.bin("Less", a, b);
  }
  lessOrEqual(a: Value, b: Operand): Value {
    return this.bin("LessOrEqual", a, b);
  }
  matmul(a: Value, b: Value): Value {
    return this.op("MatMul", [a, b]);
  }
  /** Y = alpha·A'·B' + beta·C on 2-D A, B. */
  gemm(
    a: Value,
    b: Value,
    c: Value | null,
    attrs: { alpha?: number; beta?: number; transA?: 0 | 1; transB?: 0 | 1 } = {},
  ): Value {
    return this.op("Gemm", c ? [a, b, c] : [a, b], attrs);
  }
  unary(
    op:
      | "Neg"
      | "Sqrt"
      | "Erf"
      | "Tanh"
      | "Exp"
      | "Log"
      | "Cos"
      | "Sin"
      | "Abs"
      | "Reciprocal"
      | "Sigmoid"
      | "Relu"
      | "Not",
    x: Value,
  ): Value {
    return this.op(op, [x]);
  }
  softmax(x: Value, axis = -1): Value {
    return this.op("Softmax", [x], { axis });
  }
  layerNorm(x: Value, scale: Value, bias: Value | null, epsilon: number, axis = -1): Value {
    return this.op("LayerNormalization", bias ? [x, scale, bias] : [x, scale], { axis, epsilon });
  }
  gather(data: Value, indices: Value, axis = 0): Value {
    return this.op("Gather", [data, indices], { axis });
  }
  /** ONNX Reshape: 0 copies the input dim, -1 is inferred. */
  reshape(x: Value, shape: readonly number[] | Value): Value {
    return this.op("Reshape", [x, Array.isArray(shape) ? this.ints(shape) : (shape as Value)]);
  }
  transpose(x: Value, perm: readonly number[]): Value {
    return this.op("Transpose", [x], { perm });
  }
  concat(xs: readonly Value[], axis: number): Value {
    return this.op("Concat", xs, { axis });
  }
  split(x: Value, sizes: readonly number[], axis: number): Value[] {
    return this.node("Split", [x, this.ints(sizes)], { axis });
  }
  /** starts/ends may be Values (e.g. from `shape`). */
  slice(
    x: Value,
    starts: readonly number[] | Value,
    ends: readonly number[] | Value,
    axes?: readonly number[],
    steps?: readonly number[],
  ): Value {
    const v = (a: readonly number[] | Value) => (Array.isArray(a) ? this.ints(a) : (a as Value));
    const inputs: (Value | null)[] = [x, v(starts), v(ends)];
    if (axes || steps) inputs.push(axes ? this.ints(axes) : null);
    if (steps) inputs.push(this.ints(steps));
    return this.op("Slice", inputs);
  }
  unsqueeze(x: Value, axes: readonly number[]): Value {
    return this.op("Unsqueeze", [x, this.ints(axes)]);
  }
  squeeze(x: Value, axes: readonly number[]): Value {
    return this.op("Squeeze", [x, this.ints(axes)]);
  }
  expand(x: Value, shape: Value): Value {
    return this.op("Expand", [x, shape]);
  }
  cast(x: Value, to: DType): Value {
    return x.dtype === to ? x : this.op("Cast", [x], { to });
  }
  where(cond: Value, x: Operand, y: Operand): Value {
    const like = typeof x === "number" ? (y as Value) : x;
    return this.op("Where", [cond, this.lift(x, like), this.lift(y, like)]);
  }
  reduce(
    op: "ReduceSum" | "ReduceMean" | "ReduceMax",
    x: Value,
    axes: readonly number[],
    keepdims = true,
  ): Value {
    return this.op(op, [x, this.ints(axes)], { keepdims: keepdims ? 1 : 0 });
  }
  /** Shape of `x` (dims start..end-1) as an int64 1-D tensor with known symbolic values. */
  shapeOf(x: Value, start?: number, end?: number): Value {
    const attrs: Record<string, number> = {};
    if (start !== undefined) attrs.start = start;
    if (end !== undefined) attrs.end = end;
    return this.op("Shape", [x], attrs);
  }
  range(start: Value, limit: Value, delta: Value): Value {
    return this.op("Range", [start, limit, delta]);
  }
}
