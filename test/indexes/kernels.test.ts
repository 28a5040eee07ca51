import assert from "node:assert/strict";
import { test } from "node:test";
import {
  argmaxABt,
  gemmABt,
  gemmABtJs,
  gemmTopK,
  maxSimPadded,
} from "../../src/indexes/kernels.js";
import { PLAID } from "../../src/indexes/plaid/index.js";
import { mulberry32 as rng } from "../../src/util/random.js";
import { synthetic, tempDir } from "./helpers.js";

function random(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() - 0.5);
}

test("onnxruntime kernels agree with the JS loops (tolerance 1e-4 on dot products of 64 terms)", async () => {
  const [m, n, d] = [300, 200, 64]; // 3.8M multiply-adds: above the onnxruntime threshold
  const a = random(m * d, 1);
  const b = random(n * d, 2);
  const fast = await gemmABt(a, m, b, n, d);
  const js = gemmABtJs(a, m, b, n, d);
  let maxdiff = 0;
  for (let i = 0; i < js.length; i++) maxdiff = Math.max(maxdiff, Math.abs(fast[i] - js[i]));
  assert.ok(maxdiff < 1e-4, `maxdiff ${maxdiff}`);
  const bias = random(n, 3);
  const idx = await argmaxABt(a, m, b, n, d, bias);
  for (let i = 0; i < m; i++) {
    let best = 0;
    for (let j = 1; j < n; j++)
      if (js[i * n + j] + bias[j] > js[i * n + best] + bias[best]) best = j;
    // Equal unless two centroids tie within float error.
    const gap = Math.abs(js[i * n + best] + bias[best] - (js[i * n + idx[i]] + bias[idx[i]]));
    assert.ok(idx[i] === best || gap < 1e-4, `row ${i}: ${idx[i]} vs ${best}`);
  }
  // gemmTopK: the same product plus the P best columns of each row, best first.
  const P = 7;
  const top = await gemmTopK(a, m, b, n, d, P);
  assert.ok(top, "above the onnxruntime threshold");
  for (let i = 0; i < m; i++) {
    const want = Array.from({ length: n }, (_, j) => j)
      .sort((x, y) => js[i * n + y] - js[i * n + x] || x - y)
      .slice(0, P);
    for (let r = 0; r < P; r++) {
      const got = top.top[i * P + r];
      // Equal unless two scores tie within float error.
      const gap = Math.abs(js[i * n + got] - js[i * n + want[r]]);
      assert.ok(got === want[r] || gap < 1e-4, `row ${i} rank ${r}: ${got} vs ${want[r]}`);
    }
  }
  for (let i = 0; i < js.length; i++) assert.ok(Math.abs(top.y[i] - js[i]) < 1e-4);
});

test("maxSimPadded: per-token maxima of padded documents, onnxruntime and JS agree (1e-4)", async () => {
  const [nq, n, l, d] = [8, 40, 60, 64]; // 1.2M multiply-adds in JS, then 4.9M through onnxruntime
  const q = random(nq * d, 5);
  for (const docs of [n, 4 * n]) {
    const D = random(docs * l * d, 6);
    const fast = await maxSimPadded(q, nq, D, docs, l, d);
    const js = await maxSimPadded(q, nq, D, docs, l, d, { onnx: false });
    assert.equal(fast.length, docs * nq);
    for (let j = 0; j < docs; j++) {
      for (let i = 0; i < nq; i++) {
        let mx = Number.NEGATIVE_INFINITY;
        for (let t = 0; t < l; t++) {
          let s = 0;
          for (let e = 0; e < d; e++) s += q[i * d + e] * D[(j * l + t) * d + e];
          mx = Math.max(mx, s);
        }
        assert.ok(Math.abs(fast[j * nq + i] - mx) < 1e-4, `doc ${j} token ${i}`);
        assert.ok(Math.abs(js[j * nq + i] - mx) < 1e-4, `doc ${j} token ${i} (JS)`);
      }
    }
  }
});

