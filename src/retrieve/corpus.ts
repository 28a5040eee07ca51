import { ParallelSearcher, type ParallelSearchOptions } from "../indexes/parallel.js";
import { PLAID, type PlaidOptions } from "../indexes/plaid/index.js";
import { createIndex, openIndex } from "../indexes/registry.js";
import type { DocumentInput, SearchOptions, SearchResult } from "../indexes/types.js";
import {
  type BeirDocument,
  type BeirQuery,
  countCorpus,
  documentText,
  streamCorpus,
  streamQueries,
} from "../io/beir.js";
import { runFromHits, writeRun } from "../io/trec.js";
import type { EmbeddingModel } from "../models/types.js";
import { ConfigError } from "../util/errors.js";
import { makeProgress } from "../util/progress.js";

/**
 * BEIR corpus and queries in (a BEIR folder, or a corpus / queries file: JSONL or parquet),
 * index / TREC run out: the logic of `tslate index` and `tslate search`, written against any
 * EmbeddingModel so that it is testable without a real checkpoint. Reading and writing go
 * through io/ (the readers evaluation uses); a document's text is `documentText`.
 */

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
  const total = await countCorpus(corpusPath);
  const bar = makeProgress(options.showProgress);
  const encodeBatch = options.encodeBatch ?? 256;
  const storeText = options.storeText ?? true;
  bar.start(total, "encoding");
  async function* documents(): AsyncGenerator<DocumentInput> {
    let batch: BeirDocument[] = [];
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
    for await (const r of streamCorpus(corpusPath)) {
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
      const index = await createIndex(type, indexDir);
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

/** The search options of PLAID and HNSW beyond the common ones (k, subset, filter). */
export type SearchParameters = Omit<ParallelSearchOptions, keyof SearchOptions>;

export interface SearchQueriesOptions {
  k?: number;
  /** Queries encoded and searched per step (default 256). */
  encodeBatch?: number;
  batchSize?: number;
  showProgress?: boolean;
  /** Run name in the TREC file (default "tslate"). */
  runName?: string;
  /**
   * Index-specific search parameters (PLAID's nIvfProbe, nFullScores, centroidScoreThreshold;
   * HNSW's kToken): typed, and refused by the index when it does not take them.
   */
  searchParameters?: SearchParameters;
  /** Worker threads searching (a ParallelSearcher) when above 1 (default 1: this thread). */
  searchWorkers?: number;
}

/** Encodes BEIR queries, searches the index and writes a TREC run (if `output` is given). */
export async function searchQueries(
  model: EmbeddingModel,
  indexDir: string,
  queriesPath: string,
  output: string | null,
  options: SearchQueriesOptions = {},
): Promise<{ queryIds: string[]; results: SearchResult[][] }> {
  const queries: BeirQuery[] = [];
  for await (const q of streamQueries(queriesPath)) queries.push(q);
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
  if (output) writeRun(output, runFromHits(queryIds, results), { tag: options.runName });
  return { queryIds, results };
}
