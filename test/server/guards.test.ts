import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { startServer } from "../../src/server/index.js";
import { call, randomDocs, testServer } from "./helpers.js";

const docs = randomDocs(12, 8, 3);

test("API key: missing or wrong -> 401, right -> 200; OpenAPI and Swagger UI stay readable", async () => {
  const s = await testServer({ apiKey: "s3cret-key" });
  const none = await call(s.url, "GET", "/indices");
  assert.deepEqual([none.status, none.body.code], [401, "UNAUTHORIZED"]);
  const wrong = await call(s.url, "GET", "/indices", undefined, {
    authorization: "Bearer s3cret-kez",
  });
  assert.equal(wrong.status, 401);
  const shorter = await call(s.url, "GET", "/health", undefined, {
    authorization: "Bearer s3cret",
  });
  assert.equal(shorter.status, 401);
  const basic = await call(s.url, "GET", "/health", undefined, {
    authorization: "Basic s3cret-key",
  });
  assert.equal(basic.status, 401);
  const ok = await call(
    s.url,
    "POST",
    "/indices",
    { name: "k" },
    { authorization: "Bearer s3cret-key" },
  );
  assert.equal(ok.status, 200);
  assert.equal((await call(s.url, "GET", "/api-docs/openapi.json")).status, 200);
  assert.equal((await call(s.url, "GET", "/swagger-ui")).status, 200);
});

test("rate limit per client: 429 RATE_LIMITED with retry-after; /health exempt", async () => {
  const s = await testServer({ rateLimit: 2 });
  const answers = await Promise.all(
    Array.from({ length: 12 }, () => call(s.url, "GET", "/indices")),
  );
  const limited = answers.filter((a) => a.status === 429);
  assert.ok(limited.length >= 1, `statuses ${answers.map((a) => a.status)}`);
  assert.equal(limited[0].body.code, "RATE_LIMITED");
  assert.ok(Number(limited[0].headers.get("retry-after")) >= 1);
  const health = await Promise.all(Array.from({ length: 8 }, () => call(s.url, "GET", "/health")));
  assert.ok(health.every((h) => h.status === 200));
});

test("bodies over --body-limit are refused with 413 before parsing", async () => {
  const s = await testServer({ bodyLimit: 2048 });
  await call(s.url, "POST", "/indices", { name: "small" });
  const big = { documents: [{ embeddings: docs[0] }], metadata: [{ text: "x".repeat(4096) }] };
  const r = await call(s.url, "POST", "/indices/small/update", big);
  assert.deepEqual([r.status, r.body.code], [413, "PAYLOAD_TOO_LARGE"]);
  assert.equal((await call(s.url, "GET", "/indices/small/metadata/count")).body.count, 0);
});

test("a full update queue answers 503 SERVICE_UNAVAILABLE; accepted updates all land, in order", async () => {
  // A long batching window keeps the first update queued while the others arrive.
  const s = await testServer({
    maxQueuedUpdates: 2,
    batchWindowMs: 60_000,
    maxBatchDocuments: 1000,
  });
  await call(s.url, "POST", "/indices", { name: "q" });
  const answers = [];
  for (let i = 0; i < 5; i++) {
    answers.push(
      await call(s.url, "POST", "/indices/q/update", {
        documents: [{ embeddings: docs[i] }],
        metadata: [{ n: i }],
      }),
    );
  }
  assert.deepEqual(
    answers.map((a) => a.status),
    [202, 202, 503, 503, 503],
  );
  assert.equal(answers[2].body.code, "SERVICE_UNAVAILABLE");
  const health = await call(s.url, "GET", "/health");
  assert.equal(health.body.updates[0].status, "queued");
  assert.equal(health.body.updates[0].queue_depth, 2);
  // Closing applies what was accepted (graceful stop), then a new server sees it.
  await s.close();
  const again = await startServer({
    indexDir: s.dir,
    port: 0,
    searchWorkers: 1,
    logLevel: "silent",
  });
  try {
    const m = await call(again.url, "GET", "/indices/q/metadata");
    assert.deepEqual(
      m.body.metadata.map((x: any) => [x._subset_, x.n]),
      [
        [0, 0],
        [1, 1],
      ],
    );
  } finally {
    await again.close();
  }
});

test("restart keeps ids: the next id is never one handed out before, even after deletes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tslate-serve-restart-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const opts = {
    indexDir: dir,
    port: 0,
    searchWorkers: 1,
    logLevel: "silent" as const,
    batchWindowMs: 0,
  };
  let s = await startServer(opts);
  await call(s.url, "POST", "/indices", { name: "r" });
  const first = await call(s.url, "POST", "/indices/r/update?wait=true", {
    documents: docs.slice(0, 4).map((e) => ({ embeddings: e })),
    metadata: [0, 1, 2, 3].map((n) => ({ n })),
  });
  assert.deepEqual(first.body.document_ids, [0, 1, 2, 3]);
  await call(s.url, "DELETE", "/indices/r/documents?wait=true", {
    condition: "n >= ?",
    parameters: [2],
  });
  await s.close();
  s = await startServer(opts);
  try {
    const next = await call(s.url, "POST", "/indices/r/update?wait=true", {
      documents: [{ embeddings: docs[5] }],
      metadata: [{ n: 5 }],
    });
    assert.deepEqual(next.body.document_ids, [4]);
    const q = await call(s.url, "POST", "/indices/r/search", {
      queries: [{ embeddings: docs[1] }],
      params: { top_k: 1 },
    });
    assert.deepEqual(q.body.results[0].document_ids, [1]);
  } finally {
    await s.close();
  }
});
