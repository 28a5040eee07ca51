import assert from "node:assert/strict";
import { test } from "node:test";
import { Exact } from "../../src/indexes/exact.js";
import { HNSW } from "../../src/indexes/hnsw.js";
import { PLAID } from "../../src/indexes/plaid/index.js";
import { synthetic, tempDir } from "./helpers.js";

// Search options travel with the call: concurrent calls with different options must each get
// what they would get alone (issue 11: HNSW's kToken and PLAID's parameters lived on the
// instance, so one call's options leaked into another running at the same time).

test("HNSW: concurrent searches with different kToken equal their lone results", async () => {
  const { docs, ids, query } = synthetic({ docs: 60, dim: 16, seed: 7, vocab: 40 });
  const t = tempDir();
  try {
    const index = await HNSW.create(t.dir, { m: 8, efConstruction: 32 });
    await index.add(ids, docs);
    const qs = [0, 11, 23, 42].map((i) => query(docs[i]));
    const small = await index.search(qs, { k: 10, kToken: 1 });
    const large = await index.search(qs, { k: 10, kToken: 2000 });
    // The two settings differ (else the test would prove nothing): kToken 1 finds few documents.
    assert.notDeepEqual(
      small.map((r) => r.length),
      large.map((r) => r.length),
    );
    const [a, b, c] = await Promise.all([
      index.search(qs, { k: 10, kToken: 1 }),
      index.search(qs, { k: 10, kToken: 2000 }),
      index.search(qs, { k: 10, kToken: 1 }),
    ]);
    assert.deepEqual(a, small);
    assert.deepEqual(b, large);
    assert.deepEqual(c, small);
    await index.close();
  } finally {
    t.cleanup();
  }
});

test("PLAID: concurrent searches with different parameters equal their lone results", async () => {
  const { docs, ids, query } = synthetic({
    docs: 1500,
    dim: 16,
    seed: 31,
    minLen: 8,
    maxLen: 30,
    vocab: 300,
    noise: 0.2,
  });
  const t = tempDir();
  try {
    const index = await PLAID.create(t.dir);
    await index.add(ids, docs);
    // 32-token queries: the exact stage runs through onnxruntime (an await while it reads the
    // decompressed batch), so concurrent calls overlap there.
    const qs = [3, 400, 999, 1200].map((i) => query(docs[i], 32, 0.1));
    const settings = [
      { k: 10, nIvfProbe: 1, nFullScores: 16 },
      { k: 10 },
      { k: 5, nIvfProbe: 64, nFullScores: 64, centroidScoreThreshold: 0.5 },
    ];
    const alone: Awaited<ReturnType<typeof index.search>>[] = [];
    for (const s of settings) alone.push(await index.search(qs, s));
    assert.notDeepEqual(alone[0], alone[1]);
    const together = await Promise.all([...settings, ...settings].map((s) => index.search(qs, s)));
    together.forEach((r, i) => {
      assert.deepEqual(r, alone[i % settings.length], `setting ${i % settings.length}`);
    });
    await index.close();
  } finally {
    t.cleanup();
  }
});

test("a misspelt search option is a type error and an InvalidArgumentError naming the allowed keys", async () => {
  const { docs, ids, query } = synthetic({ docs: 30, dim: 16, seed: 5 });
  const t1 = tempDir();
  const t2 = tempDir();
  try {
    const plaid = await PLAID.create(t1.dir);
    await plaid.add(ids, docs);
    const exact = await Exact.create(t2.dir);
    await exact.add(ids, docs);
    const q = [query(docs[0])];
    await assert.rejects(
      // @ts-expect-error nIvfProb is not a PLAID search option
      plaid.search(q, { nIvfProb: 2 }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "INVALID_ARGUMENT");
        assert.match(err.message, /"nIvfProb"/);
        assert.match(err.message, /k, filter, subset, nIvfProbe, nFullScores/);
        return true;
      },
    );
    // Another index type's option is not silently ignored either.
    await assert.rejects(
      // @ts-expect-error kToken is HNSW's option, not Exact's
      exact.search(q, { kToken: 5 }),
      /unknown search option "kToken" for the exact index; allowed: k, filter, subset$/,
    );
    // A key set to undefined is the same as leaving it out.
    assert.deepEqual(
      await plaid.search(q, { k: 3, nIvfProbe: undefined }),
      await plaid.search(q, { k: 3 }),
    );
    await plaid.close();
    await exact.close();
  } finally {
    t1.cleanup();
    t2.cleanup();
  }
});
