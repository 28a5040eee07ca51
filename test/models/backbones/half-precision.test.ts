/**
 * Half-precision checkpoints: float16/bfloat16 tensors stay in their safetensors file (ONNX
 * external data in their own dtype, cast to float32 in the graph), so no weight is copied
 * into the model bytes and the 2 GiB protobuf cap does not apply. Proved on a tiny model by
 * lowering the embedded-bytes cap below the checkpoint's size: it still loads, its model
 * bytes hold no weights, and its outputs equal those of a float32 copy of the same rounded
 * values (exactly: the Cast is exact and the rest of the graph is the same).
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { prepareRuntimeModel } from "../../../src/graph/session.js";
import { WeightStore, writeSafetensors } from "../../../src/io/index.js";
import {
  buildEncoderGraph,
  openEncoder,
  readBackboneConfig,
} from "../../../src/models/backbones/index.js";
import { type HalfDType, roundTo, writeHalfSafetensors } from "../../helpers/half.js";
import { sharedPath } from "../../helpers/shared.js";

const tmp = mkdtempSync(join(tmpdir(), "tslate-half-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const CAP = 64 * 1024; // far below the ~2-4 MB of half-precision weights

for (const dtype of ["BF16", "F16"] as HalfDType[]) {
  test(`${dtype} checkpoint: weights referenced in place, outputs equal to float32`, async () => {
    const src = sharedPath("fixtures/bert-tiny-colbert");
    const store = WeightStore.open(src);
    const tensors: Record<string, { data: Float32Array; shape: number[] }> = {};
    const rounded: Record<string, { data: Float32Array; shape: number[] }> = {};
    let bytes = 0;
    for (const name of store.names()) {
      const data = store.readFloat32(name);
      const shape = [...store.info(name).shape];
      tensors[name] = { data, shape };
      rounded[name] = { data: roundTo(dtype, data), shape };
      bytes += data.length * 2;
    }
    assert.ok(bytes > 20 * CAP, "the checkpoint is larger than the lowered cap");
    const halfDir = mkdtempSync(join(tmp, "half-"));
    const fullDir = mkdtempSync(join(tmp, "full-"));
    for (const d of [halfDir, fullDir])
      copyFileSync(join(src, "config.json"), join(d, "config.json"));
    writeHalfSafetensors(join(halfDir, "model.safetensors"), tensors, dtype);
    writeSafetensors(join(fullDir, "model.safetensors"), rounded);

    const model = prepareRuntimeModel(
      buildEncoderGraph(readBackboneConfig(halfDir), WeightStore.open(halfDir)).graph,
      1024,
      CAP,
    );
    assert.ok(model.bytes.length < CAP, `model bytes ${model.bytes.length} hold no weights`);

    const half = await openEncoder(halfDir, { threads: 1, maxEmbeddedBytes: CAP });
    const full = await openEncoder(fullDir, { threads: 1 });
    try {
      const ids = BigInt64Array.from([101n, 2023n, 2003n, 1037n, 3231n, 102n, 0n, 0n]);
      const mask = BigInt64Array.from([1n, 1n, 1n, 1n, 1n, 1n, 0n, 0n]);
      const batch = { inputIds: ids, attentionMask: mask, batchSize: 1, seqLength: 8 };
      const [a, b] = [await half.run(batch), await full.run(batch)];
      let maxdiff = 0;
      for (let i = 0; i < a.embeddings.length; i++)
        maxdiff = Math.max(maxdiff, Math.abs(a.embeddings[i] - b.embeddings[i]));
      assert.equal(maxdiff, 0, `maxdiff ${maxdiff}`);
    } finally {
      await half.dispose();
      await full.dispose();
    }
  });
}

test("weights that must be embedded beyond the cap: a clear error", () => {
  const src = sharedPath("fixtures/bert-tiny-colbert");
  const graph = buildEncoderGraph(readBackboneConfig(src), WeightStore.open(src)).graph;
  // Everything is float32 in one directory: only tensors under 1 KiB (biases, norms) are embedded.
  assert.ok(prepareRuntimeModel(graph, 1024, CAP).bytes.length < CAP);
  // Forcing every tensor to be embedded (embedBelowBytes huge) trips the cap.
  assert.throws(
    () => prepareRuntimeModel(graph, Number.POSITIVE_INFINITY, CAP),
    (e: Error) => (e as { code?: string }).code === "UNSUPPORTED" && /exceed/.test(e.message),
  );
});
