import { existsSync, statSync } from "node:fs";
import type { Command } from "commander";
import { ColBERT } from "../../models/colbert.js";
import { ConfigError } from "../../util/errors.js";
import { positiveInt } from "../args.js";
import { buildIndex, type IndexType, partialDir } from "../index-build.js";
import { modelRecord } from "../index-record.js";
import { makeOutput, verbosityOf } from "../output.js";

const INDEX_TYPES = ["plaid", "exact", "hnsw"];
const NBITS = [1, 2, 4, 8];
const CORPUS_FILE = /\.(jsonl|jsonl\.gz|parquet)$/;

/** Test hook: pause after this many chunks (the test then interrupts the process). */
const PAUSE_AFTER = Number(process.env.TSLATE_TEST_PAUSE_AFTER_CHUNK ?? 0);

/** `tslate index --model M --corpus corpus.jsonl --index DIR [--index-type plaid|exact|hnsw]` */
export function register(program: Command): void {
  program
    .command("index")
    .description(
      'Encode a BEIR corpus (title + " " + text per document) and build an index; an interrupted build leaves <index>.partial, which --resume continues',
    )
    .requiredOption("--model <pathOrHubId>", "ColBERT model directory or hub id")
    .requiredOption(
      "--corpus <path>",
      "BEIR corpus (.jsonl, .jsonl.gz or .parquet), or the dataset folder",
    )
    .requiredOption("--index <dir>", "folder of the new index (must not exist, unless --overwrite)")
    .option("--index-type <type>", "plaid, exact or hnsw", "plaid")
    .option("--batch-size <n>", "texts per forward pass", "32")
    .option("--encode-batch <n>", "documents per encode call and per resumable chunk", "1024")
    .option("--nbits <n>", `PLAID residual bits: ${NBITS.join(", ")} (default 4)`)
    .option("--build-memory-tokens <n>", "PLAID: token embeddings kept in memory while building")
    .option("--resume", "continue the interrupted build of this --index (reuses encoded chunks)")
    .option("--overwrite", "replace an existing index (kept until the new one is complete)")
    .option("--no-progress", "hide progress bars")
    .action(
      async (
        o: {
          model: string;
          corpus: string;
          index: string;
          indexType: string;
          batchSize: string;
          encodeBatch: string;
          nbits?: string;
          buildMemoryTokens?: string;
          resume?: boolean;
          overwrite?: boolean;
          progress: boolean;
        },
        cmd: Command,
      ) => {
        const out = makeOutput(verbosityOf(cmd), o.progress);
        if (!INDEX_TYPES.includes(o.indexType)) {
          throw new ConfigError(
            `--index-type must be one of ${INDEX_TYPES.join(", ")}, got ${JSON.stringify(o.indexType)}`,
          );
        }
        const nbits = positiveInt("nbits", o.nbits);
        if (nbits !== undefined && !NBITS.includes(nbits)) {
          throw new ConfigError(`--nbits must be one of ${NBITS.join(", ")}, got ${nbits}`);
        }
        if (existsSync(o.corpus) && statSync(o.corpus).isFile() && !CORPUS_FILE.test(o.corpus)) {
          throw new ConfigError(
            `--corpus ${o.corpus}: unsupported file type; give a .jsonl, .jsonl.gz or .parquet corpus (BEIR fields _id, title, text), or a BEIR folder`,
          );
        }
        const model = await ColBERT.fromPretrained(o.model);
        const t0 = performance.now();
        // Ctrl-C: say where the work is and how to continue, then stop (exit 130, as a shell does).
        const onSigint = () => {
          process.stderr.write(
            `\ntslate: interrupted; nothing was written to ${o.index}. The work so far is in ${partialDir(o.index)}: run the same command with --resume to continue\n`,
          );
          process.exit(130);
        };
        process.once("SIGINT", onSigint);
        try {
          const { documents, reused } = await buildIndex(
            model,
            modelRecord(model, o.model),
            o.corpus,
            o.index,
            {
              indexType: o.indexType as IndexType,
              batchSize: positiveInt("batch-size", o.batchSize)!,
              encodeBatch: positiveInt("encode-batch", o.encodeBatch),
              plaid: {
                nbits,
                buildMemoryTokens: positiveInt("build-memory-tokens", o.buildMemoryTokens),
              },
              resume: o.resume === true,
              overwrite: o.overwrite === true,
              progress: out.progress,
              log: out.info,
            detail: out.detail,
              afterChunk:
                PAUSE_AFTER > 0
                  ? async (chunk) => {
                      if (chunk !== PAUSE_AFTER) return;
                      process.stderr.write(`paused after chunk ${chunk}\n`);
                      await new Promise(() => setInterval(() => {}, 60_000)); // until the test kills it
                    }
                  : undefined,
            },
          );
          out.info(
            `indexed ${documents} documents into ${o.index} in ${((performance.now() - t0) / 1000).toFixed(1)} s${reused ? ` (${reused} encoded before the interruption)` : ""}`,
          );
        } finally {
          process.removeListener("SIGINT", onSigint);
          await model.dispose();
        }
      },
    );
}
