import { createReadStream, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Exact } from "../indexes/exact.js";
import { HNSW } from "../indexes/hnsw.js";
import { openIndex } from "../indexes/index.js";
import { ParallelSearcher } from "../indexes/parallel.js";
import { PLAID, type PlaidOptions } from "../indexes/plaid.js";
import type { DocumentInput, SearchResult } from "../indexes/types.js";
import type { EmbeddingModel } from "../models/types.js";
import { writeFileAtomic } from "../util/atomic.js";
import { ConfigError, DataError, FileFormatError } from "../util/errors.js";
import { makeProgress } from "../util/progress.js";

/**
 * BEIR JSONL in, index / TREC run out: the logic of `tslate index` and `tslate search`,
 * written against any EmbeddingModel so that it is testable without a real checkpoint.
 * A document's text is `title + " " + text` (trimmed), as PyLate's BEIR examples encode it.
 */

export interface BeirRecord {
  id: string;
  title: string;
  text: string;
}

function resolve(path: string, file: string): string {
  if (existsSync(path) && statSync(path).isDirectory()) return join(path, file);
  return path;
}

async function* jsonl(path: string): AsyncGenerator<[Record<string, unknown>, number]> {
  if (!existsSync(path)) throw new FileFormatError(path, "not found", { missing: true });
  const rl = createInterface({
    input: createReadStream(path, "utf8"),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let line = 0;
  for await (const raw of rl) {
    line++;
    if (raw.trim() === "") continue;
    let o: unknown;
    try {
      o = JSON.parse(raw);
    } catch (err) {
      throw new DataError(`${path}:${line}: not valid JSON (${String(err)})`, { cause: err });
    }
    if (!o || typeof o !== "object" || Array.isArray(o))
      throw new DataError(`${path}:${line}: expected a JSON object`);
    yield [o as Record<string, unknown>, line];
  }
}

function record(o: Record<string, unknown>, where: string): BeirRecord {
  const id = o._id ?? o.id;
  if (typeof id !== "string" && typeof id !== "number")
    throw new DataError(`${where}: missing "_id"`);
  if (typeof o.text !== "string") throw new DataError(`${where}: "text" must be a string`);
  const title = typeof o.title === "string" ? o.title : "";
  return { id: String(id), title, text: o.text };
}

/** Streams `corpus.jsonl` (a file, or a BEIR directory holding it). */
export async function* readBeirCorpus(path: string): AsyncGenerator<BeirRecord> {
  const file = resolve(path, "corpus.jsonl");
  for await (const [o, line] of jsonl(file)) yield record(o, `${file}:${line}`);
}

/** Reads `queries.jsonl` (a file, or a BEIR directory holding it). */
export async function readBeirQueries(path: string): Promise<BeirRecord[]> {
  const file = resolve(path, "queries.jsonl");
  const out: BeirRecord[] = [];
  for await (const [o, line] of jsonl(file)) out.push(record(o, `${file}:${line}`));
  return out;
}

async function countLines(path: string): Promise<number> {
  let n = 0;
  for await (const _ of jsonl(path)) n++;
  return n;
}

export function documentText(r: BeirRecord): string {
  return `${r.title} ${r.text}`.trim();
}

export interface IndexCorpusOptions {
  indexType?: "plaid" | "exact" | "hnsw";
  /** Documents encoded per model call (default 256). */
  encodeBatch?: number;
  /** Model batch size (default 32). */
  batchSize?: number;
  showProgress?: boolean;
  /** Store title/text as metadata, for keyword and hybrid search (default true). */
  storeText?: boolean;
  plaid?: PlaidOptions;
}

/** Encodes a BEIR corpus and builds an index in `indexDir` (streaming: bounded memory). */
export async function indexCorpus(
  model: EmbeddingModel,
  corpusPath: string,
  indexDir: string,
  options: IndexCorpusOptions = {},
): Promise<{ documents: number }> {
  const type = options.indexType ?? "plaid";
  if (!["plaid", "exact", "hnsw"].includes(type))
    throw new ConfigError(`index type must be plaid, exact or hnsw, got ${JSON.stringify(type)}`);
  const file = resolve(corpusPath, "corpus.jsonl");
  const total = await countLines(file);
  const bar = makeProgress(options.showProgress);
  const encodeBatch = options.encodeBatch ?? 256;
  const storeText = options.storeText ?? true;
  bar.start(total, "encoding");
  async function* documents(): AsyncGenerator<DocumentInput> {
    let batch: BeirRecord[] = [];
    const flush = async function* () {
      const embs = await model.encode(batch.map(documentText), {
        isQuery: false,
        batchSize: options.batchSize ?? 32,
      });
      for (let i = 0; i < batch.length; i++) {
        yield {
          id: batch[i].id,
          embedding: embs[i],
          metadata: storeText ? { title: batch[i].title, text: batch[i].text } : {},
        };
      }
      bar.increment(batch.length);
      batch = [];
    };
    for await (const r of readBeirCorpus(file)) {
      batch.push(r);
      if (batch.length >= encodeBatch) yield* flush();
    }
    if (batch.length) yield* flush();
  }
  let count = 0;
  try {
    if (type === "plaid") {
      const index = await PLAID.build(indexDir, documents(), options.plaid ?? {});
      count = index.count();
      await index.close();
    } else {
      const index = type === "exact" ? await Exact.create(indexDir) : await HNSW.create(indexDir);
      let ids: string[] = [];
      let embs: DocumentInput["embedding"][] = [];
      let metas: Record<string, unknown>[] = [];
      const flush = async () => {
        await index.add(ids, embs, metas);
        ids = [];
        embs = [];
        metas = [];
      };
      for await (const d of documents()) {
        ids.push(d.id);
        embs.push(d.embedding);
        metas.push(d.metadata ?? {});
        if (ids.length >= 4 * encodeBatch) await flush();
      }
      if (ids.length) await flush();
      count = index.count();
      await index.close();
    }
  } finally {
    bar.stop();
  }
  return { documents: count };
}

export interface SearchQueriesOptions {
  k?: number;
  /** Queries encoded and searched per step (default 256). */
  encodeBatch?: number;
  batchSize?: number;
  showProgress?: boolean;
  /** Run name in the TREC file (default "tslate"). */
  runName?: string;
  /** Index-specific search parameters (nIvfProbe, nFullScores, kToken). */
  searchParameters?: Record<string, number>;
  /** Worker threads searching (a ParallelSearcher) when above 1 (default 1: this thread). */
  searchWorkers?: number;
}

/** TREC run lines: `qid Q0 docid rank score run`. */
export function writeTrecRun(
  path: string,
  queryIds: string[],
  results: SearchResult[][],
  runName = "tslate",
): void {
  const lines: string[] = [];
  results.forEach((hits, i) => {
    hits.forEach((h, r) => lines.push(`${queryIds[i]} Q0 ${h.id} ${r + 1} ${h.score} ${runName}`));
  });
  writeFileAtomic(path, lines.length ? `${lines.join("\n")}\n` : "");
}

/** Encodes BEIR queries, searches the index and writes a TREC run (if `output` is given). */
export async function searchQueries(
  model: EmbeddingModel,
  indexDir: string,
  queriesPath: string,
  output: string | null,
  options: SearchQueriesOptions = {},
): Promise<{ queryIds: string[]; results: SearchResult[][] }> {
  const queries = await readBeirQueries(queriesPath);
  const workers = options.searchWorkers ?? 1;
  const index =
    workers === 1 ? await openIndex(indexDir) : await ParallelSearcher.open(indexDir, { workers });
  const bar = makeProgress(options.showProgress);
  const step = options.encodeBatch ?? 256;
  const results: SearchResult[][] = [];
  bar.start(queries.length, "searching");
  try {
    for (let i = 0; i < queries.length; i += step) {
      const batch = queries.slice(i, i + step);
      const embs = await model.encode(
        batch.map((q) => q.text),
        { isQuery: true, batchSize: options.batchSize ?? 32 },
      );
      results.push(
        ...(await index.search(embs, { k: options.k ?? 10, ...options.searchParameters })),
      );
      bar.increment(batch.length);
    }
  } finally {
    bar.stop();
    await index.close();
  }
  const queryIds = queries.map((q) => q.id);
  if (output) writeTrecRun(output, queryIds, results, options.runName);
  return { queryIds, results };
}
