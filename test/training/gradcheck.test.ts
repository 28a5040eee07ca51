/**
 * Whole-model gradient checks by directional finite differences, for the backbone that has
 * no PyTorch training fixture (ModernBERT: RoPE, sliding-window masks, GeGLU, bias-free
 * LayerNorm): for unit directions v over all parameters,
 * (L(θ + h·v) − L(θ − h·v)) / 2h must equal ∇L·v.
 *
 * h = 1e-3 along a unit vector: float32 loss rounding (~1e-7·|L| / h ≈ 1e-4) and curvature
 * (~h²·L''') bound the error, so the tolerance is abs 2e-4 + rel 2e-2 of |∇L·v|. (h = 1e-2
 * is already outside the linear regime of the random ModernBERT along ∇L: 0.87 vs 1.41;
 * per-tensor checks at 1e-3 agree to 1%.) Two directions are checked per model.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Contrastive, type ContrastiveBatch } from "../../src/losses/contrastive.js";
import { ColBERT } from "../../src/models/colbert.js";
import { ColBERTCollator } from "../../src/training/data.js";
import { TrainingStep } from "../../src/training/step.js";
import { maskOptions, trainableModel } from "../../src/training/trainer.js";
import { mulberry32 } from "../../src/util/random.js";
import { sharedPath } from "../helpers/shared.js";

const H = 1e-3;

// BERT's gradients are checked against PyTorch itself (parity.test.ts).
for (const fixture of ["modernbert-tiny-colbert"]) {
  test(`directional finite differences of the whole model: ${fixture}`, async () => {
    const model = await ColBERT.fromPretrained(sharedPath(`fixtures/${fixture}`), {
      warn: () => {},
      threads: 1,
    });
    const step = await TrainingStep.create(
      trainableModel(model),
      new Contrastive({ temperature: 0.5 }),
      { threads: 1 },
    );
    try {
      const collator = new ColBERTCollator((t, o) => model.tokenize(t, o));
      // A document longer than ModernBERT's 64-token local window, so the window is exercised.
      const long =
        "Solar panels convert sunlight into electricity using photovoltaic cells made of silicon. ".repeat(
          6,
        );
      const batch: ContrastiveBatch = collator.contrastive([
        {
          query: "how do solar panels work?",
          positive: long,
          negatives: ["Wind turbines turn wind into power."],
        },
        {
          query: "who wrote hamlet",
          positive: "Hamlet is a tragedy by William Shakespeare.",
          negatives: ["The Odyssey is by Homer."],
        },
      ]);
      const masks = maskOptions(model);
      const base = await step.run(batch, masks);
      const saved = step.parameters.map((p) => Float32Array.from(p.data));
      const r = mulberry32(fixture.length);
      for (let trial = 0; trial < 2; trial++) {
        // A random direction over millions of parameters is nearly orthogonal to ∇L (the
        // check would be vacuous), so the directions follow the gradient: v ∝ ∇L, then
        // v ∝ ∇L ⊙ u with u ~ U(0, 2) per coordinate. A wrong per-element gradient makes
        // ∇L·v differ from the true directional derivative either way.
        const dirs = step.parameters.map((_, i) =>
          Float32Array.from(base.grads[i], (g) => (trial === 0 ? g : g * 2 * r())),
        );
        let norm = 0;
        for (const d of dirs) for (const x of d) norm += x * x;
        norm = Math.sqrt(norm);
        let analytic = 0;
        dirs.forEach((d, i) => {
          for (let j = 0; j < d.length; j++) {
            d[j] /= norm;
            analytic += base.grads[i][j] * d[j];
          }
        });
        const lossAt = async (sign: number) => {
          step.parameters.forEach((p, i) => {
            for (let j = 0; j < p.data.length; j++) p.data[j] = saved[i][j] + sign * H * dirs[i][j];
          });
          return (await step.run(batch, masks)).loss;
        };
        const numeric = ((await lossAt(1)) - (await lossAt(-1))) / (2 * H);
        step.parameters.forEach((p, i) => p.data.set(saved[i]));
        const tol = 2e-4 + 2e-2 * Math.abs(analytic);
        console.log(
          `  ${fixture} direction ${trial}: ∇L·v ${analytic.toExponential(4)}, finite difference ${numeric.toExponential(4)}`,
        );
        assert.ok(
          Math.abs(numeric - analytic) <= tol,
          `${fixture} direction ${trial}: ∇L·v ${analytic} vs finite difference ${numeric}`,
        );
      }
    } finally {
      await step.dispose();
      await model.dispose();
    }
  });
}
