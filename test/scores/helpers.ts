import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Tensor } from "../../src/scores/tensor.js";
import type { Matrix } from "../../src/util/matrix.js";

/** Path of a file under ../shared (from the compiled test in build/test/scores/). */
export function sharedPath(rel: string): string {
  return fileURLToPath(new URL(`../../../../shared/${rel}`, import.meta.url));
}

export function readJson(rel: string): any {
  return JSON.parse(readFileSync(sharedPath(rel), "utf8"));
}

type Nested = number | Nested[];

function shapeOf(x: Nested): number[] {
  const dims: number[] = [];
  let cur: Nested = x;
  while (Array.isArray(cur)) {
    dims.push(cur.length);
    cur = cur[0];
  }
  return dims;
}

/** Nested JSON lists → float32 tensor (values rounded to float32 as the README says). */
export function toTensor(x: Nested): Tensor {
  return {
    data: Float32Array.from((x as number[]).flat(Number.POSITIVE_INFINITY) as number[]),
    dims: shapeOf(x),
  };
}

/** [rows][cols] JSON list → Matrix. */
export function toMatrix(x: number[][], cols?: number): Matrix {
  const c = cols ?? (x.length > 0 ? x[0].length : 0);
  return { data: Float32Array.from(x.flat()), rows: x.length, cols: c };
}

/** Largest absolute difference, asserting equal lengths. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
