/**
 * The `tslate train --config train.json` file, parsed and checked up front (unknown keys and
 * wrong types are ConfigErrors naming the key), then run.
 *
 * ```json
 * {
 *   "model": "path/to/pylate-model or org/name",
 *   "data": { "triplets": "train.jsonl" },
 *   "loss": { "name": "Contrastive", "temperature": 1.0 },
 *   "training": { "batchSize": 16, "numTrainEpochs": 1, "learningRate": 3e-6 },
 *   "output": "runs/my-model",
 *   "evaluation": { "beir": "data/scifact", "split": "test", "metrics": ["ndcg@10"] }
 * }
 * ```
 *
 * `data` is one of: `{ "triplets": path }` (JSONL or parquet with PyLate's columns),
 * `{ "distillation": { "train", "queries", "documents" } }` (PyLate's KD tables), or
 * `{ "beir": dir, "split": "train", "hardNegatives": { "from", "numNegatives", "skipTop", "depth" } }`
 * (triplets from a BEIR folder's judged pairs, negatives mined with BM25 or, `"from": "model"`,
 * by exact retrieval with the starting model). `loss.name` is Contrastive,
 * CachedContrastive or Distillation. `training` takes the TrainingArguments fields.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { loadBeir } from "../io/beir.js";
import { readRows } from "../io/rows.js";
import { CachedContrastive } from "../losses/cached-contrastive.js";
import { Contrastive } from "../losses/contrastive.js";
import { Distillation } from "../losses/distillation.js";
import type { ColBERTLoss } from "../losses/types.js";
import { ColBERT } from "../models/colbert.js";
import { ConfigError, FileFormatError } from "../util/errors.js";
import {
  ColBERTCollator,
  distillationFromRows,
  mineHardNegativesBM25,
  type TripletExample,
  tripletsFromRows,
} from "./data.js";
import { mineHardNegativesWithModel, retrievalEvaluator } from "./evaluate.js";
import { trainableParameters } from "./graph.js";
import {
  maskOptions,
  Trainer,
  type TrainingArguments,
  type TrainResult,
  trainableModel,
} from "./trainer.js";

export type DataConfig =
  | { readonly triplets: string }
  | {
      readonly distillation: {
        readonly train: string;
        readonly queries: string;
        readonly documents: string;
      };
    }
  | {
      readonly beir: string;
      readonly split?: string;
      readonly hardNegatives?: {
        /** "bm25" (default) or "model": exact MaxSim retrieval with the starting model. */
        readonly from?: "bm25" | "model";
        readonly numNegatives?: number;
        readonly skipTop?: number;
        readonly depth?: number;
      };
    };

export interface LossConfig {
  readonly name: "Contrastive" | "CachedContrastive" | "Distillation";
  readonly temperature?: number;
  readonly sizeAverage?: boolean;
  readonly miniBatchSize?: number;
  readonly normalizeScores?: boolean;
}

export interface TrainConfig {
  readonly model: string;
  readonly data: DataConfig;
  readonly loss: LossConfig;
  readonly training: Omit<TrainingArguments, "outputDir">;
  readonly output: string;
  readonly evaluation?: {
    readonly beir: string;
    readonly split?: string;
    readonly metrics?: string[];
    readonly k?: number;
  };
  readonly resumeFromCheckpoint?: string;
}

const TRAINING_KEYS: Record<string, "number" | "boolean" | "pair"> = {
  learningRate: "number",
  weightDecay: "number",
  adamBetas: "pair",
  adamEpsilon: "number",
  warmupSteps: "number",
  warmupRatio: "number",
  numTrainEpochs: "number",
  maxSteps: "number",
  batchSize: "number",
  gradientAccumulationSteps: "number",
  maxGradNorm: "number",
  seed: "number",
  saveSteps: "number",
  saveTotalLimit: "number",
  evalSteps: "number",
  showProgress: "boolean",
  threads: "number",
};

type Json = Record<string, unknown>;

function obj(v: unknown, where: string): Json {
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new ConfigError(`${where} must be a JSON object, got ${JSON.stringify(v)}`);
  return v as Json;
}

function onlyKeys(o: Json, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k))
      throw new ConfigError(`${where}: unknown key "${k}" (allowed: ${allowed.join(", ")})`);
  }
}

