import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Exact } from "../../src/indexes/exact.js";
import { Lance } from "../../src/indexes/lance.js";
import { synthetic, tempDir } from "./helpers.js";

const here = dirname(fileURLToPath(import.meta.url));

test("lance: 4 reader processes search while a writer adds batches; each result equals Exact on the version it reports", {
  timeout: 120_000,
}, async () => {
  const data = synthetic({ docs: 80, dim: 16, seed: 5, vocab: 40, noise: 0.1 });
  const queries = [0, 17, 33, 71].map((i) => data.query(data.docs[i], 4, 0.05));
  const t = tempDir();
  try {
    const writer = await Lance.create(t.dir, { dim: 16 });
    // version -> number of documents committed at that version (batches of 10, in order)
    const docsAt = new Map<number, number>([[await writer.version(), 0]]);
    await writer.add(data.ids.slice(0, 10), data.docs.slice(0, 10));
    docsAt.set(await writer.version(), 10);
    const readers = Array.from({ length: 4 }, () => {
      const child = spawn(
        process.execPath,
        [
          join(here, "lance-reader-child.js"),
          t.dir,
          JSON.stringify(queries.map((q) => ({ ...q, data: Array.from(q.data) }))),
          "6",
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      let out = "";
      child.stdout.on("data", (b) => {
        out += b;
      });
      return new Promise<string>((resolve, reject) =>
        child.on("exit", (code) =>
          code === 0 ? resolve(out) : reject(new Error(`reader exited ${code}`)),
        ),
      );
    });
    for (let n = 10; n < 80; n += 10) {
      await writer.add(data.ids.slice(n, n + 10), data.docs.slice(n, n + 10));
      docsAt.set(await writer.version(), n + 10);
    }
    const outputs = await Promise.all(readers);
    await writer.close();
    const expected = new Map<number, unknown>();
    const seenVersions = new Set<number>();
    for (const out of outputs) {
      const lines = out.trim().split("\n");
      assert.equal(lines.length, 6);
      for (const line of lines) {
        const { version, results } = JSON.parse(line) as {
          version: number;
          results: { id: string }[][];
        };
        const n = docsAt.get(version);
        assert.ok(n !== undefined, `version ${version} is one the writer committed`);
        seenVersions.add(version);
        if (!expected.has(version)) {
          const e = tempDir();
          const exact = await Exact.create(e.dir);
          if (n > 0) await exact.add(data.ids.slice(0, n), data.docs.slice(0, n));
          expected.set(
            version,
            (await exact.search(queries, { k: 5 })).map((h) => h.map((x) => x.id)),
          );
          await exact.close();
          e.cleanup();
        }
        assert.deepEqual(
          results.map((h) => h.map((x) => x.id)),
          expected.get(version),
          `version ${version}`,
        );
      }
    }
    assert.ok(seenVersions.size >= 1);
  } finally {
    t.cleanup();
  }
});
