import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { WeightStore, writeSafetensors } from "../../src/io/safetensors.js";
import { ColBERT } from "../../src/models/colbert.js";
import { maxSim } from "../../src/scores/maxsim.js";
import type { Matrix } from "../../src/util/matrix.js";
import { modelTestContext } from "../helpers/models.js";
import { maxAbsDiff, readSharedJson, sharedPath } from "../helpers/shared.js";

// Tolerances from fixtures/README.md §7 (float32): normalised embeddings abs 2e-5,
// MaxSim sums abs 2e-4.
const EMB_TOL = 2e-5;
const SCORE_TOL = 2e-4;

const { tmp, load } = modelTestContext("colbert");

function assertEmbeddings(actual: Matrix, expected: number[][], what: string): void {
  assert.equal(actual.rows, expected.length, `${what}: number of embeddings`);
  const d = maxAbsDiff(actual.data, expected.flat());
  assert.ok(d <= EMB_TOL, `${what}: max abs diff ${d} > ${EMB_TOL}`);
}

for (const name of ["bert-tiny-colbert", "modernbert-tiny-colbert"]) {
  const expected = readSharedJson(`fixtures/expected/${name}.json`);
  const dir = sharedPath(`fixtures/${name}`);

  test(`${name}: queries and documents encode as PyLate does`, async () => {
    const model = await load(dir);
    assert.equal(model.embeddingDim, expected.settings.embedding_dim);
    const queries = await model.encode(
      expected.queries.map((q: { text: string }) => q.text),
      { isQuery: true },
    );
    expected.queries.forEach((q: any, i: number) =>
      assertEmbeddings(queries[i], q.embeddings, `query ${i} (${q.note})`),
    );
    const docs = await model.encode(
      expected.documents.map((d: { text: string }) => d.text),
      { isQuery: false, batchSize: 3 },
    );
    expected.documents.forEach((d: any, i: number) =>
      assertEmbeddings(docs[i], d.embeddings, `document ${i} (${d.note})`),
    );
    for (let i = 0; i < queries.length; i++) {
      for (let j = 0; j < docs.length; j++) {
        const s = maxSim(queries[i], docs[j]);
        const e = expected.scores.maxsim[i][j];
        assert.ok(Math.abs(s - e) <= SCORE_TOL, `maxsim[${i}][${j}] ${s} vs ${e}`);
      }
    }
  });

  test(`${name}: query variants (attend to expansion tokens, no expansion)`, async () => {
    const texts = expected.queries.map((q: { text: string }) => q.text);
    const attend = await load(dir, { attendToExpansionTokens: true });
    const a = await attend.encode(texts, { isQuery: true });
    expected.query_variants.attend_to_expansion_tokens_true.queries.forEach((q: any, i: number) =>
      assertEmbeddings(a[i], q.embeddings, `attend variant query ${i}`),
    );
    const noexp = await load(dir, { doQueryExpansion: false });
    const n = await noexp.encode(texts, { isQuery: true });
    expected.query_variants.do_query_expansion_false.queries.forEach((q: any, i: number) =>
      assertEmbeddings(n[i], q.embeddings, `no-expansion variant query ${i}`),
    );
  });
}

test("save() writes PyLate's layout and reloads to the same embeddings", async () => {
  const model = await load(sharedPath("fixtures/bert-tiny-colbert"), { queryLength: 24 });
  const out = join(tmp, "saved");
  await model.save(out);
  const st = JSON.parse(readFileSync(join(out, "config_sentence_transformers.json"), "utf8"));
  assert.equal(st.query_length, 24);
  assert.equal(st.query_prefix, "[Q] ");
  assert.deepEqual(JSON.parse(readFileSync(join(out, "modules.json"), "utf8"))[1].path, "1_Dense");
  const reloaded = await load(out);
  assert.equal(reloaded.config.queryLength, 24);
  const texts = ["late interaction", "ColBERT, the model!"];
  for (const isQuery of [true, false]) {
    const a = await model.encode(texts, { isQuery });
    const b = await reloaded.encode(texts, { isQuery });
    a.forEach((m, i) => assert.deepEqual(b[i], m));
  }
});

test("a Stanford ColBERT checkpoint (HF_ColBERT, bert.* + linear.weight) loads", async () => {
  const src = sharedPath("fixtures/bert-tiny-colbert");
  const dir = join(tmp, "stanford");
  mkdirSync(dir, { recursive: true });
  const backbone = WeightStore.open(src);
  const dense = WeightStore.open(join(src, "1_Dense"));
  const tensors: Record<string, { data: Float32Array; shape: readonly number[] }> = {};
  for (const n of backbone.names()) {
    tensors[`bert.${n}`] = { data: backbone.readFloat32(n), shape: backbone.info(n).shape };
  }
  tensors["linear.weight"] = {
    data: dense.readFloat32("linear.weight"),
    shape: dense.info("linear.weight").shape,
  };
  writeSafetensors(join(dir, "model.safetensors"), tensors);
  const config = JSON.parse(readFileSync(join(src, "config.json"), "utf8"));
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({ ...config, architectures: ["HF_ColBERT"] }),
  );
  for (const f of [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
  ]) {
    cpSync(join(src, f), join(dir, f));
  }
  writeFileSync(
    join(dir, "artifact.metadata"),
    JSON.stringify({ query_maxlen: 16, doc_maxlen: 100, attend_to_mask_tokens: false }),
  );
  const model = await load(dir);
  assert.equal(model.checkpoint.layout, "stanford");
  assert.equal(model.config.queryPrefix, "[unused0]");
  assert.equal(model.config.documentPrefix, "[unused1]");
  assert.equal(model.config.queryLength, 16);
  const batch = model.tokenize(["hello world"], { isQuery: true });
  assert.equal(batch.seqLength, 16);
  assert.equal(batch.ids[0][1], 1); // [unused0] is id 1 in bert-base-uncased
  const [q] = await model.encode(["hello world"], { isQuery: true });
  assert.equal(q.rows, 16);
  assert.equal(q.cols, 32);
  // Saving converts it to PyLate's layout, which reloads to the same embeddings.
  await model.save(join(tmp, "stanford-saved"));
  const again = await load(join(tmp, "stanford-saved"));
  assert.equal(again.checkpoint.layout, "pylate");
  const [q2] = await again.encode(["hello world"], { isQuery: true });
  assert.deepEqual(q2, q);
});

