// Every CLI failure prints one line `tslate: error [CODE]: message` (no stack) and exits 2:
// tslate's own errors, commander's usage errors, file-system errors and bugs.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { CommanderError } from "commander";
import { describeFailure } from "../../src/cli/main.js";
import { ConfigError } from "../../src/util/errors.js";
import { sharedPath } from "../helpers/shared.js";

const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const model = sharedPath("fixtures/bert-tiny-colbert");
const tmp = mkdtempSync(join(tmpdir(), "tslate-cli-errors-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const file = join(tmp, "queries.jsonl");
writeFileSync(file, `${JSON.stringify({ _id: "q1", text: "a query" })}\n`);

function run(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
}

/** Exit 2, stderr is exactly one `tslate: error [code]: ...` line matching `message`. */
function fails(args: string[], code: string, message: RegExp) {
  const r = run(args);
  assert.equal(r.status, 2, `tslate ${args.join(" ")}: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line, no stack: ${r.stderr}`);
  assert.ok(lines[0].startsWith(`tslate: error [${code}]: `), lines[0]);
  assert.match(lines[0], message);
}

test("usage errors (missing, unknown option or command) are USAGE, exit 2", () => {
  fails(["index"], "USAGE", /required option '--model <pathOrHubId>' not specified/);
  fails(
    ["search", "--model", model, "--index", tmp, "--queries", file, "--bogus"],
    "USAGE",
    /unknown option '--bogus'/,
  );
  fails(["frobnicate"], "USAGE", /unknown command 'frobnicate'/);
  // No command: the help, then the error line.
  const none = run([]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /Usage: tslate/);
  assert.match(none.stderr.trim().split("\n").at(-1)!, /^tslate: error \[USAGE\]: no command given/);
  assert.equal(run(["--version"]).status, 0);
  assert.equal(run(["index", "--help"]).status, 0);
});

test("file-system mistakes: --index a file, --output in a missing folder, reading a folder", () => {
  fails(
    ["search", "--model", model, "--index", file, "--queries", file],
    "CONFIG",
    /--index .* is a file, not an index folder/,
  );
  fails(
    [
      "search",
      "--model",
      model,
      "--index",
      tmp,
      "--queries",
      file,
      "--output",
      join(tmp, "missing", "run.trec"),
    ],
    "CONFIG",
    /--output .*missing.* does not exist; create it first/,
  );
  fails(
    [
      "encode",
      "--model",
      model,
      "--input",
      file,
      "--output",
      join(tmp, "missing", "x.safetensors"),
    ],
    "CONFIG",
    /folder .* does not exist/,
  );
  fails(
    ["index", "--model", model, "--corpus", file, "--index", join(file, "sub")],
    "CONFIG",
    /is not a folder/,
  );
  // Reading a folder as a run file (raw OS errors keep their code: see describeFailure below).
  const qrels = join(tmp, "qrels.tsv");
  writeFileSync(qrels, "query-id\tcorpus-id\tscore\nq1\td1\t1\n");
  fails(["evaluate", "--run", tmp, "--qrels", qrels], "FILE_CORRUPT", /cannot be read \(EISDIR/);
});

test("unsupported input types are refused, not read as lines", () => {
  const tsv = join(tmp, "texts.tsv");
  writeFileSync(tsv, "1\tsome text\n");
  fails(
    ["encode", "--model", model, "--input", tsv, "--output", join(tmp, "x.safetensors")],
    "CONFIG",
    /unsupported file type "\.tsv"/,
  );
});

test("--nbits: the help lists 1, 2, 4, 8 and other values are refused", () => {
  const help = run(["index", "--help"]);
  assert.match(help.stdout, /--nbits <n>\s+PLAID residual bits: 1, 2, 4, 8/);
  fails(
    ["index", "--model", model, "--corpus", file, "--index", join(tmp, "i"), "--nbits", "3"],
    "CONFIG",
    /--nbits must be one of 1, 2, 4, 8, got 3/,
  );
});

test("describeFailure: our codes, usage, OS codes, and INTERNAL for bugs (stack only with --verbose)", () => {
  assert.equal(describeFailure(new ConfigError("bad"), false), "tslate: error [CONFIG]: bad\n");
  assert.equal(
    describeFailure(
      new CommanderError(1, "commander.unknownOption", "error: unknown option '--x'"),
      false,
    ),
    "tslate: error [USAGE]: unknown option '--x' (see tslate --help)\n",
  );
  const fsError = Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), {
    code: "ENOENT",
  });
  assert.equal(
    describeFailure(fsError, false),
    "tslate: error [ENOENT]: no such file or directory, open 'x'\n",
  );
  const bug = new TypeError("x is undefined");
  assert.match(
    describeFailure(bug, false),
    /^tslate: error \[INTERNAL\]: x is undefined; this is a bug .*--verbose for the stack\)\n$/,
  );
  assert.match(describeFailure(bug, true), /at /);
});

test("--quiet prints nothing on success, --verbose adds the phases", () => {
  const corpus = join(tmp, "corpus.jsonl");
  writeFileSync(
    corpus,
    `${JSON.stringify({ _id: "d1", text: "a document" })}\n${JSON.stringify({ _id: "d2", text: "another one" })}\n`,
  );
  const quiet = run([
    "index",
    "--quiet",
    "--model",
    model,
    "--corpus",
    corpus,
    "--index",
    join(tmp, "q-index"),
    "--index-type",
    "exact",
  ]);
  assert.equal(quiet.status, 0, quiet.stderr);
  assert.equal(quiet.stderr, "");
  const normal = run([
    "index",
    "--model",
    model,
    "--corpus",
    corpus,
    "--index",
    join(tmp, "n-index"),
    "--index-type",
    "exact",
  ]);
  assert.match(normal.stderr, /^indexed 2 documents into .* in \d+\.\d s\n$/);
  const verbose = run([
    "--verbose",
    "index",
    "--model",
    model,
    "--corpus",
    corpus,
    "--index",
    join(tmp, "v-index"),
  ]);
  assert.equal(verbose.status, 0, verbose.stderr);
  assert.match(verbose.stderr, /training the PLAID codec/);
  assert.match(verbose.stderr, /codec trained in \d+\.\d s/);
  assert.match(verbose.stderr, /indexed 2 documents/);
});
