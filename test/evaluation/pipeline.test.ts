import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runBeirCommand } from "../../src/cli/commands/beir.js";
import { runEvaluate } from "../../src/cli/commands/evaluate.js";
import { BM25_PRESETS } from "../../src/evaluation/bm25.js";
import {
  BM25Retriever,
  evaluateBeir,
  exactTopK,
  formatResultsTable,
  ModelRetriever,
} from "../../src/evaluation/pipeline.js";
import type { MultiVectorIndex, SearchOptions, SearchResult } from "../../src/indexes/types.js";
import { readRun } from "../../src/io/trec.js";
import { InvalidArgumentError } from "../../src/util/errors.js";
import type { Matrix } from "../../src/util/matrix.js";
import { BagOfWordsModel } from "./fake-model.js";
import { fixture, shared, tempDir } from "./helpers.js";

const close = (a: number, b: number, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol, `expected ${b}, got ${a} (tolerance ${tol})`);

function tinyBeir(): string {
  const dir = tempDir();
  mkdirSync(join(dir, "qrels"));
  const docs = [
    ["d1", "Apples", "red apple and green apple"],
    ["d2", "Cars", "a fast red car"],
    ["d3", "Sea", "ocean water waves"],
    ["d4", "", "apple pie recipe"],
  ];
  writeFileSync(
    join(dir, "corpus.jsonl"),
    docs.map(([_id, title, text]) => JSON.stringify({ _id, title, text })).join("\n"),
  );
  writeFileSync(
    join(dir, "queries.jsonl"),
    [
      { _id: "q1", text: "apple" },
      { _id: "q2", text: "fast car" },
      { _id: "q3", text: "waves" },
      { _id: "q4", text: "unjudged query" },
    ]
      .map((o) => JSON.stringify(o))
      .join("\n"),
  );
  writeFileSync(
    join(dir, "qrels", "test.tsv"),
    "query-id\tcorpus-id\tscore\nq1\td4\t2\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n",
  );
  return dir;
}

