// Removes compiled files whose TypeScript source is gone (a file moved or deleted), so that
// `node --test build/test/` never runs a stale test and dist/ never ships a stale module.
// tsc's incremental build only ever adds and overwrites outputs.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("../", import.meta.url).pathname;
const trees = [
  { out: join(root, "build"), src: root },
  { out: join(root, "dist"), src: join(root, "src") },
];
const compiled = /(\.d\.ts|\.js|\.js\.map|\.d\.ts\.map)$/;

let removed = 0;
function walk(dir, tree) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      walk(p, tree);
      if (readdirSync(p).length === 0) rmSync(p, { recursive: true });
      continue;
    }
    if (!compiled.test(e.name)) continue;
    const source = join(tree.src, relative(tree.out, p).replace(compiled, ".ts"));
    if (!existsSync(source)) {
      rmSync(p);
      removed++;
    }
  }
}
for (const tree of trees) if (existsSync(tree.out)) walk(tree.out, tree);
if (removed > 0) console.log(`clean-build: removed ${removed} stale compiled files`);
