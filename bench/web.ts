/**
 * Browser encoding benchmark: documents/s of the BERT-base-shaped ColBERT (bench/encode.ts's
 * random-weight checkpoint) in headless Chromium (onnxruntime-web, WASM SIMD, 2 threads on a
 * cross-origin-isolated page) as a ratio to onnxruntime-node (2 threads) in the same run. The
 * two alternate batch by batch (32 SciFact documents each) so that load from other processes
 * hits both alike; the load average is recorded. Target: >= 0.4x.
 *
 *   npm run bench:encode            (once: writes the checkpoint to $TMPDIR/tslate-bench-bert-base)
 *   flock /tmp/tslate-bench.lock npm run bench:web -- [--batches 4] [--dir DIR]
 * Writes bench/results/web.json.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ColBERT } from "../src/models/colbert.js";
import { browserMissing, launchChromium, serveRepo } from "../test/web/harness.js";

const { values: args } = parseArgs({
  options: {
    batches: { type: "string", default: "4" },
    dir: { type: "string", default: join(tmpdir(), "tslate-bench-bert-base") },
  },
});
const BATCH = 32;
const THREADS = 2;
const repo = fileURLToPath(new URL("../../", import.meta.url));

async function main(): Promise<void> {
  const missing = browserMissing();
  if (missing) throw new Error(missing);
  if (!existsSync(join(args.dir, "1_Dense", "model.safetensors"))) {
    throw new Error(`no checkpoint in ${args.dir}: run npm run bench:encode once to create it`);
  }
  const nBatches = Number(args.batches);
  const lines = readFileSync(join(repo, "..", "shared", "data", "scifact", "corpus.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .slice(0, BATCH * nBatches)
    .map((l) => {
      const d = JSON.parse(l);
      return `${d.title} ${d.text}`;
    });
  const batches = Array.from({ length: nBatches }, (_, b) =>
    lines.slice(b * BATCH, (b + 1) * BATCH),
  );
  const load0 = loadavg();
  const node = await ColBERT.fromPretrained(args.dir, { threads: THREADS });
  const server = await serveRepo(["--hub-dir", args.dir]);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/page/index.html`);
    await page.waitForFunction(() => (globalThis as any).tslate !== undefined, null, {
      timeout: 60_000,
    });
    const info = await page.evaluate(
      async ({ endpoint, threads }: { endpoint: string; threads: number }) => {
        const t = (globalThis as any).tslate;
        t.configureWebRuntime({ threads });
        (globalThis as any).model = await t.ColBERT.fromPretrained("local/model", {
          endpoint,
          cacheName: null,
        });
        return {
          isolated: (globalThis as any).crossOriginIsolated,
          cores: (globalThis as any).navigator.hardwareConcurrency,
        };
      },
      { endpoint: `${server.url}/hub`, threads: THREADS },
    );
    if (!info.isolated) throw new Error("the page is not cross-origin isolated: no WASM threads");
    const encodeInPage = (texts: string[]) =>
      page.evaluate(async (texts: string[]) => {
        const t0 = performance.now();
        await (globalThis as any).model.encode(texts, { isQuery: false, batchSize: 32 });
        return performance.now() - t0;
      }, texts) as Promise<number>;
    // Warm-up (first-run allocations in both runtimes), then alternate.
    await encodeInPage(batches[0].slice(0, 4));
    await node.encode(batches[0].slice(0, 4), { isQuery: false });
    let webMs = 0;
    let nodeMs = 0;
    for (const texts of batches) {
      webMs += await encodeInPage(texts);
      const t0 = performance.now();
      await node.encode(texts, { isQuery: false, batchSize: 32 });
      nodeMs += performance.now() - t0;
      console.log(`batch: web ${webMs.toFixed(0)} ms, node ${nodeMs.toFixed(0)} ms so far`);
    }
    const docs = nBatches * BATCH;
    const result = {
      date: new Date().toISOString(),
      checkpoint: "BERT-base shape (12 layers, hidden 768), random weights, bench/encode.ts",
      documents: docs,
      batchSize: BATCH,
      threads: THREADS,
      chromium: "Debian chromium, headless, WASM SIMD (onnxruntime-web 1.30.0)",
      webDocsPerSecond: docs / (webMs / 1000),
      nodeDocsPerSecond: docs / (nodeMs / 1000),
      ratioWebToNode: nodeMs / webMs,
      loadAverageAtStart: load0,
      loadAverageAtEnd: loadavg(),
    };
    console.log(JSON.stringify(result, null, 2));
    writeFileSync(
      join(repo, "bench", "results", "web.json"),
      `${JSON.stringify(result, null, 2)}\n`,
    );
  } finally {
    await node.dispose();
    await browser.close();
    await server.close();
  }
}

await main();
