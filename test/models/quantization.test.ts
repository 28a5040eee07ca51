import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ColBERT } from "../../src/models/colbert.js";
import {
  type Precision,
  quantizationRanges,
  quantizeEmbeddings,
} from "../../src/models/quantization.js";
import { fromRows, type Matrix } from "../../src/util/matrix.js";
import { mulberry32 } from "../../src/util/random.js";
import { sharedPath } from "../helpers/shared.js";

const models: ColBERT[] = [];
after(async () => {
  for (const m of models) await m.dispose();
});

test("binary/ubinary: np.packbits(x > 0) per row, MSB first, last byte zero-padded", () => {
  // 9 dims: bits 1 0 1 0 1 1 0 1 | 1 -> bytes 0b10101101 = 173, 0b10000000 = 128.
  const m = fromRows([
    [0.5, -1, 2, 0, 1, 1, -3, 4, 0.1],
    [-1, -1, -1, -1, -1, -1, -1, -1, -1],
  ]);
  const [u] = quantizeEmbeddings([m], "ubinary");
  assert.ok(u.data instanceof Uint8Array);
  assert.equal(u.cols, 2);
  assert.deepEqual(Array.from(u.data), [173, 128, 0, 0]);
  const [b] = quantizeEmbeddings([m], "binary");
  assert.ok(b.data instanceof Int8Array);
  // sentence-transformers: (packbits - 128).astype(int8)
  assert.deepEqual(Array.from(b.data), [45, 0, -128, -128]);
  // 0 and NaN are not > 0
  const [z] = quantizeEmbeddings([fromRows([[0, Number.NaN, -0, 1e-45, 0, 0, 0, 0]])], "ubinary");
  assert.deepEqual(Array.from(z.data), [0b00010000]);
});

test("uint8/int8: trunc((x - min) / step) in float32; int8 truncates x - 128 toward zero", () => {
  // min 0, max 255 per dimension: step 1 exactly.
  const m = fromRows([
    [0, 255],
    [12.7, 100.5],
    [255, 0],
  ]);
  const [u] = quantizeEmbeddings([m], "uint8");
  assert.ok(u.data instanceof Uint8Array);
  assert.deepEqual(Array.from(u.data), [0, 255, 12, 100, 255, 0]);
  const [i8] = quantizeEmbeddings([m], "int8");
  assert.ok(i8.data instanceof Int8Array);
  // 12.7 - 128 = -115.3 -> -115 (not -116 = 12 - 128); 100.5 - 128 = -27.5 -> -27
  assert.deepEqual(Array.from(i8.data), [-128, 127, -115, -27, 127, -128]);
  // ranges over every row of every matrix: splitting the rows gives the same bytes
  const split = quantizeEmbeddings(
    [fromRows([[0, 255]]), fromRows([[12.7, 100.5]]), fromRows([[255, 0]])],
    "uint8",
  );
  assert.deepEqual(
    split.flatMap((x) => Array.from(x.data)),
    [0, 255, 12, 100, 255, 0],
  );
});

test("uint8/int8: explicit ranges and calibration embeddings; out-of-range saturates; a zero range gives 0", () => {
  const m = fromRows([[-5, 300, 7, 3]]);
  const ranges = [
    [0, 0, 7, 0],
    [255, 255, 7, 510],
  ] as const;
  const [u] = quantizeEmbeddings([m], "uint8", { ranges });
  // -5 -> below 0 -> 0; 300 -> 255; max == min -> 0 (numpy: NaN cast); 3 / 2 = 1.5 -> 1
  assert.deepEqual(Array.from(u.data), [0, 255, 0, 1]);
  const [i8] = quantizeEmbeddings([m], "int8", { ranges });
  assert.deepEqual(Array.from(i8.data), [-128, 127, 0, -126]);
  const calibration = [fromRows([[0, 0, 7, 0]]), fromRows([[255, 255, 7, 510]])];
  const [c] = quantizeEmbeddings([m], "uint8", { calibrationEmbeddings: calibration });
  assert.deepEqual(c.data, u.data);
  assert.deepEqual(
    quantizationRanges(calibration).map((r) => Array.from(r)),
    ranges.map((r) => [...r]),
  );
});

/** numpy's float32 rule, written independently with Float32Array stores. */
function numpyUint8(x: number, min: number, max: number, signed: boolean): number {
  const f = new Float32Array(4);
  f[0] = max;
  f[0] -= min;
  f[0] /= 255; // steps
  f[1] = x;
  f[1] -= min;
  f[1] /= f[0];
  if (signed) f[1] -= 128;
  return Math.trunc(f[1]);
}

