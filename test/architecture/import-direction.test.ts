import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

/**
 * The floors of src/, top to bottom (README "Architecture"). A module may import from its own
 * folder and from the floors below it, never from above and never sideways (two modules on
 * the same floor do not know each other). Type-only imports count too: they couple modules
 * just the same.
 */
export const FLOORS: readonly (readonly string[])[] = [
  ["cli", "web"],
  ["server"],
  ["client"],
  ["training"],
  ["evaluation"],
  ["retrieve", "rank"],
  ["indexes", "losses"],
  ["models"],
  ["graph", "scores", "kernels"],
  ["io", "hub"],
  ["util"],
];

const srcDir = fileURLToPath(new URL("../../../src/", import.meta.url));

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** Relative specifiers of every static import/export-from and literal dynamic import. */
export function importSpecifiers(code: string): string[] {
  const out: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^;]*?\sfrom\s+["']([^"']+)["']/gms,
    /^\s*import\s+["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]);
  return out.filter((s) => s.startsWith("."));
}

/** The top folder of a path under src/ (`index.ts` at the root is the package entry). */
function moduleOf(path: string): string {
  const rel = relative(srcDir, path);
  const parts = rel.split(/[\\/]/);
  return parts.length === 1 ? "(root)" : parts[0];
}

function floorOf(module: string): number {
  return FLOORS.findIndex((f) => f.includes(module));
}

test("imports point downwards along the floors of src/", { timeout: 30_000 }, () => {
  const violations: string[] = [];
  const unplaced = new Set<string>();
  let checked = 0;
  const files = sourceFiles(srcDir);
  assert.ok(files.length > 50, `found ${files.length} source files under ${srcDir}`);
  for (const file of files) {
    const from = moduleOf(file);
    if (from === "(root)") continue; // the package entry re-exports everything
    const fromFloor = floorOf(from);
    if (fromFloor < 0) {
      unplaced.add(from);
      continue;
    }
    for (const spec of importSpecifiers(readFileSync(file, "utf8"))) {
      checked++;
      const target = resolve(dirname(file), spec);
      if (relative(srcDir, target).startsWith("..")) {
        violations.push(`${relative(srcDir, file)} imports ${spec}, outside src/`);
        continue;
      }
      const to = moduleOf(target);
      if (to === from) continue;
      if (to === "(root)") {
        violations.push(`${relative(srcDir, file)} imports the package entry (${spec})`);
        continue;
      }
      const toFloor = floorOf(to);
      if (toFloor < 0) {
        unplaced.add(to);
        continue;
      }
      if (toFloor <= fromFloor) {
        const how = toFloor === fromFloor ? "sideways" : "upwards";
        violations.push(`${relative(srcDir, file)} (${from}) imports ${spec} (${to}): ${how}`);
      }
    }
  }
  assert.ok(checked > 200, `only ${checked} imports seen: is the scanner broken?`);
  assert.deepEqual(
    [...unplaced],
    [],
    "src/ folders without a floor: add them to FLOORS in this test and to the README's architecture",
  );
  assert.deepEqual(violations, []);
});

test("the import scanner sees static, type-only, re-export and dynamic imports", () => {
  const code = [
    'import { a } from "../a/x.js";',
    'import type { B } from "../b/y.js";',
    "import {",
    "  c,",
    '} from "../c/z.js";',
    'export { d } from "./d.js";',
    'export * as e from "../e/index.js";',
    'const f = await import("../f/w.js");',
    'import "node:fs";',
  ].join("\n");
  assert.deepEqual(importSpecifiers(code).sort(), [
    "../a/x.js",
    "../b/y.js",
    "../c/z.js",
    "../e/index.js",
    "../f/w.js",
    "./d.js",
  ]);
});
