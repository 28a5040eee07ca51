import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Exact } from "../indexes/exact.js";
import { HNSW } from "../indexes/hnsw.js";
import type { PlaidOptions } from "../indexes/plaid/config.js";
import { PLAID } from "../indexes/plaid/index.js";
import type { DocumentInput } from "../indexes/types.js";
import { type BeirDocument, countCorpus, documentText, streamCorpus } from "../io/beir.js";
import { EmbeddingFileWriter, readEmbeddingFile } from "../io/embeddings.js";
import type { EmbeddingModel } from "../models/types.js";
import { fsyncDir, writeFileAtomic } from "../util/atomic.js";
import { ConfigError, DataError, IndexError } from "../util/errors.js";
import type { Progress } from "../util/progress.js";
import {
  compareModels,
  INDEX_RECORD_FILE,
  type IndexRecord,
  type ModelRecord,
} from "./index-record.js";

/**
 * `tslate index` as a transaction. The build happens in `<index>.partial/` next to the target:
 * the corpus is encoded in chunks of `encodeBatch` documents, each written atomically to
 * `encoded/`, then the index is built from those chunks in `index/` and renamed to `<index>`
 * only once complete (with its `tslate-index.json` record). An interrupted build (Ctrl-C,
 * kill, crash) therefore leaves no `<index>`, only the partial folder, which `search` names in
 * its error and `--resume` continues: chunks already encoded are not encoded again (the index
 * itself is rebuilt from them, which is the short part). `--overwrite` replaces an existing
 * index (or partial build); the old index stays in place until the new one is complete.
 */

export type IndexType = "plaid" | "exact" | "hnsw";

export interface BuildOptions {
  indexType: IndexType;
  batchSize: number;
  /** Documents per encode call and per resumable chunk (default 1024, as tslate beir encodes). */
  encodeBatch?: number;
  plaid: PlaidOptions;
  resume: boolean;
  overwrite: boolean;
  /** Stores title/text as metadata for keyword search (default true). */
  storeText?: boolean;
  /** One progress reporter per phase, labelled. */
  progress: (label: string) => Progress;
  /** Says what happens ("resumed: 768 of 1,200 documents were already encoded"). */
  log: (message: string) => void;
  /** Detail: what each phase took. */
  detail: (message: string) => void;
  /** Test hook: called after each chunk is written (the test pauses the build here). */
  afterChunk?: (chunk: number) => Promise<void>;
}

export interface BuildResult {
  documents: number;
  /** Documents whose encoding a --resume reused. */
  reused: number;
}

/** The folder an interrupted build of `indexDir` leaves behind. */
export function partialDir(indexDir: string): string {
  return `${resolve(indexDir)}.partial`;
}

interface PartialState {
  record: Omit<IndexRecord, "documents" | "completedAt">;
}

/** The settings a resumed build must share with the interrupted one. */
function sameSettings(a: PartialState["record"], b: PartialState["record"]): string | null {
  const model = compareModels(a.model, b.model);
  if (model.level !== "same") return `model (${model.why})`;
  if (a.corpus !== b.corpus) return `corpus (${a.corpus} vs ${b.corpus})`;
  if (a.indexType !== b.indexType) return `index type (${a.indexType} vs ${b.indexType})`;
  if (JSON.stringify(a.options) !== JSON.stringify(b.options)) {
    return `options (${JSON.stringify(a.options)} vs ${JSON.stringify(b.options)})`;
  }
  return null;
}

