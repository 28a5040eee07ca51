/**
 * Operator table: for every op, the types of its attributes (for ONNX serialisation) and a
 * shape/dtype inference rule run when a node is built. Rules throw ShapeError naming the op.
 *
 * Semantics are those of the ONNX operators at opset 18 (see onnx/docs/Operators.md); inputs
 * that ONNX takes as tensors (Reshape shape, Slice starts/ends, Reduce axes, ...) are tensors
 * here too, and their values must be known at build time (`Value.known`) when the output shape
 * depends on them.
 *
 * To add an op: one entry here. An autodiff pass adds one gradient rule per op, keyed the same.
 */
import { ShapeError } from "../util/errors.js";
import {
  canonDim,
  type Dim,
  dimDivide,
  dimEquals,
  dimProduct,
  type Shape,
  shapeToString,
} from "./dims.js";
import type { Attrs, DType, Value } from "./ir.js";

export type AttrType = "int" | "float" | "ints" | "floats" | "string" | "dtype";

/** What inference returns for each output. `known` = element values known at build time. */
export interface OutputSpec {
  dtype: DType;
  shape: Shape;
  known?: readonly Dim[];
}

export interface OpSchema {
  /** ONNX domain ("" = ai.onnx; "com.microsoft" for ORT contrib ops). */
  readonly domain: string;
  readonly attrs: Readonly<Record<string, AttrType>>;
  readonly infer: (inputs: readonly (Value | null)[], attrs: Attrs, op: string) => OutputSpec[];
}

const FLOAT_TYPES: readonly DType[] = ["float32", "float16"];

function fail(op: string, msg: string): never {
  throw new ShapeError(`${op}: ${msg}`);
}

function req(op: string, inputs: readonly (Value | null)[], i: number): Value {
  const v = inputs[i];
  if (!v) fail(op, `input ${i} is required`);
  return v;
}

