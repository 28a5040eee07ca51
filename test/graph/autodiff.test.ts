/**
 * Gradient checks: for every op with a gradient rule, the gradient computed by the backward
 * graph (run by onnxruntime) equals central finite differences of the same graph's loss.
 *
 * loss = Σ f(x)·R with a fixed random R, so every output element matters. Central
 * differences in float32 with step h = 1e-2: truncation error ~h²·f''' ≈ 1e-4 and rounding
 * error ~1e-7·|loss|/h ≈ 1e-5 here, so the stated tolerance is abs 2e-3 + rel 1e-2 of
 * max|grad|. Inputs of ops with kinks (Relu, Abs, Max, Min, ReduceMax) are kept > 0.05 away
 * from the kink so the finite difference never straddles it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { gradients } from "../../src/graph/autodiff.js";
import { Graph, type Value } from "../../src/graph/ir.js";
import { GraphSession } from "../../src/graph/session.js";
import { attention, linear } from "../../src/models/backbones/common.js";
import { InvalidArgumentError, UnsupportedError } from "../../src/util/errors.js";
import { mulberry32 } from "../../src/util/random.js";

const H = 1e-2;
const ABS_TOL = 2e-3;
const REL_TOL = 1e-2;

interface InputSpec {
  shape: number[];
  /** Symbolic graph shape (default: `shape`). */
  graphShape?: (number | string)[];
  /** Value generator (default uniform in [-1, 1]). */
  gen?: (r: () => number) => number;
}

const uniform = (r: () => number) => r() * 2 - 1;
/** Away from 0: |x| in [0.3, 1]. */
const awayFromZero = (r: () => number) => (r() < 0.5 ? -1 : 1) * (0.3 + 0.7 * r());
const positive = (r: () => number) => 0.5 + r();

async function checkGradient(
  name: string,
  specs: InputSpec[],
  build: (g: Graph, xs: Value[]) => Value,
  extraFeeds: Record<string, { data: BigInt64Array; dims: number[] }> = {},
  setup?: (g: Graph) => void,
): Promise<void> {
  const r = mulberry32(name.length * 7919 + 17);
  const g = new Graph("check");
  setup?.(g);
  const xs = specs.map((s, i) => g.input(`x${i}`, "float32", s.graphShape ?? s.shape));
  const y = build(g, xs);
  const n = y.shape.reduce<number>((a, d) => a * (d as number), 1);
  if (!y.shape.every((d) => typeof d === "number")) {
    throw new Error(`${name}: test outputs must have static shapes, got [${y.shape.join(", ")}]`);
  }
  const weights = g.constant(
    Float32Array.from({ length: n }, () => uniform(r)),
    {
      shape: y.shape as number[],
    },
  );
  const loss = g.reduce(
    "ReduceSum",
    g.mul(y, weights),
    y.shape.map((_, i) => i),
    false,
  );
  const grads = gradients(g, loss, xs);
  g.output(loss, "loss");
  for (const [i, gr] of grads.entries()) g.output(gr, `grad${i}`);
  const session = await GraphSession.create(g, { threads: 1 });
  try {
    const data = specs.map((s) =>
      Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () =>
        (s.gen ?? uniform)(r),
      ),
    );
    const feeds = () => {
      const f: Record<string, { data: Float32Array | BigInt64Array; dims: number[] }> = {
        ...extraFeeds,
      };
      specs.forEach((s, i) => {
        f[`x${i}`] = { data: data[i], dims: s.shape };
      });
      return f;
    };
    const out = await session.run(feeds());
    for (let i = 0; i < specs.length; i++) {
      const analytic = out[`grad${i}`].data as Float32Array;
      assert.deepEqual(
        out[`grad${i}`].dims,
        specs[i].shape,
        `${name}: gradient ${i} has the input's shape`,
      );
      const numeric = new Float32Array(analytic.length);
      for (let j = 0; j < data[i].length; j++) {
        const keep = data[i][j];
        data[i][j] = keep + H;
        const plus = (await session.run(feeds())).loss.data[0] as number;
        data[i][j] = keep - H;
        const minus = (await session.run(feeds())).loss.data[0] as number;
        data[i][j] = keep;
        numeric[j] = (plus - minus) / (2 * H);
      }
      let scale = 0;
      let worst = 0;
      for (let j = 0; j < numeric.length; j++) scale = Math.max(scale, Math.abs(numeric[j]));
      for (let j = 0; j < numeric.length; j++)
        worst = Math.max(worst, Math.abs(numeric[j] - analytic[j]));
      const tol = ABS_TOL + REL_TOL * scale;
      assert.ok(
        worst <= tol,
        `${name}: input ${i} maxdiff ${worst} > ${tol}; analytic [${Array.from(analytic.slice(0, 5))}] numeric [${Array.from(numeric.slice(0, 5))}]`,
      );
    }
  } finally {
    await session.dispose();
  }
}