function str(v: unknown, where: string): string {
  if (typeof v !== "string" || v === "")
    throw new ConfigError(`${where} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function optNum(v: unknown, where: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v))
    throw new ConfigError(`${where} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/** Parses and checks a config object; relative paths are resolved against `baseDir`. */
export function parseTrainConfig(raw: unknown, baseDir = process.cwd()): TrainConfig {
  const c = obj(raw, "train config");
  onlyKeys(
    c,
    ["model", "data", "loss", "training", "output", "evaluation", "resumeFromCheckpoint"],
    "train config",
  );
  const path = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const model = str(c.model, "model");
  // A hub id ("org/name") stays as is; a path that exists locally is resolved.
  const modelRef = model.startsWith(".") || model.startsWith("/") ? path(model) : model;

  const d = obj(c.data, "data");
  let data: DataConfig;
  if ("triplets" in d) {
    onlyKeys(d, ["triplets"], "data");
    data = { triplets: path(str(d.triplets, "data.triplets")) };
  } else if ("distillation" in d) {
    onlyKeys(d, ["distillation"], "data");
    const k = obj(d.distillation, "data.distillation");
    onlyKeys(k, ["train", "queries", "documents"], "data.distillation");
    data = {
      distillation: {
        train: path(str(k.train, "data.distillation.train")),
        queries: path(str(k.queries, "data.distillation.queries")),
        documents: path(str(k.documents, "data.distillation.documents")),
      },
    };
  } else if ("beir" in d) {
    onlyKeys(d, ["beir", "split", "hardNegatives"], "data");
    const h = d.hardNegatives === undefined ? {} : obj(d.hardNegatives, "data.hardNegatives");
    onlyKeys(h, ["from", "numNegatives", "skipTop", "depth"], "data.hardNegatives");
    if (h.from !== undefined && h.from !== "bm25" && h.from !== "model") {
      throw new ConfigError(
        `data.hardNegatives.from must be "bm25" or "model", got ${JSON.stringify(h.from)}`,
      );
    }
    data = {
      beir: path(str(d.beir, "data.beir")),
      split: d.split === undefined ? "train" : str(d.split, "data.split"),
      hardNegatives: {
        from: (h.from as "bm25" | "model" | undefined) ?? "bm25",
        numNegatives: optNum(h.numNegatives, "data.hardNegatives.numNegatives"),
        skipTop: optNum(h.skipTop, "data.hardNegatives.skipTop"),
        depth: optNum(h.depth, "data.hardNegatives.depth"),
      },
    };
  } else {
    throw new ConfigError(
      `data must have one of "triplets", "distillation" or "beir"; got keys ${Object.keys(d).join(", ") || "none"}`,
    );
  }

  const l = c.loss === undefined ? { name: "Contrastive" } : obj(c.loss, "loss");
  onlyKeys(l, ["name", "temperature", "sizeAverage", "miniBatchSize", "normalizeScores"], "loss");
  const names = ["Contrastive", "CachedContrastive", "Distillation"];
  if (!names.includes(l.name as string))
    throw new ConfigError(
      `loss.name must be one of ${names.join(", ")}, got ${JSON.stringify(l.name)}`,
    );
  const isDistillation = "distillation" in data;
  if ((l.name === "Distillation") !== isDistillation) {
    throw new ConfigError(
      `loss ${l.name} does not fit the data: Distillation needs data.distillation, the contrastive losses triplets or beir`,
    );
  }
  for (const k of ["sizeAverage", "normalizeScores"]) {
    if (l[k] !== undefined && typeof l[k] !== "boolean")
      throw new ConfigError(`loss.${k} must be true or false`);
  }
  const loss: LossConfig = {
    name: l.name as LossConfig["name"],
    temperature: optNum(l.temperature, "loss.temperature"),
    sizeAverage: l.sizeAverage as boolean | undefined,
    miniBatchSize: optNum(l.miniBatchSize, "loss.miniBatchSize"),
    normalizeScores: l.normalizeScores as boolean | undefined,
  };

  const t = c.training === undefined ? {} : obj(c.training, "training");
  onlyKeys(t, Object.keys(TRAINING_KEYS), "training");
  for (const [k, v] of Object.entries(t)) {
    const kind = TRAINING_KEYS[k];
    const ok =
      kind === "number"
        ? typeof v === "number" && Number.isFinite(v)
        : kind === "boolean"
          ? typeof v === "boolean"
          : Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "number");
    if (!ok)
      throw new ConfigError(
        `training.${k} must be ${kind === "pair" ? "two numbers" : `a ${kind}`}, got ${JSON.stringify(v)}`,
      );
  }

  let evaluation: TrainConfig["evaluation"];
  if (c.evaluation !== undefined) {
    const e = obj(c.evaluation, "evaluation");
    onlyKeys(e, ["beir", "split", "metrics", "k"], "evaluation");
    if (
      e.metrics !== undefined &&
      !(Array.isArray(e.metrics) && e.metrics.every((m) => typeof m === "string"))
    ) {
      throw new ConfigError('evaluation.metrics must be a list of metric names like ["ndcg@10"]');
    }
    evaluation = {
      beir: path(str(e.beir, "evaluation.beir")),
      split: e.split === undefined ? "test" : str(e.split, "evaluation.split"),
      metrics: e.metrics as string[] | undefined,
      k: optNum(e.k, "evaluation.k"),
    };
  }
  return {
    model: modelRef,
    data,
    loss,
    training: t as TrainConfig["training"],
    output: path(str(c.output, "output")),
    evaluation,
    resumeFromCheckpoint:
      c.resumeFromCheckpoint === undefined
        ? undefined
        : path(str(c.resumeFromCheckpoint, "resumeFromCheckpoint")),
  };
}

/** Reads a config file (paths inside are relative to the file's folder). */
export function readTrainConfig(file: string): TrainConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new FileFormatError(file, `cannot read the training config (${(err as Error).message})`, {
      cause: err,
    });
  }
  return parseTrainConfig(raw, dirname(resolve(file)));
}

