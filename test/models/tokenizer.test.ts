import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { DEFAULT_COLBERT_CONFIG } from "../../src/models/config.js";
import { ColBERTTokenizer, pythonStrip } from "../../src/models/tokenizer.js";
import { readSharedJson, sharedPath } from "../helpers/shared.js";

const MODELS = ["bert-tiny-colbert", "modernbert-tiny-colbert"];

function load(model: string, overrides: Partial<typeof DEFAULT_COLBERT_CONFIG> = {}) {
  const dir = sharedPath(`fixtures/${model}`);
  const json = JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8"));
  const config = JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, "utf8"));
  return new ColBERTTokenizer(json, config, { ...DEFAULT_COLBERT_CONFIG, ...overrides });
}

const rows = (a: BigInt64Array, B: number, L: number) =>
  Array.from({ length: B }, (_, b) => Array.from(a.subarray(b * L, (b + 1) * L), Number));

for (const model of MODELS) {
  const expected = readSharedJson(`fixtures/expected/${model}.json`);
  const tok = load(model);

  test(`${model}: prefix and pad ids as PyLate resolves them`, () => {
    assert.equal(tok.queryPrefixId, expected.settings.query_prefix_id);
    assert.equal(tok.documentPrefixId, expected.settings.document_prefix_id);
    assert.equal(tok.padTokenId, expected.settings.pad_token_id_used_by_pylate);
    assert.deepEqual(tok.addedTokens, []);
    const skip = expected.settings.skiplist_words.map((w: string) => tok.tokenToId(w));
    assert.deepEqual(skip, expected.settings.skiplist_ids);
  });

  test(`${model}: query ids, masks and token types are exact (expansion to 32)`, () => {
    const texts = expected.queries.map((q: { text: string }) => q.text);
    const batch = tok.tokenize(texts, { isQuery: true });
    assert.equal(batch.seqLength, 32);
    const ids = rows(batch.inputIds, batch.batchSize, 32);
    const mask = rows(batch.attentionMask, batch.batchSize, 32);
    expected.queries.forEach((q: any, i: number) => {
      assert.deepEqual(ids[i], q.input_ids, q.note);
      assert.deepEqual(mask[i], q.attention_mask, q.note);
      if (q.token_type_ids) assert.deepEqual(rows(batch.tokenTypeIds, 4, 32)[i], q.token_type_ids);
    });
  });

  test(`${model}: query variants (attend to expansion, no expansion)`, () => {
    const texts = expected.queries.map((q: { text: string }) => q.text);
    const attend = load(model, { attendToExpansionTokens: true });
    const a = attend.tokenize(texts, { isQuery: true });
    const va = expected.query_variants.attend_to_expansion_tokens_true.queries;
    rows(a.attentionMask, 4, 32).forEach((m, i) => assert.deepEqual(m, va[i].attention_mask));
    const noexp = load(model, { doQueryExpansion: false });
    const n = noexp.tokenize(texts, { isQuery: true });
    const vn = expected.query_variants.do_query_expansion_false.queries;
    n.ids.forEach((ids, i) => assert.deepEqual(ids, vn[i].input_ids));
  });

  test(`${model}: document ids unpadded, and the padded encode batch`, () => {
    const docs = expected.documents;
    docs.forEach((d: any) => {
      const b = tok.tokenize([d.text], { isQuery: false });
      assert.deepEqual(b.ids[0], d.input_ids, d.note);
      assert.equal(b.seqLength, d.input_ids.length);
    });
    const eb = expected.documents_encode_batch;
    const texts = eb.order.map((i: number) => docs[i].text);
    const b = tok.tokenize(texts, { isQuery: false });
    const L = eb.input_ids[0].length;
    assert.equal(b.seqLength, L);
    assert.deepEqual(rows(b.inputIds, texts.length, L), eb.input_ids);
    assert.deepEqual(rows(b.attentionMask, texts.length, L), eb.attention_mask);
  });
}

test("pythonStrip strips what Python's str.strip() strips, not more", () => {
  assert.equal(pythonStrip("  a b \n\t"), "a b");
  assert.equal(pythonStrip("\u001fa\u0085"), "a");
  assert.equal(pythonStrip("\ufeffa"), "\ufeffa");
});

test("huge texts are truncated to the same ids as full tokenization, quickly", () => {
  const tok = load("bert-tiny-colbert");
  const words = Array.from({ length: 300_000 }, (_, i) => `word${i % 97} and, more`).join(" ");
  const fast = tok.encodeTruncated(words, 179);
  const full = tok.tokenizer.encode(words.slice(0, 20_000), { add_special_tokens: false }).ids;
  assert.equal(fast.length, 179);
  assert.deepEqual(fast.slice(1, 178), full.slice(0, 177));
});

test("prefix tokens missing from a plain tokenizer are added after the vocabulary", () => {
  const json = readSharedJson("tokenizers/bert-base-uncased/tokenizer.json");
  const config = readSharedJson("tokenizers/bert-base-uncased/tokenizer_config.json");
  const tok = new ColBERTTokenizer(json, config, DEFAULT_COLBERT_CONFIG);
  assert.deepEqual(tok.addedTokens, [
    { token: "[Q] ", id: 30522 },
    { token: "[D] ", id: 30523 },
  ]);
  assert.equal(tok.vocabSize, 30524);
  assert.equal(tok.tokenize(["hello"], { isQuery: false }).ids[0][1], 30523);
});
