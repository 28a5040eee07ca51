/**
 * AdamW against torch.optim.AdamW's closed form and the Hugging Face no-decay rule.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AdamW } from "../../src/training/adamw.js";
import type { Parameter } from "../../src/training/parameters.js";

const param = (name: string, values: number[], noDecay = false): Parameter => ({
  name,
  shape: [values.length],
  data: Float32Array.from(values),
  noDecay,
});

test("AdamW step 1 is p·(1 − lr·wd) − lr·g/(|g| + eps); noDecay parameters skip the decay", () => {
  const w = param("w", [1, -2, 0.5]);
  const b = param("b", [1, -2, 0.5], true);
  const opt = new AdamW([w, b], { lr: 0.1, weightDecay: 0.5, eps: 1e-8 });
  const g = Float32Array.from([0.2, -0.4, 0]);
  opt.step([g, g]);
  const expected = (p: number, gi: number, decay: number) =>
    Math.fround(p * decay - (0.1 * gi) / (Math.abs(gi) + 1e-8));
  [1, -2, 0.5].forEach((p, i) => {
    assert.ok(
      Math.abs(w.data[i] - expected(p, g[i], 1 - 0.1 * 0.5)) < 1e-6,
      `decayed ${i}: ${w.data[i]}`,
    );
    assert.ok(Math.abs(b.data[i] - expected(p, g[i], 1)) < 1e-6, `not decayed ${i}: ${b.data[i]}`);
  });
  // Step 2 uses the bias-corrected moments (β1 = 0.9, β2 = 0.999).
  const p1 = w.data[0];
  opt.step([Float32Array.from([0.1, 0, 0]), Float32Array.from([0, 0, 0])]);
  const m = 0.9 * 0.02 + 0.1 * 0.1;
  const v = 0.999 * 0.001 * 0.04 + 0.001 * 0.01;
  const want =
    p1 * 0.95 - ((0.1 / (1 - 0.81)) * m) / (Math.sqrt(v) / Math.sqrt(1 - 0.999 ** 2) + 1e-8);
  assert.ok(Math.abs(w.data[0] - want) < 1e-6, `step 2: ${w.data[0]} vs ${want}`);
  assert.equal(opt.state.step, 2);
});

test("AdamW rejects out-of-range options", () => {
  assert.throws(() => new AdamW([], { lr: -1 }), /lr -1/);
  assert.throws(() => new AdamW([], { betas: [0.9, 1] }), /betas/);
});
