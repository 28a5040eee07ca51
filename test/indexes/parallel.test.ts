import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Exact } from "../../src/indexes/exact.js";
import { HNSW } from "../../src/indexes/hnsw.js";
import { openIndex } from "../../src/indexes/index.js";
import { ParallelSearcher } from "../../src/indexes/parallel.js";
import { PLAID } from "../../src/indexes/plaid/index.js";
import { Retriever } from "../../src/retrieve/colbert.js";
import type { Matrix } from "../../src/util/matrix.js";
import { synthetic, tempDir } from "./helpers.js";

const DOCS = 60;

/** An index of each type with metadata, and queries aimed at a few of its documents. */
async function fixture(type: "plaid" | "exact" | "hnsw", dir: string) {
  const { docs, ids, query } = synthetic({ docs: DOCS, dim: 16, seed: 5 });
  const index =
    type === "plaid"
      ? await PLAID.create(dir)
      : type === "exact"
        ? await Exact.create(dir)
        : await HNSW.create(dir);
  const metadata = ids.map((_, i) => ({ year: 2000 + (i % 10), text: `doc ${i}` }));
  await index.add(ids, docs, metadata);
  const queries = [0, 3, 9, 14, 22, 31, 47].map((i) => query(docs[i]));
  return { index, docs, ids, queries, query };
}

for (const type of ["plaid", "exact", "hnsw"] as const) {
  test(`${type}: ParallelSearcher returns exactly index.search's ids and scores, in query order`, async () => {
    const t = tempDir();
    try {
      const { index, ids, queries } = await fixture(type, t.dir);
      const searcher = await ParallelSearcher.open(t.dir, { workers: 2 });
      assert.equal(searcher.workers, 2);
      const optionSets = [
        { k: 5 },
        { k: 10, filter: { sql: "year >= ?", params: [2005] } },
        { k: 3, subset: ids.filter((_, i) => i % 3 === 0) },
        { k: 4, filter: { sql: "year = ?", params: [2001] }, subset: ids.slice(0, 30) },
        ...(type === "plaid" ? [{ k: 5, nIvfProbe: 1, nFullScores: 16 }] : []),
        ...(type === "hnsw" ? [{ k: 5, kToken: 8 }] : []),
      ];
      for (const options of optionSets) {
        // 7 queries on 2 workers: chunks of 1 query handed out as workers come free; scores compared
        // exactly (same code, same input).
        const expected = await index.search(queries, options);
        assert.deepEqual(
          await searcher.search(queries, options),
          expected,
          JSON.stringify(options),
        );
      }
      assert.deepEqual(await searcher.search([], { k: 5 }), []);
      await searcher.close();
      await index.close();
    } finally {
      t.cleanup();
    }
  });
}

test("more workers than queries, and one query", async () => {
  const t = tempDir();
  try {
    const { index, queries } = await fixture("exact", t.dir);
    const searcher = await ParallelSearcher.open(t.dir, { workers: 3 });
    for (const qs of [queries.slice(0, 2), queries.slice(0, 1)]) {
      assert.deepEqual(await searcher.search(qs, { k: 5 }), await index.search(qs, { k: 5 }));
    }
    await searcher.close();
    await index.close();
  } finally {
    t.cleanup();
  }
});

test("a search sees writes committed after the searcher opened", async () => {
  const t = tempDir();
  try {
    const { index, queries, query } = await fixture("plaid", t.dir);
    const searcher = await ParallelSearcher.open(t.dir, { workers: 2 });
    const extra = synthetic({ docs: 5, dim: 16, seed: 99 });
    await index.add(
      extra.ids.map((id) => `new-${id}`),
      extra.docs,
    );
    await index.delete(["doc-0", "doc-3"]);
    const qs = [...queries, query(extra.docs[2])];
    const got = await searcher.search(qs, { k: 5 });
    assert.deepEqual(got, await index.search(qs, { k: 5 }));
    assert.ok(!got.flat().some((h) => h.id === "doc-0" || h.id === "doc-3"));
    assert.ok(got.flat().some((h) => h.id.startsWith("new-")));
    await searcher.close();
    await index.close();
  } finally {
    t.cleanup();
  }
});