/** A brute-force MultiVectorIndex recording its calls, to check the pipeline's index path. */
class RecordingIndex implements MultiVectorIndex {
  adds: number[] = [];
  ids: string[] = [];
  embs: Matrix[] = [];
  closed = false;
  async add(ids: string[], embeddings: Matrix[]): Promise<void> {
    this.adds.push(ids.length);
    this.ids.push(...ids);
    this.embs.push(...embeddings);
  }
  async delete(): Promise<void> {}
  async update(): Promise<void> {}
  async search(queries: Matrix[], options: SearchOptions = {}): Promise<SearchResult[][]> {
    return queries.map((q) => exactTopK(q, this.ids, this.embs, options.k ?? 10));
  }
  count(): number {
    return this.ids.length;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

test("a model retriever gives the hand-worked ranking, through memory or an index", async () => {
  const dir = tinyBeir();
  const model = new BagOfWordsModel();
  // q1 "apple": d1 "Apples red apple and green apple" scores 1, d4 "apple pie recipe" 1, the
  // others 0. Tie d1/d4 -> by id descending d4 first: DCG = 2/1 + 1/log2(3) = IDCG. q2: d2 scores 2.
  const mem = await evaluateBeir(new ModelRetriever(model, { name: "fake" }), dir, {
    k: 3,
    metrics: ["ndcg@10", "mrr@10", "recall@1"],
  });
  assert.equal(mem.queries, 3); // q4 has no judgement in the split
  close(mem.metrics["ndcg@10"], 1);
  close(mem.metrics["recall@1"], (0.5 + 1 + 1) / 3);
  assert.equal(mem.run.get("q1")!.size, 3);
  for (const stage of ["load", "encode documents", "encode queries", "search", "evaluate"]) {
    assert.ok(mem.timings[stage] >= 0, `missing timing for ${stage}`);
  }
  const index = new RecordingIndex();
  const viaIndex = await evaluateBeir(
    new ModelRetriever(model, { chunkSize: 3, createIndex: async () => index }),
    dir,
    { k: 3, metrics: ["ndcg@10", "mrr@10", "recall@1"] },
  );
  assert.deepEqual(index.adds, [3, 1]); // documents go in chunk by chunk
  assert.deepEqual(viaIndex.metrics, mem.metrics);
  assert.deepEqual(viaIndex.run, mem.run);
  const table = formatResultsTable([mem, viaIndex]);
  assert.match(
    table.split("\n")[0],
    /^retriever\s+dataset\s+docs\s+queries\s+ndcg@10\s+mrr@10\s+recall@1/,
  );
  assert.equal(table.split("\n").length, 4);
  await assert.rejects(
    evaluateBeir(new ModelRetriever(model), dir, { k: 0 }),
    InvalidArgumentError,
  );
});

test("the BM25 row of the pipeline reproduces the SciFact baseline", async () => {
  const ev = await evaluateBeir(
    new BM25Retriever(BM25_PRESETS["anserini-multifield"]),
    shared("data", "scifact"),
    {
      metrics: ["ndcg@10"],
    },
  );
  // Same run as the fixture before its scores were rounded: equal to 1e-3.
  const expected = JSON.parse(readFileSync(fixture("scifact-bm25.expected.json"), "utf8")).mean[
    "ndcg@10"
  ];
  close(ev.metrics["ndcg@10"], expected, 1e-3);
  close(ev.metrics["ndcg@10"], 0.6647, 1e-4);
  assert.ok(ev.queriesPerSecond > 0);
});

test("tslate evaluate prints the metrics and writes JSON", async () => {
  const out = join(tempDir(), "eval.json");
  let printed = "";
  const sink = { write: (s: string) => (printed += s) };
  const mean = await runEvaluate(
    {
      run: fixture("cranfield-bm25.trec"),
      qrels: shared("data", "cranfield", "qrels", "test.tsv"),
      metrics: "ndcg@10,map@100",
      output: out,
    },
    sink,
  );
  const expected = JSON.parse(readFileSync(fixture("cranfield-bm25.expected.json"), "utf8")).mean;
  close(mean["ndcg@10"], expected["ndcg@10"]);
  assert.match(printed, /ndcg@10\s+0\.3363/);
  const json = JSON.parse(readFileSync(out, "utf8"));
  close(json.mean["map@100"], expected["map@100"]);
  assert.equal(Object.keys(json.perQuery["ndcg@10"]).length, 225);
});

test("tslate beir --model bm25 writes the results JSON and the run", async () => {
  const dir = tinyBeir();
  const work = tempDir();
  const rows = await runBeirCommand({
    model: ["bm25", "bm25:elasticsearch"],
    data: [dir],
    split: "test",
    index: "exact",
    k: "10",
    metrics: "ndcg@10,recall@10",
    batchSize: "32",
    output: join(work, "results.json"),
    saveRuns: join(work, "runs"),
    progress: false,
  });
  assert.equal(rows.length, 2);
  const json = JSON.parse(readFileSync(join(work, "results.json"), "utf8"));
  assert.deepEqual(
    json.results.map((r: { retriever: string }) => r.retriever),
    ["bm25", "bm25:elasticsearch"],
  );
  assert.equal(json.results[0].run, undefined);
  const runFile = readdirRuns(join(work, "runs"));
  assert.equal(runFile.length, 2);
  const run = await readRun(join(work, "runs", runFile[0]));
  assert.equal(run.size, 3);
  await assert.rejects(
    runBeirCommand({ ...baseOptions(dir), model: ["some/model"], index: "faiss" }),
    /--index "faiss" is not one of plaid, exact, memory/,
  );
  await assert.rejects(
    runBeirCommand({ ...baseOptions(dir), model: ["bm25:nope"] }),
    /unknown BM25 preset "nope"/,
  );
  await assert.rejects(
    runBeirCommand({ ...baseOptions(dir), model: ["bm25"], k: "0" }),
    /--k must be a positive integer/,
  );
});

function baseOptions(dir: string) {
  return {
    model: ["bm25"],
    data: [dir],
    split: "test",
    index: "memory",
    k: "10",
    metrics: "ndcg@10",
    batchSize: "8",
    progress: false,
  };
}

function readdirRuns(dir: string): string[] {
  assert.ok(existsSync(dir));
  return readdirSync(dir)
    .filter((f) => f.endsWith(".trec"))
    .sort();
}

test("a judged document missing from a streamed corpus is a DataError", async () => {
  const dir = tinyBeir();
  writeFileSync(join(dir, "qrels", "test.tsv"), "query-id\tcorpus-id\tscore\nq1\tgone\t1\n");
  await assert.rejects(
    evaluateBeir(new BM25Retriever(), dir),
    /query "q1" judges document "gone", which is not in the corpus/,
  );
});
