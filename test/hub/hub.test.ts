import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  DEFAULT_ALLOW_PATTERNS,
  hubCacheDir,
  resolveModelPath,
  snapshotDownload,
} from "../../src/hub/index.js";
import { HubError } from "../../src/util/errors.js";
import { sharedPath } from "../scores/helpers.js";
import { SHA_MAIN, SHA_V1, startFakeHub } from "./fake-hub.js";

const FIXTURE = sharedPath("fixtures/bert-tiny-colbert");
const tmpRoot = mkdtempSync(join(tmpdir(), "tslate-hub-"));
after(() => rmSync(tmpRoot, { recursive: true, force: true }));
let counter = 0;
const freshCache = () => join(tmpRoot, `cache${counter++}`);
const REPO_DIR = "models--org--tiny";

function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

/** Runs fn with environment variables set (undefined = unset), then restores them. */
async function withEnv<T>(
  vars: Record<string, string | undefined>,
  fn: () => Promise<T>,
): Promise<T> {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const CLEAN_ENV = {
  HF_TOKEN: undefined,
  HF_HUB_OFFLINE: undefined,
  HF_ENDPOINT: undefined,
  HF_HUB_CACHE: undefined,
  HF_HOME: undefined,
};

test("snapshotDownload lays out the cache like huggingface_hub and skips files a ColBERT does not need", async () => {
  const hub = await startFakeHub({ dir: FIXTURE });
  try {
    const cacheDir = freshCache();
    const progress: string[] = [];
    const snap = await withEnv(CLEAN_ENV, () =>
      snapshotDownload("org/tiny", {
        cacheDir,
        endpoint: hub.endpoint,
        onProgress: (p) => p.bytes === p.totalBytes && progress.push(p.file),
      }),
    );
    const repoDir = join(cacheDir, REPO_DIR);
    assert.equal(snap, join(repoDir, "snapshots", SHA_MAIN));
    assert.equal(readFileSync(join(repoDir, "refs", "main"), "utf8"), SHA_MAIN);
    for (const file of [
      "config.json",
      "tokenizer.json",
      "vocab.txt",
      "model.safetensors",
      "1_Dense/model.safetensors",
      "1_Dense/config.json",
      "modules.json",
      "added_tokens.json",
    ]) {
      const p = join(snap, file);
      assert.ok(lstatSync(p).isSymbolicLink(), `${file} is a symlink`);
      assert.deepEqual(readFileSync(p), readFileSync(join(FIXTURE, file)), `${file} content`);
    }
    // LFS files are stored under their sha256, small files under the git blob sha1.
    const weights = readFileSync(join(FIXTURE, "model.safetensors"));
    assert.equal(
      readlinkSync(join(snap, "model.safetensors")),
      join("..", "..", "blobs", sha256(weights)),
    );
    const dense = readFileSync(join(FIXTURE, "1_Dense/model.safetensors"));
    assert.equal(
      readlinkSync(join(snap, "1_Dense/model.safetensors")),
      join("..", "..", "..", "blobs", sha256(dense)),
    );
    for (const skipped of ["pytorch_model.bin", "onnx", "README.md"])
      assert.ok(!existsSync(join(snap, skipped)), skipped);
    assert.ok(!hub.requests.some((r) => /pytorch_model|onnx|README/.test(r.url)));
    assert.ok(readdirSync(join(repoDir, "blobs")).every((b) => !b.endsWith(".incomplete")));
    assert.ok(progress.includes("model.safetensors"));
    // Sizes are compared with stored bytes, so no transfer compression is accepted.
    assert.ok(hub.requests.every((r) => r.acceptEncoding === "identity"));

    // A second call only asks for the revision's commit: everything else is cached.
    const before = hub.requests.length;
    assert.equal(
      await withEnv(CLEAN_ENV, () =>
        snapshotDownload("org/tiny", { cacheDir, endpoint: hub.endpoint }),
      ),
      snap,
    );
    assert.deepEqual(
      hub.requests.slice(before).map((r) => r.url),
      ["/api/models/org/tiny/revision/main"],
    );

    // allowPatterns narrows the download.
    const jsonOnly = await withEnv(CLEAN_ENV, () =>
      snapshotDownload("org/tiny", {
        cacheDir: freshCache(),
        endpoint: hub.endpoint,
        allowPatterns: ["*.json"],
      }),
    );
    assert.ok(existsSync(join(jsonOnly, "1_Dense/config.json")));
    assert.ok(!existsSync(join(jsonOnly, "model.safetensors")));
    assert.ok(DEFAULT_ALLOW_PATTERNS.includes("*.safetensors"));
  } finally {
    await hub.close();
  }
});

test("revisions get their own ref and snapshot and share blobs; offline mode uses the cache only", async () => {
  const hub = await startFakeHub({ dir: FIXTURE });
  const cacheDir = freshCache();
  const repoDir = join(cacheDir, REPO_DIR);
  try {
    await withEnv(CLEAN_ENV, async () => {
      await snapshotDownload("org/tiny", { cacheDir, endpoint: hub.endpoint });
      const blobsAfterMain = readdirSync(join(repoDir, "blobs")).length;
      const v1 = await snapshotDownload("org/tiny", {
        cacheDir,
        endpoint: hub.endpoint,
        revision: "v1",
      });
      assert.equal(v1, join(repoDir, "snapshots", SHA_V1));
      assert.equal(readFileSync(join(repoDir, "refs", "v1"), "utf8"), SHA_V1);
      assert.ok(!existsSync(join(v1, "vocab.txt")), "v1 has no vocab.txt");
      assert.ok(existsSync(join(v1, "model.safetensors")));
      assert.equal(
        readdirSync(join(repoDir, "blobs")).length,
        blobsAfterMain,
        "same content, no new blob",
      );
      // A commit hash as revision writes no ref.
      const bySha = await snapshotDownload("org/tiny", {
        cacheDir,
        endpoint: hub.endpoint,
        revision: SHA_V1,
      });
      assert.equal(bySha, v1);
      assert.ok(!existsSync(join(repoDir, "refs", SHA_V1)));
    });
  } finally {
    await hub.close();
  }
  // The server is gone: offline mode must not touch the network.
  await withEnv({ ...CLEAN_ENV, HF_HUB_OFFLINE: "1" }, async () => {
    assert.equal(
      await snapshotDownload("org/tiny", { cacheDir, endpoint: hub.endpoint }),
      join(repoDir, "snapshots", SHA_MAIN),
    );
    assert.equal(
      await snapshotDownload("org/tiny", { cacheDir, endpoint: hub.endpoint, revision: "v1" }),
      join(repoDir, "snapshots", SHA_V1),
    );
    await assert.rejects(snapshotDownload("org/tiny", { cacheDir, revision: "v2" }), (e: Error) => {
      assert.ok(e instanceof HubError);
      assert.match(
        e.message,
        /offline mode.*org\/tiny@v2 is not in the cache.*refs\/v2.*HF_HUB_OFFLINE/,
      );
      return true;
    });
    await assert.rejects(
      snapshotDownload("other/model", { cacheDir }),
      /other\/model@main is not in the cache/,
    );
  });
  await assert.rejects(
    withEnv(CLEAN_ENV, () =>
      snapshotDownload("org/tiny", { cacheDir, offline: true, revision: "v2" }),
    ),
    HubError,
  );
});

test("a connection dropped mid-file is resumed with a Range request", async () => {
  const hub = await startFakeHub({ dir: FIXTURE, dropFirst: ["model.safetensors"] });
  try {
    const cacheDir = freshCache();
    const snap = await withEnv(CLEAN_ENV, () =>
      snapshotDownload("org/tiny", { cacheDir, endpoint: hub.endpoint }),
    );
    assert.deepEqual(
      readFileSync(join(snap, "model.safetensors")),
      readFileSync(join(FIXTURE, "model.safetensors")),
    );
    const cdn = hub.requests.filter(
      (r) =>
        r.server === "cdn" &&
        r.url.includes(sha256(readFileSync(join(FIXTURE, "model.safetensors")))),
    );
    assert.equal(cdn.length, 2);
    assert.equal(cdn[0].range, undefined);
    const m = /^bytes=(\d+)-$/.exec(cdn[1].range ?? "");
    assert.ok(m && Number(m[1]) > 0, `second request resumes: ${cdn[1].range}`);
  } finally {
    await hub.close();
  }
});

test("a partial blob from an earlier run is resumed; a download that keeps failing is a clear error", async () => {
  const content = readFileSync(join(FIXTURE, "model.safetensors"));
  const hub = await startFakeHub({ dir: FIXTURE });
  const cacheDir = freshCache();
  try {
    const blobs = join(cacheDir, REPO_DIR, "blobs");
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, `${sha256(content)}.incomplete`), content.subarray(0, 1000));
    const snap = await withEnv(CLEAN_ENV, () =>
      snapshotDownload("org/tiny", { cacheDir, endpoint: hub.endpoint }),
    );
    assert.deepEqual(readFileSync(join(snap, "model.safetensors")), content);
    assert.ok(hub.requests.some((r) => r.server === "cdn" && r.range === "bytes=1000-"));
  } finally {
    await hub.close();
  }

  const broken = await startFakeHub({ dir: FIXTURE, dropAlways: ["model.safetensors"] });
  try {
    const cache2 = freshCache();
    await assert.rejects(
      withEnv(CLEAN_ENV, () =>
        snapshotDownload("org/tiny", {
          cacheDir: cache2,
          endpoint: broken.endpoint,
          maxAttempts: 3,
        }),
      ),
      (e: Error) => {
        assert.ok(e instanceof HubError);
        assert.match(
          e.message,
          /truncated download of model\.safetensors.*got \d+ of 8234776 bytes after 3 attempts.*rerun to resume/,
        );
        return true;
      },
    );
    // Every attempt resumed where the previous one stopped, and the partial file is kept.
    const ranges = broken.requests
      .filter((r) => r.server === "cdn" && r.url.includes(sha256(content)))
      .map((r) => r.range);
    assert.equal(ranges.length, 3);
    assert.ok(existsSync(join(cache2, REPO_DIR, "blobs", `${sha256(content)}.incomplete`)));
    assert.ok(!existsSync(join(cache2, REPO_DIR, "blobs", sha256(content))));
    // No ref to a half-downloaded snapshot: offline mode reports it missing instead.
    assert.ok(!existsSync(join(cache2, REPO_DIR, "refs", "main")));
    await assert.rejects(
      snapshotDownload("org/tiny", { cacheDir: cache2, offline: true }),
      /not in the cache/,
    );
  } finally {
    await broken.close();
  }
});

