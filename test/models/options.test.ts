import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ColBERT } from "../../src/models/colbert.js";
import type { Matrix } from "../../src/util/matrix.js";
import { modelTestContext } from "../helpers/models.js";
import { maxAbsDiff, sharedPath } from "../helpers/shared.js";
import { startFakeHub } from "../hub/fake-hub.js";

const FIXTURE = sharedPath("fixtures/bert-tiny-colbert");
const TEXTS = ["late interaction, token by token.", "Paris is the capital of France", "a"];
const { tmp, load } = modelTestContext("options");

test("every ColBERT setting is read from and written to config_sentence_transformers.json", async () => {
  const settings = {
    queryPrefix: "[unused0]",
    documentPrefix: "[unused1]",
    queryLength: 20,
    documentLength: 100,
    doQueryExpansion: true,
    attendToExpansionTokens: true,
    skiplistWords: [",", "."],
    prompts: { query: "query: ", passage: "passage: " },
    defaultPromptName: "passage",
  };
  const model = await load(FIXTURE, settings);
  const dir = join(tmp, "all-settings");
  await model.save(dir);
  const json = JSON.parse(readFileSync(join(dir, "config_sentence_transformers.json"), "utf8"));
  assert.deepEqual(
    {
      query_prefix: json.query_prefix,
      document_prefix: json.document_prefix,
      query_length: json.query_length,
      document_length: json.document_length,
      do_query_expansion: json.do_query_expansion,
      attend_to_expansion_tokens: json.attend_to_expansion_tokens,
      skiplist_words: json.skiplist_words,
      prompts: json.prompts,
      default_prompt_name: json.default_prompt_name,
      similarity_fn_name: json.similarity_fn_name,
      model_type: json.model_type,
    },
    {
      query_prefix: "[unused0]",
      document_prefix: "[unused1]",
      query_length: 20,
      document_length: 100,
      do_query_expansion: true,
      attend_to_expansion_tokens: true,
      skiplist_words: [",", "."],
      prompts: { query: "query: ", passage: "passage: " },
      default_prompt_name: "passage",
      similarity_fn_name: "MaxSim",
      model_type: "ColBERT",
    },
  );
  const reloaded = await load(dir);
  assert.deepEqual(reloaded.config, model.config);
  // the default prompt is applied: "passage: a" as a document
  const [withDefault] = await reloaded.encode(["a"]);
  const [explicit] = await reloaded.encode(["passage: a"], { prompt: "" });
  assert.deepEqual(withDefault, explicit);
});

test("truncateDim keeps the first dimensions, then normalises (sentence-transformers' order)", async () => {
  const full = await load(FIXTURE);
  const model = await load(FIXTURE, { truncateDim: 12 });
  assert.equal(model.embeddingDim, 12);
  const raw = await full.encode(TEXTS, { normalizeEmbeddings: false });
  const got = await model.encode(TEXTS);
  raw.forEach((m, t) => {
    assert.equal(got[t].cols, 12);
    assert.equal(got[t].rows, m.rows);
    const expected: number[] = [];
    for (let r = 0; r < m.rows; r++) {
      const head = Array.from(m.data.subarray(r * 32, r * 32 + 12));
      const norm = Math.hypot(...head);
      expected.push(...head.map((v) => v / norm));
    }
    assert.ok(maxAbsDiff(got[t].data, expected) <= 1e-6, `text ${t}`);
  });
  await assert.rejects(
    ColBERT.fromPretrained(FIXTURE, { truncateDim: 0 }),
    /truncateDim must be a positive integer/,
  );
});

test("encode takes one string or a list of lists, as PyLate does", async () => {
  const model = await load(FIXTURE);
  const flat = await model.encode(TEXTS, { isQuery: true });
  const one: Matrix = await model.encode(TEXTS[0], { isQuery: true });
  assert.deepEqual(one, flat[0]);
  const nested: Matrix[][] = await model.encode([TEXTS.slice(0, 2), TEXTS.slice(2)], {
    isQuery: true,
  });
  assert.deepEqual(nested, [flat.slice(0, 2), flat.slice(2)]);
  const bin = await model.encode([[TEXTS[0]]], { precision: "ubinary" });
  assert.ok(bin[0][0].data instanceof Uint8Array);
  await assert.rejects(
    model.encode([["a"], "b"] as unknown as string[][]),
    /texts\[1\] must be an array of strings like texts\[0\]/,
  );
});

test("prompt wins over promptName with a warning, as in sentence-transformers", async () => {
  const warnings: string[] = [];
  const model = await load(FIXTURE, {
    prompts: { query: "query: " },
    warn: (m) => warnings.push(m),
  });
  const [both] = await model.encode(["x"], { prompt: "search: ", promptName: "query" });
  const [prompted] = await model.encode(["search: x"]);
  assert.deepEqual(both, prompted);
  assert.match(warnings.join("\n"), /both prompt and promptName given: using prompt/);
  await assert.rejects(
    model.encode(["x"], { promptName: "nope" }),
    /prompt name "nope" is not one of the model's prompts \(query\)/,
  );
});

