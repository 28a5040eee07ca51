/**
 * Every op the IR knows, serialised to ONNX and run by onnxruntime, against a plain JS
 * reference (abs 1e-5 on O(1) values), plus external weights and input validation.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  type Feed,
  Graph,
  GraphSession,
  type InferenceSessionLike,
  prepareRuntimeModel,
  type Value,
} from "../../src/graph/index.js";
import { WeightStore, writeSafetensors } from "../../src/io/index.js";
import { InvalidArgumentError, ShapeError } from "../../src/util/errors.js";

const TOL = 1e-5;
const tmp = mkdtempSync(join(tmpdir(), "tslate-graph-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Deterministic pseudo-random floats in [-1, 1). */
function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  });
}

async function runOne(build: (g: Graph, x: Value) => Value, x: Float32Array, dims: number[]) {
  const g = new Graph();
  const input = g.input(
    "x",
    "float32",
    dims.map((d, i) => (i === 0 ? "n" : d)),
  );
  g.output(build(g, input), "y");
  const s = await GraphSession.create(g, { threads: 1 });
  try {
    return (await s.run({ x: { data: x, dims } })).y;
  } finally {
    await s.dispose();
  }
}

function close(
  actual: ArrayLike<number | bigint | boolean>,
  expected: ArrayLike<number>,
  what: string,
) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(Number(actual[i]) - expected[i]);
    assert.ok(d <= TOL, `${what}: maxdiff at ${i}: got ${actual[i]}, expected ${expected[i]}`);
  }
}

const X = rand(24, 7); // [2, 3, 4]
const POS = X.map((v) => Math.abs(v) + 0.1);
const erf = (x: number) => {
  // Abramowitz-Stegun 7.1.26 is only 1.5e-7 accurate: good enough for TOL.
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return Math.sign(x) * y;
};

