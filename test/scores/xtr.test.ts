import assert from "node:assert/strict";
import { test } from "node:test";
import {
  colbertScores,
  tensor,
  XTRKDScores,
  XTRScores,
  xtrScores,
} from "../../src/scores/index.js";

// One query with tokens [1] and [2]; one group of N = 2 documents [[3],[-1]] and [[2],[1]].
const query = tensor(new Float32Array([1, 2]), [1, 2, 1]);
const docs = tensor(new Float32Array([3, -1, 2, 1]), [1, 2, 2, 1]);

test("XTRScores: the worked example of its doc comment", () => {
  const k2 = new XTRScores({ k: 2 }).score(query, docs);
  assert.deepEqual([k2.rows, k2.cols], [1, 2]);
  assert.deepEqual(Array.from(k2.data), [4.5, 3]);
  assert.deepEqual(Array.from(new XTRScores({ k: 1 }).score(query, docs).data), [4.5, 0]);
  const plain = colbertScores(query, tensor(docs.data, [2, 2, 1]));
  assert.deepEqual(Array.from(plain.data), [9, 6]);
});

test("XTRScores: masked document tokens cannot be retrieved, masked query tokens do not count", () => {
  const documentsMask = { data: new Float32Array([0, 1, 1, 1]), dims: [1, 2, 2] };
  // Token 0 sees (masked), -1, 2, 1 → keeps 2 and 1 (document 1); token 1 keeps 4 and 2.
  const s = new XTRScores({ k: 2 }).score(query, docs, { documentsMask });
  assert.deepEqual(Array.from(s.data), [0, 3]);
  const queriesMask = { data: new Float32Array([1, 0]), dims: [1, 2] };
  const q = new XTRScores({ k: 2 }).score(query, docs, { queriesMask });
  assert.deepEqual(Array.from(q.data), [3, 2]); // only token 0: 3/1 and 2/1
});

test("XTRKDScores keeps each query's own N documents of the global top-k", () => {
  const queries = tensor(new Float32Array([1, 2, -1, 1]), [2, 2, 1]);
  const documents = tensor(new Float32Array([3, -1, 2, 1, -2, 1, 5, -3]), [2, 2, 2, 1]);
  const full = new XTRScores({ k: 3 }).score(queries, documents);
  assert.deepEqual([full.rows, full.cols], [2, 4]);
  const kd = new XTRKDScores({ k: 3 }).score(queries, documents);
  assert.deepEqual([kd.rows, kd.cols], [2, 2]);
  assert.deepEqual(Array.from(kd.data), [full.data[0], full.data[1], full.data[6], full.data[7]]);
});

test("XTR rejects k larger than the batch's document tokens and bad k", () => {
  assert.throws(() => xtrScores(query, docs), /k = 256 is larger than the 4 document tokens/);
  assert.throws(() => new XTRScores({ k: 0 }), /positive integer/);
});