test("a plain Hugging Face encoder gets a new Dense and prefix tokens, with a warning", async () => {
  const src = sharedPath("fixtures/bert-tiny-colbert");
  const dir = join(tmp, "plain");
  mkdirSync(dir, { recursive: true });
  // The base vocabulary has no [Q]/[D]: drop the two extra embedding rows too.
  const backbone = WeightStore.open(src);
  const tensors: Record<string, { data: Float32Array; shape: readonly number[] }> = {};
  for (const n of backbone.names()) {
    let data = backbone.readFloat32(n);
    let shape = backbone.info(n).shape;
    if (n === "embeddings.word_embeddings.weight") {
      data = data.slice(0, 30522 * 64);
      shape = [30522, 64];
    }
    tensors[n] = { data, shape };
  }
  writeSafetensors(join(dir, "model.safetensors"), tensors);
  const config = JSON.parse(readFileSync(join(src, "config.json"), "utf8"));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...config, vocab_size: 30522 }));
  for (const f of ["tokenizer.json", "tokenizer_config.json", "vocab.txt"]) {
    cpSync(sharedPath(`tokenizers/bert-base-uncased/${f}`), join(dir, f));
  }
  const warnings: string[] = [];
  const model = await load(dir, { embeddingSize: 48, warn: (m) => warnings.push(m) });
  assert.equal(model.checkpoint.layout, "huggingface");
  assert.equal(model.embeddingDim, 48);
  assert.ok(
    warnings.some((w) => /no projection layer/.test(w)),
    warnings.join("\n"),
  );
  assert.ok(
    warnings.some((w) => /added "\[Q\] ", "\[D\] "/.test(w)),
    warnings.join("\n"),
  );
  assert.equal(model.tokenizer.queryPrefixId, 30522);
  const [d] = await model.encode(["plain encoder"], { isQuery: false });
  assert.equal(d.cols, 48);
  for (let r = 0; r < d.rows; r++) {
    let n = 0;
    for (let k = 0; k < 48; k++) n += d.data[r * 48 + k] ** 2;
    assert.ok(Math.abs(Math.sqrt(n) - 1) < 1e-5);
  }
});

test("encode() keeps input order, handles empty input and rejects bad input clearly", async () => {
  const model = await load(sharedPath("fixtures/bert-tiny-colbert"));
  assert.deepEqual(await model.encode([], { isQuery: false }), []);
  const texts = ["a", "a much longer text than the first one", "mid length"];
  const together = await model.encode(texts, { isQuery: false, batchSize: 2 });
  for (let i = 0; i < texts.length; i++) {
    const [alone] = await model.encode([texts[i]], { isQuery: false });
    assert.equal(together[i].rows, alone.rows);
    assert.ok(maxAbsDiff(together[i].data, Array.from(alone.data)) < 1e-5);
  }
  await assert.rejects(model.encode([42 as unknown as string]), /texts\[0\] must be a string/);
  await assert.rejects(
    model.encode(["x"], { batchSize: 0 }),
    /batchSize must be a positive integer/,
  );
  const padded = await model.encode(texts, { isQuery: false, padding: true });
  assert.ok(padded.every((m) => m.rows === together[1].rows));
  assert.deepEqual(padded[1], together[1]);
  assert.deepEqual(padded[0].data.subarray(0, together[0].data.length), together[0].data);
  assert.ok(padded[0].data.subarray(together[0].data.length).every((v) => v === 0));
  const pooled = await model.encode([texts[1]], { isQuery: false, poolFactor: 2 });
  assert.equal(pooled[0].rows, 1 + Math.floor((together[1].rows - 1) / 2));
});

test("loading errors name the file and the problem", async () => {
  await assert.rejects(
    ColBERT.fromPretrained(join(tmp, "nope-does-not-exist/x")),
    /not|exist|found/i,
  );
  const bad = join(tmp, "bad-modules");
  cpSync(sharedPath("fixtures/bert-tiny-colbert"), bad, { recursive: true });
  writeFileSync(join(bad, "modules.json"), "{ not json");
  await assert.rejects(ColBERT.fromPretrained(bad), /modules\.json.*not valid JSON/);
  writeFileSync(
    join(bad, "modules.json"),
    readFileSync(sharedPath("fixtures/bert-tiny-colbert/modules.json")),
  );
  writeFileSync(join(bad, "config.json"), JSON.stringify({ model_type: "gpt2", hidden_size: 64 }));
  await assert.rejects(ColBERT.fromPretrained(bad, { threads: 1 }), /gpt2/);
  const truncated = join(tmp, "truncated");
  cpSync(sharedPath("fixtures/bert-tiny-colbert"), truncated, { recursive: true });
  const bytes = readFileSync(join(truncated, "model.safetensors"));
  writeFileSync(join(truncated, "model.safetensors"), bytes.subarray(0, 1000));
  await assert.rejects(ColBERT.fromPretrained(truncated, { threads: 1 }), /model\.safetensors/);
});
