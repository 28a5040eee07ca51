import { createHash } from "node:crypto";
import {
  closeSync,
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join, relative, resolve as resolvePath, sep } from "node:path";
import { fsyncDir, writeFileAtomic } from "../util/atomic.js";
import { FileFormatError, HubError, InvalidArgumentError } from "../util/errors.js";
import {
  cachedSnapshot,
  checkRepoId,
  hubCacheDir,
  isCommitHash,
  isRepoId,
  matchesPattern,
  repoFolderName,
} from "./cache.js";

/**
 * Files a ColBERT model needs: configs (incl. 1_Dense/config.json), tokenizer files, weights
 * as safetensors (shards and their index too), Stanford ColBERT's artifact.metadata.
 * PyTorch .bin, ONNX, TF/Flax weights, READMEs and images are skipped.
 */
export const DEFAULT_ALLOW_PATTERNS: readonly string[] = Object.freeze([
  "*.json",
  "*.safetensors",
  "*.txt",
  "*.model",
  "artifact.metadata",
]);

/** Progress of one file; `bytes` grows to `totalBytes`. */
export interface DownloadProgress {
  file: string;
  fileIndex: number;
  fileCount: number;
  bytes: number;
  totalBytes: number;
}

export interface HubOptions {
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** Cache root (default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Access token for private or gated repos (default $HF_TOKEN); sent as `Authorization: Bearer`. */
  token?: string;
  /** Hub URL (default $HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
  /** fnmatch patterns of the files to fetch (default DEFAULT_ALLOW_PATTERNS). */
  allowPatterns?: readonly string[];
  /** Use only the cache, never the network (default: $HF_HUB_OFFLINE is 1/true/yes/on). */
  offline?: boolean;
  /** Called as bytes arrive. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Abort a request when the server sends nothing for this long (default 60 s). */
  timeoutMs?: number;
  /** Attempts per file when the connection drops mid-file; each resumes with a Range request (default 5). */
  maxAttempts?: number;
}

interface Resolved {
  repoId: string;
  revision: string;
  cache: string;
  repoDir: string;
  token: string | undefined;
  endpoint: string;
  offline: boolean;
  timeoutMs: number;
  maxAttempts: number;
}

function envFlag(v: string | undefined): boolean {
  return v !== undefined && ["1", "true", "yes", "on"].includes(v.trim().toLowerCase());
}

function resolveOptions(repoId: string, o: HubOptions): Resolved {
  checkRepoId(repoId);
  const revision = o.revision ?? "main";
  if (
    typeof revision !== "string" ||
    !/^[A-Za-z0-9._\-/]+$/.test(revision) ||
    revision.includes("..") ||
    revision.startsWith("/")
  ) {
    throw new InvalidArgumentError(
      `revision "${revision}" is not a branch, tag or commit name (letters, digits, ".", "_", "-", "/")`,
    );
  }
  const cache = hubCacheDir(o.cacheDir);
  const endpoint = (o.endpoint || process.env.HF_ENDPOINT || "https://huggingface.co").replace(
    /\/+$/,
    "",
  );
  const token = o.token ?? (process.env.HF_TOKEN || undefined);
  return {
    repoId,
    revision,
    cache,
    repoDir: join(cache, repoFolderName(repoId)),
    token,
    endpoint,
    offline: o.offline ?? envFlag(process.env.HF_HUB_OFFLINE),
    timeoutMs: o.timeoutMs ?? 60_000,
    maxAttempts: o.maxAttempts ?? 5,
  };
}

/**
 * Downloads the files of a model repository into the huggingface_hub cache (see cache.ts)
 * and returns the snapshot directory (`.../snapshots/<commit>`), which looks like a local
 * model directory. Files already in the cache are not fetched again; a partial blob
 * (`blobs/<etag>.incomplete`) is resumed with a Range request; sizes are verified before the
 * blob is renamed into place. Offline (option or HF_HUB_OFFLINE) the cached snapshot of the
 * revision is returned; if the hub cannot be reached online, the cached snapshot is used too.
 */
export async function snapshotDownload(repoId: string, options: HubOptions = {}): Promise<string> {
  const r = resolveOptions(repoId, options);
  if (r.offline) return offlineSnapshot(r, "offline mode (HF_HUB_OFFLINE or offline: true)");

  let info: { sha: string; files: string[] };
  try {
    info = await repoInfo(r);
  } catch (err) {
    if (err instanceof NetworkError) {
      const cached = cachedSnapshot(r.repoDir, r.revision);
      if (cached) return cached;
      throw new HubError(
        `cannot reach ${r.endpoint} to download ${r.repoId}@${r.revision} (${err.message}) and it is not in the cache ${r.cache}. Check the network or HF_ENDPOINT; to work without network, download once, then set HF_HUB_OFFLINE=1`,
        { cause: err.cause },
      );
    }
    throw err;
  }

  const patterns = options.allowPatterns ?? DEFAULT_ALLOW_PATTERNS;
  const files = info.files.filter((f) => patterns.some((p) => matchesPattern(f, p)));
  const snapshotDir = join(r.repoDir, "snapshots", info.sha);
  mkdirSync(snapshotDir, { recursive: true });
  mkdirSync(join(r.repoDir, "blobs"), { recursive: true });
  for (const [i, file] of files.entries()) {
    const target = join(snapshotDir, ...file.split("/"));
    if (!resolvePath(target).startsWith(resolvePath(snapshotDir) + sep)) {
      throw new HubError(`the hub listed a file outside the repository: "${file}"`);
    }
    if (existsSync(target)) continue; // existsSync follows the symlink: the blob is there
    const blob = await downloadBlob(r, info.sha, file, (bytes, totalBytes) =>
      options.onProgress?.({ file, fileIndex: i, fileCount: files.length, bytes, totalBytes }),
    );
    linkIntoSnapshot(blob, target);
  }
  // The ref is written last, so offline mode never picks a half-downloaded snapshot.
  if (r.revision !== info.sha) {
    const ref = join(r.repoDir, "refs", r.revision);
    mkdirSync(dirname(ref), { recursive: true });
    writeFileAtomic(ref, info.sha);
  }
  return snapshotDir;
}

function offlineSnapshot(r: Resolved, why: string): string {
  const cached = cachedSnapshot(r.repoDir, r.revision);
  if (cached) return cached;
  throw new HubError(
    `${why}: ${r.repoId}@${r.revision} is not in the cache ${r.cache} (no ${
      isCommitHash(r.revision) ? `snapshots/${r.revision}` : `refs/${r.revision}`
    } under ${repoFolderName(r.repoId)}). Download it once with network access (unset HF_HUB_OFFLINE), or point cacheDir/HF_HOME at a cache that has it`,
  );
}

/** The network could not be used at all (DNS, refused connection, reset, timeout). */
class NetworkError extends Error {}

function authHeaders(r: Resolved, url: string): Record<string, string> {
  // Never send the token to another host (the CDN a resolve URL redirects to).
  if (!r.token || new URL(url).origin !== new URL(r.endpoint).origin) return {};
  return { authorization: `Bearer ${r.token}` };
}

async function request(
  r: Resolved,
  url: string,
  init: { method?: string; headers?: Record<string, string>; redirect?: "follow" | "manual" },
): Promise<{
  res: Response;
  controller: AbortController;
  timer: { reset(): void; clear(): void };
}> {
  const controller = new AbortController();
  let handle: NodeJS.Timeout | undefined;
  const timer = {
    reset() {
      clearTimeout(handle);
      handle = setTimeout(
        () => controller.abort(new Error(`no data for ${r.timeoutMs} ms`)),
        r.timeoutMs,
      );
      handle.unref?.();
    },
    clear() {
      clearTimeout(handle);
    },
  };
  timer.reset();
  try {
    const res = await fetch(url, {
      method: init.method ?? "GET",
      // identity: sizes must be the stored bytes (huggingface_hub asks the same).
      headers: {
        "user-agent": "tslate",
        "accept-encoding": "identity",
        ...authHeaders(r, url),
        ...init.headers,
      },
      redirect: init.redirect ?? "follow",
      signal: controller.signal,
    });
    return { res, controller, timer };
  } catch (err) {
    timer.clear();
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new NetworkError(`${cause?.code ?? cause?.message ?? (err as Error).message}`, {
      cause: err,
    });
  }
}

/** Turns an HTTP error status into a HubError that says what to do. */
async function statusError(r: Resolved, res: Response, what: string): Promise<HubError> {
  const code = res.headers.get("x-error-code") ?? "";
  const serverMessage = (res.headers.get("x-error-message") ?? "").trim();
  const detail = serverMessage ? ` (server: ${serverMessage})` : "";
  await res.body?.cancel().catch(() => {});
  const repo = `${r.repoId}@${r.revision}`;
  if (res.status === 401) {
    return new HubError(
      `${what}: 401 Unauthorized for ${repo}${detail}. The repository is private or gated, or does not exist, or the token is invalid. ${
        r.token
          ? "Check that HF_TOKEN (or the token option) is valid and has access"
          : "Set HF_TOKEN (or pass token) to an access token that can read it"
      }`,
    );
  }
  if (res.status === 403) {
    return new HubError(
      `${what}: 403 Forbidden for ${repo}${detail}. The repository is gated: accept its conditions on the model page with your account, and set HF_TOKEN to a token of that account`,
    );
  }
  if (res.status === 404) {
    if (code === "RevisionNotFound") {
      return new HubError(
        `${what}: revision "${r.revision}" not found in ${r.repoId}${detail}. Use an existing branch, tag or commit`,
      );
    }
    if (code === "EntryNotFound") {
      return new HubError(`${what}: file not found in ${repo}${detail}`);
    }
    return new HubError(
      `${what}: 404 Not Found: repository ${r.repoId} or revision "${r.revision}" does not exist at ${r.endpoint}${detail}. Check the spelling; private repositories also need HF_TOKEN`,
    );
  }
  return new HubError(`${what}: HTTP ${res.status} ${res.statusText} for ${repo}${detail}`);
}

async function repoInfo(r: Resolved): Promise<{ sha: string; files: string[] }> {
  const url = `${r.endpoint}/api/models/${r.repoId}/revision/${encodeURIComponent(r.revision)}`;
  const { res, timer } = await request(r, url, {});
  try {
    if (!res.ok) throw await statusError(r, res, `listing ${r.repoId}`);
    let body: { sha?: unknown; siblings?: { rfilename?: unknown }[] };
    try {
      body = (await res.json()) as typeof body;
    } catch (err) {
      if ((err as Error).name === "AbortError" || (err as Error).name === "TypeError") {
        throw new NetworkError(`reading ${url}: ${(err as Error).message}`, { cause: err });
      }
      throw new HubError(`${url} did not return JSON: ${(err as Error).message}`);
    }
    const sha = body?.sha;
    if (typeof sha !== "string" || !isCommitHash(sha) || !Array.isArray(body.siblings)) {
      throw new HubError(
        `${url} returned an unexpected answer (no 40-hex "sha" or no "siblings" list); is HF_ENDPOINT (${r.endpoint}) a Hugging Face hub?`,
      );
    }
    const files = body.siblings
      .map((s) => s?.rfilename)
      .filter((f): f is string => typeof f === "string" && f.length > 0);
    return { sha, files };
  } finally {
    timer.clear();
  }
}

interface FileMeta {
  etag: string;
  size: number;
  downloadUrl: string;
}

function cleanEtag(v: string | null): string | undefined {
  if (!v) return undefined;
  const e = v.replace(/^W\//, "").replace(/^"|"$/g, "");
  return /^[A-Za-z0-9._-]+$/.test(e) ? e : undefined;
}

/** HEAD on the resolve URL without following the CDN redirect, to read etag and size. */
async function fileMeta(r: Resolved, commit: string, file: string): Promise<FileMeta> {
  const encoded = file.split("/").map(encodeURIComponent).join("/");
  let url = `${r.endpoint}/${r.repoId}/resolve/${commit}/${encoded}`;
  for (let hop = 0; hop < 5; hop++) {
    const { res, timer } = await request(r, url, { method: "HEAD", redirect: "manual" });
    timer.clear();
    if (res.status >= 400) throw await statusError(r, res, `resolving ${file}`);
    const location = res.headers.get("location");
    const linkedEtag = cleanEtag(res.headers.get("x-linked-etag"));
    const etag = linkedEtag ?? cleanEtag(res.headers.get("etag"));
    const sizeHeader = res.headers.get("x-linked-size") ?? res.headers.get("content-length");
    const isRedirect = res.status >= 300 && res.status < 400 && location !== null;
    if (isRedirect && !linkedEtag) {
      url = new URL(location, url).toString(); // a renamed repo: follow and ask again
      continue;
    }
    const size = sizeHeader === null ? Number.NaN : Number(sizeHeader);
    if (!etag || !Number.isSafeInteger(size) || size < 0) {
      throw new HubError(
        `resolving ${file} of ${r.repoId}: the server sent no usable ETag/X-Linked-Etag or size (status ${res.status}); is HF_ENDPOINT (${r.endpoint}) a Hugging Face hub?`,
      );
    }
    return { etag, size, downloadUrl: isRedirect ? new URL(location, url).toString() : url };
  }
  throw new HubError(`resolving ${file} of ${r.repoId}: too many redirects`);
}

/** Downloads one file into blobs/<etag> (resuming a partial download) and returns its path. */
async function downloadBlob(
  r: Resolved,
  commit: string,
  file: string,
  progress: (bytes: number, total: number) => void,
): Promise<string> {
  const meta = await fileMeta(r, commit, file).catch((err) => {
    if (err instanceof NetworkError) {
      throw new HubError(
        `lost the connection to ${r.endpoint} while resolving ${file} of ${r.repoId} (${err.message}); rerun to continue, files already downloaded are kept`,
      );
    }
    throw err;
  });
  const blob = join(r.repoDir, "blobs", meta.etag);
  const complete = () => existsSync(blob) && statSync(blob).size === meta.size;
  if (complete()) return blob;
  // One writer per blob across processes: two appenders on one .incomplete would interleave.
  const release = await acquireLock(`${blob}.lock`);
  try {
    if (complete()) return blob; // another process finished it while we waited
    const partial = `${blob}.incomplete`;
    let lastError = "";
    for (let attempt = 0; attempt < r.maxAttempts; attempt++) {
      const have = existsSync(partial) ? statSync(partial).size : 0;
      if (have > meta.size) rmSync(partial);
      else if (have === meta.size) break;
      const start = have > meta.size ? 0 : have;
      try {
        await fetchInto(r, meta, partial, start, (b) => progress(b, meta.size));
      } catch (err) {
        if (!(err instanceof NetworkError)) throw err;
        lastError = err.message;
      }
    }
    const got = existsSync(partial) ? statSync(partial).size : 0;
    if (got !== meta.size) {
      throw new HubError(
        `truncated download of ${file} from ${r.repoId}: got ${got} of ${meta.size} bytes after ${r.maxAttempts} attempts${
          lastError ? ` (last error: ${lastError})` : ""
        }. The partial file ${partial} is kept; rerun to resume`,
      );
    }
    // LFS files are named by their sha256: check it (a resumed file could be a mix of versions).
    if (/^[0-9a-f]{64}$/.test(meta.etag)) {
      const digest = await sha256File(partial);
      if (digest !== meta.etag) {
        rmSync(partial, { force: true });
        throw new HubError(
          `checksum mismatch for ${file} from ${r.repoId}: sha256 ${digest}, expected ${meta.etag}. The corrupt download was deleted; rerun to download it again`,
        );
      }
    }
    renameSync(partial, blob);
    fsyncDir(dirname(blob));
    return blob;
  } finally {
    release();
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Longest wait for another live process's lock before giving up (30 min). */
const LOCK_WAIT_MS = 30 * 60_000;

/**
 * An exclusive lock file holding the owner's pid. A lock whose process is gone (crash) is
 * taken over; a live owner is waited for, up to LOCK_WAIT_MS.
 */
async function acquireLock(path: string): Promise<() => void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    if (lockIsStale(path)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new HubError(
        `${path} has been held by another download for ${LOCK_WAIT_MS / 60_000} min; if no other tslate process is downloading this model, delete the lock file`,
      );
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

function lockIsStale(path: string): boolean {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return false; // released meanwhile: just retry
  }
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) {
    // Being written right now, or garbage: stale once it is old.
    try {
      return Date.now() - statSync(path).mtimeMs > 10_000;
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

async function fetchInto(
  r: Resolved,
  meta: FileMeta,
  partial: string,
  start: number,
  progress: (bytes: number) => void,
): Promise<void> {
  const headers: Record<string, string> = start > 0 ? { range: `bytes=${start}-` } : {};
  const { res, timer } = await request(r, meta.downloadUrl, { headers });
  try {
    let offset = start;
    if (res.status === 416 && start > 0) {
      // Range not satisfiable: what we have is not a prefix the server recognises; restart.
      await res.body?.cancel().catch(() => {});
      rmSync(partial, { force: true });
      throw new NetworkError("range not satisfiable, restarting the file");
    }
    if (!res.ok) throw await statusError(r, res, `downloading ${meta.downloadUrl}`);
    if (res.status !== 206)
      offset = 0; // the server ignored the Range header: start over
    else if (!(res.headers.get("content-range") ?? "").startsWith(`bytes ${start}-`)) {
      await res.body?.cancel().catch(() => {});
      throw new HubError(
        `${meta.downloadUrl} answered a request for bytes ${start}- with Content-Range "${res.headers.get("content-range")}"`,
      );
    }
    const fh = await open(partial, offset === 0 ? "w" : "a");
    try {
      progress(offset);
      if (res.body) {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          timer.reset();
          if (offset + chunk.byteLength > meta.size) {
            throw new HubError(
              `${meta.downloadUrl} sent more than the announced ${meta.size} bytes; the ETag/size headers do not match the content`,
            );
          }
          await fh.write(chunk);
          offset += chunk.byteLength;
          progress(offset);
        }
      }
      await fh.sync();
    } catch (err) {
      if (err instanceof HubError) throw err;
      throw new NetworkError(`connection lost after ${offset} bytes: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      await fh.close();
    }
  } finally {
    timer.clear();
  }
}

/** snapshots/<commit>/<file> → relative symlink to the blob (a copy where symlinks fail). */
function linkIntoSnapshot(blob: string, target: string): void {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  try {
    symlinkSync(relative(dirname(target), blob), tmp);
  } catch {
    copyFileSync(blob, tmp);
  }
  renameSync(tmp, target);
}

/**
 * A model location: an existing local directory is returned as is; anything else that looks
 * like a hub id ("org/name") is downloaded (or taken from the cache) with snapshotDownload.
 */
export async function resolveModelPath(
  pathOrHubId: string,
  options: HubOptions = {},
): Promise<string> {
  if (typeof pathOrHubId !== "string" || pathOrHubId.length === 0) {
    throw new InvalidArgumentError(
      `a model must be a local directory or a hub id like "org/name", got ${JSON.stringify(pathOrHubId)}`,
    );
  }
  if (existsSync(pathOrHubId)) {
    if (!statSync(pathOrHubId).isDirectory()) {
      throw new FileFormatError(
        pathOrHubId,
        'is a file; a model is a directory (or a hub id like "org/name")',
      );
    }
    return resolvePath(pathOrHubId);
  }
  const looksLocal = /^(\.{1,2}[\\/]|[\\/]|~|[A-Za-z]:\\)/.test(pathOrHubId);
  if (looksLocal || !isRepoId(pathOrHubId)) {
    throw new FileFormatError(
      pathOrHubId,
      `no such directory, and not a hub id ("org/name"). Give an existing model directory or a Hugging Face model id`,
      { missing: true },
    );
  }
  return snapshotDownload(pathOrHubId, options);
}
