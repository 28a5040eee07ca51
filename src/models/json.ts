import { existsSync, readFileSync } from "node:fs";
import { FileFormatError } from "../util/errors.js";

/** Reads a JSON object file; errors name the file and say what is wrong. */
export function readJson(path: string, what: string): Record<string, unknown> {
  if (!existsSync(path)) {
    throw new FileFormatError(path, `missing ${what}`, { missing: true });
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new FileFormatError(path, `${what} is not valid JSON (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new FileFormatError(path, `${what} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** readJson, or {} when the file does not exist. */
export function readJsonIfExists(path: string, what: string): Record<string, unknown> {
  return existsSync(path) ? readJson(path, what) : {};
}
