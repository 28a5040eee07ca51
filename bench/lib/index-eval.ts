import { evaluate, type Qrels, type Run } from "../../src/evaluation/metrics.js";
import type { SearchResult } from "../../src/indexes/types.js";

/** Top-k document ids and scores per query. */
export interface Ranked {
  ids: string[][];
  scores: number[][];
}

/** Judged queries of a run: their ids (in query order), and the qrels they are evaluated on. */
export interface Judged {
  queryIds: string[];
  qrels: Qrels;
}

/** recall@k of `got` against `truth` (the first got.length queries of truth). */
export function recall(got: string[][], truth: string[][], k: number): number {
  let hit = 0;
  let tot = 0;
  for (let i = 0; i < got.length; i++) {
    const t = new Set(truth[i].slice(0, k));
    hit += got[i].slice(0, k).filter((id) => t.has(id)).length;
    tot += t.size;
  }
  return hit / tot;
}

/** nDCG@10 of the rankings of the first ranked.ids.length judged queries on their qrels. */
export function ndcgAt10(judged: Judged, ranked: Ranked): number {
  const run: Run = new Map();
  const qrels: Qrels = new Map();
  ranked.ids.forEach((ids, i) => {
    const q = judged.queryIds[i];
    run.set(q, new Map(ids.map((id, j) => [id, ranked.scores[i][j]])));
    qrels.set(q, judged.qrels.get(q)!);
  });
  return evaluate(qrels, run, ["ndcg@10"]).mean["ndcg@10"];
}

export function toRanked(results: SearchResult[][]): Ranked {
  return {
    ids: results.map((r) => r.map((h) => h.id)),
    scores: results.map((r) => r.map((h) => h.score)),
  };
}