describe("ops through onnxruntime", () => {
  const elementwise: [
    string,
    (g: Graph, x: Value) => Value,
    (v: number) => number,
    Float32Array?,
  ][] = [
    ["Add", (g, x) => g.add(x, 1.5), (v) => v + 1.5],
    ["Sub", (g, x) => g.sub(2, x), (v) => 2 - v],
    ["Mul", (g, x) => g.mul(x, x), (v) => Math.fround(v * v)],
    ["Div", (g, x) => g.div(x, 4), (v) => v / 4],
    ["Pow", (g, x) => g.pow(x, 3), (v) => v ** 3],
    ["Sqrt", (g, x) => g.unary("Sqrt", x), Math.sqrt, POS],
    ["Reciprocal", (g, x) => g.unary("Reciprocal", x), (v) => 1 / v, POS],
    ["Erf", (g, x) => g.unary("Erf", x), erf],
    ["Tanh", (g, x) => g.unary("Tanh", x), Math.tanh],
    ["Sigmoid", (g, x) => g.unary("Sigmoid", x), (v) => 1 / (1 + Math.exp(-v))],
    ["Exp", (g, x) => g.unary("Exp", x), Math.exp],
    ["Log", (g, x) => g.unary("Log", x), Math.log, POS],
    ["Neg", (g, x) => g.unary("Neg", x), (v) => -v],
    ["Abs", (g, x) => g.unary("Abs", x), Math.abs],
    ["Relu", (g, x) => g.unary("Relu", x), (v) => Math.max(v, 0)],
    ["Cos", (g, x) => g.unary("Cos", x), Math.cos],
    ["Sin", (g, x) => g.unary("Sin", x), Math.sin],
    ["Max", (g, x) => g.max(x, 0.25), (v) => Math.max(v, 0.25)],
    ["Min", (g, x) => g.op("Min", [x, g.constant(0.25)]), (v) => Math.min(v, 0.25)],
    ["Where+Less", (g, x) => g.where(g.less(x, 0), 0, x), (v) => Math.max(v, 0)],
    [
      "Where+Equal+Cast",
      (g, x) => g.cast(g.equal(g.cast(g.mul(x, 0), "int64"), 0), "float32"),
      () => 1,
    ],
    ["Identity", (g, x) => g.op("Identity", [x]), (v) => v],
  ];
  for (const [name, build, ref, input] of elementwise) {
    test(name, async () => {
      const x = input ?? X;
      const y = await runOne(build, x, [2, 3, 4]);
      assert.deepEqual(y.dims, [2, 3, 4]);
      close(y.data as Float32Array, Array.from(x, ref), name);
    });
  }

  test("Softmax, LogSoftmax, LayerNormalization (axis -1)", async () => {
    const rows = (f: (r: number[]) => number[]) =>
      Array.from({ length: 6 }, (_, i) => f(Array.from(X.subarray(4 * i, 4 * i + 4)))).flat();
    const softmax = (r: number[]) => {
      const m = Math.max(...r);
      const e = r.map((v) => Math.exp(v - m));
      const s = e.reduce((a, b) => a + b);
      return e.map((v) => v / s);
    };
    close(
      (await runOne((g, x) => g.softmax(x, -1), X, [2, 3, 4])).data as Float32Array,
      rows(softmax),
      "Softmax",
    );
    close(
      (await runOne((g, x) => g.op("LogSoftmax", [x], { axis: -1 }), X, [2, 3, 4]))
        .data as Float32Array,
      rows((r) => softmax(r).map(Math.log)),
      "LogSoftmax",
    );
    const scale = [1, 2, 0.5, -1];
    const bias = [0, 0.1, 0.2, 0.3];
    const ln = (r: number[]) => {
      const m = r.reduce((a, b) => a + b) / 4;
      const v = r.reduce((a, b) => a + (b - m) ** 2, 0) / 4;
      return r.map((x, i) => ((x - m) / Math.sqrt(v + 1e-5)) * scale[i] + bias[i]);
    };
    const y = await runOne(
      (g, x) => g.layerNorm(x, g.constant(scale), g.constant(bias), 1e-5),
      X,
      [2, 3, 4],
    );
    close(y.data as Float32Array, rows(ln), "LayerNormalization");
  });

  test("MatMul (batched) and Gemm (alpha, beta, transB)", async () => {
    const W = rand(4 * 5, 3);
    const ref = (transposedW: boolean, alpha = 1, beta = 0, c = 0) =>
      Array.from({ length: 6 * 5 }, (_, k) => {
        const [r, j] = [Math.floor(k / 5), k % 5];
        let s = 0;
        for (let i = 0; i < 4; i++) s += X[r * 4 + i] * (transposedW ? W[j * 4 + i] : W[i * 5 + j]);
        return alpha * s + beta * c;
      });
    const mm = await runOne((g, x) => g.matmul(x, g.constant(W, { shape: [4, 5] })), X, [2, 3, 4]);
    assert.deepEqual(mm.dims, [2, 3, 5]);
    close(mm.data as Float32Array, ref(false), "MatMul");
    const gemm = await runOne(
      (g, x) =>
        g.gemm(x, g.constant(W, { shape: [5, 4] }), g.constant(0.5), {
          alpha: 2,
          beta: 3,
          transB: 1,
        }),
      X,
      [6, 4],
    );
    close(gemm.data as Float32Array, ref(true, 2, 3, 0.5), "Gemm");
  });

  test("reductions (keepdims and not)", async () => {
    const sum = await runOne((g, x) => g.reduce("ReduceSum", x, [1], false), X, [2, 3, 4]);
    assert.deepEqual(sum.dims, [2, 4]);
    const at = (b: number, s: number, h: number) => X[b * 12 + s * 4 + h];
    close(
      sum.data as Float32Array,
      [0, 1].flatMap((b) => [0, 1, 2, 3].map((h) => at(b, 0, h) + at(b, 1, h) + at(b, 2, h))),
      "ReduceSum",
    );
    const mean = await runOne((g, x) => g.reduce("ReduceMean", x, [-1], true), X, [2, 3, 4]);
    assert.deepEqual(mean.dims, [2, 3, 1]);
    close(
      mean.data as Float32Array,
      Array.from(
        { length: 6 },
        (_, r) => (X[4 * r] + X[4 * r + 1] + X[4 * r + 2] + X[4 * r + 3]) / 4,
      ),
      "ReduceMean",
    );
    const max = await runOne((g, x) => g.reduce("ReduceMax", x, [0, 2], false), X, [2, 3, 4]);
    close(
      max.data as Float32Array,
      [0, 1, 2].map((s) =>
        Math.max(...[0, 1].flatMap((b) => [0, 1, 2, 3].map((h) => at(b, s, h)))),
      ),
      "ReduceMax",
    );
  });

  test("layout ops: Reshape, Transpose, Concat, Split, Slice, Unsqueeze, Squeeze, Expand, Gather", async () => {
    const t = await runOne(
      (g, x) => g.transpose(g.reshape(x, [0, -1, 2]), [2, 0, 1]),
      X,
      [2, 3, 4],
    );
    assert.deepEqual(t.dims, [2, 2, 6]);
    close(
      t.data as Float32Array,
      [0, 1].flatMap((k) =>
        [0, 1].flatMap((b) => Array.from({ length: 6 }, (_, j) => X[b * 12 + j * 2 + k])),
      ),
      "Reshape+Transpose",
    );
    const cs = await runOne(
      (g, x) => {
        const [a, b] = g.split(x, [1, 3], -1);
        return g.concat([b, a], -1);
      },
      X,
      [2, 3, 4],
    );
    close(
      cs.data as Float32Array,
      Array.from({ length: 6 }, (_, r) => [1, 2, 3, 0].map((i) => X[4 * r + i])).flat(),
      "Split+Concat",
    );
    const sl = await runOne((g, x) => g.slice(x, [1, 3], [3, 0], [1, 2], [1, -1]), X, [2, 3, 4]);
    assert.deepEqual(sl.dims, [2, 2, 3]);
    close(
      sl.data as Float32Array,
      [0, 1].flatMap((b) => [1, 2].flatMap((s) => [3, 2, 1].map((h) => X[b * 12 + s * 4 + h]))),
      "Slice",
    );
    const us = await runOne((g, x) => g.squeeze(g.unsqueeze(x, [1, 4]), [1]), X, [2, 3, 4]);
    assert.deepEqual(us.dims, [2, 3, 4, 1]);
    const ex = await runOne(
      (g, x) => g.expand(g.reduce("ReduceMax", x, [-1], true), g.shapeOf(x)),
      X,
      [2, 3, 4],
    );
    assert.deepEqual(ex.dims, [2, 3, 4]);
    close(
      ex.data as Float32Array,
      Array.from({ length: 24 }, (_, k) =>
        Math.max(...X.subarray(4 * Math.floor(k / 4), 4 * Math.floor(k / 4) + 4)),
      ),
      "Expand",
    );
    const ga = await runOne((g, x) => g.gather(x, g.ints([2, 0]), 1), X, [2, 3, 4]);
    close(
      ga.data as Float32Array,
      [0, 1].flatMap((b) =>
        [2, 0].flatMap((s) => Array.from(X.subarray(b * 12 + s * 4, b * 12 + s * 4 + 4))),
      ),
      "Gather axis 1",
    );
  });

  test("Shape, Range, CumSum on int64", async () => {
    const g = new Graph();
    const ids = g.input("ids", "int64", ["batch", "seq"]);
    const L = g.squeeze(g.shapeOf(ids, 1, 2), [0]);
    g.output(g.range(g.ints(0), L, g.ints(1)), "r");
    g.output(g.op("CumSum", [ids, g.ints(1)]), "c");
    g.output(g.shapeOf(ids), "s");
    const s = await GraphSession.create(g, { threads: 1 });
    const out = await s.run({
      ids: { data: BigInt64Array.from([1n, 2n, 3n, 4n, 5n, 6n]), dims: [2, 3] },
    });
    await s.dispose();
    assert.deepEqual(Array.from(out.r.data as BigInt64Array), [0n, 1n, 2n]);
    assert.deepEqual(Array.from(out.c.data as BigInt64Array), [1n, 3n, 6n, 4n, 9n, 15n]);
    assert.deepEqual(Array.from(out.s.data as BigInt64Array), [2n, 3n]);
  });
});

