/**
 * Gradient rules: one entry per op (STYLE.md §3, tinygrad's `pm_gradient`). A rule gets the
 * node, the upstream gradients of its outputs (null where an output has none) and which
 * inputs need a gradient; it builds the backward nodes in the same graph and returns one
 * gradient per input (null = none). Shapes follow ONNX broadcasting: a gradient flowing into
 * a broadcast input is summed over the broadcast axes (`unbroadcast`).
 *
 * Notes on the ones that are not one-liners:
 * - ReduceMax sends the gradient to the arg-max, split evenly between ties (torch's
 *   `amax` rule). PyLate takes `.max(-1).values`, which picks one of the tied slots; the two
 *   differ only where a real token ties exactly, and padded slots (similarity 0 times mask 0)
 *   get zero gradient either way because the mask multiplies them.
 * - Gather (embedding lookup) → ScatterND with reduction "add" into zeros of the table. On
 *   axis 0 with static row shape, autodiff.ts collects every lookup of a table and calls
 *   `scatterRows` once (one ScatterND for the query and document towers together).
 * - Exact GELU, 0.5·x·(1 + erf(x/√2)) as `activation()` writes it, is matched as one pattern
 *   (`matchComposite`) whose gradient is computed from x alone; see `geluGradient`.
 * - LayerNormalization recomputes mean and 1/std in the backward graph rather than taking
 *   ONNX's optional extra outputs, so the forward graph stays the inference graph.
 */
import { UnsupportedError } from "../util/errors.js";
import type { Shape } from "./dims.js";
import type { Graph, Node, Value } from "./ir.js";
import type { OpType } from "./ops.js";

export interface GradContext {
  readonly graph: Graph;
  readonly node: Node;
  /** Upstream gradient of each output (null: that output does not reach the loss). */
  readonly outGrads: readonly (Value | null)[];
  /** Whether input k needs a gradient (depends on a wrt value). */
  readonly needed: readonly boolean[];
}

export type GradRule = (ctx: GradContext) => readonly (Value | null)[];

/** Ops whose outputs carry no gradient (comparisons, shapes, integer ranges). */
export const NON_DIFFERENTIABLE: ReadonlySet<OpType> = new Set<OpType>([
  "Shape",
  "Equal",
  "Less",
  "LessOrEqual",
  "Greater",
  "GreaterOrEqual",
  "And",
  "Or",
  "Not",
  "Range",
]);

const INT64_MAX = Number.MAX_SAFE_INTEGER;

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** The axes of an int64 constant input (Reduce*, Unsqueeze, Squeeze). */
function knownAxes(v: Value | null, rank: number, what: string): number[] {
  if (!v) return Array.from({ length: rank }, (_, i) => i);
  if (!v.known?.every((d) => typeof d === "number")) {
    throw new UnsupportedError(`gradient of ${what}: axes must be constants`);
  }
  return (v.known as number[]).map((a) => normAxis(a, rank));
}

/** Sums `g` (of a broadcast output shape) down to `shape`. */
export function unbroadcast(graph: Graph, g: Value, shape: Shape): Value {
  const lead = g.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.shape.length; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && g.shape[i] !== 1) axes.push(i);
  }
  let out = axes.length > 0 ? graph.reduce("ReduceSum", g, axes, true) : g;
  if (lead > 0)
    out = graph.squeeze(
      out,
      Array.from({ length: lead }, (_, i) => i),
    );
  return out;
}

/** `v` reshaped to the runtime shape of `like`: also gives it `like`'s symbolic dims. */
function reshapeLike(graph: Graph, v: Value, like: Value): Value {
  if (v.shape.length === like.shape.length && v.shape.every((d, i) => d === like.shape[i]))
    return v;
  return graph.reshape(v, graph.shapeOf(like));
}

function zerosLike(graph: Graph, v: Value): Value {
  return graph.expand(graph.constant(0, { dtype: v.dtype }), graph.shapeOf(v));
}

/** Swaps the last two axes. */
function transposeLast(graph: Graph, v: Value): Value {
  const r = v.shape.length;
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return graph.transpose(v, perm);
}

