import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError } from "../util/errors.js";

/**
 * The huggingface_hub cache layout, shared with Python tools:
 *
 *   <cache>/models--<org>--<name>/
 *     blobs/<etag>                      file contents, named by ETag (sha256 for LFS files)
 *     snapshots/<commit>/<path>         symlinks to ../../blobs/<etag> (deeper paths: more ../)
 *     refs/<revision>                   the commit a branch or tag pointed to when last resolved
 *
 * <cache> = cacheDir option, else $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
 */
export function hubCacheDir(cacheDir?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (cacheDir) return cacheDir;
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  const home = env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "huggingface");
  return join(home, "hub");
}

const REPO_ID = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** True when `id` has the shape of a hub model id ("org/name" or a legacy "name"). */
export function isRepoId(id: string): boolean {
  return (
    typeof id === "string" &&
    id.length <= 96 &&
    REPO_ID.test(id) &&
    !id.includes("..") &&
    !id.includes("--") &&
    !id.endsWith(".git")
  );
}

export function checkRepoId(id: string): void {
  if (!isRepoId(id)) {
    throw new InvalidArgumentError(
      `"${id}" is not a Hugging Face model id: expected "org/name" (letters, digits, ".", "_", "-"; no "--" or ".."), or an existing local directory`,
    );
  }
}

/** `models--org--name`, the repository's folder inside the cache. */
export function repoFolderName(repoId: string): string {
  return `models--${repoId.split("/").join("--")}`;
}

const COMMIT = /^[0-9a-f]{40}$/;

export function isCommitHash(revision: string): boolean {
  return COMMIT.test(revision);
}

/**
 * The cached snapshot directory for a revision, or undefined: a commit hash is looked up
 * directly, a branch or tag through refs/<revision>.
 */
export function cachedSnapshot(repoDir: string, revision: string): string | undefined {
  let commit = revision;
  if (!isCommitHash(revision)) {
    const ref = join(repoDir, "refs", revision);
    if (!existsSync(ref)) return undefined;
    commit = readFileSync(ref, "utf8").trim();
    if (!isCommitHash(commit)) return undefined;
  }
  const dir = join(repoDir, "snapshots", commit);
  return existsSync(dir) && statSync(dir).isDirectory() ? dir : undefined;
}

/** Shell-style pattern as huggingface_hub's allow_patterns (fnmatch): `*` also matches "/". */
export function matchesPattern(path: string, pattern: string): boolean {
  let re = "^";
  for (const ch of pattern) {
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else re += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`${re}$`).test(path);
}