test("read-only open: writes throw and files a writer has not committed yet are left alone", async () => {
  const t = tempDir();
  try {
    const { index, docs } = await fixture("exact", t.dir);
    await index.close();
    // A file a concurrent writer could have written but not yet listed in the manifest.
    const pending = join(t.dir, "files", "chunk-99.bin");
    writeFileSync(pending, "in flight");
    const reader = await openIndex(t.dir, { readOnly: true });
    assert.ok(existsSync(pending));
    await assert.rejects(reader.add(["x"], [docs[0]]), { code: "INDEX", message: /read-only/ });
    await assert.rejects(reader.delete(["doc-1"]), { code: "INDEX", message: /read-only/ });
    await reader.close();
    // A writable open treats it as crash garbage.
    await (await openIndex(t.dir)).close();
    assert.ok(!existsSync(pending));
  } finally {
    t.cleanup();
  }
});

test("bad arguments: missing directory, workers < 1 or fractional, non-matrix queries", async () => {
  const t = tempDir();
  try {
    await assert.rejects(ParallelSearcher.open(join(t.dir, "nope")), {
      code: "FILE_NOT_FOUND",
      message: /no tslate index/,
    });
    const { index } = await fixture("exact", t.dir);
    for (const workers of [0, -1, 1.5]) {
      await assert.rejects(ParallelSearcher.open(t.dir, { workers }), {
        code: "INVALID_ARGUMENT",
        message: /workers must be a positive integer/,
      });
    }
    const searcher = await ParallelSearcher.open(t.dir, { workers: 1 });
    const wrongDim: Matrix = { data: new Float32Array(8), rows: 1, cols: 8 };
    await assert.rejects(searcher.search([wrongDim]), { code: "SHAPE" });
    await assert.rejects(searcher.search("q" as unknown as Matrix[]), {
      code: "INVALID_ARGUMENT",
    });
    await searcher.close();
    await index.close();
  } finally {
    t.cleanup();
  }
});

test("an error inside a worker rejects with the same error class and the searcher keeps working", async () => {
  const t = tempDir();
  try {
    const { index, queries } = await fixture("plaid", t.dir);
    const searcher = await ParallelSearcher.open(t.dir, { workers: 2 });
    await assert.rejects(searcher.search(queries, { k: 0 }), {
      name: "InvalidArgumentError",
      code: "INVALID_ARGUMENT",
      message: /k must be a positive integer, got 0/,
    });
    await assert.rejects(
      searcher.search(queries, { filter: { sql: "year >= ?; DROP TABLE docs" } }),
    );
    // Empty query list still validates the options, like index.search.
    await assert.rejects(searcher.search([], { k: -2 }), { code: "INVALID_ARGUMENT" });
    await assert.rejects(
      searcher.search(queries, { k: 5, subset: [() => 1] as unknown as string[] }),
      { code: "INVALID_ARGUMENT", message: /plain data/ },
    );
    assert.deepEqual(
      await searcher.search(queries, { k: 5 }),
      await index.search(queries, { k: 5 }),
    );
    await searcher.close();
    await index.close();
  } finally {
    t.cleanup();
  }
});

test("an index corrupted or deleted under the searcher rejects with a file error, no hang", async () => {
  const t = tempDir();
  try {
    const { index, queries } = await fixture("exact", t.dir);
    await index.close();
    const searcher = await ParallelSearcher.open(t.dir, { workers: 2 });
    // A newer manifest naming a chunk file that does not exist: workers must reopen and fail.
    const manifestPath = join(t.dir, "manifest.json");
    const m = JSON.parse(readFileSync(manifestPath, "utf8"));
    m.generation += 1;
    m.chunks[0].file = "chunk-missing.bin";
    writeFileSync(manifestPath, JSON.stringify(m));
    await assert.rejects(searcher.search(queries, { k: 5 }), (err: Error & { code?: string }) => {
      assert.match(String(err.code), /^FILE_/);
      assert.match(err.message, /chunk-missing\.bin/);
      return true;
    });
    rmSync(t.dir, { recursive: true, force: true });
    await assert.rejects(searcher.search(queries, { k: 5 }), { code: "FILE_NOT_FOUND" });
    await searcher.close();
  } finally {
    t.cleanup();
  }
});

