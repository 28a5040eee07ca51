#!/usr/bin/env node
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { TslateError } from "../util/errors.js";
import { register as registerBeir } from "./commands/beir.js";
import { register as registerDownload } from "./commands/download.js";
import { register as registerEncode } from "./commands/encode.js";
import { register as registerEvaluate } from "./commands/evaluate.js";
import { register as registerExport } from "./commands/export.js";
import { register as registerIndex } from "./commands/build-index.js";
import { register as registerSearch } from "./commands/search.js";
import { register as registerServe } from "./commands/serve.js";
import { register as registerTrain } from "./commands/train.js";
import { addOutputOptions } from "./output.js";

// Each command lives in ./commands/<name>.ts and exports `register(program)`.
// Add one import and one line below per command.

// Compiled to dist/cli/ (the package) or build/src/cli/ (tests and benches): the package's own
// package.json is the first one found going up.
function packageVersion(): string {
  for (let depth = 1; depth <= 4; depth++) {
    try {
      const text = readFileSync(
        new URL(`${"../".repeat(depth)}package.json`, import.meta.url),
        "utf8",
      );
      return (JSON.parse(text) as { version: string }).version;
    } catch {
      // not at this level
    }
  }
  return "unknown";
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("tslate")
    .description("Late-interaction (ColBERT) retrieval: encode, index, search, evaluate, train")
    .version(packageVersion())
    // Usage errors (a missing or unknown option...) throw instead of exiting, so that main()
    // prints them in the one error format; settings are inherited by the commands below.
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .showHelpAfterError(false);
  addOutputOptions(program);
  registerEncode(program);
  registerEvaluate(program);
  registerBeir(program);
  registerDownload(program);
  registerIndex(program);
  registerSearch(program);
  registerServe(program);
  registerTrain(program);
  registerExport(program);
  return program;
}

/** Operating-system error codes (ENOENT, ENOTDIR, EACCES...) carried by Node's fs errors. */
function systemCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * Every failure ends as `tslate: error [CODE]: message` on stderr and exit code 2: our errors
 * (their stable code), usage errors (USAGE), file-system errors (the OS code: ENOENT...), and
 * anything else (INTERNAL: a bug; --verbose adds the stack).
 */
export function describeFailure(err: unknown, verbose: boolean): string {
  if (err instanceof TslateError) return `tslate: error [${err.code}]: ${err.message}\n`;
  if (err instanceof CommanderError) {
    if (err.code === "commander.help")
      return "tslate: error [USAGE]: no command given (see tslate --help)\n";
    const message = err.message.replace(/^error: /, "");
    return `tslate: error [USAGE]: ${message} (see tslate --help)\n`;
  }
  const code = systemCode(err);
  if (code) {
    const message = (err as Error).message.replace(new RegExp(`^${code}: `), "");
    return `tslate: error [${code}]: ${message}\n`;
  }
  const stack = verbose
    ? `\n${(err as Error)?.stack ?? ""}`
    : " (run with --verbose for the stack)";
  return `tslate: error [INTERNAL]: ${(err as Error)?.message ?? String(err)}; this is a bug in tslate, please report it${stack}\n`;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    // --help and --version end through exitOverride too, with their own (zero) exit code.
    if (err instanceof CommanderError && err.exitCode === 0) process.exit(0);
    const verbose = process.argv.includes("--verbose") || process.argv.includes("-v");
    process.stderr.write(describeFailure(err, verbose));
    process.exit(2);
  }
}

// Run when executed (directly or through the npm bin symlink), not when imported by tests.
const invoked = process.argv[1] ? realpathSync(process.argv[1]) : "";
if (invoked === fileURLToPath(import.meta.url)) {
  void main();
}
