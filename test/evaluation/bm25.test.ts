import assert from "node:assert/strict";
import { test } from "node:test";
import { BM25, englishAnalyzer, luceneQuantizedLength } from "../../src/evaluation/bm25.js";
import { porterStem } from "../../src/evaluation/porter.js";
import { InvalidArgumentError } from "../../src/util/errors.js";

test("Porter stemmer matches the reference outputs (Porter's voc.txt / output.txt)", () => {
  const cases: [string, string][] = [
    ["caresses", "caress"],
    ["ponies", "poni"],
    ["ties", "ti"],
    ["cats", "cat"],
    ["feed", "feed"],
    ["agreed", "agre"],
    ["plastered", "plaster"],
    ["bled", "bled"],
    ["motoring", "motor"],
    ["sing", "sing"],
    ["conflated", "conflat"],
    ["troubled", "troubl"],
    ["sized", "size"],
    ["hopping", "hop"],
    ["tanned", "tan"],
    ["falling", "fall"],
    ["hissing", "hiss"],
    ["fizzed", "fizz"],
    ["failing", "fail"],
    ["filing", "file"],
    ["happy", "happi"],
    ["sky", "sky"],
    ["relational", "relat"],
    ["conditional", "condit"],
    ["rational", "ration"],
    ["generalizations", "gener"],
    ["oscillators", "oscil"],
    ["hopefulness", "hope"],
    ["goodness", "good"],
    ["adjustment", "adjust"],
    ["electrical", "electr"],
    ["effective", "effect"],
    ["controlling", "control"],
    ["archaeology", "archaeolog"],
    ["is", "is"],
    ["a", "a"],
  ];
  for (const [w, s] of cases) assert.equal(porterStem(w), s, `porterStem(${w})`);
});

test("the English analyser: standard-tokenizer joins, possessives, lower case, stop words, stems", () => {
  assert.deepEqual(
    englishAnalyzer("The patient's cells don't respond, e.g. 1,000 mg at 3.14 units; a,b"),
    ["patient", "cell", "don't", "respond", "e.g", "1,000", "mg", "3.14", "unit", "b"],
  );
  assert.deepEqual(englishAnalyzer(""), []);
  assert.deepEqual(englishAnalyzer("THE AND OF"), []);
});

test("document lengths are quantised as Lucene's one-byte norms", () => {
  const pairs: [number, number][] = [
    [0, 0],
    [23, 23],
    [24, 24],
    [31, 31],
    [32, 32],
    [40, 40],
    [41, 40],
    [100, 96],
  ];
  for (const [len, q] of pairs) assert.equal(luceneQuantizedLength(len), q, `length ${len}`);
});

test("BM25 scores follow the Lucene formula, fields combine by dis_max with the tie breaker", () => {
  const docs = [
    { id: "d1", title: "", text: "cat cat dog" },
    { id: "d2", title: "", text: "dog" },
    { id: "d3", title: "", text: "bird" },
  ];
  const flat = BM25.build(docs, { k1: 1.2, b: 0.75, fields: "flat" });
  const idf = Math.log(1 + (3 - 1 + 0.5) / (1 + 0.5));
  const norm = 1.2 * (0.25 + (0.75 * 3) / (5 / 3));
  const [hit, ...rest] = flat.search("cats", 10);
  assert.equal(hit.id, "d1");
  assert.ok(Math.abs(hit.score - (idf * 2) / (2 + norm)) < 1e-12);
  assert.equal(rest.length, 0);
  // A repeated query term counts twice, like two clauses of a Lucene boolean query.
  assert.ok(Math.abs(flat.search("cat cat", 1)[0].score - 2 * hit.score) < 1e-12);
  // Equal scores keep indexing order.
  assert.deepEqual(
    BM25.build([
      { id: "x", title: "", text: "dog" },
      { id: "a", title: "", text: "dog" },
    ])
      .search("dog")
      .map((r) => r.id),
    ["x", "a"],
  );
  // Two fields: title "cat" scores t, text "cat" scores x; dis_max = max + tieBreaker * other.
  const two = [
    { id: "a", title: "cat", text: "cat dog" },
    { id: "b", title: "fish", text: "bird" },
  ];
  const tb0 = BM25.build(two, { tieBreaker: 0 }).search("cat")[0].score;
  const tb1 = BM25.build(two, { tieBreaker: 1 }).search("cat")[0].score;
  const tbHalf = BM25.build(two, { tieBreaker: 0.5 }).search("cat")[0].score;
  assert.ok(tb1 > tb0);
  assert.ok(Math.abs(tbHalf - (tb0 + 0.5 * (tb1 - tb0))) < 1e-12);
  assert.throws(() => BM25.build(two, { b: 2 }), InvalidArgumentError);
  assert.throws(() => flat.search("cat", 0), /k must be a positive integer/);
});
