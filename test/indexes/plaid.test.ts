import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Exact } from "../../src/indexes/exact.js";
import { PLAID } from "../../src/indexes/plaid/index.js";
import type { SearchResult } from "../../src/indexes/types.js";
import { synthetic, tempDir } from "./helpers.js";

function ids(r: SearchResult[][]): string[][] {
  return r.map((l) => l.map((x) => x.id));
}

test("PLAID equals Exact (up to 8-bit residuals) when everything is probed and fully scored", async () => {
  const { docs, ids: names, query } = synthetic({ docs: 40, dim: 16, seed: 3 });
  const tokens = docs.reduce((s, d) => s + d.rows, 0);
  const t1 = tempDir();
  const t2 = tempDir();
  try {
    // nbits 8 and about one centroid per token: decompression error is tiny.
    const plaid = await PLAID.create(t1.dir, {
      numCentroids: tokens,
      kmeansIterations: 1,
      nbits: 8,
    });
    await plaid.add(names, docs);
    const exact = await Exact.create(t2.dir);
    await exact.add(names, docs);
    const queries = [0, 7, 13, 21, 39].map((i) => query(docs[i]));
    const K = plaid.trainedCodec!.centroids.length / 16;
    const opts = { k: 10, nIvfProbe: K, nFullScores: 4 * docs.length };
    const p = await plaid.search(queries, opts);
    const e = await exact.search(queries, { k: 10 });
    const all = await exact.search(queries, { k: docs.length });
    // Tolerance 0.01 on a MaxSim of 4 query tokens: same scores, and the same ids except
    // where two documents tie within the tolerance.
    const tol = 0.01;
    for (let q = 0; q < e.length; q++) {
      const exactScore = new Map(all[q].map((x) => [x.id, x.score]));
      assert.equal(p[q].length, 10);
      for (let j = 0; j < 10; j++) {
        assert.ok(
          Math.abs(p[q][j].score - e[q][j].score) < tol,
          `rank ${j}: ${p[q][j].score} vs ${e[q][j].score}`,
        );
        assert.ok(
          Math.abs(exactScore.get(p[q][j].id)! - e[q][j].score) < tol,
          `rank ${j}: ${p[q][j].id} vs ${e[q][j].id}`,
        );
      }
      assert.equal(p[q][0].id, e[q][0].id);
    }
    await plaid.close();
    await exact.close();
  } finally {
    t1.cleanup();
    t2.cleanup();
  }
});

test("PLAID at default K finds the Exact top-10 when probing everything (nbits 4)", async () => {
  const {
    docs,
    ids: names,
    query,
  } = synthetic({ docs: 300, dim: 32, seed: 5, minLen: 5, maxLen: 20, vocab: 200, noise: 0.15 });
  const t1 = tempDir();
  const t2 = tempDir();
  try {
    const plaid = await PLAID.create(t1.dir);
    await plaid.add(names, docs);
    const exact = await Exact.create(t2.dir);
    await exact.add(names, docs);
    const queries = Array.from({ length: 20 }, (_, i) => query(docs[(i * 37) % docs.length], 8));
    const K = plaid.trainedCodec!.centroids.length / 32;
    assert.equal(
      K,
      2 ** Math.floor(Math.log2(16 * Math.sqrt(docs.reduce((s, d) => s + d.rows, 0)))),
    );
    const p = await plaid.search(queries, { k: 10, nIvfProbe: K });
    const e = await exact.search(queries, { k: 10 });
    let hit = 0;
    for (let q = 0; q < e.length; q++) {
      const s = new Set(e[q].map((x) => x.id));
      hit += p[q].filter((x) => s.has(x.id)).length;
      // The target document of the query is first in both.
      assert.equal(p[q][0].id, e[q][0].id);
    }
    assert.ok(hit / (10 * e.length) >= 0.95, `recall@10 ${hit / (10 * e.length)}`);
    // Default probing (8 cells) still finds the target document first.
    const d = await plaid.search(queries, { k: 10 });
    for (let q = 0; q < e.length; q++) assert.equal(d[q][0].id, e[q][0].id);
    await plaid.close();
    await exact.close();
  } finally {
    t1.cleanup();
    t2.cleanup();
  }
});

