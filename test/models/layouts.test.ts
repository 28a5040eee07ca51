/**
 * Hub layouts PyLate loads by its own rules (issue 12): a Stanford checkpoint with a stray
 * Transformer-only modules.json (mxbai-colbert-large-v1 and copies: F16 weights, lengths
 * 128 / 256 in artifact.metadata, int64 position_ids), sentence_bert_config.json's
 * do_lower_case (mxbai-edge-colbert-v0 family), saving and fine-tuning such checkpoints.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { WeightStore } from "../../src/io/safetensors.js";
import { Contrastive } from "../../src/losses/contrastive.js";
import { ColBERT } from "../../src/models/colbert.js";
import { pythonLower } from "../../src/models/tokenizer.js";
import { ColBERTCollator } from "../../src/training/data.js";
import { Trainer } from "../../src/training/trainer.js";
import { writeHalfSafetensors } from "../helpers/half.js";
import { modelTestContext } from "../helpers/models.js";
import { sharedPath } from "../helpers/shared.js";

const { tmp, load } = modelTestContext("layouts");

/** bert-tiny-colbert re-laid out as a Stanford checkpoint (bert.* + linear.weight), in F16. */
function stanfordCheckpoint(dir: string, withModulesJson: boolean): void {
  const src = sharedPath("fixtures/bert-tiny-colbert");
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
  writeHalfSafetensors(join(dir, "model.safetensors"), tensors, "F16");
  const config = JSON.parse(readFileSync(join(src, "config.json"), "utf8"));
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({ ...config, architectures: ["HF_ColBERT"], torch_dtype: "float16" }),
  );
  for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) {
    cpSync(join(src, f), join(dir, f));
  }
  writeFileSync(
    join(dir, "artifact.metadata"),
    JSON.stringify({ query_maxlen: 128, doc_maxlen: 256, attend_to_mask_tokens: false }),
  );
  if (withModulesJson) {
    // What mxbai-colbert-large-v1 ships: the Transformer alone.
    writeFileSync(
      join(dir, "modules.json"),
      JSON.stringify([
        { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
      ]),
    );
    writeFileSync(
      join(dir, "sentence_bert_config.json"),
      JSON.stringify({ max_seq_length: 512, do_lower_case: false }),
    );
  }
}

test("a Stanford checkpoint with a Transformer-only modules.json loads as Stanford (linear, [unused0]/[unused1], 128 / 256, F16)", async () => {
  const plain = join(tmp, "stanford-plain");
  const stray = join(tmp, "stanford-stray");
  stanfordCheckpoint(plain, false);
  stanfordCheckpoint(stray, true);
  const warnings: string[] = [];
  const a = await load(plain);
  const b = await load(stray, { warn: (m) => warnings.push(m) });
  assert.deepEqual(warnings, [], "no random Dense, no added tokens");
  assert.equal(b.checkpoint.layout, "stanford");
  assert.equal(b.config.queryPrefix, "[unused0]");
  assert.equal(b.config.documentPrefix, "[unused1]");
  assert.equal(b.config.queryLength, 128);
  assert.equal(b.config.documentLength, 256);
  assert.equal(b.tokenizer.addedTokens.length, 0);
  assert.equal(b.embeddingDim, 32);
  assert.equal(b.checkpoint.weights.info("linear.weight").dtype, "F16");
  const texts = ["what is late interaction?", "ColBERT compares every token."];
  const [qa, qb] = [
    await a.encode(texts, { isQuery: true }),
    await b.encode(texts, { isQuery: true }),
  ];
  assert.equal(qb[0].rows, 128);
  qa.forEach((m, i) => assert.deepEqual(qb[i], m));
  const [da, db] = [await a.encode(texts), await b.encode(texts)];
  da.forEach((m, i) => assert.deepEqual(db[i], m));
});

