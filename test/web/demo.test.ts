/**
 * The demo page (examples/web/) in headless Chromium: loads the fixture model in its Web
 * Worker, indexes the bundled SciFact abstracts with a progress bar, answers a search, and
 * after a reload reopens the index from IndexedDB. Saves a screenshot of the results to
 * build/test-artifacts/web-demo.png. Skipped with the reason without a browser (CI: failure).
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Browser, browserMissing, launchChromium, repoRoot, serveRepo } from "./harness.js";

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

test("demo: index 300 SciFact abstracts in a worker, search, screenshot, reopen from IndexedDB", {
  skip,
  timeout: 180_000,
}, async () => {
  const page = await browser!.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e: Error) => errors.push(e.message));
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.goto(`${server!.url}/`);
  await page.click("#load");
  await page.waitForFunction(
    () =>
      /indexed|error/.test(
        (globalThis as any).document.getElementById("status").textContent +
          (globalThis as any).document.getElementById("error").textContent,
      ),
    null,
    { timeout: 150_000 },
  );
  assert.equal(await page.textContent("#error"), "");
  assert.match(
    (await page.textContent("#status")) ?? "",
    /^indexed 300 documents \(\d+ WASM threads?\)$/,
  );
  assert.equal(
    await page.evaluate(() => (globalThis as any).document.getElementById("progress").value),
    1,
  );
  await page.fill("#query", "white matter development in newborn brains");
  await page.click("#search");
  await page.waitForSelector("#results li");
  const hits = await page.$$eval("#results li .title", (els: any[]) =>
    els.map((e) => e.textContent),
  );
  assert.equal(hits.length, 10);
  assert.match((await page.textContent("#timings")) ?? "", /query encode \d+ ms · search \d+ ms/);
  const dir = join(repoRoot(), "build", "test-artifacts");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, "web-demo.png"), fullPage: true });
  // A reload finds the index in IndexedDB instead of encoding the corpus again.
  await page.reload();
  await page.click("#load");
  await page.waitForFunction(
    () =>
      /indexed|error/.test(
        (globalThis as any).document.getElementById("status").textContent +
          (globalThis as any).document.getElementById("error").textContent,
      ),
    null,
    { timeout: 60_000 },
  );
  assert.match((await page.textContent("#status")) ?? "", /reopened from IndexedDB/);
  assert.deepEqual(errors, []);
  await page.close();
});