test("streaming build with a small memory bound matches an in-memory build's results", async () => {
  const {
    docs,
    ids: names,
    query,
  } = synthetic({ docs: 400, dim: 16, seed: 8, minLen: 5, maxLen: 15, vocab: 100, noise: 0.1 });
  const t1 = tempDir();
  try {
    async function* stream() {
      for (let i = 0; i < docs.length; i++)
        yield { id: names[i], embedding: docs[i], metadata: { i } };
    }
    let progress = 0;
    const plaid = await PLAID.build(t1.dir, stream(), {
      buildMemoryTokens: 1024,
      chunkTokens: 500,
      onProgress: (d) => (progress = d),
    });
    assert.equal(plaid.count(), docs.length);
    assert.equal(progress, docs.length);
    const queries = [1, 50, 300].map((i) => query(docs[i], 6, 0.05));
    const r = await plaid.search(queries, { k: 3 });
    assert.deepEqual(
      r.map((x) => x[0].id),
      ["doc-1", "doc-50", "doc-300"],
    );
    assert.deepEqual(plaid.metadata("doc-50"), { i: 50 });
    await plaid.close();
    const again = await PLAID.open(t1.dir);
    assert.deepEqual(ids(await again.search(queries, { k: 3 })), ids(r));
    await again.close();
  } finally {
    t1.cleanup();
  }
});

test("adding out-of-distribution documents adds centroids without a rebuild", async () => {
  const a = synthetic({ docs: 200, dim: 16, seed: 10, vocab: 40 });
  const b = synthetic({ docs: 30, dim: 16, seed: 99, vocab: 10 });
  const t1 = tempDir();
  try {
    const plaid = await PLAID.create(t1.dir);
    await plaid.add(a.ids, a.docs);
    const k0 = plaid.trainedCodec!.centroids.length / 16;
    const newIds = b.ids.map((x) => `new-${x}`);
    await plaid.add(newIds, b.docs);
    const drift = plaid.drift();
    assert.equal(drift.initialCentroids, k0);
    assert.ok(drift.addedCentroids > 0, "outliers got centroids");
    assert.equal(plaid.trainedCodec!.centroids.length / 16, k0 + drift.addedCentroids);
    const r = await plaid.search([b.query(b.docs[5], 4, 0.02)], { k: 1 });
    assert.equal(r[0][0].id, "new-doc-5");
    await plaid.close();
    const re = await PLAID.open(t1.dir);
    assert.equal(re.drift().addedCentroids, drift.addedCentroids);
    assert.equal(re.count(), 230);
    // Rebuild: a new codec for all 230 documents, ids and metadata kept, old files collected.
    await re.rebuild();
    assert.equal(re.drift().addedCentroids, 0);
    assert.equal(re.count(), 230);
    const again = await re.search([b.query(b.docs[5], 4, 0.02)], { k: 1 });
    assert.equal(again[0][0].id, "new-doc-5");
    await re.close();
    const re2 = await PLAID.open(t1.dir);
    assert.equal(re2.count(), 230);
    assert.equal((await re2.search([a.query(a.docs[7], 4, 0.02)], { k: 1 }))[0][0].id, "doc-7");
    const files = readdirSync(join(t1.dir, "files"));
    assert.deepEqual(files.filter((f) => f.startsWith("chunk-")).length, 1);
    await re2.close();
  } finally {
    t1.cleanup();
  }
});

test("PLAID rejects bad configuration and search parameters", async () => {
  const t = tempDir();
  try {
    await assert.rejects(PLAID.create(t.dir, { nbits: 3 }), { code: "CONFIG" });
    const p = await PLAID.create(t.dir, { nbits: 2 });
    const { docs, ids: names } = synthetic({ docs: 20, dim: 16 });
    await p.add(names, docs);
    assert.equal(p.trainedCodec!.bucketWeights.length, 4);
    await assert.rejects(p.search([docs[0]], { nIvfProbe: 0 }), { code: "INVALID_ARGUMENT" });
    await assert.rejects(p.search([docs[0]], { k: 0 }), { code: "INVALID_ARGUMENT" });
    await p.close();
  } finally {
    t.cleanup();
  }
});