test("a corrupt LFS file fails its sha256 check; a stale lock is taken over, a live one waited for", async () => {
  const content = readFileSync(join(FIXTURE, "model.safetensors"));
  const bad = await startFakeHub({ dir: FIXTURE, corrupt: ["model.safetensors"] });
  try {
    const cacheDir = freshCache();
    await assert.rejects(
      withEnv(CLEAN_ENV, () => snapshotDownload("org/tiny", { cacheDir, endpoint: bad.endpoint })),
      (e: Error) =>
        e instanceof HubError &&
        /checksum mismatch for model\.safetensors.*expected [0-9a-f]{64}.*deleted; rerun/.test(
          e.message,
        ),
    );
    const blobs = join(cacheDir, REPO_DIR, "blobs");
    assert.ok(
      !readdirSync(blobs).some((b) => b.startsWith(sha256(content))),
      "no blob, no partial, no lock left",
    );
  } finally {
    await bad.close();
  }

  const hub = await startFakeHub({ dir: FIXTURE });
  try {
    const cacheDir = freshCache();
    const blobs = join(cacheDir, REPO_DIR, "blobs");
    mkdirSync(blobs, { recursive: true });
    // A lock left by a process that no longer exists.
    writeFileSync(join(blobs, `${sha256(content)}.lock`), "999999999");
    // A lock held by a live process (this one), released a moment later.
    const dense = readFileSync(join(FIXTURE, "1_Dense/model.safetensors"));
    const liveLock = join(blobs, `${sha256(dense)}.lock`);
    writeFileSync(liveLock, String(process.pid));
    let released = false;
    setTimeout(() => {
      released = true;
      rmSync(liveLock);
    }, 300);
    const snap = await withEnv(CLEAN_ENV, () =>
      snapshotDownload("org/tiny", { cacheDir, endpoint: hub.endpoint }),
    );
    assert.ok(released, "waited for the live lock");
    assert.deepEqual(readFileSync(join(snap, "model.safetensors")), content);
    assert.deepEqual(readFileSync(join(snap, "1_Dense/model.safetensors")), dense);
    assert.ok(readdirSync(blobs).every((b) => !b.endsWith(".lock") && !b.endsWith(".incomplete")));
  } finally {
    await hub.close();
  }
});