/** Gradient of a reduction, expanded back to the input's shape. */
function expandReduced(ctx: GradContext, axes: number[]): Value {
  const { graph, node } = ctx;
  const x = node.inputs[0]!;
  let g = ctx.outGrads[0]!;
  if ((node.attrs.keepdims ?? 1) === 0) g = graph.unsqueeze(g, axes);
  return graph.expand(g, graph.shapeOf(x));
}

function reduceAxes(node: Node): number[] {
  const x = node.inputs[0]!;
  return knownAxes(node.inputs[1] ?? null, x.shape.length, node.op);
}

/** Element count of the reduced axes, as a float constant when static. */
function reducedCount(graph: Graph, x: Value, axes: number[]): Value {
  const dims = axes.map((a) => x.shape[a]);
  if (dims.every((d): d is number => typeof d === "number")) {
    return graph.constant(
      dims.reduce((a, b) => a * b, 1),
      { dtype: x.dtype },
    );
  }
  return graph.reduce(
    "ReduceSum",
    graph.expand(graph.constant(1, { dtype: x.dtype }), graph.shapeOf(x)),
    axes,
    true,
  );
}

function extremum(ctx: GradContext): (Value | null)[] {
  const { graph, node } = ctx;
  const x = node.inputs[0]!;
  const axes = reduceAxes(node);
  let out = node.outputs[0];
  if ((node.attrs.keepdims ?? 1) === 0) out = graph.unsqueeze(out, axes);
  const hit = graph.cast(graph.equal(x, out), x.dtype);
  const ties = graph.reduce("ReduceSum", hit, axes, true);
  return [graph.mul(graph.div(hit, ties), expandReduced(ctx, axes)), null];
}

/** Elementwise Max/Min of two inputs: the winner takes the gradient, ties split it. */
function pick(ctx: GradContext, wins: "Greater" | "Less"): (Value | null)[] {
  const { graph, node } = ctx;
  if (node.inputs.length !== 2) {
    throw new UnsupportedError(
      `gradient of ${node.op} with ${node.inputs.length} inputs (only 2 are supported)`,
    );
  }
  const [a, b] = node.inputs as Value[];
  const g = ctx.outGrads[0]!;
  const half = graph.mul(g, 0.5);
  const zero = graph.constant(0, { dtype: g.dtype });
  const tie = graph.equal(a, b);
  const aWins = graph.op(wins, [a, b]);
  const ga = graph.where(aWins, g, graph.where(tie, half, zero));
  const gb = graph.where(aWins, zero, graph.where(tie, half, g));
  return [
    ctx.needed[0] ? unbroadcast(graph, ga, a.shape) : null,
    ctx.needed[1] ? unbroadcast(graph, gb, b.shape) : null,
  ];
}

function matmulGrad(ctx: GradContext): (Value | null)[] {
  const { graph, node } = ctx;
  const [a, b] = node.inputs as Value[];
  const g = ctx.outGrads[0]!;
  let ga: Value | null = null;
  let gb: Value | null = null;
  if (ctx.needed[0]) ga = unbroadcast(graph, graph.matmul(g, transposeLast(graph, b)), a.shape);
  if (ctx.needed[1]) {
    const k = a.shape[a.shape.length - 1];
    const n = g.shape[g.shape.length - 1];
    if (
      b.shape.length === 2 &&
      a.shape.length > 2 &&
      typeof k === "number" &&
      typeof n === "number"
    ) {
      // x [..., K] · W [K, N]: dW = Σ over all rows of xᵀ·g, as one 2-D product.
      const a2 = graph.reshape(a, [-1, k]);
      const g2 = graph.reshape(g, [-1, n]);
      gb = graph.gemm(a2, g2, null, { transA: 1 });
    } else {
      gb = unbroadcast(graph, graph.matmul(transposeLast(graph, a), g), b.shape);
    }
  }
  return [ga, gb];
}

