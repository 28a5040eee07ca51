import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { Command } from "commander";
import { BM25_PRESETS, type BM25Preset } from "../../evaluation/bm25.js";
import {
  type BeirEvaluation,
  type BeirRetriever,
  BM25Retriever,
  DEFAULT_BEIR_METRICS,
  evaluateBeir,
  formatResultsTable,
  ModelRetriever,
  resolveSplit,
} from "../../evaluation/pipeline.js";
import { createIndex } from "../../indexes/registry.js";
import type { MultiVectorIndex } from "../../indexes/types.js";
import { writeRun } from "../../io/trec.js";
import { ColBERT } from "../../models/colbert.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { InvalidArgumentError } from "../../util/errors.js";

export interface BeirCommandOptions {
  model: string[];
  data: string[];
  split: string;
  index: string;
  indexDir?: string;
  k: string;
  metrics: string;
  batchSize: string;
  output?: string;
  saveRuns?: string;
  progress: boolean;
}

type IndexClass = {
  create(dir: string): Promise<MultiVectorIndex>;
};

/** The index class by name (the registry), or undefined for in-memory exact MaxSim. */
function indexClass(kind: string): IndexClass | undefined {
  if (kind === "memory") return undefined;
  if (kind !== "plaid" && kind !== "exact") {
    throw new InvalidArgumentError(`--index "${kind}" is not one of plaid, exact, memory`);
  }
  return { create: (dir: string) => createIndex(kind, dir) };
}

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got "${v}"`);
  }
  return n;
}

/** `bm25` or `bm25:<preset>` -> a BM25 retriever; anything else is a model path or hub id. */
function bm25Preset(model: string): BM25Preset | undefined {
  if (model === "bm25") return "anserini-multifield";
  if (!model.startsWith("bm25:")) return undefined;
  const preset = model.slice(5);
  if (!(preset in BM25_PRESETS)) {
    throw new InvalidArgumentError(
      `unknown BM25 preset "${preset}"; use one of ${Object.keys(BM25_PRESETS).join(", ")}`,
    );
  }
  return preset as BM25Preset;
}

/**
 * `tslate beir`: for every (model, dataset) pair, encode the corpus, index it, search the
 * split's queries, print a results table with per-stage timings and write JSON.
 */
export async function runBeirCommand(o: BeirCommandOptions): Promise<BeirEvaluation[]> {
  const k = positiveInt("--k", o.k);
  const batchSize = positiveInt("--batch-size", o.batchSize);
  const metrics = o.metrics
    .split(",")
    .map((m) => m.trim())
    .filter((m) => m !== "");
  const show = o.progress && process.stderr.isTTY === true;
  const cls = o.model.some((m) => bm25Preset(m) === undefined) ? indexClass(o.index) : undefined;
  const rows: BeirEvaluation[] = [];
  for (const modelName of o.model) {
    const preset = bm25Preset(modelName);
    const model = preset === undefined ? await ColBERT.fromPretrained(modelName) : undefined;
    try {
      for (const dir of o.data) {
        const dataset = basename(dir.replace(/[\\/]+$/, ""));
        let indexDir: string | undefined;
        let temporary = false;
        if (cls) {
          if (o.indexDir) {
            indexDir = join(o.indexDir, `${dataset}.${o.index}`);
            mkdirSync(o.indexDir, { recursive: true });
          } else {
            indexDir = join(mkdtempSync(join(tmpdir(), "tslate-beir-")), "index");
            temporary = true;
          }
        }
        const retriever: BeirRetriever =
          preset !== undefined
            ? new BM25Retriever(
                BM25_PRESETS[preset],
                preset === "anserini-multifield" ? "bm25" : `bm25:${preset}`,
              )
            : new ModelRetriever(model!, {
                batchSize,
                showProgress: show,
                name: modelName,
                createIndex: cls && indexDir ? () => cls.create(indexDir!) : undefined,
              });
        try {
          process.stderr.write(`${retriever.name} on ${dataset}...\n`);
          const ev = await evaluateBeir(retriever, dir, {
            split: resolveSplit(dir, o.split),
            k,
            metrics,
          });
          rows.push({ ...ev, dataset });
          if (o.saveRuns) {
            mkdirSync(o.saveRuns, { recursive: true });
            const safe = retriever.name.replace(/[^A-Za-z0-9._-]+/g, "_");
            writeRun(join(o.saveRuns, `${dataset}.${safe}.trec`), ev.run, { tag: safe });
          }
        } finally {
          await retriever.close?.();
          if (temporary && indexDir) rmSync(join(indexDir, ".."), { recursive: true, force: true });
        }
      }
    } finally {
      await model?.dispose();
    }
  }
  process.stdout.write(`${formatResultsTable(rows)}\n`);
  if (o.output) {
    const json = rows.map(({ run: _run, ...rest }) => ({
      ...rest,
      index: rest.retriever.startsWith("bm25") ? "bm25" : o.index,
    }));
    writeFileAtomic(o.output, `${JSON.stringify({ results: json }, null, 2)}\n`);
  }
  return rows;
}

export function register(program: Command): void {
  program
    .command("beir")
    .description(
      "Evaluate models on BEIR folders: encode, index, search, then print nDCG@10 etc. with timings per stage",
    )
    .requiredOption(
      "--model <models...>",
      'model paths or hub ids; "bm25" (or bm25:<preset>: anserini-multifield, anserini-flat, elasticsearch) for the BM25 baseline row',
    )
    .requiredOption(
      "--data <dirs...>",
      "BEIR folders (corpus.jsonl, queries.jsonl, qrels/<split>.tsv, or HF parquet)",
    )
    .option("--split <name>", "qrels split (a folder with a single split uses it)", "test")
    .option("--index <type>", "plaid, exact (on disk) or memory (exact MaxSim, no files)", "exact")
    .option(
      "--index-dir <dir>",
      "keep indexes here (default: a temporary folder, removed afterwards)",
    )
    .option("--k <n>", "results per query", "100")
    .option("--metrics <list>", "comma-separated ranx metrics", DEFAULT_BEIR_METRICS.join(","))
    .option("--batch-size <n>", "texts per encode call", "32")
    .option("--output <path>", "write the results (no runs) as JSON")
    .option("--save-runs <dir>", "write each run as <dir>/<dataset>.<model>.trec")
    .option("--no-progress", "no progress bars")
    .action(async (o: BeirCommandOptions) => {
      await runBeirCommand(o);
    });
}
