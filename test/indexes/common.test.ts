import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { BaseIndex } from "../../src/indexes/base.js";
import { Exact } from "../../src/indexes/exact.js";
import { HNSW } from "../../src/indexes/hnsw.js";
import { openIndex } from "../../src/indexes/index.js";
import { Lance } from "../../src/indexes/lance.js";
import { PLAID } from "../../src/indexes/plaid/index.js";
import type { Matrix } from "../../src/util/matrix.js";
import { synthetic, tempDir } from "./helpers.js";

// The contract every index meets. Lance answers has()/metadata() asynchronously (its table may
// be on object storage), so the tests await them; what only the on-disk format of the local
// indexes has (openIndex, manifest/chunk corruption, SQLite's json_extract) is checked for
// those alone, and Lance's own versions of those checks are in lance.test.ts.
type ContractIndex = BaseIndex | Lance;
const KINDS: [
  string,
  (dir: string) => Promise<ContractIndex>,
  (dir: string) => Promise<ContractIndex>,
][] = [
  ["exact", (d) => Exact.create(d), (d) => Exact.open(d)],
  ["plaid", (d) => PLAID.create(d), (d) => PLAID.open(d)],
  ["hnsw", (d) => HNSW.create(d, { m: 8, efConstruction: 50 }), (d) => HNSW.open(d)],
  ["lance", (d) => Lance.create(d, { dim: 16 }), (d) => Lance.open(d)],
];

const data = synthetic({ docs: 60, dim: 16, seed: 21, vocab: 60, noise: 0.1 });
const meta = data.ids.map((_, i) => ({
  year: 2000 + (i % 10),
  lang: i % 2 ? "en" : "fr",
  title: `title ${i}`,
  text: i % 3 === 0 ? "graphene conducts heat" : `plain words number ${i}`,
}));
const q = (i: number) => data.query(data.docs[i], 4, 0.02);

