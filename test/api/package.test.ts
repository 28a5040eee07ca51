import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

// The package as a user installs it: `npm run build` (tsconfig.build.json) compiles src/ alone
// into dist/, and package.json's exports point there. `npm test` builds it before the tests.
const root = fileURLToPath(new URL("../../../", import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as {
  main: string;
  bin: Record<string, string>;
  exports: Record<string, { types: string; default: string }>;
};

test("package.json entry points exist in the built package", { timeout: 10_000 }, () => {
  assert.equal(pkg.exports["."].default, "./dist/index.js");
  assert.equal(pkg.exports["./cli"].default, "./dist/cli/main.js");
  const files = [
    pkg.main,
    pkg.bin.tslate,
    ...Object.values(pkg.exports).flatMap((e) => [e.default, e.types]),
  ];
  for (const file of files) {
    assert.ok(existsSync(`${root}${file}`), `${file} is missing: run \`npm run build\` first`);
  }
});

/** Imports `specifier` (by package name, as a user would) in a fresh process; lists what loaded. */
function loadedPackages(specifier: string): string[] {
  const script = `
    import { createRequire } from "node:module";
    await import(${JSON.stringify(specifier)});
    const cache = Object.keys(createRequire(import.meta.url).cache);
    const names = new Set();
    for (const file of cache) {
      const m = /node_modules[\\\\/]((?:@[^\\\\/]+[\\\\/])?[^\\\\/]+)/.exec(file);
      if (m) names.add(m[1].replace(/\\\\/g, "/"));
    }
    process.stdout.write(JSON.stringify([...names].sort()));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: root,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

test("importing the library does not load the CLI's dependencies", { timeout: 30_000 }, () => {
  const library = loadedPackages("tslate");
  assert.ok(!library.includes("commander"), `tslate loaded commander: ${library.join(", ")}`);
  assert.ok(!library.includes("cli-progress"), `tslate loaded cli-progress: ${library.join(", ")}`);
  // The detection works: the CLI entry does load commander.
  assert.ok(loadedPackages("tslate/cli").includes("commander"));
});
