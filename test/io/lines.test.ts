import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { loadBeir, streamCorpus, streamQueries } from "../../src/io/beir.js";
import { readJsonl, readLines } from "../../src/io/lines.js";
import { readParquet } from "../../src/io/parquet.js";
import { readRows } from "../../src/io/rows.js";
import { indexCorpus, searchQueries } from "../../src/retrieve/corpus.js";
import { DataError, FileFormatError } from "../../src/util/errors.js";
import { BagOfWordsModel } from "../evaluation/fake-model.js";
import { tempDir } from "../helpers/temp.js";

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test("readLines: LF, CRLF and CR endings, gzip, 1-based line numbers", {
  timeout: 10_000,
}, async () => {
  const dir = tempDir();
  const text = "a\r\nb\nc\rd\n\ne";
  writeFileSync(join(dir, "t.txt"), text);
  writeFileSync(join(dir, "t.txt.gz"), gzipSync(text));
  const expected = [
    { line: "a", lineNo: 1 },
    { line: "b", lineNo: 2 },
    { line: "c", lineNo: 3 },
    { line: "d", lineNo: 4 },
    { line: "", lineNo: 5 },
    { line: "e", lineNo: 6 },
  ];
  assert.deepEqual(await collect(readLines(join(dir, "t.txt"))), expected);
  assert.deepEqual(await collect(readLines(join(dir, "t.txt.gz"))), expected);
  await assert.rejects(
    collect(readLines(join(dir, "absent.txt"))),
    (e: Error) => e instanceof FileFormatError && (e as FileFormatError).code === "FILE_NOT_FOUND",
  );
  writeFileSync(join(dir, "damaged.jsonl.gz"), Buffer.from("not gzip at all"));
  await assert.rejects(
    collect(readLines(join(dir, "damaged.jsonl.gz"))),
    (e: Error) =>
      e instanceof FileFormatError && /damaged\.jsonl\.gz: cannot be read/.test(e.message),
  );
});

test("readJsonl skips empty lines and names the file and line of a bad one", {
  timeout: 10_000,
}, async () => {
  const dir = tempDir();
  const path = join(dir, "r.jsonl");
  writeFileSync(path, '{"a": 1}\r\n\r\n{"a": 2}\r\n');
  assert.deepEqual(
    (await collect(readJsonl(path))).map((r) => [r.value.a, r.lineNo]),
    [
      [1, 1],
      [2, 3],
    ],
  );
  writeFileSync(path, '{"a": 1}\n[1, 2]\n');
  await assert.rejects(
    collect(readJsonl(path)),
    /r\.jsonl:2: expected a JSON object per line, got \[1,2\]/,
  );
});

test("a parquet file that is not parquet is a FileFormatError", { timeout: 10_000 }, async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "x.parquet"), "PAR1 but not really");
  await assert.rejects(
    collect(readParquet(join(dir, "x.parquet"))),
    (e: Error) =>
      e instanceof FileFormatError && /x\.parquet: not a readable parquet file/.test(e.message),
  );
  await assert.rejects(
    collect(readParquet(join(dir, "absent.parquet"))),
    (e: Error) => (e as FileFormatError).code === "FILE_NOT_FOUND",
  );
});

// The same bad line must give the same error, whichever part of tslate reads the file:
// evaluation (BEIR loading), retrieval (`tslate index` / `search`) and training tables.
test("the same bad JSONL line is the same DataError in every reader", {
  timeout: 30_000,
}, async () => {
  const bad = [
    { line: '{"_id": "d2", "text": ', pattern: /:2: not valid JSON \(/ },
    {
      line: '"just a string"',
      pattern: /:2: expected a JSON object per line, got "just a string"/,
    },
  ];
  for (const gz of [false, true]) {
    for (const { line, pattern } of bad) {
      const dir = tempDir();
      const good = '{"_id": "d1", "title": "T", "text": "hello world"}';
      const body = `${good}\r\n${line}\r\n`;
      const file = (name: string) => join(dir, gz ? `${name}.jsonl.gz` : `${name}.jsonl`);
      const write = (name: string, text: string) =>
        writeFileSync(file(name), gz ? gzipSync(text) : text);
      write("corpus", body);
      write("queries", '{"_id": "q1", "text": "hello"}\n');
      mkdirSync(join(dir, "qrels"));
      writeFileSync(join(dir, "qrels", "test.tsv"), "query-id\tcorpus-id\tscore\nq1\td1\t1\n");
      const corpusPath = file("corpus");
      const expect = (e: unknown) =>
        e instanceof DataError &&
        e.code === "DATA" &&
        e.message.startsWith(`${corpusPath}:2: `) &&
        pattern.test(e.message);
      await assert.rejects(collect(readJsonl(corpusPath)), expect);
      await assert.rejects(collect(streamCorpus(dir)), expect);
      await assert.rejects(collect(streamCorpus(corpusPath)), expect);
      await assert.rejects(loadBeir(dir), expect);
      await assert.rejects(readRows(corpusPath), expect);
      await assert.rejects(indexCorpus(new BagOfWordsModel(), dir, join(dir, "index")), expect);
      // Queries go through the same reader.
      write("queries", body);
      await assert.rejects(collect(streamQueries(dir)), (e) => {
        return (
          e instanceof DataError &&
          e.message.startsWith(`${file("queries")}:2: `) &&
          pattern.test(e.message)
        );
      });
      await assert.rejects(
        searchQueries(new BagOfWordsModel(), join(dir, "index"), dir, null),
        (e) => e instanceof DataError && e.message.startsWith(`${file("queries")}:2: `),
      );
    }
  }
});

test('BEIR records accept "id" for "_id"; a corpus folder may hold the corpus alone', {
  timeout: 10_000,
}, async () => {
  const dir = tempDir();
  writeFileSync(
    join(dir, "corpus.jsonl"),
    '{"id": 7, "text": "seven"}\n{"_id": "x", "title": null, "text": "ex"}\n',
  );
  assert.deepEqual(await collect(streamCorpus(dir)), [
    { id: "7", title: "", text: "seven" },
    { id: "x", title: "", text: "ex" },
  ]);
  await assert.rejects(collect(streamQueries(dir)), /no queries in this folder/);
  writeFileSync(
    join(dir, "corpus.jsonl"),
    '{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n',
  );
  await assert.rejects(
    collect(streamCorpus(dir)),
    /corpus\.jsonl:2: duplicate corpus id "a" \(first seen at .*corpus\.jsonl:1\)/,
  );
});