test("uint8/int8 on random normalised token vectors match numpy's float32 arithmetic bit for bit", () => {
  const rand = mulberry32(7);
  const dim = 24;
  const mats: Matrix[] = [3, 5, 1, 8].map((rows) => {
    const data = new Float32Array(rows * dim).map(() => rand() * 2 - 1);
    return { data, rows, cols: dim };
  });
  const [min, max] = quantizationRanges(mats);
  for (const signed of [false, true]) {
    const q = quantizeEmbeddings(mats, signed ? "int8" : "uint8");
    mats.forEach((m, i) => {
      assert.equal(q[i].rows, m.rows);
      for (let k = 0; k < m.data.length; k++) {
        const d = k % dim;
        assert.equal(q[i].data[k], numpyUint8(m.data[k], min[d], max[d], signed), `[${i}][${k}]`);
      }
    });
  }
});

test("binary bytes equal PyLate's for same-shape texts (packbits over the flattened [N, L, D] array)", () => {
  const rand = mulberry32(3);
  const mats: Matrix[] = [0, 1, 2].map(() => ({
    data: new Float32Array(4 * 16).map(() => rand() - 0.5),
    rows: 4,
    cols: 16,
  }));
  const q = quantizeEmbeddings(mats, "ubinary");
  mats.forEach((m, i) => {
    // PyLate: np.packbits(all > 0).reshape(N, -1): text i is bytes [i*L*D/8, (i+1)*L*D/8)
    const flat = new Uint8Array((m.rows * m.cols) / 8);
    m.data.forEach((v, k) => {
      if (v > 0) flat[k >> 3] |= 1 << (7 - (k & 7));
    });
    assert.deepEqual(q[i].data, flat);
    assert.equal(q[i].cols, 2);
  });
});

test("bad precision, ranges or dimensions are clear errors", () => {
  const m = fromRows([[1, 2]]);
  assert.throws(
    () => quantizeEmbeddings([m], "int4" as Precision),
    /precision must be one of "float32", "int8", "uint8", "binary", "ubinary", got "int4"/,
  );
  assert.throws(
    () => quantizeEmbeddings([m], "int8", { ranges: [[0], [1]] }),
    /ranges must be \[min, max\] with 2 values each/,
  );
  assert.throws(
    () =>
      quantizeEmbeddings([m], "int8", {
        ranges: [
          [0, 1],
          [1, 0],
        ],
      }),
    /ranges at dimension 1: need finite min <= max/,
  );
  assert.throws(() => quantizeEmbeddings([m, fromRows([[1, 2, 3]])], "binary"), /dimension 3/);
  assert.throws(() => quantizeEmbeddings([fromRows([], 2)], "int8"), /at least one token vector/);
  assert.deepEqual(quantizeEmbeddings([], "int8"), []);
});

test("encode(precision) returns typed quantised matrices of the float32 output", async () => {
  const model = await ColBERT.fromPretrained(sharedPath("fixtures/bert-tiny-colbert"), {
    threads: 1,
    warn: () => {},
  });
  models.push(model);
  const texts = ["late interaction, token by token.", "Paris", "what is ColBERT?"];
  for (const isQuery of [true, false]) {
    const float = await model.encode(texts, { isQuery });
    const i8 = await model.encode(texts, { isQuery, precision: "int8" });
    assert.ok(i8[0].data instanceof Int8Array);
    assert.deepEqual(i8, quantizeEmbeddings(float, "int8"));
    const u8 = await model.encode(texts, { isQuery, precision: "uint8" });
    assert.ok(u8[0].data instanceof Uint8Array);
    assert.deepEqual(u8, quantizeEmbeddings(float, "uint8"));
    const bin = await model.encode(texts, { isQuery, precision: "binary" });
    assert.equal(bin[1].cols, 4); // 32 dims -> 4 bytes
    assert.equal(bin[1].rows, float[1].rows);
    assert.deepEqual(bin, quantizeEmbeddings(float, "binary"));
    const ub = await model.encode(texts, { isQuery, precision: "ubinary" });
    assert.ok(ub[0].data instanceof Uint8Array);
  }
  // padding happens before quantisation, as in PyLate (zero rows take part in the ranges)
  const padded = await model.encode(texts, { padding: true });
  assert.deepEqual(
    await model.encode(texts, { padding: true, precision: "uint8" }),
    quantizeEmbeddings(padded, "uint8"),
  );
  // ranges from a calibration set, so that separate calls quantise alike
  const calibration = await model.encode(texts);
  const ranges = quantizationRanges(calibration);
  const [one] = await model.encode([texts[1]], { precision: "int8", ranges });
  assert.deepEqual(one, quantizeEmbeddings(calibration, "int8")[1]);
  // the stream needs ranges for int8/uint8 (one range per chunk would differ)
  await assert.rejects(
    (async () => {
      for await (const _ of model.encodeStream(texts, { precision: "int8" })) {
      }
    })(),
    /needs ranges or calibrationEmbeddings/,
  );
  const streamed: unknown[] = [];
  for await (const m of model.encodeStream(texts, { precision: "int8", ranges, chunkSize: 2 })) {
    streamed.push(m);
  }
  assert.deepEqual(streamed, quantizeEmbeddings(calibration, "int8", { ranges }));
  await assert.rejects(model.encode(texts, { precision: "fp16" as Precision }), /precision/);
});
