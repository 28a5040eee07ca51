import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { runDownload } from "../../src/cli/commands/download.js";
import { sharedPath } from "../scores/helpers.js";
import { SHA_MAIN, startFakeHub } from "../hub/fake-hub.js";

const run = promisify(execFile);
const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const tmpRoot = mkdtempSync(join(tmpdir(), "tslate-dl-"));
after(() => rmSync(tmpRoot, { recursive: true, force: true }));
const env = { ...process.env, HF_TOKEN: "", HF_HUB_OFFLINE: "", HF_ENDPOINT: "", HF_HUB_CACHE: "" };

test("tslate download prints the snapshot directory; errors exit 2 with the message", async () => {
  const hub = await startFakeHub({ dir: sharedPath("fixtures/bert-tiny-colbert") });
  try {
    const cacheDir = join(tmpRoot, "a");
    const { stdout } = await run(
      process.execPath,
      [
        CLI,
        "download",
        "org/tiny",
        "--endpoint",
        hub.endpoint,
        "--cache-dir",
        cacheDir,
        "--no-progress",
      ],
      { env },
    );
    const snap = join(cacheDir, "models--org--tiny", "snapshots", SHA_MAIN);
    assert.equal(stdout.trim(), snap);
    assert.ok(existsSync(join(snap, "model.safetensors")));

    await assert.rejects(
      run(
        process.execPath,
        [CLI, "download", "org/missing", "--endpoint", hub.endpoint, "--cache-dir", cacheDir],
        { env },
      ),
      (e: Error & { code?: number; stderr?: string }) => {
        assert.equal(e.code, 2);
        assert.match(e.stderr ?? "", /error \[HUB\]: .*404 Not Found: repository org\/missing/);
        return true;
      },
    );

    // The library entry with --include, progress events driving a (silent) bar.
    const jsonOnly = await runDownload("org/tiny", {
      revision: "v1",
      cacheDir: join(tmpRoot, "b"),
      endpoint: hub.endpoint,
      include: ["*.json"],
      progress: false,
    });
    assert.ok(existsSync(join(jsonOnly, "config.json")));
    assert.ok(!existsSync(join(jsonOnly, "model.safetensors")));
  } finally {
    await hub.close();
  }
});
