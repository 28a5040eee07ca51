import type { Command } from "commander";
import { ColBERT } from "../../models/colbert.js";
import { indexCorpus } from "../../retrieve/corpus.js";
import { positiveInt } from "../args.js";

/** `tslate index --model M --corpus corpus.jsonl --index DIR [--index-type plaid|exact|hnsw]` */
export function register(program: Command): void {
  program
    .command("index")
    .description('Encode a BEIR corpus (title + " " + text per document) and build an index')
    .requiredOption("--model <pathOrHubId>", "ColBERT model directory or hub id")
    .requiredOption("--corpus <path>", "BEIR corpus.jsonl (or the dataset directory)")
    .requiredOption("--index <dir>", "directory of the new index (must not hold one)")
    .option("--index-type <type>", "plaid, exact or hnsw", "plaid")
    .option("--batch-size <n>", "texts per forward pass", "32")
    .option("--nbits <n>", "PLAID residual bits (2 or 4)")
    .option("--build-memory-tokens <n>", "PLAID: token embeddings kept in memory while building")
    .option("--no-progress", "hide progress bars")
    .action(
      async (o: {
        model: string;
        corpus: string;
        index: string;
        indexType: string;
        batchSize: string;
        nbits?: string;
        buildMemoryTokens?: string;
        progress: boolean;
      }) => {
        const model = await ColBERT.fromPretrained(o.model);
        const t0 = performance.now();
        const { documents } = await indexCorpus(model, o.corpus, o.index, {
          indexType: o.indexType as "plaid" | "exact" | "hnsw",
          batchSize: positiveInt("batch-size", o.batchSize),
          showProgress: o.progress,
          plaid: {
            nbits: positiveInt("nbits", o.nbits),
            buildMemoryTokens: positiveInt("build-memory-tokens", o.buildMemoryTokens),
          },
        });
        process.stderr.write(
          `indexed ${documents} documents into ${o.index} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
        );
      },
    );
}
