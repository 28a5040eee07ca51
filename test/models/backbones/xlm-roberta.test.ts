/**
 * XLM-RoBERTa = BERT with positions counted from padding_idx + 1 over non-pad tokens. A BERT
 * checkpoint whose position table is shifted down by pad + 1 rows must therefore give the
 * same outputs as the BERT fixture, and pad tokens must not move the positions of real tokens.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { WeightStore, writeSafetensors } from "../../../src/io/index.js";
import { openEncoder } from "../../../src/models/backbones/index.js";
import { sharedPath } from "../../helpers/shared.js";

const tmp = mkdtempSync(join(tmpdir(), "tslate-xlmr-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

test("xlm-roberta positions: pad + 1 + index of non-pad tokens", async () => {
  const bertDir = sharedPath("fixtures/bert-tiny-colbert");
  const PAD = 1;
  const store = WeightStore.open(bertDir);
  const tensors: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const name of store.names())
    tensors[name] = { data: store.readFloat32(name), shape: [...store.info(name).shape] };
  const H = 64;
  const pos = tensors["embeddings.position_embeddings.weight"].data;
  const shifted = new Float32Array(pos.length);
  shifted.set(pos.subarray(0, pos.length - (PAD + 1) * H), (PAD + 1) * H);
  tensors["embeddings.position_embeddings.weight"] = { data: shifted, shape: [512, H] };
  const dir = mkdtempSync(join(tmp, "xlmr-"));
  const config = JSON.parse(readFileSync(join(bertDir, "config.json"), "utf8"));
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({ ...config, model_type: "xlm-roberta", pad_token_id: PAD }),
  );
  writeSafetensors(join(dir, "model.safetensors"), tensors);

  const bert = await openEncoder(bertDir, { threads: 1 });
  const xlmr = await openEncoder(dir, { threads: 1 });
  try {
    assert.equal(xlmr.usesTokenTypeIds, false);
    const real = [0n, 2023n, 2003n, 1037n, 3231n, 2n];
    const L = 8;
    // Row 0: 6 real tokens + 2 pad-id tokens (masked); row 1: the same tokens, no pad ids.
    const ids = BigInt64Array.from([...real, 1n, 1n, ...real, 2003n, 2003n]);
    const mask = BigInt64Array.from([1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0].map(BigInt));
    const batch = { inputIds: ids, attentionMask: mask, batchSize: 2, seqLength: L };
    const [a, b] = await Promise.all([bert.run(batch), xlmr.run(batch)]);
    let maxdiff = 0;
    for (let row = 0; row < 2; row++) {
      for (let i = 0; i < real.length * H; i++) {
        maxdiff = Math.max(
          maxdiff,
          Math.abs(a.embeddings[row * L * H + i] - b.embeddings[row * L * H + i]),
        );
      }
    }
    assert.ok(maxdiff <= 1e-6, `real tokens: maxdiff ${maxdiff}`);
    // At the pad-id positions XLM-R uses position `pad` (a zero row here), BERT 6 and 7.
    const padDiff = Math.abs(a.embeddings[6 * H] - b.embeddings[6 * H]);
    assert.ok(padDiff > 1e-3, "pad-id tokens get position padding_idx, not their index");
  } finally {
    await bert.dispose();
    await xlmr.dispose();
  }
});
