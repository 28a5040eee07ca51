import { createRequire } from "node:module";
import type cliProgressModule from "cli-progress";

/** A progress reporter: the CLI shows a bar, the library stays silent unless asked. */
export interface Progress {
  start(total: number, label: string): void;
  increment(n?: number): void;
  stop(): void;
}

export const silentProgress: Progress = {
  start() {},
  increment() {},
  stop() {},
};

/** A progress bar on stderr (so that stdout stays clean for results). */
export function progressBar(): Progress {
  // Loaded only when a bar is shown, so that importing the library does not load the CLI's
  // terminal dependencies.
  const cliProgress = createRequire(import.meta.url)("cli-progress") as typeof cliProgressModule;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: "{label} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left",
      hideCursor: false,
      etaBuffer: 50,
      noTTYOutput: false,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  return {
    start(total, label) {
      bar.start(total, 0, { label });
    },
    increment(n = 1) {
      bar.increment(n);
    },
    stop() {
      bar.stop();
    },
  };
}

/** Picks a bar when asked for and stderr is a terminal (or forced), silence otherwise. */
export function makeProgress(show: boolean | undefined): Progress {
  return show ? progressBar() : silentProgress;
}
