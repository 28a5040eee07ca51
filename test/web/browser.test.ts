/**
 * tslate/web in headless Chromium (see harness.ts): onnxruntime-web runs tslate's graphs with
 * the results of onnxruntime-node, and the in-memory Exact index returns Node's results, is
 * saved to IndexedDB, and after a page reload is reopened with the same results.
 * Without a browser the tests are skipped with the reason (a failure in CI, where .ci/run
 * installs Chromium).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Graph } from "../../src/graph/ir.js";
import { GraphSession } from "../../src/graph/session.js";
import { Exact } from "../../src/indexes/exact.js";
import type { Matrix } from "../../src/util/matrix.js";
import { mulberry32 } from "../../src/util/random.js";
import { tempDir } from "../indexes/helpers.js";
import { type Browser, browserMissing, launchChromium, serveRepo } from "./harness.js";

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

async function openPage(): Promise<any> {
  const page = await browser!.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e: Error) => errors.push(e.message));
  await page.goto(`${server!.url}/page/index.html`);
  await page.waitForFunction(() => (globalThis as any).tslate !== undefined, null, {
    timeout: 20_000,
  });
  assert.deepEqual(errors, []);
  return page;
}

function randomMatrix(r: () => number, rows: number, cols: number): Matrix {
  return { data: Float32Array.from({ length: rows * cols }, () => r() - 0.5), rows, cols };
}

test("onnxruntime-web runs a tslate graph like onnxruntime-node (1e-5), cross-origin isolated", {
  skip,
  timeout: 60_000,
}, async () => {
  const r = mulberry32(3);
  const [m, n, d] = [7, 9, 16];
  const a = randomMatrix(r, m, d);
  const b = randomMatrix(r, n, d);
  const g = new Graph("smoke");
  const ga = g.input("A", "float32", ["M", "D"]);
  const gb = g.input("B", "float32", ["N", "D"]);
  g.output(g.reduce("ReduceMax", g.gemm(ga, gb, null, { transB: 1 }), [1], false), "Y");
  const node = await GraphSession.create(g, { threads: 1 });
  const want = (
    await node.run({ A: { data: a.data, dims: [m, d] }, B: { data: b.data, dims: [n, d] } })
  ).Y.data as Float32Array;
  const page = await openPage();
  const got = await page.evaluate(
    async ({ a, b, m, n, d }: { a: number[]; b: number[]; m: number; n: number; d: number }) => {
      const t = (globalThis as any).tslate;
      const g = new t.Graph("smoke");
      const ga = g.input("A", "float32", ["M", "D"]);
      const gb = g.input("B", "float32", ["N", "D"]);
      g.output(g.reduce("ReduceMax", g.gemm(ga, gb, null, { transB: 1 }), [1], false), "Y");
      const s = await t.GraphSession.create(g, {});
      const out = await s.run({
        A: { data: Float32Array.from(a), dims: [m, d] },
        B: { data: Float32Array.from(b), dims: [n, d] },
      });
      return {
        y: Array.from(out.Y.data as Float32Array),
        isolated: (globalThis as any).crossOriginIsolated === true,
      };
    },
    { a: Array.from(a.data), b: Array.from(b.data), m, n, d },
  );
  assert.equal(got.isolated, true, "the test server sends COOP/COEP: threads are allowed");
  assert.equal(got.y.length, m);
  let maxdiff = 0;
  for (let i = 0; i < m; i++) maxdiff = Math.max(maxdiff, Math.abs(got.y[i] - want[i]));
  assert.ok(
    maxdiff <= 1e-5,
    `maxdiff ${maxdiff}: browser ${got.y.slice(0, 3)} vs node ${want.slice(0, 3)}`,
  );
  await page.close();
});

test("in-memory Exact in Chromium returns Node's Exact results, saved to IndexedDB and reopened after a reload", {
  skip,
  timeout: 60_000,
}, async () => {
  const r = mulberry32(11);
  const dim = 16;
  const ids = Array.from({ length: 80 }, (_, i) => `doc-${i}`);
  const docs = ids.map(() => randomMatrix(r, 1 + Math.floor(r() * 12), dim));
  const queries = Array.from({ length: 6 }, () => randomMatrix(r, 8, dim));
  const t = tempDir("tslate-web-");
  let want: { id: string; score: number }[][];
  try {
    const index = await Exact.create(t.dir);
    await index.add(ids, docs);
    await index.delete(["doc-7"]);
    want = await index.search(queries, { k: 10 });
    await index.close();
  } finally {
    t.cleanup();
  }
  const plain = (ms: Matrix[]) =>
    ms.map((m) => ({ data: Array.from(m.data), rows: m.rows, cols: m.cols }));
  const args = { ids, docs: plain(docs), queries: plain(queries) };
  const page = await openPage();
  const built = await page.evaluate(async ({ ids, docs, queries }: any) => {
    const t = (globalThis as any).tslate;
    const mats = (globalThis as any).toMatrices;
    await t.deleteIndex("browser-test");
    const index = new t.Exact();
    index.add(ids, mats(docs));
    index.remove(["doc-7"]);
    const results = index.search(mats(queries), { k: 10 });
    await t.saveIndex("browser-test", index);
    let empty = "";
    try {
      index.add(["empty"], [{ data: new Float32Array(0), rows: 0, cols: 16 }]);
    } catch (e: any) {
      empty = `${e.code}: ${e.message}`;
    }
    return { results, size: index.size, empty };
  }, args);
  assert.equal(built.size, 79);
  assert.match(built.empty, /^INVALID_ARGUMENT: embeddings\[0\] has no tokens/, "as Node's add");
  const check = (got: { id: string; score: number }[][], label: string) => {
    assert.deepEqual(
      got.map((h) => h.map((x) => x.id)),
      want.map((h) => h.map((x) => x.id)),
      label,
    );
    // Node's Exact sums onnxruntime products, the browser's maxSim loops: float rounding only.
    for (let q = 0; q < want.length; q++)
      for (let j = 0; j < want[q].length; j++)
        assert.ok(Math.abs(got[q][j].score - want[q][j].score) < 1e-4, `${label} q${q} #${j}`);
  };
  check(built.results, "built in the browser");
  await page.reload();
  await page.waitForFunction(() => (globalThis as any).tslate !== undefined);
  const reopened = await page.evaluate(
    async ({ queries }: any) => {
      const t = (globalThis as any).tslate;
      const mats = (globalThis as any).toMatrices;
      const index = await t.openIndex("browser-test");
      const results = index.search(mats(queries), { k: 10 });
      let missing = "";
      try {
        await t.openIndex("never-saved");
      } catch (e: any) {
        missing = `${e.code}: ${e.message}`;
      }
      await t.deleteIndex("browser-test");
      return { results, size: index.size, missing };
    },
    { queries: args.queries },
  );
  assert.equal(reopened.size, 79);
  check(reopened.results, "reopened from IndexedDB after a reload");
  assert.match(reopened.missing, /^INDEX: no index saved as "never-saved"/);
  await page.close();
});