/** Exact GELU exactly as models/backbones/common.ts `activation()` writes it. */
const gelu = (g: Graph, x: Value): Value =>
  g.mul(g.mul(x, g.add(g.unary("Erf", g.div(x, Math.SQRT2)), 1)), 0.5);

const cases: [string, InputSpec[], (g: Graph, xs: Value[]) => Value][] = [
  ["Add (broadcast)", [{ shape: [2, 3] }, { shape: [3] }], (g, [a, b]) => g.add(a, b)],
  [
    "Sub (broadcast both ways)",
    [{ shape: [2, 1, 3] }, { shape: [4, 1] }],
    (g, [a, b]) => g.sub(a, b),
  ],
  ["Mul (broadcast)", [{ shape: [2, 3] }, { shape: [2, 1] }], (g, [a, b]) => g.mul(a, b)],
  ["Div", [{ shape: [2, 3] }, { shape: [3], gen: positive }], (g, [a, b]) => g.div(a, b)],
  ["Pow (constant exponent)", [{ shape: [5], gen: positive }], (g, [a]) => g.pow(a, 3)],
  [
    "Pow (both inputs)",
    [
      { shape: [4], gen: positive },
      { shape: [4], gen: positive },
    ],
    (g, [a, b]) => g.pow(a, b),
  ],
  ["Neg", [{ shape: [4] }], (g, [a]) => g.unary("Neg", a)],
  ["Sqrt", [{ shape: [4], gen: positive }], (g, [a]) => g.unary("Sqrt", a)],
  ["Reciprocal", [{ shape: [4], gen: positive }], (g, [a]) => g.unary("Reciprocal", a)],
  ["Erf", [{ shape: [6] }], (g, [a]) => g.unary("Erf", a)],
  ["Tanh", [{ shape: [6] }], (g, [a]) => g.unary("Tanh", a)],
  ["Sigmoid", [{ shape: [6] }], (g, [a]) => g.unary("Sigmoid", a)],
  ["Exp", [{ shape: [6] }], (g, [a]) => g.unary("Exp", a)],
  ["Log", [{ shape: [6], gen: positive }], (g, [a]) => g.unary("Log", a)],
  ["Cos", [{ shape: [6] }], (g, [a]) => g.unary("Cos", a)],
  ["Sin", [{ shape: [6] }], (g, [a]) => g.unary("Sin", a)],
  ["Relu", [{ shape: [6], gen: awayFromZero }], (g, [a]) => g.unary("Relu", a)],
  ["Abs", [{ shape: [6], gen: awayFromZero }], (g, [a]) => g.unary("Abs", a)],
  [
    "Max (elementwise, with a constant)",
    [{ shape: [6], gen: awayFromZero }],
    (g, [a]) => g.max(a, 0),
  ],
  [
    "Min (elementwise, two inputs)",
    [
      { shape: [6], gen: awayFromZero },
      { shape: [6], gen: (r) => 0.1 * (r() - 0.5) },
    ],
    (g, [a, b]) => g.op("Min", [a, b]),
  ],
  ["Softmax", [{ shape: [2, 5] }], (g, [a]) => g.softmax(a, -1)],
  [
    "LogSoftmax (axis 1 of 3)",
    [{ shape: [2, 3, 2] }],
    (g, [a]) => g.op("LogSoftmax", [a], { axis: 1 }),
  ],
  [
    "LayerNormalization (scale + bias)",
    [{ shape: [2, 3, 4] }, { shape: [4] }, { shape: [4] }],
    (g, [x, s, b]) => g.layerNorm(x, s, b, 1e-5),
  ],
  [
    "LayerNormalization (no bias)",
    [{ shape: [3, 4] }, { shape: [4] }],
    (g, [x, s]) => g.layerNorm(x, s, null, 1e-12),
  ],
  [
    "MatMul (activations × 2-D weight)",
    [{ shape: [2, 3, 4] }, { shape: [4, 5] }],
    (g, [a, b]) => g.matmul(a, b),
  ],
  ["MatMul (batched)", [{ shape: [2, 3, 4] }, { shape: [2, 4, 2] }], (g, [a, b]) => g.matmul(a, b)],
  [
    "MatMul (broadcast batch)",
    [{ shape: [1, 3, 4] }, { shape: [2, 4, 2] }],
    (g, [a, b]) => g.matmul(a, b),
  ],
  [
    "Gemm (transA, C broadcast)",
    [{ shape: [4, 3] }, { shape: [4, 2] }, { shape: [2] }],
    (g, [a, b, c]) => g.gemm(a, b, c, { transA: 1, alpha: 0.5, beta: 2 }),
  ],
  [
    "Gemm (transB)",
    [{ shape: [3, 4] }, { shape: [2, 4] }],
    (g, [a, b]) => g.gemm(a, b, null, { transB: 1 }),
  ],
  [
    "Gemm (transA + transB)",
    [{ shape: [4, 3] }, { shape: [2, 4] }],
    (g, [a, b]) => g.gemm(a, b, null, { transA: 1, transB: 1 }),
  ],
  [
    "Gather axis 0 (repeated ids: scatter-add)",
    [{ shape: [5, 3] }],
    (g, [t]) =>
      g.gather(t, g.constant(BigInt64Array.from([1n, 3n, 1n, 0n, 1n, 4n]), { shape: [2, 3] })),
  ],
  [
    "Gather axis 1",
    [{ shape: [2, 4, 3] }],
    (g, [t]) => g.gather(t, g.constant(BigInt64Array.from([3n, 0n, 3n]), { shape: [3] }), 1),
  ],
  ["Reshape", [{ shape: [2, 6] }], (g, [a]) => g.reshape(a, [3, -1])],
  ["Transpose", [{ shape: [2, 3, 4] }], (g, [a]) => g.transpose(a, [2, 0, 1])],
  [
    "Concat (static)",
    [{ shape: [2, 1] }, { shape: [2, 3] }],
    (g, [a, b]) => g.concat([a, b, a], 1),
  ],
  [
    "Split",
    [{ shape: [2, 5] }],
    (g, [a]) => {
      const [p, , q] = g.split(a, [2, 1, 2], 1);
      return g.mul(p, q);
    },
  ],
  ["Slice (negative start)", [{ shape: [6, 2] }], (g, [a]) => g.slice(a, [-4], [-1], [0])],
  ["Slice (axis 1)", [{ shape: [2, 6] }], (g, [a]) => g.slice(a, [1], [4], [1])],
  [
    "Unsqueeze + Squeeze",
    [{ shape: [3, 2] }],
    (g, [a]) => g.squeeze(g.mul(g.unsqueeze(a, [0, 2]), 2), [0]),
  ],
  ["Expand", [{ shape: [3, 1] }], (g, [a]) => g.expand(a, g.ints([2, 3, 4]))],
  [
    "Where",
    [{ shape: [2, 3] }, { shape: [3] }],
    (g, [a, b]) =>
      g.where(g.constant(Uint8Array.from([1, 0, 1, 0, 0, 1]), { shape: [2, 3] }), a, b),
  ],
  [
    "ReduceSum (keepdims 0)",
    [{ shape: [2, 3, 4] }],
    (g, [a]) => g.reduce("ReduceSum", a, [0, 2], false),
  ],
  [
    "ReduceMean (keepdims 1)",
    [{ shape: [2, 3, 4] }],
    (g, [a]) => g.reduce("ReduceMean", a, [1], true),
  ],
  // Distinct values far apart so that the arg-max does not move within ±h.
  [
    "ReduceMax",
    [{ shape: [3, 4], gen: (r) => Math.round(r() * 40) * 0.05 }],
    (g, [a]) => g.reduce("ReduceMax", a, [-1], false),
  ],
  [
    "Gather axis 0 twice from one table (one merged scatter-add), plus a dense use",
    [{ shape: [5, 3] }],
    (g, [t]) => {
      const a = g.gather(t, g.constant(BigInt64Array.from([1n, 3n, 1n, 0n]), { shape: [2, 2] }));
      const b = g.gather(t, g.constant(BigInt64Array.from([4n, 1n, 1n]), { shape: [3] }));
      return g.add(
        g.reduce("ReduceSum", a, [0], false),
        g.add(g.slice(b, [0], [2], [0]), g.slice(t, [0], [2], [0])),
      );
    },
  ],
  [
    "GELU (exact: the composite rule)",
    [{ shape: [3, 5], gen: (r) => 6 * r() - 3 }],
    (g, [x]) => gelu(g, x),
  ],
  [
    "GELU whose input is used again (residual) and whose erf is used again (no composite)",
    [{ shape: [2, 4], gen: (r) => 4 * r() - 2 }],
    (g, [x]) => {
      const e = g.unary("Erf", g.div(x, Math.SQRT2));
      const y = g.mul(g.mul(x, g.add(e, 1)), 0.5);
      return g.add(g.add(y, g.mul(x, 2)), e);
    },
  ],
  [
    "attention block (linear, softmax attention, GELU, LayerNorm)",
    [{ shape: [1, 3, 4] }, { shape: [4, 4] }, { shape: [4] }, { shape: [4] }],
    (g, [x, w, b, s]) => {
      const q = g.transpose(g.reshape(linear(g, x, w, b), [0, 0, 2, 2]), [0, 2, 1, 3]);
      const mask = g.constant(Float32Array.from([0, 0, -3.4028234663852886e38]), {
        shape: [1, 1, 1, 3],
      });
      const ctx = attention(g, q, q, q, mask, 2);
      const e = g.unary("Erf", g.div(ctx, Math.SQRT2));
      return g.layerNorm(g.mul(g.mul(ctx, g.add(e, 1)), 0.5), s, null, 1e-12);
    },
  ],
];

