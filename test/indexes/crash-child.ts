// Child process of crash.test.ts: applies a deterministic sequence of writes to an index and
// logs each completed one, until the parent kills it. Does nothing without arguments (so that
// a test runner picking this file up runs nothing).
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { openIndex } from "../../src/indexes/index.js";
import { synthetic } from "./helpers.js";

/** The writes, shared with the parent: op i adds 5 docs, or (every third) deletes two of op i−2's docs. */
export function operation(i: number): { add?: string[]; del?: string[] } {
  if (i % 3 === 2) return { del: [`op${i - 2}-0`, `op${i - 2}-3`] };
  return { add: [0, 1, 2, 3, 4].map((j) => `op${i}-${j}`) };
}

export function expectedIds(initial: string[], completed: number): Set<string> {
  const s = new Set(initial);
  for (let i = 0; i < completed; i++) {
    const op = operation(i);
    for (const id of op.add ?? []) s.add(id);
    for (const id of op.del ?? []) s.delete(id);
  }
  return s;
}

async function main(dir: string, log: string): Promise<void> {
  const index = await openIndex(dir);
  const data = synthetic({ docs: 5, dim: 16, seed: 77 });
  const fd = openSync(log, "a");
  for (let i = 0; i < 10_000; i++) {
    const op = operation(i);
    if (op.add)
      await index.add(
        op.add,
        data.docs,
        op.add.map((id) => ({ text: `words of ${id}`, op: i })),
      );
    if (op.del) await index.delete(op.del);
    writeSync(fd, `${i}\n`);
    fsyncSync(fd);
  }
  closeSync(fd);
}

if (process.argv[2] === "--crash-child") {
  main(process.argv[3], process.argv[4]).catch((err) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(3);
  });
}