test("a Stanford checkpoint with int64 position_ids saves, trains one step, saves and reloads", async () => {
  const dir = join(tmp, "stanford-posids");
  stanfordCheckpoint(dir, true);
  // Older BERT checkpoints carry the position_ids buffer (I64): append it to the file.
  const store = WeightStore.open(dir);
  const tensors: Record<string, { data: Float32Array | BigInt64Array; shape: readonly number[] }> =
    {};
  for (const n of store.names()) {
    tensors[n] = { data: store.readFloat32(n), shape: store.info(n).shape };
  }
  tensors["bert.embeddings.position_ids"] = {
    data: BigInt64Array.from({ length: 512 }, (_, i) => BigInt(i)),
    shape: [1, 512],
  };
  const { writeSafetensors } = await import("../../src/io/safetensors.js");
  writeSafetensors(join(dir, "model.safetensors"), tensors);
  const model = await load(dir);
  assert.equal(model.weights.info("embeddings.position_ids").dtype, "I64");
  const saved = join(tmp, "stanford-posids-saved");
  await model.save(saved);
  const again = await load(saved);
  assert.equal(again.checkpoint.layout, "pylate");
  assert.equal(again.weights.has("embeddings.position_ids"), false, "buffers are not saved");
  const texts = ["hello world"];
  assert.deepEqual(
    await again.encode(texts, { isQuery: true }),
    await model.encode(texts, { isQuery: true }),
  );

  // One training step, the Trainer's checkpoint and final save, then reload.
  const collator = new ColBERTCollator((t, o) => model.tokenize(t, o));
  const out = join(tmp, "stanford-posids-trained");
  const trainer = new Trainer({
    model,
    loss: new Contrastive(),
    examples: [
      { query: "capital of france", positive: "Paris is in France.", negatives: ["Berlin."] },
      { query: "who wrote hamlet", positive: "Shakespeare wrote it.", negatives: ["Homer."] },
    ],
    collate: (e) => collator.contrastive(e),
    args: { outputDir: out, batchSize: 2, maxSteps: 1, showProgress: false, threads: 1 },
  });
  const r = await trainer.train();
  assert.equal(r.globalStep, 1);
  const trained = await load(out);
  const [q] = await trained.encode(texts, { isQuery: true });
  assert.equal(q.rows, 128);
  assert.ok(q.data.every(Number.isFinite));
  await load(join(out, "checkpoint-1"));
});

test("sentence_bert_config.json do_lower_case lowercases texts as Python str.lower, and is saved back", async () => {
  const src = sharedPath("fixtures/modernbert-tiny-colbert");
  const dir = join(tmp, "lower");
  cpSync(src, dir, { recursive: true });
  writeFileSync(
    join(dir, "sentence_bert_config.json"),
    JSON.stringify({ max_seq_length: 179, do_lower_case: true }),
  );
  const cased = await load(src);
  const lower = await load(dir);
  assert.equal(lower.tokenizer.doLowerCase, true);
  const texts = ["Hello WORLD, ΟΔΟΣ Straße", "  İstanbul ÀÉÎ  "];
  // Python: "ΟΔΟΣ".lower() == "οδοσ" (no final sigma), "İ".lower() == "i̇".
  assert.equal(pythonLower("ΟΔΟΣ"), "οδοσ");
  assert.equal(pythonLower("İ"), "i\u0307");
  const expected = cased.tokenize(texts.map((t) => pythonLower(t.trim())));
  const got = lower.tokenize(texts);
  assert.deepEqual(got.ids, expected.ids);
  assert.notDeepEqual(cased.tokenize(texts).ids, got.ids);
  assert.deepEqual(
    await lower.encode(texts),
    await cased.encode(texts.map((t) => pythonLower(t.trim()))),
  );
  const saved = join(tmp, "lower-saved");
  await lower.save(saved);
  const sb = JSON.parse(readFileSync(join(saved, "sentence_bert_config.json"), "utf8"));
  assert.equal(sb.do_lower_case, true);
  assert.equal((await load(saved)).tokenizer.doLowerCase, true);
});

test("skiplist words missing from the vocabulary map to the tokenizer's own unk_token (<unk>), not a literal [UNK]", async () => {
  const dir = fileURLToPath(
    new URL("../../../test/fixtures/backbones/jina-colbert-v2", import.meta.url),
  );
  const model = await load(dir, { skiplistWords: ["not-a-piece-of-this-vocabulary"] });
  const unk = model.tokenizer.tokenToId("<unk>");
  assert.equal(typeof unk, "number");
  assert.equal(model.tokenizer.tokenToId("[UNK]"), undefined);
  assert.equal(model.tokenizer.unkTokenId, unk);
  assert.deepEqual([...model.skiplistIds], [unk]);
});
