import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import type { Qrels } from "../../src/evaluation/metrics.js";
import type { DocumentInput } from "../../src/indexes/types.js";
import { documentText } from "../../src/io/beir.js";
import type { Matrix } from "../../src/util/matrix.js";

/**
 * The index benchmark's corpora: token embeddings by document number, readable one document
 * at a time (ground truth) or as a stream (index builds), so that neither needs them all in
 * memory.
 */
export interface BenchCorpus {
  docs: number;
  tokens: number;
  dim: number;
  /** The id a document is indexed under. */
  id(d: number): string;
  document(d: number): Matrix;
  stream(): AsyncIterable<DocumentInput>;
}

/**
 * A model's embeddings of a BEIR corpus and of one split's judged queries, cached on disk:
 * `documents.f32` (every document's rows, in corpus order) and `queries.f32`, with ids and
 * row counts in `meta.json`. Documents are read back with positioned reads.
 */
export interface EncodedMeta {
  model: string;
  /** mtime of the model's weights: a retrained model invalidates the cache. */
  modelWeightsMtimeMs: number;
  data: string;
  split: string;
  dim: number;
  docIds: string[];
  docRows: number[];
  queryIds: string[];
  queryRows: number[];
  encodeDocumentsSeconds: number;
  encodeQueriesSeconds: number;
}

export class EncodedCorpus implements BenchCorpus {
  readonly docs: number;
  readonly tokens: number;
  readonly dim: number;
  private readonly offsets: Float64Array;
  private fd: number | null = null;

  constructor(
    readonly dir: string,
    readonly meta: EncodedMeta,
  ) {
    this.docs = meta.docIds.length;
    this.dim = meta.dim;
    this.offsets = new Float64Array(this.docs + 1);
    for (let d = 0; d < this.docs; d++) this.offsets[d + 1] = this.offsets[d] + meta.docRows[d];
    this.tokens = this.offsets[this.docs];
  }

  id(d: number): string {
    return this.meta.docIds[d];
  }

  document(d: number): Matrix {
    this.fd ??= openSync(join(this.dir, "documents.f32"), "r");
    const rows = this.meta.docRows[d];
    const data = new Float32Array(rows * this.dim);
    const bytes = new Uint8Array(data.buffer);
    const at = this.offsets[d] * this.dim * 4;
    let got = 0;
    while (got < bytes.length) {
      const n = readSync(this.fd, bytes, got, bytes.length - got, at + got);
      if (n === 0) throw new Error(`${this.dir}/documents.f32 is truncated at document ${d}`);
      got += n;
    }
    return { data, rows, cols: this.dim };
  }

  async *stream(): AsyncGenerator<DocumentInput> {
    for (let d = 0; d < this.docs; d++) yield { id: this.id(d), embedding: this.document(d) };
  }

