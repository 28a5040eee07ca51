/**
 * The generated kernel modules (src/kernels/*.wasm.ts) against their sources: each .wat is
 * compiled here with wabt, as scripts/build-kernels.mjs does, and must give the same bytes, so
 * a .wat edited without `npm run build:kernels` fails CI.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import wabtInit from "wabt";
import { adamwWasm } from "../../src/kernels/adamw.wasm.js";
import { plaidWasm } from "../../src/kernels/plaid.wasm.js";
import { compileKernel, instantiate } from "../../src/kernels/wasm.js";

/** The repository root: the nearest folder above this file with a package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("no package.json above the test");
    dir = up;
  }
  return dir;
}

const KERNELS = join(repoRoot(), "src", "kernels");
const GENERATED: Record<string, string> = { adamw: adamwWasm, plaid: plaidWasm };

const decode = (b64: string) => Uint8Array.from(Buffer.from(b64, "base64"));

test("every kernel .wat compiles with wabt to exactly the bytes of its generated module", async () => {
  const wabt = await wabtInit();
  const sources = readdirSync(KERNELS)
    .filter((f) => f.endsWith(".wat"))
    .map((f) => f.slice(0, -4))
    .sort();
  const generated = readdirSync(KERNELS)
    .filter((f) => f.endsWith(".wasm.ts"))
    .map((f) => f.slice(0, -8))
    .sort();
  assert.deepEqual(sources, ["adamw", "plaid"]);
  assert.deepEqual(generated, sources, "one generated module per source, none stale");
  for (const name of sources) {
    const path = join(KERNELS, `${name}.wat`);
    const mod = wabt.parseWat(path, readFileSync(path, "utf8"), { simd: true });
    mod.validate();
    const bytes = mod.toBinary({ write_debug_names: false, canonicalize_lebs: true }).buffer;
    mod.destroy();
    const shipped = decode(GENERATED[name]);
    assert.ok(
      Buffer.from(bytes).equals(Buffer.from(shipped)),
      `src/kernels/${name}.wasm.ts is not ${name}.wat compiled (${shipped.length} vs ${bytes.length} bytes): run npm run build:kernels`,
    );
  }
});

test("the generated modules load and export the kernels the loaders call", () => {
  const exportsOf = (b64: string) => {
    const mod = compileKernel(b64);
    assert.ok(mod, "Node 20 has WebAssembly SIMD");
    return Object.keys(instantiate<Record<string, unknown>>(mod)).sort();
  };
  assert.deepEqual(exportsOf(plaidWasm), [
    "approx",
    "decompress",
    "decompress2",
    "decompress8",
    "memory",
    "transpose",
    "transpose8",
  ]);
  assert.deepEqual(exportsOf(adamwWasm), ["adamw", "memory"]);
  assert.equal(compileKernel("AAAA"), null, "bytes that are not a module: null, the JS loops run");
});

test("the library never imports wabt (only the build script and this test do)", () => {
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (
        e.name.endsWith(".ts") &&
        /from "wabt"|import\("wabt"\)/.test(readFileSync(p, "utf8"))
      )
        offenders.push(p);
    }
  };
  walk(join(repoRoot(), "src"));
  assert.deepEqual(offenders, []);
});
