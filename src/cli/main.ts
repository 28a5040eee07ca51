#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { TslateError } from "../util/errors.js";

// Each command lives in ./commands/<name>.ts and exports `register(program)`.
// Add one import and one line below per command.

const pkg = JSON.parse(
  readFileSync(new URL("../../../package.json", import.meta.url), "utf8"),
) as { version: string };

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("tslate")
    .description("Late-interaction (ColBERT) retrieval: encode, index, search, evaluate, train")
    .version(pkg.version);
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
    throw err;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("/cli/main.js")) {
  void main();
}
