/**
 * Training data: PyLate's column conventions over rows read by `io/rows.ts` (JSONL or
 * parquet), its knowledge-distillation format, the collator that tokenizes batches, and BM25
 * hard-negative mining.
 *
 * Triplet columns (PyLate's ColBERTCollator reads columns in order; a column whose name
 * contains "query" or "anchor" is tokenized as queries): `query` (or `anchor`), `positive`,
 * then `negative` or `negative_1` .. `negative_n`. Distillation (PyLate's knowledge-distillation datasets):
 * a `train` table of `query_id`, `document_ids` (list), `scores` (list), a `queries` table
 * (`query_id`, `text`) and a `documents` table (`document_id`, `text`).
 */

import { BM25 } from "../evaluation/bm25.js";
import type { BeirDocument, BeirQuery } from "../io/beir.js";
import { documentText } from "../io/beir.js";
import type { Row } from "../io/rows.js";
import type { Qrels } from "../io/trec.js";
import type { ContrastiveBatch } from "../losses/contrastive.js";
import type { DistillationBatch } from "../losses/distillation.js";
import type { TokenizedColumn } from "../losses/types.js";
import { DataError } from "../util/errors.js";

export type { Row };

/** One contrastive example: a query, its positive and N-1 hard negatives. */
export interface TripletExample {
  readonly query: string;
  readonly positive: string;
  readonly negatives: readonly string[];
}

/** One distillation example: a query, K documents and the teacher's scores for them. */
export interface DistillationExample {
  readonly query: string;
  readonly documents: readonly string[];
  readonly scores: readonly number[];
}

function text(row: Row, column: string, where: string): string {
  const v = row[column];
  if (typeof v !== "string") {
    throw new DataError(
      `${where}: column "${column}" must be a string, got ${v === undefined ? "nothing" : JSON.stringify(v).slice(0, 60)}`,
    );
  }
  return v;
}

/**
 * Triplets from rows with PyLate's columns. All rows need the same columns; there may be no
 * negative column (in-batch negatives only).
 */
export function tripletsFromRows(rows: readonly Row[], source = "training data"): TripletExample[] {
  if (rows.length === 0)
    throw new DataError(`${source}: no rows (an empty dataset cannot be trained on)`);
  const columns = Object.keys(rows[0]);
  const query =
    columns.find((c) => c === "query" || c === "anchor") ??
    columns.find((c) => c.includes("query") || c.includes("anchor"));
  const positive = columns.find((c) => c === "positive" || c === "pos");
  if (!query || !positive) {
    throw new DataError(
      `${source}: columns [${columns.join(", ")}] lack ${!query ? '"query" (or "anchor")' : '"positive"'}; PyLate triplets have query, positive, negative (or negative_1..negative_n)`,
    );
  }
  const negatives = columns
    .filter((c) => c === "negative" || c === "neg" || /^negative_\d+$/.test(c))
    .sort((a, b) => Number(a.split("_")[1] ?? 0) - Number(b.split("_")[1] ?? 0));
  return rows.map((row, i) => {
    const where = `${source} row ${i + 1}`;
    return {
      query: text(row, query, where),
      positive: text(row, positive, where),
      negatives: negatives.map((c) => text(row, c, where)),
    };
  });
}

/** PyLate's knowledge-distillation format → examples with the texts resolved. */
export function distillationFromRows(
  train: readonly Row[],
  queries: readonly Row[],
  documents: readonly Row[],
): DistillationExample[] {
  if (train.length === 0) throw new DataError("distillation data: the train table has no rows");
  const byId = (rows: readonly Row[], idCol: string, what: string) => {
    const m = new Map<string, string>();
    rows.forEach((r, i) => {
      if (r[idCol] === undefined)
        throw new DataError(
          `${what} row ${i + 1}: missing column "${idCol}" (columns: ${Object.keys(r).join(", ")})`,
        );
      m.set(String(r[idCol]), text(r, "text", `${what} row ${i + 1}`));
    });
    return m;
  };
  const q = byId(queries, "query_id", "queries");
  const d = byId(documents, "document_id", "documents");
  let k = -1;
  return train.map((row, i) => {
    const where = `train row ${i + 1}`;
    const ids = row.document_ids;
    const scores = row.scores;
    if (row.query_id === undefined || !Array.isArray(ids) || !Array.isArray(scores)) {
      throw new DataError(
        `${where}: needs query_id, document_ids (list) and scores (list); has ${Object.keys(row).join(", ")}`,
      );
    }
    if (ids.length !== scores.length || ids.length === 0) {
      throw new DataError(`${where}: ${ids.length} document_ids but ${scores.length} scores`);
    }
    if (k >= 0 && ids.length !== k) {
      throw new DataError(
        `${where}: ${ids.length} documents, earlier rows have ${k}; every query needs the same number`,
      );
    }
    k = ids.length;
    const query = q.get(String(row.query_id));
    if (query === undefined)
      throw new DataError(`${where}: query_id ${row.query_id} is not in the queries table`);
    return {
      query,
      documents: ids.map((id) => {
        const t = d.get(String(id));
        if (t === undefined)
          throw new DataError(`${where}: document_id ${id} is not in the documents table`);
        return t;
      }),
      scores: scores.map((raw) => {
        // parquet int64 columns come back as BigInt
        const s = typeof raw === "bigint" ? Number(raw) : raw;
        if (typeof s !== "number" || !Number.isFinite(s))
          throw new DataError(`${where}: score ${String(s)} is not a finite number`);
        return s;
      }),
    };
  });
}

