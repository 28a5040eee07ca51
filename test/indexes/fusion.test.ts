import assert from "node:assert/strict";
import { test } from "node:test";
import { fuseRrf, fuseRsf } from "../../src/indexes/fusion.js";

test("relative score fusion: the documented example", () => {
  const r = fuseRsf(
    [
      { id: "a", score: 10 },
      { id: "b", score: 5 },
    ],
    [
      { id: "b", score: 3 },
      { id: "c", score: 1 },
    ],
    0.5,
    10,
  );
  assert.deepEqual(r, [
    { id: "a", score: 0.5 },
    { id: "b", score: 0.5 },
    { id: "c", score: 0 },
  ]);
  const v = fuseRsf([{ id: "a", score: 1 }], [{ id: "b", score: 9 }], 0.8, 1);
  assert.deepEqual(v, [{ id: "a", score: 0.8 }]);
});

test("reciprocal rank fusion: 1/(k + rank) summed over lists", () => {
  const r = fuseRrf(
    [
      [
        { id: "a", score: 9 },
        { id: "b", score: 1 },
      ],
      [
        { id: "a", score: 0.1 },
        { id: "c", score: 0.05 },
      ],
    ],
    60,
    3,
  );
  assert.equal(r[0].id, "a");
  assert.ok(Math.abs(r[0].score - 2 / 61) < 1e-12);
  assert.deepEqual(
    r.slice(1).map((x) => x.id),
    ["b", "c"],
  );
  assert.ok(Math.abs(r[1].score - 1 / 62) < 1e-12);
});