test("tokens: 401 without one (with advice), Bearer with one, never sent to the CDN", async () => {
  const hub = await startFakeHub({ dir: FIXTURE, token: "hf_secret" });
  try {
    await assert.rejects(
      withEnv(CLEAN_ENV, () =>
        snapshotDownload("org/tiny", { cacheDir: freshCache(), endpoint: hub.endpoint }),
      ),
      (e: Error) => e instanceof HubError && /401.*private or gated.*Set HF_TOKEN/.test(e.message),
    );
    await assert.rejects(
      withEnv(CLEAN_ENV, () =>
        snapshotDownload("org/tiny", {
          cacheDir: freshCache(),
          endpoint: hub.endpoint,
          token: "wrong",
        }),
      ),
      /401.*Check that HF_TOKEN/,
    );
    const snap = await withEnv(
      { ...CLEAN_ENV, HF_TOKEN: "hf_secret", HF_ENDPOINT: hub.endpoint },
      () => snapshotDownload("org/tiny", { cacheDir: freshCache() }),
    );
    assert.ok(existsSync(join(snap, "model.safetensors")));
    assert.ok(
      hub.requests
        .filter((r) => r.server === "hub")
        .some((r) => r.authorization === "Bearer hf_secret"),
    );
    assert.ok(
      hub.requests.filter((r) => r.server === "cdn").every((r) => r.authorization === undefined),
    );
  } finally {
    await hub.close();
  }
});

