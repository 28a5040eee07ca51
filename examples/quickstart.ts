/**
 * The README's quickstart, runnable: encode, score, index, retrieve, rerank.
 *   npm run build:dev && node build/examples/quickstart.js [modelDir] [indexDir]
 * (default model: the tiny random-weight fixture in ../shared/fixtures; default index: a
 * temporary folder). Runs twice on the same indexDir: `override: true` replaces the index.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ColBERT, colbertScores, PLAID, Retriever, rerank } from "../src/index.js";

const modelDir =
  process.argv[2] ??
  fileURLToPath(new URL("../../../shared/fixtures/bert-tiny-colbert", import.meta.url));

const model = await ColBERT.fromPretrained(modelDir);

const queries = await model.encode(["what is late interaction?"], { isQuery: true });
const texts = [
  "ColBERT compares every query token with every document token.",
  "Paris is the capital of France.",
  "Late interaction keeps one vector per token and scores with MaxSim.",
];
const documents = await model.encode(texts, { isQuery: false });

// MaxSim scores, [queries x documents]
const scores = colbertScores(queries, documents);
console.log(
  "scores:",
  Array.from(scores.data)
    .map((s) => s.toFixed(3))
    .join(" "),
);

// An index on disk, then search
const dir = mkdtempSync(join(tmpdir(), "tslate-quickstart-"));
const indexDir = process.argv[3] ?? join(dir, "index");
const index = await PLAID.create(indexDir, { dim: model.embeddingDim, override: true });
await index.add(["doc-1", "doc-2", "doc-3"], documents);
const hits = await new Retriever(index).retrieve(queries, { k: 2 });
console.log("retrieved:", JSON.stringify(hits[0]));
await index.close();

// Rerank candidates by exact MaxSim, as pylate.rank.rerank
const reranked = rerank([["doc-2", "doc-1", "doc-3"]], queries, [
  [documents[1], documents[0], documents[2]],
]);
console.log("reranked:", JSON.stringify(reranked[0]));

await model.dispose();
rmSync(dir, { recursive: true, force: true });
