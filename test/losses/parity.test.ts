/**
 * Parity with the PyTorch reference (fixtures/training, README §6): one training step of
 * bert-tiny-colbert with PyLate's Contrastive and Distillation losses — loss, scores,
 * per-tensor gradient norms, two full gradients, the global gradient norm and the
 * parameters after one AdamW step.
 *
 * Tolerances (README §7, float32): loss abs 1e-5; scores abs 2e-4; gradients abs 1e-5 +
 * rel 1e-3 of max|g| (norms: the same bound relative to the norm); parameters after AdamW
 * abs 1e-6.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { WeightStore } from "../../src/io/safetensors.js";
import { CachedContrastive } from "../../src/losses/cached-contrastive.js";
import { Contrastive, type ContrastiveBatch } from "../../src/losses/contrastive.js";
import { Distillation, type DistillationBatch } from "../../src/losses/distillation.js";
import type { MaskOptions, TokenizedColumn } from "../../src/losses/types.js";
import { readBackboneConfig } from "../../src/models/backbones/files.js";
import { AdamW } from "../../src/training/adamw.js";
import { CachedContrastiveStep } from "../../src/training/cached-step.js";
import { DENSE_WEIGHT, globalNorm, type TrainableModel } from "../../src/training/parameters.js";
import { type StepResult, TrainingStep } from "../../src/training/step.js";
import { maxAbsDiff, readSharedJson, sharedPath } from "../helpers/shared.js";

const LOSS_TOL = 1e-5;
const SCORE_TOL = 2e-4;
const GRAD_ABS = 1e-5;
const GRAD_REL = 1e-3;
const ADAMW_TOL = 1e-6;

function loadModel(): TrainableModel {
  const dir = sharedPath("fixtures/bert-tiny-colbert");
  const dense = WeightStore.open(join(dir, "1_Dense"));
  const [out, inp] = dense.info("linear.weight").shape;
  return {
    config: readBackboneConfig(dir),
    weights: WeightStore.open(dir),
    dense: { weight: dense.readFloat32("linear.weight"), outFeatures: out, inFeatures: inp },
  };
}

function column(f: any): TokenizedColumn {
  const ids: number[][] = f.input_ids;
  const flat = (k: string) => BigInt64Array.from((f[k] as number[][]).flat(), (x) => BigInt(x));
  return {
    inputIds: flat("input_ids"),
    attentionMask: flat("attention_mask"),
    tokenTypeIds: flat("token_type_ids"),
    batchSize: ids.length,
    seqLength: ids[0].length,
  };
}

const settings = readSharedJson("fixtures/expected/bert-tiny-colbert.json").settings;
const masks: MaskOptions = {
  skiplistIds: new Set<number>(settings.skiplist_ids),
  doQueryExpansion: true,
};

async function checkStep<B>(
  fx: any,
  step: TrainingStep<B>,
  batch: B,
  scoreKey: string,
  expectedScores: number[][],
): Promise<StepResult> {
  const r = await step.run(batch, masks);
  const lossDiff = Math.abs(r.loss - fx.loss);
  assert.ok(lossDiff <= LOSS_TOL, `loss ${r.loss} vs ${fx.loss}: diff ${lossDiff} > ${LOSS_TOL}`);
  const sd = maxAbsDiff(r.outputs[scoreKey].data as Float32Array, expectedScores.flat());
  assert.ok(sd <= SCORE_TOL, `scores maxdiff ${sd} > ${SCORE_TOL}`);

  const byName = new Map(step.parameters.map((p, i) => [p.name, i]));
  const key = (file: string, tensor: string) =>
    file.startsWith("1_Dense") ? DENSE_WEIGHT : tensor;
  for (const { file, tensor, l2_norm } of fx.grad_norms) {
    const i = byName.get(key(file, tensor));
    assert.ok(i !== undefined, `parameter ${tensor} is trained`);
    const n = globalNorm([r.grads[i]]);
    assert.ok(
      Math.abs(n - l2_norm) <= GRAD_ABS + GRAD_REL * l2_norm,
      `${tensor}: grad norm ${n} vs ${l2_norm}`,
    );
  }
  const gn = globalNorm(r.grads);
  assert.ok(
    Math.abs(gn - fx.global_grad_norm) <= GRAD_ABS + GRAD_REL * fx.global_grad_norm,
    `global grad norm ${gn} vs ${fx.global_grad_norm}`,
  );

  // AdamW exactly as the reference: all parameters decayed, one group.
  for (const p of step.parameters) p.noDecay = false;
  const opt = new AdamW(
    step.parameters,
    fx.optimizer.lr === undefined
      ? {}
      : {
          lr: fx.optimizer.lr,
          betas: fx.optimizer.betas,
          eps: fx.optimizer.eps,
          weightDecay: fx.optimizer.weight_decay,
        },
  );
  const notes: string[] = [];
  const fullChecks = fx.full.map(
    ({ file, tensor, grad, value_before, value_after_adamw_step }: Record<string, never>) => {
      const i = byName.get(key(file, tensor))!;
      const expected = (grad as number[][]).flat();
      const scale = Math.max(...expected.map(Math.abs));
      const gd = maxAbsDiff(r.grads[i], expected);
      assert.ok(
        gd <= GRAD_ABS + GRAD_REL * scale,
        `${tensor}: full gradient maxdiff ${gd} > ${GRAD_ABS + GRAD_REL * scale}`,
      );
      notes.push(
        `${tensor} grad maxdiff ${gd.toExponential(2)} (max|g| ${scale.toExponential(2)})`,
      );
      assert.ok(
        maxAbsDiff(step.parameters[i].data, (value_before as number[][]).flat()) === 0,
        `${tensor}: starts from the weights on disk`,
      );
      return { i, tensor, after: (value_after_adamw_step as number[][]).flat() };
    },
  );
  opt.step(r.grads);
  for (const { i, tensor, after } of fullChecks) {
    const d = maxAbsDiff(step.parameters[i].data, after);
    assert.ok(d <= ADAMW_TOL, `${tensor}: after AdamW maxdiff ${d} > ${ADAMW_TOL}`);
    notes.push(`${tensor} AdamW maxdiff ${d.toExponential(2)}`);
  }
  console.log(
    `  loss diff ${lossDiff.toExponential(2)}, scores maxdiff ${sd.toExponential(2)}, global grad norm ${gn} (ref ${fx.global_grad_norm}); ${notes.join("; ")}`,
  );
  return r;
}

const model = loadModel();
let contrastive: TrainingStep<ContrastiveBatch>;
let distillation: TrainingStep<DistillationBatch>;

before(async () => {
  contrastive = await TrainingStep.create(model, new Contrastive({ temperature: 1.0 }), {
    threads: 1,
  });
  distillation = await TrainingStep.create(model, new Distillation({ documentsPerQuery: 3 }), {
    threads: 1,
  });
});
after(async () => {
  await contrastive?.dispose();
  await distillation?.dispose();
});

test("Contrastive: loss, scores, gradients and one AdamW step match PyTorch", async () => {
  const fx = readSharedJson("fixtures/training/contrastive.json");
  const batch: ContrastiveBatch = {
    queries: column(fx.features.query),
    documents: [column(fx.features.positive), column(fx.features.negative)],
  };
  await checkStep(fx, contrastive, batch, "scores", fx.scores);
});

test("Distillation: loss, student scores, gradients and one AdamW step match PyTorch", async () => {
  const fx = readSharedJson("fixtures/training/distillation.json");
  const batch: DistillationBatch = {
    queries: column(fx.features.query),
    documents: column(fx.features.documents),
    teacherScores: Float32Array.from(fx.teacher_scores.flat()),
  };
  const r = await checkStep(fx, distillation, batch, "student_scores_raw", fx.student_scores_raw);
  const sd = maxAbsDiff(
    r.outputs.student_scores.data as Float32Array,
    fx.student_scores_minmax_normalized.flat(),
  );
  assert.ok(sd <= 1e-5, `min-max normalised student scores maxdiff ${sd}`);
});

test("CachedContrastive (GradCache, mini-batches of 1) equals Contrastive on the same batch", async () => {
  const fx = readSharedJson("fixtures/training/contrastive.json");
  const batch: ContrastiveBatch = {
    queries: column(fx.features.query),
    documents: [column(fx.features.positive), column(fx.features.negative)],
  };
  const fresh = await TrainingStep.create(model, new Contrastive(), { threads: 1 });
  const cached = await CachedContrastiveStep.create(
    model,
    new CachedContrastive({ miniBatchSize: 1 }),
    {
      threads: 1,
    },
  );
  try {
    const a = await fresh.run(batch, masks);
    const b = await cached.run(batch, masks);
    assert.deepEqual(
      cached.parameters.map((p) => p.name),
      fresh.parameters.map((p) => p.name),
    );
    // Same math, different float32 summation order (per-text GEMMs): README §7's float32
    // tolerances, loss abs 1e-5 and gradients abs 1e-5 + rel 1e-3 of max|g|.
    assert.ok(Math.abs(a.loss - b.loss) <= LOSS_TOL, `loss ${a.loss} vs ${b.loss}`);
    assert.ok(
      Math.abs(b.loss - fx.loss) <= LOSS_TOL,
      `cached loss ${b.loss} vs reference ${fx.loss}`,
    );
    let worst = 0;
    a.grads.forEach((g, i) => {
      let scale = 0;
      for (const x of g) scale = Math.max(scale, Math.abs(x));
      const d = maxAbsDiff(b.grads[i], Array.from(g));
      worst = Math.max(worst, d);
      assert.ok(d <= GRAD_ABS + GRAD_REL * scale, `${fresh.parameters[i].name}: maxdiff ${d}`);
    });
    console.log(
      `  cached vs uncached: loss diff ${Math.abs(a.loss - b.loss)}, grad maxdiff ${worst}`,
    );
  } finally {
    await fresh.dispose();
    await cached.dispose();
  }
});
