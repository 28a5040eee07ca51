import { createReadStream, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";
import { DataError, FileFormatError } from "../util/errors.js";

/**
 * Streams the lines of a text file (optionally .gz) with 1-based line numbers, never holding
 * the whole file. Line endings LF, CRLF (SciFact's qrels) and CR are all stripped (readline).
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
  } catch (err) {
    // A stream failure (unreadable file, damaged gzip), not a bad record.
    throw new FileFormatError(path, `cannot be read (${(err as Error).message})`, { cause: err });
  } finally {
    rl.close();
    raw.destroy();
  }
}

/** One JSON object of a JSONL file, with its 1-based line number. */
export interface JsonlRecord {
  value: Record<string, unknown>;
  lineNo: number;
}

/**
 * Streams a JSONL file (optionally .gz): one JSON object per line, empty lines skipped. A line
 * that is not JSON, or not an object, is a DataError `file:line: ...` (the same error for the
 * same bad line in every reader of tslate).
 */
export async function* readJsonl(path: string): AsyncGenerator<JsonlRecord> {
  for await (const { line, lineNo } of readLines(path)) {
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new DataError(
        `${path}:${lineNo}: not valid JSON (${(err as Error).message}): "${clip(line, 80)}"`,
        { cause: err },
      );
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new DataError(
        `${path}:${lineNo}: expected a JSON object per line, got ${showValue(value)}`,
      );
    }
    yield { value: value as Record<string, unknown>, lineNo };
  }
}

/** A line for an error message, clipped so that a huge record cannot flood the terminal. */
export function clip(s: string, max = 120): string {
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** A value for an error message (BigInt-safe, clipped). */
export function showValue(v: unknown): string {
  const text = JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? String(x) : x)) ?? String(v);
  return clip(text, 100);
}
