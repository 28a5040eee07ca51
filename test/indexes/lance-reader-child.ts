// A reader process for lance-concurrency.test: opens the table read-only and searches it
// repeatedly, printing one JSON line per search with the version it read. Does nothing
// without arguments (so that a test runner picking this file up runs nothing).
import { Lance } from "../../src/indexes/lance.js";
import type { Matrix } from "../../src/util/matrix.js";

const [uri, queriesJson, rounds] = process.argv.slice(2);
if (uri !== undefined) await readLoop();

async function readLoop(): Promise<void> {
  const raw = JSON.parse(queriesJson) as { data: number[]; rows: number; cols: number }[];
  const queries: Matrix[] = raw.map((q) => ({
    data: Float32Array.from(q.data),
    rows: q.rows,
    cols: q.cols,
  }));
  const index = await Lance.open(uri, { readOnly: true });
  for (let i = 0; i < Number(rounds); i++) {
    const r = await index.searchVersioned(queries, { k: 5 });
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
  await index.close();
}
