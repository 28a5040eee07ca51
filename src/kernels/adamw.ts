/**
 * The AdamW update of one tensor, in float32 as torch computes it:
 *
 *   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
 *   x ← x·decay − stepSize·m / (√v / √(1−β2ᵗ) + eps)
 *
 * Scalar JavaScript runs it at ~9 ns per element (110M parameters: ~1 s per step, CPU-bound:
 * no SIMD, float/double conversions). The WebAssembly SIMD kernel (adamw.wat, compiled into
 * adamw.wasm.ts) does four elements per instruction: the tensor is streamed through the
 * module's memory in chunks that stay in L2 (copies in and out are memcpy) and the update runs
 * on f32x4 lanes.
 */

import { InvalidArgumentError, UnsupportedError } from "../util/errors.js";
import { adamwWasm } from "./adamw.wasm.js";
import { compileKernel, instantiate } from "./wasm.js";

/** Constants of one update (same for every element of a tensor). */
export interface UpdateConstants {
  readonly b1: number;
  readonly b2: number;
  readonly decay: number;
  readonly stepSize: number;
  readonly bc2Sqrt: number;
  readonly eps: number;
}

export type UpdateFn = (
  x: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  k: UpdateConstants,
) => void;

/**
 * Which update AdamW runs: "wasm" (the SIMD kernel; an error where the runtime has no
 * WebAssembly SIMD), "js" (the scalar loop), or "auto" (the kernel where available).
 */
export type AdamWKernel = "auto" | "wasm" | "js";

/** The update in scalar JavaScript (float32 moments; the reference for the kernel). */
export const scalarUpdate: UpdateFn = (x, g, m, v, k) => {
  const { b1, b2, decay, stepSize, bc2Sqrt, eps } = k;
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  const n = x.length;
  for (let j = 0; j < n; j++) {
    const gj = g[j];
    const mj = Math.fround(b1 * m[j] + c1 * gj);
    const vj = Math.fround(b2 * v[j] + c2 * gj * gj);
    m[j] = mj;
    v[j] = vj;
    x[j] = x[j] * decay - (stepSize * mj) / (Math.sqrt(vj) / bc2Sqrt + eps);
  }
};

/** Elements per chunk: four arrays of 64 Ki floats = 1 MiB of module memory (L2-sized). */
const CHUNK = 1 << 16;

let wasmUpdateFn: UpdateFn | null | undefined;

/**
 * The update on the WebAssembly SIMD kernel (one instance per process, compiled on first
 * use), or null where the runtime has no WebAssembly SIMD.
 */
export function wasmUpdate(): UpdateFn | null {
  if (wasmUpdateFn !== undefined) return wasmUpdateFn;
  const mod = compileKernel(adamwWasm);
  if (!mod) return (wasmUpdateFn = null);
  const { adamw, memory } = instantiate<{
    adamw: (...args: number[]) => void;
    memory: { buffer: ArrayBuffer };
  }>(mod);
  const bytes = CHUNK * 4;
  const [xs, gs, ms, vs] = [0, 1, 2, 3].map(
    (k) => new Float32Array(memory.buffer, k * bytes, CHUNK),
  );
  wasmUpdateFn = (x, g, m, v, k) => {
    const n = x.length;
    for (let s = 0; s < n; s += CHUNK) {
      const e = Math.min(n, s + CHUNK);
      xs.set(x.subarray(s, e));
      gs.set(g.subarray(s, e));
      ms.set(m.subarray(s, e));
      vs.set(v.subarray(s, e));
      // Lanes past e - s (up to the next multiple of 4) hold stale values and are not copied back.
      const lanes = (e - s + 3) & ~3;
      adamw(
        0,
        bytes,
        2 * bytes,
        3 * bytes,
        lanes,
        k.b1,
        1 - k.b1,
        k.b2,
        1 - k.b2,
        k.decay,
        k.stepSize,
        k.bc2Sqrt,
        k.eps,
      );
      x.set(xs.subarray(0, e - s), s);
      m.set(ms.subarray(0, e - s), s);
      v.set(vs.subarray(0, e - s), s);
    }
  };
  return wasmUpdateFn;
}

/** The update for an AdamW `kernel` option. */
export function updateFor(kernel: AdamWKernel): UpdateFn {
  if (kernel === "js") return scalarUpdate;
  if (kernel === "auto") return wasmUpdate() ?? scalarUpdate;
  if (kernel === "wasm") {
    const fn = wasmUpdate();
    if (!fn) {
      throw new UnsupportedError(
        'AdamW kernel "wasm": this runtime has no WebAssembly SIMD; use kernel "auto" or "js"',
      );
    }
    return fn;
  }
  throw new InvalidArgumentError(
    `AdamW kernel ${JSON.stringify(kernel)}: expected "auto", "wasm" or "js"`,
  );
}
