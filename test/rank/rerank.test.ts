import assert from "node:assert/strict";
import { test } from "node:test";
import { rerank } from "../../src/rank/rerank.js";
import { fromRows } from "../../src/util/matrix.js";

test("rerank orders candidates by MaxSim (the documented example)", () => {
  const q = fromRows([[1, 0]]);
  const r = rerank([["a", "b"]], [q], [[fromRows([[0, 1]]), fromRows([[1, 0]])]]);
  assert.deepEqual(r, [
    [
      { id: "b", score: 1 },
      { id: "a", score: 0 },
    ],
  ]);
});

test("rerank sums the best match of every query token", () => {
  const q = fromRows([
    [1, 0],
    [0, 1],
  ]);
  const d1 = fromRows([
    [1, 0],
    [0, 0.5],
  ]); // 1 + 0.5
  const d2 = fromRows([[0.8, 0.8]]); // 0.8 + 0.8
  const r = rerank([["d1", "d2"]], [q], [[d1, d2]]);
  assert.deepEqual(
    r[0].map((x) => x.id),
    ["d2", "d1"],
  );
  assert.ok(Math.abs(r[0][0].score - 1.6) < 1e-6 && Math.abs(r[0][1].score - 1.5) < 1e-6);
});

test("rerank refuses mismatched inputs", () => {
  const q = fromRows([[1, 0]]);
  assert.throws(() => rerank([["a"]], [q, q], [[q]]), { code: "INVALID_ARGUMENT" });
  assert.throws(() => rerank([["a", "b"]], [q], [[q]]), /2 ids but 1 document/);
  assert.throws(() => rerank([["a"]], [q], [[fromRows([[1, 0, 0]])]]), { code: "SHAPE" });
});

test("rerank pads a query's candidates with zeros as PyLate does (no mask)", () => {
  // PyLate: a 0.0 (its padded zero row beats -1), b -0.5.
  const q = { data: Float32Array.from([1, 0]), rows: 1, cols: 2 };
  const a = { data: Float32Array.from([-1, 0]), rows: 1, cols: 2 };
  const b = { data: Float32Array.from([-1, 0, -0.5, 0]), rows: 2, cols: 2 };
  assert.deepEqual(rerank([["a", "b"]], [q], [[a, b]]), [
    [
      { id: "a", score: 0 },
      { id: "b", score: -0.5 },
    ],
  ]);
  // Alone, a candidate has no padding: its score is its MaxSim.
  assert.deepEqual(rerank([["a"]], [q], [[a]]), [[{ id: "a", score: -1 }]]);
});
