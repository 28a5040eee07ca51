/**
 * PLAID search iteration benchmark: builds the SciFact-size synthetic index once into a kept
 * directory (default $TMPDIR/tslate-plaid-scifact), caches the exact ground truth next to it,
 * then times single-thread search at a few settings. For quick before/after measurements of
 * search changes; bench/index.ts is the full benchmark.
 *
 *   node build/bench/plaid-search.js [--queries 50] [--dir DIR] [--settings "default;{\"nIvfProbe\":16}"]
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { gemmABt } from "../src/indexes/kernels.js";
import { PLAID } from "../src/indexes/plaid/index.js";
import type { Matrix } from "../src/util/matrix.js";
import { SyntheticCorpus, scifactLengths } from "./lib/index-data.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const SCIFACT = new URL("../../../shared/data/scifact/", import.meta.url);
const nQueries = Number(arg("queries", "50"));
const dir = arg("dir", join(tmpdir(), "tslate-plaid-scifact"));
const corpus = new SyntheticCorpus({
  lengths: scifactLengths(new URL("corpus.jsonl", SCIFACT).pathname),
  dim: 128,
  seed: 11,
});
const queries: Matrix[] = Array.from({ length: nQueries }, (_, i) =>
  corpus.query((i * 7919) % corpus.docs, 1000 + i),
);

async function exactTopK(k: number): Promise<string[][]> {
  const best: { id: string; score: number }[][] = queries.map(() => []);
  const rows = queries.reduce((s, q) => s + q.rows, 0);
  const Q = new Float32Array(rows * 128);
  const qOff: number[] = [];
  let o = 0;
  for (const q of queries) {
    qOff.push(o / 128);
    Q.set(q.data, o);
    o += q.data.length;
  }
  for (let d = 0; d < corpus.docs; d++) {
    const m = corpus.document(d);
    const S = await gemmABt(Q, rows, m.data, m.rows, 128, { threads: 2 });
    for (let qi = 0; qi < queries.length; qi++) {
      let total = 0;
      for (let i = 0; i < queries[qi].rows; i++) {
        const ro = (qOff[qi] + i) * m.rows;
        let mx = Number.NEGATIVE_INFINITY;
        for (let t = 0; t < m.rows; t++) if (S[ro + t] > mx) mx = S[ro + t];
        total += mx;
      }
      const list = best[qi];
      if (list.length < k || total > list[list.length - 1].score) {
        list.push({ id: `d${d}`, score: total });
        list.sort((a, b) => b.score - a.score);
        if (list.length > k) list.pop();
      }
    }
  }
  return best.map((l) => l.map((x) => x.id));
}

function recall(got: string[][], truth: string[][]): number {
  let hit = 0;
  let tot = 0;
  for (let i = 0; i < truth.length; i++) {
    const t = new Set(truth[i]);
    hit += got[i].filter((id) => t.has(id)).length;
    tot += t.size;
  }
  return hit / tot;
}

if (!existsSync(join(dir, "manifest.json"))) {
  const t0 = performance.now();
  const idx = await PLAID.build(dir, corpus.stream(), { kernels: { threads: 2 } });
  await idx.close();
  console.log(`built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
const truthFile = join(dir, `truth-${nQueries}.json`);
if (!existsSync(truthFile)) {
  writeFileSync(truthFile, JSON.stringify(await exactTopK(10)));
}
const truth = JSON.parse(readFileSync(truthFile, "utf8")) as string[][];
const index = await PLAID.open(dir, { verifyChecksums: false });
const all: Record<string, Record<string, number>> = {
  default: {},
  "probe8-full1024": { nFullScores: 1024 },
  "probe4-full256": { nIvfProbe: 4, nFullScores: 256 },
  "probe2-full64": { nIvfProbe: 2, nFullScores: 64 },
};
const names = arg("settings", Object.keys(all).join(";")).split(";");
const load0 = loadavg()[0];
for (const name of names) {
  const params = all[name] ?? JSON.parse(name);
  await index.search(queries.slice(0, 2), { k: 10, ...params });
  const t0 = performance.now();
  const r = await index.search(queries, { k: 10, ...params });
  const qps = queries.length / ((performance.now() - t0) / 1000);
  const got = r.map((x) => x.map((h) => h.id));
  console.log(
    JSON.stringify({
      setting: name,
      recallAt10: +recall(got, truth).toFixed(4),
      qps: +qps.toFixed(1),
    }),
  );
}
console.log(`load ${load0.toFixed(2)} -> ${loadavg()[0].toFixed(2)}`);
await index.close();
