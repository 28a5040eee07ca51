/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium (never a downloaded
 * browser) driven by playwright-core, a fresh profile per run, and the demo's static server
 * on 127.0.0.1 (examples/web/serve.mjs: cross-origin-isolation headers for WASM threads).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
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

/**
 * Starts examples/web/serve.mjs (the demo's server: the repo's pages and bundle, onnxruntime-web,
 * a local stand-in for the hub over ../shared/fixtures) on a free port of 127.0.0.1.
 */
export async function serveRepo(
  extraArgs: string[] = [],
): Promise<{ url: string; close: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [join(repoRoot(), "examples", "web", "serve.mjs"), "--port", "0", ...extraArgs],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = "";
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolveUrl(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`examples/web/serve.mjs exited (${code})`)));
  });
  return {
    url,
    close: () =>
      new Promise((r) => {
        if (child.exitCode !== null) return r();
        child.once("exit", () => r());
        child.kill();
      }),
  };
}

export interface Browser {
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
