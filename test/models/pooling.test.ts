import assert from "node:assert/strict";
import { test } from "node:test";
import {
  condensedCosineDistances,
  fclusterMaxclust,
  poolEmbeddingsHierarchical,
  wardLinkage,
} from "../../src/models/pooling.js";
import { InvalidArgumentError } from "../../src/util/errors.js";
import type { Matrix } from "../../src/util/matrix.js";
import { maxAbsDiff, readJson, toMatrix } from "../scores/helpers.js";

// Tolerances (fixtures/README.md §7): labels and linkage ids/sizes exact; pooled vectors abs
// 2e-5; condensed float32 distances abs 1e-6 (float32 dot rounding, values <= 2); linkage
// heights abs 1e-12 from the stored distances (float64 path), 1e-5 from our own distances.
const POOLED_TOL = 2e-5;

interface PoolingCase {
  document_index: number;
  pool_factor: number;
  protected_tokens: number;
  num_input_embeddings: number;
  num_clusters: number;
  condensed_distances: number[];
  linkage: number[][];
  labels: number[];
  pooled: number[][];
}

for (const model of ["bert-tiny-colbert", "modernbert-tiny-colbert"]) {
  const x = readJson(`fixtures/expected/${model}.json`);
  for (const [k, c] of (x.pooling as PoolingCase[]).entries()) {
    test(`${model} pooling[${k}] (document ${c.document_index}, ${c.num_input_embeddings} tokens)`, () => {
      const doc = toMatrix(x.documents[c.document_index].embeddings);
      assert.equal(doc.rows, c.num_input_embeddings);
      const n = doc.rows - c.protected_tokens;
      const E = doc.cols;

      const dist = condensedCosineDistances(doc.data.subarray(c.protected_tokens * E), n, E);
      const dd = maxAbsDiff(dist, c.condensed_distances);
      assert.ok(dd <= 1e-6, `condensed distances maxdiff ${dd}`);

      // Linkage and labels from the stored float32 distances: scipy's exact arithmetic.
      const stored = Float64Array.from(Float32Array.from(c.condensed_distances));
      const Z = wardLinkage(stored, n);
      assert.equal(Z.length, (n - 1) * 4);
      let hdiff = 0;
      c.linkage.forEach((row, s) => {
        assert.deepEqual(
          [Z[s * 4], Z[s * 4 + 1], Z[s * 4 + 3]],
          [row[0], row[1], row[3]],
          `linkage row ${s}`,
        );
        hdiff = Math.max(hdiff, Math.abs(Z[s * 4 + 2] - row[2]));
      });
      assert.ok(hdiff <= 1e-12, `linkage heights maxdiff ${hdiff}`);
      const labels = fclusterMaxclust(Float64Array.from(c.linkage.flat()), n, c.num_clusters);
      assert.deepEqual(Array.from(labels), c.labels);

      // The whole pipeline from our own distances.
      const Zown = wardLinkage(Float64Array.from(dist), n);
      let hown = 0;
      c.linkage.forEach((row, s) => {
        assert.deepEqual([Zown[s * 4], Zown[s * 4 + 1], Zown[s * 4 + 3]], [row[0], row[1], row[3]]);
        hown = Math.max(hown, Math.abs(Zown[s * 4 + 2] - row[2]));
      });
      assert.ok(hown <= 1e-5, `linkage heights from own distances maxdiff ${hown}`);
      assert.deepEqual(Array.from(fclusterMaxclust(Zown, n, c.num_clusters)), c.labels);

      const [pooled] = poolEmbeddingsHierarchical([doc], c.pool_factor, c.protected_tokens);
      assert.deepEqual([pooled.rows, pooled.cols], [1 + c.num_clusters, E]);
      const pd = maxAbsDiff(pooled.data, c.pooled.flat());
      assert.ok(
        pd <= POOLED_TOL,
        `pooled maxdiff ${pd}; first values ${Array.from(pooled.data.slice(0, 4))} vs ${c.pooled[0].slice(0, 4)}`,
      );
    });
  }
}

