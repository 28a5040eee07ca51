/**
 * AdamW against torch.optim.AdamW's closed form and the Hugging Face no-decay rule.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { scalarUpdate, wasmUpdate } from "../../src/kernels/adamw.js";
import { AdamW } from "../../src/training/adamw.js";
import type { Parameter } from "../../src/training/parameters.js";
import { mulberry32 } from "../../src/util/random.js";

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

test("the WebAssembly SIMD update equals the scalar float32 loop (chunk edges, odd length)", () => {
  const fastUpdate = wasmUpdate();
  assert.ok(fastUpdate, "Node's WebAssembly has SIMD: the kernel must be available");
  const r = mulberry32(5);
  // Two and a bit chunks of 65,536, and a length that is not a multiple of 4.
  const n = 2 * 65536 + 7;
  const make = (f: () => number) => Float32Array.from({ length: n }, f);
  const x = make(() => r() - 0.5);
  const g = make(() => (r() - 0.5) * 1e-2);
  const m = make(() => (r() - 0.5) * 1e-3);
  const v = make(() => r() * 1e-5);
  const [x2, m2, v2] = [x.slice(), m.slice(), v.slice()];
  const k = {
    b1: 0.9,
    b2: 0.999,
    decay: 1 - 1e-3 * 0.01,
    stepSize: 1e-3 / (1 - 0.9 ** 3),
    bc2Sqrt: Math.sqrt(1 - 0.999 ** 3),
    eps: 1e-8,
  };
  fastUpdate(x, g, m, v, k);
  scalarUpdate(x2, g, m2, v2, k);
  // float32 arithmetic in both (the scalar loop rounds the moments, not the last few
  // operations): within a few ulps of each value.
  for (let i = 0; i < n; i++) {
    assert.ok(Math.abs(m[i] - m2[i]) <= 1e-9, `m[${i}] ${m[i]} vs ${m2[i]}`);
    assert.ok(Math.abs(v[i] - v2[i]) <= 1e-12, `v[${i}] ${v[i]} vs ${v2[i]}`);
    assert.ok(Math.abs(x[i] - x2[i]) <= 1e-7, `x[${i}] ${x[i]} vs ${x2[i]}`);
  }
});

test("AdamW's kernel option: the SIMD kernel and the scalar loop agree; a bad name is refused", () => {
  const r = mulberry32(9);
  const values = Array.from({ length: 1001 }, () => r() - 0.5);
  const grads = [0, 1, 2].map(() => Float32Array.from(values, () => (r() - 0.5) * 1e-2));
  const results = (["wasm", "js", "auto"] as const).map((kernel) => {
    const w = param("w", values);
    const opt = new AdamW([w], { lr: 1e-2, kernel });
    assert.equal(opt.options.kernel, kernel);
    for (const g of grads) opt.step([g]);
    return w.data;
  });
  // Three steps of float32 arithmetic rounded at different points: a few ulps of |x| <= 0.5
  // (measured 1.2e-7: 2 ulps).
  let maxdiff = 0;
  for (let i = 0; i < values.length; i++) {
    maxdiff = Math.max(maxdiff, Math.abs(results[0][i] - results[1][i]));
    assert.equal(results[2][i], results[0][i], `auto is the kernel here (${i})`);
  }
  assert.ok(maxdiff <= 5e-7, `wasm vs js: maxdiff ${maxdiff}`);
  assert.equal(new AdamW([]).options.kernel, "auto");
  assert.throws(
    () => new AdamW([], { kernel: "simd" as "wasm" }),
    (e: Error & { code?: string }) =>
      e.code === "INVALID_ARGUMENT" &&
      /kernel "simd": expected "auto", "wasm" or "js"/.test(e.message),
  );
});

test("AdamW rejects gradients that do not match the parameters", () => {
  const opt = new AdamW([param("w", [1, 2])]);
  assert.throws(() => opt.step([]), /0 gradients for 1 parameters/);
  assert.throws(
    () => opt.step([Float32Array.from([1])]),
    /gradient of 1 values for parameter "w" of 2/,
  );
});