export interface RunTrainOptions {
  readonly log?: (message: string) => void;
  /** Receives the trainer once built (e.g. to call `stop()` on Ctrl-C). */
  readonly onTrainer?: (trainer: { stop(): void }) => void;
  /** Aborting it stops training after the current step, with a checkpoint (Trainer's `signal`). */
  readonly signal?: AbortSignal;
}

/** Loads model and data, trains, returns the result. */
export async function runTrainConfig(
  config: TrainConfig,
  options: RunTrainOptions = {},
): Promise<TrainResult> {
  const log = options.log ?? (() => {});
  const threads = config.training.threads;
  const model = await ColBERT.fromPretrained(config.model, { threads });
  try {
    const tokenize = (texts: string[], o: { isQuery: boolean; pad: boolean }) =>
      model.tokenize(texts, o);
    const collator = new ColBERTCollator(tokenize);
    const masks = maskOptions(model);
    const evaluator = config.evaluation
      ? retrievalEvaluator(
          await loadBeir(config.evaluation.beir, { split: config.evaluation.split }),
          tokenize,
          masks,
          {
            metrics: config.evaluation.metrics,
            k: config.evaluation.k,
            threads,
          },
        )
      : undefined;
    const args: TrainingArguments = { ...config.training, outputDir: config.output };
    const common = {
      model,
      args,
      evaluator,
      resumeFromCheckpoint: config.resumeFromCheckpoint,
      signal: options.signal,
    };
    let trainer: Trainer<never, never>;
    const d = config.data;
    if ("distillation" in d) {
      const [train, queries, documents] = await Promise.all([
        readRows(d.distillation.train),
        readRows(d.distillation.queries),
        readRows(d.distillation.documents),
      ]);
      const examples = distillationFromRows(train, queries, documents);
      log(
        `${examples.length} distillation examples, ${examples[0].documents.length} documents each`,
      );
      const loss = new Distillation({
        documentsPerQuery: examples[0].documents.length,
        normalizeScores: config.loss.normalizeScores,
      });
      trainer = new Trainer({
        ...common,
        loss,
        examples,
        collate: (e) => collator.distillation(e),
      }) as unknown as Trainer<never, never>;
    } else {
      let examples: TripletExample[];
      if ("triplets" in d) examples = tripletsFromRows(await readRows(d.triplets), d.triplets);
      else {
        const ds = await loadBeir(d.beir, { split: d.split });
        if (d.hardNegatives?.from === "model") {
          const trainable = trainableModel(model);
          const ctx = { step: 0, model: trainable, parameters: trainableParameters(trainable) };
          examples = await mineHardNegativesWithModel(ctx, ds, tokenize, masks, {
            ...d.hardNegatives,
            threads,
          });
        } else examples = mineHardNegativesBM25(ds.corpus, ds.queries, ds.qrels, d.hardNegatives);
      }
      log(
        `${examples.length} training triplets, ${examples[0].negatives.length} hard negatives each`,
      );
      const settings = {
        temperature: config.loss.temperature,
        sizeAverage: config.loss.sizeAverage,
      };
      const loss: ColBERTLoss<ReturnType<ColBERTCollator["contrastive"]>> =
        config.loss.name === "CachedContrastive"
          ? new CachedContrastive({ ...settings, miniBatchSize: config.loss.miniBatchSize })
          : new Contrastive(settings);
      trainer = new Trainer({
        ...common,
        loss,
        examples,
        collate: (e) => collator.contrastive(e),
      }) as unknown as Trainer<never, never>;
    }
    options.onTrainer?.(trainer);
    return await trainer.train();
  } finally {
    await model.dispose();
  }
}