test("PLAID returns the same results with and without the onnxruntime kernels", async () => {
  const { docs, ids, query } = synthetic({
    docs: 1500,
    dim: 16,
    seed: 31,
    minLen: 8,
    maxLen: 30,
    vocab: 300,
    noise: 0.2,
  });
  const t = tempDir();
  try {
    const index = await PLAID.create(t.dir);
    await index.add(ids, docs);
    // 32-token queries probing 64 cells each: over 1000 candidates.
    const qs = [3, 400, 999].map((i) => query(docs[i], 32, 0.1));
    const fast = await index.search(qs, { k: 10, nFullScores: 64, nIvfProbe: 64 });
    // A second object on the same files with the onnxruntime path off.
    const js = await PLAID.open(t.dir, { readOnly: true, kernels: { onnx: false } });
    try {
      const slow = await js.search(qs, { k: 10, nFullScores: 64, nIvfProbe: 64 });
      assert.deepEqual(
        fast.map((r) => r.map((h) => h.id)),
        slow.map((r) => r.map((h) => h.id)),
      );
      for (let q = 0; q < 3; q++) {
        for (let j = 0; j < 10; j++)
          assert.ok(Math.abs(fast[q][j].score - slow[q][j].score) < 1e-4);
      }
    } finally {
      await js.close();
    }
    await index.close();
  } finally {
    t.cleanup();
  }
});

test("WebAssembly approximate scores equal the scalar loop exactly (odd query length, padded lanes)", async () => {
  const { WasmApprox, hasWasmKernels, fixedPointScore } = await import(
    "../../src/kernels/plaid.js"
  );
  assert.ok(hasWasmKernels(), "Node 20 has WebAssembly SIMD");
  // 13 tokens: 19 zero lanes pad the row to 32; 40 tokens: two groups of 32, the second padded.
  for (const nq of [13, 40]) {
    const K = 300;
    const S = random(nq * K, 21); // the query's [nq, K] rows
    const scale = Math.fround(32000 / 0.5); // |S| <= 0.5
    const r = rng(22);
    const docs = 50;
    const start = new Int32Array(docs);
    const len = new Int32Array(docs);
    const codes: number[] = [];
    for (let d = 0; d < docs; d++) {
      start[d] = codes.length;
      len[d] = d === 7 ? 0 : 1 + Math.floor(r() * 40); // one document without centroids
      for (let t = 0; t < len[d]; t++) codes.push(Math.floor(r() * K));
    }
    const w = new WasmApprox();
    w.loadTable(S, 0, K, nq, scale, codes.length, 4);
    const pick = [49, 3, 7, 0, 21, 21];
    const out = new Int32Array(pick.length);
    w.score(Uint32Array.from(codes), codes.length, 1, start, len, pick, pick.length, out);
    pick.forEach((d, j) => {
      let s = 0;
      let f = 0;
      for (let i = 0; i < nq; i++) {
        let mx = Number.NEGATIVE_INFINITY;
        for (let t = start[d]; t < start[d] + len[d]; t++) mx = Math.max(mx, S[i * K + codes[t]]);
        s += len[d] > 0 ? fixedPointScore(mx, scale) : -32768;
        f += mx;
      }
      if (len[d] === 0) s -= 32768 * (Math.ceil(nq / 32) * 32 - nq); // no centroid: the padded lanes keep −32768 too
      assert.equal(out[j], s, `nq ${nq} document ${d}`); // the same integers
      // and within half a step per token of the float sum
      if (len[d] > 0)
        assert.ok(Math.abs(out[j] / scale - f) <= (nq * 0.5) / scale, `nq ${nq} document ${d}`);
    });
  }
});

test("fixed-point scores round to the nearest step, ties to even (as f32.nearest)", async () => {
  const { fixedPointScore } = await import("../../src/kernels/plaid.js");
  assert.equal(fixedPointScore(0.5, 1), 0);
  assert.equal(fixedPointScore(1.5, 1), 2);
  assert.equal(fixedPointScore(2.5, 1), 2);
  assert.equal(fixedPointScore(-0.5, 1), 0);
  assert.equal(fixedPointScore(-1.5, 1), -2);
  assert.equal(fixedPointScore(-2.6, 1), -3);
  assert.equal(fixedPointScore(0.25, 32000), 8000);
});

