import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/** Imports a package subpath by name in a fresh process: its export names and the packages it loaded. */
function load(specifier: string): { names: string[]; packages: string[] } {
  const script = `
    import { createRequire } from "node:module";
    const m = await import(${JSON.stringify(specifier)});
    const packages = new Set();
    for (const file of Object.keys(createRequire(import.meta.url).cache)) {
      const x = /node_modules[\\\\/]((?:@[^\\\\/]+[\\\\/])?[^\\\\/]+)/.exec(file);
      if (x) packages.add(x[1]);
    }
    process.stdout.write(JSON.stringify({ names: Object.keys(m).sort(), packages: [...packages].sort() }));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: root,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test("tslate/client: the typed client, with no dependency loaded (fetch only)", {
  timeout: 30_000,
}, () => {
  const c = load("tslate/client");
  assert.deepEqual(c.names, ["TslateApiError", "TslateClient"]);
  assert.deepEqual(c.packages, []);
});

test("tslate/server: startServer and friends; Fastify loads only here", { timeout: 30_000 }, () => {
  const s = load("tslate/server");
  for (const name of ["startServer", "buildApp", "IndexRegistry", "ApiError", "API_ERROR_STATUS"]) {
    assert.ok(s.names.includes(name), `tslate/server lacks ${name}`);
  }
  assert.ok(s.packages.includes("fastify"));
  assert.ok(!load("tslate").packages.includes("fastify"));
});
