import assert from "node:assert/strict";
import { test } from "node:test";
import { Exact } from "../../src/indexes/exact.js";
import { Lance, lanceWhere } from "../../src/indexes/lance.js";
import { synthetic, tempDir } from "./helpers.js";
import { type LanceStore, localStore, s3Store } from "./lance-stores.js";

const data = synthetic({ docs: 60, dim: 16, seed: 21, vocab: 60, noise: 0.1 });
const meta = data.ids.map((_, i) => ({
  year: 2000 + (i % 10),
  lang: i % 2 ? "en" : "fr",
  title: `title ${i}`,
  text: i % 3 === 0 ? "graphene conducts heat" : `plain words number ${i}`,
}));
const q = (i: number) => data.query(data.docs[i], 4, 0.02);

const STORES: [string, () => Promise<LanceStore>][] = [
  ["local directory", localStore],
  ["s3:// (s3rver on loopback)", s3Store],
];

for (const [where, makeStore] of STORES) {
  test(`lance on ${where}: add, search equals Exact, delete, update, reopen`, {
    timeout: 180_000, // s3rver round trips are slow on a loaded 2-core machine
  }, async () => {
    const t = await makeStore();
    const { uri, storageOptions } = t;
    const e = tempDir();
    try {
      const index = await Lance.create(uri, { dim: 16, storageOptions });
      const exact = await Exact.create(e.dir);
      assert.equal(index.count(), 0);
      assert.deepEqual(await index.search([q(0)], { k: 3 }), [[]]);
      await index.add(data.ids.slice(0, 40), data.docs.slice(0, 40), meta.slice(0, 40));
      await index.add(data.ids.slice(40), data.docs.slice(40), meta.slice(40));
      await exact.add(data.ids, data.docs, meta);
      assert.equal(index.count(), 60);
      const queries = [q(5), q(45), q(12)];
      const got = await index.search(queries, { k: 5 });
      const want = await exact.search(queries, { k: 5 });
      assert.deepEqual(
        got.map((h) => h.map((x) => x.id)),
        want.map((h) => h.map((x) => x.id)),
      );
      for (let i = 0; i < got.length; i++)
        for (let j = 0; j < got[i].length; j++)
          assert.ok(Math.abs(got[i][j].score - want[i][j].score) < 1e-4, "MaxSim within 1e-4");
      await assert.rejects(index.add(["doc-1"], [data.docs[1]]), /already in the index/);
      await index.delete(["doc-5", "not-there"]);
      assert.equal(index.count(), 59);
      assert.equal(await index.has("doc-5"), false);
      assert.ok(!(await index.search([q(5)], { k: 10 }))[0].some((h) => h.id === "doc-5"));
      await index.update(["doc-45"], [data.docs[7]], [{ year: 1999 }]);
      assert.equal(index.count(), 59);
      const u = await index.search([q(7)], { k: 2 });
      assert.deepEqual(new Set(u[0].map((h) => h.id)), new Set(["doc-7", "doc-45"]));
      assert.deepEqual(await index.metadata("doc-45"), { year: 1999 });
      const emb = await index.embedding("doc-45");
      assert.deepEqual(emb?.data, data.docs[7].data);
      await index.close();
      await assert.rejects(index.search([q(0)]), { code: "INDEX" });
      const again = await Lance.open(uri, { storageOptions });
      assert.equal(again.count(), 59);
      assert.deepEqual((await again.ids()).length, 59);
      await again.close();
      await exact.close();
      await assert.rejects(Lance.create(uri, { dim: 16, storageOptions }), /already holds/);
      const replaced = await Lance.create(uri, { dim: 16, override: true, storageOptions });
      assert.equal(replaced.count(), 0);
      await replaced.close();
    } finally {
      await t.cleanup();
      e.cleanup();
    }
  });

  test(`lance on ${where}: filters, subset, keyword and hybrid search, versions`, {
    timeout: 180_000, // s3rver round trips are slow on a loaded 2-core machine
  }, async () => {
    const t = await makeStore();
    try {
      const index = await Lance.create(t.uri, { dim: 16, storageOptions: t.storageOptions });
      await index.add(data.ids, data.docs, meta);
      const v1 = await index.version();
      const f = await index.search([q(4)], {
        k: 60,
        filter: { sql: "year >= ? AND lang = ?", params: [2005, "fr"] },
      });
      assert.ok(f[0].length > 0);
      for (const h of f[0]) {
        const i = Number(h.id.slice(4));
        assert.ok(2000 + (i % 10) >= 2005 && i % 2 === 0, `${h.id} passes the filter`);
      }
      const s = await index.search([q(4)], { k: 10, subset: ["doc-4", "doc-9"] });
      assert.deepEqual(s[0].map((h) => h.id).sort(), ["doc-4", "doc-9"]);
      assert.deepEqual(await index.search([q(4)], { k: 10, subset: [] }), [[]]);
      // injection attempts are refused before reaching LanceDB
      for (const sql of ["year > 1; DROP TABLE x", "year > 1 -- c", "(SELECT 1)", "nope = 1"])
        await assert.rejects(index.search([q(4)], { filter: { sql } }), {
          code: "INVALID_ARGUMENT",
        });
      await assert.rejects(
        index.search([q(4)], { filter: { sql: "lang GLOB ?", params: ["e*"] } }),
        {
          code: "UNSUPPORTED",
        },
      );
      // a quote in a parameter stays inside its literal
      assert.deepEqual(
        await index.search([q(4)], { filter: { sql: "lang = ?", params: ["x' OR '1'='1"] } }),
        [[]],
      );
      await assert.rejects(
        index.search([q(4)], { nIvfProb: 2 } as never),
        /unknown search option "nIvfProb"/,
      );
      const kw = await index.keywordSearch(["graphene heat"], { k: 5 });
      assert.equal(kw[0].length, 5);
      for (const h of kw[0]) assert.equal(Number(h.id.slice(4)) % 3, 0);
      const hy = await index.hybridSearch([q(3)], ["graphene"], { k: 3 });
      assert.equal(hy[0][0].id, "doc-3");
      await index.delete(["doc-3"]);
      const latest = await index.searchVersioned([q(3)], { k: 1 });
      assert.ok(latest.version > v1);
      assert.notEqual(latest.results[0][0]?.id, "doc-3");
      const old = await index.searchVersioned([q(3)], { k: 1, version: v1 });
      assert.equal(old.version, v1);
      assert.equal(
        old.results[0][0].id,
        "doc-3",
        "an older version still has the deleted document",
      );
      await index.close();
    } finally {
      await t.cleanup();
    }
  });
}

