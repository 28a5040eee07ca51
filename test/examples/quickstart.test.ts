import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

// The README quickstart must keep working: run it as a user would.
test("examples/quickstart runs end to end and ranks consistently", { timeout: 120_000 }, () => {
  const script = fileURLToPath(new URL("../../examples/quickstart.js", import.meta.url));
  const r = spawnSync(process.execPath, [script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const scores = r.stdout
    .match(/^scores: (.*)$/m)![1]
    .split(" ")
    .map(Number);
  assert.equal(scores.length, 3);
  const retrieved = JSON.parse(r.stdout.match(/^retrieved: (.*)$/m)![1]);
  const reranked = JSON.parse(r.stdout.match(/^reranked: (.*)$/m)![1]);
  assert.equal(retrieved.length, 2);
  assert.equal(reranked.length, 3);
  // rerank's order is the exact MaxSim order of colbertScores.
  const byScore = ["doc-1", "doc-2", "doc-3"]
    .map((id, i) => ({ id, s: scores[i] }))
    .sort((a, b) => b.s - a.s)
    .map((x) => x.id);
  assert.deepEqual(
    reranked.map((h: { id: string }) => h.id),
    byScore,
  );
});

// The README's code imports from the package ("tslate", i.e. dist/index.js as installed): every
// name it imports must be exported there.
test("the README's imports exist in the built package", { timeout: 30_000 }, async () => {
  const readme = readFileSync(
    fileURLToPath(new URL("../../../README.md", import.meta.url)),
    "utf8",
  );
  const imports = [...readme.matchAll(/import \{([^}]+)\} from "tslate";/g)].flatMap((m) =>
    m[1].split(",").map((n) => n.trim()),
  );
  assert.ok(imports.length >= 5, "the README imports from tslate");
  // A variable specifier: resolved by Node at run time (the built package), not by tsc.
  const packageName = "tslate";
  const pkg = (await import(packageName)) as Record<string, unknown>;
  for (const name of imports) assert.notEqual(pkg[name], undefined, `tslate exports ${name}`);
});

test("the quickstart runs twice on the same index folder (override: true replaces the index)", () => {
  const script = fileURLToPath(new URL("../../examples/quickstart.js", import.meta.url));
  const model = fileURLToPath(
    new URL("../../../../shared/fixtures/bert-tiny-colbert", import.meta.url),
  );
  const tmp = mkdtempSync(join(tmpdir(), "tslate-quickstart-twice-"));
  try {
    const indexDir = join(tmp, "my-index");
    const first = spawnSync(process.execPath, [script, model, indexDir], { encoding: "utf8" });
    assert.equal(first.status, 0, first.stderr);
    const second = spawnSync(process.execPath, [script, model, indexDir], { encoding: "utf8" });
    assert.equal(second.status, 0, second.stderr);
    // The second run replaced the index: the same 3 documents, not 6.
    assert.equal(
      second.stdout.match(/^retrieved: (.*)$/m)![1],
      first.stdout.match(/^retrieved: (.*)$/m)![1],
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