describe("weights from safetensors files", () => {
  test("float32 stays external (no copy); float16/bfloat16 and other folders are embedded", async () => {
    const w = rand(300, 11); // 1200 bytes: above the 1024-byte embedding threshold
    const dirA = mkdtempSync(join(tmp, "a-"));
    const dirB = mkdtempSync(join(tmp, "b-"));
    writeSafetensors(join(dirA, "model.safetensors"), {
      big: { data: w, shape: [300] },
      tiny: { data: Float32Array.from([5, 6]), shape: [2] },
    });
    writeSafetensors(join(dirB, "other.safetensors"), { far: { data: w, shape: [300] } });
    // float16 [1, -2, 0.5, 65504] and bfloat16 [1, -2.5]
    const json = Buffer.from(
      JSON.stringify({
        h: { dtype: "F16", shape: [4], data_offsets: [0, 8] },
        b: { dtype: "BF16", shape: [2], data_offsets: [8, 12] },
      }),
    );
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(
      join(dirA, "half.safetensors"),
      Buffer.concat([
        len,
        json,
        Buffer.from(new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff, 0x3f80, 0xc020]).buffer),
      ]),
    );

    const g = new Graph();
    const x = g.input("x", "float32", [1]);
    const ext = (store: WeightStore, name: string) => {
      const i = store.info(name);
      const storedAs = i.dtype === "F32" ? "float32" : i.dtype === "F16" ? "float16" : "bfloat16";
      return g.external(name, "float32", i.shape, {
        file: i.file,
        byteOffset: i.byteOffset,
        byteLength: i.byteLength,
        storedAs,
      });
    };
    const a = WeightStore.open(dirA);
    const half = WeightStore.open(join(dirA, "half.safetensors"));
    const b = WeightStore.open(join(dirB, "other.safetensors"));
    g.output(g.add(ext(a, "big"), x), "o_big");
    g.output(g.add(ext(a, "tiny"), x), "o_tiny");
    g.output(g.add(ext(half, "h"), x), "o_h");
    g.output(g.add(ext(half, "b"), x), "o_b");
    g.output(g.add(ext(b, "far"), x), "o_far");

    const model = prepareRuntimeModel(g);
    assert.equal(model.externalFolder, dirA);
    const text = Buffer.from(model.bytes).toString("latin1");
    assert.ok(text.includes("model.safetensors"), "big tensor referenced by file name");
    assert.ok(
      model.bytes.length < 1200 + 2 * 300 * 4,
      "the external float32 tensor is not embedded",
    );

    const s = await GraphSession.create(g, { threads: 1 });
    const out = await s.run({ x: { data: Float32Array.from([0]), dims: [1] } });
    await s.dispose();
    assert.deepEqual(out.o_big.data, w);
    assert.deepEqual(out.o_far.data, w);
    assert.deepEqual(Array.from(out.o_tiny.data as Float32Array), [5, 6]);
    assert.deepEqual(Array.from(out.o_h.data as Float32Array), [1, -2, 0.5, 65504]);
    assert.deepEqual(Array.from(out.o_b.data as Float32Array), [1, -2.5]);
  });
});