test("WebAssembly decompression (nbits 2, 4, 8) equals (centroid + weights) · inverse norm (float32 rounding)", async () => {
  const { WasmDecompressor } = await import("../../src/kernels/plaid.js");
  const [K, dim, n] = [20, 48, 37];
  const cent = random(K * dim, 31);
  const r = rng(33);
  const dec = new WasmDecompressor();
  for (const nbits of [4, 2, 8]) {
    const weights = random(2 ** nbits, 32 + nbits);
    const perByte = 8 / nbits;
    for (const tokens of [n, 3 * n]) {
      // The second round grows the memory: views must be fresh.
      const { codes, res, inv } = dec.prepare(cent, dim, weights, tokens);
      assert.equal(res.length, (tokens * dim * nbits) / 8);
      for (let t = 0; t < tokens; t++) {
        codes[t] = Math.floor(r() * K);
        inv[t] = 0.5 + r();
      }
      for (let i = 0; i < res.length; i++) res[i] = Math.floor(r() * 256);
      const got = dec.run(tokens);
      for (let t = 0; t < tokens; t++) {
        for (let j = 0; j < dim; j++) {
          const byte = res[((t * dim + j) / perByte) | 0];
          // The first dimension of a byte in its highest bits.
          const shift = nbits * (perByte - 1 - (j % perByte));
          const w = weights[(byte >> shift) & (2 ** nbits - 1)];
          const want = Math.fround(Math.fround(cent[codes[t] * dim + j] + w) * inv[t]);
          if (got[t * dim + j] !== want)
            assert.fail(`nbits ${nbits} token ${t} dimension ${j}: ${got[t * dim + j]} != ${want}`);
        }
      }
    }
  }
  assert.ok(!WasmDecompressor.supports(4, 24) && WasmDecompressor.supports(2, 24));
  assert.ok(!WasmDecompressor.supports(1, 64));
  assert.throws(
    () => dec.prepare(cent, 24, random(16, 1), 1),
    /no kernel for 16 bucket weights at dim 24/,
  );
});

test("PLAID returns the same results with and without the WebAssembly kernels (nbits 2, 4, 8)", async () => {
  const { docs, ids, query } = synthetic({
    docs: 800,
    dim: 32,
    seed: 51,
    minLen: 8,
    maxLen: 30,
    vocab: 300,
    noise: 0.2,
  });
  const qs = [3, 400, 799].map((i) => query(docs[i], 32, 0.1));
  for (const nbits of [4, 2, 8]) {
    const t = tempDir();
    try {
      const index = await PLAID.create(t.dir, { nbits });
      await index.add(ids, docs);
      const scalar = await PLAID.open(t.dir, { readOnly: true, kernels: { wasm: false } });
      for (const opts of [{}, { nFullScores: 64, nIvfProbe: 2 }]) {
        const fast = await index.search(qs, { k: 10, ...opts });
        {
          const slow = await scalar.search(qs, { k: 10, ...opts });
          assert.deepEqual(
            fast.map((r) => r.map((h) => h.id)),
            slow.map((r) => r.map((h) => h.id)),
            `nbits ${nbits}`,
          );
          // Decompression rounds (c + w)·inv in float32 twice instead of once: 1e-5 on 32 tokens.
          for (let q = 0; q < 3; q++) {
            for (let j = 0; j < 10; j++)
              assert.ok(Math.abs(fast[q][j].score - slow[q][j].score) < 1e-5);
          }
        }
      }
      await scalar.close();
      await index.close();
    } finally {
      t.cleanup();
    }
  }
});

