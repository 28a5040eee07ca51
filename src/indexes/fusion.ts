import { InvalidArgumentError } from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import { checkK } from "./checks.js";
import type { HybridSearchOptions, SearchOptions, SearchResult } from "./types.js";

function byScore(a: SearchResult, b: SearchResult): number {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function minMax(list: SearchResult[]): Map<string, number> {
  const out = new Map<string, number>();
  if (list.length === 0) return out;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const r of list) {
    lo = Math.min(lo, r.score);
    hi = Math.max(hi, r.score);
  }
  // One distinct score: every hit gets 1 (it is the best of its list).
  for (const r of list) out.set(r.id, hi > lo ? (r.score - lo) / (hi - lo) : 1);
  return out;
}

/**
 * Relative score fusion: each list is min-max normalised to [0, 1], then
 * score = alpha · vector + (1 − alpha) · keyword, a missing side counting 0.
 * Example: vector [a: 10, b: 5], keyword [b: 3, c: 1], alpha 0.5 →
 * a = 0.5·1 + 0 = 0.5, b = 0.5·0 + 0.5·1 = 0.5, c = 0 → [a, b, c] (ties by id).
 */
export function fuseRsf(
  vector: SearchResult[],
  keyword: SearchResult[],
  alpha: number,
  k: number,
): SearchResult[] {
  const v = minMax(vector);
  const w = minMax(keyword);
  const ids = new Set([...v.keys(), ...w.keys()]);
  const out: SearchResult[] = [];
  for (const id of ids)
    out.push({ id, score: alpha * (v.get(id) ?? 0) + (1 - alpha) * (w.get(id) ?? 0) });
  return out.sort(byScore).slice(0, k);
}

/**
 * Reciprocal rank fusion: score = Σ over lists of 1 / (rrfK + rank), rank starting at 1.
 * Example (rrfK 60): a first in both lists → 2/61.
 */
export function fuseRrf(lists: SearchResult[][], rrfK: number, k: number): SearchResult[] {
  const acc = new Map<string, number>();
  for (const list of lists) {
    list.forEach((r, i) => acc.set(r.id, (acc.get(r.id) ?? 0) + 1 / (rrfK + i + 1)));
  }
  return [...acc]
    .map(([id, score]) => ({ id, score }))
    .sort(byScore)
    .slice(0, k);
}

/**
 * Hybrid search of any index: the vector and keyword searches each fetch `candidates`
 * results (default max(4·k, 50)) under the same filter and subset, then relative score
 * fusion (alpha) or reciprocal rank fusion keeps k.
 */
export async function fuseSearches(
  vectorSearch: (options: SearchOptions) => Promise<SearchResult[][]>,
  keywordSearch: (options: SearchOptions) => Promise<SearchResult[][]>,
  queries: Matrix[],
  texts: string[],
  options: HybridSearchOptions,
): Promise<SearchResult[][]> {
  const k = checkK(options.k);
  if (!Array.isArray(texts) || texts.length !== queries?.length) {
    throw new InvalidArgumentError(
      `hybridSearch needs one text per query embedding, got ${texts?.length} texts for ${queries?.length} queries`,
    );
  }
  const alpha = options.alpha ?? 0.5;
  if (typeof alpha !== "number" || !(alpha >= 0 && alpha <= 1))
    throw new InvalidArgumentError(`alpha must be in [0, 1], got ${alpha}`);
  const fusion = options.fusion ?? "rsf";
  if (fusion !== "rsf" && fusion !== "rrf")
    throw new InvalidArgumentError(`fusion must be "rsf" or "rrf", got ${JSON.stringify(fusion)}`);
  const candidates = checkK(options.candidates ?? Math.max(4 * k, 50));
  const sub = { filter: options.filter, subset: options.subset, k: candidates };
  const vec = await vectorSearch(sub);
  const kw = await keywordSearch(sub);
  return vec.map((v, i) =>
    fusion === "rsf" ? fuseRsf(v, kw[i], alpha, k) : fuseRrf([v, kw[i]], options.rrfK ?? 60, k),
  );
}