test("lance: bad input gets clear errors", { timeout: 60_000 }, async () => {
  const t = tempDir();
  try {
    await assert.rejects(Lance.create(t.dir, {} as never), /options.dim/);
    await assert.rejects(Lance.open(t.dir), /no tslate Lance index/);
    const index = await Lance.create(t.dir, { dim: 4 });
    const m = { data: new Float32Array([1, 0, 0, 0]), rows: 1, cols: 4 };
    await assert.rejects(index.add(["a"], [{ data: new Float32Array(3), rows: 1, cols: 3 }]), {
      code: "SHAPE",
    });
    await assert.rejects(index.add(["a", "a"], [m, m]), /duplicate id/);
    await assert.rejects(
      index.add(["a"], [{ data: new Float32Array([Number.NaN, 0, 0, 0]), rows: 1, cols: 4 }]),
      /finite/,
    );
    await assert.rejects(index.add(["a"], [m], [{ "bad key": 1 }]), /metadata\[0\] key/);
    await index.add(["a"], [m], [{ year: 1 }]);
    await assert.rejects(index.add(["b"], [m], [{ year: "x" }]), /one type per key/);
    const ro = await Lance.open(t.dir, { readOnly: true });
    await assert.rejects(ro.add(["c"], [m]), /read-only/);
    await ro.close();
    await index.close();
  } finally {
    t.cleanup();
  }
});

test("lanceWhere binds parameters as literals", () => {
  const cols = new Set(["year", "lang"]);
  assert.equal(
    lanceWhere({ sql: "year >= ? AND lang = ?", params: [2020, "it's"] }, cols),
    "`year` >= 2020 AND `lang` = 'it''s'",
  );
  assert.equal(
    lanceWhere({ sql: "lang IN ('a', ?)", params: [null] }, cols),
    "`lang` IN ('a', NULL)",
  );
  assert.throws(
    () => lanceWhere({ sql: "year > ?", params: [] }, cols),
    /1 \? placeholders but 0 params/,
  );
});
