// The README's command-line sequence (encode -> index -> search --split test -> evaluate), run
// as written on a SciFact-shaped folder: a small subset of SciFact (test and train queries,
// their judged documents and some others) with the tiny fixture model.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { sharedPath } from "../helpers/shared.js";

const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const readme = fileURLToPath(new URL("../../../README.md", import.meta.url));
const model = sharedPath("fixtures/bert-tiny-colbert");
const tmp = mkdtempSync(join(tmpdir(), "tslate-cli-readme-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function qrelsLines(split: string): string[][] {
  return readFileSync(sharedPath(`data/scifact/qrels/${split}.tsv`), "utf8")
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => l.split("\t"));
}

/** scifact/ with 6 test queries, 4 train queries, their judged documents and 30 others. */
function makeSubset(): { dir: string; testQueries: Set<string> } {
  const dir = join(tmp, "scifact");
  mkdirSync(join(dir, "qrels"), { recursive: true });
  const pick = (split: string, n: number) => {
    const lines = qrelsLines(split);
    const ids = [...new Set(lines.map((l) => l[0]))].slice(0, n);
    return { ids, lines: lines.filter((l) => ids.includes(l[0])) };
  };
  const testQ = pick("test", 6);
  const trainQ = pick("train", 4);
  for (const [name, q] of [
    ["test", testQ],
    ["train", trainQ],
  ] as const) {
    writeFileSync(
      join(dir, "qrels", `${name}.tsv`),
      `query-id\tcorpus-id\tscore\n${q.lines.map((l) => l.join("\t")).join("\n")}\n`,
    );
  }
  const wantQ = new Set([...testQ.ids, ...trainQ.ids]);
  const queries = readFileSync(sharedPath("data/scifact/queries.jsonl"), "utf8")
    .trim()
    .split("\n")
    .filter((l) => wantQ.has(String(JSON.parse(l)._id)));
  writeFileSync(join(dir, "queries.jsonl"), `${queries.join("\n")}\n`);
  const judged = new Set([...testQ.lines, ...trainQ.lines].map((l) => l[1]));
  const corpus = readFileSync(sharedPath("data/scifact/corpus.jsonl"), "utf8").trim().split("\n");
  const docs = corpus.filter((l, i) => i < 30 || judged.has(String(JSON.parse(l)._id)));
  writeFileSync(join(dir, "corpus.jsonl"), `${docs.join("\n")}\n`);
  return { dir, testQueries: new Set(testQ.ids) };
}

/** The README's `tslate encode|index|search|evaluate` lines, in order. */
function readmeCommands(): string[][] {
  const text = readFileSync(readme, "utf8");
  const lines = text.split("\n").filter((l) => /^tslate (encode|index|search|evaluate) /.test(l));
  assert.deepEqual(
    lines.map((l) => l.split(/\s+/)[1]),
    ["encode", "index", "search", "evaluate"],
    "the README lists the four commands in this order",
  );
  return lines.map((l) =>
    l
      .replace(/#.*$/, "")
      .trim()
      .split(/\s+/)
      .slice(1)
      .map((a) => (a === "path/to/model" ? model : a)),
  );
}

test("the README's encode -> index -> search --split test -> evaluate sequence runs on SciFact-shaped data", () => {
  const { testQueries } = makeSubset();
  const outputs: string[] = [];
  for (const args of readmeCommands()) {
    const r = spawnSync(
      process.execPath,
      [cli, ...args, ...(args[0] === "evaluate" ? [] : ["--no-progress"])],
      {
        cwd: tmp,
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, `tslate ${args.join(" ")}\n${r.stderr}`);
    outputs.push(r.stdout + r.stderr);
  }
  // search: only the split's queries, with its summary line.
  const run = readFileSync(join(tmp, "run.trec"), "utf8").trim().split("\n");
  assert.deepEqual(new Set(run.map((l) => l.split(" ")[0])), testQueries);
  assert.equal(run.length, testQueries.size * 10);
  assert.match(
    outputs[2],
    /searched 6 queries in \d+\.\d s \(\d+\.\d q\/s\), run written to run\.trec/,
  );
  // evaluate: every test query judged.
  assert.match(outputs[3], /\(6 queries\)/);
  assert.match(outputs[3], /^ndcg@10\s+\d\.\d{4}$/m);
});