function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    fail(op, `axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

/** numpy broadcasting with symbolic dims; two different symbols are an error. */
export function broadcastShapes(op: string, shapes: readonly Shape[]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const e = s[s.length - rank + i] ?? 1;
      if (e === 1 || dimEquals(e, d)) continue;
      if (d === 1) d = e;
      else if (typeof d === "number" && typeof e === "number") {
        fail(op, `cannot broadcast shapes ${shapes.map(shapeToString).join(" and ")}`);
      } else if (typeof d === "string" && typeof e === "string") {
        fail(
          op,
          `cannot broadcast shapes ${shapes.map(shapeToString).join(" and ")} (symbols ${d} and ${e} differ)`,
        );
      } else if (typeof e === "number") d = e; // a symbol meets a number: the number wins
    }
    out.push(canonDim(d));
  }
  return out;
}

function sameDtype(op: string, vs: readonly Value[]): DType {
  const t = vs[0].dtype;
  for (const v of vs) {
    if (v.dtype !== t) fail(op, `input dtypes differ: ${vs.map((x) => x.dtype).join(", ")}`);
  }
  return t;
}

const unary = (allowed?: readonly DType[]): OpSchema => ({
  domain: "",
  attrs: {},
  infer: (inputs, _a, op) => {
    const x = req(op, inputs, 0);
    if (allowed && !allowed.includes(x.dtype)) {
      fail(op, `dtype ${x.dtype} not supported (allowed: ${allowed.join(", ")})`);
    }
    return [{ dtype: x.dtype, shape: x.shape }];
  },
});

const binary = (resultBool: boolean): OpSchema => ({
  domain: "",
  attrs: {},
  infer: (inputs, _a, op) => {
    const vs = inputs.map((_, i) => req(op, inputs, i));
    if (vs.length < 2) fail(op, "needs two inputs");
    const dtype = op === "Pow" ? vs[0].dtype : sameDtype(op, vs);
    const shape = broadcastShapes(
      op,
      vs.map((v) => v.shape),
    );
    return [{ dtype: resultBool ? "bool" : dtype, shape }];
  },
});

const variadic: OpSchema = {
  domain: "",
  attrs: {},
  infer: (inputs, _a, op) => {
    const vs = inputs.map((_, i) => req(op, inputs, i));
    if (vs.length < 1) fail(op, "needs at least one input");
    return [
      {
        dtype: sameDtype(op, vs),
        shape: broadcastShapes(
          op,
          vs.map((v) => v.shape),
        ),
      },
    ];
  },
};

/** Values of an int64 input needed at build time (constants, Shape outputs). */
function knownInts(op: string, v: Value | null | undefined, what: string): readonly Dim[] {
  if (!v) fail(op, `${what} is required`);
  if (!v.known)
    fail(
      op,
      `${what} (${v.name}) must be known when the graph is built (a constant or derived from Shape)`,
    );
  return v.known;
}

function knownNumbers(op: string, v: Value | null | undefined, what: string): number[] {
  const k = knownInts(op, v, what);
  if (!k.every((d) => typeof d === "number"))
    fail(op, `${what} must be numeric, got [${k.join(", ")}]`);
  return k as number[];
}

const reduce: OpSchema = {
  domain: "",
  attrs: { keepdims: "int", noop_with_empty_axes: "int" },
  infer: (inputs, attrs, op) => {
    const x = req(op, inputs, 0);
    const keep = (attrs.keepdims ?? 1) !== 0;
    const axes = inputs[1]
      ? knownNumbers(op, inputs[1], "axes").map((a) => normAxis(op, a, x.shape.length))
      : x.shape.map((_, i) => i);
    const shape: Dim[] = [];
    x.shape.forEach((d, i) => {
      if (!axes.includes(i)) shape.push(d);
      else if (keep) shape.push(1);
    });
    return [{ dtype: x.dtype, shape }];
  },
};

function matmulShape(op: string, a: Shape, b: Shape): Dim[] {
  if (a.length < 2 || b.length < 2) {
    fail(op, `operands must have rank >= 2, got ${shapeToString(a)} and ${shapeToString(b)}`);
  }
  const k1 = a[a.length - 1];
  const k2 = b[b.length - 2];
  if (!dimEquals(k1, k2) && typeof k1 === "number" && typeof k2 === "number") {
    fail(op, `inner dimensions differ: ${shapeToString(a)} x ${shapeToString(b)}`);
  }
  if (!dimEquals(k1, k2) && typeof k1 === "string" && typeof k2 === "string") {
    fail(op, `inner dimensions differ: ${shapeToString(a)} x ${shapeToString(b)}`);
  }
  const batch = broadcastShapes(op, [a.slice(0, -2), b.slice(0, -2)]);
  return [...batch, a[a.length - 2], b[b.length - 1]];
}

let fresh = 0;
/** A new symbol for a dimension that cannot be expressed from the inputs. */
function freshDim(op: string): string {
  fresh += 1;
  return `${op.toLowerCase()}_dim${fresh}`;
}

export const OPS = {
  Identity: {
    domain: "",
    attrs: {},
    infer: (inputs, _a, op) => {
      const x = req(op, inputs, 0);
      return [{ dtype: x.dtype, shape: x.shape, known: x.known }];
    },
  },
  Add: binary(false),
  Sub: binary(false),
  Mul: binary(false),
  Div: binary(false),
  Pow: binary(false),
  Equal: binary(true),
  Less: binary(true),
  LessOrEqual: binary(true),
  Greater: binary(true),
  GreaterOrEqual: binary(true),
  And: binary(true),
  Or: binary(true),
  Max: variadic,
  Min: variadic,
  Sqrt: unary(FLOAT_TYPES),
  Reciprocal: unary(FLOAT_TYPES),
  Erf: unary(FLOAT_TYPES),
  Tanh: unary(FLOAT_TYPES),
  Sigmoid: unary(FLOAT_TYPES),
  Exp: unary(FLOAT_TYPES),
  Log: unary(FLOAT_TYPES),
  Cos: unary(FLOAT_TYPES),
  Sin: unary(FLOAT_TYPES),
  Relu: unary(),
  Abs: unary(),
  Neg: unary(),
  Not: unary(["bool"]),
  Softmax: {
    domain: "",
    attrs: { axis: "int" },
    infer: (inputs, attrs, op) => {
      const x = req(op, inputs, 0);
      normAxis(op, attrs.axis as number, x.shape.length);
      return [{ dtype: x.dtype, shape: x.shape }];
    },
  },
  LogSoftmax: {
    domain: "",
    attrs: { axis: "int" },
    infer: (inputs, attrs, op) => {
      const x = req(op, inputs, 0);
      normAxis(op, attrs.axis as number, x.shape.length);
      return [{ dtype: x.dtype, shape: x.shape }];
    },
  },
  LayerNormalization: {
    domain: "",
    attrs: { axis: "int", epsilon: "float", stash_type: "int" },
    infer: (inputs, attrs, op) => {
      const x = req(op, inputs, 0);
      const scale = req(op, inputs, 1);
      const axis = normAxis(op, (attrs.axis as number) ?? -1, x.shape.length);
      const normShape = x.shape.slice(axis);
      for (const p of [scale, inputs[2]]) {
        if (!p) continue;
        if (
          p.shape.length !== normShape.length ||
          !p.shape.every((d, i) => dimEquals(d, normShape[i]))
        ) {
          fail(
            op,
            `scale/bias shape ${shapeToString(p.shape)} must equal the normalised dims ${shapeToString(normShape)} of input ${shapeToString(x.shape)}`,
          );
        }
      }
      return [{ dtype: x.dtype, shape: x.shape }];
    },
  },
  MatMul: {
    domain: "",
    attrs: {},
    infer: (inputs, _a, op) => {
      const a = req(op, inputs, 0);
      const b = req(op, inputs, 1);
      return [{ dtype: sameDtype(op, [a, b]), shape: matmulShape(op, a.shape, b.shape) }];
    },
  },
  Gemm: {
    domain: "",
    attrs: { alpha: "float", beta: "float", transA: "int", transB: "int" },
    infer: (inputs, attrs, op) => {
      const a = req(op, inputs, 0);
      const b = req(op, inputs, 1);
      if (a.shape.length !== 2 || b.shape.length !== 2) fail(op, "A and B must be 2-D");
      const [m, k1] = attrs.transA ? [a.shape[1], a.shape[0]] : a.shape;
      const [k2, n] = attrs.transB ? [b.shape[1], b.shape[0]] : b.shape;
      if (!dimEquals(k1, k2) && typeof k1 === "number" && typeof k2 === "number") {
        fail(
          op,
          `inner dimensions differ: ${shapeToString(a.shape)} x ${shapeToString(b.shape)} (transA=${attrs.transA ?? 0}, transB=${attrs.transB ?? 0})`,
        );
      }
      const shape = [m, n];
      if (inputs[2]) broadcastShapes(op, [shape, inputs[2].shape]);
      return [{ dtype: sameDtype(op, [a, b]), shape }];
    },
  },
  Gather: {
    domain: "",
    attrs: { axis: "int" },
    infer: (inputs, attrs, op) => {
      const data = req(op, inputs, 0);
      const idx = req(op, inputs, 1);
      if (idx.dtype !== "int64" && idx.dtype !== "int32")
        fail(op, `indices must be int64/int32, got ${idx.dtype}`);
      const axis = normAxis(op, (attrs.axis as number) ?? 0, data.shape.length);
      const shape = [...data.shape.slice(0, axis), ...idx.shape, ...data.shape.slice(axis + 1)];
      let known: Dim[] | undefined;
      if (data.known && idx.known && data.shape.length === 1) {
        const ks = idx.known.map((i) =>
          typeof i === "number" ? data.known![i < 0 ? i + data.known!.length : i] : undefined,
        );
        if (ks.every((k) => k !== undefined)) known = ks as Dim[];
      }
      return [{ dtype: data.dtype, shape, known }];
    },
  },
  Shape: {
    domain: "",
    attrs: { start: "int", end: "int" },
    infer: (inputs, attrs, op) => {
      const x = req(op, inputs, 0);
      const r = x.shape.length;
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
      const dims = x.shape.slice(
        clamp((attrs.start as number) ?? 0),
        clamp((attrs.end as number) ?? r),
      );
      return [{ dtype: "int64", shape: [dims.length], known: dims }];
    },
  },
  Reshape: {
    domain: "",
    attrs: { allowzero: "int" },
    infer: (inputs, _a, op) => {
      const x = req(op, inputs, 0);
      const target = knownInts(op, inputs[1], "shape");
      const out: Dim[] = target.map((d, i) => (d === 0 ? x.shape[i] : d));
      if (out.some((d) => d === undefined))
        fail(
          op,
          `0 in target shape [${target.join(", ")}] has no input dim to copy from ${shapeToString(x.shape)}`,
        );
      const minus = out.indexOf(-1);
      if (out.lastIndexOf(-1) !== minus) fail(op, "at most one -1 is allowed in the target shape");
      const total = dimProduct(x.shape);
      if (minus >= 0) {
        const rest = dimProduct(out.filter((_, i) => i !== minus));
        out[minus] = dimDivide(total, rest) ?? freshDim(op);
      } else if (
        typeof total === "number" &&
        typeof dimProduct(out) === "number" &&
        total !== dimProduct(out)
      ) {
        fail(
          op,
          `cannot reshape ${shapeToString(x.shape)} (${total} elements) to [${target.join(", ")}]`,
        );
      }
      return [{ dtype: x.dtype, shape: out.map(canonDim), known: x.known }];
    },
  },
  Transpose: {
    domain: "",
    attrs: { perm: "ints" },
    infer: (inputs, attrs, op) => {
      const x = req(op, inputs, 0);
      const perm = (attrs.perm as number[]) ?? x.shape.map((_, i) => x.shape.length - 1 - i);
      if (perm.length !== x.shape.length || [...perm].sort().some((p, i) => p !== i)) {
        fail(
          op,
          `perm [${perm.join(", ")}] is not a permutation of the ${x.shape.length} axes of ${shapeToString(x.shape)}`,
        );
      }
      return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }];
    },
  },
  Concat: {
    domain: "",
    attrs: { axis: "int" },
    infer: (inputs, attrs, op) => {
      const vs = inputs.map((_, i) => req(op, inputs, i));
      const dtype = sameDtype(op, vs);
      const rank = vs[0].shape.length;
      const axis = normAxis(op, attrs.axis as number, rank);
      for (const v of vs) {
        if (
          v.shape.length !== rank ||
          v.shape.some((d, i) => i !== axis && !dimEquals(d, vs[0].shape[i]))
        ) {
          fail(
            op,
            `shapes ${vs.map((x) => shapeToString(x.shape)).join(", ")} differ outside axis ${axis}`,
          );
        }
      }
      const shape = [...vs[0].shape];
      shape[axis] = vs.reduce<Dim>((acc, v) => addDims(acc, v.shape[axis]), 0);
      const known =
        rank === 1 && vs.every((v) => v.known) ? vs.flatMap((v) => v.known!) : undefined;
      return [{ dtype, shape, known }];
    },
  },
  Split: {
    domain: "",
    attrs: { axis: "int", num_outputs: "int" },
    infer: (inputs, attrs, op) => {
      const x = req(op, inputs, 0);
      const axis = normAxis(op, (attrs.axis as number) ?? 0, x.shape.length);
      const sizes = knownNumbers(op, inputs[1], "split sizes");
      const d = x.shape[axis];
      const sum = sizes.reduce((a, b) => a + b, 0);
      if (typeof d === "number" && sum !== d)
        fail(
          op,
          `split sizes [${sizes.join(", ")}] sum to ${sum}, axis ${axis} of ${shapeToString(x.shape)} has ${d}`,
        );
      return sizes.map((s) => {
        const shape = [...x.shape];
        shape[axis] = s;
        return { dtype: x.dtype, shape };
      });
    },
  },
  Slice: {
    domain: "",
    attrs: {},
    infer: (inputs, _a, op) => {
      const x = req(op, inputs, 0);
      const starts = knownInts(op, inputs[1], "starts");
      const ends = knownInts(op, inputs[2], "ends");
      const axes = inputs[3] ? knownNumbers(op, inputs[3], "axes") : starts.map((_, i) => i);
      const steps = inputs[4] ? knownNumbers(op, inputs[4], "steps") : starts.map(() => 1);
      const shape = [...x.shape];
      for (let i = 0; i < axes.length; i++) {
        const ax = normAxis(op, axes[i], x.shape.length);
        shape[ax] = sliceDim(x.shape[ax], starts[i], ends[i], steps[i]) ?? freshDim(op);
      }
      let known: Dim[] | undefined;
      if (
        x.known &&
        x.shape.length === 1 &&
        typeof starts[0] === "number" &&
        typeof ends[0] === "number" &&
        steps[0] === 1
      ) {
        const n = x.known.length;
        const c = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
        known = x.known.slice(c(starts[0]), c(ends[0]));
      }
      return [{ dtype: x.dtype, shape, known }];
    },
  },
  Unsqueeze: {
    domain: "",
    attrs: {},
    infer: (inputs, _a, op) => {
      const x = req(op, inputs, 0);
      const r = x.shape.length + knownNumbers(op, inputs[1], "axes").length;
      const axes = knownNumbers(op, inputs[1], "axes").map((a) => normAxis(op, a, r));
      const shape: Dim[] = [];
      let j = 0;
      for (let i = 0; i < r; i++) shape.push(axes.includes(i) ? 1 : x.shape[j++]);
      return [{ dtype: x.dtype, shape, known: x.known }];
    },
  },
  Squeeze: {
    domain: "",
    attrs: {},
    infer: (inputs, _a, op) => {
      const x = req(op, inputs, 0);
      const axes = knownNumbers(op, inputs[1], "axes").map((a) => normAxis(op, a, x.shape.length));
      for (const a of axes)
        if (x.shape[a] !== 1) fail(op, `axis ${a} of ${shapeToString(x.shape)} is not 1`);
      return [
        { dtype: x.dtype, shape: x.shape.filter((_, i) => !axes.includes(i)), known: x.known },
      ];
    },
  },
  Expand: {
    domain: "",
    attrs: {},
    infer: (inputs, _a, op) => {
      const x = req(op, inputs, 0);
      const target = knownInts(op, inputs[1], "shape");
      return [{ dtype: x.dtype, shape: broadcastShapes(op, [x.shape, target]) }];
    },
  },
  Cast: {
    domain: "",
    attrs: { to: "dtype" },
    infer: (inputs, attrs, op) => {
      const x = req(op, inputs, 0);
      return [{ dtype: attrs.to as DType, shape: x.shape, known: x.known }];
    },
  },
  Where: {
    domain: "",
    attrs: {},
    infer: (inputs, _a, op) => {
      const c = req(op, inputs, 0);
      const x = req(op, inputs, 1);
      const y = req(op, inputs, 2);
      if (c.dtype !== "bool") fail(op, `condition must be bool, got ${c.dtype}`);
      return [
        { dtype: sameDtype(op, [x, y]), shape: broadcastShapes(op, [c.shape, x.shape, y.shape]) },
      ];
    },
  },
  CumSum: {
    domain: "",
    attrs: { exclusive: "int", reverse: "int" },
    infer: (inputs, _a, op) => {
      const x = req(op, inputs, 0);
      const axis = knownNumbers(op, inputs[1], "axis");
      normAxis(op, axis[0], x.shape.length);
      return [{ dtype: x.dtype, shape: x.shape }];
    },
  },
  ReduceSum: reduce,
  ReduceMean: reduce,
  ReduceMax: reduce,
  Range: {
    domain: "",
    attrs: {},
    infer: (inputs, _a, op) => {
      const [s, l, d] = [0, 1, 2].map((i) => req(op, inputs, i));
      const dtype = sameDtype(op, [s, l, d]);
      for (const v of [s, l, d])
        if (v.shape.length !== 0)
          fail(op, `start, limit and delta must be scalars, got ${shapeToString(v.shape)}`);
      const [start, limit, delta] = [s, l, d].map((v) => v.known?.[0]);
      let n: Dim | undefined;
      if (typeof start === "number" && typeof limit === "number" && typeof delta === "number") {
        n = Math.max(Math.ceil((limit - start) / delta), 0);
      } else if (start === 0 && delta === 1 && limit !== undefined) n = limit;
      return [{ dtype, shape: [n ?? freshDim(op)] }];
    },
  },
  /** Index of the largest entry along `axis` (int64; ties: the first). Inference only. */
  ArgMax: {
    domain: "",
    attrs: { axis: "int", keepdims: "int", select_last_index: "int" },
    infer: (inputs, attrs, op) => {
      const x = req(op, inputs, 0);
      const axis = normAxis(op, (attrs.axis as number) ?? 0, x.shape.length);
      const keep = (attrs.keepdims ?? 1) !== 0;
      const shape = x.shape.flatMap((d, i) => (i !== axis ? [d] : keep ? [1] : []));
      return [{ dtype: "int64", shape }];
    },
  },
  /** The `k` (int64 [1]) largest (or smallest) entries along `axis` and their int64 indices. */
  TopK: {
    domain: "",
    attrs: { axis: "int", largest: "int", sorted: "int" },
    infer: (inputs, attrs, op) => {
      const x = req(op, inputs, 0);
      const k = req(op, inputs, 1);
      if (k.dtype !== "int64") fail(op, `k must be int64, got ${k.dtype}`);
      const axis = normAxis(op, (attrs.axis as number) ?? -1, x.shape.length);
      const kDim: Dim = k.known?.length === 1 ? k.known[0] : freshDim(op);
      const shape = x.shape.map((d, i) => (i === axis ? kDim : d));
      return [
        { dtype: x.dtype, shape },
        { dtype: "int64", shape },
      ];
    },
  },
  /** data with `updates` written (or added, reduction "add") at `indices` [..., k]: Gather's gradient. */
  ScatterND: {
    domain: "",
    attrs: { reduction: "string" },
    infer: (inputs, _a, op) => {
      const data = req(op, inputs, 0);
      const idx = req(op, inputs, 1);
      const updates = req(op, inputs, 2);
      if (idx.dtype !== "int64") fail(op, `indices must be int64, got ${idx.dtype}`);
      if (updates.dtype !== data.dtype)
        fail(op, `updates dtype ${updates.dtype} differs from data dtype ${data.dtype}`);
      return [{ dtype: data.dtype, shape: data.shape }];
    },
  },
} satisfies Record<string, OpSchema>;

export type OpType = keyof typeof OPS;

function addDims(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  if (dimEquals(a, b)) return dimProduct([2, a]);
  // Sums of different symbols are not modelled: name the result with a fresh symbol.
  return freshDim("Concat");
}

function sliceDim(d: Dim, start: Dim, end: Dim, step: number): Dim | undefined {
  if (step === 1 && start === 0 && typeof end === "string") return end;
  if (typeof d === "number" && typeof start === "number" && typeof end === "number") {
    const c = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    const [s, e] = [c(start), c(end)];
    return step > 0
      ? Math.max(Math.ceil((e - s) / step), 0)
      : Math.max(Math.ceil((s - e) / -step), 0);
  }
  if (step === 1 && start === 0 && typeof end === "number" && end >= Number.MAX_SAFE_INTEGER)
    return d;
  return undefined;
}
