#!/usr/bin/env node
// Serves the tslate/web demo (and the browser tests' pages) on 127.0.0.1:
//   node examples/web/serve.mjs [--port 8080]      then open http://127.0.0.1:8080/
// Routes: / → examples/web/, /dist/ → the built bundle (npm run build:web), /ort/ →
// onnxruntime-web's files, /page/ → test/web/page/, /hub/fixtures/<name>/resolve/<rev>/<file>
// → ../shared/fixtures/<name>/<file> (a local stand-in for the Hugging Face hub), and
// /corpus.json → the first 300 SciFact abstracts of ../shared/data. Every response carries
// the cross-origin-isolation headers that WebAssembly threads need. Prints the URL.
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SHARED = resolve(ROOT, "..", "shared");
const CORPUS_DOCS = 300;

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".txt": "text/plain",
  ".css": "text/css",
  ".png": "image/png",
};

const MOUNTS = [
  ["/ort/", join(ROOT, "node_modules", "onnxruntime-web", "dist")],
  ["/dist/", join(ROOT, "dist")],
  ["/page/", join(ROOT, "test", "web", "page")],
  ["/", join(ROOT, "examples", "web")],
];

let corpus = null;
function corpusJson() {
  if (corpus) return corpus;
  const lines = readFileSync(join(SHARED, "data", "scifact", "corpus.jsonl"), "utf8").split("\n");
  const docs = lines
    .filter((l) => l.trim())
    .slice(0, CORPUS_DOCS)
    .map((l) => {
      const d = JSON.parse(l);
      return { id: d._id, title: d.title, text: d.text };
    });
  corpus = Buffer.from(JSON.stringify(docs));
  return corpus;
}

// --hub-dir DIR: also serve DIR as the hub repository "local/model" (bench/web.ts).
const hubDirAt = process.argv.indexOf("--hub-dir");
const HUB_DIR = hubDirAt >= 0 ? resolve(process.argv[hubDirAt + 1]) : null;

/** The file a request path names, or null. */
function fileFor(path) {
  const hub = /^\/hub\/fixtures\/([\w.-]+)\/resolve\/[^/]+\/(.+)$/.exec(path);
  if (hub) return normalize(join(SHARED, "fixtures", hub[1], hub[2]));
  const local = /^\/hub\/local\/model\/resolve\/[^/]+\/(.+)$/.exec(path);
  if (local && HUB_DIR) {
    const file = normalize(join(HUB_DIR, local[1]));
    return file.startsWith(HUB_DIR) ? file : null;
  }
  for (const [prefix, dir] of MOUNTS) {
    if (!path.startsWith(prefix)) continue;
    const rest = path.slice(prefix.length) || "index.html";
    const file = normalize(join(dir, rest));
    return file.startsWith(dir) ? file : null;
  }
  return null;
}

export function startServer(port = 0) {
  const server = createServer((req, res) => {
    const headers = {
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
      "cache-control": "no-store",
    };
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    try {
      if (path === "/corpus.json") {
        res.writeHead(200, { ...headers, "content-type": TYPES[".json"] }).end(corpusJson());
        return;
      }
      const file = fileFor(path);
      if (!file || !existsSync(file) || !statSync(file).isFile()) {
        res.writeHead(404, headers).end("not found");
        return;
      }
      const type = TYPES[extname(file)] ?? "application/octet-stream";
      res.writeHead(200, { ...headers, "content-type": type }).end(readFileSync(file));
    } catch (e) {
      res.writeHead(500, headers).end(String(e));
    }
  });
  return new Promise((resolveUrl) => {
    server.listen(port, "127.0.0.1", () => {
      resolveUrl({ url: `http://127.0.0.1:${server.address().port}`, server });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--port");
  const { url } = await startServer(i >= 0 ? Number(process.argv[i + 1]) : 8080);
  console.log(`tslate/web demo: ${url}/`);
}