describe("GraphSession", () => {
  const fake = (calls: Record<string, unknown>[]): InferenceSessionLike => ({
    inputNames: ["ids"],
    outputNames: ["y"],
    run: async (feeds) => {
      calls.push(feeds);
      return { y: { type: "float32", data: new Float32Array(2), dims: [1, 2] } };
    },
    release: async () => {},
  });

  test("checks feeds against the graph inputs before running", async () => {
    const g = new Graph();
    const ids = g.input("ids", "int64", ["batch", "seq"]);
    const mask = g.input("mask", "int64", ["batch", "seq"]);
    g.output(g.cast(g.add(ids, mask), "float32"), "y");
    const calls: Record<string, unknown>[] = [];
    const s = await GraphSession.create(g, { openSession: async () => fake(calls) });
    const ok: Feed = { data: new BigInt64Array(2), dims: [1, 2] };
    await assert.rejects(
      s.run({ ids: ok }),
      (e: Error) => e instanceof InvalidArgumentError && /missing input "mask"/.test(e.message),
    );
    await assert.rejects(
      s.run({ ids: ok, mask: { data: new Float32Array(2), dims: [1, 2] } }),
      /input "mask" must be int64, got Float32Array/,
    );
    await assert.rejects(
      s.run({ ids: ok, mask: { data: new BigInt64Array(3), dims: [1, 3] } }),
      (e: Error) => e instanceof ShapeError && /dim 1 is 3, expected seq = 2/.test(e.message),
    );
    await assert.rejects(
      s.run({ ids: ok, mask: { data: new BigInt64Array(3), dims: [1, 2] } }),
      ShapeError,
    );
    assert.equal(calls.length, 0);
    const out = await s.run({ ids: ok, mask: ok });
    assert.equal(calls.length, 1);
    assert.deepEqual(out.y.dims, [1, 2]);
    await s.dispose();
    await assert.rejects(s.run({ ids: ok, mask: ok }), /after dispose/);
  });
});
