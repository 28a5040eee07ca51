#!/usr/bin/env node
// Bundles the browser entry (src/web/index.ts) with esbuild into dist/web/tslate.js: ESM,
// minified, onnxruntime-web left as an import for the page's bundler or import map; and the
// demo's worker (examples/web/worker.js) into dist/web/demo-worker.js.
// Two substitutions make the Node library code run in a browser:
// - graph/runtime.js (onnxruntime-node) resolves to web/runtime.ts (onnxruntime-web);
// - node:* built-ins resolve to stubs that throw when called: the browser paths never call
//   them (they are imported by file-system code next to the in-memory paths), and a call
//   would say clearly which one was reached.
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

const webSubstitutions = {
  name: "tslate-web",
  setup(build) {
    build.onResolve({ filter: /^\.\/runtime\.js$/ }, (args) =>
      resolve(args.resolveDir) === join(ROOT, "src", "graph")
        ? { path: join(ROOT, "src", "web", "runtime.ts") }
        : undefined,
    );
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: "node-stub" }));
    build.onLoad({ filter: /.*/, namespace: "node-stub" }, (args) => {
      const name = args.path;
      const names = Object.keys(require(name)).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
      const body = names
        .map((n) => `export const ${n} = /* @__PURE__ */ unavailable(${JSON.stringify(`${name} ${n}`)});`)
        .join("\n");
      return {
        contents: `function unavailable(what) { return function () { throw new Error(what + " is not available in the browser (tslate/web)"); }; }\n${body}\nexport default {};\n`,
        loader: "js",
      };
    });
  },
};

/** Builds the bundle; returns its path, bytes and gzipped bytes. */
export async function buildWeb(outFile = join(ROOT, "dist", "web", "tslate.js")) {
  mkdirSync(dirname(outFile), { recursive: true });
  const result = await esbuild.build({
    entryPoints: [join(ROOT, "src", "web", "index.ts")],
    outfile: outFile,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    treeShaking: true,
    external: ["onnxruntime-web"],
    plugins: [webSubstitutions],
    metafile: true,
    write: true,
    logLevel: "warning",
  });
  const out = result.outputFiles ?? [];
  const bytes = out.length ? out[0].contents : (await import("node:fs")).readFileSync(outFile);
  const info = { file: outFile, bytes: bytes.length, gzipBytes: gzipSync(bytes).length };
  writeFileSync(join(dirname(outFile), "meta.json"), JSON.stringify(result.metafile));
  return info;
}

/**
 * Bundles the demo's worker (examples/web/worker.js) with tslate/web and onnxruntime-web
 * into dist/web/demo-worker.js: module workers do not see the page's import map.
 */
export async function buildDemoWorker(outFile = join(ROOT, "dist", "web", "demo-worker.js")) {
  await esbuild.build({
    entryPoints: [join(ROOT, "examples", "web", "worker.js")],
    outfile: outFile,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    plugins: [webSubstitutions],
    logLevel: "warning",
  });
  return outFile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const info = await buildWeb();
  console.log(`wrote ${info.file}: ${info.bytes} bytes, ${info.gzipBytes} gzipped`);
  console.log(`wrote ${await buildDemoWorker()}`);
}