for (const [name, specs, build] of cases) {
  test(`gradient check: ${name}`, async () => {
    await checkGradient(name, specs, build);
  });
}

test("gradient check: symbolic shapes (BERT's position-table slice, symbolic Concat)", async () => {
  const ids = { data: new BigInt64Array(2 * 3), dims: [2, 3] };
  // Slice the first `seq` rows of a table, as bert.ts does for positions.
  await checkGradient(
    "Slice to a symbolic length",
    [{ shape: [5, 2] }],
    (g, [table]) => {
      const input = g.inputs.find((v) => v.name === "ids")!;
      const rows = g.slice(table, [0], g.shapeOf(input, 1, 2), [0]);
      return g.reshape(
        g.add(g.unsqueeze(rows, [0]), g.constant(new Float32Array(2), { shape: [2, 1, 1] })),
        [2, 3, 2],
      );
    },
    { ids },
    (g) => g.input("ids", "int64", ["batch", "seq"]),
  );
  await checkGradient(
    "Concat of symbolic lengths",
    [
      { shape: [2, 3], graphShape: ["n", 3] },
      { shape: [1, 3], graphShape: ["m", 3] },
    ],
    (g, [a, b]) => g.reshape(g.concat([a, b, a], 0), [5, 3]),
  );
});

test("gradients: a value the loss does not depend on gets zeros", async () => {
  const g = new Graph();
  const x = g.input("x", "float32", [3]);
  const unused = g.input("u", "float32", [2]);
  const loss = g.reduce("ReduceSum", g.mul(x, x), [0], false);
  const [gx, gu] = gradients(g, loss, [x, unused]);
  g.output(gx, "gx");
  g.output(gu, "gu");
  const s = await GraphSession.create(g, { threads: 1 });
  const out = await s.run({
    x: { data: Float32Array.from([1, 2, 3]), dims: [3] },
    u: { data: Float32Array.from([5, 6]), dims: [2] },
  });
  assert.deepEqual(Array.from(out.gx.data as Float32Array), [2, 4, 6]);
  assert.deepEqual(Array.from(out.gu.data as Float32Array), [0, 0]);
  await s.dispose();
});

