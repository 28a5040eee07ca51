/**
 * jina-colbert-v1: JinaBERT (model_type bert + position_embedding_type alibi: symmetric ALiBi
 * with 6 heads, so the non-power-of-two slopes; GEGLU mlp.gated_layers/wo/layernorm; no
 * position table) in a float32 Stanford ColBERT checkpoint (bert.* incl. an unused pooler,
 * linear.weight, [unused0]/[unused1], attend_to_mask_tokens false), against reference.py.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { alibiSlopes } from "../../../src/models/backbones/jinabert.js";
import { backboneParityTests } from "./fixture-parity.js";

backboneParityTests("jina-colbert-v1");

test("ALiBi slopes: 2^(-8i/n) for powers of two, interleaved otherwise (Press et al.)", () => {
  assert.deepEqual(alibiSlopes(4), [0.25, 0.0625, 0.015625, 0.00390625]);
  // 6 heads: the 4-head slopes, then every other slope of 8 heads.
  const eight = alibiSlopes(8);
  assert.deepEqual(alibiSlopes(6), [...alibiSlopes(4), eight[0], eight[2]]);
  assert.equal(eight[0], 0.5);
});
