import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Absolute path of a file under ../shared (compiled tests live in build/test/<folder>/). */
export function sharedPath(rel: string): string {
  return fileURLToPath(new URL(`../../../../shared/${rel}`, import.meta.url));
}

export function readSharedJson<T = any>(rel: string): T {
  return JSON.parse(readFileSync(sharedPath(rel), "utf8")) as T;
}

/** Max absolute difference between two numeric arrays (after float32 rounding of `expected`). */
export function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  }
  let m = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - Math.fround(expected[i]));
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}
