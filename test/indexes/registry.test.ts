import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Exact } from "../../src/indexes/exact.js";
import { HNSW } from "../../src/indexes/hnsw.js";
import { PLAID } from "../../src/indexes/plaid/index.js";
import { createIndex, INDEX_TYPES, openIndex } from "../../src/indexes/registry.js";
import { synthetic, tempDir } from "./helpers.js";

test("registry: createIndex and openIndex for every type; unknown types are clear errors", async () => {
  const { docs, ids } = synthetic({ docs: 12, dim: 16, seed: 2 });
  assert.deepEqual(INDEX_TYPES, ["plaid", "exact", "hnsw"]);
  const classes = { plaid: PLAID, exact: Exact, hnsw: HNSW };
  for (const type of INDEX_TYPES) {
    const t = tempDir();
    try {
      const index = await createIndex(type, t.dir);
      assert.ok(index instanceof classes[type]);
      await index.add(ids, docs);
      await index.close();
      const again = await openIndex(t.dir);
      assert.ok(again instanceof classes[type], type);
      assert.equal(again.count(), 12);
      await again.close();
    } finally {
      t.cleanup();
    }
  }
  const t = tempDir();
  try {
    await assert.rejects(
      // @ts-expect-error not an index type
      createIndex("ivf", t.dir),
      /"ivf" is not an index type; expected one of plaid, exact, hnsw/,
    );
  } finally {
    t.cleanup();
  }
});

/** Runtime imports (the compiled JS keeps no type-only imports) of each module under dir. */
function runtimeImports(dir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(".js")) {
        const src = readFileSync(p, "utf8");
        const deps = [...src.matchAll(/(?:from|import)\s*\(?\s*"(\.[^"]+\.js)"/g)].map((m) =>
          resolve(dirname(p), m[1]),
        );
        // A worker started by URL is a runtime dependency too.
        for (const m of src.matchAll(/new URL\("(\.[^"]+\.js)", import\.meta\.url\)/g))
          deps.push(resolve(dirname(p), m[1]));
        out.set(p, deps);
      }
    }
  };
  walk(dir);
  return out;
}

test("indexes: no runtime import cycle (index.ts -> parallel -> worker -> registry, not back)", () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = resolve(here, "../../src/indexes");
  const graph = runtimeImports(root);
  assert.ok(graph.size > 10, `compiled modules found under ${root}`);
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (m: string) => {
    state.set(m, 1);
    stack.push(m);
    for (const d of graph.get(m) ?? []) {
      if (!graph.has(d)) continue; // outside src/indexes
      if (state.get(d) === 1) {
        const cycle = [...stack.slice(stack.indexOf(d)), d].map((x) => relative(root, x));
        assert.fail(`runtime import cycle: ${cycle.join(" -> ")}`);
      }
      if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(m, 2);
  };
  for (const m of graph.keys()) if (!state.has(m)) visit(m);
  // The worker opens indexes through the registry, never through the package's index.ts.
  const worker = graph.get(join(root, "parallel-worker.js")) ?? [];
  assert.ok(worker.includes(join(root, "registry.js")));
  assert.ok(!worker.includes(join(root, "index.js")));
});
