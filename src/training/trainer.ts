/**
 * The trainer: batches → loss and gradients (one ORT session) → gradient accumulation →
 * clipping → AdamW with a linear warmup/decay schedule, with checkpoints in PyLate's layout
 * plus optimiser state, resume, a JSONL loss log, a progress bar, evaluation callbacks, a
 * NaN stop that keeps the last good weights, and `stop()` / an AbortSignal that saves a
 * checkpoint before returning (the CLI wires Ctrl-C to it).
 *
 * Semantics follow the Hugging Face Trainer that PyLate uses (SentenceTransformerTrainer):
 * AdamW without decay on biases and LayerNorm weights, lr(t) = lr·t/warmup during warmup then
 * lr·(total − t)/(total − warmup), the loss of each micro-batch divided by the accumulation
 * steps, clip_grad_norm_(max_norm) (coefficient max_norm / (norm + 1e-6), at most 1).
 */
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { type TensorToWrite, WeightStore, writeSafetensors } from "../io/safetensors.js";
import { CachedContrastive } from "../losses/cached-contrastive.js";
import type { ColBERTLoss, MaskOptions } from "../losses/types.js";
import { HfConfig } from "../models/backbones/common.js";
import type { ColBERT } from "../models/colbert.js";
import { writeFileAtomic } from "../util/atomic.js";
import { ConfigError, DataError, TrainingError } from "../util/errors.js";
import { makeProgress } from "../util/progress.js";
import { mulberry32 } from "../util/random.js";
import { AdamW } from "./adamw.js";
import { CachedContrastiveStep } from "./cached-step.js";
import {
  DENSE_BIAS,
  DENSE_WEIGHT,
  globalNorm,
  type Parameter,
  type TrainableModel,
} from "./parameters.js";
import { TrainingStep, type TrainingStepLike } from "./step.js";

/** Hyper-parameters, with the Hugging Face TrainingArguments defaults where one exists. */
export interface TrainingArguments {
  /** Checkpoints, the final model and loss_log.jsonl go here. */
  readonly outputDir: string;
  readonly learningRate?: number;
  readonly weightDecay?: number;
  readonly adamBetas?: readonly [number, number];
  readonly adamEpsilon?: number;
  /** Warmup steps (overrides warmupRatio). */
  readonly warmupSteps?: number;
  readonly warmupRatio?: number;
  readonly numTrainEpochs?: number;
  /** Stop after this many optimiser steps (overrides numTrainEpochs). */
  readonly maxSteps?: number;
  /** Examples per micro-batch. */
  readonly batchSize?: number;
  readonly gradientAccumulationSteps?: number;
  /** 0 or Infinity disables clipping. */
  readonly maxGradNorm?: number;
  /** Shuffling seed (epoch e uses seed + e). */
  readonly seed?: number;
  /** Save a checkpoint every this many optimiser steps (0: only at the end). */
  readonly saveSteps?: number;
  /** Keep at most this many checkpoint-* folders (oldest deleted first). */
  readonly saveTotalLimit?: number;
  /** Run the evaluator every this many steps (0: only at the end). */
  readonly evalSteps?: number;
  readonly showProgress?: boolean;
  readonly threads?: number;
}

export const DEFAULT_TRAINING_ARGUMENTS = Object.freeze({
  learningRate: 5e-5,
  weightDecay: 0.0,
  adamBetas: [0.9, 0.999] as const,
  adamEpsilon: 1e-8,
  warmupRatio: 0.0,
  numTrainEpochs: 1,
  batchSize: 8,
  gradientAccumulationSteps: 1,
  maxGradNorm: 1.0,
  seed: 42,
  saveSteps: 500,
  evalSteps: 0,
  showProgress: true,
});

/** What `evaluate` callbacks get: the live parameters (encode with LiveEncoder). */
export interface EvaluationContext {
  readonly step: number;
  readonly model: TrainableModel;
  readonly parameters: readonly Parameter[];
}

export type Evaluator = (ctx: EvaluationContext) => Promise<Record<string, number>>;

export interface TrainerSetup<Example, Batch> {
  readonly model: ColBERT;
  readonly loss: ColBERTLoss<Batch>;
  readonly examples: readonly Example[];
  readonly collate: (examples: readonly Example[]) => Batch;
  readonly args: TrainingArguments;
  readonly evaluator?: Evaluator;
  /** A checkpoint-N folder written by this trainer. */
  readonly resumeFromCheckpoint?: string;
  /** Aborting it stops training as `stop()` does (the CLI aborts it on Ctrl-C). */
  readonly signal?: AbortSignal;
}

