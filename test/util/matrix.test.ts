import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidArgumentError, ShapeError } from "../../src/util/errors.js";
import { checkMatrix, fromRows, matrix } from "../../src/util/matrix.js";

test("matrix() rejects data of the wrong length", () => {
  assert.throws(() => matrix(new Float32Array(5), 2, 3), ShapeError);
  assert.equal(matrix(new Float32Array(6), 2, 3).rows, 2);
});

test("checkMatrix names the argument and the bad value", () => {
  const m = fromRows([
    [1, 2],
    [3, Number.NaN],
  ]);
  assert.throws(
    () => checkMatrix(m, "queries[0]"),
    (e: Error) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.match(e.message, /queries\[0\].*NaN.*row 1, column 1/);
      return true;
    },
  );
  assert.throws(() => checkMatrix(fromRows([[1, 2]]), "d", 3), /dimension 2, expected 3/);
});
