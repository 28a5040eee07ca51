import { existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { Command } from "commander";
import { openIndex } from "../../indexes/index.js";
import { ParallelSearcher } from "../../indexes/parallel.js";
import type { SearchResult } from "../../indexes/types.js";
import { type BeirQuery, loadBeirQueries, streamQueries } from "../../io/beir.js";
import { runFromHits, writeRun } from "../../io/trec.js";
import { ColBERT } from "../../models/colbert.js";
import { ConfigError } from "../../util/errors.js";
import { finiteNumber, positiveInt } from "../args.js";
import { checkIndexForSearch, modelRecord } from "../index-record.js";
import { makeOutput, verbosityOf } from "../output.js";

interface SearchCommandOptions {
  model: string;
  index: string;
  queries: string;
  split?: string;
  k: string;
  output?: string;
  batchSize: string;
  nIvfProbe?: string;
  nFullScores?: string;
  centroidScoreThreshold?: string;
  searchWorkers: string;
  force?: boolean;
  progress: boolean;
}

/** The queries to run: all of a file or folder, or (with --split) those the split judges. */
async function readQueries(path: string, split: string | undefined): Promise<BeirQuery[]> {
  if (split === undefined) {
    const queries: BeirQuery[] = [];
    for await (const q of streamQueries(path)) queries.push(q);
    return queries;
  }
  if (!existsSync(path) || !statSync(path).isDirectory()) {
    throw new ConfigError(
      `--split ${split} needs --queries to be a BEIR folder (with qrels/${split}.tsv), got ${path}`,
    );
  }
  return (await loadBeirQueries(path, { split })).queries;
}

/** `tslate search --model M --index DIR --queries queries.jsonl --k 10 --output run.trec` */
export function register(program: Command): void {
  program
    .command("search")
    .description("Encode BEIR queries, search an index and write a TREC run")
    .requiredOption("--model <pathOrHubId>", "ColBERT model directory or hub id (the indexing one)")
    .requiredOption("--index <dir>", "index folder (plaid, exact or hnsw)")
    .requiredOption("--queries <path>", "BEIR queries.jsonl, or the dataset folder")
    .option("--split <name>", "only the queries judged in qrels/<name>.tsv (needs a BEIR folder)")
    .option("--k <n>", "results per query", "10")
    .option("--output <file>", "TREC run file (stdout when omitted)")
    .option("--batch-size <n>", "texts per forward pass", "32")
    .option("--n-ivf-probe <n>", "PLAID: centroids probed per query token")
    .option("--n-full-scores <n>", "PLAID: candidates kept after approximate scoring")
    .option(
      "--centroid-score-threshold <x>",
      "PLAID: skip probed centroids whose best query-token score is below x (next-plaid uses 0.4)",
    )
    .option("--search-workers <n>", "worker threads searching the index", "1")
    .option("--force", "search even if the index was built with a model of other settings")
    .option("--no-progress", "hide progress bars")
    .action(async (o: SearchCommandOptions, cmd: Command) => {
      const out = makeOutput(verbosityOf(cmd), o.progress);
      const searchParameters: Record<string, number> = {};
      const probe = positiveInt("n-ivf-probe", o.nIvfProbe);
      const full = positiveInt("n-full-scores", o.nFullScores);
      if (probe) searchParameters.nIvfProbe = probe;
      if (full) searchParameters.nFullScores = full;
      const threshold = finiteNumber("centroid-score-threshold", o.centroidScoreThreshold);
      if (threshold !== undefined) searchParameters.centroidScoreThreshold = threshold;
      const k = positiveInt("k", o.k)!;
      const batchSize = positiveInt("batch-size", o.batchSize)!;
      const workers = positiveInt("search-workers", o.searchWorkers)!;
      if (o.output && !existsSync(dirname(o.output))) {
        throw new ConfigError(
          `--output ${o.output}: folder ${dirname(o.output)} does not exist; create it first`,
        );
      }
      const queries = await readQueries(o.queries, o.split);
      const model = await ColBERT.fromPretrained(o.model);
      try {
        checkIndexForSearch(o.index, modelRecord(model, o.model), o.force === true, out.warn);
        const t0 = performance.now();
        const index =
          workers === 1
            ? await openIndex(o.index)
            : await ParallelSearcher.open(o.index, { workers });
        out.detail(`opened ${o.index} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        const results: SearchResult[][] = [];
        const bar = out.progress("searching");
        const t1 = performance.now();
        bar.start(queries.length, "encoding + searching queries");
        try {
          const step = 256;
          for (let i = 0; i < queries.length; i += step) {
            const batch = queries.slice(i, i + step);
            const embs = await model.encode(
              batch.map((q) => q.text),
              { isQuery: true, batchSize },
            );
            results.push(...(await index.search(embs, { k, ...searchParameters })));
            bar.increment(batch.length);
          }
        } finally {
          bar.stop();
          await index.close();
        }
        const seconds = (performance.now() - t1) / 1000;
        const queryIds = queries.map((q) => q.id);
        if (o.output) {
          writeRun(o.output, runFromHits(queryIds, results));
        } else {
          results.forEach((hits, i) => {
            hits.forEach((h, r) =>
              process.stdout.write(`${queryIds[i]} Q0 ${h.id} ${r + 1} ${h.score} tslate\n`),
            );
          });
        }
        out.info(
          `searched ${queries.length} queries in ${seconds.toFixed(1)} s (${(queries.length / Math.max(seconds, 1e-9)).toFixed(1)} q/s)${o.output ? `, run written to ${o.output}` : ""}`,
        );
      } finally {
        await model.dispose();
      }
    });
}
