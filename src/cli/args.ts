import { ConfigError } from "../util/errors.js";

/** Parses a positive-integer CLI option (undefined stays undefined), naming the flag on error. */
export function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new ConfigError(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Parses a finite-number CLI option (undefined stays undefined), naming the flag on error. */
export function finiteNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) {
    throw new ConfigError(`--${name} must be a number, got ${JSON.stringify(value)}`);
  }
  return n;
}
