import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { ParallelSearcher } from "../indexes/parallel.js";
import { PLAID } from "../indexes/plaid/index.js";
import type { DocumentMetadata } from "../indexes/types.js";
import { writeFileAtomic } from "../util/atomic.js";
import type { Matrix } from "../util/matrix.js";
import { ApiError, badRequest, indexNotDeclared, indexNotFound } from "./errors.js";
import { type QueuedWrite, WriteQueue, type WriteQueueOptions } from "./queue.js";

/** next-plaid's stored index configuration (`config.json` of the index folder). */
export interface StoredIndexConfig {
  nbits: number;
  batch_size: number;
  seed: number | null;
  start_from_scratch: number;
  max_documents: number | null;
  fts_tokenizer: string;
}

/** What the server keeps next to the configuration (never reused ids). */
interface ConfigFile extends StoredIndexConfig {
  /** The next document id to hand out: ids are never reused, even after deletes. */
  next_id: number;
}

export const DEFAULT_STORED_CONFIG: Readonly<StoredIndexConfig> = Object.freeze({
  nbits: 4,
  batch_size: 50_000,
  seed: null,
  start_from_scratch: 999,
  max_documents: null,
  fts_tokenizer: "unicode61",
});

/** Index names: a letter or digit, then letters, digits, '.', '_' or '-' (no path can leave --index-dir). */
export const INDEX_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Metadata key holding next-plaid's keyword text (every value of the metadata, flattened). */
export const TEXT_FIELD = "_tslate_text";

/** All string, number and boolean values of a metadata object, space-separated (next-plaid's metadata_to_text). */
export function metadataText(value: unknown): string {
  const parts: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === "string") {
      if (v) parts.push(v);
    } else if (typeof v === "number" || typeof v === "boolean") parts.push(String(v));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(value);
  return parts.join(" ");
}

/** Metadata as the client sees it: `_subset_` (the document id) added, tslate's text field removed. */
export function publicMetadata(
  id: string,
  meta: DocumentMetadata | undefined,
): DocumentMetadata | null {
  if (!meta) return null;
  const { [TEXT_FIELD]: _text, ...rest } = meta;
  return { _subset_: Number(id), ...rest };
}

/** One update's progress, for /health (next-plaid's UpdateHealthStatus). */
export interface UpdateStatus {
  index: string;
  status: "queued" | "running" | "complete" | "failed";
  stage: string;
  queued_documents?: number;
  processed_documents?: number;
  started_at: string;
  updated_at: string;
  elapsed_ms: number;
  message?: string;
  error?: string;
}

export interface AddPayload {
  embeddings: Matrix[];
  metadata: DocumentMetadata[];
}
export interface DeletePayload {
  condition: string;
  parameters: unknown[];
}
/** What a queued write answers when it has been committed. */
export interface WriteResult {
  document_ids: number[];
  deleted: number;
  evicted: number;
}

export interface RegistryOptions extends WriteQueueOptions {
  indexDir: string;
  /** Worker threads of each index's ParallelSearcher (undefined: its default). */
  searchWorkers?: number;
}

/**
 * An index the server holds open: the writable PLAID (writes, metadata, keyword search on the
 * main thread, each synchronous between awaits) and a ParallelSearcher whose read-only workers
 * search the last committed generation while writes go on.
 */
export class ServedIndex {
  readonly name: string;
  readonly dir: string;
  config: ConfigFile;
  readonly index: PLAID;
  private searcher: Promise<ParallelSearcher> | null = null;
  readonly queue: WriteQueue<WriteResult>;
  status: UpdateStatus | null = null;
  private readonly searchWorkers: number | undefined;
  private statusStart = 0;

  constructor(
    name: string,
    dir: string,
    config: ConfigFile,
    index: PLAID,
    options: RegistryOptions,
  ) {
    this.name = name;
    this.dir = dir;
    this.config = config;
    this.index = index;
    this.searchWorkers = options.searchWorkers;
    this.queue = new WriteQueue(name, options, (writes) => this.applyWrites(writes));
  }

  get plaidDir(): string {
    return join(this.dir, "plaid");
  }

  /** Has the index ever received a document (next-plaid: metadata.json exists)? */
  get populated(): boolean {
    return this.index.dim > 0;
  }

  searcherFor(): Promise<ParallelSearcher> {
    this.searcher ??= ParallelSearcher.open(this.plaidDir, { workers: this.searchWorkers });
    this.searcher.catch(() => {
      this.searcher = null;
    });
    return this.searcher;
  }

  writeConfig(next: ConfigFile): void {
    writeFileAtomic(join(this.dir, "config.json"), `${JSON.stringify(next, null, 2)}\n`);
    this.config = next;
  }

  storedConfig(): StoredIndexConfig {
    const { next_id: _n, ...rest } = this.config;
    return rest;
  }

