import type { Command } from "commander";
import { makeProgress, type Progress, silentProgress } from "../util/progress.js";

/**
 * What a command prints on stderr, by level: `--quiet` shows errors only, the default shows
 * progress bars (on a terminal) and one-line summaries, `--verbose` adds what each phase did
 * and took. stdout stays for results (TREC runs, tables).
 */
export interface Output {
  /** A summary line (default and --verbose). */
  info(message: string): void;
  /** Detail (--verbose only). */
  detail(message: string): void;
  /** A warning (always, even with --quiet: it says something may be wrong). */
  warn(message: string): void;
  /** A labelled progress bar for one phase (default and --verbose, and not --no-progress). */
  progress(label: string): Progress;
}

export type Verbosity = "quiet" | "normal" | "verbose";

/** Global options: `tslate --quiet <command>` or `tslate <command> --quiet` both work. */
export function addOutputOptions(cmd: Command): Command {
  return cmd
    .option("-q, --quiet", "print errors and warnings only")
    .option("-v, --verbose", "also print what each phase did and how long it took");
}

export function verbosityOf(cmd: Command): Verbosity {
  const o = cmd.optsWithGlobals() as { quiet?: boolean; verbose?: boolean };
  if (o.quiet && o.verbose) return "verbose";
  return o.quiet ? "quiet" : o.verbose ? "verbose" : "normal";
}

export function makeOutput(verbosity: Verbosity, showProgress: boolean): Output {
  const write = (m: string) => process.stderr.write(`${m}\n`);
  return {
    info: (m) => verbosity !== "quiet" && write(m),
    detail: (m) => verbosity === "verbose" && write(m),
    warn: (m) => write(`tslate: warning: ${m}`),
    progress: () => (verbosity === "quiet" || !showProgress ? silentProgress : makeProgress(true)),
  };
}
