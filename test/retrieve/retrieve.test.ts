import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Exact } from "../../src/indexes/exact.js";
import { openIndex, PLAID } from "../../src/indexes/index.js";
import type { EmbeddingModel, EncodeOptions } from "../../src/models/types.js";
import { Retriever } from "../../src/retrieve/colbert.js";
import { indexCorpus, searchQueries } from "../../src/retrieve/corpus.js";
import type { Matrix } from "../../src/util/matrix.js";
import { synthetic, tempDir } from "../indexes/helpers.js";

/** A deterministic fake model: one unit vector per word (hashed), queries marked by isQuery. */
class HashModel implements EmbeddingModel {
  readonly calls: { n: number; isQuery: boolean }[] = [];
  async encode(texts: string[], options: EncodeOptions = {}): Promise<Matrix[]> {
    this.calls.push({ n: texts.length, isQuery: options.isQuery ?? false });
    const dim = 32;
    return texts.map((t) => {
      const words = t.toLowerCase().match(/[a-z0-9]+/g) ?? ["empty"];
      const data = new Float32Array(words.length * dim);
      words.forEach((w, i) => {
        let h = 2166136261;
        for (const c of w) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
        let s = 0;
        for (let j = 0; j < dim; j++) {
          h = Math.imul(h ^ (h >>> 13), 0x5bd1e995);
          data[i * dim + j] = ((h >>> 0) / 4294967296) * 2 - 1;
          s += data[i * dim + j] ** 2;
        }
        for (let j = 0; j < dim; j++) data[i * dim + j] /= Math.sqrt(s);
      });
      return { data, rows: words.length, cols: dim };
    });
  }
}

const CORPUS = [
  { _id: "d1", title: "Graphene", text: "graphene conducts heat very well" },
  { _id: "d2", title: "Cats", text: "cats sleep most of the day" },
  { _id: "d3", title: "Rivers", text: "rivers carry sediment to the sea" },
  { _id: "d4", title: "", text: "volcanoes erupt molten rock" },
  { _id: 5, title: "Numbers", text: "integer ids are read as strings" },
];

for (const indexType of ["plaid", "exact", "hnsw"] as const) {
  test(`indexCorpus + searchQueries (${indexType}) with a fake model write a TREC run`, async () => {
    const t = tempDir();
    try {
      writeFileSync(
        join(t.dir, "corpus.jsonl"),
        `${CORPUS.map((d) => JSON.stringify(d)).join("\n")}\n`,
      );
      writeFileSync(
        join(t.dir, "queries.jsonl"),
        `${JSON.stringify({ _id: "q1", text: "does graphene conduct heat" })}\n${JSON.stringify({ _id: "q2", text: "sleepy cats" })}\n`,
      );
      const model = new HashModel();
      const { documents } = await indexCorpus(model, t.dir, join(t.dir, "idx"), {
        indexType,
        encodeBatch: 2,
      });
      assert.equal(documents, 5);
      assert.deepEqual(
        model.calls.map((c) => c.n),
        [2, 2, 1],
      );
      assert.ok(model.calls.every((c) => !c.isQuery));
      const index = await openIndex(join(t.dir, "idx"));
      // The title is part of the encoded text (title + " " + text).
      assert.deepEqual(index.metadata("d1"), {
        title: "Graphene",
        text: "graphene conducts heat very well",
      });
      assert.ok(index.has("5"));
      await index.close();
      const run = join(t.dir, "run.trec");
      const { results } = await searchQueries(
        model,
        join(t.dir, "idx"),
        join(t.dir, "queries.jsonl"),
        run,
        { k: 2 },
      );
      assert.equal(results[0][0].id, "d1");
      assert.equal(results[1][0].id, "d2");
      const lines = readFileSync(run, "utf8").trim().split("\n");
      assert.equal(lines.length, 4);
      assert.match(lines[0], /^q1 Q0 d1 1 [0-9.e+-]+ tslate$/);
      assert.ok(model.calls.at(-1)!.isQuery);
      // Two search worker threads: the same results.
      const parallel = await searchQueries(
        model,
        join(t.dir, "idx"),
        join(t.dir, "queries.jsonl"),
        null,
        { k: 2, searchWorkers: 2 },
      );
      assert.deepEqual(parallel.results, results);
    } finally {
      t.cleanup();
    }
  });
}

