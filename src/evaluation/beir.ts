import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from "hyparquet";
import { DataError, FileFormatError } from "../util/errors.js";
import { readLines } from "./lines.js";
import type { Qrels } from "./metrics.js";
import { readQrels } from "./trec.js";

/** One corpus document, as in BEIR's corpus.jsonl. */
export interface BeirDocument {
  id: string;
  title: string;
  text: string;
}

/** One query. */
export interface BeirQuery {
  id: string;
  text: string;
}

/** A loaded split: the whole corpus, the queries that have judgements, and the judgements. */
export interface BeirDataset {
  corpus: BeirDocument[];
  /** Only queries with at least one judgement in the split, in file order (as BEIR's loader). */
  queries: BeirQuery[];
  qrels: Qrels;
}

/**
 * The text a model sees for a document: `title + " " + text`, trimmed, as PyLate's
 * `evaluation.load_beir` builds it (and BEIR's dense retrievers).
 */
export function documentText(doc: BeirDocument): string {
  return `${doc.title} ${doc.text}`.trim();
}

/**
 * Where the files of a BEIR folder are. Two layouts are understood:
 *  - BEIR: `corpus.jsonl`, `queries.jsonl` (or `.jsonl.gz`), `qrels/<split>.tsv`;
 *  - Hugging Face datasets parquet (BEIR mirrors such as BeIR/*, mteb/*, NanoBEIR): every
 *    `*.parquet` under `corpus/`, `queries/` and `qrels/` (or `default/` for mteb qrels), with
 *    columns `_id`, `title`, `text` / `_id`, `text` / `query-id`, `corpus-id`, `score`. Qrels
 *    files of a split are those whose path starts with the split name (`test-00000-of-00001.parquet`,
 *    `test/0000.parquet`).
 */
export interface BeirFiles {
  corpus: string[];
  queries: string[];
  qrels: string[];
  layout: "jsonl" | "parquet";
}

export function locateBeirFiles(dir: string, split?: string): BeirFiles {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new FileFormatError(dir, "BEIR dataset folder not found", { missing: true });
  }
  const jsonl = (name: string) =>
    [`${name}.jsonl`, `${name}.jsonl.gz`].map((f) => join(dir, f)).find((p) => existsSync(p));
  const corpusJsonl = jsonl("corpus");
  const queriesJsonl = jsonl("queries");
  if (corpusJsonl && queriesJsonl) {
    if (split === undefined) {
      return { corpus: [corpusJsonl], queries: [queriesJsonl], qrels: [], layout: "jsonl" };
    }
    const qrels = join(dir, "qrels", `${split}.tsv`);
    if (!existsSync(qrels)) {
      throw new FileFormatError(
        qrels,
        `no qrels for split "${split}"; splits present: ${listSplits(dir).join(", ") || "none"} (choose one with --split)`,
        { missing: true },
      );
    }
    return { corpus: [corpusJsonl], queries: [queriesJsonl], qrels: [qrels], layout: "jsonl" };
  }
  const corpus = parquetFiles(join(dir, "corpus"));
  const queries = parquetFiles(join(dir, "queries"));
  if (corpus.length === 0 || queries.length === 0) {
    throw new FileFormatError(
      dir,
      "not a BEIR folder: expected corpus.jsonl + queries.jsonl + qrels/<split>.tsv, or Hugging Face parquet files under corpus/, queries/ and qrels/",
      { missing: true },
    );
  }
  if (split === undefined) return { corpus, queries, qrels: [], layout: "parquet" };
  const tsv = join(dir, "qrels", `${split}.tsv`);
  if (existsSync(tsv)) return { corpus, queries, qrels: [tsv], layout: "parquet" };
  const qrelsRoot = ["qrels", "default"].map((d) => join(dir, d)).find((d) => existsSync(d));
  const all = qrelsRoot ? parquetFiles(qrelsRoot) : [];
  const qrels = all.filter((p) => splitOf(relative(qrelsRoot!, p)) === split);
  if (qrels.length === 0) {
    throw new FileFormatError(
      join(dir, "qrels"),
      `no qrels parquet files for split "${split}"; splits present: ${listSplits(dir).join(", ") || "none"} (choose one with --split)`,
      { missing: true },
    );
  }
  return { corpus, queries, qrels, layout: "parquet" };
}