export interface TrainResult {
  readonly globalStep: number;
  /** Mean loss of the last optimiser step. */
  readonly lastLoss: number;
  readonly interrupted: boolean;
  /** Where the final model (or, when interrupted, the last checkpoint) is. */
  readonly savedTo: string;
  readonly evaluations: { step: number; metrics: Record<string, number> }[];
}

interface TrainerState {
  globalStep: number;
  epoch: number;
  /** Next micro-batch index within the epoch. */
  batchInEpoch: number;
  seed: number;
  totalSteps: number;
  /** Micro-batch size and accumulation of the run (a resume must use the same to be exact). */
  batchSize?: number;
  gradientAccumulationSteps?: number;
}

/** The backbone config + weights + Dense of a loaded ColBERT, as the training graph needs. */
export function trainableModel(model: ColBERT): TrainableModel {
  const raw = model.checkpoint.backboneConfig;
  const vocab = Math.max(model.tokenizer.vocabSize, raw.vocab_size as number);
  return {
    config: new HfConfig(
      { ...raw, vocab_size: vocab },
      `${model.checkpoint.backboneDir}/config.json`,
    ),
    weights: model.weights,
    dense: model.dense,
  };
}

/** The masks PyLate derives from a model's settings (skiplist ids, query expansion). */
export function maskOptions(model: ColBERT): MaskOptions {
  return {
    skiplistIds: new Set(model.skiplistIds),
    doQueryExpansion: model.config.doQueryExpansion,
  };
}

/** Creates the right step for a loss (GradCache for CachedContrastive). */
export async function createTrainingStep<Batch>(
  model: TrainableModel,
  loss: ColBERTLoss<Batch>,
  options: { threads?: number } = {},
): Promise<TrainingStepLike<Batch>> {
  if (loss instanceof CachedContrastive) {
    return (await CachedContrastiveStep.create(
      model,
      loss,
      options,
    )) as unknown as TrainingStepLike<Batch>;
  }
  return TrainingStep.create(model, loss, options);
}

