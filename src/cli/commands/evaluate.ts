import type { Command } from "commander";
import { evaluate } from "../../evaluation/metrics.js";
import { readQrels, readRun } from "../../io/trec.js";
import { writeFileAtomic } from "../../util/atomic.js";

export interface EvaluateCommandOptions {
  run: string;
  qrels: string;
  metrics: string;
  makeComparable?: boolean;
  perQuery?: boolean;
  output?: string;
}

export const DEFAULT_EVALUATE_METRICS = "ndcg@10,map@100,recall@100,mrr@10,precision@10";

/** `tslate evaluate`: scores a TREC run against qrels (BEIR TSV or TREC), ranx semantics. */
export async function runEvaluate(
  o: EvaluateCommandOptions,
  out: { write(text: string): unknown } = process.stdout,
): Promise<Record<string, number>> {
  const metrics = o.metrics
    .split(",")
    .map((m) => m.trim())
    .filter((m) => m !== "");
  const [run, qrels] = await Promise.all([readRun(o.run), readQrels(o.qrels)]);
  const res = evaluate(qrels, run, metrics, { makeComparable: o.makeComparable });
  const width = Math.max(6, ...metrics.map((m) => m.length));
  const lines = [`${"metric".padEnd(width)}  value   (${res.queries} queries)`];
  for (const m of metrics) lines.push(`${m.padEnd(width)}  ${res.mean[m].toFixed(4)}`);
  if (o.perQuery) {
    lines.push("", ["query", ...metrics].join("\t"));
    for (const q of qrels.keys()) {
      if (!res.perQuery[metrics[0]].has(q)) continue;
      lines.push([q, ...metrics.map((m) => res.perQuery[m].get(q)!.toFixed(4))].join("\t"));
    }
  }
  out.write(`${lines.join("\n")}\n`);
  if (o.output) {
    const perQuery = Object.fromEntries(
      Object.entries(res.perQuery).map(([m, v]) => [m, Object.fromEntries(v)]),
    );
    writeFileAtomic(
      o.output,
      `${JSON.stringify({ run: o.run, qrels: o.qrels, queries: res.queries, mean: res.mean, perQuery }, null, 2)}\n`,
    );
  }
  return res.mean;
}

export function register(program: Command): void {
  program
    .command("evaluate")
    .description(
      "Score a TREC run file against qrels with ranx/trec_eval semantics (nDCG with linear gain, ties by doc id descending)",
    )
    .requiredOption("--run <path>", "TREC run file: qid Q0 docid rank score tag")
    .requiredOption(
      "--qrels <path>",
      "qrels: BEIR TSV (query-id, corpus-id, score) or TREC (qid 0 docid rel)",
    )
    .option(
      "--metrics <list>",
      "comma-separated ranx metrics: ndcg, ndcg_burges, map, recall, precision, mrr, hits, hit_rate, with @k and -lN",
      DEFAULT_EVALUATE_METRICS,
    )
    .option(
      "--make-comparable",
      "evaluate the qrels' queries only (missing run queries score 0), as ranx make_comparable",
    )
    .option("--per-query", "also print every query's values")
    .option("--output <path>", "write means and per-query values as JSON")
    .action(async (o: EvaluateCommandOptions) => {
      await runEvaluate(o);
    });
}
