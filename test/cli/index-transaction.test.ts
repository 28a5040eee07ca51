// `tslate index` as a transaction: an interrupted build leaves no index, `search` refuses it
// with a message, `--resume` continues it (reusing encoded chunks), `--overwrite` replaces an
// index; the index records its model and `search` checks it; empty and unsupported corpora are
// errors. The interruption is deterministic: a test hook pauses the build after a chunk, then
// the test kills the process (SIGKILL: no handler runs) or sends SIGINT (Ctrl-C).
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { openIndex } from "../../src/indexes/index.js";
import { sharedPath } from "../helpers/shared.js";

const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const model = sharedPath("fixtures/bert-tiny-colbert");
const tmp = mkdtempSync(join(tmpdir(), "tslate-cli-tx-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
}

const corpus = join(tmp, "corpus.jsonl");
const DOCS = 12;
writeFileSync(
  corpus,
  Array.from({ length: DOCS }, (_, i) =>
    JSON.stringify({
      _id: `d${i}`,
      title: `doc ${i}`,
      text: `document number ${i} about topic ${i % 3}`,
    }),
  ).join("\n"),
);
const queries = join(tmp, "queries.jsonl");
writeFileSync(queries, JSON.stringify({ _id: "q1", text: "topic 1" }));

const indexArgs = (dir: string, ...rest: string[]) => [
  "index",
  ...["--model", model, "--corpus", corpus, "--index", dir],
  ...["--index-type", "exact", "--encode-batch", "4", "--no-progress"],
  ...rest,
];

/** Starts `tslate index` paused after `chunk` chunks; resolves once it says so. */
async function startPaused(dir: string, chunk: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cli, ...indexArgs(dir)], {
    env: { ...process.env, TSLATE_TEST_PAUSE_AFTER_CHUNK: String(chunk) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on("data", (b: Buffer) => {
      stderr += b.toString();
      if (stderr.includes(`paused after chunk ${chunk}`)) resolve();
    });
    child.on("exit", (code) =>
      reject(new Error(`index exited (${code}) before pausing: ${stderr}`)),
    );
  });
  return child;
}

function exited(
  child: ChildProcess,
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  return new Promise((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, stderr })),
  );
}

test("a killed build leaves no index; search refuses with a message; --resume finishes it from the encoded chunks", async () => {
  const dir = join(tmp, "killed");
  const child = await startPaused(dir, 2);
  const done = exited(child);
  child.kill("SIGKILL");
  await done;
  assert.ok(!existsSync(dir), "no index at --index");
  assert.ok(existsSync(`${dir}.partial`), "the partial build is kept");

  const searched = run(["search", "--model", model, "--index", dir, "--queries", queries]);
  assert.equal(searched.status, 2);
  assert.match(
    searched.stderr,
    /^tslate: error \[INDEX\]: .*not complete: its build was interrupted.*--resume/m,
  );
  assert.equal(searched.stdout, "");

  const again = run(indexArgs(dir));
  assert.equal(again.status, 2);
  assert.match(
    again.stderr,
    /tslate: error \[INDEX\]: an interrupted build .* pass --resume .* or --overwrite/,
  );

  const resumed = run(indexArgs(dir, "--resume"));
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /indexed 12 documents .*\(8 encoded before the interruption\)/);
  assert.ok(!existsSync(`${dir}.partial`));
  const index = await openIndex(dir);
  assert.equal(index.count(), DOCS);
  await index.close();

  // The same as a build that was never interrupted.
  const clean = join(tmp, "clean");
  assert.equal(run(indexArgs(clean)).status, 0);
  const a = run(["search", "--model", model, "--index", dir, "--queries", queries, "--k", "12"]);
  const b = run(["search", "--model", model, "--index", clean, "--queries", queries, "--k", "12"]);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  assert.equal(a.stdout.trim().split("\n").length, 12);
});

test("Ctrl-C during a build says how to resume, exits 130 and leaves no index", async () => {
  const dir = join(tmp, "ctrl-c");
  const child = await startPaused(dir, 1);
  const done = exited(child);
  child.kill("SIGINT");
  const { code, stderr } = await done;
  assert.equal(code, 130);
  assert.match(stderr, /interrupted; nothing was written to .*--resume/);
  assert.ok(!existsSync(dir));
  assert.ok(existsSync(`${dir}.partial`));
});

