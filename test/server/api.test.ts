import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { b64, call, randomDocs, testServer } from "./helpers.js";

const DIM = 16;
const server = await testServer();
const B = server.url;
const docs = randomDocs(30, DIM, 7);
const meta = docs.map((_, i) => ({
  title: `document number ${i}`,
  year: 2000 + i,
  lang: i % 2 ? "en" : "fr",
}));

async function createWith(name: string, n: number, config: Record<string, unknown> = {}) {
  assert.equal((await call(B, "POST", "/indices", { name, config })).status, 200);
  const r = await call(B, "POST", `/indices/${name}/update?wait=true`, {
    documents: docs.slice(0, n).map((e) => ({ embeddings: e })),
    metadata: meta.slice(0, n),
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.document_ids as number[];
}

test("health, and index declaration, listing, info and deletion with next-plaid's codes", async () => {
  const h = await call(B, "GET", "/health");
  assert.equal(h.status, 200);
  assert.equal(h.body.status, "healthy");
  assert.ok(h.body.memory_usage_bytes > 0);
  assert.equal(h.body.model, undefined);

  const c = await call(B, "POST", "/indices", {
    name: "crud",
    config: { nbits: 2, max_documents: 50 },
  });
  assert.equal(c.status, 200);
  assert.equal(c.body.config.nbits, 2);
  assert.equal(c.body.config.start_from_scratch, 999);
  assert.equal(
    (await call(B, "POST", "/indices", { name: "crud" })).body.code,
    "INDEX_ALREADY_EXISTS",
  );
  assert.equal((await call(B, "POST", "/indices", { name: "crud" })).status, 409);
  assert.ok((await call(B, "GET", "/indices")).body.includes("crud"));
  // Declared but empty: next-plaid answers INDEX_NOT_FOUND for info and search.
  const info = await call(B, "GET", "/indices/crud");
  assert.deepEqual([info.status, info.body.code], [404, "INDEX_NOT_FOUND"]);
  const summary = (await call(B, "GET", "/health")).body.indices.find(
    (i: any) => i.name === "crud",
  );
  assert.deepEqual([summary.num_documents, summary.nbits, summary.max_documents], [0, 2, 50]);

  const cfg = await call(B, "PUT", "/indices/crud/config", { max_documents: null });
  assert.equal(cfg.status, 200);
  assert.equal(cfg.body.config.max_documents, null);

  const del = await call(B, "DELETE", "/indices/crud");
  assert.deepEqual(del.body, { deleted: true, name: "crud" });
  assert.equal((await call(B, "DELETE", "/indices/crud")).body.code, "INDEX_NOT_FOUND");
  assert.ok(!existsSync(join(server.dir, "crud")));
  const upd = await call(B, "POST", "/indices/nope/update", {
    documents: [{ embeddings: [[1]] }],
    metadata: [{}],
  });
  assert.deepEqual([upd.status, upd.body.code], [404, "INDEX_NOT_DECLARED"]);
  assert.equal((await call(B, "GET", "/no/such/route")).status, 404);
});

test("index names cannot leave --index-dir", async () => {
  for (const name of ["../evil", "..", ".hidden", "a/b", "a\\b", "", "x".repeat(129), "名前"]) {
    const r = await call(B, "POST", "/indices", { name });
    assert.equal(r.status, 400, `${JSON.stringify(name)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.code, "BAD_REQUEST");
  }
  for (const path of [
    "/indices/..%2F..%2Fetc/update",
    "/indices/%2e%2e/search",
    "/indices/.x/metadata",
  ]) {
    const r = await call(B, "POST", path, { documents: [], metadata: [] });
    assert.ok(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
  }
  assert.deepEqual(
    readdirSync(server.dir).filter((e) => !e.startsWith(".")),
    readdirSync(server.dir).filter(
      (e) => !e.startsWith(".") && existsSync(join(server.dir, e, "config.json")),
    ),
  );
  assert.ok(!existsSync(join(server.dir, "..", "evil")));
});

test("update is 202 and asynchronous; ids follow insertion order and survive deletes", async () => {
  assert.equal((await call(B, "POST", "/indices", { name: "ids" })).status, 200);
  const r = await call(B, "POST", "/indices/ids/update", {
    documents: docs.slice(0, 10).map((e) => ({ embeddings: e })),
    metadata: meta.slice(0, 10),
  });
  assert.equal(r.status, 202);
  assert.equal(r.body, "Update queued for batching");
  // The documents appear once the batch is committed: poll as a next-plaid client would.
  for (let i = 0; i < 500; i++) {
    const info = await call(B, "GET", "/indices/ids");
    if (info.status === 200 && info.body.num_documents === 10) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  const info = await call(B, "GET", "/indices/ids");
  assert.equal(info.body.num_documents, 10);
  assert.equal(info.body.dimension, DIM);
  assert.equal(info.body.num_embeddings, 40);
  const del = await call(B, "DELETE", "/indices/ids/documents?wait=true", {
    condition: "year < ?",
    parameters: [2003],
  });
  assert.deepEqual(del.body.document_ids, [0, 1, 2]);
  assert.equal(del.body.remaining, 7);
  const more = await call(B, "POST", "/indices/ids/documents?wait=true", {
    documents: docs.slice(10, 12).map((e) => ({ embeddings: e })),
    metadata: meta.slice(10, 12),
  });
  assert.deepEqual(more.body.document_ids, [10, 11]);
  // Document 5 is still document 5 after the deletes (next-plaid would renumber it 2).
  const q = await call(B, "POST", "/indices/ids/search", {
    queries: [{ embeddings: docs[5] }],
    params: { top_k: 1 },
  });
  assert.deepEqual(q.body.results[0].document_ids, [5]);
  assert.equal(q.body.results[0].metadata[0]._subset_, 5);
  assert.equal(q.body.results[0].metadata[0].title, "document number 5");
  const legacy = await call(B, "POST", "/indices/ids/documents", {
    documents: [{ embeddings: docs[0] }],
    metadata: [{}],
  });
  assert.deepEqual([legacy.status, legacy.body], [202, "Update queued in background"]);
});

test("search: semantic, base64, subset, filter, keyword, hybrid, filtered route", async () => {
  await createWith("s", 20);
  const top = await call(B, "POST", "/indices/s/search", {
    queries: [{ embeddings: docs[4] }, { embeddings: docs[9] }],
    params: { top_k: 3 },
  });
  assert.equal(top.status, 200);
  assert.equal(top.body.num_queries, 2);
  assert.equal(top.body.results[0].document_ids[0], 4);
  assert.equal(top.body.results[1].document_ids[0], 9);
  assert.equal(top.body.results[1].query_id, 1);
  assert.ok(top.body.results[0].scores[0] >= top.body.results[0].scores[1]);

  const flat = docs[7].flat();
  const b = await call(B, "POST", "/indices/s/search", {
    queries: [{ embeddings_b64: b64(flat), shape: [4, DIM] }],
    params: { top_k: 1 },
  });
  assert.deepEqual(b.body.results[0].document_ids, [7]);

  const sub = await call(B, "POST", "/indices/s/search", {
    queries: [{ embeddings: docs[4] }],
    subset: [1, 2],
    params: { top_k: 5 },
  });
  assert.deepEqual([...sub.body.results[0].document_ids].sort(), [1, 2]);

  const f = await call(B, "POST", "/indices/s/search", {
    queries: [{ embeddings: docs[4] }],
    filter_condition: "lang = ? AND year >= ?",
    filter_parameters: ["en", 2010],
    params: { top_k: 20, n_ivf_probe: 4, n_full_scores: 64 },
  });
  assert.ok(f.body.results[0].document_ids.length > 0);
  for (const m of f.body.results[0].metadata) assert.ok(m.lang === "en" && m.year >= 2010);

  const legacy = await call(B, "POST", "/indices/s/search/filtered", {
    queries: [{ embeddings: docs[3] }],
    filter_condition: "year = ?",
    filter_parameters: [2003],
  });
  assert.deepEqual(legacy.body.results[0].document_ids, [3]);

  const kw = await call(B, "POST", "/indices/s/search", {
    text_query: ["number 13"],
    params: { top_k: 1 },
  });
  assert.deepEqual(kw.body.results[0].document_ids, [13]);

  for (const fusion of ["relative_score", "rrf"]) {
    const h = await call(B, "POST", "/indices/s/search", {
      queries: [{ embeddings: docs[13] }],
      text_query: ["number 13"],
      alpha: 0.5,
      fusion,
      params: { top_k: 2 },
    });
    assert.equal(h.status, 200, JSON.stringify(h.body));
    assert.equal(h.body.results[0].document_ids[0], 13);
  }
  const badFusion = await call(B, "POST", "/indices/s/search", {
    text_query: ["x"],
    fusion: "max",
  });
  assert.equal(badFusion.body.code, "BAD_REQUEST");
  assert.equal(
    (await call(B, "POST", "/indices/s/search", { text_query: ["x"], alpha: 2 })).status,
    400,
  );
  assert.equal((await call(B, "POST", "/indices/s/search", {})).status, 400);
  const unknown = await call(B, "POST", "/indices/ghost/search", {
    queries: [{ embeddings: docs[0] }],
  });
  assert.deepEqual([unknown.status, unknown.body.code], [404, "INDEX_NOT_FOUND"]);
});

test("bad input: bad JSON, wrong dims, NaN, ragged rows, bad base64, empty, mismatched metadata", async () => {
  await createWith("bad", 5);
  const cases: [string, unknown, number, string][] = [
    ["/indices/bad/update", "{not json", 400, "BAD_REQUEST"],
    [
      "/indices/bad/update",
      { documents: [{ embeddings: [[1, 2]] }], metadata: [{}] },
      400,
      "DIMENSION_MISMATCH",
    ],
    [
      "/indices/bad/update",
      { documents: [{ embeddings: [docs[0][0], docs[0][1].slice(1)] }], metadata: [{}] },
      400,
      "BAD_REQUEST",
    ],
    [
      "/indices/bad/update",
      { documents: [{ embeddings: [] }], metadata: [{}] },
      400,
      "BAD_REQUEST",
    ],
    [
      "/indices/bad/update",
      { documents: [{ embeddings: [[]] }], metadata: [{}] },
      400,
      "BAD_REQUEST",
    ],
    [
      "/indices/bad/update",
      { documents: [{ embeddings: [["1", 2]] }], metadata: [{}] },
      400,
      "BAD_REQUEST",
    ],
    [
      "/indices/bad/update",
      { documents: [{ embeddings: [[1e39, ...docs[0][0].slice(1)]] }], metadata: [{}] },
      400,
      "BAD_REQUEST",
    ],
    [
      "/indices/bad/update",
      {
        documents: [{ embeddings_b64: b64([Number.NaN, ...docs[0][0].slice(1)]), shape: [1, DIM] }],
        metadata: [{}],
      },
      400,
      "BAD_REQUEST",
    ],
    [
      "/indices/bad/update",
      { documents: [{ embeddings_b64: b64([1, 2, 3]), shape: [1, DIM] }], metadata: [{}] },
      400,
      "BAD_REQUEST",
    ],
    [
      "/indices/bad/update",
      { documents: [{ embeddings_b64: "@@@@", shape: [1, 1] }], metadata: [{}] },
      400,
      "BAD_REQUEST",
    ],
    ["/indices/bad/update", { documents: [{}], metadata: [{}] }, 400, "BAD_REQUEST"],
    [
      "/indices/bad/update",
      { documents: [{ embeddings: docs[0] }], metadata: [] },
      400,
      "BAD_REQUEST",
    ],
    ["/indices/bad/update", { documents: [], metadata: [] }, 400, "BAD_REQUEST"],
    [
      "/indices/bad/update",
      { documents: [{ embeddings: docs[0] }], metadata: ["x"] },
      400,
      "BAD_REQUEST",
    ],
    ["/indices/bad/search", { queries: [{ embeddings: [[1, 2, 3]] }] }, 400, "DIMENSION_MISMATCH"],
    ["/indices/bad/search", { queries: [{ embeddings: [[1, 2], [3]] }] }, 400, "BAD_REQUEST"],
    [
      "/indices/bad/search",
      { queries: [{ embeddings: docs[0] }], params: { top_k: 0 } },
      400,
      "BAD_REQUEST",
    ],
    ["/indices/bad/search", { queries: "nope" }, 400, "BAD_REQUEST"],
    ["/indices/bad/search", '{"queries": [{"embeddings": [[NaN]]}]}', 400, "BAD_REQUEST"],
  ];
  for (const [path, body, status, code] of cases) {
    const r = await call(B, "POST", path, body);
    assert.deepEqual(
      [r.status, r.body.code],
      [status, code],
      `${path} ${JSON.stringify(body).slice(0, 80)}: ${JSON.stringify(r.body)}`,
    );
    assert.equal(typeof r.body.message, "string");
  }
  // Nothing of that reached the index.
  assert.equal((await call(B, "GET", "/indices/bad")).body.num_documents, 5);
});

test("SQL injection attempts in conditions are refused and change nothing", async () => {
  await createWith("sql", 8);
  const attacks = [
    "1=1; DROP TABLE docs",
    "year > 0 UNION SELECT _docno FROM docs",
    "year IN (SELECT _docno FROM docs)",
    "year > 0 -- comment",
    "year > 0 /* x */",
    "lang = 'en' OR '1'='1' ; DELETE FROM docs",
    '"year" > 0',
    "sqlite_master.name IS NOT NULL",
    "load_extension('x')",
    "year > :p",
  ];
  for (const condition of attacks) {
    for (const [method, path, body] of [
      ["DELETE", "/indices/sql/documents", { condition, parameters: [] }],
      ["POST", "/indices/sql/metadata/query", { condition, parameters: [] }],
      ["POST", "/indices/sql/metadata/get", { condition, parameters: [] }],
      ["POST", "/indices/sql/metadata/update", { condition, parameters: [], updates: { x: 1 } }],
      [
        "POST",
        "/indices/sql/search",
        { text_query: ["document"], filter_condition: condition, filter_parameters: [] },
      ],
      [
        "POST",
        "/indices/sql/search/filtered",
        { queries: [{ embeddings: docs[0] }], filter_condition: condition },
      ],
    ] as const) {
      const r = await call(B, method, path, body);
      assert.deepEqual(
        [r.status, r.body.code],
        [400, "BAD_REQUEST"],
        `${method} ${path} ${condition}: ${JSON.stringify(r.body)}`,
      );
    }
  }
  // Values are bound, never pasted: a quote in a parameter is just a string.
  const q = await call(B, "POST", "/indices/sql/metadata/query", {
    condition: "lang = ?",
    parameters: ["en' OR '1'='1"],
  });
  assert.deepEqual(q.body, { document_ids: [], count: 0 });
  assert.equal((await call(B, "GET", "/indices/sql")).body.num_documents, 8);
  assert.equal((await call(B, "GET", "/indices/sql/metadata/count")).body.count, 8);
});

test("metadata routes: all, count, check, query, get, update", async () => {
  await createWith("meta", 6);
  const all = await call(B, "GET", "/indices/meta/metadata");
  assert.equal(all.body.count, 6);
  assert.deepEqual(all.body.metadata[2], { _subset_: 2, ...meta[2] });
  assert.deepEqual((await call(B, "GET", "/indices/meta/metadata/count")).body, {
    count: 6,
    has_metadata: true,
  });
  assert.deepEqual(
    (await call(B, "POST", "/indices/meta/metadata/check", { document_ids: [0, 5, 99] })).body,
    {
      existing_ids: [0, 5],
      missing_ids: [99],
      existing_count: 2,
      missing_count: 1,
    },
  );
  assert.deepEqual(
    (
      await call(B, "POST", "/indices/meta/metadata/query", {
        condition: "lang = ?",
        parameters: ["en"],
      })
    ).body,
    { document_ids: [1, 3, 5], count: 3 },
  );
  const get = await call(B, "POST", "/indices/meta/metadata/get", { document_ids: [4, 1] });
  assert.deepEqual(
    get.body.metadata.map((m: any) => m._subset_),
    [4, 1],
  );
  assert.equal(
    (
      await call(B, "POST", "/indices/meta/metadata/get", {
        condition: "year > ?",
        parameters: [2001],
        limit: 2,
      })
    ).body.count,
    2,
  );
  assert.equal(
    (await call(B, "POST", "/indices/meta/metadata/get", { document_ids: [1], condition: "1" }))
      .status,
    400,
  );
  const upd = await call(B, "POST", "/indices/meta/metadata/update", {
    condition: "lang = ?",
    parameters: ["fr"],
    updates: { reviewed: true, title: "renamed doc" },
  });
  assert.deepEqual(upd.body, { updated: 3 });
  const after = await call(B, "POST", "/indices/meta/metadata/get", { document_ids: [0, 1] });
  assert.deepEqual(after.body.metadata[0], {
    _subset_: 0,
    ...meta[0],
    title: "renamed doc",
    reviewed: true,
  });
  assert.deepEqual(after.body.metadata[1], { _subset_: 1, ...meta[1] });
  // The keyword index follows the new metadata.
  const kw = await call(B, "POST", "/indices/meta/search", {
    text_query: ["renamed"],
    params: { top_k: 10 },
  });
  assert.deepEqual([...kw.body.results[0].document_ids].sort(), [0, 2, 4]);
  assert.equal(
    (await call(B, "POST", "/indices/meta/metadata/update", { condition: "1", updates: [1] }))
      .status,
    400,
  );
  assert.equal((await call(B, "GET", "/indices/ghost/metadata")).body.code, "INDEX_NOT_FOUND");
});

test("max_documents evicts the oldest documents", async () => {
  await createWith("evict", 5, { max_documents: 3 });
  const ids = (
    await call(B, "POST", "/indices/evict/metadata/query", {
      condition: "year > ?",
      parameters: [0],
    })
  ).body.document_ids;
  assert.deepEqual(ids, [2, 3, 4]);
  await call(B, "PUT", "/indices/evict/config", { max_documents: 4 });
  const r = await call(B, "POST", "/indices/evict/update?wait=true", {
    documents: [{ embeddings: docs[5] }, { embeddings: docs[6] }],
    metadata: [meta[5], meta[6]],
  });
  assert.deepEqual(r.body.document_ids, [5, 6]);
  assert.equal(r.body.evicted, 1);
  assert.deepEqual(
    (
      await call(B, "POST", "/indices/evict/metadata/query", {
        condition: "year > ?",
        parameters: [0],
      })
    ).body.document_ids,
    [3, 4, 5, 6],
  );
});

test("rerank with embeddings; text routes answer MODEL_NOT_LOADED without --model", async () => {
  const query = docs[3];
  const r = await call(B, "POST", "/rerank", {
    query,
    documents: [
      { embeddings: docs[1] },
      { embeddings: docs[3] },
      { embeddings_b64: b64(docs[2].flat()), shape: [4, DIM] },
    ],
  });
  assert.equal(r.status, 200);
  assert.equal(r.body.num_documents, 3);
  assert.equal(r.body.results[0].index, 1);
  assert.ok(Math.abs(r.body.results[0].score - 4) < 1e-5, String(r.body.results[0].score));
  assert.equal(
    (
      await call(B, "POST", "/rerank", {
        query: [[1, 2]],
        documents: [{ embeddings: [[1, 2, 3]] }],
      })
    ).body.code,
    "DIMENSION_MISMATCH",
  );
  assert.equal(
    (await call(B, "POST", "/rerank", { documents: [{ embeddings: [[1]] }] })).status,
    400,
  );
  await createWith("nomodel", 2);
  for (const [path, body] of [
    ["/encode", { texts: ["a"], input_type: "query" }],
    ["/rerank_with_encoding", { query: "a", documents: ["b"] }],
    ["/v1/embeddings", { input: "a", model: "m" }],
    ["/indices/nomodel/update_with_encoding", { documents: ["a"], metadata: [{}] }],
    ["/indices/nomodel/search_with_encoding", { queries: ["a"] }],
    [
      "/indices/nomodel/search/filtered_with_encoding",
      { queries: ["a"], filter_condition: "year > 0" },
    ],
  ] as const) {
    const res = await call(B, "POST", path, body);
    assert.deepEqual([res.status, res.body.code], [400, "MODEL_NOT_LOADED"], path);
  }
});

test("OpenAPI document and Swagger UI page are served", async () => {
  const doc = await call(B, "GET", "/api-docs/openapi.json");
  assert.equal(doc.status, 200);
  assert.equal(doc.body.openapi, "3.0.3");
  for (const p of [
    "/indices/{name}/search",
    "/indices/{name}/update",
    "/v1/embeddings",
    "/encode",
    "/rerank",
    "/indices/{name}/metadata/update",
  ]) {
    assert.ok(doc.body.paths[p], `OpenAPI lacks ${p}`);
  }
  assert.ok(doc.body.paths["/indices/{name}/update"].post.requestBody);
  const ui = await call(B, "GET", "/swagger-ui");
  assert.equal(ui.status, 200);
  assert.match(String(ui.body), /swagger/i);
  const js = await fetch(`${B}/swagger-ui/static/swagger-ui-bundle.js`);
  assert.equal(js.status, 200);
  await js.arrayBuffer();
});

test("searches run while updates are applied: every answer is a 200 with a full top-k", async () => {
  await createWith("live", 20);
  const more = randomDocs(40, DIM, 99);
  const updates = more.map((e, i) =>
    call(B, "POST", "/indices/live/update?wait=true", {
      documents: [{ embeddings: e }],
      metadata: [{ n: 100 + i }],
    }),
  );
  const searches = Array.from({ length: 40 }, (_, i) =>
    call(B, "POST", "/indices/live/search", {
      queries: [{ embeddings: docs[i % 20] }],
      params: { top_k: 5 },
    }),
  );
  const [u, s] = await Promise.all([Promise.all(updates), Promise.all(searches)]);
  assert.ok(u.every((a) => a.status === 200));
  // Every update got its own id, none lost or doubled.
  assert.deepEqual(
    u.flatMap((a) => a.body.document_ids).sort((a: number, b: number) => a - b),
    Array.from({ length: 40 }, (_, i) => 20 + i),
  );
  for (const [i, a] of s.entries()) {
    assert.equal(a.status, 200);
    assert.equal(a.body.results[0].document_ids.length, 5);
    assert.equal(a.body.results[0].document_ids[0], i % 20);
  }
  assert.equal((await call(B, "GET", "/indices/live")).body.num_documents, 60);
});

test("metadata may be omitted (next-plaid's Python SDK does): each document gets {}", async () => {
  await call(B, "POST", "/indices", { name: "nometa" });
  const r = await call(B, "POST", "/indices/nometa/update?wait=true", {
    documents: [{ embeddings: docs[0] }, { embeddings: docs[1] }],
  });
  assert.deepEqual(r.body.document_ids, [0, 1]);
  assert.deepEqual((await call(B, "GET", "/indices/nometa/metadata")).body.metadata, [
    { _subset_: 0 },
    { _subset_: 1 },
  ]);
});