  queries(): Matrix[] {
    // A copy at offset 0: readFileSync may return a view into a shared pool.
    const bytes = readFileSync(join(this.dir, "queries.f32"));
    const all = new Float32Array(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    );
    const out: Matrix[] = [];
    let o = 0;
    for (const rows of this.meta.queryRows) {
      out.push({ data: all.slice(o, o + rows * this.dim), rows, cols: this.dim });
      o += rows * this.dim;
    }
    return out;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

function weightsMtime(modelDir: string): number {
  const f = join(modelDir, "model.safetensors");
  if (!existsSync(f)) throw new Error(`${modelDir} has no model.safetensors: not a saved model`);
  return statSync(f).mtimeMs;
}

function writeAll(fd: number, data: Float32Array): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

/**
 * Encodes the corpus (isQuery false, through the model's bounded-memory encodeStream, written
 * to disk as it comes) and the split's judged queries (isQuery true) with the ColBERT model in
 * `modelDir`, or reuses `cacheDir` when it holds this model's (same weights file) embeddings.
 */
export async function encodeBeirWithModel(
  modelDir: string,
  dataDir: string,
  split: string,
  cacheDir: string,
  log: (m: string) => void = console.log,
): Promise<{ corpus: EncodedCorpus; queries: Matrix[]; qrels: Qrels }> {
  const { loadBeirQueries, streamBeirCorpus } = await import("../../src/io/beir.js");
  const model = resolve(modelDir);
  const data = resolve(dataDir);
  const { queries: judged, qrels, files } = await loadBeirQueries(data, { split });
  const metaPath = join(cacheDir, "meta.json");
  if (existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, "utf8")) as EncodedMeta;
    if (
      meta.model === model &&
      meta.modelWeightsMtimeMs === weightsMtime(model) &&
      meta.data === data &&
      meta.split === split
    ) {
      log(`embeddings cached in ${cacheDir}`);
      const corpus = new EncodedCorpus(cacheDir, meta);
      return { corpus, queries: corpus.queries(), qrels };
    }
  }
  rmSync(cacheDir, { recursive: true, force: true });
  mkdirSync(cacheDir, { recursive: true });
  const { ColBERT } = await import("../../src/models/colbert.js");
  const colbert = await ColBERT.fromPretrained(model, { threads: 2, warn: () => {} });
  try {
    const docIds: string[] = [];
    const docRows: number[] = [];
    async function* texts(): AsyncGenerator<string> {
      for await (const doc of streamBeirCorpus(files)) {
        docIds.push(doc.id);
        yield documentText(doc);
      }
    }
    let t0 = performance.now();
    let dim = 0;
    const partial = join(cacheDir, "documents.f32.partial");
    const fd = openSync(partial, "w");
    try {
      for await (const m of colbert.encodeStream(texts(), { isQuery: false, chunkSize: 512 })) {
        dim = m.cols;
        docRows.push(m.rows);
        writeAll(fd, m.data.subarray(0, m.rows * m.cols));
        if (docRows.length % 1024 === 0) log(`encoded ${docRows.length} documents`);
      }
    } finally {
      closeSync(fd);
    }
    renameSync(partial, join(cacheDir, "documents.f32"));
    const encodeDocumentsSeconds = (performance.now() - t0) / 1000;
    t0 = performance.now();
    const q = await colbert.encode(
      judged.map((x) => x.text),
      { isQuery: true },
    );
    const encodeQueriesSeconds = (performance.now() - t0) / 1000;
    const qfd = openSync(join(cacheDir, "queries.f32"), "w");
    try {
      for (const m of q) writeAll(qfd, m.data.subarray(0, m.rows * m.cols));
    } finally {
      closeSync(qfd);
    }
    const meta: EncodedMeta = {
      model,
      modelWeightsMtimeMs: weightsMtime(model),
      data,
      split,
      dim,
      docIds,
      docRows,
      queryIds: judged.map((x) => x.id),
      queryRows: q.map((m) => m.rows),
      encodeDocumentsSeconds: +encodeDocumentsSeconds.toFixed(1),
      encodeQueriesSeconds: +encodeQueriesSeconds.toFixed(1),
    };
    const { writeFileAtomic } = await import("../../src/util/atomic.js");
    writeFileAtomic(metaPath, JSON.stringify(meta));
    log(
      `encoded ${docIds.length} documents in ${encodeDocumentsSeconds.toFixed(0)} s, ${q.length} queries in ${encodeQueriesSeconds.toFixed(1)} s`,
    );
    const corpus = new EncodedCorpus(cacheDir, meta);
    return { corpus, queries: q, qrels };
  } finally {
    await colbert.dispose();
  }
}

/**
 * What the model directory says about itself: the last evaluation in the trainer's
 * loss_log.jsonl (bench/train-scifact.ts evaluates on SciFact test) and its step.
 */
export function trainingEvaluation(
  modelDir: string,
): { step: number; metrics: Record<string, number> } | null {
  const path = join(modelDir, "loss_log.jsonl");
  if (!existsSync(path)) return null;
  let last: { step: number; metrics: Record<string, number> } | null = null;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    const e = JSON.parse(line) as { step: number; eval?: Record<string, number> };
    if (e.eval) last = { step: e.step, metrics: e.eval };
  }
  return last;
}
