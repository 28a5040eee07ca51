import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { EmbeddingFileWriter, formatFromPath } from "../../io/embeddings.js";
import { ColBERT } from "../../models/colbert.js";
import {
  checkPrecision,
  type Precision,
  quantizationRanges,
  quantizeEmbeddings,
} from "../../models/quantization.js";
import { writeFileAtomic } from "../../util/atomic.js";
import {
  ConfigError,
  DataError,
  FileFormatError,
  InvalidArgumentError,
} from "../../util/errors.js";
import { makeProgress } from "../../util/progress.js";
import { positiveInt } from "../args.js";

/** One text to encode with its id. */
export interface TextRecord {
  id: string;
  text: string;
}

/**
 * Streams texts from a .jsonl file (`_id` or `id`, `text`, optional `title` joined as
 * "title text" like PyLate's BEIR loader) or a .txt file (one text per line, id = line number).
 */
export async function* readTexts(path: string): AsyncGenerator<TextRecord> {
  if (!existsSync(path)) throw new FileFormatError(path, "input file not found", { missing: true });
  const jsonl = path.endsWith(".jsonl") || path.endsWith(".json");
  if (!jsonl && !path.endsWith(".txt")) {
    throw new ConfigError(
      `--input ${path}: unsupported file type ${JSON.stringify(extname(path) || "(none)")}; give a .jsonl (_id, text[, title]) or a .txt (one text per line)`,
    );
  }
  const lines = createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Infinity });
  let n = 0;
  for await (const raw of lines) {
    n++;
    const line = raw.replace(/\r$/, "");
    if (!jsonl) {
      yield { id: String(n), text: line };
      continue;
    }
    if (line.trim() === "") continue;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new DataError(`${path}:${n}: not valid JSON (${(err as Error).message})`);
    }
    const id = obj._id ?? obj.id;
    if (typeof id !== "string" && typeof id !== "number") {
      throw new DataError(`${path}:${n}: missing "_id" (or "id") field`);
    }
    if (typeof obj.text !== "string") {
      throw new DataError(`${path}:${n}: missing string "text" field`);
    }
    const title = typeof obj.title === "string" ? obj.title : "";
    yield { id: String(id), text: title ? `${title} ${obj.text}`.trim() : obj.text.trim() };
  }
}

export interface EncodeCommandOptions {
  model: string;
  input: string;
  output: string;
  query?: boolean;
  batchSize?: string;
  poolFactor?: string;
  revision?: string;
  threads?: string;
  progress?: boolean;
  precision?: string;
  ranges?: string;
  calibrationSize?: string;
}

/** `<out>.ranges.json`: the int8/uint8 ranges used, to quantise queries alike (--ranges). */
export function rangesPath(output: string): string {
  return output.replace(/\.(safetensors|npy)$/, ".ranges.json");
}

function readRanges(path: string): [number[], number[]] {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new FileFormatError(path, `cannot read the ranges (${(err as Error).message})`);
  }
  const ok = (a: unknown): a is number[] =>
    Array.isArray(a) && a.every((x) => typeof x === "number");
  if (!Array.isArray(value) || value.length !== 2 || !ok(value[0]) || !ok(value[1])) {
    throw new FileFormatError(path, "ranges must be a JSON array [min[], max[]] of numbers");
  }
  return [value[0], value[1]];
}

