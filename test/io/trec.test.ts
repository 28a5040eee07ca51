import assert from "node:assert/strict";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Run } from "../../src/io/trec.js";
import { readQrels, readRun, writeRun } from "../../src/io/trec.js";
import { DataError } from "../../src/util/errors.js";
import { shared, tempDir } from "../evaluation/helpers.js";

test("writeRun then readRun gives back the same run, ranked, atomically", async () => {
  const dir = tempDir();
  const run: Run = new Map([
    [
      "q1",
      new Map([
        ["a", 0.5],
        ["b", 2.25],
        ["c", 1 / 3],
      ]),
    ],
    ["q2", new Map([["x", -1]])],
  ]);
  const path = join(dir, "run.trec");
  writeRun(path, run, { tag: "test" });
  assert.deepEqual(readdirSync(dir), ["run.trec"]); // no temporary file left behind
  const text = (await import("node:fs")).readFileSync(path, "utf8");
  assert.equal(
    text,
    `q1 Q0 b 1 2.25 test\nq1 Q0 a 2 0.5 test\nq1 Q0 c 3 ${1 / 3} test\nq2 Q0 x 1 -1 test\n`,
  );
  assert.deepEqual(await readRun(path), run);
  writeRun(path, run, { k: 1 });
  assert.equal((await readRun(path)).get("q1")!.size, 1);
  assert.throws(() => writeRun(path, new Map([["q 1", new Map([["a", 1]])]])), /no whitespace/);
});

test("readRun names the file and line of malformed input", async () => {
  const dir = tempDir();
  const p = join(dir, "bad.trec");
  writeFileSync(p, "q1 Q0 a 1 1.0 t\n\nq1 Q0 b 2 nope t\n");
  await assert.rejects(
    readRun(p),
    (e: Error) => e instanceof DataError && /bad\.trec:3: score "nope"/.test(e.message),
  );
  writeFileSync(p, "q1 Q0 a 1 1.0\n");
  await assert.rejects(readRun(p), /bad\.trec:1: a TREC run line has 6 fields.*got 5/);
  writeFileSync(p, "q1 Q0 a 1 1.0 t\nq1 Q0 a 2 0.5 t\n");
  await assert.rejects(
    readRun(p),
    /bad\.trec:2: document "a" appears twice for query "q1" \(first on line 1\)/,
  );
  await assert.rejects(readRun(join(dir, "missing.trec")), /file not found/);
});

test("readQrels reads BEIR TSV with CRLF (SciFact) and TREC qrels", async () => {
  const q = await readQrels(shared("data", "scifact", "qrels", "test.tsv"));
  assert.equal(q.size, 300);
  let pairs = 0;
  for (const [qid, docs] of q) {
    assert.ok(!qid.includes("\r"));
    for (const [d, rel] of docs) {
      assert.ok(!d.includes("\r"));
      assert.equal(rel, 1);
      pairs++;
    }
  }
  assert.equal(pairs, 339);
  const dir = tempDir();
  const p = join(dir, "qrels.txt");
  writeFileSync(p, "1 0 d1 2\n1 0 d2 -1\n2 0 d3 1\n");
  assert.deepEqual(
    await readQrels(p),
    new Map([
      [
        "1",
        new Map([
          ["d1", 2],
          ["d2", -1],
        ]),
      ],
      ["2", new Map([["d3", 1]])],
    ]),
  );
  writeFileSync(p, "query-id\tcorpus-id\tscore\n1\td1\t1.5\n");
  await assert.rejects(readQrels(p), /qrels\.txt:2: relevance "1\.5" is not an integer/);
  writeFileSync(p, "query-id\tcorpus-id\tscore\n1\td1\t1\n1\td1\t0\n");
  await assert.rejects(
    readQrels(p),
    /qrels\.txt:3: judgement for query "1", document "d1" appears twice/,
  );
});
