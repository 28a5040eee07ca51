/**
 * BEIR datasets: the folder layouts (JSONL or Hugging Face parquet), streamed corpus and
 * queries, judgements, and the text a model sees for a document. Every reader of BEIR data in
 * tslate (evaluation, `tslate index` / `search`, training) goes through this file.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { DataError, FileFormatError } from "../util/errors.js";
import { readJsonl, readLines, showValue } from "./lines.js";
import { countParquetRows, readParquet } from "./parquet.js";
import { type Qrels, readQrels } from "./trec.js";

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

/**
 * Streams the corpus document by document (JSONL line by line, parquet row group by row group).
 * `path` is a BEIR folder, or one corpus file (`.jsonl`, `.jsonl.gz` or `.parquet`).
 */
export async function* streamCorpus(path: string): AsyncGenerator<BeirDocument> {
  yield* streamRecords(recordFiles(path, "corpus"), "corpus");
}

/** Streams the queries (all of them, whatever their split) of a BEIR folder or queries file. */
export async function* streamQueries(path: string): AsyncGenerator<BeirQuery> {
  for await (const d of streamRecords(recordFiles(path, "queries"), "queries")) {
    yield { id: d.id, text: d.text };
  }
}

/**
 * The files of one kind: `path` itself when it is a file; in a folder `<kind>.jsonl(.gz)`, else
 * the parquet files under `<kind>/` (a folder may hold the corpus alone, for `tslate index`).
 */
function recordFiles(path: string, kind: "corpus" | "queries"): string[] {
  if (existsSync(path) && statSync(path).isFile()) return [path];
  if (!existsSync(path)) {
    throw new FileFormatError(path, `${kind} file or BEIR folder not found`, { missing: true });
  }
  const jsonl = [`${kind}.jsonl`, `${kind}.jsonl.gz`].map((f) => join(path, f)).find(existsSync);
  if (jsonl) return [jsonl];
  const parquet = parquetFiles(join(path, kind));
  if (parquet.length > 0) return parquet;
  throw new FileFormatError(
    path,
    `no ${kind} in this folder: expected ${kind}.jsonl (or .jsonl.gz) or parquet files under ${kind}/`,
    { missing: true },
  );
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
    for await (const { value, pos } of recordsOf(path)) {
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

async function* recordsOf(path: string): AsyncGenerator<{ value: unknown; pos: number }> {
  if (path.endsWith(".parquet")) {
    for await (const { value, row } of readParquet(path)) yield { value, pos: row };
  } else {
    for await (const { value, lineNo } of readJsonl(path)) yield { value, pos: lineNo };
  }
}

/** `file:line` for JSONL (1-based lines), `file:row n` for parquet (0-based rows). */
function whereIn(path: string, pos: number): string {
  return path.endsWith(".parquet") ? `${path}:row ${pos}` : `${path}:${pos}`;
}

function idOf(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "bigint" || (typeof v === "number" && Number.isInteger(v))) return String(v);
  return undefined;
}

function toRecord(value: unknown, whereFn: () => string, kind: "corpus" | "queries"): BeirDocument {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new DataError(`${whereFn()}: expected an object per record, got ${showValue(value)}`);
  }
  const o = value as Record<string, unknown>;
  // BEIR writes "_id"; "id" is accepted too (many JSONL exports use it).
  const rawId = o._id ?? o.id;
  const id = idOf(rawId);
  if (id === undefined || id === "") {
    throw new DataError(
      `${whereFn()}: "_id" must be a non-empty string (or integer), got ${showValue(rawId)}; each ${kind} record needs {"_id", "text"}`,
    );
  }
  if (typeof o.text !== "string") {
    throw new DataError(
      `${whereFn()}: "text" of ${kind} record "${id}" must be a string, got ${showValue(o.text)}`,
    );
  }
  if (o.title !== undefined && o.title !== null && typeof o.title !== "string") {
    throw new DataError(
      `${whereFn()}: "title" of record "${id}" must be a string when present, got ${showValue(o.title)}`,
    );
  }
  return { id, title: typeof o.title === "string" ? o.title : "", text: o.text };
}

async function loadQrelsFiles(paths: string[]): Promise<Qrels> {
  if (paths.length === 1 && paths[0].endsWith(".tsv")) return readQrels(paths[0]);
  const qrels: Qrels = new Map();
  for (const path of paths) {
    for await (const { value, row } of readParquet(path, {
      columns: ["query-id", "corpus-id", "score"],
    })) {
      const where = `row ${row}`;
      const o = value as Record<string, unknown>;
      const q = idOf(o["query-id"]);
      const d = idOf(o["corpus-id"]);
      if (q === undefined || d === undefined || q === "" || d === "") {
        throw new DataError(
          `${path}:${where}: qrels rows need "query-id" and "corpus-id" (string or integer), got ${showValue(o)}`,
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
 * or the parquet footers' row counts. `source` is what loadBeirQueries located, a BEIR folder
 * or a corpus file.
 */
export async function countCorpus(source: BeirFiles | string): Promise<number> {
  const paths = typeof source === "string" ? recordFiles(source, "corpus") : source.corpus;
  let n = 0;
  for (const path of paths) {
    if (path.endsWith(".parquet")) n += await countParquetRows(path);
    else for await (const { line } of readLines(path)) if (line.trim() !== "") n++;
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