export async function runEncode(opts: EncodeCommandOptions): Promise<number> {
  formatFromPath(opts.output);
  const outDir = dirname(resolve(opts.output));
  if (!existsSync(outDir) || !statSync(outDir).isDirectory()) {
    throw new ConfigError(
      `--output ${opts.output}: folder ${outDir} does not exist; create it first`,
    );
  }
  const batchSize = positiveInt("batch-size", opts.batchSize) ?? 32;
  const poolFactor = positiveInt("pool-factor", opts.poolFactor) ?? 1;
  let precision: Precision;
  try {
    precision = checkPrecision(opts.precision ?? "float32");
  } catch {
    throw new InvalidArgumentError(
      `--precision must be float32, int8, uint8, binary or ubinary, got ${JSON.stringify(opts.precision)}`,
    );
  }
  const bucketed = precision === "int8" || precision === "uint8";
  if (opts.ranges !== undefined && !bucketed) {
    throw new InvalidArgumentError("--ranges only applies to --precision int8 or uint8");
  }
  let ranges = opts.ranges !== undefined ? readRanges(opts.ranges) : undefined;
  const calibrationSize = positiveInt("calibration-size", opts.calibrationSize) ?? 1000;
  const model = await ColBERT.fromPretrained(opts.model, {
    revision: opts.revision,
    threads: positiveInt("threads", opts.threads),
  });
  const writer = new EmbeddingFileWriter(opts.output, undefined, precision);
  const progress = makeProgress(opts.progress !== false);
  const onSignal = () => {
    writer.abort();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  try {
    // Count first so that the bar has a total (a cheap line scan).
    let total = 0;
    for await (const _ of readTexts(opts.input)) total++;
    progress.start(total, opts.query ? "Encoding queries" : "Encoding documents");
    const chunk: TextRecord[] = [];
    const flush = async () => {
      const mats = await model.encode(
        chunk.map((r) => r.text),
        { isQuery: opts.query === true, batchSize, poolFactor },
      );
      // int8/uint8: one set of ranges for the whole file, from the first chunk (the
      // calibration sample) unless --ranges gives them.
      if (bucketed && !ranges)
        ranges = quantizationRanges(mats).map((r) => Array.from(r)) as [number[], number[]];
      const out = quantizeEmbeddings(mats, precision, { ranges });
      out.forEach((m, i) => writer.add(chunk[i].id, m));
      progress.increment(chunk.length);
      chunk.length = 0;
    };
    for await (const rec of readTexts(opts.input)) {
      chunk.push(rec);
      if (chunk.length >= (bucketed && !ranges ? calibrationSize : batchSize * 8)) await flush();
    }
    if (chunk.length > 0) await flush();
    await writer.finish();
    if (bucketed && ranges) writeFileAtomic(rangesPath(opts.output), JSON.stringify(ranges));
    return writer.count;
  } catch (err) {
    writer.abort();
    throw err;
  } finally {
    progress.stop();
    process.off("SIGINT", onSignal);
    await model.dispose();
  }
}

export function register(program: Command): void {
  program
    .command("encode")
    .description(
      "Encode texts into ColBERT multi-vector embeddings (safetensors or .npy + ids.json)",
    )
    .requiredOption("--model <dir|hub id>", "model directory or Hugging Face hub id")
    .requiredOption("--input <file>", "texts: .jsonl (_id, text[, title]) or .txt (one per line)")
    .requiredOption("--output <file>", "output .safetensors or .npy (ids go to <output>.ids.json)")
    .option("--query", "encode as queries ([Q] prefix, [MASK] expansion)")
    .option("--batch-size <n>", "texts per forward pass", "32")
    .option("--pool-factor <n>", "hierarchical token pooling factor for documents", "1")
    .option("--revision <rev>", "hub revision (branch, tag or commit)")
    .option("--threads <n>", "onnxruntime threads (default: all cores)")
    .option(
      "--precision <p>",
      "float32, int8, uint8 (per-dimension buckets), binary or ubinary (packed signs)",
      "float32",
    )
    .option(
      "--ranges <file.json>",
      "int8/uint8: [min[], max[]] per dimension, e.g. the documents' <out>.ranges.json",
    )
    .option(
      "--calibration-size <n>",
      "int8/uint8 without --ranges: texts whose embeddings set the ranges",
      "1000",
    )
    .option("--no-progress", "hide the progress bar")
    .action(async (opts: EncodeCommandOptions) => {
      const n = await runEncode(opts);
      process.stderr.write(`tslate: wrote ${n} embeddings to ${opts.output}\n`);
    });
}
