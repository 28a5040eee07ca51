import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir as freshTempDir } from "../helpers/temp.js";

/** A path under ../shared (relative to the repo root), from the compiled test file. */
export function shared(...parts: string[]): string {
  return join(fileURLToPath(new URL("../../../../shared/", import.meta.url)), ...parts);
}

/** A path under test/evaluation/fixtures in the source tree (fixtures are not compiled). */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../../../test/evaluation/fixtures/${name}`, import.meta.url));
}

/** A temporary folder, removed after the test file's tests. */
export function tempDir(): string {
  return freshTempDir("tslate-eval-");
}
