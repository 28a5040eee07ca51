/**
 * AdamW (Loshchilov & Hutter; torch.optim.AdamW semantics, amsgrad off) over Float32Arrays:
 *
 *   p ← p·(1 − lr·wd)                       (decoupled decay; skipped for noDecay params)
 *   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
 *   p ← p − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + eps)
 */
import { type AdamWKernel, type UpdateFn, updateFor } from "../kernels/adamw.js";
import { InvalidArgumentError } from "../util/errors.js";
import type { Parameter } from "./parameters.js";

export interface AdamWOptions {
  readonly lr?: number;
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  readonly weightDecay?: number;
  /** The update's implementation: the WebAssembly SIMD kernel where available ("auto"). */
  readonly kernel?: AdamWKernel;
}

export const DEFAULT_ADAMW: Readonly<Required<AdamWOptions>> = Object.freeze({
  lr: 1e-3,
  betas: [0.9, 0.999] as const,
  eps: 1e-8,
  weightDecay: 0.01,
  kernel: "auto",
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
  private readonly update: UpdateFn;

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
    this.update = updateFor(this.options.kernel);
    this.state = {
      step: 0,
      m: parameters.map((p) => new Float32Array(p.data.length)),
      v: parameters.map((p) => new Float32Array(p.data.length)),
    };
  }

  /** One update with `grads` (aligned with `parameters`) at learning rate `lr`. */
  step(grads: readonly Float32Array[], lr = this.options.lr): void {
    if (grads.length !== this.parameters.length) {
      throw new InvalidArgumentError(
        `AdamW: ${grads.length} gradients for ${this.parameters.length} parameters`,
      );
    }
    const [b1, b2] = this.options.betas;
    const { eps, weightDecay } = this.options;
    const t = ++this.state.step;
    const stepSize = lr / (1 - b1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    for (let i = 0; i < this.parameters.length; i++) {
      const p = this.parameters[i];
      const decay = p.noDecay ? 1 : 1 - lr * weightDecay;
      const g = grads[i];
      if (g.length !== p.data.length) {
        throw new InvalidArgumentError(
          `AdamW: gradient of ${g.length} values for parameter "${p.name}" of ${p.data.length}`,
        );
      }
      const k = { b1, b2, decay, stepSize, bc2Sqrt, eps };
      this.update(p.data, g, this.state.m[i], this.state.v[i], k);
    }
  }
}
