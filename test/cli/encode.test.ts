import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { readEmbeddingFile } from "../../src/io/embeddings.js";
import { ColBERT } from "../../src/models/colbert.js";
import { sharedPath } from "../helpers/shared.js";

const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const model = sharedPath("fixtures/bert-tiny-colbert");
const tmp = mkdtempSync(join(tmpdir(), "tslate-cli-encode-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function run(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
}

test("tslate encode writes safetensors + ids that match model.encode", async () => {
  const input = join(tmp, "docs.jsonl");
  writeFileSync(
    input,
    [
      JSON.stringify({ _id: "d1", title: "ColBERT", text: "late interaction, token by token." }),
      JSON.stringify({ _id: "d2", text: "Paris is the capital of France." }),
      "",
      JSON.stringify({ _id: 3, text: "" }),
    ].join("\n"),
  );
  const out = join(tmp, "docs.safetensors");
  const r = run([
    "encode",
    "--model",
    model,
    "--input",
    input,
    "--output",
    out,
    "--no-progress",
    "--threads",
    "1",
  ]);
  assert.equal(r.status, 0, r.stderr);
  const { ids, embeddings } = readEmbeddingFile(out);
  assert.deepEqual(ids, ["d1", "d2", "3"]);
  const m = await ColBERT.fromPretrained(model, { threads: 1 });
  const expected = await m.encode(
    ["ColBERT late interaction, token by token.", "Paris is the capital of France.", ""],
    { isQuery: false },
  );
  await m.dispose();
  expected.forEach((e, i) => {
    assert.equal(embeddings[i].rows, e.rows);
    assert.deepEqual(embeddings[i].data, e.data);
  });
  // No temporary files left behind.
  assert.deepEqual(
    readdirSync(tmp).filter((f) => f.includes("tmp")),
    [],
  );
});

test("tslate encode --query to .npy writes the NumPy header and offsets", () => {
  const input = join(tmp, "queries.txt");
  writeFileSync(input, "what is colbert?\nhow does maxsim work?\n");
  const out = join(tmp, "q.npy");
  const r = run([
    "encode",
    "--model",
    model,
    "--input",
    input,
    "--output",
    out,
    "--query",
    "--no-progress",
  ]);
  assert.equal(r.status, 0, r.stderr);
  const bytes = readFileSync(out);
  assert.equal(bytes.subarray(1, 6).toString("latin1"), "NUMPY");
  const headerLen = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLen).toString("latin1");
  assert.match(header, /'descr': '<f4', 'fortran_order': False, 'shape': \(64, 32\)/);
  assert.equal(bytes.length, 10 + headerLen + 64 * 32 * 4);
  assert.ok(existsSync(join(tmp, "q.offsets.npy")));
  assert.deepEqual(JSON.parse(readFileSync(join(tmp, "q.ids.json"), "utf8")), ["1", "2"]);
});

test("tslate encode reports bad input clearly and leaves no output", () => {
  const input = join(tmp, "bad.jsonl");
  writeFileSync(input, `${JSON.stringify({ _id: "ok", text: "fine" })}\n{"_id": "x", "text": 5}\n`);
  const out = join(tmp, "bad.safetensors");
  const r = run(["encode", "--model", model, "--input", input, "--output", out, "--no-progress"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.jsonl:2: missing string "text" field/);
  assert.equal(existsSync(out), false);
  const r2 = run(["encode", "--model", model, "--input", input, "--output", join(tmp, "x.csv")]);
  assert.equal(r2.status, 2);
  assert.match(r2.stderr, /must end in \.safetensors or \.npy/);
  const r4 = run([
    "encode",
    "--model",
    model,
    "--input",
    input,
    "--output",
    out,
    "--batch-size",
    "0",
  ]);
  assert.equal(r4.status, 2);
  assert.match(r4.stderr, /--batch-size must be a positive integer, got "0"/);
  const r3 = run([
    "encode",
    "--model",
    join(tmp, "no-such-model"),
    "--input",
    input,
    "--output",
    out,
  ]);
  assert.equal(r3.status, 2);
  assert.match(r3.stderr, /no-such-model/);
});
