#!/usr/bin/env node
// `npm test`'s runner: node --test over build/test/ with TMPDIR set to a fresh folder, which
// must be empty afterwards (tests must not leave temporary files or folders behind). The
// folder is removed either way; leftovers are listed and fail the run.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const tmp = mkdtempSync(join(tmpdir(), "tslate-test-run-"));
const args = process.argv.slice(2);
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=2", ...(args.length ? args : ["build/test/"])], {
  stdio: "inherit",
  env: { ...process.env, TMPDIR: tmp, TMP: tmp, TEMP: tmp },
});
const left = readdirSync(tmp);
rmSync(tmp, { recursive: true, force: true });
if (left.length > 0) {
  process.stderr.write(
    `\nnpm test: the tests left ${left.length} temporary entries behind (removed now): ${left.slice(0, 20).join(", ")}${left.length > 20 ? ", ..." : ""}\n`,
  );
  process.exit(r.status === 0 ? 1 : (r.status ?? 1));
}
process.exit(r.status ?? 1);