test("indexCorpus reports malformed corpus lines with file and line", async () => {
  const t = tempDir();
  try {
    writeFileSync(join(t.dir, "corpus.jsonl"), `{"_id": "a", "text": "ok"}\n{not json}\n`);
    await assert.rejects(
      indexCorpus(new HashModel(), join(t.dir, "corpus.jsonl"), join(t.dir, "i")),
      /corpus.jsonl:2: not valid JSON/,
    );
    await assert.rejects(
      indexCorpus(new HashModel(), join(t.dir, "none.jsonl"), join(t.dir, "j")),
      { code: "FILE_NOT_FOUND" },
    );
  } finally {
    t.cleanup();
  }
});

test("Retriever returns sorted { id, score } per query, with per-query subsets", async () => {
  const t = tempDir();
  try {
    const { docs, ids, query } = synthetic({ docs: 30, dim: 16, seed: 4, noise: 0.1 });
    const index = await Exact.create(t.dir);
    await index.add(ids, docs);
    const retriever = new Retriever(index);
    const qs = [query(docs[3], 4, 0.01), query(docs[9], 4, 0.01), query(docs[20], 4, 0.01)];
    const r = await retriever.retrieve(qs, { k: 4, batchSize: 2 });
    assert.deepEqual(
      r.map((x) => x[0].id),
      ["doc-3", "doc-9", "doc-20"],
    );
    assert.ok(
      r.every((x) => x.length === 4 && x.every((h, j) => j === 0 || x[j - 1].score >= h.score)),
    );
    const s = await retriever.retrieve(qs, {
      k: 4,
      subset: [["doc-1"], ["doc-2", "doc-9"], ["doc-4"]],
    });
    assert.deepEqual(
      s.map((x) => x.map((h) => h.id)),
      [["doc-1"], ["doc-9", "doc-2"], ["doc-4"]],
    );
    await assert.rejects(retriever.retrieve(qs, { subset: [["doc-1"]] }), /one list per query/);
    assert.throws(() => new Retriever({} as never), { code: "INVALID_ARGUMENT" });
    await index.close();
  } finally {
    t.cleanup();
  }
});

test("Retriever's options are the index's own typed search options", {
  timeout: 60_000,
}, async () => {
  const t = tempDir();
  try {
    const { docs, ids, query } = synthetic({ docs: 40, dim: 16, seed: 5, noise: 0.1 });
    const index = await PLAID.create(t.dir, { dim: 16, nbits: 2 });
    await index.add(ids, docs);
    const retriever = new Retriever(index);
    const qs = [query(docs[7], 4, 0.01)];
    const r = await retriever.retrieve(qs, { k: 3, nIvfProbe: 4, nFullScores: 64 });
    assert.equal(r[0][0].id, "doc-7");
    // A typo is a type error (PLAID's options are typed) and an InvalidArgumentError at run time.
    // @ts-expect-error nIvfProb is not a PLAID search option
    await assert.rejects(retriever.retrieve(qs, { k: 3, nIvfProb: 4 }), {
      code: "INVALID_ARGUMENT",
    });
    const exactIndex = await Exact.create(join(t.dir, "exact"));
    const exact = new Retriever(exactIndex);
    // @ts-expect-error Exact takes no PLAID parameters
    await assert.rejects(exact.retrieve(qs, { nIvfProbe: 4 }), { code: "INVALID_ARGUMENT" });
    await exactIndex.close();
    await index.close();
  } finally {
    t.cleanup();
  }
});