/** The tokenizer the collator needs (ColBERT.tokenize with pad: true). */
export type TokenizeFn = (
  texts: string[],
  options: { isQuery: boolean; pad: boolean },
) => TokenizedColumn;

/**
 * PyLate's ColBERTCollator: queries and documents tokenized with their prefixes and padded to
 * query_length / document_length (`pad: true`).
 */
export class ColBERTCollator {
  constructor(private readonly tokenize: TokenizeFn) {}

  contrastive(examples: readonly TripletExample[]): ContrastiveBatch {
    if (examples.length === 0) throw new DataError("cannot collate an empty batch");
    const n = examples[0].negatives.length;
    const bad = examples.findIndex((e) => e.negatives.length !== n);
    if (bad >= 0)
      throw new DataError(
        `example ${bad} has ${examples[bad].negatives.length} negatives, the first ${n}; a batch needs the same number`,
      );
    const doc = (texts: string[]) => this.tokenize(texts, { isQuery: false, pad: true });
    return {
      queries: this.tokenize(
        examples.map((e) => e.query),
        { isQuery: true, pad: true },
      ),
      documents: [
        doc(examples.map((e) => e.positive)),
        ...Array.from({ length: n }, (_, k) => doc(examples.map((e) => e.negatives[k]))),
      ],
    };
  }

  distillation(examples: readonly DistillationExample[]): DistillationBatch {
    if (examples.length === 0) throw new DataError("cannot collate an empty batch");
    return {
      queries: this.tokenize(
        examples.map((e) => e.query),
        { isQuery: true, pad: true },
      ),
      documents: this.tokenize(
        examples.flatMap((e) => [...e.documents]),
        { isQuery: false, pad: true },
      ),
      teacherScores: Float32Array.from(examples.flatMap((e) => [...e.scores])),
    };
  }
}

export interface MiningOptions {
  /** Hard negatives per (query, positive) pair (default 1). */
  numNegatives?: number;
  /** BM25 ranks skipped at the top (likely unjudged positives; default 0). */
  skipTop?: number;
  /** How deep to look for negatives (default 100). */
  depth?: number;
}

/**
 * One triplet per judged (query, positive) pair, negatives = the best BM25 documents that are
 * not judged relevant for the query (ranks skipTop.. in order).
 */
export function mineHardNegativesBM25(
  corpus: readonly BeirDocument[],
  queries: readonly BeirQuery[],
  qrels: Qrels,
  options: MiningOptions = {},
): TripletExample[] {
  const bm25 = BM25.build(corpus);
  const depth = options.depth ?? 100;
  return tripletsFromRankings(
    corpus,
    queries,
    qrels,
    (q) => bm25.search(q.text, depth).map((r) => r.id),
    options,
    "BM25 candidates",
  );
}

/**
 * The mining rule shared by BM25 and model mining: one triplet per judged (query, positive)
 * pair, negatives = the documents of `ranking(query)` (best first) not judged relevant for the
 * query, ranks skipTop.. in order; queries with too few candidates are left out.
 */
export function tripletsFromRankings(
  corpus: readonly BeirDocument[],
  queries: readonly BeirQuery[],
  qrels: Qrels,
  ranking: (query: BeirQuery) => readonly string[],
  options: MiningOptions,
  candidates: string,
): TripletExample[] {
  const numNegatives = options.numNegatives ?? 1;
  const skip = options.skipTop ?? 0;
  const docs = new Map(corpus.map((d) => [d.id, d]));
  const out: TripletExample[] = [];
  for (const q of queries) {
    const rel = qrels.get(q.id);
    if (!rel) continue;
    const negatives = ranking(q)
      .filter((id) => !rel.has(id))
      .slice(skip, skip + numNegatives)
      .map((id) => documentText(docs.get(id)!));
    if (negatives.length < numNegatives) continue;
    for (const [docId, grade] of rel) {
      const pos = docs.get(docId);
      if (grade > 0 && pos) out.push({ query: q.text, positive: documentText(pos), negatives });
    }
  }
  if (out.length === 0)
    throw new DataError(
      `hard-negative mining produced no triplets (no judged query with enough ${candidates})`,
    );
  return out;
}
