/**
 * The browser bundle (dist/web/tslate.js, written by scripts/build-web.mjs before the tests):
 * within its size budget and free of Node built-ins.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { repoRoot } from "./harness.js";

/** tslate's own JS, gzipped (onnxruntime-web and its wasm excluded: the page loads them). */
const BUDGET_GZIP_BYTES = 150 * 1024;

test("the web bundle is ESM within 150 KB gzipped, imports only onnxruntime-web, no Node built-ins", () => {
  const file = join(repoRoot(), "dist", "web", "tslate.js");
  assert.ok(existsSync(file), `${file} missing: run npm run build:web`);
  const js = readFileSync(file);
  const gz = gzipSync(js).length;
  assert.ok(
    gz <= BUDGET_GZIP_BYTES,
    `tslate/web is ${gz} bytes gzipped, over ${BUDGET_GZIP_BYTES}`,
  );
  const text = js.toString("utf8");
  const imports = [...text.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual([...new Set(imports)], ["onnxruntime-web"]);
  assert.doesNotMatch(text, /\brequire\(/);
  const pkg = JSON.parse(readFileSync(join(repoRoot(), "package.json"), "utf8"));
  assert.deepEqual(pkg.exports["./web"], {
    types: "./dist/web/index.d.ts",
    default: "./dist/web/tslate.js",
  });
});
