/**
 * Model load time: `ColBERT.fromPretrained(dir)` (file loader: float32 weights handed to
 * onnxruntime as external data pointing into model.safetensors, no copy) and, when available,
 * `ColBERT.fromFiles(bytes)` (in-memory loader) on the BERT-base-shaped checkpoint
 * (~110M parameters). Alternating runs; the first file load may read from disk, the others hit
 * the page cache (warm). README's target: < 1 s warm.
 *
 *   npm run build && flock /tmp/tslate-bench.lock node dist/bench/load.js [--runs 4] [--threads 2] [--out name]
 * Results are printed and written to bench/results/<name>.json (default load.json).
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ColBERT } from "../src/models/colbert.js";
import { buildCheckpoint } from "./lib/bert-base-checkpoint.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "4" },
    threads: { type: "string", default: "2" },
    out: { type: "string", default: "load" },
  },
});
const runs = Number(args.runs);
const threads = Number(args.threads);

function readTree(dir: string): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p);
    }
  };
  walk(dir);
  return out;
}

async function main(): Promise<void> {
  const dir = join(tmpdir(), "tslate-bench-bert-base");
  buildCheckpoint(dir);
  const results: Record<string, unknown> = {
    threads,
    date: new Date().toISOString(),
    loadAverageAtStart: loadavg(),
  };
  const fromFiles = (ColBERT as unknown as Record<string, unknown>).fromFiles as
    | ((files: Record<string, Uint8Array>, o: object) => Promise<ColBERT>)
    | undefined;
  const file: number[] = [];
  const memory: number[] = [];
  const memoryWithRead: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    const a = await ColBERT.fromPretrained(dir, { threads });
    file.push((performance.now() - t) / 1000);
    await a.dispose();
    if (fromFiles) {
      t = performance.now();
      const bytes = readTree(dir);
      const t1 = performance.now();
      const b = await fromFiles(bytes, { threads });
      const t2 = performance.now();
      memory.push((t2 - t1) / 1000);
      memoryWithRead.push((t2 - t) / 1000);
      await b.dispose();
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  results.fromPretrainedSeconds = file;
  results.fromPretrainedWarmMedian = median(file.slice(1));
  console.log(`fromPretrained: ${file.map((s) => s.toFixed(2)).join(", ")} s`);
  if (fromFiles) {
    results.fromFilesSeconds = memory;
    results.fromFilesIncludingReadSeconds = memoryWithRead;
    results.fromFilesWarmMedian = median(memory.slice(1));
    results.fromFilesVsFromPretrained =
      (results.fromFilesWarmMedian as number) / (results.fromPretrainedWarmMedian as number);
    console.log(`fromFiles (bytes in memory): ${memory.map((s) => s.toFixed(2)).join(", ")} s`);
    console.log(
      `fromFiles incl. reading the files: ${memoryWithRead.map((s) => s.toFixed(2)).join(", ")} s`,
    );
  }
  results.loadAverageAtEnd = loadavg();
  const out = fileURLToPath(new URL(`../../bench/results/${args.out}.json`, import.meta.url));
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${out}`);
}

await main();
