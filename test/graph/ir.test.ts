import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { dimDivide, dimProduct, Graph } from "../../src/graph/index.js";
import { ShapeError } from "../../src/util/errors.js";

function shapeError(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof ShapeError, `expected ShapeError, got ${e}`);
    assert.match(e.message, pattern);
    return true;
  });
}

describe("symbolic dims", () => {
  test("products and exact division", () => {
    assert.equal(dimProduct(["seq", "batch", 4]), "4*batch*seq");
    assert.equal(dimDivide("4*batch*seq", 2), "2*batch*seq");
    assert.equal(dimDivide("batch*seq", "seq"), "batch");
    assert.equal(dimDivide("batch", "seq"), undefined);
    assert.equal(dimDivide(6, 4), undefined);
  });
});

describe("shape inference", () => {
  test("attention-like chain keeps symbolic dims", () => {
    const g = new Graph();
    const x = g.input("x", "float32", ["batch", "seq", 64]);
    const w = g.constant(new Float32Array(64 * 64), { shape: [64, 64] });
    const h = g.reshape(g.matmul(x, w), [0, 0, 4, 16]);
    assert.deepEqual(h.shape, ["batch", "seq", 4, 16]);
    const q = g.transpose(h, [0, 2, 1, 3]);
    const s = g.matmul(q, g.transpose(q, [0, 1, 3, 2]));
    assert.deepEqual(s.shape, ["batch", 4, "seq", "seq"]);
    const flat = g.reshape(x, [-1, 64]);
    assert.deepEqual(flat.shape, ["batch*seq", 64]);
    assert.deepEqual(g.reshape(flat, g.shapeOf(x)).shape, ["batch", "seq", 64]);
    assert.deepEqual(g.reduce("ReduceSum", s, [-1], false).shape, ["batch", 4, "seq"]);
    assert.deepEqual(g.reduce("ReduceMax", s, [1, 3], true).shape, ["batch", 1, "seq", 1]);
  });

  test("Shape, Slice, Range, Gather, Concat, Split, Unsqueeze, Squeeze, Expand, Where", () => {
    const g = new Graph();
    const ids = g.input("ids", "int64", ["batch", "seq"]);
    const table = g.constant(new Float32Array(512 * 8), { shape: [512, 8] });
    const seq = g.shapeOf(ids, 1, 2);
    assert.deepEqual(seq.known, ["seq"]);
    assert.deepEqual(g.slice(table, [0], seq, [0]).shape, ["seq", 8]);
    assert.deepEqual(g.slice(table, [2], [10], [0], [2]).shape, [4, 8]);
    const L = g.squeeze(seq, [0]);
    assert.deepEqual(L.shape, []);
    const r = g.range(g.ints(0), L, g.ints(1));
    assert.deepEqual(r.shape, ["seq"]);
    assert.deepEqual(g.gather(table, ids).shape, ["batch", "seq", 8]);
    const [a, b] = g.split(table, [3, 5], 1);
    assert.deepEqual(
      [a.shape, b.shape],
      [
        [512, 3],
        [512, 5],
      ],
    );
    assert.deepEqual(g.concat([b, a], -1).shape, [512, 8]);
    assert.deepEqual(g.unsqueeze(r, [0, 2]).shape, [1, "seq", 1]);
    const target = g.concat([g.shapeOf(ids), g.ints([8])], 0);
    assert.deepEqual(target.known, ["batch", "seq", 8]);
    assert.deepEqual(g.expand(g.constant(new Float32Array(8)), target).shape, ["batch", "seq", 8]);
    const cond = g.less(g.unsqueeze(r, [1]), g.unsqueeze(r, [0]));
    assert.deepEqual(cond.shape, ["seq", "seq"]);
    assert.equal(cond.dtype, "bool");
    assert.deepEqual(g.where(cond, g.constant(1), 0).shape, ["seq", "seq"]);
    assert.equal(g.cast(ids, "float32").dtype, "float32");
  });

  test("errors name the op and the shapes", () => {
    const g = new Graph();
    const x = g.input("x", "float32", ["batch", "seq", 64]);
    shapeError(
      () => g.matmul(x, g.constant(new Float32Array(32 * 8), { shape: [32, 8] })),
      /^MatMul: inner dimensions differ: \[batch, seq, 64\] x \[32, 8\]/,
    );
    shapeError(
      () => g.add(x, g.constant(new Float32Array(3))),
      /^Add: cannot broadcast shapes \[batch, seq, 64\] and \[3\]/,
    );
    shapeError(
      () => g.add(x, g.input("y", "float32", ["other", 1, 1])),
      /symbols batch and other differ/,
    );
    shapeError(() => g.add(x, g.ints(1)), /^Add: input dtypes differ: float32, int64/);
    shapeError(
      () => g.transpose(x, [0, 0, 1]),
      /^Transpose: perm \[0, 0, 1\] is not a permutation/,
    );
    shapeError(
      () => g.reshape(g.constant(new Float32Array(6), { shape: [2, 3] }), [4, 2]),
      /^Reshape: cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/,
    );
    shapeError(
      () => g.layerNorm(x, g.constant(new Float32Array(32)), null, 1e-5),
      /^LayerNormalization: scale\/bias shape \[32\] must equal the normalised dims \[64\]/,
    );
    shapeError(() => g.softmax(x, 3), /^Softmax: axis 3 is out of range for rank 3/);
    shapeError(() => g.split(x, [10, 10], 2), /^Split: split sizes \[10, 10\] sum to 20/);
    shapeError(() => g.gather(x, g.constant(1)), /^Gather: indices must be int64\/int32/);
    shapeError(
      () => g.reshape(x, g.input("s", "int64", [3])),
      /^Reshape: shape \(s\) must be known when the graph is built/,
    );
    shapeError(() => g.op("Softmax", [x], { axes: 1 }), /^Softmax: unknown attribute "axes"/);
    shapeError(() => g.input("x", "float32", [1]), /already has a value named "x"/);
    const other = new Graph();
    shapeError(() => other.add(x, 1), /does not belong to this graph/);
  });

  test("nodes record op, inputs, attrs and outputs in topological order", () => {
    const g = new Graph();
    const x = g.input("x", "float32", ["n", 4]);
    const y = g.softmax(g.mul(x, 2), -1);
    g.output(y, "y");
    assert.deepEqual(
      g.nodes.map((n) => n.op),
      ["Mul", "Softmax", "Identity"],
    );
    const sm = g.nodes[1];
    assert.equal(sm.inputs[0], g.nodes[0].outputs[0]);
    assert.deepEqual(sm.attrs, { axis: -1 });
    assert.equal(y.producer, sm);
    assert.equal(g.outputs[0].value.name, "y");
    assert.equal(g.outputs[0].value.producer!.op, "Identity");
    // numbers become constants of the other operand's dtype; small constants are shared
    const c = g.nodes[0].inputs[1]!;
    assert.equal(c.kind, "initializer");
    assert.equal(c.dtype, "float32");
    assert.equal(g.constant(2), c);
  });
});