/** The qrels splits a BEIR folder holds (`test`, `train`, `dev`, ...). */
export function listSplits(dir: string): string[] {
  const out = new Set<string>();
  for (const sub of ["qrels", "default"]) {
    const d = join(dir, sub);
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) if (f.endsWith(".tsv")) out.add(f.slice(0, -4));
    for (const p of parquetFiles(d)) out.add(splitOf(relative(d, p)));
  }
  return [...out].sort();
}

function splitOf(relPath: string): string {
  const first = relPath.split(/[\\/]/)[0];
  return first.endsWith(".parquet") ? first.replace(/(-\d+-of-\d+)?\.parquet$/, "") : first;
}

function parquetFiles(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".parquet")) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** Streams the corpus document by document (JSONL line by line, parquet row group by row group). */
export async function* streamCorpus(dir: string): AsyncGenerator<BeirDocument> {
  const files = locateBeirFiles(dir);
  yield* streamRecords(files.corpus, "corpus");
}

/** Streams the queries (all of them, whatever their split). */
export async function* streamQueries(dir: string): AsyncGenerator<BeirQuery> {
  const files = locateBeirFiles(dir);
  for await (const d of streamRecords(files.queries, "queries")) yield { id: d.id, text: d.text };
}

async function* streamRecords(
  paths: string[],
  kind: "corpus" | "queries",
): AsyncGenerator<BeirDocument> {
  // id -> where it was first seen, packed as fileIndex * 2^32 + line/row (a number per id,
  // not a string: this map holds every id of a possibly large corpus).
  const seen = new Map<string, number>();
  const describe = (packed: number) => {
    const path = paths[Math.floor(packed / 2 ** 32)];
    return whereIn(path, packed % 2 ** 32);
  };
  for (let f = 0; f < paths.length; f++) {
    const path = paths[f];
    const records = path.endsWith(".parquet") ? parquetRows(path) : jsonlRows(path);
    for await (const { value, pos } of records) {
      const doc = toRecord(value, () => whereIn(path, pos), kind);
      const prev = seen.get(doc.id);
      if (prev !== undefined) {
        throw new DataError(
          `${whereIn(path, pos)}: duplicate ${kind} id "${doc.id}" (first seen at ${describe(prev)}); ids must be unique`,
        );
      }
      seen.set(doc.id, f * 2 ** 32 + pos);
      yield doc;
    }
  }
}

/** `file:line` for JSONL (1-based lines), `file:row n` for parquet (0-based rows). */
function whereIn(path: string, pos: number): string {
  return path.endsWith(".parquet") ? `${path}:row ${pos}` : `${path}:${pos}`;
}

async function* jsonlRows(path: string): AsyncGenerator<{ value: unknown; pos: number }> {
  for await (const { line, lineNo } of readLines(path)) {
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new DataError(
        `${path}:${lineNo}: not valid JSON (${(err as Error).message}): "${line.slice(0, 80)}${line.length > 80 ? "..." : ""}"`,
        { cause: err },
      );
    }
    yield { value, pos: lineNo };
  }
}

async function* parquetRows(
  path: string,
  columns?: string[],
): AsyncGenerator<{ value: unknown; pos: number }> {
  let file: Awaited<ReturnType<typeof asyncBufferFromFile>>;
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  try {
    file = await asyncBufferFromFile(path);
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    throw new FileFormatError(path, `not a readable parquet file (${(err as Error).message})`, {
      cause: err,
    });
  }
  const present = new Set(
    metadata.schema.slice(1).map((s: { name: string }) => s.name) as string[],
  );
  const wanted = columns?.filter((c) => present.has(c));
  let rowStart = 0;
  // One row group at a time: memory stays bounded by the largest row group.
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd, columns: wanted });
    } catch (err) {
      throw new FileFormatError(
        path,
        `cannot read rows ${rowStart}-${rowEnd} (${(err as Error).message})`,
        { cause: err },
      );
    }
    for (let i = 0; i < rows.length; i++) yield { value: rows[i], pos: rowStart + i };
    rowStart = rowEnd;
  }
}

