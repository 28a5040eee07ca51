/**
 * `tslate index` against the same work inside `tslate beir` (encode the corpus and add it to an
 * Exact index), on the first --docs documents of SciFact with the tiny fixture model (or
 * --model). Each variant is a fresh CLI process, run --repeat times in turn; the table gives the
 * median seconds of encode + index (model load excluded: `tslate index`'s own "indexed ... in
 * X s", `tslate beir`'s "encode documents" + "index" stage timings) and the ratio to beir.
 *
 *   npm run bench:cli-index -- [--docs 2000] [--repeat 3] [--model DIR] [--out bench/results/cli-index.json]
 *   (wrap in `flock /tmp/tslate-bench.lock` on a shared machine)
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../src/util/atomic.js";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const cli = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const shared = fileURLToPath(new URL("../../../shared/", import.meta.url));
const model = resolve(opt("--model", join(shared, "fixtures/bert-tiny-colbert")));
const docs = Number(opt("--docs", "2000"));
const repeat = Number(opt("--repeat", "3"));
const outPath = resolve(opt("--out", "bench/results/cli-index.json"));

const tmp = mkdtempSync(join(tmpdir(), "tslate-bench-cli-index-"));
try {
  // A BEIR folder: the first `docs` documents, the test queries judging them (beir needs some).
  const data = join(tmp, "scifact");
  mkdirSync(join(data, "qrels"), { recursive: true });
  const corpus = readFileSync(join(shared, "data/scifact/corpus.jsonl"), "utf8").trim().split("\n");
  const kept = corpus.slice(0, docs);
  const ids = new Set(kept.map((l) => String(JSON.parse(l)._id)));
  writeFileSync(join(data, "corpus.jsonl"), `${kept.join("\n")}\n`);
  const qrels = readFileSync(join(shared, "data/scifact/qrels/test.tsv"), "utf8")
    .trim()
    .split("\n")
    .slice(1)
    .filter((l) => ids.has(l.split("\t")[1]));
  const qids = new Set(qrels.map((l) => l.split("\t")[0]));
  writeFileSync(join(data, "qrels/test.tsv"), `query-id\tcorpus-id\tscore\n${qrels.join("\n")}\n`);
  const queries = readFileSync(join(shared, "data/scifact/queries.jsonl"), "utf8")
    .trim()
    .split("\n")
    .filter((l) => qids.has(String(JSON.parse(l)._id)));
  writeFileSync(join(data, "queries.jsonl"), `${queries.join("\n")}\n`);

  const node = (a: string[]) => {
    const r = spawnSync(process.execPath, [cli, ...a], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`tslate ${a.join(" ")} failed:\n${r.stderr}`);
    return r;
  };
  const variants: Record<string, () => number> = {
    beir: () => {
      const out = join(tmp, "beir.json");
      node([
        "beir",
        "--model",
        model,
        "--data",
        data,
        "--index",
        "exact",
        "--index-dir",
        join(tmp, "beir-index"),
        "--output",
        out,
        "--no-progress",
      ]);
      rmSync(join(tmp, "beir-index"), { recursive: true, force: true });
      const row = JSON.parse(readFileSync(out, "utf8")).results[0] as {
        timings: Record<string, number>;
      };
      return (row.timings["encode documents"] ?? 0) + (row.timings.index ?? 0);
    },
  };
  for (const batch of ["256", "1024"]) {
    variants[`index --encode-batch ${batch}`] = () => {
      const dir = join(tmp, "index");
      const r = node([
        "index",
        "--model",
        model,
        "--corpus",
        data,
        "--index",
        dir,
        "--index-type",
        "exact",
        "--encode-batch",
        batch,
        "--no-progress",
      ]);
      rmSync(dir, { recursive: true, force: true });
      return Number(/in (\d+\.\d+) s/.exec(r.stderr)![1]);
    };
  }
  const times: Record<string, number[]> = Object.fromEntries(
    Object.keys(variants).map((k) => [k, []]),
  );
  const load = [loadavg()[0]];
  for (let r = 0; r < repeat; r++) {
    for (const [name, f] of Object.entries(variants)) times[name].push(f());
    load.push(loadavg()[0]);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = median(times.beir);
  const rows = Object.entries(times).map(([variant, t]) => ({
    variant,
    seconds: t,
    median: median(t),
    ratioToBeir: median(t) / base,
  }));
  for (const row of rows) {
    console.log(
      `${row.variant.padEnd(28)} ${row.median.toFixed(2)} s  x${row.ratioToBeir.toFixed(2)} of beir  (${row.seconds.map((s) => s.toFixed(2)).join(", ")})`,
    );
  }
  console.log(`load average ${load.map((l) => l.toFixed(1)).join(" -> ")}`);
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileAtomic(
    outPath,
    `${JSON.stringify({ docs: kept.length, model, repeat, loadAverage: load, rows }, null, 2)}\n`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
