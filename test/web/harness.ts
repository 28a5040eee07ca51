/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium (never a downloaded
 * browser) driven by playwright-core, a fresh profile per run, and a static server on
 * 127.0.0.1 that serves the repository (the web bundle, onnxruntime-web's files, test pages)
 * with the cross-origin-isolation headers that WebAssembly threads need.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

export const CHROMIUM = process.env.TSLATE_CHROMIUM ?? "/usr/bin/chromium";

export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The repository root: the nearest folder above this file with a package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("no package.json above the test");
    dir = up;
  }
  return dir;
}

/**
 * Why the browser tests cannot run here, or null when they can. In CI (CI=true) a missing
 * browser is a failure, not a skip: .ci/run installs it.
 */
export function browserMissing(): string | null {
  if (existsSync(CHROMIUM)) return null;
  return `no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set TSLATE_CHROMIUM`;
}

const TYPES: Record<string, string> = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".txt": "text/plain",
  ".png": "image/png",
};

/** Serves /dist, /test/web/page, /examples and /ort (onnxruntime-web's dist) from the repo. */
export async function serveRepo(): Promise<{ url: string; close: () => Promise<void> }> {
  const root = repoRoot();
  const mounts: [string, string][] = [
    ["/ort/", join(root, "node_modules", "onnxruntime-web", "dist")],
    ["/dist/", join(root, "dist")],
    ["/page/", join(root, "test", "web", "page")],
    ["/examples/", join(root, "examples")],
  ];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const mount = mounts.find(([prefix]) => path.startsWith(prefix));
    const file = mount ? normalize(join(mount[1], path.slice(mount[0].length))) : "";
    if (!mount || !file.startsWith(mount[1]) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
      "cache-control": "no-store",
    });
    res.end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface Browser {
  // biome-ignore lint/suspicious/noExplicitAny: playwright's Page, kept untyped here
  newPage(): Promise<any>;
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh profile (removed on close). */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "tslate-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  return {
    newPage: () => context.newPage(),
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