test("an existing index is refused without --overwrite, replaced with it; the quickstart can run twice", async () => {
  const dir = join(tmp, "twice");
  assert.equal(run(indexArgs(dir)).status, 0);
  const refused = run(indexArgs(dir));
  assert.equal(refused.status, 2);
  assert.match(
    refused.stderr,
    /tslate: error \[INDEX\]: .* already holds an index; pass --overwrite/,
  );
  const small = join(tmp, "small.jsonl");
  writeFileSync(small, JSON.stringify({ _id: "only", text: "one document" }));
  const replaced = run([
    "index",
    "--model",
    model,
    "--corpus",
    small,
    "--index",
    dir,
    "--index-type",
    "exact",
    "--overwrite",
  ]);
  assert.equal(replaced.status, 0, replaced.stderr);
  const index = await openIndex(dir);
  assert.equal(index.count(), 1);
  await index.close();
  assert.deepEqual(
    readdirSync(tmp).filter((f) => f.startsWith("twice.")),
    [],
    "no .partial or .old folder left",
  );
  const both = run(indexArgs(dir, "--resume", "--overwrite"));
  assert.equal(both.status, 2);
  assert.match(both.stderr, /\[CONFIG\]: --resume and --overwrite exclude each other/);
});

test("the index records its model; search with a model of other settings is an error unless --force", async () => {
  const dir = join(tmp, "recorded");
  assert.equal(run(indexArgs(dir)).status, 0);
  const record = JSON.parse(readFileSync(join(dir, "tslate-index.json"), "utf8"));
  assert.equal(record.model.name, model);
  assert.equal(record.model.embeddingDim > 0, true);
  assert.equal(record.model.queryPrefix, "[Q] ");
  assert.equal(record.documents, DOCS);

  // A copy of the model with another query length: other query vectors.
  const other = join(tmp, "other-model");
  cpSync(model, other, { recursive: true });
  const stPath = join(other, "config_sentence_transformers.json");
  const st = existsSync(stPath) ? JSON.parse(readFileSync(stPath, "utf8")) : {};
  rmSync(stPath, { force: true });
  writeFileSync(stPath, JSON.stringify({ ...st, query_length: 16 }));
  const refused = run(["search", "--model", other, "--index", dir, "--queries", queries]);
  assert.equal(refused.status, 2);
  assert.match(
    refused.stderr,
    /\[INDEX\]: .* was built with model .*queryLength 32 vs 16.* or pass --force/,
  );
  const forced = run(["search", "--model", other, "--index", dir, "--queries", queries, "--force"]);
  assert.equal(forced.status, 0, forced.stderr);
  assert.match(forced.stderr, /warning: .*searching anyway: --force/);

  // An exact copy (same settings, another path): a warning, not an error.
  const copy = join(tmp, "copy-model");
  cpSync(model, copy, { recursive: true });
  const copied = run(["search", "--model", copy, "--index", dir, "--queries", queries]);
  assert.equal(copied.status, 0, copied.stderr);
  assert.match(copied.stderr, /warning: .*the settings match/);
});

test("an empty corpus and an unsupported corpus file are errors, and leave nothing behind", () => {
  const empty = join(tmp, "empty.jsonl");
  writeFileSync(empty, "\n\n");
  const dir = join(tmp, "from-empty");
  const r = run(["index", "--model", model, "--corpus", empty, "--index", dir]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /tslate: error \[DATA\]: .*holds no documents/);
  assert.ok(!existsSync(dir) && !existsSync(`${dir}.partial`));

  const tsv = join(tmp, "corpus.tsv");
  writeFileSync(tsv, "d1\tsome text\n");
  const t = run(["index", "--model", model, "--corpus", tsv, "--index", join(tmp, "from-tsv")]);
  assert.equal(t.status, 2);
  assert.match(t.stderr, /tslate: error \[CONFIG\]: --corpus .*corpus\.tsv: unsupported file type/);
});
