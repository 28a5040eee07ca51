import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  bytesToFloat32,
  encodeSafetensors,
  halfToFloat,
  parseSafetensorsHeader,
  readSafetensorsHeader,
  WeightStore,
  writeSafetensors,
} from "../../src/io/index.js";
import { FileFormatError, ShapeError } from "../../src/util/errors.js";
import { sharedPath } from "../helpers/shared.js";

const tmp = mkdtempSync(join(tmpdir(), "tslate-st-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A raw safetensors file from a header object and a data buffer. */
function rawFile(name: string, header: unknown, data: Uint8Array): string {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const path = join(tmp, name);
  writeFileSync(path, Buffer.concat([len, json, data]));
  return path;
}

function corrupt(path: string, pattern: RegExp) {
  assert.throws(
    () => WeightStore.open(path),
    (e: Error) => {
      assert.ok(e instanceof FileFormatError, `expected FileFormatError, got ${e}`);
      assert.equal(e.code, "FILE_CORRUPT");
      assert.ok(e.message.startsWith(path), e.message);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

describe("safetensors", () => {
  test("round trip: write, locate without reading, read back", () => {
    const path = join(tmp, "rt.safetensors");
    const a = Float32Array.from([1, -2.5, 3.25, 4, 5, 6]);
    const ids = BigInt64Array.from([7n, -8n]);
    writeSafetensors(
      path,
      { "b.weight": { data: a, shape: [2, 3] }, "a.ids": { data: ids, shape: [2] } },
      { format: "pt" },
    );
    const store = WeightStore.open(path);
    assert.deepEqual(store.names().sort(), ["a.ids", "b.weight"]);
    assert.deepEqual(store.metadata, { format: "pt" });
    const info = store.info("b.weight");
    assert.equal(info.dtype, "F32");
    assert.deepEqual(info.shape, [2, 3]);
    assert.equal(info.byteLength, 24);
    assert.equal(info.byteOffset % 8, 0, "data buffer is 8-byte aligned");
    const bytes = readFileSync(path);
    assert.deepEqual(
      new Float32Array(
        bytes.buffer.slice(
          bytes.byteOffset + info.byteOffset,
          bytes.byteOffset + info.byteOffset + 24,
        ),
      ),
      a,
    );
    assert.deepEqual(store.readFloat32("b.weight"), a);
    assert.deepEqual(new BigInt64Array(store.readBytes("a.ids").buffer), ids);
    assert.throws(() => store.readFloat32("a.ids"), /I64, not a float tensor/);
  });

  test("reads the fixture checkpoint header", () => {
    const store = WeightStore.open(sharedPath("fixtures/bert-tiny-colbert"));
    assert.deepEqual(store.info("embeddings.word_embeddings.weight").shape, [30524, 64]);
    assert.equal(store.names().length, 39);
    assert.equal(store.readFloat32("embeddings.LayerNorm.weight").length, 64);
    assert.throws(() => store.expect("embeddings.LayerNorm.weight", [32]), ShapeError);
    assert.throws(() => store.info("nope"), /missing tensor "nope"/);
  });

  test("float16 and bfloat16 are converted to float32", () => {
    assert.equal(halfToFloat(0x3c00), 1);
    assert.equal(halfToFloat(0xc000), -2);
    assert.equal(halfToFloat(0x7bff), 65504);
    assert.equal(halfToFloat(0x0001), 2 ** -24);
    assert.equal(halfToFloat(0xfc00), Number.NEGATIVE_INFINITY);
    assert.ok(Number.isNaN(halfToFloat(0x7e00)));
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x3800, 0x0001]);
    const bf16 = new Uint16Array([0x3f80, 0xc020, 0x4049]); // 1, -2.5, 3.140625
    const path = rawFile(
      "half.safetensors",
      {
        h: { dtype: "F16", shape: [4], data_offsets: [0, 8] },
        b: { dtype: "BF16", shape: [3], data_offsets: [8, 14] },
      },
      new Uint8Array(Buffer.concat([Buffer.from(f16.buffer), Buffer.from(bf16.buffer)])),
    );
    const store = WeightStore.open(path);
    assert.deepEqual(Array.from(store.readFloat32("h")), [1, -2, 0.5, 2 ** -24]);
    assert.deepEqual(Array.from(store.readFloat32("b")), [1, -2.5, 3.140625]);
    assert.deepEqual(
      Array.from(bytesToFloat32(new Uint8Array(bf16.buffer), "BF16")),
      [1, -2.5, 3.140625],
    );
  });

  test("sharded checkpoints via model.safetensors.index.json", () => {
    const dir = mkdtempSync(join(tmp, "sharded-"));
    writeSafetensors(join(dir, "model-00001-of-00002.safetensors"), {
      x: { data: Float32Array.from([1, 2]), shape: [2] },
    });
    writeSafetensors(join(dir, "model-00002-of-00002.safetensors"), {
      y: { data: Float32Array.from([3]), shape: [1] },
    });
    writeFileSync(
      join(dir, "model.safetensors.index.json"),
      JSON.stringify({
        metadata: {},
        weight_map: {
          x: "model-00001-of-00002.safetensors",
          y: "model-00002-of-00002.safetensors",
        },
      }),
    );
    const store = WeightStore.open(dir);
    assert.deepEqual(store.names().sort(), ["x", "y"]);
    assert.ok(store.info("y").file.endsWith("model-00002-of-00002.safetensors"));
    assert.deepEqual(Array.from(store.readFloat32("y")), [3]);
    writeFileSync(
      join(dir, "model.safetensors.index.json"),
      JSON.stringify({ weight_map: { z: "model-00001-of-00002.safetensors" } }),
    );
    assert.throws(() => WeightStore.open(dir), /says tensor "z" is in this shard, but it is not/);
    writeFileSync(
      join(dir, "model.safetensors.index.json"),
      JSON.stringify({ weight_map: { x: "../etc/passwd" } }),
    );
    assert.throws(() => WeightStore.open(dir), /is not a shard file name/);
  });

  test("prefix: Stanford ColBERT layout (bert.* and linear.weight)", () => {
    const path = join(tmp, "stanford.safetensors");
    writeSafetensors(path, {
      "bert.embeddings.word_embeddings.weight": { data: new Float32Array(4), shape: [2, 2] },
      "linear.weight": { data: new Float32Array(2), shape: [1, 2] },
    });
    const store = WeightStore.open(path, { prefix: "bert." });
    assert.deepEqual(store.names(), ["embeddings.word_embeddings.weight"]);
    assert.ok(store.has("embeddings.word_embeddings.weight"));
    assert.ok(store.withPrefix("").has("linear.weight"));
    assert.throws(
      () => WeightStore.open(path).info("embeddings.word_embeddings.weight"),
      /similar names present: bert\.embeddings/,
    );
  });

  test("corrupted files give FileFormatError naming the file", () => {
    const good = join(tmp, "good.safetensors");
    writeSafetensors(good, { w: { data: new Float32Array(16), shape: [4, 4] } });
    const bytes = readFileSync(good);

    const tiny = join(tmp, "tiny.safetensors");
    writeFileSync(tiny, bytes.subarray(0, 5));
    corrupt(tiny, /truncated safetensors file: 5 bytes/);

    const cut = join(tmp, "cut.safetensors");
    writeFileSync(cut, bytes);
    truncateSync(cut, bytes.length - 4);
    corrupt(cut, /tensor "w" ends at data byte 64 but the file only has 60 data bytes/);

    const headerCut = join(tmp, "headercut.safetensors");
    writeFileSync(headerCut, bytes.subarray(0, 20));
    corrupt(headerCut, /header length \d+ does not fit in a 20-byte file/);

    const badJson = join(tmp, "badjson.safetensors");
    const broken = Buffer.from(bytes);
    broken[9] = "{".charCodeAt(0);
    broken[10] = "{".charCodeAt(0);
    writeFileSync(badJson, broken);
    corrupt(badJson, /header is not valid JSON/);

    corrupt(
      rawFile(
        "f64.safetensors",
        { w: { dtype: "F64", shape: [1], data_offsets: [0, 8] } },
        new Uint8Array(8),
      ),
      /dtype "F64"; supported: F32, F16, BF16, I64, I32/,
    );
    corrupt(
      rawFile(
        "size.safetensors",
        { w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } },
        new Uint8Array(8),
      ),
      /needs 12 bytes but data_offsets \[0, 8\] span 8/,
    );
    corrupt(
      rawFile(
        "offs.safetensors",
        { w: { dtype: "F32", shape: [1], data_offsets: [4, 2] } },
        new Uint8Array(8),
      ),
      /invalid data_offsets/,
    );
    corrupt(
      rawFile(
        "shape.safetensors",
        { w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } },
        new Uint8Array(8),
      ),
      /invalid shape/,
    );
    corrupt(rawFile("array.safetensors", [1, 2], new Uint8Array(0)), /must be a JSON object/);

    assert.throws(
      () => WeightStore.open(join(tmp, "absent.safetensors")),
      (e: Error) => e instanceof FileFormatError && e.code === "FILE_NOT_FOUND",
    );
    assert.throws(() => readSafetensorsHeader(join(tmp, "absent.safetensors")), FileFormatError);
  });

  test("parseSafetensorsHeader works on bytes (no fs) and encodeSafetensors checks shapes", () => {
    const parts = encodeSafetensors({ t: { data: Float32Array.from([1, 2, 3]), shape: [3] } });
    const all = Buffer.concat(parts);
    const h = parseSafetensorsHeader(all, all.length);
    assert.equal(h.tensors.get("t")!.byteOffset, h.dataStart);
    assert.throws(
      () => encodeSafetensors({ t: { data: new Float32Array(3), shape: [2, 2] } }),
      ShapeError,
    );
  });
});

test("withOverrides replaces and adds tensors, keeps the others in place", () => {
  const base = join(tmp, "base.safetensors");
  const over = join(tmp, "over.safetensors");
  writeSafetensors(base, {
    "bert.a": { data: Float32Array.from([1, 2]), shape: [2] },
    "bert.b": { data: Float32Array.from([3]), shape: [1] },
  });
  writeSafetensors(over, {
    "bert.a": { data: Float32Array.from([9, 9, 9]), shape: [3] },
    "bert.c": { data: Float32Array.from([7]), shape: [1] },
  });
  const store = WeightStore.open(base, { prefix: "bert." }).withOverrides(WeightStore.open(over));
  assert.equal(store.prefix, "bert.");
  assert.deepEqual(store.names().sort(), ["a", "b", "c"]);
  assert.deepEqual(Array.from(store.readFloat32("a")), [9, 9, 9]);
  assert.equal(store.info("b").file, base);
  assert.deepEqual(Array.from(store.readFloat32("b")), [3]);
});