test("PLAID approximate scores follow the query's scale: queries × 1000 or × 0.001 rank alike", async () => {
  // The int16 table's step is set from the query token norms: large norms must not overflow
  // it and small ones must not round every score to zero.
  const { docs, ids, query } = synthetic({
    docs: 400,
    dim: 32,
    seed: 61,
    minLen: 8,
    maxLen: 30,
    vocab: 200,
    noise: 0.2,
  });
  const t = tempDir();
  try {
    const index = await PLAID.create(t.dir);
    await index.add(ids, docs);
    const qs = [5, 150, 399].map((i) => query(docs[i], 32, 0.1));
    const opts = { k: 10, nIvfProbe: 2, nFullScores: 64 };
    const base = await index.search(qs, opts);
    for (const f of [1000, 0.001]) {
      const scaled = qs.map((q) => ({ ...q, data: q.data.map((v) => v * f) }));
      const got = await index.search(scaled, opts);
      assert.deepEqual(
        got.map((r) => r.map((h) => h.id)),
        base.map((r) => r.map((h) => h.id)),
        `× ${f}`,
      );
      for (let q = 0; q < qs.length; q++)
        for (let j = 0; j < 10; j++)
          assert.ok(
            Math.abs(got[q][j].score / f - base[q][j].score) <
              1e-3 * Math.abs(base[q][j].score) + 1e-4,
          );
    }
    await index.close();
  } finally {
    t.cleanup();
  }
});

test("WebAssembly query table: the rounded transpose of one query's rows of a group", async () => {
  const { WasmApprox, fixedPointScore } = await import("../../src/kernels/plaid.js");
  // K = 300: scalar transpose; K = 304: 8 × 8 SIMD blocks, with 5 tokens left to the scalar one.
  for (const [K, nq] of [
    [300, 32],
    [304, 32],
    [304, 13],
  ]) {
    const off = nq; // the second query of the group
    const S = random(3 * nq * K, 40 + K + nq);
    const scale = Math.fround(32000 / 0.5);
    const w = new WasmApprox();
    w.loadTable(S, off, K, nq, scale, 7, 4);
    const T = w.table;
    const cols = Math.ceil(nq / 32) * 32;
    assert.equal(T.length, K * cols);
    for (let c = 0; c < K; c++) {
      for (let i = 0; i < cols; i++) {
        const want = i < nq ? fixedPointScore(S[(off + i) * K + c], scale) : 0; // zero padding
        if (T[c * cols + i] !== want)
          assert.fail(`K ${K} nq ${nq}: T[${c}, ${i}] = ${T[c * cols + i]}, want ${want}`);
      }
    }
  }
  const [K, nq, off] = [300, 32, 32];
  const S = random(3 * nq * K, 41);
  const scale = Math.fround(32000 / 0.5);
  const w = new WasmApprox();
  const codes = Uint32Array.from([5, 299, 0, 17, 256]);
  const want = (lo: number, hi: number) => {
    let s = 0;
    for (let i = 0; i < nq; i++) {
      let mx = Number.NEGATIVE_INFINITY;
      for (let t = lo; t < hi; t++) mx = Math.max(mx, S[(off + i) * K + codes[t]]);
      s += fixedPointScore(mx, scale);
    }
    return s;
  };
  w.loadTable(S, off, K, nq, scale, codes.length, 4);
  const out = new Int32Array(2);
  const start = Int32Array.of(0, 2);
  const len = Int32Array.of(2, 3);
  w.score(codes, codes.length, 1, start, len, [0, 1], 2, out);
  assert.equal(out[0], want(0, 2));
  assert.equal(out[1], want(2, 5));
  // More candidates than loadTable made room for: the memory grows, the table stays valid.
  const many = Array.from({ length: 50_000 }, (_, j) => j % 2);
  const big = new Int32Array(many.length);
  w.score(codes, codes.length, 1, start, len, many, many.length, big);
  assert.equal(big[0], want(0, 2));
  assert.equal(big[many.length - 1], want(2, 5));
  // A table loaded for other codes is refused rather than read at the wrong place.
  assert.throws(() => w.score(codes, 1000, 1, start, len, [0], 1, big));
});
