/**
 * HNSW's search (issue 18): token hits from the graph, the best nRerank documents by
 * approximate score, then exact MaxSim in one matrix product. efSearch and nRerank are
 * per-call options, cheaper build settings keep Exact's ranking on clustered data, and bad
 * values are refused.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Exact } from "../../src/indexes/exact.js";
import { DEFAULT_HNSW_CONFIG, HNSW } from "../../src/indexes/hnsw.js";
import { ConfigError, InvalidArgumentError } from "../../src/util/errors.js";
import { synthetic, tempDir } from "./helpers.js";

const data = synthetic({ docs: 400, dim: 16, seed: 5, minLen: 4, maxLen: 16, vocab: 200 });
const queries = [3, 50, 121, 222, 333, 398].map((i) => data.query(data.docs[i], 8, 0.1));

test("HNSW with cheap settings (m 16, efConstruction 64, nRerank 128) returns Exact's top 10", async () => {
  const th = tempDir();
  const te = tempDir();
  try {
    const h = await HNSW.create(th.dir, {
      m: 16,
      efConstruction: 64,
      kToken: 32,
      efSearch: 64,
      nRerank: 128,
    });
    const e = await Exact.create(te.dir);
    await h.add(data.ids, data.docs);
    await e.add(data.ids, data.docs);
    const er = (await e.search(queries, { k: 10 })).map((r) => r.map((x) => x.id));
    const hr = (await h.search(queries, { k: 10 })).map((r) => r.map((x) => x.id));
    assert.deepEqual(hr, er);
    // 0: every candidate reranked (PyLate's behaviour, the default).
    const all = await h.search(queries, { k: 10, nRerank: 0 });
    assert.deepEqual(
      all.map((r) => r.map((x) => x.id)),
      er,
    );
    await h.close();
    await e.close();
  } finally {
    th.cleanup();
    te.cleanup();
  }
});

test("nRerank bounds the exact stage: with 1, the approximate score alone picks the document", async () => {
  const t = tempDir();
  try {
    const h = await HNSW.create(t.dir);
    await h.add(data.ids, data.docs);
    // A query made of a document's own tokens: its approximate score (every token retrieved
    // with similarity 1) is the highest, so the one document scored exactly is that one.
    const own = [7, 88, 250].map((i) => ({ ...data.docs[i] }));
    const r = await h.search(own, { k: 10, nRerank: 1 });
    assert.deepEqual(
      r.map((x) => x.map((y) => y.id)),
      [["doc-7"], ["doc-88"], ["doc-250"]],
    );
    await h.close();
  } finally {
    t.cleanup();
  }
});

test("the defaults are PyLate's Voyager settings; per-call efSearch; bad settings are refused", async () => {
  assert.deepEqual(
    { ...DEFAULT_HNSW_CONFIG },
    { m: 64, efConstruction: 200, efSearch: 200, kToken: 100, nRerank: 0, seed: 42 },
  );
  const t = tempDir();
  try {
    const h = await HNSW.create(t.dir);
    await h.add(data.ids.slice(0, 100), data.docs.slice(0, 100));
    await h.close();
    const o = await HNSW.open(t.dir);
    const r = await o.search([data.query(data.docs[42], 8, 0.1)], { k: 3, efSearch: 300 });
    assert.equal(r[0][0].id, "doc-42");
    await assert.rejects(o.search(queries, { k: 3, nRerank: -1 }), InvalidArgumentError);
    await assert.rejects(o.search(queries, { k: 3, efSearch: 0 }), InvalidArgumentError);
    await o.close();
  } finally {
    t.cleanup();
  }
  const t2 = tempDir();
  try {
    await assert.rejects(HNSW.create(t2.dir, { nRerank: 1.5 }), ConfigError);
    await assert.rejects(HNSW.create(t2.dir, { m: 0 }), ConfigError);
  } finally {
    t2.cleanup();
  }
});
