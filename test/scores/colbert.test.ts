import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ColBERTScores,
  colbertKdScores,
  colbertScores,
  colbertScoresPairwise,
  maxSim,
  padMatrices,
  tensor,
} from "../../src/scores/index.js";
import { InvalidArgumentError, ShapeError } from "../../src/util/errors.js";
import { maxAbsDiff, readJson, toMatrix, toTensor } from "./helpers.js";

// Tolerance for MaxSim sums, from fixtures/README.md §7: abs 2e-4 (reference noise <= 3e-6).
const SCORE_TOL = 2e-4;

function close(actual: ArrayLike<number>, expected: number[], what: string): void {
  const diff = maxAbsDiff(actual, expected);
  assert.ok(
    diff <= SCORE_TOL,
    `${what}: maxdiff ${diff} > ${SCORE_TOL}; got [${Array.from(actual).slice(0, 6)}], expected [${expected.slice(0, 6)}]`,
  );
}

test("colbertScores: the worked example of its doc comment (PyLate's doctest)", () => {
  const queries = tensor(new Float32Array([1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0]), [3, 4, 1]);
  const documents = tensor(new Float32Array([10, 0, 1, 0, 100, 10, 1, 0, 1000]), [3, 3, 1]);
  const queriesMask = {
    data: new Float32Array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1]),
    dims: [3, 4],
  };
  const documentsMask = { data: new Float32Array([1, 1, 1, 1, 0, 1, 1, 1, 1]), dims: [3, 3] };
  const s = colbertScores(queries, documents, { queriesMask, documentsMask });
  assert.deepEqual([s.rows, s.cols], [3, 3]);
  assert.deepEqual(Array.from(s.data), [10, 10, 1000, 20, 20, 2000, 0, 0, 0]);
  // Uint8Array masks mean the same thing.
  const u8 = colbertScores(queries, documents, {
    queriesMask: { data: Uint8Array.from(queriesMask.data), dims: [3, 4] },
    documentsMask: { data: Uint8Array.from(documentsMask.data), dims: [3, 3] },
  });
  assert.deepEqual(Array.from(u8.data), Array.from(s.data));
});

test("colbertScoresPairwise and colbertKdScores: PyLate's doctest examples", () => {
  const queries = tensor(new Float32Array([1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0]), [3, 4, 1]);
  const docs = tensor(new Float32Array([10, 0, 1, 0, 100, 1, 1, 0, 1000]), [3, 3, 1]);
  assert.deepEqual(Array.from(colbertScoresPairwise(queries, docs)), [10, 200, 3000]);

  const kdDocs = tensor(
    new Float32Array([
      10, 0, 1, 20, 0, 1, 30, 0, 1, 0, 100, 1, 0, 200, 1, 0, 300, 1, 1, 0, 1000, 1, 0, 2000, 10, 0,
      3000,
    ]),
    [3, 3, 3, 1],
  );
  const documentsMask = {
    data: new Float32Array([0, 1, 1, 1, 1, 1, 1, 1, 1, ...new Array(18).fill(1)]),
    dims: [3, 3, 3],
  };
  const queriesMask = {
    data: new Float32Array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1]),
    dims: [3, 4],
  };
  const kd = colbertKdScores(queries, kdDocs, { queriesMask, documentsMask });
  assert.deepEqual([kd.rows, kd.cols], [3, 3]);
  assert.deepEqual(Array.from(kd.data), [1, 20, 30, 200, 400, 600, 0, 0, 0]);
});

test("score_functions.json: colbert_scores with every masking variant, and not the -inf variant", () => {
  const f = readJson("fixtures/expected/score_functions.json").colbert_scores;
  const Q = toTensor(f.queries_embeddings);
  const D = toTensor(f.documents_embeddings);
  const queriesMask = toTensor(f.queries_mask);
  const documentsMask = toTensor(f.documents_mask);
  close(colbertScores(Q, D).data, f.expected_no_masks.flat(), "no masks");
  close(
    colbertScores(Q, D, { documentsMask }).data,
    f.expected_documents_mask_only.flat(),
    "documents mask",
  );
  const both = colbertScores(Q, D, { queriesMask, documentsMask });
  close(both.data, f.expected_both_masks.flat(), "both masks");
  const wrong = f.expected_if_masked_were_minus_inf_WRONG.flat();
  assert.ok(
    maxAbsDiff(both.data, wrong) > 100 * SCORE_TOL,
    "masked similarities must be 0, not -inf",
  );
});

