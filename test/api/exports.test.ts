import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import * as tslate from "../../src/index.js";

// The public API's runtime names, top level and per namespace, against a committed snapshot:
// an export added, renamed or dropped by accident fails here. After a deliberate change, run
//   UPDATE_EXPORTS_SNAPSHOT=1 node --test build/test/api/exports.test.js
// and commit test/api/exports.snapshot.json with the change.
const snapshotPath = fileURLToPath(
  new URL("../../../test/api/exports.snapshot.json", import.meta.url),
);

const NAMESPACES = [
  "evaluation",
  "hub",
  "indexes",
  "io",
  "losses",
  "models",
  "rank",
  "retrieve",
  "scores",
  "training",
] as const;

function exportList(): Record<string, string[]> {
  const api = tslate as unknown as Record<string, unknown>;
  const out: Record<string, string[]> = {
    "(top level)": Object.keys(api)
      .filter((k) => !(NAMESPACES as readonly string[]).includes(k))
      .sort(),
  };
  for (const ns of NAMESPACES) out[ns] = Object.keys(api[ns] as object).sort();
  return out;
}

test("the public export list matches its snapshot", { timeout: 10_000 }, () => {
  const actual = exportList();
  if (process.env.UPDATE_EXPORTS_SNAPSHOT === "1") {
    writeFileSync(snapshotPath, `${JSON.stringify(actual, null, 2)}\n`);
  }
  const expected = JSON.parse(readFileSync(snapshotPath, "utf8")) as Record<string, string[]>;
  assert.deepEqual(actual, expected);
});

test("PyLate's module names are namespaces; the quickstart names are at the top level", () => {
  for (const ns of NAMESPACES)
    assert.equal(typeof (tslate as Record<string, unknown>)[ns], "object", ns);
  // The same objects through either path.
  assert.equal(tslate.ColBERT, tslate.models.ColBERT);
  assert.equal(tslate.PLAID, tslate.indexes.PLAID);
  assert.equal(tslate.Retriever, tslate.retrieve.Retriever);
  assert.equal(tslate.rerank, tslate.rank.rerank);
  assert.equal(tslate.colbertScores, tslate.scores.colbertScores);
  assert.equal(tslate.Contrastive, tslate.losses.Contrastive);
  assert.equal(tslate.evaluate, tslate.evaluation.evaluate);
  assert.equal(tslate.Trainer, tslate.training.Trainer);
  assert.equal(tslate.loadBeir, tslate.io.loadBeir);
  assert.equal(typeof tslate.DataError, "function");
});
