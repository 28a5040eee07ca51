import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI from "openai";
import { type TslateApiError, TslateClient } from "../../src/client/index.js";
import { ColBERT } from "../../src/models/colbert.js";
import { sharedPath } from "../helpers/shared.js";
import { call, testServer } from "./helpers.js";

// The tiny random-weight PyLate checkpoint of ../shared/fixtures: fast, and the reference for
// what the server must answer (the same model encoding in this process).
const modelDir = sharedPath("fixtures/bert-tiny-colbert");
const server = await testServer({ model: modelDir, threads: 1, batchSize: 4 });
const client = new TslateClient(server.url);
const local = await ColBERT.fromPretrained(modelDir, { threads: 1, warn: () => {} });
const texts = [
  "ColBERT compares every query token with every document token.",
  "Paris is the capital of France.",
  "Late interaction keeps one vector per token.",
  "Berlin is the capital of Germany.",
];

function close(a: number[][], b: { data: Float32Array; rows: number; cols: number }, tol: number) {
  assert.equal(a.length, b.rows);
  let m = 0;
  a.forEach((row, r) =>
    row.forEach((v, c) => (m = Math.max(m, Math.abs(v - b.data[r * b.cols + c])))),
  );
  assert.ok(m <= tol, `max diff ${m} > ${tol}`);
}

test("/encode answers the model's embeddings, JSON and base64", async () => {
  const want = await local.encode(texts, { isQuery: false });
  const json = await client.encode(texts, "document");
  assert.equal(json.num_texts, 4);
  json.embeddings!.forEach((e, i) => close(e, want[i], 1e-6));
  const b = await client.encode(texts.slice(0, 2), "query", { base64: true });
  const q = await local.encode(texts.slice(0, 2), { isQuery: true });
  assert.deepEqual(
    b.shapes,
    q.map((m) => [m.rows, m.cols]),
  );
  const bytes = Buffer.from(b.embeddings_b64![1], "base64");
  const got = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  assert.deepEqual(Array.from(got), Array.from(q[1].data));
  const health = await client.health();
  assert.equal(health.model?.embedding_dim, local.embeddingDim);
  assert.equal(health.model?.batch_size, 4);
});

test("update_with_encoding, search_with_encoding (plain, filtered, hybrid), rerank_with_encoding", async () => {
  await client.createIndex("text");
  const done = await client.updateWithEncoding(
    "text",
    texts,
    texts.map((t, i) => ({ text: t, n: i })),
    { wait: true },
  );
  assert.deepEqual((done as { document_ids: number[] }).document_ids, [0, 1, 2, 3]);
  const r = await client.searchWithEncoding("text", {
    queries: ["capital of France", "one vector per token"],
    params: { top_k: 4 },
  });
  assert.equal(r.num_queries, 2);
  // Same ranking as exact MaxSim on this process's embeddings (4 documents: PLAID scores all of them).
  const docs = await local.encode(texts, { isQuery: false });
  const qs = await local.encode(["capital of France", "one vector per token"], { isQuery: true });
  const { maxSim } = await import("../../src/scores/maxsim.js");
  qs.forEach((q, i) => {
    const best = docs.map((d, j) => [j, maxSim(q, d)] as const).sort((a, b) => b[1] - a[1])[0][0];
    assert.equal(r.results[i].document_ids[0], best);
  });
  const f = await client.searchWithEncoding("text", {
    queries: ["capital"],
    filter_condition: "n >= ?",
    filter_parameters: [2],
  });
  assert.ok(f.results[0].document_ids.every((id) => id >= 2));
  const h = await client.searchWithEncoding("text", {
    queries: ["capital"],
    text_query: ["Germany"],
    alpha: 0.3,
    params: { top_k: 1 },
  });
  assert.deepEqual(h.results[0].document_ids, [3]);
  const rr = await client.rerankWithEncoding("capital of Germany", texts);
  assert.equal(rr.num_documents, 4);
  assert.ok(rr.results[0].score >= rr.results[3].score);
  const want = maxSim(
    (await local.encode(["capital of Germany"], { isQuery: true }))[0],
    docs[rr.results[0].index],
  );
  assert.ok(Math.abs(rr.results[0].score - want) < 1e-4);
  await assert.rejects(
    client.searchWithEncoding("ghost", { queries: ["x"] }),
    (e: TslateApiError) => e.status === 404 && e.code === "INDEX_NOT_FOUND",
  );
  await assert.rejects(client.encode([], "query"), (e: TslateApiError) => e.code === "BAD_REQUEST");
});

test("/v1/embeddings with the official openai client: one multi-vector embedding per input", async () => {
  const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  const res = await openai.embeddings.create({
    model: "bert-tiny-colbert",
    input: [texts[0], texts[1]],
    encoding_format: "float",
    // PyLate's field: queries (its default) or documents.
    is_query: false,
  } as OpenAI.EmbeddingCreateParams);
  assert.equal(res.data.length, 2);
  const want = await local.encode([texts[0], texts[1]], { isQuery: false });
  res.data.forEach((d, i) => {
    assert.equal(d.index, i);
    close(d.embedding as unknown as number[][], want[i], 1e-6);
  });
  assert.ok(res.usage.total_tokens > 0);
  const q = await openai.embeddings.create({
    model: "bert-tiny-colbert",
    input: "what is late interaction?",
    encoding_format: "float",
  });
  assert.equal((q.data[0].embedding as unknown as number[][]).length, local.config.queryLength);
  await assert.rejects(
    openai.embeddings.create({ model: "other-model", input: "x", encoding_format: "float" }),
    (e: { status?: number }) => e.status === 400,
  );
  const bad = await call(server.url, "POST", "/v1/embeddings", { input: [1, 2] });
  assert.equal(bad.status, 400);
});

test.after(async () => {
  await local.dispose();
});
