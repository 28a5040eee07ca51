/**
 * TREC files: runs (`qid Q0 docid rank score tag`) and judgements (TREC qrels or BEIR's TSV),
 * and the `Qrels` / `Run` maps that evaluation computes metrics on.
 */
import { writeFileAtomic } from "../util/atomic.js";
import { DataError } from "../util/errors.js";
import { clip, readLines } from "./lines.js";

/**
 * Relevance judgements: query id -> document id -> graded relevance (integers; 0 or negative =
 * judged non-relevant). The same shape as ranx's `Qrels` dict and BEIR's `qrels`.
 */
export type Qrels = Map<string, Map<string, number>>;

/** A ranking: query id -> document id -> score (higher is better), like ranx's `Run`. */
export type Run = Map<string, Map<string, number>>;

/** Document ids of one query's results, best first, ties broken by id descending. */
export function rankDocuments(results: Map<string, number>): string[] {
  const entries = [...results.entries()];
  entries.sort((a, b) => {
    if (a[1] !== b[1]) return b[1] - a[1];
    return a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0;
  });
  return entries.map((e) => e[0]);
}

/** A Run from per-query hit lists (an index's search results), queries in the given order. */
export function runFromHits(
  queryIds: readonly string[],
  hits: readonly (readonly { id: string; score: number }[])[],
): Run {
  if (queryIds.length !== hits.length) {
    throw new DataError(`${queryIds.length} query ids but ${hits.length} result lists`);
  }
  const run: Run = new Map();
  queryIds.forEach((qid, i) => {
    if (run.has(qid)) throw new DataError(`query id "${qid}" appears twice; a run holds each once`);
    run.set(qid, new Map(hits[i].map((h) => [h.id, h.score])));
  });
  return run;
}

/**
 * Reads a TREC run file: `qid Q0 docid rank score tag` per line, whitespace separated (the
 * format of trec_eval, ranx and Anserini). The rank column is ignored, as trec_eval does: the
 * order comes from the scores. Empty lines are skipped; anything else malformed, or the same
 * (query, document) twice, is a DataError naming the file and line.
 */
export async function readRun(path: string): Promise<Run> {
  const run: Run = new Map();
  const firstLine = new Map<string, number>();
  for await (const { line, lineNo } of readLines(path)) {
    if (line.trim() === "") continue;
    const f = line.trim().split(/\s+/);
    if (f.length !== 6) {
      throw new DataError(
        `${path}:${lineNo}: a TREC run line has 6 fields "qid Q0 docid rank score tag", got ${f.length}: "${clip(line)}"`,
      );
    }
    const [qid, , docid, , scoreText] = f;
    const score = Number(scoreText);
    if (!Number.isFinite(score)) {
      throw new DataError(`${path}:${lineNo}: score "${scoreText}" is not a finite number`);
    }
    let docs = run.get(qid);
    if (!docs) run.set(qid, (docs = new Map()));
    if (docs.has(docid)) {
      throw new DataError(
        `${path}:${lineNo}: document "${docid}" appears twice for query "${qid}" (first on line ${firstLine.get(`${qid}\t${docid}`)}); a run holds each (query, document) once`,
      );
    }
    docs.set(docid, score);
    firstLine.set(`${qid}\t${docid}`, lineNo);
  }
  return run;
}

export interface WriteRunOptions {
  /** The run tag, last column (default "tslate"). */
  tag?: string;
  /** Keep only the best k documents per query (default: all). */
  k?: number;
}

/**
 * Writes a run as a TREC run file, atomically. Queries in insertion order; documents best
 * first with ranks from 1 (ties by document id descending, as metrics rank them). Scores are
 * written with full float64 precision so that reading the file back gives the same ranking.
 */
export function writeRun(path: string, run: Run, options: WriteRunOptions = {}): void {
  writeFileAtomic(path, formatRun(run, options));
}

/** The text of a TREC run file, as writeRun writes it (for stdout). */
export function formatRun(run: Run, options: WriteRunOptions = {}): string {
  const tag = options.tag ?? "tslate";
  if (/\s/.test(tag) || tag === "") {
    throw new DataError(`run tag "${tag}" must be a non-empty word without whitespace`);
  }
  const parts: string[] = [];
  for (const [qid, docs] of run) {
    checkId(qid, "query id");
    const ranked = rankDocuments(docs);
    const n = options.k === undefined ? ranked.length : Math.min(options.k, ranked.length);
    for (let i = 0; i < n; i++) {
      const d = ranked[i];
      checkId(d, "document id");
      parts.push(`${qid} Q0 ${d} ${i + 1} ${docs.get(d)} ${tag}\n`);
    }
  }
  return parts.join("");
}

function checkId(id: string, what: string): void {
  if (id === "" || /\s/.test(id)) {
    throw new DataError(
      `${what} "${id}" cannot be written to a TREC file: ids must be non-empty and contain no whitespace`,
    );
  }
}

/**
 * Reads judgements in either layout, detected from the first non-empty line:
 *  - BEIR TSV: header `query-id<TAB>corpus-id<TAB>score`, then `qid<TAB>docid<TAB>int`;
 *  - TREC qrels: `qid iteration docid relevance`, whitespace separated.
 * Relevance must be an integer (negative values are kept: they count as non-relevant).
 */
export async function readQrels(path: string): Promise<Qrels> {
  const qrels: Qrels = new Map();
  let layout: "beir" | "trec" | undefined;
  for await (const { line, lineNo } of readLines(path)) {
    if (line.trim() === "") continue;
    if (layout === undefined) {
      const f = line.split("\t");
      if (f.length === 3 && f[0].trim() === "query-id") {
        layout = "beir";
        continue;
      }
      const w = line.trim().split(/\s+/);
      if (f.length === 3) layout = "beir";
      else if (w.length === 4) layout = "trec";
      else {
        throw new DataError(
          `${path}:${lineNo}: not a qrels line; expected BEIR "query-id<TAB>corpus-id<TAB>score" or TREC "qid 0 docid relevance", got "${clip(line)}"`,
        );
      }
    }
    let qid: string;
    let docid: string;
    let relText: string;
    if (layout === "beir") {
      const f = line.split("\t");
      if (f.length !== 3) {
        throw new DataError(
          `${path}:${lineNo}: a BEIR qrels line has 3 tab-separated fields (query-id, corpus-id, score), got ${f.length}: "${clip(line)}"`,
        );
      }
      [qid, docid, relText] = f.map((s) => s.trim());
    } else {
      const w = line.trim().split(/\s+/);
      if (w.length !== 4) {
        throw new DataError(
          `${path}:${lineNo}: a TREC qrels line has 4 fields "qid iteration docid relevance", got ${w.length}: "${clip(line)}"`,
        );
      }
      [qid, , docid, relText] = w;
    }
    const rel = Number(relText);
    if (relText === "" || !Number.isInteger(rel)) {
      throw new DataError(
        `${path}:${lineNo}: relevance "${relText}" is not an integer (query "${qid}", document "${docid}")`,
      );
    }
    if (qid === "" || docid === "") {
      throw new DataError(`${path}:${lineNo}: empty query or document id: "${clip(line)}"`);
    }
    let docs = qrels.get(qid);
    if (!docs) qrels.set(qid, (docs = new Map()));
    if (docs.has(docid)) {
      throw new DataError(
        `${path}:${lineNo}: judgement for query "${qid}", document "${docid}" appears twice`,
      );
    }
    docs.set(docid, rel);
  }
  return qrels;
}
