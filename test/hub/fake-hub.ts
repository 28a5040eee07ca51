import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

/**
 * A local stand-in for the Hugging Face hub, serving a fixture directory the way the hub does:
 *   GET  /api/models/<repo>/revision/<rev>   → { sha, siblings: [{ rfilename }] }
 *   HEAD/GET /<repo>/resolve/<rev>/<file>    → small files: 200, ETag = git blob sha1;
 *        *.safetensors (LFS): 302 to the CDN server, X-Linked-Etag = sha256, X-Linked-Size
 *   GET  <cdn>/blobs/<sha256>                 → the bytes, with Range support (206)
 * Every hub answer carries X-Repo-Commit. Errors carry X-Error-Code like the hub's.
 */
export const SHA_MAIN = "1111111111111111111111111111111111111111";
export const SHA_V1 = "2222222222222222222222222222222222222222";

export interface FakeHubOptions {
  /** Directory served as repository "org/tiny". */
  dir: string;
  /** When set, the API and resolve URLs answer 401 unless `Authorization: Bearer <token>`. */
  token?: string;
  /** Files whose first CDN download is cut after half of the bytes (connection destroyed). */
  dropFirst?: string[];
  /** Files whose every CDN download is cut after half of the requested bytes. */
  dropAlways?: string[];
  /** Files the CDN serves with their first byte flipped (right size, wrong sha256). */
  corrupt?: string[];
}

export interface LoggedRequest {
  server: "hub" | "cdn";
  method: string;
  url: string;
  range?: string;
  authorization?: string;
  acceptEncoding?: string;
}

export interface FakeHub {
  endpoint: string;
  requests: LoggedRequest[];
  files: Map<string, Buffer>;
  close(): Promise<void>;
}

function listFiles(dir: string, prefix = ""): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? listFiles(p, `${prefix}${name}/`) : [`${prefix}${name}`];
  });
}

function gitBlobSha(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function startFakeHub(opts: FakeHubOptions): Promise<FakeHub> {
  const files = new Map<string, Buffer>();
  for (const f of listFiles(opts.dir)) files.set(f, readFileSync(join(opts.dir, f)));
  // Files a real repo has that a ColBERT download must skip.
  files.set("pytorch_model.bin", Buffer.from("not needed"));
  files.set("onnx/model.onnx", Buffer.from("not needed either"));
  files.set("README.md", Buffer.from("# tiny"));
  const bySha256 = new Map<string, { name: string; content: Buffer }>();
  for (const [name, content] of files) {
    bySha256.set(createHash("sha256").update(content).digest("hex"), { name, content });
  }
  const revisions: Record<string, string> = {
    main: SHA_MAIN,
    v1: SHA_V1,
    [SHA_MAIN]: SHA_MAIN,
    [SHA_V1]: SHA_V1,
  };
  // Revision v1 is an older commit without vocab.txt.
  const filesAt = (sha: string) =>
    [...files.keys()].filter((f) => sha === SHA_MAIN || f !== "vocab.txt");
  const requests: LoggedRequest[] = [];
  const dropped = new Set<string>();

  const log = (server: "hub" | "cdn", req: IncomingMessage) =>
    requests.push({
      server,
      method: req.method ?? "",
      url: req.url ?? "",
      range: req.headers.range,
      authorization: req.headers.authorization,
      acceptEncoding: req.headers["accept-encoding"],
    });
  const fail = (res: ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, {
      "x-error-code": code,
      "x-error-message": message,
      "content-type": "application/json",
    });
    res.end(JSON.stringify({ error: message }));
  };

  const cdn = createServer((req, res) => {
    log("cdn", req);
    const sha = (req.url ?? "").replace(/^\/blobs\//, "");
    const entry = bySha256.get(sha);
    if (!entry) return fail(res, 404, "", "no such blob");
    const total = entry.content.length;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (m) start = Number(m[1]);
    if (start >= total && m) {
      res.writeHead(416, { "content-range": `bytes */${total}` });
      return res.end();
    }
    let body = entry.content.subarray(start);
    if (opts.corrupt?.includes(entry.name) && start === 0) {
      body = Buffer.from(body);
      body[0] ^= 0xff;
    }
    res.writeHead(m ? 206 : 200, {
      "content-length": body.length,
      "accept-ranges": "bytes",
      ...(m ? { "content-range": `bytes ${start}-${total - 1}/${total}` } : {}),
    });
    const drop =
      opts.dropAlways?.includes(entry.name) ||
      (opts.dropFirst?.includes(entry.name) && !dropped.has(entry.name));
    if (drop && body.length > 1) {
      dropped.add(entry.name);
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => {
        setTimeout(() => res.socket?.destroy(), 20);
      });
      return;
    }
    res.end(body);
  });
  const cdnUrl = await listen(cdn);

  const hub = createServer((req, res) => {
    log("hub", req);
    const url = decodeURIComponent((req.url ?? "").split("?")[0]);
    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) {
      return fail(res, 401, "", "Invalid credentials in Authorization header");
    }
    const api = /^\/api\/models\/(.+?)\/revision\/(.+)$/.exec(url);
    const resolve = /^\/(.+?\/.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    const repo = api?.[1] ?? resolve?.[1];
    if (repo === "gated/tiny") {
      return fail(
        res,
        403,
        "GatedRepo",
        "Access to model gated/tiny is restricted. You must have access to it and be authenticated to access it.",
      );
    }
    if (repo !== "org/tiny") return fail(res, 404, "RepoNotFound", "Repository not found");
    const sha = revisions[api ? api[2] : (resolve?.[2] ?? "")];
    if (!sha) return fail(res, 404, "RevisionNotFound", "Invalid rev id");
    if (api) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(
        JSON.stringify({
          id: repo,
          sha,
          siblings: filesAt(sha).map((rfilename) => ({ rfilename })),
        }),
      );
    }
    const file = resolve?.[3] as string;
    const content = filesAt(sha).includes(file) ? files.get(file) : undefined;
    if (!content) return fail(res, 404, "EntryNotFound", `${file} does not exist on "${sha}"`);
    const common = { "x-repo-commit": sha, etag: `"${gitBlobSha(content)}"` };
    if (file.endsWith(".safetensors")) {
      const sha256 = createHash("sha256").update(content).digest("hex");
      res.writeHead(302, {
        ...common,
        "x-linked-etag": `"${sha256}"`,
        "x-linked-size": String(content.length),
        location: `${cdnUrl}/blobs/${sha256}`,
        "content-length": "0",
      });
      return res.end();
    }
    res.writeHead(200, { ...common, "content-length": content.length });
    res.end(req.method === "HEAD" ? undefined : content);
  });
  const endpoint = await listen(hub);

  return {
    endpoint,
    requests,
    files,
    async close() {
      hub.closeAllConnections();
      cdn.closeAllConnections();
      await Promise.all([new Promise((ok) => hub.close(ok)), new Promise((ok) => cdn.close(ok))]);
    },
  };
}