test("options without meaning here are accepted at their PyLate default or refused clearly", async () => {
  const model = await load(FIXTURE, {
    device: "cpu",
    similarityFnName: "MaxSim",
    truncation: true,
    trustRemoteCode: false,
  });
  const a = await model.encode(TEXTS, {
    device: "cpu",
    convertToNumpy: true,
    convertToTensor: false,
  });
  assert.deepEqual(a, await model.encode(TEXTS));
  await assert.rejects(
    ColBERT.fromPretrained(FIXTURE, { device: "cuda" }),
    /device "cuda" is not supported: tslate runs on onnxruntime's CPU provider/,
  );
  await assert.rejects(
    model.encode(TEXTS, { device: "cuda:0" }),
    /device "cuda:0" is not supported/,
  );
  await assert.rejects(
    model.encode(TEXTS, { convertToTensor: true }),
    /tslate has no tensor type.*padMatrices/,
  );
  await assert.rejects(model.encode(TEXTS, { convertToNumpy: false }), /tslate has no tensor type/);
  await assert.rejects(
    ColBERT.fromPretrained(FIXTURE, { similarityFnName: "cosine" as "MaxSim" }),
    /similarityFnName must be "MaxSim"/,
  );
  await assert.rejects(
    ColBERT.fromPretrained(FIXTURE, { truncation: false }),
    /truncation: false .* not implemented/,
  );
});

test("modelKwargs and configKwargs override config.json; tokenizerKwargs override tokenizer_config.json", async () => {
  const base = await load(FIXTURE);
  const same = await load(FIXTURE, {
    modelKwargs: { torch_dtype: "auto", attn_implementation: "sdpa" },
  });
  assert.deepEqual(await same.encode(TEXTS), await base.encode(TEXTS));

  const viaModel = await load(FIXTURE, { modelKwargs: { layer_norm_eps: 0.5 } });
  const viaConfig = await load(FIXTURE, { configKwargs: { layer_norm_eps: 0.5 } });
  const changed = await viaModel.encode(TEXTS);
  assert.deepEqual(await viaConfig.encode(TEXTS), changed);
  assert.ok(maxAbsDiff(changed[0].data, Array.from((await base.encode(TEXTS))[0].data)) > 1e-3);
  const dir = join(tmp, "kwargs-saved");
  await viaModel.save(dir);
  assert.equal(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).layer_norm_eps, 0.5);
  assert.deepEqual(await (await load(dir)).encode(TEXTS), changed);

  await assert.rejects(
    ColBERT.fromPretrained(FIXTURE, { modelKwargs: { torch_dtype: "float16" } }),
    /modelKwargs\.torch_dtype "float16": tslate computes in float32/,
  );
  await assert.rejects(
    ColBERT.fromPretrained(FIXTURE, { modelKwargs: { attn_implementation: "flash_attention_2" } }),
    /attn_implementation "flash_attention_2"/,
  );
  await assert.rejects(
    ColBERT.fromPretrained(FIXTURE, { modelKwargs: { not_a_field: 1 } }),
    /modelKwargs\.not_a_field is neither torch_dtype, attn_implementation nor a field of the backbone's config\.json/,
  );

  // PyLate pads queries with the mask token; naming another one changes the padding id.
  const padded = await load(FIXTURE, { tokenizerKwargs: { mask_token: "[PAD]" } });
  assert.equal(padded.tokenizer.padTokenId, 0);
  assert.equal(padded.tokenize(["hi"], { isQuery: true }).inputIds.at(-1), 0n);
  assert.equal(base.tokenize(["hi"], { isQuery: true }).inputIds.at(-1), 103n); // [MASK]
});

test("PyLate's hub argument names: cacheFolder, localFilesOnly, useAuthToken", async () => {
  const cache = join(tmp, "hub-cache");
  const hub = await startFakeHub({ dir: FIXTURE, token: "secret" });
  try {
    await assert.rejects(
      ColBERT.fromPretrained("org/tiny", { cacheFolder: cache, localFilesOnly: true, threads: 1 }),
      /offline|cache|not found/i,
    );
    const remote = await load("org/tiny", {
      cacheFolder: cache,
      endpoint: hub.endpoint,
      useAuthToken: "secret",
    });
    const offline = await load("org/tiny", { cacheFolder: cache, localFilesOnly: true });
    assert.deepEqual(await offline.encode(TEXTS), await remote.encode(TEXTS));
  } finally {
    await hub.close();
  }
});
