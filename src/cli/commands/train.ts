import type { Command } from "commander";
import { readTrainConfig, runTrainConfig } from "../../training/config.js";
import type { TrainResult } from "../../training/trainer.js";

export interface TrainCommandOptions {
  config: string;
  resume?: string;
  progress: boolean;
}

/** `tslate train --config train.json`: fine-tunes a ColBERT model (see src/training/config.ts). */
export async function runTrainCommand(
  o: TrainCommandOptions,
  out: { write(text: string): unknown } = process.stdout,
  err: { write(text: string): unknown } = process.stderr,
): Promise<TrainResult> {
  const config = readTrainConfig(o.config);
  const run = {
    ...config,
    training: {
      ...config.training,
      showProgress: o.progress && (config.training.showProgress ?? true),
    },
    resumeFromCheckpoint: o.resume ?? config.resumeFromCheckpoint,
  };
  // Ctrl-C: the trainer finishes its step and saves a checkpoint (the handler is the CLI's,
  // not the library's); a second Ctrl-C kills the process as usual.
  let onSigint: (() => void) | undefined;
  let result: TrainResult;
  try {
    result = await runTrainConfig(run, {
      log: (m) => err.write(`tslate train: ${m}\n`),
      onTrainer: (trainer) => {
        onSigint = () => trainer.stop();
        process.once("SIGINT", onSigint);
      },
    });
  } finally {
    if (onSigint) process.removeListener("SIGINT", onSigint);
  }
  for (const e of result.evaluations) {
    out.write(
      `step ${e.step}: ${Object.entries(e.metrics)
        .map(([k, v]) => `${k} ${v.toFixed(4)}`)
        .join(", ")}\n`,
    );
  }
  if (result.interrupted) {
    out.write(
      `interrupted at step ${result.globalStep}; checkpoint saved in ${result.savedTo} (resume with --resume ${result.savedTo})\n`,
    );
  } else {
    out.write(
      `trained ${result.globalStep} steps, last loss ${result.lastLoss.toFixed(4)}; model saved in ${result.savedTo}\n`,
    );
  }
  return result;
}

export function register(program: Command): void {
  program
    .command("train")
    .description(
      "Train or fine-tune a ColBERT model with PyLate's losses (Contrastive, CachedContrastive, Distillation); Ctrl-C saves a checkpoint",
    )
    .requiredOption(
      "--config <path>",
      "JSON config: model, data, loss, training, output[, evaluation]",
    )
    .option("--resume <checkpoint>", "continue from a checkpoint-N folder of an earlier run")
    .option("--no-progress", "no progress bar")
    .action(async (o: TrainCommandOptions) => {
      const result = await runTrainCommand(o);
      if (result.interrupted) process.exitCode = 130;
    });
}