export async function buildIndex(
  model: EmbeddingModel,
  modelRecord: ModelRecord,
  corpusPath: string,
  indexDir: string,
  options: BuildOptions,
): Promise<BuildResult> {
  const target = resolve(indexDir);
  const staging = partialDir(indexDir);
  const encodeBatch = options.encodeBatch ?? 1024;
  if (options.resume && options.overwrite) {
    throw new ConfigError("--resume and --overwrite exclude each other: pick one");
  }
  if (!existsSync(dirname(target)) || !statSync(dirname(target)).isDirectory()) {
    throw new ConfigError(
      `${dirname(target)} is not a folder: create the parent folder of --index first`,
    );
  }
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) {
      throw new ConfigError(`--index ${indexDir} is a file: give a folder (new or to --overwrite)`);
    }
    if (!options.overwrite) {
      throw new IndexError(
        `${indexDir} already holds an index${options.resume ? " (complete: nothing to resume)" : ""}; pass --overwrite to rebuild it`,
      );
    }
  }
  const record: PartialState["record"] = {
    format: "tslate-index-record",
    version: 1,
    model: modelRecord,
    corpus: resolve(corpusPath),
    indexType: options.indexType,
    options: {
      encodeBatch,
      storeText: options.storeText ?? true,
      ...(options.indexType === "plaid" ? { plaid: options.plaid } : {}),
    },
  };
  const statePath = join(staging, "build.json");
  if (existsSync(staging)) {
    if (options.overwrite) {
      rmSync(staging, { recursive: true, force: true });
    } else if (!options.resume) {
      throw new IndexError(
        `an interrupted build of ${indexDir} is in ${staging}; pass --resume to continue it or --overwrite to start over`,
      );
    } else {
      let previous: PartialState["record"];
      try {
        previous = JSON.parse(readFileSync(statePath, "utf8")) as PartialState["record"];
      } catch {
        throw new IndexError(
          `${staging} has no readable build.json (not a tslate build, or written by an older tslate); pass --overwrite to start over`,
        );
      }
      const differs = sameSettings(previous, record);
      if (differs) {
        throw new IndexError(
          `the interrupted build in ${staging} used another ${differs}; rerun with the same settings to --resume, or pass --overwrite`,
        );
      }
    }
  } else if (options.resume) {
    throw new IndexError(`no interrupted build of ${indexDir} to resume (${staging} not found)`);
  }
  const encodedDir = join(staging, "encoded");
  mkdirSync(encodedDir, { recursive: true });
  if (!existsSync(statePath)) writeFileAtomic(statePath, `${JSON.stringify(record, null, 1)}\n`);

  const total = await countCorpus(corpusPath);
  if (total === 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new DataError(`${corpusPath} holds no documents: nothing to index`);
  }

  // Phase 1: encode, chunk by chunk (a chunk already on disk is reused).
  const chunkPath = (c: number) => join(encodedDir, `${String(c).padStart(6, "0")}.safetensors`);
  let chunks = 0;
  let reused = 0;
  const encoding = options.progress("encoding documents");
  encoding.start(total, "encoding documents");
  try {
    let batch: BeirDocument[] = [];
    const flush = async () => {
      const path = chunkPath(chunks);
      if (existsSync(path)) {
        const { ids } = readEmbeddingFile(path);
        if (ids.length !== batch.length || ids.some((id, i) => id !== batch[i].id)) {
          throw new IndexError(
            `${path} holds other documents than the corpus now has at this place (the corpus changed since the interrupted build); pass --overwrite`,
          );
        }
        reused += batch.length;
      } else {
        const embs = await model.encode(batch.map(documentText), {
          isQuery: false,
          batchSize: options.batchSize,
        });
        const writer = new EmbeddingFileWriter(path, "safetensors");
        try {
          batch.forEach((d, i) => writer.add(d.id, embs[i]));
          await writer.finish();
        } catch (err) {
          writer.abort();
          throw err;
        }
      }
      encoding.increment(batch.length);
      chunks++;
      batch = [];
      await options.afterChunk?.(chunks);
    };
    for await (const d of streamCorpus(corpusPath)) {
      batch.push(d);
      if (batch.length >= encodeBatch) await flush();
    }
    if (batch.length) await flush();
  } finally {
    encoding.stop();
  }
  if (reused > 0) options.log(`resumed: ${reused} of ${total} documents were already encoded`);

  // Phase 2: build the index from the chunks (always from scratch: it is the short part).
  const built = join(staging, "index");
  rmSync(built, { recursive: true, force: true });
  const storeText = options.storeText ?? true;
  async function* documents(): AsyncGenerator<DocumentInput> {
    const corpus = streamCorpus(corpusPath)[Symbol.asyncIterator]();
    for (let c = 0; c < chunks; c++) {
      const { ids, embeddings } = readEmbeddingFile(chunkPath(c));
      for (let i = 0; i < ids.length; i++) {
        const next = await corpus.next();
        const doc = next.value as BeirDocument;
        yield {
          id: ids[i],
          embedding: embeddings[i] as DocumentInput["embedding"],
          metadata: storeText ? { title: doc.title, text: doc.text } : {},
        };
      }
    }
    await corpus.return?.(undefined);
  }
  let count: number;
  if (options.indexType === "plaid") {
    // PLAID.build reads every document (spilling them to disk and sampling for k-means),
    // trains the codec, then compresses and writes: three phases, each labelled.
    const reading = options.progress("reading encoded chunks");
    reading.start(total, "reading encoded chunks");
    let codecStart = 0;
    async function* counted(): AsyncGenerator<DocumentInput> {
      for await (const d of documents()) {
        yield d;
        reading.increment(1);
      }
      reading.stop();
      codecStart = performance.now();
      options.log("training the PLAID codec (k-means over a sample of token embeddings)...");
    }
    const writing = options.progress("compressing and writing");
    let shown = 0;
    try {
      const index = await PLAID.build(built, counted(), {
        ...options.plaid,
        onProgress: (done, of) => {
          if (shown === 0) {
            options.detail(
              `codec trained in ${((performance.now() - codecStart) / 1000).toFixed(1)} s`,
            );
            writing.start(of, "compressing and writing");
          }
          writing.increment(done - shown);
          shown = done;
        },
      });
      count = index.count();
      await index.close();
    } finally {
      reading.stop();
      writing.stop();
    }
  } else {
    const index =
      options.indexType === "exact" ? await Exact.create(built) : await HNSW.create(built);
    const bar = options.progress(`adding to ${options.indexType} index`);
    bar.start(total, `adding to ${options.indexType} index`);
    try {
      let ids: string[] = [];
      let embs: DocumentInput["embedding"][] = [];
      let metas: Record<string, unknown>[] = [];
      const add = async () => {
        await index.add(ids, embs, metas);
        bar.increment(ids.length);
        ids = [];
        embs = [];
        metas = [];
      };
      for await (const d of documents()) {
        ids.push(d.id);
        embs.push(d.embedding);
        metas.push(d.metadata ?? {});
        if (ids.length >= 4 * encodeBatch) await add();
      }
      if (ids.length) await add();
      count = index.count();
      await index.close();
    } finally {
      bar.stop();
    }
  }

  // Commit: record, then swap the complete index into place.
  const full: IndexRecord = { ...record, documents: count, completedAt: new Date().toISOString() };
  writeFileAtomic(join(built, INDEX_RECORD_FILE), `${JSON.stringify(full, null, 1)}\n`);
  const old = `${target}.old-${process.pid}`;
  if (existsSync(target)) renameSync(target, old);
  renameSync(built, target);
  fsyncDir(dirname(target));
  rmSync(old, { recursive: true, force: true });
  rmSync(staging, { recursive: true, force: true });
  return { documents: count, reused };
}
