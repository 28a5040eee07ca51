import { FileFormatError } from "../util/errors.js";
import type { CheckpointSource } from "./source.js";

/** Reads a JSON object file of a checkpoint; errors name the file and say what is wrong. */
export function readJson(
  source: CheckpointSource,
  path: string,
  what: string,
): Record<string, unknown> {
  const where = source.where(path);
  if (!source.has(path)) {
    throw new FileFormatError(where, `missing ${what}`, { missing: true });
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(source.readBytes(path)));
  } catch (err) {
    throw new FileFormatError(where, `${what} is not valid JSON (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new FileFormatError(where, `${what} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** readJson, or {} when the file does not exist. */
export function readJsonIfExists(
  source: CheckpointSource,
  path: string,
  what: string,
): Record<string, unknown> {
  return source.has(path) ? readJson(source, path, what) : {};
}
