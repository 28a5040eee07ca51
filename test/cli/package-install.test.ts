// The package as a consumer gets it: `npm pack`, then `npm install <tarball>` in a fresh folder
// with no .npmrc and no install flags, then import it, encode with a fixture model, run the bin,
// and type-check a TypeScript consumer with skipLibCheck off.
//
// The install is offline here: npm reads the tarball and its cache (--prefer-offline), and
// nothing else is reachable. Before scripts/onnxruntime-cpu-default.cjs, onnxruntime-node's
// postinstall tried to download its CUDA libraries and failed the install (ENOTFOUND).
//
// The consumer denies better-sqlite3's and hnswlib-node's install scripts (npm's allowScripts):
// with no prebuilt binary reachable they compile from source, which takes ~8 minutes on this
// machine, and nothing here loads them (both are loaded lazily, on first use). That is the
// consumer's choice, not a step tslate needs: onnxruntime-node's script is left to run.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ColBERT } from "../../src/models/colbert.js";
import { sharedPath } from "../helpers/shared.js";

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const model = sharedPath("fixtures/bert-tiny-colbert");
const tmp = mkdtempSync(join(tmpdir(), "tslate-install-"));
const consumer = join(tmp, "consumer");
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The environment minus everything npm or a parent `npm test` would pass down as config. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || /^ONNXRUNTIME_NODE_INSTALL/i.test(key)) continue;
    env[key] = value;
  }
  return env;
}

function npm(args: string[], cwd: string) {
  return spawnSync("npm", args, { cwd, encoding: "utf8", env: cleanEnv() });
}

let tarball = "";
let installLog = "";

before(() => {
  const pack = npm(["pack", "--json", "--pack-destination", tmp], repo);
  assert.equal(pack.status, 0, pack.stderr);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(tmp, info.filename);
  const shipped = new Set(info.files.map((f) => f.path));
  // src/ for the source maps (dist/*.js.map point to ../src) and the README's pointers into it.
  for (const file of [
    "LICENSE",
    "README.md",
    "package.json",
    "dist/index.js",
    "dist/cli/main.js",
    "src/index.ts",
    "src/indexes/FORMAT.md",
    "examples/train-scifact.json",
  ]) {
    assert.ok(shipped.has(file), `${file} is in the package`);
  }
  mkdirSync(consumer);
  writeFileSync(
    join(consumer, "package.json"),
    JSON.stringify({
      name: "consumer",
      version: "1.0.0",
      private: true,
      type: "module",
      dependencies: { tslate: `file:${tarball}` },
      allowScripts: { "better-sqlite3": false, "hnswlib-node": false },
    }),
  );
  const install = npm(["install", "--prefer-offline", "--no-audit", "--no-fund"], consumer);
  installLog = `${install.stdout}\n${install.stderr}`;
  assert.equal(install.status, 0, `npm install <tarball> failed:\n${installLog}`);
});

test("npm install <tarball> succeeds offline with no .npmrc: onnxruntime-node's CUDA download is skipped", () => {
  assert.ok(!existsSync(join(consumer, ".npmrc")));
  assert.doesNotMatch(installLog, /Downloading https?:/);
  const bin = join(
    consumer,
    "node_modules/onnxruntime-node/bin/napi-v6",
    `${process.platform}/${process.arch}`,
  );
  assert.ok(existsSync(bin), "onnxruntime-node's CPU binaries are installed");
  if (`${process.platform}/${process.arch}` === "linux/x64") {
    // The stand-ins that tell onnxruntime-node's script there is nothing to fetch.
    assert.equal(statSync(join(bin, "libonnxruntime_providers_cuda.so")).size, 0);
  }
});

test("the installed package imports, encodes with a fixture model exactly as the repo does, and its bin runs", async () => {
  const script = join(consumer, "encode.mjs");
  writeFileSync(
    script,
    [
      `import { ColBERT } from "tslate";`,
      `const m = await ColBERT.fromPretrained(${JSON.stringify(model)}, { threads: 1 });`,
      `const [e] = await m.encode(["late interaction, token by token."], { isQuery: false });`,
      `await m.dispose();`,
      `process.stdout.write(JSON.stringify({ rows: e.rows, cols: e.cols, data: Array.from(e.data) }));`,
    ].join("\n"),
  );
  const r = spawnSync(process.execPath, [script], {
    cwd: consumer,
    encoding: "utf8",
    env: cleanEnv(),
  });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { rows: number; cols: number; data: number[] };
  const m = await ColBERT.fromPretrained(model, { threads: 1 });
  const [expected] = await m.encode(["late interaction, token by token."], { isQuery: false });
  await m.dispose();
  assert.equal(got.rows, expected.rows);
  assert.equal(got.cols, expected.cols);
  assert.deepEqual(Float32Array.from(got.data), expected.data);

  const version = spawnSync(join(consumer, "node_modules/.bin/tslate"), ["--version"], {
    encoding: "utf8",
    env: cleanEnv(),
  });
  assert.equal(version.status, 0, version.stderr);
  const { version: ours } = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as {
    version: string;
  };
  assert.equal(version.stdout.trim(), ours);
});

test("a TypeScript consumer type-checks with skipLibCheck false (no errors from our exported types)", () => {
  writeFileSync(
    join(consumer, "index.ts"),
    [
      `import { ColBERT, PLAID, Retriever, type Matrix } from "tslate";`,
      `import { buildProgram } from "tslate/cli";`,
      `const options = { isQuery: false } as const;`,
      `export async function run(dir: string): Promise<Matrix[]> {`,
      `  const model = await ColBERT.fromPretrained(dir);`,
      `  const tokenizer = model.tokenizer;`,
      `  tokenizer.tokenize(["a"]);`,
      `  const index = await PLAID.create("idx", { dim: model.embeddingDim });`,
      `  void new Retriever(index);`,
      `  void buildProgram().name();`,
      `  return model.encode(["a"], options);`,
      `}`,
    ].join("\n"),
  );
  writeFileSync(
    join(consumer, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        types: ["node"],
        typeRoots: [join(repo, "node_modules/@types")],
      },
      files: ["index.ts"],
    }),
  );
  const tsc = spawnSync(
    process.execPath,
    [join(repo, "node_modules/typescript/bin/tsc"), "-p", consumer],
    {
      cwd: consumer,
      encoding: "utf8",
    },
  );
  assert.equal(tsc.status, 0, `tsc errors:\n${tsc.stdout}${tsc.stderr}`);
});