function idOf(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "bigint" || (typeof v === "number" && Number.isInteger(v))) return String(v);
  return undefined;
}

function toRecord(value: unknown, whereFn: () => string, kind: "corpus" | "queries"): BeirDocument {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new DataError(`${whereFn()}: expected a JSON object per line, got ${show(value)}`);
  }
  const o = value as Record<string, unknown>;
  const id = idOf(o._id);
  if (id === undefined || id === "") {
    throw new DataError(
      `${whereFn()}: "_id" must be a non-empty string (or integer), got ${show(o._id)}; each ${kind} record needs {"_id", "text"}`,
    );
  }
  if (typeof o.text !== "string") {
    throw new DataError(
      `${whereFn()}: "text" of ${kind} record "${id}" must be a string, got ${show(o.text)}`,
    );
  }
  if (o.title !== undefined && o.title !== null && typeof o.title !== "string") {
    throw new DataError(
      `${whereFn()}: "title" of record "${id}" must be a string when present, got ${show(o.title)}`,
    );
  }
  return { id, title: typeof o.title === "string" ? o.title : "", text: o.text };
}

/** A value for an error message, clipped so that a huge record cannot flood the terminal. */
function show(v: unknown): string {
  const text = JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? String(x) : x)) ?? String(v);
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}

async function loadQrelsFiles(paths: string[]): Promise<Qrels> {
  if (paths.length === 1 && paths[0].endsWith(".tsv")) return readQrels(paths[0]);
  const qrels: Qrels = new Map();
  for (const path of paths) {
    for await (const { value, pos } of parquetRows(path, ["query-id", "corpus-id", "score"])) {
      const where = `row ${pos}`;
      const o = value as Record<string, unknown>;
      const q = idOf(o["query-id"]);
      const d = idOf(o["corpus-id"]);
      if (q === undefined || d === undefined || q === "" || d === "") {
        throw new DataError(
          `${path}:${where}: qrels rows need "query-id" and "corpus-id" (string or integer), got ${JSON.stringify(o, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`,
        );
      }
      // NanoBEIR qrels have no score column: every listed pair is relevant.
      const raw = o.score === undefined || o.score === null ? 1 : Number(o.score);
      if (!Number.isInteger(raw)) {
        throw new DataError(`${path}:${where}: score ${String(o.score)} is not an integer`);
      }
      let docs = qrels.get(q);
      if (!docs) qrels.set(q, (docs = new Map()));
      docs.set(d, raw);
    }
  }
  return qrels;
}

/** A split's queries and judgements, and where its corpus is (to stream it). */
export interface BeirQueriesAndQrels {
  queries: BeirQuery[];
  qrels: Qrels;
  files: BeirFiles;
}

/**
 * Loads a split's judgements and its judged queries (in file order), without the corpus,
 * which streamCorpus / streamBeirCorpus then reads. Every judged query must exist.
 */
export async function loadBeirQueries(
  dir: string,
  options: { split?: string } = {},
): Promise<BeirQueriesAndQrels> {
  const files = locateBeirFiles(dir, options.split ?? "test");
  const qrels = await loadQrelsFiles(files.qrels);
  const queries: BeirQuery[] = [];
  for await (const q of streamRecords(files.queries, "queries")) {
    if (qrels.has(q.id)) queries.push({ id: q.id, text: q.text });
  }
  const queryIds = new Set(queries.map((q) => q.id));
  const missingQ = [...qrels.keys()].filter((q) => !queryIds.has(q));
  if (missingQ.length > 0) {
    throw new DataError(
      `${files.qrels[0]}: ${missingQ.length} judged queries are not in ${files.queries[0]} (e.g. ${missingQ.slice(0, 3).join(", ")})`,
    );
  }
  return { queries, qrels, files };
}