for (const [kind, create, open] of KINDS) {
  test(`${kind}: add, search, delete, update, reopen`, async () => {
    const t = tempDir();
    try {
      const index = await create(t.dir);
      assert.equal(index.count(), 0);
      assert.deepEqual(await index.search([q(0)], { k: 3 }), [[]], "empty index: no hits");
      await index.add(data.ids.slice(0, 40), data.docs.slice(0, 40), meta.slice(0, 40));
      await index.add(data.ids.slice(40), data.docs.slice(40), meta.slice(40));
      assert.equal(index.count(), 60);
      const r = await index.search([q(5), q(45)], { k: 5 });
      assert.deepEqual([r[0][0].id, r[1][0].id], ["doc-5", "doc-45"]);
      for (const hits of r)
        for (let j = 1; j < hits.length; j++) assert.ok(hits[j - 1].score >= hits[j].score);
      await index.delete(["doc-5", "not-there"]);
      assert.equal(index.count(), 59);
      assert.ok(!(await index.search([q(5)], { k: 10 }))[0].some((h) => h.id === "doc-5"));
      // update: doc-45 now holds doc-7's embedding and new metadata.
      await index.update(["doc-45"], [data.docs[7]], [{ year: 1999 }]);
      assert.equal(index.count(), 59);
      const q7 = q(7);
      const u = await index.search([q7], { k: 2 });
      assert.deepEqual(new Set(u[0].map((h) => h.id)), new Set(["doc-7", "doc-45"]));
      assert.deepEqual(await index.metadata("doc-45"), { year: 1999 });
      await index.close();
      await assert.rejects(index.search([q(0)]), { code: "INDEX" });
      const again = await open(t.dir);
      assert.equal(again.count(), 59);
      assert.equal(await again.has("doc-5"), false);
      assert.deepEqual(await again.search([q7], { k: 2 }), u);
      if (kind !== "lance") assert.deepEqual((await openIndex(t.dir)).count(), 59);
      // ids are stable: re-adding a deleted id works.
      await again.add(["doc-5"], [data.docs[5]]);
      assert.equal((await again.search([q(5)], { k: 1 }))[0][0].id, "doc-5");
      await again.close();
    } finally {
      t.cleanup();
    }
  });

  test(`${kind}: filters, subsets, keyword and hybrid search`, async () => {
    const t = tempDir();
    try {
      const index = await create(t.dir);
      await index.add(data.ids, data.docs, meta);
      const f = await index.search([q(4)], {
        k: 60,
        filter: { sql: "year = ? AND lang = ?", params: [2004, "fr"] },
      });
      assert.deepEqual(f[0].map((h) => h.id).sort(), [
        "doc-14",
        "doc-24",
        "doc-34",
        "doc-4",
        "doc-44",
        "doc-54",
      ]);
      assert.equal(f[0][0].id, "doc-4");
      const s = await index.search([q(4)], { k: 5, subset: ["doc-1", "doc-2", "doc-4"] });
      assert.deepEqual(s[0].map((h) => h.id).sort(), ["doc-1", "doc-2", "doc-4"]);
      const both = await index.search([q(4)], {
        k: 5,
        subset: ["doc-4", "doc-5"],
        filter: { sql: "lang = ?", params: ["en"] },
      });
      assert.deepEqual(
        both[0].map((h) => h.id),
        ["doc-5"],
      );
      const none = await index.search([q(4)], {
        k: 5,
        filter: { sql: "year > ?", params: [3000] },
      });
      assert.deepEqual(none, [[]]);
      if (kind !== "lance") {
        // SQLite's json_extract over the metadata JSON (a Lance table has typed columns instead)
        const j = await index.search([q(4)], {
          k: 60,
          filter: { sql: "json_extract(_meta, '$.year') IN (?, ?)", params: [2001, 2002] },
        });
        assert.equal(j[0].length, 12);
      }
      // Injection attempts and malformed filters are refused before SQLite sees them.
      for (const sql of [
        "1=1; DROP TABLE docs",
        "year > 0 -- comment",
        "year IN (SELECT _docno FROM docs)",
        '"year" > 0',
        "load_extension('x')",
        "year > ?1",
        "(year > 0",
      ]) {
        await assert.rejects(
          index.search([q(4)], { filter: { sql, params: [] } }),
          { code: "INVALID_ARGUMENT" },
          sql,
        );
      }
      await assert.rejects(
        index.search([q(4)], { filter: { sql: "year > ?", params: [] } }),
        /1 \? placeholder/,
      );
      await assert.rejects(index.search([q(4)], { filter: { sql: "year > ?", params: [{}] } }), {
        code: "INVALID_ARGUMENT",
      });
      // A value with SQL in it is just a value.
      const inj = await index.search([q(4)], {
        filter: { sql: "lang = ?", params: ["en' OR '1'='1"] },
      });
      assert.deepEqual(inj, [[]]);
      // Keyword (BM25) search over title + text.
      const kw = await index.keywordSearch(["graphene heat"], { k: 100 });
      assert.equal(kw[0].length, 20);
      assert.ok(kw[0].every((h) => Number(h.id.slice(4)) % 3 === 0));
      assert.deepEqual(await index.keywordSearch(["***"], { k: 3 }), [[]], "no words: no hits");
      const kwf = await index.keywordSearch(["graphene"], {
        k: 100,
        filter: { sql: "lang = ?", params: ["en"] },
      });
      assert.ok(kwf[0].length === 10 && kwf[0].every((h) => Number(h.id.slice(4)) % 2 === 1));
      // Hybrid: doc-6 matches both the vector query and the keywords.
      for (const fusion of ["rsf", "rrf"] as const) {
        const h = await index.hybridSearch([q(6)], ["graphene"], { k: 5, fusion, alpha: 0.5 });
        assert.equal(h[0][0].id, "doc-6", fusion);
        assert.equal(h[0].length, 5);
      }
      const pureVector = await index.hybridSearch([q(7)], ["graphene"], { k: 1, alpha: 1 });
      assert.equal(pureVector[0][0].id, "doc-7");
      const pureKeyword = await index.hybridSearch([q(7)], ["graphene"], { k: 1, alpha: 0 });
      assert.equal(Number(pureKeyword[0][0].id.slice(4)) % 3, 0);
      await assert.rejects(index.hybridSearch([q(7)], ["x"], { alpha: 2 }), {
        code: "INVALID_ARGUMENT",
      });
      await index.delete(["doc-6"]);
      assert.ok(
        !(await index.keywordSearch(["graphene"], { k: 100 }))[0].some((h) => h.id === "doc-6"),
      );
      await index.close();
    } finally {
      t.cleanup();
    }
  });

  test(`${kind}: bad input is refused with clear errors and leaves the index unchanged`, async () => {
    const t = tempDir();
    try {
      const index = await create(t.dir);
      await index.add(data.ids.slice(0, 10), data.docs.slice(0, 10));
      const wrongDim: Matrix = { data: new Float32Array(8 * 3), rows: 3, cols: 8 };
      await assert.rejects(index.add(["x"], [wrongDim]), { code: "SHAPE" });
      await assert.rejects(index.search([wrongDim]), { code: "SHAPE" });
      const nan = { data: data.docs[0].data.slice(), rows: data.docs[0].rows, cols: 16 };
      nan.data[3] = Number.NaN;
      await assert.rejects(index.add(["x"], [nan]), /non-finite/);
      await assert.rejects(index.search([nan]), { code: "INVALID_ARGUMENT" });
      await assert.rejects(index.add(["doc-1"], [data.docs[1]]), /already in the index/);
      await assert.rejects(index.add(["y", "y"], [data.docs[1], data.docs[2]]), /duplicate id/);
      await assert.rejects(
        index.add(["y"], [data.docs[1], data.docs[2]]),
        /1 ids but 2 embeddings/,
      );
      await assert.rejects(index.add([""], [data.docs[1]]), { code: "INVALID_ARGUMENT" });
      await assert.rejects(
        index.add(["z"], [{ data: new Float32Array(0), rows: 0, cols: 16 }]),
        /no tokens/,
      );
      await assert.rejects(
        index.add(["z"], [data.docs[1]], [[1] as unknown as Record<string, unknown>]),
        /plain object/,
      );
      assert.equal(index.count(), 10);
      await index.close();
      const again = await open(t.dir);
      assert.equal(again.count(), 10);
      await again.close();
    } finally {
      t.cleanup();
    }
  });

  // The local indexes' own files (chunks, manifest); LanceDB checks its own.
  if (kind !== "lance")
    test(`${kind}: corrupted, truncated or missing files are reported, not crashed on`, async () => {
      const t = tempDir();
      try {
        const index = await create(t.dir);
        await index.add(data.ids.slice(0, 10), data.docs.slice(0, 10));
        await index.close();
        const files = readdirSync(join(t.dir, "files"));
        const chunk = join(t.dir, "files", files.find((f) => f.startsWith("chunk-"))!);
        const good = readFileSync(chunk);
        const bad = Buffer.from(good);
        bad[bad.length - 5] ^= 0xff;
        writeFileSync(chunk, bad);
        await assert.rejects(open(t.dir), { code: "FILE_CORRUPT" });
        writeFileSync(chunk, good.subarray(0, good.length - 100));
        await assert.rejects(open(t.dir), /truncated/);
        writeFileSync(chunk, good);
        const manifest = join(t.dir, "manifest.json");
        const m = readFileSync(manifest, "utf8");
        writeFileSync(manifest, m.slice(0, m.length / 2));
        await assert.rejects(open(t.dir), { code: "FILE_CORRUPT" });
        writeFileSync(manifest, m.replace('"version": 1', '"version": 99'));
        await assert.rejects(open(t.dir), /newer than this tslate/);
        writeFileSync(manifest, m);
        const ok = await open(t.dir);
        assert.equal(ok.count(), 10);
        await ok.close();
        await assert.rejects(open(join(t.dir, "nope")), { code: "FILE_NOT_FOUND" });
        await assert.rejects(create(t.dir), /already holds an index/);
      } finally {
        t.cleanup();
      }
    });
}