function gemmGrad(ctx: GradContext): (Value | null)[] {
  const { graph, node } = ctx;
  const [a, b, c] = node.inputs;
  const g = ctx.outGrads[0]!;
  const alpha = (node.attrs.alpha as number | undefined) ?? 1;
  const beta = (node.attrs.beta as number | undefined) ?? 1;
  const tA = ((node.attrs.transA as number | undefined) ?? 0) as 0 | 1;
  const tB = ((node.attrs.transB as number | undefined) ?? 0) as 0 | 1;
  const flip = (t: 0 | 1): 0 | 1 => (t ? 0 : 1);
  // Y = α·A'·B' with A' = tA ? Aᵀ : A and B' = tB ? Bᵀ : B.
  const ga = !ctx.needed[0]
    ? null
    : tA
      ? graph.gemm(b!, g, null, { alpha, transA: tB, transB: 1 }) // dA = B'·gᵀ
      : graph.gemm(g, b!, null, { alpha, transB: flip(tB) }); // dA = g·B'ᵀ
  const gb = !ctx.needed[1]
    ? null
    : tB
      ? graph.gemm(g, a!, null, { alpha, transA: 1, transB: tA }) // dB = gᵀ·A'
      : graph.gemm(a!, g, null, { alpha, transA: flip(tA) }); // dB = A'ᵀ·g
  const gc =
    c && ctx.needed[2] ? unbroadcast(graph, beta === 1 ? g : graph.mul(g, beta), c.shape) : null;
  return [ga, gb, gc];
}

function layerNormGrad(ctx: GradContext): (Value | null)[] {
  const { graph, node } = ctx;
  const [x, scale, bias] = node.inputs;
  const g = ctx.outGrads[0]!;
  const rank = x!.shape.length;
  const axis = normAxis((node.attrs.axis as number | undefined) ?? -1, rank);
  const eps = (node.attrs.epsilon as number | undefined) ?? 1e-5;
  const normAxes = Array.from({ length: rank - axis }, (_, i) => axis + i);
  const leadAxes = Array.from({ length: axis }, (_, i) => i);
  const mean = graph.reduce("ReduceMean", x!, normAxes, true);
  const xc = graph.sub(x!, mean);
  const variance = graph.reduce("ReduceMean", graph.mul(xc, xc), normAxes, true);
  const rstd = graph.unary("Reciprocal", graph.unary("Sqrt", graph.add(variance, eps)));
  const xhat = graph.mul(xc, rstd);
  const sumLead = (v: Value) =>
    leadAxes.length > 0 ? graph.reduce("ReduceSum", v, leadAxes, false) : v;
  let gx: Value | null = null;
  if (ctx.needed[0]) {
    const dxhat = graph.mul(g, scale!);
    const m1 = graph.reduce("ReduceMean", dxhat, normAxes, true);
    const m2 = graph.reduce("ReduceMean", graph.mul(dxhat, xhat), normAxes, true);
    gx = graph.mul(rstd, graph.sub(graph.sub(dxhat, m1), graph.mul(xhat, m2)));
  }
  const gs = ctx.needed[1] ? sumLead(graph.mul(g, xhat)) : null;
  const gbias = bias && ctx.needed[2] ? sumLead(g) : null;
  return [gx, gs, gbias];
}

function gatherGrad(ctx: GradContext): (Value | null)[] {
  const { graph, node } = ctx;
  const [data, indices] = node.inputs as Value[];
  const g = ctx.outGrads[0]!;
  const rank = data.shape.length;
  const axis = normAxis((node.attrs.axis as number | undefined) ?? 0, rank);
  if (!ctx.needed[0]) return [null, null];
  const idx = graph.unsqueeze(graph.cast(indices, "int64"), [indices.shape.length]);
  if (axis === 0) {
    return [graph.op("ScatterND", [zerosLike(graph, data), idx, g], { reduction: "add" }), null];
  }
  // Move the gathered axis to the front, scatter, move it back.
  const q = indices.shape.length;
  const permData = [axis, ...Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis)];
  const gPerm = [
    ...Array.from({ length: q }, (_, i) => axis + i),
    ...Array.from({ length: axis }, (_, i) => i),
    ...Array.from({ length: rank - axis - 1 }, (_, i) => axis + q + i),
  ];
  const dataT = graph.transpose(data, permData);
  const scattered = graph.op(
    "ScatterND",
    [zerosLike(graph, dataT), idx, graph.transpose(g, gPerm)],
    {
      reduction: "add",
    },
  );
  const inverse = permData.map((_, i) => permData.indexOf(i));
  return [graph.transpose(scattered, inverse), null];
}