test("a worker thread that dies rejects the pending call and every later one", async () => {
  const t = tempDir();
  try {
    const { index, queries } = await fixture("exact", t.dir);
    const searcher = await ParallelSearcher.open(t.dir, { workers: 2 });
    // Kill one thread the way a crash would (no reply ever comes), then search at once.
    const slots = (searcher as unknown as { slots: { worker: { terminate(): Promise<number> } }[] })
      .slots;
    void slots[1].worker.terminate();
    await assert.rejects(searcher.search(queries, { k: 5 }), {
      code: "INDEX",
      message: /search worker 1 .* exited/,
    });
    await assert.rejects(searcher.search(queries, { k: 5 }), { message: /exited/ });
    await searcher.close();
    await index.close();
  } finally {
    t.cleanup();
  }
});

test("close() then search() rejects; close() twice is fine", async () => {
  const t = tempDir();
  try {
    const { index, queries } = await fixture("exact", t.dir);
    const searcher = await ParallelSearcher.open(t.dir, { workers: 2 });
    await searcher.close();
    await searcher.close();
    await assert.rejects(searcher.search(queries, { k: 5 }), {
      code: "INDEX",
      message: /closed; open a new one/,
    });
    await index.close();
  } finally {
    t.cleanup();
  }
});

test("Retriever accepts a ParallelSearcher (batches and per-query subsets pass through)", async () => {
  const t = tempDir();
  try {
    const { index, ids, queries } = await fixture("plaid", t.dir);
    const searcher = await ParallelSearcher.open(t.dir, { workers: 2 });
    const subsets = queries.map((_, i) => ids.filter((_, j) => j % (i + 2) === 0));
    for (const options of [
      { k: 5, batchSize: 3 },
      { k: 4, subset: subsets },
    ]) {
      assert.deepEqual(
        await new Retriever(searcher).retrieve(queries, options),
        await new Retriever(index).retrieve(queries, options),
      );
    }
    await searcher.close();
    await index.close();
  } finally {
    t.cleanup();
  }
});

test("workers read the index from the searcher's shared memory, not each from disk", async () => {
  const t = tempDir();
  try {
    const { index, queries } = await fixture("plaid", t.dir);
    const expected = await index.search(queries, { k: 5 });
    await index.close();
    const { IndexDirectory } = await import("../../src/indexes/store.js");
    const store = new IndexDirectory(t.dir);
    const manifest = store.readManifest();
    const shared = new Map(
      IndexDirectory.filesOf(manifest).map((ref) => [ref.file, store.readBytes(ref, true, true)]),
    );
    assert.ok([...shared.values()].every((b) => b.buffer instanceof SharedArrayBuffer));
    // Damage every file on disk: an open that takes the shared bytes does not notice.
    for (const ref of IndexDirectory.filesOf(manifest)) writeFileSync(store.path(ref.file), "x");
    const reader = await PLAID.open(t.dir, { readOnly: true, sharedFiles: shared });
    assert.deepEqual(await reader.search(queries, { k: 5 }), expected);
    const chunks = (reader as unknown as { chunks: { sections: Record<string, Uint8Array> }[] })
      .chunks;
    assert.ok(chunks[0].sections.residuals.buffer instanceof SharedArrayBuffer);
    await reader.close();
    await assert.rejects(PLAID.open(t.dir, { readOnly: true }), { code: "FILE_CORRUPT" });
  } finally {
    t.cleanup();
  }
});