test("codec: half-float centroids round-trip, residuals decompress close to the input", async () => {
  const { toF16Bits, fromF16Bits, trainCodec, quantizeResiduals } = await import(
    "../../src/indexes/plaid/codec.js"
  );
  const { decompressTokens: decompress } = await import("../../src/indexes/plaid/decompress.js");
  for (const v of [0, 1, -1, 0.5, 0.1, -0.3, 1e-5, 65504]) {
    const r = fromF16Bits(toF16Bits(v));
    assert.ok(Math.abs(r - v) <= Math.abs(v) * 2 ** -11 + 2 ** -24, `${v} -> ${r}`);
  }
  const { docs } = synthetic({ docs: 200, dim: 16, seed: 12, noise: 0.2 });
  const x = new Float32Array(docs.reduce((s, d) => s + d.data.length, 0));
  let o = 0;
  for (const d of docs) {
    x.set(d.data, o);
    o += d.data.length;
  }
  const n = x.length / 16;
  const codec = await trainCodec(x.slice(), 16, n, {
    nbits: 4,
    kmeansIterations: 4,
    maxPointsPerCentroid: 256,
    seed: 1,
  });
  for (const c of codec.centroids) assert.equal(fromF16Bits(toF16Bits(c)), c);
  const { argmaxABt } = await import("../../src/indexes/kernels.js");
  const codes = await argmaxABt(x, n, codec.centroids, codec.centroids.length / 16, 16);
  const { packed } = quantizeResiduals(codec, x, codes);
  assert.equal(packed.length, n * 8);
  const y = decompress(codec, codes, packed);
  let worst = 1;
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let j = 0; j < 16; j++) s += x[t * 16 + j] * y[t * 16 + j];
    worst = Math.min(worst, s);
  }
  // 4-bit residuals keep every token within a small angle of its original (cos > 0.95).
  assert.ok(worst > 0.95, `worst cosine ${worst}`);
});

test("streaming spill keeps a bounded reservoir and replays the documents exactly", async () => {
  const { spillDocuments } = await import("../../src/indexes/plaid/spill.js");
  const { docs, ids } = synthetic({ docs: 300, dim: 16, seed: 13 });
  const t = tempDir();
  try {
    async function* stream() {
      for (let i = 0; i < docs.length; i++)
        yield { id: ids[i], embedding: docs[i], metadata: { i } };
    }
    const spill = await spillDocuments(stream(), `${t.dir}/spill`, { sampleTokens: 100, seed: 1 });
    const tokens = docs.reduce((s, d) => s + d.rows, 0);
    assert.equal(spill.tokens, tokens);
    assert.equal(spill.sample.length, 100 * 16, "sample bounded by sampleTokens");
    let i = 0;
    for await (const batch of spill.batches(50)) {
      assert.ok(batch.reduce((s, d) => s + d.embedding.rows, 0) < 50 + 8);
      for (const d of batch) {
        assert.equal(d.id, ids[i]);
        assert.deepEqual(d.metadata, { i });
        assert.deepEqual(d.embedding.data, docs[i].data);
        i++;
      }
    }
    assert.equal(i, docs.length);
    spill.close();
    async function* dup() {
      yield { id: "a", embedding: docs[0] };
      yield { id: "a", embedding: docs[1] };
    }
    await assert.rejects(
      spillDocuments(dup(), `${t.dir}/s2`, { sampleTokens: 10, seed: 1 }),
      /duplicate id/,
    );
  } finally {
    t.cleanup();
  }
});

test("centroidScoreThreshold: below every score equals no pruning; above every score drops all", async () => {
  const {
    docs,
    ids: names,
    query,
  } = synthetic({
    docs: 1500,
    dim: 16,
    seed: 41,
    minLen: 8,
    maxLen: 30,
    vocab: 300,
    noise: 0.2,
  });
  const t = tempDir();
  try {
    const plaid = await PLAID.create(t.dir, { search: { nFullScores: 40 } });
    await plaid.add(names, docs);
    const queries = Array.from({ length: 8 }, (_, i) => query(docs[(i * 53) % docs.length], 16));
    const base = await plaid.search(queries, { k: 10 });
    assert.ok(base.every((r) => r.length === 10));
    // Cosine scores are >= -1: a threshold of -2 prunes nothing, in both kernel paths.
    for (const fast of [true, false]) {
      const index = fast
        ? plaid
        : await PLAID.open(t.dir, { readOnly: true, kernels: { onnx: false } });
      try {
        for (const thr of [null, -2]) {
          const r = await index.search(queries, { k: 10, centroidScoreThreshold: thr });
          assert.deepEqual(r, base, `threshold ${thr}, fast kernels ${fast}`);
        }
        // Above every score: every candidate is dropped before exact scoring.
        const none = await index.search(queries, { k: 10, centroidScoreThreshold: 2 });
        assert.ok(none.every((r) => r.length === 0));
      } finally {
        if (!fast) await index.close();
      }
    }
    // A moderate threshold still finds each query's target document first.
    const pruned = await plaid.search(queries, { k: 10, centroidScoreThreshold: 0.4 });
    for (let q = 0; q < queries.length; q++) assert.equal(pruned[q][0].id, base[q][0].id);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      await assert.rejects(plaid.search(queries, { centroidScoreThreshold: bad }), {
        code: "INVALID_ARGUMENT",
      });
    }
    await plaid.close();
    // The index's default threshold is stored in the manifest.
    const t2 = tempDir();
    try {
      const p2 = await PLAID.create(t2.dir, { search: { centroidScoreThreshold: 0.4 } });
      await p2.close();
      const reopened = await PLAID.open(t2.dir);
      assert.equal(reopened.settings.search.centroidScoreThreshold, 0.4);
      await reopened.close();
    } finally {
      t2.cleanup();
    }
  } finally {
    t.cleanup();
  }
});