function randomUnitRows(rows: number, cols: number, seed: number): Matrix {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let norm = 0;
    for (let c = 0; c < cols; c++) norm += (data[r * cols + c] = rand()) ** 2;
    for (let c = 0; c < cols; c++) data[r * cols + c] /= Math.sqrt(norm);
  }
  return { data, rows, cols };
}

test("short documents and poolFactor 1 are returned unchanged", () => {
  for (const rows of [0, 1, 2]) {
    const m = randomUnitRows(rows, 4, rows + 1);
    assert.equal(poolEmbeddingsHierarchical([m])[0], m);
  }
  const m = randomUnitRows(30, 8, 7);
  assert.equal(poolEmbeddingsHierarchical([m], 1)[0], m);
  // 3 tokens: [CLS] kept, the other two merged into their mean.
  const three = randomUnitRows(3, 4, 3);
  const [p] = poolEmbeddingsHierarchical([three]);
  assert.equal(p.rows, 2);
  assert.deepEqual(Array.from(p.data.subarray(0, 4)), Array.from(three.data.subarray(0, 4)));
  for (let e = 0; e < 4; e++) {
    assert.equal(
      p.data[4 + e],
      Math.fround(Math.fround(three.data[4 + e] + three.data[8 + e]) / 2),
    );
  }
});

test("row counts follow PyLate: protected + max(floor(n / poolFactor), 1)", () => {
  const m = randomUnitRows(180, 16, 11);
  assert.equal(poolEmbeddingsHierarchical([m], 2)[0].rows, 1 + 89);
  assert.equal(poolEmbeddingsHierarchical([m], 3, 2)[0].rows, 2 + 59);
  assert.equal(poolEmbeddingsHierarchical([m], 500, 0)[0].rows, 1);
});

test("identical token vectors (tied distances) still give a valid partition", () => {
  const base = randomUnitRows(4, 6, 5);
  const data = new Float32Array(13 * 6);
  for (let r = 0; r < 13; r++) data.set(base.data.subarray((r % 4) * 6, (r % 4) * 6 + 6), r * 6);
  const [p] = poolEmbeddingsHierarchical([{ data, rows: 13, cols: 6 }], 3);
  // n = 12 copies of 4 distinct vectors, k = 4: the 4 groups are exactly the distinct vectors.
  assert.equal(p.rows, 1 + 4);
  // Each pooled row is the mean of copies of one distinct vector (float32 rounding aside).
  const matched = new Set<number>();
  for (let r = 1; r < p.rows; r++) {
    const row = p.data.subarray(r * 6, r * 6 + 6);
    const j = [0, 1, 2, 3].find(
      (b) => maxAbsDiff(row, base.data.subarray(b * 6, b * 6 + 6)) < 1e-6,
    );
    assert.ok(j !== undefined, `pooled row ${r} is not one of the distinct vectors`);
    matched.add(j);
  }
  assert.equal(matched.size, 4);
});

test("bad arguments are rejected with the value and the allowed range", () => {
  const m = randomUnitRows(5, 4, 1);
  assert.throws(
    () => poolEmbeddingsHierarchical([m], 0),
    (e: Error) => e instanceof InvalidArgumentError && /poolFactor.*got 0/.test(e.message),
  );
  assert.throws(() => poolEmbeddingsHierarchical([m], 1.5), /poolFactor/);
  assert.throws(() => poolEmbeddingsHierarchical([m], 2, -1), /protectedTokens/);
  const bad = { data: new Float32Array([Number.NaN, 0, 0, 0]), rows: 1, cols: 4 };
  assert.throws(() => poolEmbeddingsHierarchical([m, bad]), /embeddings\[1\].*non-finite/);
});

test("a 180-token document pools quickly", () => {
  const m = randomUnitRows(180, 128, 3);
  const t0 = performance.now();
  const [p] = poolEmbeddingsHierarchical([m]);
  const ms = performance.now() - t0;
  assert.equal(p.rows, 90);
  console.log(`# pooled one 180x128 document in ${ms.toFixed(1)} ms`);
});
