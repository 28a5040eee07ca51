import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { type RunningServer, type ServeOptions, startServer } from "../../src/server/index.js";

export interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

/** Calls the server: JSON in (a string body is sent as is), JSON (or text) out. */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    headers: body !== undefined ? { "content-type": "application/json", ...headers } : headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (Swagger UI's HTML)
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A server on a free loopback port over a temporary index dir, closed (and removed) after the file's tests. */
export async function testServer(
  options: ServeOptions = {},
): Promise<RunningServer & { dir: string }> {
  const dir = options.indexDir ?? mkdtempSync(join(tmpdir(), "tslate-serve-test-"));
  const server = await startServer({
    port: 0,
    searchWorkers: 1,
    logLevel: "silent",
    batchWindowMs: 5,
    ...options,
    indexDir: dir,
  });
  after(async () => {
    await server.close();
    if (!options.indexDir) rmSync(dir, { recursive: true, force: true });
  });
  return Object.assign(server, { dir });
}

/** Deterministic pseudo-random unit-norm token vectors. */
export function randomDocs(n: number, dim: number, seed: number, rows = 4): number[][][] {
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  return Array.from({ length: n }, () =>
    Array.from({ length: rows }, () => {
      const v = Array.from({ length: dim }, rnd);
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm);
    }),
  );
}

/** Base64 of little-endian float32 values. */
export function b64(values: number[]): string {
  return Buffer.from(new Float32Array(values).buffer).toString("base64");
}