  private setStatus(
    status: UpdateStatus["status"],
    stage: string,
    extra: Partial<UpdateStatus> = {},
  ): void {
    const now = Date.now();
    if (
      status === "queued" ||
      !this.status ||
      this.status.status === "complete" ||
      this.status.status === "failed"
    )
      this.statusStart =
        status === "queued" && this.status?.status === "queued" ? this.statusStart : now;
    this.status = {
      index: this.name,
      status,
      stage,
      ...extra,
      started_at: new Date(this.statusStart).toISOString().replace(/\.\d+Z$/, "Z"),
      updated_at: new Date(now).toISOString().replace(/\.\d+Z$/, "Z"),
      elapsed_ms: now - this.statusStart,
    };
  }

  /** Queues a write; the promise settles once it is committed on disk (or failed). */
  enqueue(write: QueuedWrite): Promise<WriteResult> {
    const p = this.queue.push(write);
    if (write.kind === "add")
      this.setStatus("queued", "queued", {
        queued_documents: write.docs,
        message: "update queued for batching",
      });
    return p;
  }

  /** Applies one batch from the queue: adds merged in one commit, or one delete. */
  private async applyWrites(writes: QueuedWrite[]): Promise<WriteResult[]> {
    if (writes[0].kind === "delete") {
      const { condition, parameters } = writes[0].payload as DeletePayload;
      const ids = this.index.filterIds({ sql: condition, params: parameters });
      if (ids.length) await this.index.delete(ids);
      return [{ document_ids: ids.map(Number), deleted: ids.length, evicted: 0 }];
    }
    const adds = writes.map((w) => w.payload as AddPayload);
    const embeddings = adds.flatMap((a) => a.embeddings);
    const metadata = adds.flatMap((a) => a.metadata);
    this.setStatus("running", "indexing", {
      queued_documents: embeddings.length,
      message: "adding documents",
    });
    try {
      if (this.index.dim && embeddings.some((e) => e.cols !== this.index.dim)) {
        throw new ApiError(
          "DIMENSION_MISMATCH",
          `Expected dimension ${this.index.dim}, got ${embeddings.find((e) => e.cols !== this.index.dim)!.cols}`,
        );
      }
      // Ids are reserved on disk before the commit: a crash after it skips them, never reuses them.
      const first = this.config.next_id;
      this.writeConfig({ ...this.config, next_id: first + embeddings.length });
      const ids = embeddings.map((_, i) => String(first + i));
      await this.index.add(
        ids,
        embeddings,
        metadata.map((m) => ({ ...m, [TEXT_FIELD]: metadataText(m) })),
      );
      // next-plaid rebuilds small indexes from scratch; tslate keeps only compressed vectors, so
      // it retrains (on the decompressed ones) only when added centroids exceed 25% of K.
      if (
        this.index.count() <= this.config.start_from_scratch &&
        this.index.drift().rebuildRecommended
      ) {
        this.setStatus("running", "rebuild", {
          message: "small index: retraining centroids on every document",
        });
        await this.index.rebuild();
      }
      const evicted = await this.evict();
      this.setStatus("complete", "complete", {
        processed_documents: embeddings.length,
        message: "update complete",
      });
      let o = 0;
      return adds.map((a) => {
        const mine = ids.slice(o, o + a.embeddings.length).map(Number);
        o += a.embeddings.length;
        return { document_ids: mine, deleted: 0, evicted };
      });
    } catch (err) {
      this.setStatus("failed", "failed", {
        message: "update failed",
        error: (err as Error).message,
      });
      throw err;
    }
  }

  /** next-plaid's max_documents: the oldest documents (lowest ids) leave first. */
  private async evict(): Promise<number> {
    const max = this.config.max_documents;
    const n = this.index.count();
    if (max === null || n <= max) return 0;
    const oldest = this.index
      .ids()
      .map(Number)
      .sort((a, b) => a - b)
      .slice(0, n - max)
      .map(String);
    await this.index.delete(oldest);
    return oldest.length;
  }

  /** Stops searching; `drain` applies queued writes first, otherwise they are refused. */
  async close(drain: boolean): Promise<void> {
    if (drain) await this.queue.drain();
    else await this.queue.abort(indexNotFound(this.name));
    const s = this.searcher;
    this.searcher = null;
    if (s) await (await s.catch(() => null))?.close();
    await this.index.close();
  }
}

/** The indexes under --index-dir, opened on first use. */
export class IndexRegistry {
  readonly dir: string;
  private readonly options: RegistryOptions;
  private readonly open = new Map<string, Promise<ServedIndex>>();
  private closing = false;

  constructor(options: RegistryOptions) {
    this.options = options;
    this.dir = resolve(options.indexDir);
    mkdirSync(this.dir, { recursive: true });
    // Leftovers of a create or delete that a crash interrupted (never a live index's name).
    for (const e of readdirSync(this.dir)) {
      if (/^\..+\.(creating|deleting)-\d+-\d+$/.test(e))
        rmSync(join(this.dir, e), { recursive: true, force: true });
    }
  }