test("404 repo, 404 revision, 403 gated and an unreachable hub give clear errors", async () => {
  const hub = await startFakeHub({ dir: FIXTURE });
  const endpoint = hub.endpoint;
  try {
    await withEnv(CLEAN_ENV, async () => {
      await assert.rejects(
        snapshotDownload("org/missing", { cacheDir: freshCache(), endpoint }),
        /404 Not Found: repository org\/missing .*does not exist/,
      );
      await assert.rejects(
        snapshotDownload("org/tiny", { cacheDir: freshCache(), endpoint, revision: "nope" }),
        /revision "nope" not found in org\/tiny/,
      );
      await assert.rejects(
        snapshotDownload("gated/tiny", { cacheDir: freshCache(), endpoint }),
        /403 Forbidden.*gated.*accept its conditions.*HF_TOKEN/,
      );
      await assert.rejects(
        snapshotDownload("not a repo!", { cacheDir: freshCache(), endpoint }),
        /not a Hugging Face model id/,
      );
      await assert.rejects(
        snapshotDownload("org/tiny", { cacheDir: freshCache(), endpoint, revision: "../../etc" }),
        /not a branch, tag or commit/,
      );
    });
  } finally {
    await hub.close();
  }
  // A port nobody listens on.
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, "127.0.0.1", ok));
  const deadEndpoint = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise((ok) => probe.close(ok));
  await withEnv(CLEAN_ENV, async () => {
    await assert.rejects(
      snapshotDownload("org/tiny", { cacheDir: freshCache(), endpoint: deadEndpoint }),
      (e: Error) => {
        assert.ok(e instanceof HubError);
        assert.match(
          e.message,
          /cannot reach http:\/\/127\.0\.0\.1:\d+ .*ECONNREFUSED.*HF_HUB_OFFLINE=1/,
        );
        return true;
      },
    );
  });
});

test("the cache honours HF_HUB_CACHE and HF_HOME; an unreachable hub falls back to the cached snapshot", async () => {
  const home = join(tmpRoot, "hfhome");
  assert.equal(hubCacheDir(undefined, { HF_HOME: home }), join(home, "hub"));
  assert.equal(hubCacheDir(undefined, { HF_HOME: home, HF_HUB_CACHE: "/x/hub" }), "/x/hub");
  assert.equal(hubCacheDir("/explicit", { HF_HUB_CACHE: "/x/hub" }), "/explicit");
  const hub = await startFakeHub({ dir: FIXTURE });
  const endpoint = hub.endpoint;
  let snap = "";
  try {
    snap = await withEnv({ ...CLEAN_ENV, HF_HOME: home }, () =>
      snapshotDownload("org/tiny", { endpoint }),
    );
    assert.equal(snap, join(home, "hub", REPO_DIR, "snapshots", SHA_MAIN));
  } finally {
    await hub.close();
  }
  assert.equal(
    await withEnv({ ...CLEAN_ENV, HF_HOME: home }, () =>
      snapshotDownload("org/tiny", { endpoint }),
    ),
    snap,
  );
});

test("resolveModelPath: local directories as they are, hub ids through the cache", async () => {
  assert.equal(await resolveModelPath(FIXTURE), FIXTURE);
  await assert.rejects(resolveModelPath("./no/such/dir"), /no such directory, and not a hub id/);
  await assert.rejects(
    resolveModelPath(join(FIXTURE, "config.json")),
    /is a file; a model is a directory/,
  );
  const hub = await startFakeHub({ dir: FIXTURE });
  try {
    const cacheDir = freshCache();
    const snap = await withEnv(CLEAN_ENV, () =>
      resolveModelPath("org/tiny", { cacheDir, endpoint: hub.endpoint }),
    );
    assert.equal(snap, join(cacheDir, REPO_DIR, "snapshots", SHA_MAIN));
    assert.ok(existsSync(join(snap, "config_sentence_transformers.json")));
  } finally {
    await hub.close();
  }
});
