import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { WeightStore, writeSafetensors } from "../../../src/io/index.js";
import {
  buildEncoderGraph,
  openEncoder,
  readBackboneConfig,
} from "../../../src/models/backbones/index.js";
import {
  ConfigError,
  FileFormatError,
  ShapeError,
  UnsupportedError,
} from "../../../src/util/errors.js";
import { maxAbsDiff, sharedPath } from "../../helpers/shared.js";

const bertDir = sharedPath("fixtures/bert-tiny-colbert");
const bertConfig = JSON.parse(readFileSync(join(bertDir, "config.json"), "utf8"));
const tmp = mkdtempSync(join(tmpdir(), "tslate-backbone-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A model dir with the fixture's weights and an edited config. */
function withConfig(name: string, edit: (c: Record<string, unknown>) => void): string {
  const c = structuredClone(bertConfig);
  edit(c);
  const d = mkdtempSync(join(tmp, `${name}-`));
  writeFileSync(join(d, "config.json"), JSON.stringify(c));
  copyFileSync(join(bertDir, "model.safetensors"), join(d, "model.safetensors"));
  return d;
}

const batch = {
  inputIds: BigInt64Array.from([101n, 30523n, 2023n, 102n]),
  attentionMask: BigInt64Array.from([1n, 1n, 1n, 1n]),
  batchSize: 1,
  seqLength: 4,
};

describe("backbone config and weight errors", () => {
  test("unknown model_type names the file and lists the supported types", async () => {
    const dir = withConfig("unknown", (c) => (c.model_type = "gpt2"));
    await assert.rejects(openEncoder(dir), (e: Error) => {
      assert.ok(e instanceof UnsupportedError);
      assert.match(
        e.message,
        /config\.json: model_type "gpt2" is not supported \(supported: bert, modernbert/,
      );
      return true;
    });
  });

  test("missing field names the field", async () => {
    const dir = withConfig("missing", (c) => delete c.num_attention_heads);
    await assert.rejects(
      openEncoder(dir),
      (e: Error) => e instanceof ConfigError && /"num_attention_heads" is missing/.test(e.message),
    );
  });

  test("weight shape mismatch names the safetensors file and tensor", async () => {
    const dir = withConfig("shape", (c) => (c.intermediate_size = 256));
    await assert.rejects(openEncoder(dir), (e: Error) => {
      assert.ok(e instanceof ShapeError);
      assert.match(
        e.message,
        /model\.safetensors: tensor "encoder\.layer\.0\.intermediate\.dense\.weight" has shape \[128, 64\], but config\.json implies \[256, 64\]/,
      );
      return true;
    });
  });

  test("no config.json is a FILE_NOT_FOUND error", () => {
    assert.throws(
      () => readBackboneConfig(tmp),
      (e: Error) => e instanceof FileFormatError && e.code === "FILE_NOT_FOUND",
    );
  });

  test("a Dense that does not fit the hidden size is refused", () => {
    const config = readBackboneConfig(bertDir);
    const store = WeightStore.open(bertDir);
    assert.throws(
      () =>
        buildEncoderGraph(config, store, {
          dense: { weight: new Float32Array(32 * 48), outFeatures: 32, inFeatures: 48 },
        }),
      /Dense in_features 48 does not match the backbone hidden_size 64/,
    );
  });

  test("bad batches are refused before reaching onnxruntime", async () => {
    const enc = await openEncoder(bertDir, { threads: 1 });
    try {
      await assert.rejects(enc.run({ ...batch, seqLength: 5 }), ShapeError);
      const long = {
        inputIds: new BigInt64Array(513),
        attentionMask: new BigInt64Array(513),
        batchSize: 1,
        seqLength: 513,
      };
      await assert.rejects(
        enc.run(long),
        /seqLength 513 exceeds the 512 positions of this bert checkpoint/,
      );
      await assert.rejects(
        enc.run({ ...batch, inputIds: BigInt64Array.from([101n, 999999n, 1n, 102n]) }),
        /outside the vocabulary/,
      );
    } finally {
      await enc.dispose();
    }
  });
});

describe("weight prefixes", () => {
  test('a checkpoint storing "bert.*" names is detected and gives the same output', async () => {
    const store = WeightStore.open(bertDir);
    const tensors: Record<string, { data: Float32Array; shape: number[] }> = {};
    for (const name of store.names())
      tensors[`bert.${name}`] = {
        data: store.readFloat32(name),
        shape: [...store.info(name).shape],
      };
    tensors["linear.weight"] = { data: new Float32Array(32 * 64), shape: [32, 64] };
    const dir = mkdtempSync(join(tmp, "prefixed-"));
    copyFileSync(join(bertDir, "config.json"), join(dir, "config.json"));
    writeSafetensors(join(dir, "model.safetensors"), tensors);
    const a = await openEncoder(bertDir, { threads: 1 });
    const b = await openEncoder(dir, { threads: 1 });
    const c = await openEncoder(dir, { threads: 1, weightPrefix: "bert." });
    try {
      const [ra, rb, rc] = await Promise.all([a.run(batch), b.run(batch), c.run(batch)]);
      assert.equal(maxAbsDiff(rb.embeddings, ra.embeddings), 0);
      assert.equal(maxAbsDiff(rc.embeddings, ra.embeddings), 0);
    } finally {
      await Promise.all([a.dispose(), b.dispose(), c.dispose()]);
    }
    await assert.rejects(
      openEncoder(dir, { weightPrefix: "roberta." }),
      /missing tensor "roberta\.embeddings/,
    );
  });
});
