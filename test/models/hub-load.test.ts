import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ColBERT } from "../../src/models/colbert.js";
import { sharedPath } from "../helpers/shared.js";
import { startFakeHub } from "../hub/fake-hub.js";

const cache = mkdtempSync(join(tmpdir(), "tslate-hub-load-"));
after(() => rmSync(cache, { recursive: true, force: true }));

test("ColBERT.fromPretrained('org/name') downloads from the hub and encodes like the local copy", async () => {
  const local = sharedPath("fixtures/bert-tiny-colbert");
  const hub = await startFakeHub({ dir: local, token: "secret" });
  try {
    await assert.rejects(
      ColBERT.fromPretrained("org/tiny", { cacheDir: cache, endpoint: hub.endpoint, token: "" }),
      /401|token|HF_TOKEN/i,
    );
    const remote = await ColBERT.fromPretrained("org/tiny", {
      cacheDir: cache,
      endpoint: hub.endpoint,
      token: "secret",
      threads: 1,
    });
    const fromDisk = await ColBERT.fromPretrained(local, { threads: 1 });
    const texts = ["late interaction", "a document about MaxSim."];
    const a = await remote.encode(texts, { isQuery: false });
    const b = await fromDisk.encode(texts, { isQuery: false });
    assert.deepEqual(a, b);
    await remote.dispose();
    await fromDisk.dispose();
    // Offline, the cached snapshot is enough.
    const offline = await ColBERT.fromPretrained("org/tiny", {
      cacheDir: cache,
      offline: true,
      threads: 1,
    });
    assert.deepEqual(await offline.encode(texts, { isQuery: false }), a);
    await offline.dispose();
  } finally {
    await hub.close();
  }
});
