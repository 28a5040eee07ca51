#!/usr/bin/env node
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
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
    .version(packageVersion());
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

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof TslateError) {
      process.stderr.write(`tslate: error [${err.code}]: ${err.message}\n`);
      process.exit(2);
    }
    // Not one of ours (a bug or a runtime failure): say so, with the stack for a report.
    process.stderr.write(`tslate: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  }
}

// Run when executed (directly or through the npm bin symlink), not when imported by tests.
const invoked = process.argv[1] ? realpathSync(process.argv[1]) : "";
if (invoked === fileURLToPath(import.meta.url)) {
  void main();
}