/**
 * Slice along one axis (step 1): the gradient is `g` written into zeros of the input's shape
 * at rows begin..begin+len of that axis (ScatterND on the axis moved to the front).
 */
function sliceGrad(ctx: GradContext): (Value | null)[] {
  const { graph, node } = ctx;
  const [x, starts, , axesV, stepsV] = node.inputs as [
    Value,
    Value,
    Value,
    Value | null,
    Value | null,
  ];
  const g = ctx.outGrads[0]!;
  const rank = x.shape.length;
  const s = starts.known!;
  const axes = axesV ? knownAxes(axesV, rank, "Slice") : s.map((_, i) => i);
  const steps = stepsV?.known ?? s.map(() => 1);
  if (axes.length !== 1 || steps[0] !== 1) {
    throw new UnsupportedError(
      `gradient of Slice over ${axes.length} axes with steps [${steps.join(", ")}]: only one axis with step 1 is supported`,
    );
  }
  const ax = axes[0];
  const start = s[0];
  if (typeof start !== "number")
    throw new UnsupportedError("gradient of Slice with a symbolic start");
  const dim = x.shape[ax];
  let begin: Value;
  if (start >= 0) begin = graph.ints(typeof dim === "number" ? Math.min(start, dim) : start);
  else if (typeof dim === "number") begin = graph.ints(Math.max(dim + start, 0));
  else {
    const d = graph.squeeze(graph.shapeOf(x, ax, ax + 1), [0]);
    begin = graph.max(graph.add(d, graph.ints(start)), graph.ints(0));
  }
  const len = graph.squeeze(graph.shapeOf(g, ax, ax + 1), [0]);
  const rows = graph.unsqueeze(graph.range(begin, graph.add(begin, len), graph.ints(1)), [1]);
  const perm = [ax, ...Array.from({ length: rank }, (_, i) => i).filter((i) => i !== ax)];
  const inverse = perm.map((_, i) => perm.indexOf(i));
  const front = (v: Value) => (ax === 0 ? v : graph.transpose(v, perm));
  const scattered = graph.op("ScatterND", [zerosLike(graph, front(x)), rows, front(g)]);
  return [ax === 0 ? scattered : graph.transpose(scattered, inverse), null, null, null, null];
}

function concatGrad(ctx: GradContext): (Value | null)[] {
  const { graph, node } = ctx;
  const xs = node.inputs as Value[];
  const g = ctx.outGrads[0]!;
  const axis = normAxis(node.attrs.axis as number, g.shape.length);
  const sizes = xs.map((x) => x.shape[axis]);
  if (sizes.every((d): d is number => typeof d === "number")) {
    const parts = graph.split(g, sizes, axis);
    return parts.map((p, i) => (ctx.needed[i] ? p : null));
  }
  // Symbolic sizes: peel one input at a time off the front.
  const out: (Value | null)[] = [];
  let rest = g;
  xs.forEach((x, i) => {
    const len = graph.shapeOf(x, axis, axis + 1);
    if (ctx.needed[i]) out.push(reshapeLike(graph, graph.slice(rest, [0], len, [axis]), x));
    else out.push(null);
    if (i < xs.length - 1) rest = graph.slice(rest, len, [INT64_MAX], [axis]);
  });
  return out;
}

const g0 = (ctx: GradContext) => ctx.outGrads[0]!;
const in0 = (ctx: GradContext) => ctx.node.inputs[0]!;
const out0 = (ctx: GradContext) => ctx.node.outputs[0];