/** A seeded Fisher-Yates permutation of 0..n-1. */
export function shuffledOrder(n: number, seed: number): number[] {
  const rand = mulberry32(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** HF get_linear_schedule_with_warmup: the multiplier of the learning rate at step t. */
export function linearScheduleFactor(t: number, warmup: number, total: number): number {
  if (t < warmup) return t / Math.max(1, warmup);
  return Math.max(0, (total - t) / Math.max(1, total - warmup));
}

function positive(name: string, v: number, integer: boolean, allowZero = false): void {
  if (
    !Number.isFinite(v) ||
    v < 0 ||
    (!allowZero && v === 0) ||
    (integer && !Number.isInteger(v))
  ) {
    throw new ConfigError(
      `${name} must be a ${allowZero ? "non-negative" : "positive"} ${integer ? "integer" : "number"}, got ${v}`,
    );
  }
}

export class Trainer<Example, Batch> {
  private readonly args: Required<
    Omit<TrainingArguments, "maxSteps" | "warmupSteps" | "saveTotalLimit" | "threads">
  > &
    Pick<TrainingArguments, "maxSteps" | "warmupSteps" | "saveTotalLimit" | "threads">;
  private readonly trainable: TrainableModel;
  private readonly masks: MaskOptions;
  private stopRequested = false;

  constructor(private readonly setup: TrainerSetup<Example, Batch>) {
    this.args = { ...DEFAULT_TRAINING_ARGUMENTS, ...setup.args };
    const a = this.args;
    positive("learningRate", a.learningRate, false, true);
    positive("weightDecay", a.weightDecay, false, true);
    positive("batchSize", a.batchSize, true);
    positive("gradientAccumulationSteps", a.gradientAccumulationSteps, true);
    positive("numTrainEpochs", a.numTrainEpochs, true);
    positive("saveSteps", a.saveSteps, true, true);
    positive("evalSteps", a.evalSteps, true, true);
    if (a.maxSteps !== undefined) positive("maxSteps", a.maxSteps, true);
    if (a.warmupSteps !== undefined) positive("warmupSteps", a.warmupSteps, true, true);
    if (!(a.warmupRatio >= 0 && a.warmupRatio < 1))
      throw new ConfigError(`warmupRatio must be in [0, 1), got ${a.warmupRatio}`);
    if (!(a.maxGradNorm >= 0))
      throw new ConfigError(`maxGradNorm must be >= 0 (0 disables clipping), got ${a.maxGradNorm}`);
    if (setup.examples.length === 0)
      throw new DataError("no training examples: the dataset is empty");
    this.trainable = trainableModel(setup.model);
    this.masks = maskOptions(setup.model);
  }

  /**
   * Asks the running `train()` to finish its current optimiser step, save a checkpoint and
   * return `interrupted: true` (resume from it with `resumeFromCheckpoint`). The library
   * installs no signal handler: a program that wants Ctrl-C to do this calls `stop()` (or
   * aborts `signal`) from its own handler, as `tslate train` does.
   */
  stop(): void {
    this.stopRequested = true;
  }

  private stopping(): boolean {
    return this.stopRequested || this.setup.signal?.aborted === true;
  }

  private batchesPerEpoch(): number {
    return Math.ceil(this.setup.examples.length / this.args.batchSize);
  }

  private totalSteps(): number {
    if (this.args.maxSteps !== undefined) return this.args.maxSteps;
    return (
      Math.ceil(this.batchesPerEpoch() / this.args.gradientAccumulationSteps) *
      this.args.numTrainEpochs
    );
  }

  /** Writes the model (PyLate layout) with the current parameters into `dir`. */
  async saveModel(dir: string, parameters: readonly Parameter[]): Promise<void> {
    const weights: Record<string, TensorToWrite> = {};
    let denseWeight: Float32Array | undefined;
    let denseBias: Float32Array | undefined;
    for (const p of parameters) {
      if (p.name === DENSE_WEIGHT) denseWeight = p.data;
      else if (p.name === DENSE_BIAS) denseBias = p.data;
      else weights[p.name] = { data: p.data, shape: p.shape };
    }
    const d = this.setup.model.dense;
    await this.setup.model.save(dir, {
      weights,
      dense: {
        weight: denseWeight ?? d.weight,
        bias: denseBias ?? d.bias,
        outFeatures: d.outFeatures,
        inFeatures: d.inFeatures,
      },
    });
  }

  /** checkpoint-N: model + optimizer.safetensors + trainer_state.json, renamed into place whole. */
  private async saveCheckpoint(
    parameters: readonly Parameter[],
    opt: AdamW,
    state: TrainerState,
  ): Promise<string> {
    const out = this.args.outputDir;
    const dir = join(out, `checkpoint-${state.globalStep}`);
    const tmp = join(out, `.tmp-checkpoint-${state.globalStep}-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    await this.saveModel(tmp, parameters);
    const tensors: Record<string, TensorToWrite> = {};
    parameters.forEach((p, i) => {
      tensors[`exp_avg.${p.name}`] = { data: opt.state.m[i], shape: p.shape };
      tensors[`exp_avg_sq.${p.name}`] = { data: opt.state.v[i], shape: p.shape };
    });
    writeSafetensors(join(tmp, "optimizer.safetensors"), tensors, {
      format: "pt",
      step: String(opt.state.step),
    });
    writeFileAtomic(join(tmp, "trainer_state.json"), `${JSON.stringify(state, null, 2)}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    const limit = this.args.saveTotalLimit;
    if (limit !== undefined && limit > 0) {
      const all = readdirSync(out)
        .filter((n) => /^checkpoint-\d+$/.test(n))
        .sort((a, b) => Number(a.split("-")[1]) - Number(b.split("-")[1]));
      for (const old of all.slice(0, Math.max(0, all.length - limit)))
        rmSync(join(out, old), { recursive: true, force: true });
    }
    return dir;
  }

  /** Loads parameters, optimiser state and position from a checkpoint folder. */
  private resume(dir: string, parameters: readonly Parameter[], opt: AdamW): TrainerState {
    const statePath = join(dir, "trainer_state.json");
    if (!existsSync(statePath) || !existsSync(join(dir, "optimizer.safetensors"))) {
      throw new TrainingError(
        `${dir} is not a tslate training checkpoint (no trainer_state.json / optimizer.safetensors); pass a checkpoint-N folder`,
      );
    }
    const state = JSON.parse(readFileSync(statePath, "utf8")) as TrainerState;
    const backbone = WeightStore.open(dir);
    const dense = WeightStore.open(join(dir, "1_Dense"));
    const optState = WeightStore.open(join(dir, "optimizer.safetensors"));
    parameters.forEach((p, i) => {
      const [store, name] =
        p.name === DENSE_WEIGHT
          ? [dense, "linear.weight"]
          : p.name === DENSE_BIAS
            ? [dense, "linear.bias"]
            : [backbone, p.name];
      if (!store.has(name)) {
        throw new TrainingError(
          `checkpoint ${dir} has no tensor ${name}: it comes from another architecture than the model being trained`,
        );
      }
      const shape = store.info(name).shape;
      if (shape.length !== p.shape.length || shape.some((d, k) => d !== p.shape[k])) {
        throw new TrainingError(
          `checkpoint ${dir}: tensor ${name} has shape [${shape.join(", ")}], the model [${p.shape.join(", ")}]: the checkpoint comes from another architecture`,
        );
      }
      p.data.set(store.readFloat32(name));
      opt.state.m[i].set(optState.readFloat32(`exp_avg.${p.name}`));
      opt.state.v[i].set(optState.readFloat32(`exp_avg_sq.${p.name}`));
    });
    // After the tensors: a checkpoint of another architecture is the more telling error.
    this.checkResumable(dir, state);
    opt.state.step = state.globalStep;
    return state;
  }

  /**
   * A resume replays the same batches in the same order only with the checkpoint's seed,
   * batch size and accumulation; anything else would be a different run under the same name.
   */
  private checkResumable(dir: string, state: TrainerState): void {
    const a = this.args;
    const raw = this.setup.args;
    const clash = (name: string, was: number | undefined, now: number | undefined) => {
      if (was !== undefined && now !== undefined && was !== now) {
        throw new TrainingError(
          `checkpoint ${dir} was trained with ${name} ${was}, this run asks for ${now}: resume with the same ${name} (an exact resume replays the same batches)`,
        );
      }
    };
    clash("seed", state.seed, raw.seed);
    clash("batchSize", state.batchSize, a.batchSize);
    clash("gradientAccumulationSteps", state.gradientAccumulationSteps, a.gradientAccumulationSteps);
  }

  /**
   * Drops the log lines of steps after `step` (a run that went on past the checkpoint being
   * resumed from, or was killed between its log line and its next checkpoint), so the resumed
   * run logs each step once. Rewritten atomically.
   */
  private truncateLog(step: number): void {
    const path = join(this.args.outputDir, "loss_log.jsonl");
    if (!existsSync(path)) return;
    const lines = readFileSync(path, "utf8").split("\n");
    const kept = lines.filter((l) => {
      if (l.trim() === "") return false;
      try {
        const s = (JSON.parse(l) as { step?: unknown }).step;
        return typeof s !== "number" || s <= step;
      } catch {
        return false; // a line cut short by a kill
      }
    });
    if (kept.length === lines.filter((l) => l.trim() !== "").length) return;
    writeFileAtomic(path, kept.map((l) => `${l}\n`).join(""));
  }

  private log(entry: Record<string, unknown>): void {
    appendFileSync(join(this.args.outputDir, "loss_log.jsonl"), `${JSON.stringify(entry)}\n`);
  }

  async train(): Promise<TrainResult> {
    const a = this.args;
    const { loss, examples, collate, evaluator } = this.setup;
    mkdirSync(a.outputDir, { recursive: true });
    const step = await createTrainingStep(this.trainable, loss, { threads: a.threads });
    const params = step.parameters;
    const opt = new AdamW(params, {
      lr: a.learningRate,
      betas: a.adamBetas,
      eps: a.adamEpsilon,
      weightDecay: a.weightDecay,
    });
    const total = this.totalSteps();
    const warmup = a.warmupSteps ?? Math.ceil(a.warmupRatio * total);
    let state: TrainerState = {
      globalStep: 0,
      epoch: 0,
      batchInEpoch: 0,
      seed: a.seed,
      totalSteps: total,
      batchSize: a.batchSize,
      gradientAccumulationSteps: a.gradientAccumulationSteps,
    };
    if (this.setup.resumeFromCheckpoint) {
      state = {
        ...this.resume(this.setup.resumeFromCheckpoint, params, opt),
        totalSteps: total,
        batchSize: a.batchSize,
        gradientAccumulationSteps: a.gradientAccumulationSteps,
      };
      this.truncateLog(state.globalStep);
    }

    const progress = makeProgress(a.showProgress);
    progress.start(total, "training");
    progress.increment(state.globalStep);
    const evaluations: TrainResult["evaluations"] = [];
    const runEval = async () => {
      if (!evaluator) return;
      const metrics = await evaluator({
        step: state.globalStep,
        model: this.trainable,
        parameters: params,
      });
      evaluations.push({ step: state.globalStep, metrics });
      this.log({ step: state.globalStep, eval: metrics });
    };
    const perEpoch = this.batchesPerEpoch();
    const accum = a.gradientAccumulationSteps;
    let lastLoss = Number.NaN;
    const started = Date.now();
    try {
      while (state.globalStep < total) {
        const order = shuffledOrder(examples.length, state.seed + state.epoch);
        // Accumulated gradients; with one micro-batch per step the step's own arrays are used.
        const sums = accum > 1 ? params.map((p) => new Float32Array(p.data.length)) : [];
        let grads: Float32Array[] = sums;
        let micro = 0;
        let lossSum = 0;
        let seen = 0;
        // Where the current accumulation group started: a checkpoint saved before the group's
        // optimiser step must resume from there.
        let groupStart = state.batchInEpoch;
        const goodState = (): TrainerState => ({ ...state, batchInEpoch: groupStart });
        while (state.batchInEpoch < perEpoch && state.globalStep < total) {
          const idx = order.slice(
            state.batchInEpoch * a.batchSize,
            (state.batchInEpoch + 1) * a.batchSize,
          );
          const batch = collate(idx.map((i) => examples[i]));
          const r = await step.run(batch, this.masks);
          if (!Number.isFinite(r.loss)) {
            // The parameters are still those of the last good step: keep them.
            const saved = await this.saveCheckpoint(params, opt, goodState());
            throw new TrainingError(
              `the loss is ${r.loss} at step ${state.globalStep + 1} (epoch ${state.epoch}, batch ${state.batchInEpoch}); stopped. The last good weights are in ${saved}. Lower the learning rate or check the data of that batch.`,
            );
          }
          if (accum === 1) grads = r.grads;
          else {
            for (let i = 0; i < sums.length; i++) {
              const g = r.grads[i];
              const s = sums[i];
              for (let j = 0; j < s.length; j++) s[j] += g[j] / accum;
            }
          }
          lossSum += r.loss;
          seen += loss.size(batch);
          micro++;
          state.batchInEpoch++;
          const lastOfEpoch = state.batchInEpoch === perEpoch;
          if (micro < accum && !lastOfEpoch) continue;

          const gradNorm = globalNorm(grads);
          if (!Number.isFinite(gradNorm)) {
            const saved = await this.saveCheckpoint(params, opt, goodState());
            throw new TrainingError(
              `the gradient norm is ${gradNorm} at step ${state.globalStep + 1}; stopped. The last good weights are in ${saved}.`,
            );
          }
          if (a.maxGradNorm > 0 && Number.isFinite(a.maxGradNorm)) {
            const coef = Math.min(1, a.maxGradNorm / (gradNorm + 1e-6));
            if (coef < 1) for (const s of grads) for (let j = 0; j < s.length; j++) s[j] *= coef;
          }
          const lr = a.learningRate * linearScheduleFactor(state.globalStep, warmup, total);
          opt.step(grads, lr);
          state.globalStep++;
          lastLoss = lossSum / micro;
          this.log({
            step: state.globalStep,
            epoch: state.epoch + state.batchInEpoch / perEpoch,
            loss: lastLoss,
            grad_norm: gradNorm,
            learning_rate: lr,
            examples: seen,
            elapsed_s: (Date.now() - started) / 1000,
          });
          progress.increment();
          for (const s of sums) s.fill(0);
          micro = 0;
          lossSum = 0;
          seen = 0;
          groupStart = state.batchInEpoch;
          if (a.saveSteps > 0 && state.globalStep % a.saveSteps === 0)
            await this.saveCheckpoint(params, opt, state);
          if (a.evalSteps > 0 && state.globalStep % a.evalSteps === 0) await runEval();
          if (this.stopping()) {
            const saved = await this.saveCheckpoint(params, opt, state);
            return {
              globalStep: state.globalStep,
              lastLoss,
              interrupted: true,
              savedTo: saved,
              evaluations,
            };
          }
        }
        if (state.batchInEpoch >= perEpoch) {
          state.epoch++;
          state.batchInEpoch = 0;
        }
      }
      await this.saveCheckpoint(params, opt, state);
      await this.saveModel(a.outputDir, params);
      if (a.evalSteps === 0 || state.globalStep % a.evalSteps !== 0) await runEval();
      return {
        globalStep: state.globalStep,
        lastLoss,
        interrupted: false,
        savedTo: a.outputDir,
        evaluations,
      };
    } finally {
      progress.stop();
      await step.dispose();
    }
  }
}
