/**
 * ColBERT in headless Chromium (see harness.ts): the fixture checkpoint loaded from a local
 * stand-in for the hub (fetch + Cache API) encodes the shared fixture texts like the PyTorch
 * reference, with the Node parity tests' tolerances, and an index of the browser's document
 * embeddings returns Node's results. Skipped with the reason without a browser (CI: failure).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Exact } from "../../src/indexes/exact.js";
import { ColBERT } from "../../src/models/colbert.js";
import { maxSim } from "../../src/scores/maxsim.js";
import { maxAbsDiff, readSharedJson, sharedPath } from "../helpers/shared.js";
import { tempDir } from "../indexes/helpers.js";
import { type Browser, browserMissing, launchChromium, serveRepo } from "./harness.js";

// Tolerances of test/models/colbert.test.ts (fixtures/README.md §7, float32): normalised
// embeddings abs 2e-5, MaxSim sums abs 2e-4.
const EMB_TOL = 2e-5;
const SCORE_TOL = 2e-4;

const missing = browserMissing();
if (missing && process.env.CI) throw new Error(`browser tests cannot run in CI: ${missing}`);
const skip = missing ? `skipped: ${missing}` : false;

let browser: Browser | null = null;
let server: { url: string; close: () => Promise<void> } | null = null;
before(async () => {
  if (skip) return;
  server = await serveRepo();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

type Plain = { data: number[]; rows: number; cols: number };

test("bert-tiny-colbert in Chromium: PyTorch's embeddings and MaxSim scores, Node's search results", {
  skip,
  timeout: 120_000,
}, async () => {
  const expected = readSharedJson("fixtures/expected/bert-tiny-colbert.json");
  const queries: string[] = expected.queries.map((q: { text: string }) => q.text);
  const documents: string[] = expected.documents.map((d: { text: string }) => d.text);
  const page = await browser!.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e: Error) => errors.push(e.message));
  await page.goto(`${server!.url}/page/index.html`);
  await page.waitForFunction(() => (globalThis as any).tslate !== undefined, null, {
    timeout: 20_000,
  });
  const got = await page.evaluate(
    async ({
      queries,
      documents,
      endpoint,
    }: {
      queries: string[];
      documents: string[];
      endpoint: string;
    }) => {
      const t = (globalThis as any).tslate;
      const plain = (ms: any[]) =>
        ms.map((m) => ({ data: Array.from(m.data), rows: m.rows, cols: m.cols }));
      const files: string[] = [];
      const model = await t.ColBERT.fromPretrained("fixtures/bert-tiny-colbert", {
        endpoint,
        onFile: (f: string) => files.push(f),
      });
      const q = await model.encode(queries, { isQuery: true });
      const d = await model.encode(documents, { isQuery: false, batchSize: 3 });
      const index = new t.Exact();
      index.add(
        documents.map((_: string, i: number) => `d${i}`),
        d,
      );
      const hits = index.search(q, { k: 5 });
      const cache = await (globalThis as any).caches.open("tslate-hub");
      const cached = (await cache.keys()).map((r: { url: string }) => r.url);
      return { q: plain(q), d: plain(d), hits, files, cached, dim: model.embeddingDim };
    },
    { queries, documents, endpoint: `${server!.url}/hub` },
  );
  assert.deepEqual(errors, []);
  assert.equal(got.dim, expected.settings.embedding_dim);
  for (const f of [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "1_Dense/model.safetensors",
  ]) {
    assert.ok(got.files.includes(f), `fetched ${f}`);
    assert.ok(
      got.cached.some((u: string) => u.endsWith(`/resolve/main/${f}`)),
      `${f} in the Cache API`,
    );
  }
  const check = (actual: Plain, want: number[][], what: string) => {
    assert.equal(actual.rows, want.length, `${what}: number of embeddings`);
    const d = maxAbsDiff(Float32Array.from(actual.data), want.flat());
    assert.ok(d <= EMB_TOL, `${what}: max abs diff ${d} > ${EMB_TOL}`);
  };
  expected.queries.forEach((q: any, i: number) => check(got.q[i], q.embeddings, `query ${i}`));
  expected.documents.forEach((d: any, i: number) => check(got.d[i], d.embeddings, `document ${i}`));
  const asMatrix = (p: Plain) => ({ data: Float32Array.from(p.data), rows: p.rows, cols: p.cols });
  for (let i = 0; i < queries.length; i++)
    for (let j = 0; j < documents.length; j++) {
      const s = maxSim(asMatrix(got.q[i]), asMatrix(got.d[j]));
      const e = expected.scores.maxsim[i][j];
      assert.ok(Math.abs(s - e) <= SCORE_TOL, `maxsim[${i}][${j}] ${s} vs ${e}`);
    }
  // Node: the same model and an Exact search over its own embeddings.
  const model = await ColBERT.fromPretrained(sharedPath("fixtures/bert-tiny-colbert"));
  const nq = await model.encode(queries, { isQuery: true });
  const nd = await model.encode(documents, { isQuery: false, batchSize: 3 });
  await model.dispose();
  const t = tempDir("tslate-web-encode-");
  let want: { id: string; score: number }[][];
  try {
    const index = await Exact.create(t.dir);
    await index.add(
      documents.map((_, i) => `d${i}`),
      nd,
    );
    want = await index.search(nq, { k: 5 });
    await index.close();
  } finally {
    t.cleanup();
  }
  assert.deepEqual(
    got.hits.map((h: { id: string }[]) => h.map((x) => x.id)),
    want.map((h) => h.map((x) => x.id)),
  );
  for (let i = 0; i < want.length; i++)
    for (let j = 0; j < want[i].length; j++)
      assert.ok(Math.abs(got.hits[i][j].score - want[i][j].score) <= SCORE_TOL, `hit ${i}/${j}`);
  await page.close();
});
