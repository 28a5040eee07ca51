import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  evaluate,
  metricForQuery,
  parseMetric,
  type Qrels,
  type Run,
  rankDocuments,
} from "../../src/evaluation/metrics.js";
import { readQrels, readRun } from "../../src/io/trec.js";
import { InvalidArgumentError } from "../../src/util/errors.js";
import { fixture, shared } from "./helpers.js";

const qrelsOf = (o: Record<string, Record<string, number>>): Qrels =>
  new Map(Object.entries(o).map(([q, d]) => [q, new Map(Object.entries(d))]));
const runOf = qrelsOf as (o: Record<string, Record<string, number>>) => Run;
const close = (a: number, b: number, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol, `expected ${b}, got ${a} (tolerance ${tol})`);

// One query, graded: d1 has relevance 2, d2 relevance 1, d3 is judged non-relevant (0).
// The run ranks d4 (unjudged), d1, d3, d2.
const Q = qrelsOf({ q: { d1: 2, d2: 1, d3: 0 } });
const R = runOf({ q: { d4: 0.9, d1: 0.8, d3: 0.7, d2: 0.6 } });
const one = (m: string) => evaluate(Q, R, [m]).mean[m];

test("nDCG uses linear gain (ranx ndcg, trec_eval ndcg_cut); ndcg_burges uses 2^rel - 1", () => {
  const l3 = Math.log2(3);
  // DCG@3 = 2/log2(3) (d1 at rank 2); IDCG@3 = 2/log2(2) + 1/log2(3).
  close(one("ndcg@3"), 2 / l3 / (2 + 1 / l3));
  // d2 at rank 4 adds 1/log2(5).
  close(one("ndcg@4"), (2 / l3 + 1 / Math.log2(5)) / (2 + 1 / l3));
  close(one("ndcg"), (2 / l3 + 1 / Math.log2(5)) / (2 + 1 / l3));
  close(one("ndcg_burges@3"), 3 / l3 / (3 + 1 / l3));
  // Relevance level 2: only d1 counts; IDCG@3 = 2.
  close(one("ndcg@3-l2"), 2 / l3 / 2);
});

test("MAP, recall, precision, MRR, hits and hit_rate on the hand-worked query", () => {
  close(one("map@4"), (1 / 2 + 2 / 4) / 2);
  close(one("map@2"), 1 / 2 / 2); // divided by |R| = 2, not min(k, |R|)
  close(one("map"), 0.5);
  close(one("recall@2"), 0.5);
  close(one("recall@4"), 1);
  close(one("precision@2"), 0.5);
  close(one("precision@10"), 2 / 10); // k, not the run length, when the run is shorter
  close(one("precision"), 2 / 4);
  close(one("mrr@1"), 0);
  close(one("mrr@3"), 0.5);
  close(one("hits@4"), 2);
  close(one("hits@3"), 1);
  close(one("hit_rate@1"), 0);
  close(one("hit_rate@2"), 1);
});

test("ties are ranked by document id descending (trec_eval's rule)", () => {
  assert.deepEqual(
    rankDocuments(
      new Map([
        ["a", 1],
        ["c", 0.5],
        ["b", 1],
        ["d", 2],
      ]),
    ),
    ["d", "b", "a", "c"],
  );
  // "a" and "b" tie; "b" comes first, so the relevant "a" is at rank 2.
  const q = qrelsOf({ q: { a: 1 } });
  const r = runOf({ q: { a: 1, b: 1, c: 0.5 } });
  close(evaluate(q, r, ["mrr@10"]).mean["mrr@10"], 0.5);
  close(evaluate(q, r, ["hits@1"]).mean["hits@1"], 0);
});

test("queries without a relevant document score 0 and count in the mean (ranx)", () => {
  const q = qrelsOf({ good: { a: 1 }, none: { b: 0, c: -1 } });
  const r = runOf({ good: { a: 1 }, none: { b: 3, c: 2 } });
  const res = evaluate(q, r, ["ndcg@10", "recall@10", "map@10", "mrr@10", "precision@1"]);
  for (const m of ["ndcg@10", "recall@10", "map@10", "mrr@10", "precision@1"]) {
    assert.equal(res.perQuery[m].get("none"), 0);
    assert.equal(res.perQuery[m].get("good"), 1);
    close(res.mean[m], 0.5);
  }
  assert.equal(res.queries, 2);
});

test("query sets must match unless makeComparable, as ranx", () => {
  const q = qrelsOf({ q1: { a: 1 }, q2: { b: 1 } });
  const r = runOf({ q1: { a: 1 }, extra: { z: 1 } });
  assert.throws(
    () => evaluate(q, r, ["ndcg@10"]),
    (e: Error) =>
      e instanceof InvalidArgumentError &&
      /1 qrels queries are not in the run \(e\.g\. q2\).*1 run queries have no qrels \(e\.g\. extra\).*makeComparable/.test(
        e.message,
      ),
  );
  const res = evaluate(q, r, ["ndcg@10"], { makeComparable: true });
  assert.equal(res.queries, 2);
  assert.equal(res.perQuery["ndcg@10"].get("q2"), 0);
  assert.equal(res.perQuery["ndcg@10"].has("extra"), false);
  close(res.mean["ndcg@10"], 0.5);
});

test("metric strings parse as ranx's, and bad ones say what is allowed", () => {
  assert.deepEqual(parseMetric("ndcg@10"), { label: "ndcg@10", name: "ndcg", k: 10, relLevel: 1 });
  assert.deepEqual(parseMetric("map"), { label: "map", name: "map", k: 0, relLevel: 1 });
  assert.deepEqual(parseMetric("recall@100-l2").relLevel, 2);
  assert.throws(() => parseMetric("f1@3"), /unknown metric "f1".*ndcg, ndcg_burges, map/);
  assert.throws(() => parseMetric("ndcg@x"), /name\[@k\]\[-lN\]/);
  assert.throws(() => evaluate(Q, R, []), InvalidArgumentError);
  assert.equal(metricForQuery(parseMetric("ndcg@10"), [], undefined), 0);
});

for (const name of ["scifact", "cranfield"]) {
  test(`${name}: every metric equals the independent Python implementation on a real BM25 run`, async () => {
    // Tolerance 1e-12: both sides compute in float64 from the same rounded scores.
    const expected = JSON.parse(readFileSync(fixture(`${name}-bm25.expected.json`), "utf8")) as {
      queries: number;
      mean: Record<string, number>;
      perQuery: Record<string, Record<string, number>>;
    };
    const run = await readRun(fixture(`${name}-bm25.trec`));
    const qrels = await readQrels(shared("data", name, "qrels", "test.tsv"));
    // The rounded scores do tie: the parity covers the tie rule on real data.
    let ties = 0;
    for (const docs of run.values()) ties += docs.size - new Set(docs.values()).size;
    assert.ok(ties > 20, `expected tied scores in the fixture run, found ${ties}`);
    const metrics = Object.keys(expected.mean);
    assert.ok(metrics.length >= 12);
    const res = evaluate(qrels, run, metrics, { makeComparable: true });
    assert.equal(res.queries, expected.queries);
    for (const m of metrics) {
      close(res.mean[m], expected.mean[m]);
      for (const [q, v] of Object.entries(expected.perQuery[m])) close(res.perQuery[m].get(q)!, v);
    }
  });
}

test("SciFact BM25 (anserini-multifield preset) reproduces Pyserini's published nDCG@10 0.665", () => {
  const expected = JSON.parse(readFileSync(fixture("scifact-bm25.expected.json"), "utf8"));
  close(expected.mean["ndcg@10"], 0.665, 0.0005);
});