export const GRADIENT_RULES: Partial<Record<OpType, GradRule>> = {
  Identity: (ctx) => [g0(ctx)],
  Add: ({ graph, node, outGrads, needed }) => {
    const [a, b] = node.inputs as Value[];
    return [
      needed[0] ? unbroadcast(graph, outGrads[0]!, a.shape) : null,
      needed[1] ? unbroadcast(graph, outGrads[0]!, b.shape) : null,
    ];
  },
  Sub: ({ graph, node, outGrads, needed }) => {
    const [a, b] = node.inputs as Value[];
    return [
      needed[0] ? unbroadcast(graph, outGrads[0]!, a.shape) : null,
      needed[1] ? unbroadcast(graph, graph.unary("Neg", outGrads[0]!), b.shape) : null,
    ];
  },
  Mul: ({ graph, node, outGrads, needed }) => {
    const [a, b] = node.inputs as Value[];
    const g = outGrads[0]!;
    return [
      needed[0] ? unbroadcast(graph, graph.mul(g, b), a.shape) : null,
      needed[1] ? unbroadcast(graph, graph.mul(g, a), b.shape) : null,
    ];
  },
  Div: ({ graph, node, outGrads, needed }) => {
    const [a, b] = node.inputs as Value[];
    const g = outGrads[0]!;
    return [
      needed[0] ? unbroadcast(graph, graph.div(g, b), a.shape) : null,
      needed[1]
        ? unbroadcast(
            graph,
            graph.unary("Neg", graph.div(graph.mul(g, node.outputs[0]), b)),
            b.shape,
          )
        : null,
    ];
  },
  Pow: ({ graph, node, outGrads, needed }) => {
    const [a, p] = node.inputs as Value[];
    const g = outGrads[0]!;
    const pf = graph.cast(p, a.dtype);
    // d/da a^p = p·a^(p-1); d/dp a^p = a^p·ln a
    return [
      needed[0]
        ? unbroadcast(graph, graph.mul(g, graph.mul(pf, graph.pow(a, graph.sub(pf, 1)))), a.shape)
        : null,
      needed[1]
        ? unbroadcast(
            graph,
            graph.mul(g, graph.mul(node.outputs[0], graph.unary("Log", a))),
            p.shape,
          )
        : null,
    ];
  },
  Neg: (ctx) => [ctx.graph.unary("Neg", g0(ctx))],
  Sqrt: (ctx) => [ctx.graph.div(ctx.graph.mul(g0(ctx), 0.5), out0(ctx))],
  Reciprocal: (ctx) => [
    ctx.graph.unary("Neg", ctx.graph.mul(g0(ctx), ctx.graph.mul(out0(ctx), out0(ctx)))),
  ],
  Erf: ({ graph, node, outGrads }) => {
    const x = node.inputs[0]!;
    const dErf = graph.mul(
      graph.unary("Exp", graph.unary("Neg", graph.mul(x, x))),
      2 / Math.sqrt(Math.PI),
    );
    return [graph.mul(outGrads[0]!, dErf)];
  },
  Tanh: ({ graph, node, outGrads }) => {
    const y = node.outputs[0];
    return [graph.mul(outGrads[0]!, graph.sub(1, graph.mul(y, y)))];
  },
  Sigmoid: ({ graph, node, outGrads }) => {
    const y = node.outputs[0];
    return [graph.mul(outGrads[0]!, graph.mul(y, graph.sub(1, y)))];
  },
  Exp: (ctx) => [ctx.graph.mul(g0(ctx), out0(ctx))],
  Log: (ctx) => [ctx.graph.div(g0(ctx), in0(ctx))],
  Cos: (ctx) => [ctx.graph.unary("Neg", ctx.graph.mul(g0(ctx), ctx.graph.unary("Sin", in0(ctx))))],
  Sin: (ctx) => [ctx.graph.mul(g0(ctx), ctx.graph.unary("Cos", in0(ctx)))],
  Relu: ({ graph, node, outGrads }) => [
    graph.where(
      graph.op("Greater", [node.inputs[0]!, graph.constant(0, { dtype: node.inputs[0]!.dtype })]),
      outGrads[0]!,
      0,
    ),
  ],
  Abs: ({ graph, node, outGrads }) => {
    const x = node.inputs[0]!;
    const g = outGrads[0]!;
    const zero = graph.constant(0, { dtype: x.dtype });
    return [
      graph.where(
        graph.less(x, zero),
        graph.unary("Neg", g),
        graph.where(graph.equal(x, zero), 0, g),
      ),
    ];
  },
  Max: (ctx) => pick(ctx, "Greater"),
  Min: (ctx) => pick(ctx, "Less"),
  Softmax: ({ graph, node, outGrads }) => {
    const y = node.outputs[0];
    const g = outGrads[0]!;
    const axis = node.attrs.axis as number;
    const dot = graph.reduce("ReduceSum", graph.mul(g, y), [axis], true);
    return [graph.mul(y, graph.sub(g, dot))];
  },
  LogSoftmax: ({ graph, node, outGrads }) => {
    const y = node.outputs[0];
    const g = outGrads[0]!;
    const axis = node.attrs.axis as number;
    const sum = graph.reduce("ReduceSum", g, [axis], true);
    return [graph.sub(g, graph.mul(graph.unary("Exp", y), sum))];
  },
  LayerNormalization: layerNormGrad,
  MatMul: matmulGrad,
  Gemm: gemmGrad,
  Gather: gatherGrad,
  Reshape: ({ graph, node, outGrads }) => [
    graph.reshape(outGrads[0]!, graph.shapeOf(node.inputs[0]!)),
    null,
  ],
  Transpose: ({ graph, node, outGrads }) => {
    const x = node.inputs[0]!;
    const perm =
      (node.attrs.perm as number[] | undefined) ?? x.shape.map((_, i) => x.shape.length - 1 - i);
    return [
      graph.transpose(
        outGrads[0]!,
        perm.map((_, i) => perm.indexOf(i)),
      ),
    ];
  },
  Concat: concatGrad,
  Split: ({ graph, node, outGrads }) => {
    const axis = (node.attrs.axis as number | undefined) ?? 0;
    const parts = node.outputs.map((o, i) => outGrads[i] ?? zerosLike(graph, o));
    return [graph.concat(parts, axis), null];
  },
  Slice: sliceGrad,
  Unsqueeze: ({ graph, node, outGrads }) => {
    const axes = knownAxes(node.inputs[1], node.outputs[0].shape.length, "Unsqueeze");
    return [graph.squeeze(outGrads[0]!, axes), null];
  },
  Squeeze: ({ graph, node, outGrads }) => {
    const axes = knownAxes(node.inputs[1], node.inputs[0]!.shape.length, "Squeeze");
    return [graph.unsqueeze(outGrads[0]!, axes), null];
  },
  Expand: ({ graph, node, outGrads }) => [
    unbroadcast(graph, outGrads[0]!, node.inputs[0]!.shape),
    null,
  ],
  Cast: ({ graph, node, outGrads }) => {
    const x = node.inputs[0]!;
    return [
      x.dtype === "float32" || x.dtype === "float16" ? graph.cast(outGrads[0]!, x.dtype) : null,
    ];
  },
  Where: ({ graph, node, outGrads, needed }) => {
    const [c, x, y] = node.inputs as Value[];
    const g = outGrads[0]!;
    const zero = graph.constant(0, { dtype: g.dtype });
    return [
      null,
      needed[1] ? unbroadcast(graph, graph.where(c, g, zero), x.shape) : null,
      needed[2] ? unbroadcast(graph, graph.where(c, zero, g), y.shape) : null,
    ];
  },
  ReduceSum: (ctx) => [expandReduced(ctx, reduceAxes(ctx.node)), null],
  ReduceMean: (ctx) => {
    const axes = reduceAxes(ctx.node);
    const x = ctx.node.inputs[0]!;
    return [ctx.graph.div(expandReduced(ctx, axes), reducedCount(ctx.graph, x, axes)), null];
  },
  ReduceMax: extremum,
};