test("PLAID with K > 65,536 centroids (a given codec, dim 8): u32 codes on disk, search and decompression right", async () => {
  const { IndexDirectory } = await import("../../src/indexes/store.js");
  const { mulberry32 } = await import("../../src/util/random.js");
  const dim = 8;
  const K = 70_000;
  const r = mulberry32(9);
  const gauss = () => Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());
  const unit = (v: Float32Array, o: number) => {
    let s = 0;
    for (let j = 0; j < dim; j++) s += v[o + j] * v[o + j];
    for (let j = 0; j < dim; j++) v[o + j] /= Math.sqrt(s);
  };
  const centroids = Float32Array.from({ length: K * dim }, gauss);
  for (let c = 0; c < K; c++) unit(centroids, c * dim);
  // 16 buckets of width 0.004 around zero.
  const weights = Float32Array.from({ length: 16 }, (_, b) => (b - 7.5) * 0.004);
  const cutoffs = Float32Array.from({ length: 15 }, (_, b) => (b - 7) * 0.004);
  const codec = {
    dim,
    nbits: 4,
    centroids,
    bucketCutoffs: cutoffs,
    bucketWeights: weights,
    clusterThreshold: 1,
  };
  // Documents made of centroids above 65,535 plus a little noise.
  const docs = Array.from({ length: 30 }, () => {
    const data = new Float32Array(5 * dim);
    for (let t = 0; t < 5; t++) {
      const c = 65_536 + Math.floor(r() * (K - 65_536));
      for (let j = 0; j < dim; j++) data[t * dim + j] = centroids[c * dim + j] + 0.01 * gauss();
      unit(data, t * dim);
    }
    return { data, rows: 5, cols: dim };
  });
  const names = docs.map((_, i) => `d${i}`);
  const t1 = tempDir();
  const t2 = tempDir();
  try {
    const plaid = await PLAID.create(t1.dir, { codec });
    await plaid.add(names, docs);
    assert.ok(plaid.trainedCodec!.centroids.length / dim >= K);
    const store = new IndexDirectory(t1.dir);
    const chunk = store.readFile(store.readManifest().chunks[0]);
    assert.ok(chunk.sections.codes instanceof Uint32Array, "codes are u32 when K > 65,536");
    assert.ok([...chunk.sections.codes].some((c) => c > 65_535));
    const exact = await Exact.create(t2.dir);
    await exact.add(names, docs);
    const queries = [0, 9, 17, 29].map((i) => ({
      ...docs[i],
      data: docs[i].data.slice(0, 3 * dim),
      rows: 3,
    }));
    const want = await exact.search(queries, { k: 3 });
    await plaid.close();
    const reopened = await PLAID.open(t1.dir);
    const got = await reopened.search(queries, { k: 3, nIvfProbe: 4 });
    for (let q = 0; q < queries.length; q++) {
      assert.equal(got[q][0].id, want[q][0].id);
      // Residuals of 0.004 steps on dim 8: scores within 0.01 of exact MaxSim over 3 tokens.
      assert.ok(Math.abs(got[q][0].score - want[q][0].score) < 0.01);
    }
    const back = reopened.decompressed("d3")!;
    for (let t = 0; t < 5; t++) {
      let cos = 0;
      for (let j = 0; j < dim; j++) cos += back.data[t * dim + j] * docs[3].data[t * dim + j];
      assert.ok(cos > 0.999, `token ${t}: cos ${cos}`);
    }
    await reopened.close();
    await exact.close();
  } finally {
    t1.cleanup();
    t2.cleanup();
  }
});
