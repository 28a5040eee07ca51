import assert from "node:assert/strict";
import { test } from "node:test";
import { runExport } from "../../src/cli/commands/export.js";
import { Exact } from "../../src/indexes/exact.js";
import { openIndex } from "../../src/indexes/index.js";
import { Lance } from "../../src/indexes/lance.js";
import { synthetic, tempDir } from "../indexes/helpers.js";

test("tslate export: Exact -> Lance -> Exact and -> PLAID keep ids, embeddings, metadata and results", {
  timeout: 120_000,
}, async () => {
  const data = synthetic({ docs: 50, dim: 16, seed: 9, vocab: 40, noise: 0.1 });
  const meta = data.ids.map((_, i) => ({ year: 2000 + (i % 7), title: `t${i}` }));
  const queries = [3, 20, 41].map((i) => data.query(data.docs[i], 4, 0.05));
  const src = tempDir();
  const lance = tempDir();
  const back = tempDir();
  const plaid = tempDir();
  try {
    const exact = await Exact.create(src.dir);
    await exact.add(data.ids, data.docs, meta);
    const want = await exact.search(queries, { k: 5 });
    await exact.close();

    // small batches: several writes, bounded memory
    const r = await runExport({ from: src.dir, to: lance.dir, batchTokens: "40", progress: false });
    assert.deepEqual(r, { documents: 50, type: "lance" });
    const table = await Lance.open(lance.dir);
    assert.equal(table.count(), 50);
    assert.deepEqual(await table.metadata("doc-7"), meta[7]);
    assert.deepEqual((await table.embedding("doc-7"))?.data, data.docs[7].data);
    const got = await table.search(queries, { k: 5 });
    assert.deepEqual(
      got.map((h) => h.map((x) => x.id)),
      want.map((h) => h.map((x) => x.id)),
    );
    await table.close();

    await assert.rejects(
      runExport({ from: src.dir, to: lance.dir, progress: false }),
      /already holds/,
    );

    assert.deepEqual(
      await runExport({ from: lance.dir, to: back.dir, indexType: "exact", progress: false }),
      { documents: 50, type: "exact" },
    );
    const again = await openIndex(back.dir);
    assert.deepEqual(await again.search(queries, { k: 5 }), want);
    assert.deepEqual(again.metadata("doc-7"), meta[7]);
    await again.close();

    assert.deepEqual(await runExport({ from: lance.dir, to: plaid.dir, progress: false }), {
      documents: 50,
      type: "plaid",
    });
    const p = await openIndex(plaid.dir);
    assert.equal(p.count(), 50);
    assert.deepEqual(
      (await p.search(queries, { k: 1 })).map((h) => h[0].id),
      ["doc-3", "doc-20", "doc-41"],
    );
    await p.close();

    await assert.rejects(
      runExport({ from: src.dir, to: "s3://bucket/x", indexType: "exact", progress: false }),
      /only --index-type lance/,
    );
    await assert.rejects(
      runExport({ from: src.dir, to: back.dir, indexType: "faiss", progress: false }),
      /--index-type must be one of/,
    );
    await assert.rejects(
      runExport({ from: src.dir, to: lance.dir, storageOption: ["nokey"], progress: false }),
      /key=value/,
    );
  } finally {
    for (const t of [src, lance, back, plaid]) t.cleanup();
  }
});