/**
 * Number of corpus records, for progress bars, without parsing them: non-empty JSONL lines,
 * or the parquet footers' row counts.
 */
export async function countCorpus(files: BeirFiles): Promise<number> {
  let n = 0;
  for (const path of files.corpus) {
    if (path.endsWith(".parquet")) {
      const meta = await parquetMetadataAsync(await asyncBufferFromFile(path));
      n += Number(meta.num_rows);
    } else {
      for await (const { line } of readLines(path)) if (line.trim() !== "") n++;
    }
  }
  return n;
}

/** Streams the corpus files located by loadBeirQueries (ids checked unique). */
export function streamBeirCorpus(files: BeirFiles): AsyncGenerator<BeirDocument> {
  return streamRecords(files.corpus, "corpus");
}

/**
 * Judged documents missing from the corpus are a DataError: they could never be retrieved
 * and would silently lower recall.
 */
export function checkJudgedDocuments(
  qrels: Qrels,
  docIds: ReadonlySet<string>,
  files: BeirFiles,
): void {
  for (const [q, docs] of qrels) {
    for (const d of docs.keys()) {
      if (!docIds.has(d)) {
        throw new DataError(
          `${files.qrels[0]}: query "${q}" judges document "${d}", which is not in the corpus ${files.corpus[0]}`,
        );
      }
    }
  }
}

/**
 * Loads one split of a BEIR folder into memory, like BEIR's `GenericDataLoader.load(split)`:
 * queries are restricted to those with judgements in the split; every judged query and
 * document must exist. For corpora too large for memory, use loadBeirQueries + streamBeirCorpus.
 */
export async function loadBeir(
  dir: string,
  options: { split?: string } = {},
): Promise<BeirDataset> {
  const { queries, qrels, files } = await loadBeirQueries(dir, options);
  const corpus: BeirDocument[] = [];
  for await (const d of streamBeirCorpus(files)) corpus.push(d);
  checkJudgedDocuments(qrels, new Set(corpus.map((d) => d.id)), files);
  return { corpus, queries, qrels };
}

/**
 * (query, positive, negative) text triples from a loaded split, as PyLate's
 * `get_beir_triples`: one triple per judged (query, document) pair, the negative a document
 * drawn uniformly from the corpus. Unlike PyLate, the draw is seeded (default seed 42) and
 * skips documents judged relevant to that query, so a triple never pits a positive against
 * itself. Feed them to ColBERTTripletEvaluator.
 */
export function getBeirTriples(
  dataset: BeirDataset,
  options: { seed?: number } = {},
): [string, string, string][] {
  const byId = new Map(dataset.corpus.map((d) => [d.id, d]));
  if (dataset.corpus.length === 0) throw new DataError("the corpus is empty: no negatives to draw");
  // mulberry32: a small, well-mixed 32-bit PRNG, so triples are reproducible.
  let state = (options.seed ?? 42) >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: [string, string, string][] = [];
  for (const q of dataset.queries) {
    const judged = dataset.qrels.get(q.id);
    if (!judged) continue;
    const relevant = new Set([...judged].filter(([, r]) => r > 0).map(([d]) => d));
    if (relevant.size >= dataset.corpus.length) continue;
    for (const docId of judged.keys()) {
      const pos = byId.get(docId);
      if (!pos) continue;
      let neg = dataset.corpus[Math.floor(random() * dataset.corpus.length)];
      while (relevant.has(neg.id))
        neg = dataset.corpus[Math.floor(random() * dataset.corpus.length)];
      out.push([q.text, documentText(pos), documentText(neg)]);
    }
  }
  return out;
}
