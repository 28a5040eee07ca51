/**
 * PyLate's score functions written in the graph IR, so that training differentiates them.
 * Same masking semantics as src/scores/colbert.ts: masked similarities are multiplied by 0
 * and still take part in the max.
 *
 * Shapes: Q [Bq, Lq, E], qMask [Bq, Lq]; D [Bd, Ld, E], dMask [Bd, Ld] (float 0/1).
 */
import type { Graph, Value } from "../graph/ir.js";

/** colbert_scores: every query against every document → [Bq, Bd]. */
export function colbertScoresGraph(
  g: Graph,
  q: Value,
  qMask: Value,
  d: Value,
  dMask: Value,
): Value {
  const e = q.shape[2] as number;
  // One big product [Bq·Lq, E] × [E, Bd·Ld], then back to [Bq, Lq, Bd, Ld].
  const q2 = g.reshape(q, [-1, e]);
  const d2 = g.reshape(d, [-1, e]);
  const sim2 = g.gemm(q2, d2, null, { transB: 1 });
  const sim = g.reshape(sim2, g.concat([g.shapeOf(q, 0, 2), g.shapeOf(d, 0, 2)], 0));
  const masked = g.mul(sim, g.unsqueeze(dMask, [0, 1]));
  const best = g.reduce("ReduceMax", masked, [3], false); // [Bq, Lq, Bd]
  return g.reduce("ReduceSum", g.mul(best, g.unsqueeze(qMask, [2])), [1], false);
}

/**
 * colbert_kd_scores: query i against its own K documents (rows i·K..i·K+K-1 of D) → [B, K].
 */
export function colbertKdScoresGraph(
  g: Graph,
  q: Value,
  qMask: Value,
  d: Value,
  dMask: Value,
  k: number,
): Value {
  // [B, K] from the query batch, so the grouped shape keeps the query's batch symbol.
  const groups = g.concat([g.shapeOf(q, 0, 1), g.ints([k])], 0);
  const d4 = g.reshape(d, g.concat([groups, g.shapeOf(d, 1, 3)], 0)); // [B, K, Ld, E]
  const sim = g.matmul(g.unsqueeze(q, [1]), g.transpose(d4, [0, 1, 3, 2])); // [B, K, Lq, Ld]
  const m = g.unsqueeze(g.reshape(dMask, g.concat([groups, g.shapeOf(dMask, 1, 2)], 0)), [2]); // [B, K, 1, Ld]
  const best = g.reduce("ReduceMax", g.mul(sim, m), [3], false); // [B, K, Lq]
  return g.reduce("ReduceSum", g.mul(best, g.unsqueeze(qMask, [1])), [2], false);
}
