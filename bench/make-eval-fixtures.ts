/**
 * Rebuilds the metric-parity fixtures of test/evaluation/fixtures: a real BM25 run (top 100,
 * scores rounded to 3 decimals so that ties occur and are exercised) over SciFact test
 * (binary qrels) and Cranfield (graded qrels with -1 judgements), then the expected metric
 * values from the independent Python implementation test/evaluation/reference_metrics.py.
 *
 *   npx tsc -p tsconfig.json && node build/bench/make-eval-fixtures.js
 */
import { execFileSync } from "node:child_process";
import { join, resolve } from "node:path";
import { BM25, BM25_PRESETS } from "../src/evaluation/bm25.js";
import type { Run } from "../src/evaluation/metrics.js";
import { loadBeir } from "../src/io/beir.js";
import { writeRun } from "../src/io/trec.js";
import { writeFileAtomic } from "../src/util/atomic.js";

export const PARITY_METRICS = [
  "ndcg@10",
  "ndcg@100",
  "ndcg",
  "ndcg_burges@10",
  "ndcg@10-l2",
  "map@100",
  "map@10",
  "recall@10",
  "recall@100",
  "precision@10",
  "precision@1000",
  "mrr@10",
  "hits@10",
  "hit_rate@5",
];

const root = process.cwd();
const fixtures = join(root, "test/evaluation/fixtures");
for (const name of ["scifact", "cranfield"]) {
  const dir = resolve(root, "../shared/data", name);
  const data = await loadBeir(dir);
  const bm25 = BM25.build(data.corpus, BM25_PRESETS["anserini-multifield"]);
  const run: Run = new Map();
  for (const q of data.queries) {
    run.set(
      q.id,
      new Map(bm25.search(q.text, 100).map((r) => [r.id, Math.round(r.score * 1000) / 1000])),
    );
  }
  const runPath = join(fixtures, `${name}-bm25.trec`);
  writeRun(runPath, run, { tag: "bm25" });
  const expected = execFileSync(
    "python3",
    [
      join(root, "test/evaluation/reference_metrics.py"),
      runPath,
      join(dir, "qrels/test.tsv"),
      ...PARITY_METRICS,
    ],
    { encoding: "utf8", maxBuffer: 1 << 28 },
  );
  writeFileAtomic(join(fixtures, `${name}-bm25.expected.json`), expected);
  console.log(`${name}: wrote ${runPath} and expected metrics`);
}