test("gradients: bad input is rejected with a clear error", () => {
  const g = new Graph();
  const x = g.input("x", "float32", [3]);
  assert.throws(
    () => gradients(g, x, [x]),
    (e: unknown) => e instanceof InvalidArgumentError && /scalar/.test(e.message),
  );
  const ids = g.input("ids", "int64", [3]);
  assert.throws(
    () => gradients(g, g.reduce("ReduceSum", ids, [0], false), [x]),
    InvalidArgumentError,
  );
  // An op without a rule on the gradient path names the op and where to add the rule.
  const c = g.op("CumSum", [x, g.ints(0)]);
  const loss = g.reduce("ReduceSum", c, [0], false);
  assert.throws(
    () => gradients(g, loss, [x]),
    (e: unknown) => e instanceof UnsupportedError && /CumSum/.test(e.message),
  );
});

test("gradients: the backward graph of GELU reads only x (the forward intermediates die)", () => {
  const g = new Graph();
  const x = g.input("x", "float32", [2, 3]);
  const y = gelu(g, x);
  const forwardNodes = g.nodes.length;
  const inner = new Set(g.nodes.flatMap((n) => n.outputs).filter((v) => v !== y));
  gradients(g, g.reduce("ReduceSum", y, [0, 1], false), [x]);
  for (const n of g.nodes.slice(forwardNodes)) {
    for (const v of n.inputs) assert.ok(!v || !inner.has(v), `${n.op} reads ${v?.name}`);
  }
});

test("gradients: lookups of one table from two towers become one ScatterND", () => {
  const g = new Graph();
  const table = g.input("table", "float32", [10, 4]);
  const q = g.gather(table, g.input("q", "int64", ["b", "lq"]));
  const d = g.gather(table, g.input("d", "int64", ["b", "ld"]));
  const loss = g.add(
    g.reduce("ReduceSum", q, [0, 1, 2], false),
    g.reduce("ReduceSum", d, [0, 1, 2], false),
  );
  gradients(g, loss, [table]);
  assert.equal(g.nodes.filter((n) => n.op === "ScatterND").length, 1);
});
