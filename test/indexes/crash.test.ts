import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Exact } from "../../src/indexes/exact.js";
import { HNSW } from "../../src/indexes/hnsw.js";
import { openIndex } from "../../src/indexes/index.js";
import { PLAID } from "../../src/indexes/plaid/index.js";
import { mulberry32 as rng } from "../../src/util/random.js";
import { expectedIds } from "./crash-child.js";
import { synthetic, tempDir } from "./helpers.js";

const CHILD = fileURLToPath(new URL("./crash-child.js", import.meta.url));

function completed(log: string): number {
  if (!existsSync(log)) return 0;
  return readFileSync(log, "utf8")
    .split("\n")
    .filter((l) => l !== "").length;
}

async function until(cond: () => boolean, child: ChildProcess): Promise<void> {
  while (!cond()) {
    if (child.exitCode !== null) throw new Error(`child exited early with code ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Kills a writer with SIGKILL at a random point (after a random number of completed writes
 * plus a random delay), then checks that the index opens at the state after the last logged
 * write or the one after it (the write in flight), with matching metadata.
 */
for (const [kind, create] of [
  ["exact", (d: string) => Exact.create(d)],
  ["plaid", (d: string) => PLAID.create(d)],
  ["hnsw", (d: string) => HNSW.create(d, { m: 8, efConstruction: 40 })],
] as const) {
  test(`${kind}: a writer killed at a random point leaves the previous or the new state`, async () => {
    const rand = rng(kind.length * 1000 + 7);
    const trials = 4;
    for (let trial = 0; trial < trials; trial++) {
      const t = tempDir();
      try {
        const data = synthetic({ docs: 20, dim: 16, seed: 5 });
        const index = await create(t.dir);
        await index.add(data.ids, data.docs);
        await index.close();
        const log = join(t.dir, "ops.log");
        const child = spawn(process.execPath, [CHILD, "--crash-child", t.dir, log], {
          stdio: ["ignore", "ignore", "pipe"],
        });
        let stderr = "";
        child.stderr!.on("data", (b) => (stderr += String(b)));
        const target = 1 + Math.floor(rand() * 6);
        await until(() => completed(log) >= target, child).catch((err) => {
          throw new Error(`${err}: ${stderr}`);
        });
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 40)));
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL");
        await exited;
        const n = completed(log);
        const reopened = await openIndex(t.dir);
        const got = new Set(reopened.ids());
        const before = expectedIds(data.ids, n);
        const after = expectedIds(data.ids, n + 1);
        const same = (a: Set<string>) => a.size === got.size && [...a].every((id) => got.has(id));
        assert.ok(
          same(before) || same(after),
          `trial ${trial}: ${got.size} ids, expected ${before.size} or ${after.size} after ${n} writes`,
        );
        for (const id of got) {
          if (id.startsWith("op")) assert.equal(reopened.metadata(id)?.text, `words of ${id}`);
        }
        // Keyword index agrees with the live set.
        const kw = await reopened.keywordSearch(["words"], { k: 1000 });
        assert.equal(kw[0].length, [...got].filter((id) => id.startsWith("op")).length);
        const hits = await reopened.search([data.query(data.docs[0])], { k: 3 });
        assert.equal(hits[0].length, 3);
        // Files of the interrupted write were collected.
        const referenced = readFileSync(join(t.dir, "manifest.json"), "utf8");
        for (const f of readdirSync(join(t.dir, "files")))
          assert.ok(referenced.includes(f), `garbage file ${f}`);
        // And the index is writable again.
        await reopened.add(["after-crash"], [data.docs[1]]);
        assert.equal(reopened.count(), got.size + 1);
        await reopened.close();
      } finally {
        t.cleanup();
      }
    }
  });
}
