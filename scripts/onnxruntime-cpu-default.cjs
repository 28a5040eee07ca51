#!/usr/bin/env node
// tslate's preinstall: make "CPU only" the default for onnxruntime-node's CUDA step.
//
// onnxruntime-node (1.18+) runs a postinstall that, on linux/x64 and with no flag set, downloads
// its CUDA/TensorRT execution-provider libraries from NuGet. tslate runs on the CPU (its
// binaries ship inside the npm package), so that download is never used, and offline it fails
// the whole `npm install tslate`. npm gives a dependency no way to pass a flag to another
// dependency's script, but the script skips the download when the files it would fetch are
// already present, and npm runs every package's preinstall before any package's postinstall.
// So this writes empty stand-ins for those files (the list read from onnxruntime-node's own
// install metadata) when none of them exist yet.
//
// An explicit choice always wins: with ONNXRUNTIME_NODE_INSTALL / --onnxruntime-node-install
// (or the older *_CUDA variants) set, this does nothing, and onnxruntime-node's script then
// installs (or skips) exactly as asked, overwriting the stand-ins; so does a later
// `npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12`.
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

function main() {
  const explicit = [
    "ONNXRUNTIME_NODE_INSTALL",
    "ONNXRUNTIME_NODE_INSTALL_CUDA",
    "npm_config_onnxruntime_node_install",
    "npm_config_onnxruntime_node_install_cuda",
  ].some((name) => process.env[name] !== undefined && process.env[name] !== "");
  if (explicit) return;
  // Installing in a clone of tslate itself: package.json's allowScripts already denies
  // onnxruntime-node's script there, leave its folder alone.
  const ownPackageJson = process.env.npm_package_json;
  const localPrefix = process.env.npm_config_local_prefix;
  if (ownPackageJson && localPrefix && path.dirname(ownPackageJson) === path.resolve(localPrefix)) return;
  let root;
  try {
    root = path.dirname(require.resolve("onnxruntime-node/package.json", { paths: [__dirname] }));
  } catch {
    return; // not installed next to us (yet): nothing to do
  }
  let metadata;
  try {
    metadata = require(path.join(root, "script", "install-metadata.js"));
  } catch {
    return; // a version without the install step
  }
  const platform = `${os.platform()}/${os.arch()}`;
  const names = metadata.requirements?.[platform] ?? [];
  const binFolder = path.join(root, "bin", "napi-v6", platform);
  const files = [];
  for (const name of names) {
    const manifest = metadata.manifests?.[`${platform}:${name}`] ?? {};
    for (const file of Object.keys(manifest)) files.push(path.join(binFolder, file));
  }
  // Some present means someone installed them: leave everything alone.
  if (files.length === 0 || files.some((file) => fs.existsSync(file))) return;
  fs.mkdirSync(binFolder, { recursive: true });
  for (const file of files) fs.writeFileSync(file, "");
  process.stdout.write(
    `tslate: onnxruntime-node will use the CPU (its CUDA download skipped; set ONNXRUNTIME_NODE_INSTALL=cuda12 to get it)\n`,
  );
}

try {
  main();
} catch (err) {
  // Never fail the install over this: the worst case is onnxruntime-node's own default.
  process.stdout.write(`tslate: could not set onnxruntime-node's CPU default (${err?.message ?? err})\n`);
}