/** A Gather on axis 0 with a static row shape: a row lookup into `table`. */
export function rowLookup(node: Node): { table: Value; indices: Value } | null {
  if (node.op !== "Gather") return null;
  const [table, indices] = node.inputs as Value[];
  const axis = normAxis((node.attrs.axis as number | undefined) ?? 0, table.shape.length);
  if (axis !== 0 || !table.shape.slice(1).every((d) => typeof d === "number")) return null;
  return { table, indices };
}

/**
 * The gradient of `table` from all its row lookups: one ScatterND (reduction "add") of every
 * lookup's upstream gradient, flattened to rows, into zeros of the table's shape.
 */
export function scatterRows(
  graph: Graph,
  table: Value,
  lookups: readonly { indices: Value; updates: Value }[],
): Value {
  const rowShape = table.shape.slice(1) as number[];
  const idx = lookups.map((l) => graph.reshape(graph.cast(l.indices, "int64"), [-1, 1]));
  const upd = lookups.map((l) => graph.reshape(l.updates, [-1, ...rowShape]));
  return graph.op(
    "ScatterND",
    [
      zerosLike(graph, table),
      idx.length === 1 ? idx[0] : graph.concat(idx, 0),
      upd.length === 1 ? upd[0] : graph.concat(upd, 0),
    ],
    { reduction: "add" },
  );
}