test("opening an index with the wrong class says which type it is", async () => {
  const t = tempDir();
  try {
    const e = await Exact.create(t.dir);
    await e.close();
    await assert.rejects(PLAID.open(t.dir), /holds a "exact" index/);
  } finally {
    t.cleanup();
  }
});

test("HNSW with a wide token beam returns the Exact ranking", async () => {
  const t1 = tempDir();
  const t2 = tempDir();
  try {
    const h = await HNSW.create(t1.dir, { m: 16, efConstruction: 100 });
    const e = await Exact.create(t2.dir);
    await h.add(data.ids, data.docs);
    await e.add(data.ids, data.docs);
    const qs = [q(1), q(17), q(33)];
    // kToken >= all tokens: every document is a candidate, so the rerank is exhaustive.
    const hr = await h.search(qs, { k: 10, kToken: 1000 });
    const er = await e.search(qs, { k: 10 });
    assert.deepEqual(
      hr.map((r) => r.map((x) => x.id)),
      er.map((r) => r.map((x) => x.id)),
    );
    // Exact scores with float32 dot products (one matrix product per run of documents), HNSW
    // reranks with float64 sums: per-token dots differ by float32 rounding, 1e-6 over 4 tokens.
    for (let i = 0; i < qs.length; i++) {
      for (let j = 0; j < er[i].length; j++)
        assert.ok(Math.abs(hr[i][j].score - er[i][j].score) < 1e-6, `query ${i} rank ${j}`);
    }
    await h.close();
    await e.close();
  } finally {
    t1.cleanup();
    t2.cleanup();
  }
});
