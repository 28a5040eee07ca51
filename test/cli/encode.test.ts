import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { readEmbeddingFile } from "../../src/io/embeddings.js";
import { ColBERT } from "../../src/models/colbert.js";
import { quantizationRanges, quantizeEmbeddings } from "../../src/models/quantization.js";
import { sharedPath } from "../helpers/shared.js";

const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const model = sharedPath("fixtures/bert-tiny-colbert");
const tmp = mkdtempSync(join(tmpdir(), "tslate-cli-encode-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** `tslate encode --model <fixture> --input <input> --output <output> ...rest`. */
function encode(input: string, output: string, ...rest: string[]) {
  return run(["encode", "--model", model, "--input", input, "--output", output, ...rest]);
}

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
  const r = encode(input, out, "--no-progress", "--threads", "1");
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
  const r = encode(input, out, "--query", "--no-progress");
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
  const r = encode(input, out, "--no-progress");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.jsonl:2: missing string "text" field/);
  assert.equal(existsSync(out), false);
  const r2 = encode(input, join(tmp, "x.csv"));
  assert.equal(r2.status, 2);
  assert.match(r2.stderr, /must end in \.safetensors or \.npy/);
  const r4 = encode(input, out, "--batch-size", "0");
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

test("tslate encode --precision writes quantised embeddings (ubinary safetensors, int8 .npy with ranges)", async () => {
  const input = join(tmp, "quant.txt");
  const texts = ["late interaction, token by token.", "Paris is the capital of France.", "a"];
  writeFileSync(input, `${texts.join("\n")}\n`);
  const m = await ColBERT.fromPretrained(model, { threads: 1 });
  const float = await m.encode(texts, { isQuery: false });
  const queries = await m.encode(["what is colbert?"], { isQuery: true });
  await m.dispose();

  const bin = join(tmp, "quant.safetensors");
  const r = encode(input, bin, "--precision", "ubinary", "--no-progress");
  assert.equal(r.status, 0, r.stderr);
  const file = readEmbeddingFile(bin);
  assert.equal(file.precision, "ubinary");
  assert.ok(file.embeddings[0].data instanceof Uint8Array);
  assert.equal(file.embeddings[0].cols, 4); // 32 dims packed into 4 bytes
  assert.deepEqual(file.embeddings, quantizeEmbeddings(float, "ubinary"));

  // int8: ranges from the first --calibration-size texts, written beside the output
  const npy = join(tmp, "quant.npy");
  const r2 = encode(input, npy, "--precision", "int8", "--calibration-size", "2", "--no-progress");
  assert.equal(r2.status, 0, r2.stderr);
  const ranges: [number[], number[]] = JSON.parse(
    readFileSync(join(tmp, "quant.ranges.json"), "utf8"),
  );
  assert.deepEqual(
    ranges,
    quantizationRanges(float.slice(0, 2)).map((x) => Array.from(x)),
  );
  const bytes = readFileSync(npy);
  const headerLen = bytes.readUInt16LE(8);
  const total = float.reduce((n, e) => n + e.rows, 0);
  assert.match(
    bytes.subarray(10, 10 + headerLen).toString("latin1"),
    new RegExp(`'descr': '\\|i1', 'fortran_order': False, 'shape': \\(${total}, 32\\)`),
  );
  const expected = quantizeEmbeddings(float, "int8", { ranges });
  assert.deepEqual(
    new Int8Array(bytes.buffer, bytes.byteOffset + 10 + headerLen, total * 32),
    Int8Array.from(expected.flatMap((e) => Array.from(e.data))),
  );

  // queries quantised with the documents' ranges
  const qin = join(tmp, "quant-q.txt");
  writeFileSync(qin, "what is colbert?\n");
  const qout = join(tmp, "quant-q.safetensors");
  const r3 = encode(
    qin,
    qout,
    "--query",
    "--precision",
    "int8",
    "--ranges",
    join(tmp, "quant.ranges.json"),
    "--no-progress",
  );
  assert.equal(r3.status, 0, r3.stderr);
  assert.deepEqual(
    readEmbeddingFile(qout).embeddings,
    quantizeEmbeddings(queries, "int8", { ranges }),
  );

  const bad = encode(input, bin, "--precision", "int4");
  assert.equal(bad.status, 2);
  assert.match(
    bad.stderr,
    /--precision must be float32, int8, uint8, binary or ubinary, got "int4"/,
  );
  const bad2 = encode(
    input,
    bin,
    "--precision",
    "binary",
    "--ranges",
    join(tmp, "quant.ranges.json"),
  );
  assert.equal(bad2.status, 2);
  assert.match(bad2.stderr, /--ranges only applies to --precision int8 or uint8/);
});
