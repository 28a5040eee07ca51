import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { startServer } from "../../src/server/index.js";
import { call, randomDocs, testServer } from "./helpers.js";

const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

test("SIGTERM: the CLI server stops accepting, applies the queued update, exits 0", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tslate-serve-sigterm-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // A long batching window: the update is still queued when SIGTERM arrives.
  const child = spawn(
    process.execPath,
    [
      cli,
      "serve",
      "--index-dir",
      dir,
      "--port",
      "0",
      "--search-workers",
      "1",
      "--batch-window-ms",
      "600000",
      "--log-level",
      "silent",
    ],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let err = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on("data", (b: Buffer) => {
      err += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
  assert.equal((await call(url, "POST", "/indices", { name: "t" })).status, 200);
  const [doc] = randomDocs(1, 8, 5);
  assert.equal(
    (
      await call(url, "POST", "/indices/t/update", {
        documents: [{ embeddings: doc }],
        metadata: [{ k: "queued" }],
      })
    ).status,
    202,
  );
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  child.kill("SIGTERM");
  assert.equal(await exited, 0, err);
  assert.match(err, /SIGTERM, finishing queued writes/);
  const s = await startServer({ indexDir: dir, port: 0, searchWorkers: 1, logLevel: "silent" });
  try {
    const m = await call(s.url, "GET", "/indices/t/metadata");
    assert.deepEqual(m.body.metadata, [{ _subset_: 0, k: "queued" }]);
  } finally {
    await s.close();
  }
});

test("one log line per request: method, route, status, milliseconds; --log-level filters", async () => {
  const lines: string[] = [];
  const s = await testServer({ logLevel: "info", log: (l) => lines.push(l) });
  await call(s.url, "GET", "/indices");
  await call(s.url, "GET", "/indices/nope");
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^\S+Z info GET \/indices 200 \d+\.\dms$/);
  assert.match(lines[1], /^\S+Z info GET \/indices\/:name 404 \d+\.\dms$/);
  const quiet: string[] = [];
  const q = await testServer({ logLevel: "error", log: (l) => quiet.push(l) });
  await call(q.url, "GET", "/indices");
  assert.deepEqual(quiet, []);
});

test("bad serve options are refused with a clear error", async () => {
  await assert.rejects(
    startServer({ port: 0, batchSize: 0, logLevel: "silent" }),
    /batchSize must be an integer >= 1/,
  );
  await assert.rejects(
    startServer({ port: 0, logLevel: "loud" as never }),
    /logLevel must be one of/,
  );
});
