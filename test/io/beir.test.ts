import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { getBeirTriples } from "../../src/evaluation/triples.js";
import { documentText, listSplits, loadBeir, streamCorpus } from "../../src/io/beir.js";
import { DataError, FileFormatError } from "../../src/util/errors.js";
import { shared, tempDir } from "../evaluation/helpers.js";
import { writeParquet } from "./parquet-writer.js";

const pairs = (q: Map<string, Map<string, number>>) =>
  [...q.values()].reduce((s, d) => s + d.size, 0);

test("loads SciFact test and train splits as BEIR does (queries restricted to the split)", async () => {
  const dir = shared("data", "scifact");
  const t = await loadBeir(dir);
  assert.equal(t.corpus.length, 5183);
  assert.equal(t.queries.length, 300);
  assert.equal(t.qrels.size, 300);
  assert.equal(pairs(t.qrels), 339);
  const first = t.corpus[0];
  assert.equal(first.id, "4983");
  assert.ok(documentText(first).startsWith(`${first.title} `));
  const tr = await loadBeir(dir, { split: "train" });
  assert.equal(tr.queries.length, 809);
  assert.equal(pairs(tr.qrels), 919);
  assert.deepEqual(listSplits(dir), ["test", "train"]);
  await assert.rejects(loadBeir(dir, { split: "dev" }), (e: Error) => {
    assert.ok(e instanceof FileFormatError);
    assert.match(e.message, /no qrels for split "dev"; splits present: test, train/);
    return true;
  });
});

test("Cranfield: graded and -1 judgements kept, empty documents 471 and 995 loaded", async () => {
  const c = await loadBeir(shared("data", "cranfield"));
  assert.equal(c.corpus.length, 1400);
  assert.equal(c.queries.length, 225);
  assert.equal(pairs(c.qrels), 1837);
  const empty = c.corpus.filter((d) => documentText(d) === "").map((d) => d.id);
  assert.deepEqual(empty, ["471", "995"]);
  const rels = new Set([...c.qrels.values()].flatMap((d) => [...d.values()]));
  assert.deepEqual([...rels].sort(), [-1, 1, 2, 3, 4]);
});

test("streamCorpus yields every document in file order without a qrels split", async () => {
  let n = 0;
  let last = "";
  for await (const d of streamCorpus(shared("data", "vaswani"))) {
    n++;
    last = d.id;
  }
  assert.equal(n, 11429);
  assert.equal(last, "11429");
});

function beirDir(
  corpus: string,
  queries = '{"_id":"q1","text":"x"}\n',
  qrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\n",
) {
  const dir = tempDir();
  mkdirSync(join(dir, "qrels"));
  writeFileSync(join(dir, "corpus.jsonl"), corpus);
  writeFileSync(join(dir, "queries.jsonl"), queries);
  writeFileSync(join(dir, "qrels", "test.tsv"), qrels);
  return dir;
}

test("malformed records are DataErrors naming file, line and what was wrong", async () => {
  const ok = '{"_id":"d1","title":"t","text":"a"}\n';
  const cases: [string, RegExp][] = [
    [`${ok}\n{"_id":"d2","text":"b"\n`, /corpus\.jsonl:3: not valid JSON/],
    [`${ok}{"text":"b"}\n`, /corpus\.jsonl:2: "_id" must be a non-empty string/],
    [
      `${ok}{"_id":"d2","text":5}\n`,
      /corpus\.jsonl:2: "text" of corpus record "d2" must be a string, got 5/,
    ],
    [`${ok}{"_id":"d2","title":["x"],"text":""}\n`, /corpus\.jsonl:2: "title" of record "d2"/],
    [`${ok}[1,2]\n`, /corpus\.jsonl:2: expected a JSON object per line/],
    [
      `${ok}{"_id":"d1","text":"again"}\n`,
      /corpus\.jsonl:2: duplicate corpus id "d1" \(first seen at .*corpus\.jsonl:1\)/,
    ],
  ];
  for (const [corpus, re] of cases) {
    await assert.rejects(loadBeir(beirDir(corpus)), (e: Error) => {
      assert.ok(e instanceof DataError, `${e.name}: ${e.message}`);
      assert.match(e.message, re);
      return true;
    });
  }
  await assert.rejects(
    loadBeir(beirDir(ok, undefined, "query-id\tcorpus-id\tscore\nq1\tnope\t1\n")),
    /query "q1" judges document "nope", which is not in the corpus/,
  );
  await assert.rejects(
    loadBeir(beirDir(ok, undefined, "query-id\tcorpus-id\tscore\nq9\td1\t1\n")),
    /1 judged queries are not in .*queries\.jsonl \(e\.g\. q9\)/,
  );
  await assert.rejects(loadBeir(join(tempDir(), "absent")), /BEIR dataset folder not found/);
});

test("the Hugging Face parquet layout loads the same dataset as the jsonl files", async () => {
  const src = await loadBeir(shared("data", "scifact"));
  const dir = tempDir();
  for (const sub of ["corpus", "queries", "qrels"]) mkdirSync(join(dir, sub));
  // Corpus split over two files, as large HF datasets are; NanoBEIR-style qrels: no score.
  const half = 2500;
  for (const [i, part] of [src.corpus.slice(0, half), src.corpus.slice(half)].entries()) {
    writeParquet(join(dir, "corpus", `train-0000${i}-of-00002.parquet`), [
      { name: "_id", type: "string", values: part.map((d) => d.id) },
      { name: "title", type: "string", values: part.map((d) => d.title) },
      { name: "text", type: "string", values: part.map((d) => d.text) },
    ]);
  }
  writeParquet(join(dir, "queries", "train-00000-of-00001.parquet"), [
    { name: "_id", type: "int64", values: src.queries.map((q) => BigInt(q.id)) },
    { name: "text", type: "string", values: src.queries.map((q) => q.text) },
  ]);
  const qp = [...src.qrels].flatMap(([q, docs]) => [...docs.keys()].map((d) => [q, d]));
  writeParquet(join(dir, "qrels", "test-00000-of-00001.parquet"), [
    { name: "query-id", type: "string", values: qp.map((p) => p[0]) },
    { name: "corpus-id", type: "string", values: qp.map((p) => p[1]) },
  ]);
  assert.deepEqual(listSplits(dir), ["test"]);
  const got = await loadBeir(dir);
  assert.deepEqual(got.corpus, src.corpus);
  assert.deepEqual(got.queries, src.queries);
  assert.deepEqual(got.qrels, src.qrels);
  await assert.rejects(
    loadBeir(dir, { split: "dev" }),
    /no qrels parquet files for split "dev"; splits present: test/,
  );
  writeFileSync(join(dir, "corpus", "train-00001-of-00002.parquet"), "not parquet");
  await assert.rejects(loadBeir(dir), /train-00001-of-00002\.parquet: not a readable parquet file/);
});

test("getBeirTriples: one seeded triple per judged pair, negatives never relevant", async () => {
  const data = await loadBeir(shared("data", "scifact"));
  const triples = getBeirTriples(data);
  assert.equal(triples.length, 339); // as PyLate's doctest
  assert.deepEqual(getBeirTriples(data), triples);
  assert.notDeepEqual(getBeirTriples(data, { seed: 7 }), triples);
  const texts = new Map(data.corpus.map((d) => [documentText(d), d.id]));
  const queryIds = new Map(data.queries.map((q) => [q.text, q.id]));
  for (const [q, pos, neg] of triples) {
    const judged = data.qrels.get(queryIds.get(q)!)!;
    assert.ok(judged.has(texts.get(pos)!));
    assert.ok(!judged.has(texts.get(neg)!));
  }
});
