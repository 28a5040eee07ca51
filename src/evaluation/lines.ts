import { createReadStream, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";
import { FileFormatError } from "../util/errors.js";

/**
 * Streams the lines of a text file (optionally .gz) with 1-based line numbers, never holding
 * the whole file. Line endings LF, CRLF (SciFact's qrels) and CR are all stripped.
 */
export async function* readLines(path: string): AsyncGenerator<{ line: string; lineNo: number }> {
  if (!existsSync(path)) {
    throw new FileFormatError(path, "file not found", { missing: true });
  }
  const raw = createReadStream(path);
  const input = path.endsWith(".gz") ? raw.pipe(createGunzip()) : raw;
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let lineNo = 0;
  try {
    for await (const line of rl) {
      lineNo++;
      yield { line, lineNo };
    }
  } finally {
    rl.close();
    raw.destroy();
  }
}
