/**
 * AdamW (Loshchilov & Hutter; torch.optim.AdamW semantics, amsgrad off) over Float32Arrays:
 *
 *   p ← p·(1 − lr·wd)                       (decoupled decay; skipped for noDecay params)
 *   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
 *   p ← p − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + eps)
 */
import { InvalidArgumentError } from "../util/errors.js";
import type { Parameter } from "./parameters.js";

export interface AdamWOptions {
  readonly lr?: number;
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  readonly weightDecay?: number;
}

export const DEFAULT_ADAMW: Readonly<Required<AdamWOptions>> = Object.freeze({
  lr: 1e-3,
  betas: [0.9, 0.999] as const,
  eps: 1e-8,
  weightDecay: 0.01,
});

/** Optimiser state, saved next to checkpoints (`optimizer.safetensors` + step count). */
export interface AdamWState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

export class AdamW {
  readonly options: Required<AdamWOptions>;
  state: AdamWState;

  constructor(
    readonly parameters: readonly Parameter[],
    options: AdamWOptions = {},
  ) {
    this.options = { ...DEFAULT_ADAMW, ...options };
    const { lr, eps, weightDecay, betas } = this.options;
    if (!(lr >= 0) || !(eps > 0) || !(weightDecay >= 0) || !betas.every((b) => b >= 0 && b < 1)) {
      throw new InvalidArgumentError(
        `AdamW options out of range: lr ${lr} (>= 0), eps ${eps} (> 0), weightDecay ${weightDecay} (>= 0), betas [${betas}] (each in [0, 1))`,
      );
    }
    this.state = {
      step: 0,
      m: parameters.map((p) => new Float32Array(p.data.length)),
      v: parameters.map((p) => new Float32Array(p.data.length)),
    };
  }

  /** One update with `grads` (aligned with `parameters`) at learning rate `lr`. */
  step(grads: readonly Float32Array[], lr = this.options.lr): void {
    const [b1, b2] = this.options.betas;
    const { eps, weightDecay } = this.options;
    const t = ++this.state.step;
    const stepSize = lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    for (let i = 0; i < this.parameters.length; i++) {
      const p = this.parameters[i];
      const decay = p.noDecay ? 1 : 1 - lr * weightDecay;
      const k = { b1, b2, decay, stepSize, bc2Sqrt, eps };
      adamwUpdate(p.data, grads[i], this.state.m[i], this.state.v[i], k);
    }
  }
}

interface UpdateConstants {
  readonly b1: number;
  readonly b2: number;
  readonly decay: number;
  readonly stepSize: number;
  readonly bc2Sqrt: number;
  readonly eps: number;
}

/**
 * The update of one tensor in one pass over x, g, m and v (memory-bound: 110M parameters
 * stream 3 GB). Constants live in locals and the new moments are kept in registers rather
 * than read back from the arrays (measured 2.0-2.7 s → ~1.0 s for 110M).
 */
function adamwUpdate(
  x: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  k: UpdateConstants,
): void {
  const { b1, b2, decay, stepSize, bc2Sqrt, eps } = k;
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  const n = x.length;
  if (g.length !== n) {
    throw new InvalidArgumentError(`AdamW: gradient of ${g.length} values for a parameter of ${n}`);
  }
  for (let j = 0; j < n; j++) {
    const gj = g[j];
    // float32 moments, as torch keeps them.
    const mj = Math.fround(b1 * m[j] + c1 * gj);
    const vj = Math.fround(b2 * v[j] + c2 * gj * gj);
    m[j] = mj;
    v[j] = vj;
    x[j] = x[j] * decay - (stepSize * mj) / (Math.sqrt(vj) / bc2Sqrt + eps);
  }
}