test("score_functions.json: pairwise, kd and grouped ColBERTScores", () => {
  const all = readJson("fixtures/expected/score_functions.json");
  const p = all.colbert_scores_pairwise;
  close(
    colbertScoresPairwise(toTensor(p.queries_embeddings), toTensor(p.documents_embeddings)),
    p.expected,
    "pairwise",
  );

  const kd = all.colbert_kd_scores;
  const kdOut = colbertKdScores(
    toTensor(kd.queries_embeddings),
    toTensor(kd.documents_embeddings),
    {
      documentsMask: toTensor(kd.documents_mask),
    },
  );
  assert.deepEqual([kdOut.rows, kdOut.cols], [2, 3]);
  close(kdOut.data, kd.expected.flat(), "kd");

  const g = all.ColBERTScores;
  const gOut = new ColBERTScores().score(
    toTensor(g.queries_embeddings),
    toTensor(g.documents_embeddings),
    {
      documentsMask: toTensor(g.documents_mask),
    },
  );
  assert.deepEqual([gOut.rows, gOut.cols], [2, 4]);
  close(gOut.data, g.expected.flat(), "ColBERTScores");
});

for (const model of ["bert-tiny-colbert", "modernbert-tiny-colbert"]) {
  test(`${model}: maxsim and zero-padded colbert_scores from the stored embeddings`, () => {
    const x = readJson(`fixtures/expected/${model}.json`);
    const queries = x.queries.map((q: { embeddings: number[][] }) => toMatrix(q.embeddings));
    const docs = x.documents.map((d: { embeddings: number[][] }) => toMatrix(d.embeddings));

    const exact = colbertScores(queries, docs);
    assert.deepEqual([exact.rows, exact.cols], [4, 7]);
    close(exact.data, x.scores.maxsim.flat(), "maxsim (unpadded lists)");
    // maxSim and the pairwise form agree with the matrix form.
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 7; b++) {
        assert.ok(Math.abs(maxSim(queries[a], docs[b]) - exact.data[a * 7 + b]) < 1e-5);
      }
    }
    const pw = colbertScoresPairwise(queries, docs.slice(0, 4));
    close(
      pw,
      [0, 1, 2, 3].map((i) => x.scores.maxsim[i][i]),
      "pairwise diagonal",
    );

    const padded = padMatrices(docs);
    const Q = padMatrices(queries).embeddings;
    const zp = colbertScores(Q, padded.embeddings, { documentsMask: padded.mask });
    close(zp.data, x.scores.colbert_scores_zero_padded.flat(), "zero-padded");
    // Without the mask the zero padding gives the same result (a zero vector dots to 0).
    close(
      colbertScores(Q, padded.embeddings).data,
      x.scores.colbert_scores_zero_padded.flat(),
      "zero-padded, no mask",
    );
    if (model.startsWith("modernbert")) {
      // Documents 2 and 3 have negative real maxima: padding changes their scores.
      assert.ok(maxAbsDiff(zp.data, exact.data) > 1e-2);
    }
  });
}

test("bad inputs give clear errors", () => {
  const q = [toMatrix([[1, 0]])];
  const d3 = [toMatrix([[1, 0, 0]])];
  assert.throws(
    () => colbertScores(q, d3),
    (e: Error) => e instanceof ShapeError && /dimension 2 .* 3/.test(e.message),
  );
  const mask = { data: new Float32Array([1]), dims: [1, 1] };
  assert.throws(
    () => colbertScores(q, q, { documentsMask: mask }),
    /only applies to padded tensors/,
  );
  const Q = tensor(new Float32Array(4), [1, 2, 2]);
  assert.throws(
    () => colbertScores(Q, Q, { queriesMask: mask }),
    (e: Error) => e instanceof ShapeError && /\[1, 1\], expected \[1, 2\]/.test(e.message),
  );
  assert.throws(() => colbertScores(tensor(new Float32Array(4), [2, 2]), Q), /must have 3 dims/);
  assert.throws(() => colbertScores({ data: new Float32Array(3), dims: [1, 2, 2] }, Q), /needs 4/);
  assert.throws(() => colbertScores([toMatrix([[Number.NaN, 0]])], q), InvalidArgumentError);
  assert.throws(() => colbertScoresPairwise(q, [...q, ...q]), /as many documents as queries/);
  assert.throws(() => colbertScores("x" as never, q), /must be a \{ data: Float32Array, dims \}/);
  assert.throws(() => padMatrices([]), /non-empty/);
});

test("edge cases: empty documents score 0, empty batches give empty matrices", () => {
  const q = [
    toMatrix([
      [1, 0],
      [0, 1],
    ]),
  ];
  const empty = { data: new Float32Array(0), rows: 0, cols: 2 };
  assert.deepEqual(Array.from(colbertScores(q, [empty]).data), [0]);
  const none = colbertScores(q, []);
  assert.deepEqual([none.rows, none.cols], [1, 0]);
});
