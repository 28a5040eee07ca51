// Removes compiled files whose TypeScript source is gone (a file moved or deleted), so that
// `node --test build/test/` never runs a stale test and dist/ never ships a stale module
// (tsc's incremental build only ever adds and overwrites outputs). A tsc output is recognised
// by its source map naming a single .ts source; other files (bundles such as dist/web) are
// left alone.
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

const root = new URL("../", import.meta.url).pathname;

let removed = 0;
function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      walk(p);
      if (readdirSync(p).length === 0) rmSync(p, { recursive: true });
      continue;
    }
    if (!e.name.endsWith(".js.map")) continue;
    let sources;
    try {
      sources = JSON.parse(readFileSync(p, "utf8")).sources;
    } catch {
      continue;
    }
    if (!Array.isArray(sources) || sources.length !== 1 || !sources[0].endsWith(".ts")) continue;
    if (existsSync(resolve(dirname(p), sources[0]))) continue;
    const base = p.slice(0, -".js.map".length);
    for (const f of [`${base}.js`, `${base}.js.map`, `${base}.d.ts`]) {
      if (existsSync(f)) {
        rmSync(f);
        removed++;
      }
    }
  }
}
for (const out of ["build", "dist"]) if (existsSync(join(root, out))) walk(join(root, out));
if (removed > 0) console.log(`clean-build: removed ${removed} stale compiled files`);