/** A pattern of several nodes with one input and one gradient rule for the whole. */
export interface Composite {
  readonly input: Value;
  /** d loss / d input, given the upstream gradient of the pattern's output. */
  gradient(graph: Graph, upstream: Value): Value;
}

/** A float scalar constant's value (null if `v` is not one). */
function scalarConstant(v: Value | null): number | null {
  if (v?.source?.kind !== "data" || v.source.data.length !== 1) return null;
  const d = v.source.data;
  return d instanceof Float32Array ? d[0] : null;
}

/** The operand of a commutative binary `node` that is not the constant `c` (within float32). */
function otherThanConstant(node: Node | null, op: OpType, c: number): Value | null {
  if (!node || node.op !== op || node.inputs.length !== 2) return null;
  const [a, b] = node.inputs as Value[];
  const near = (x: number | null) => x !== null && Math.abs(x - c) <= 1e-6 * Math.abs(c);
  if (near(scalarConstant(b))) return a;
  if (op !== "Div" && near(scalarConstant(a))) return b;
  return null;
}

/**
 * The pattern whose output is `node`'s output, if any. Only patterns whose inner values are
 * used once (by the pattern itself) match, so no other gradient path runs through them.
 */
export function matchComposite(node: Node, uses: (v: Value) => number): Composite | null {
  // Exact GELU: y = Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5), any operand order.
  const xa = otherThanConstant(node, "Mul", 0.5);
  if (xa?.kind !== "node" || uses(xa) !== 1) return null;
  const mul = xa.producer!;
  if (mul.op !== "Mul") return null;
  for (const k of [0, 1]) {
    const x = mul.inputs[k]!;
    const a = mul.inputs[1 - k]!;
    if (a.kind !== "node" || uses(a) !== 1) continue;
    const e = otherThanConstant(a.producer, "Add", 1);
    if (e?.kind !== "node" || uses(e) !== 1 || e.producer!.op !== "Erf") continue;
    const u = e.producer!.inputs[0]!;
    if (u.kind !== "node" || uses(u) !== 1) continue;
    if (otherThanConstant(u.producer, "Div", Math.SQRT2) !== x) continue;
    return { input: x, gradient: (graph, g) => geluGradient(graph, x, g) };
  }
  return null;
}

/**
 * d GELU(x)/dx = Φ(x) + x·φ(x) = 0.5·(1 + erf(x/√2)) + x·exp(−x²/2)/√(2π), recomputed from x
 * (keeping x's erf from the forward pass would keep three more activation-sized tensors alive
 * until the backward pass). The 1/√(2π) rides inside the exponential: exp(ln(1/√(2π)) − x²/2).
 */
function geluGradient(graph: Graph, x: Value, g: Value): Value {
  const u = graph.mul(x, Math.SQRT1_2);
  const cdf = graph.mul(graph.add(graph.unary("Erf", u), 1), 0.5);
  const pdf = graph.unary("Exp", graph.sub(-0.5 * Math.log(2 * Math.PI), graph.mul(u, u)));
  return graph.mul(g, graph.add(cdf, graph.mul(x, pdf)));
}
