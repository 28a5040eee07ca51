import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { ColBERT, type ColBERTOptions } from "../../src/models/colbert.js";

/**
 * For a test file that loads models: a temporary directory and `load` (one thread, warnings
 * silenced); every loaded model is disposed and the directory removed after the file's tests.
 * Call at the top level of the test file.
 */
export function modelTestContext(name: string): {
  tmp: string;
  load(dir: string, options?: ColBERTOptions): Promise<ColBERT>;
} {
  const tmp = mkdtempSync(join(tmpdir(), `tslate-${name}-test-`));
  const models: ColBERT[] = [];
  after(async () => {
    for (const m of models) await m.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });
  return {
    tmp,
    async load(dir, options = {}) {
      const m = await ColBERT.fromPretrained(dir, { threads: 1, warn: () => {}, ...options });
      models.push(m);
      return m;
    },
  };
}