  /** The folder of an index: the name is checked so that no path leaves the index dir. */
  pathOf(name: string): string {
    if (typeof name !== "string" || !INDEX_NAME.test(name)) {
      throw badRequest(
        `Invalid index name ${JSON.stringify(name)}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      );
    }
    const p = resolve(this.dir, name);
    if (!p.startsWith(this.dir + sep))
      throw badRequest(`Invalid index name ${JSON.stringify(name)}`);
    return p;
  }

  /** Declared index names (folders holding a config.json), sorted. */
  list(): string[] {
    return readdirSync(this.dir, { withFileTypes: true })
      .filter(
        (e) =>
          e.isDirectory() &&
          INDEX_NAME.test(e.name) &&
          existsSync(join(this.dir, e.name, "config.json")),
      )
      .map((e) => e.name)
      .sort();
  }

  declared(name: string): boolean {
    return existsSync(join(this.pathOf(name), "config.json"));
  }

  /** Declares an index: its folder, config.json and an empty PLAID (dimension fixed by the first add). */
  async create(name: string, config: StoredIndexConfig): Promise<ServedIndex> {
    this.checkOpen();
    const dir = this.pathOf(name);
    if (this.open.has(name) || existsSync(join(dir, "config.json"))) {
      throw new ApiError("INDEX_ALREADY_EXISTS", `Index already exists: ${name}`);
    }
    const p = (async () => {
      // Built in a temporary folder and renamed: a crash leaves no half-declared index.
      const tmp = join(this.dir, `.${name}.creating-${process.pid}-${Date.now()}`);
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      const file: ConfigFile = { ...config, next_id: 0 };
      writeFileAtomic(join(tmp, "config.json"), `${JSON.stringify(file, null, 2)}\n`);
      const index = await PLAID.create(join(tmp, "plaid"), {
        nbits: config.nbits,
        seed: config.seed ?? undefined,
        textFields: [TEXT_FIELD],
      });
      await index.close();
      rmSync(dir, { recursive: true, force: true });
      renameSync(tmp, dir);
      return this.load(name, dir);
    })();
    this.open.set(name, p);
    p.catch(() => this.open.delete(name));
    return p;
  }

  /** An open index; INDEX_NOT_FOUND when it is not declared. */
  get(name: string): Promise<ServedIndex> {
    this.checkOpen();
    const dir = this.pathOf(name);
    let p = this.open.get(name);
    if (!p) {
      if (!existsSync(join(dir, "config.json"))) return Promise.reject(indexNotFound(name));
      p = this.load(name, dir);
      this.open.set(name, p);
      p.catch(() => this.open.delete(name));
    }
    return p;
  }

  /** Like get, but an undeclared index is INDEX_NOT_DECLARED (the update routes). */
  async getDeclared(name: string): Promise<ServedIndex> {
    try {
      return await this.get(name);
    } catch (err) {
      if (err instanceof ApiError && err.code === "INDEX_NOT_FOUND") throw indexNotDeclared(name);
      throw err;
    }
  }

  /** Like get, but an index without documents yet is INDEX_NOT_FOUND (next-plaid's searches). */
  async getPopulated(name: string): Promise<ServedIndex> {
    const s = await this.get(name);
    if (!s.populated) throw indexNotFound(name);
    return s;
  }

  private async load(name: string, dir: string): Promise<ServedIndex> {
    const raw = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Partial<ConfigFile>;
    const config: ConfigFile = { ...DEFAULT_STORED_CONFIG, next_id: 0, ...raw };
    const index = await PLAID.open(join(dir, "plaid"));
    // A reservation whose write did not commit was skipped; ids already present are never re-used.
    const maxId = index.ids().reduce((m, id) => Math.max(m, Number(id)), -1);
    if (config.next_id <= maxId) config.next_id = maxId + 1;
    return new ServedIndex(name, dir, config, index, this.options);
  }

  /** Deletes an index: queued writes are refused, the running one finishes, the folder goes. */
  async remove(name: string): Promise<void> {
    const s = await this.get(name);
    this.open.delete(name);
    await s.close(false);
    // Renamed first so that a crash mid-removal never leaves a half index under its name.
    const trash = join(this.dir, `.${name}.deleting-${process.pid}-${Date.now()}`);
    renameSync(s.dir, trash);
    rmSync(trash, { recursive: true, force: true });
  }

  /** Open indexes (for /health). */
  async loaded(): Promise<ServedIndex[]> {
    const out: ServedIndex[] = [];
    for (const p of this.open.values()) {
      const s = await p.catch(() => null);
      if (s) out.push(s);
    }
    return out;
  }

  private checkOpen(): void {
    if (this.closing) throw new ApiError("SERVICE_UNAVAILABLE", "The server is shutting down");
  }

  /** Finishes every queued write, then closes every index. */
  async close(): Promise<void> {
    this.closing = true;
    const all = [...this.open.values()];
    this.open.clear();
    for (const p of all) {
      const s = await p.catch(() => null);
      if (s) await s.close(true);
    }
  }
}
