import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { openIndex } from "../../src/indexes/index.js";
import { sharedPath } from "../helpers/shared.js";

const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const model = sharedPath("fixtures/bert-tiny-colbert");
const tmp = mkdtempSync(join(tmpdir(), "tslate-cli-index-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function run(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
}

const corpus = join(tmp, "corpus.jsonl");
const queries = join(tmp, "queries.jsonl");
writeFileSync(
  corpus,
  [
    { _id: "d1", title: "Graphene", text: "graphene conducts heat very well" },
    { _id: "d2", text: "the capital of France is Paris" },
    { _id: "d3", text: "ColBERT scores queries and documents token by token" },
    { _id: "d4", text: "penguins live in the southern hemisphere" },
  ]
    .map((d) => JSON.stringify(d))
    .join("\n"),
);
writeFileSync(
  queries,
  [
    { _id: "q1", text: "heat conduction of graphene" },
    { _id: "q2", text: "late interaction retrieval" },
  ]
    .map((q) => JSON.stringify(q))
    .join("\n"),
);

test("tslate index then tslate search (PLAID, 2 search workers, threshold) write a TREC run", async () => {
  const dir = join(tmp, "plaid");
  const built = run([
    "index",
    "--model",
    model,
    "--corpus",
    corpus,
    "--index",
    dir,
    "--no-progress",
  ]);
  assert.equal(built.status, 0, built.stderr);
  const index = await openIndex(dir);
  assert.equal(index.count(), 4);
  await index.close();
  const runFile = join(tmp, "run.trec");
  const searched = run([
    "search",
    ...["--model", model, "--index", dir, "--queries", queries],
    ...["--k", "3", "--output", runFile, "--no-progress"],
    ...["--search-workers", "2", "--n-ivf-probe", "4", "--centroid-score-threshold", "-1"],
  ]);
  assert.equal(searched.status, 0, searched.stderr);
  const lines = readFileSync(runFile, "utf8").trim().split("\n");
  assert.equal(lines.length, 6); // 2 queries × k 3 (4 documents)
  for (const [i, line] of lines.entries()) {
    const [qid, q0, doc, rank, score, tag] = line.split(" ");
    assert.equal(qid, i < 3 ? "q1" : "q2");
    assert.equal(q0, "Q0");
    assert.ok(["d1", "d2", "d3", "d4"].includes(doc));
    assert.equal(Number(rank), (i % 3) + 1);
    assert.ok(Number.isFinite(Number(score)));
    assert.equal(tag, "tslate");
  }
  // Same run from stdout with one worker and no threshold (the threshold -1 prunes nothing).
  const plain = run(["search", "--model", model, "--index", dir, "--queries", queries, "--k", "3"]);
  assert.equal(plain.status, 0, plain.stderr);
  assert.deepEqual(plain.stdout.trim().split("\n"), lines);
});

test("tslate search names a bad flag value and exits non-zero", () => {
  const bad = run([
    "search",
    ...["--model", model, "--index", join(tmp, "plaid"), "--queries", queries],
    ...["--centroid-score-threshold", "high"],
  ]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--centroid-score-threshold must be a number, got "high"/);
});
