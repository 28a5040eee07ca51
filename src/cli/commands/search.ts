import type { Command } from "commander";
import { ColBERT } from "../../models/colbert.js";
import { type SearchParameters, searchQueries } from "../../retrieve/corpus.js";
import { finiteNumber, positiveInt } from "../args.js";

/** `tslate search --model M --index DIR --queries queries.jsonl --k 10 --output run.trec` */
export function register(program: Command): void {
  program
    .command("search")
    .description("Encode BEIR queries, search an index and write a TREC run")
    .requiredOption("--model <pathOrHubId>", "ColBERT model directory or hub id")
    .requiredOption("--index <dir>", "index directory (plaid, exact or hnsw)")
    .requiredOption("--queries <path>", "BEIR queries.jsonl (or the dataset directory)")
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
    .option("--no-progress", "hide progress bars")
    .action(
      async (o: {
        model: string;
        index: string;
        queries: string;
        k: string;
        output?: string;
        batchSize: string;
        nIvfProbe?: string;
        nFullScores?: string;
        centroidScoreThreshold?: string;
        searchWorkers: string;
        progress: boolean;
      }) => {
        const searchParameters: SearchParameters = {};
        const probe = positiveInt("n-ivf-probe", o.nIvfProbe);
        const full = positiveInt("n-full-scores", o.nFullScores);
        if (probe) searchParameters.nIvfProbe = probe;
        if (full) searchParameters.nFullScores = full;
        const threshold = finiteNumber("centroid-score-threshold", o.centroidScoreThreshold);
        if (threshold !== undefined) searchParameters.centroidScoreThreshold = threshold;
        const model = await ColBERT.fromPretrained(o.model);
        const { queryIds, results } = await searchQueries(
          model,
          o.index,
          o.queries,
          o.output ?? null,
          {
            k: positiveInt("k", o.k),
            batchSize: positiveInt("batch-size", o.batchSize),
            showProgress: o.progress,
            searchParameters,
            searchWorkers: positiveInt("search-workers", o.searchWorkers),
          },
        );
        if (!o.output) {
          results.forEach((hits, i) => {
            hits.forEach((h, r) =>
              process.stdout.write(`${queryIds[i]} Q0 ${h.id} ${r + 1} ${h.score} tslate\n`),
            );
          });
        }
      },
    );
}
