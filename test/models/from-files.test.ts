import assert from "node:assert/strict";
import fs, { cpSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { join, relative } from "node:path";
import { test } from "node:test";
import { WeightStore, writeSafetensors } from "../../src/io/safetensors.js";
import { ColBERT } from "../../src/models/colbert.js";
import type { Matrix } from "../../src/util/matrix.js";
import { modelTestContext } from "../helpers/models.js";
import { readSharedJson, sharedPath } from "../helpers/shared.js";

const { tmp, load } = modelTestContext("from-files");

/** Every file of a checkpoint directory, by relative path. */
function readTree(dir: string): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = new Uint8Array(readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

function assertSame(a: Matrix[], b: Matrix[], what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((m, i) => {
    assert.equal(m.rows, b[i].rows, `${what} ${i}: rows`);
    assert.equal(m.cols, b[i].cols, `${what} ${i}: cols`);
    assert.deepEqual(m.data, b[i].data, `${what} ${i}: values`);
  });
}

/**
 * Replaces the file-system functions a loader could use with recorders (named ESM imports
 * of node:fs follow after syncBuiltinESMExports), runs `fn`, restores them.
 */
async function recordingFsCalls<T>(fn: () => Promise<T>): Promise<{ result: T; calls: string[] }> {
  const names = [
    "readFileSync",
    "openSync",
    "readSync",
    "existsSync",
    "statSync",
    "lstatSync",
    "realpathSync",
    "readdirSync",
    "writeFileSync",
    "mkdtempSync",
  ] as const;
  const calls: string[] = [];
  const fsAny = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
  const saved = names.map((n) => fsAny[n]);
  names.forEach((n, i) => {
    fsAny[n] = (...args: unknown[]) => {
      calls.push(`${n}(${String(args[0])})`);
      return saved[i](...args);
    };
  });
  syncBuiltinESMExports();
  try {
    return { result: await fn(), calls };
  } finally {
    names.forEach((n, i) => {
      fsAny[n] = saved[i];
    });
    syncBuiltinESMExports();
  }
}

for (const name of ["bert-tiny-colbert", "modernbert-tiny-colbert"]) {
  const expected = readSharedJson(`fixtures/expected/${name}.json`);
  const queries: string[] = expected.queries.map((q: { text: string }) => q.text);
  const documents: string[] = expected.documents.map((d: { text: string }) => d.text);

  test(`${name}: fromFiles gives the embeddings fromPretrained gives, without the directory`, async () => {
    // A copy of the fixture, read into memory, then deleted: the directory cannot be consulted.
    const dir = join(tmp, name);
    cpSync(sharedPath(`fixtures/${name}`), dir, { recursive: true });
    const files = readTree(dir);
    // The recorder sees a directory load's reads (so an empty record below means something).
    const { result: viaDir, calls: dirCalls } = await recordingFsCalls(() => load(dir));
    assert.ok(
      dirCalls.some((c) => c.startsWith("readFileSync(") && c.includes("tokenizer.json")),
      `recorded: ${dirCalls.join(", ")}`,
    );
    const q0 = await viaDir.encode(queries, { isQuery: true });
    const d0 = await viaDir.encode(documents, { batchSize: 3 });
    rmSync(dir, { recursive: true, force: true });

    const { result: model, calls } = await recordingFsCalls(() =>
      ColBERT.fromFiles(files, { threads: 1, warn: () => {} }),
    );
    try {
      assert.deepEqual(calls, [], "fromFiles touched the file system");
      const { result, calls: encodeCalls } = await recordingFsCalls(async () => ({
        q: await model.encode(queries, { isQuery: true }),
        d: await model.encode(documents, { batchSize: 3 }),
      }));
      assert.deepEqual(encodeCalls, [], "encode touched the file system");
      assertSame(result.q, q0, "query");
      assertSame(result.d, d0, "document");
      assert.equal(model.checkpoint.dir, "<files>");
      assert.ok(model.weights.inMemory);
    } finally {
      await model.dispose();
    }
  });
}

test("fromFiles: a plain Hugging Face encoder (embeddings resized in memory); ArrayBuffer and string contents", async () => {
  const src = sharedPath("fixtures/bert-tiny-colbert");
  const dir = join(tmp, "plain");
  fs.mkdirSync(dir, { recursive: true });
  // The base vocabulary has no [Q]/[D]: drop the two extra embedding rows too.
  const backbone = WeightStore.open(src);
  const tensors: Record<string, { data: Float32Array; shape: readonly number[] }> = {};
  for (const n of backbone.names()) {
    let data = backbone.readFloat32(n);
    let shape = backbone.info(n).shape;
    if (n === "embeddings.word_embeddings.weight") {
      data = data.slice(0, 30522 * 64);
      shape = [30522, 64];
    }
    tensors[n] = { data, shape };
  }
  writeSafetensors(join(dir, "model.safetensors"), tensors);
  const config = JSON.parse(readFileSync(join(src, "config.json"), "utf8"));
  fs.writeFileSync(join(dir, "config.json"), JSON.stringify({ ...config, vocab_size: 30522 }));
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
    cpSync(sharedPath(`tokenizers/bert-base-uncased/${f}`), join(dir, f));
  }
  const files: Record<string, Uint8Array | ArrayBuffer | string> = readTree(dir);
  files["config.json"] = readFileSync(join(dir, "config.json"), "utf8");
  files["model.safetensors"] = new Uint8Array(files["model.safetensors"] as Uint8Array).buffer;
  const viaDir = await load(dir);
  const viaFiles = await ColBERT.fromFiles(files, { threads: 1, warn: () => {} });
  try {
    assert.equal(viaFiles.tokenizer.addedTokens.length, 2);
    assert.equal(viaFiles.checkpoint.backboneConfig.vocab_size, 30524);
    const texts = ["hello world", "late interaction retrieval"];
    assertSame(
      await viaFiles.encode(texts, { isQuery: true }),
      await viaDir.encode(texts, { isQuery: true }),
      "query",
    );
    assertSame(await viaFiles.encode(texts), await viaDir.encode(texts), "document");
  } finally {
    await viaFiles.dispose();
  }
});

test("fromFiles: a missing file is a clear error naming it", async () => {
  const src = sharedPath("fixtures/bert-tiny-colbert");
  const files = readTree(src);
  delete files["tokenizer.json"];
  await assert.rejects(
    ColBERT.fromFiles(files, { threads: 1, warn: () => {} }),
    /tokenizer\.json: missing tokenizer\.json/,
  );
  const noWeights = readTree(src);
  delete noWeights["model.safetensors"];
  await assert.rejects(
    ColBERT.fromFiles(noWeights, { threads: 1, warn: () => {} }),
    /model\.safetensors: missing the backbone weights/,
  );
});
