import { existsSync, rmSync } from "node:fs";
import { ConfigError, IndexError, InvalidArgumentError } from "../util/errors.js";
import { checkMatrix, type Matrix } from "../util/matrix.js";
import { checkDocumentBatch, checkDocumentEmbeddings, checkK } from "./checks.js";
import { fuseSearches } from "./fusion.js";

export { TopK } from "../util/topk.js";

import { checkKernelOptions, type KernelOptions } from "./kernels.js";
import { MetadataStore } from "./metadata.js";
import {
  type ChunkRef,
  type Container,
  FORMAT_NAME,
  FORMAT_VERSION,
  IndexDirectory,
  type Manifest,
  sectionOf,
  type TypedArray,
} from "./store.js";
import type {
  DocumentMetadata,
  HybridSearchOptions,
  KeywordSearchOptions,
  MetadataFilter,
  MultiVectorIndex,
  SearchOptions,
  SearchResult,
} from "./types.js";

/** Options shared by all index types. */
export interface BaseIndexOptions {
  /** Embedding dimension; fixed by the first add when omitted. */
  dim?: number;
  /** Metadata fields indexed for BM25 keyword search (default ["title", "text"]). */
  textFields?: string[];
  /** Verify the SHA-256 of every file when opening (default true). */
  verifyChecksums?: boolean;
  /** Which compute kernels this object uses (not stored: a setting of this process). */
  kernels?: KernelOptions;
  /**
   * Replace an index already in the directory (PyLate's `override`; default false: creating
   * over an index is an error). Only a directory holding a tslate index is deleted.
   */
  override?: boolean;
}

/** Options of `open` (all index types). */
export interface OpenOptions {
  /** Verify the SHA-256 of every file when opening (default true). */
  verifyChecksums?: boolean;
  /**
   * Open for searching only (default false): writes throw, and opening neither removes
   * metadata rows nor files that the manifest does not list. A writer may be between writing
   * its files and committing its manifest; a read-only reader leaves that work alone, while a
   * writable open assumes it is the only writer and collects it as crash garbage.
   */
  readOnly?: boolean;
  /**
   * Files already read and checked, by name (ParallelSearcher passes its shared-memory copies
   * so that its workers do not each hold the index); files not in it are read from disk.
   */
  sharedFiles?: ReadonlyMap<string, Uint8Array>;
  /** Which compute kernels this object uses (default: all fast paths on, 1 thread). */
  kernels?: KernelOptions;
}

/** The search options every index takes; index types add their own. */
export const BASE_SEARCH_KEYS: readonly string[] = ["k", "filter", "subset"];

/**
 * Rejects keys that are not search options of this index (a typo such as `nIvfProb` would
 * otherwise be ignored silently). Keys holding `undefined` count as absent.
 */
export function checkSearchKeys(options: object, extra: readonly string[], what: string): void {
  if (options === null || typeof options !== "object" || Array.isArray(options))
    throw new InvalidArgumentError(`search options must be an object, got ${String(options)}`);
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || BASE_SEARCH_KEYS.includes(key) || extra.includes(key)) continue;
    throw new InvalidArgumentError(
      `unknown search option ${JSON.stringify(key)} for ${what}; allowed: ${[...BASE_SEARCH_KEYS, ...extra].join(", ")}`,
    );
  }
}

/** What a subclass produces for a batch of new documents, before the commit. */
export interface EncodedChunk {
  sections: Record<string, TypedArray>;
  /** Extra header fields of the chunk file. */
  header?: Record<string, unknown>;
  /** Index-specific files replaced by this write (already written under fresh names). */
  files?: Manifest["files"];
  state?: Record<string, unknown>;
}

/** Where a document lives: its chunk and token range. */
export interface DocSlot {
  chunk: number;
  start: number;
  len: number;
}

/**
 * Shared machinery of the three indexes: user ids ↔ internal document numbers, chunk files,
 * deletions, the manifest commit protocol, metadata, filters, keyword and hybrid search.
 * Subclasses encode documents into chunk sections and score queries.
 */
export abstract class BaseIndex<O extends SearchOptions = SearchOptions, P = unknown>
  implements MultiVectorIndex
{
  protected readonly store: IndexDirectory;
  protected manifest: Manifest;
  protected meta: MetadataStore;
  /** Per chunk: its decoded container. */
  protected chunks: Container[] = [];
  /** Per docno: slot, id, alive. */
  protected slots: DocSlot[] = [];
  protected idOf: string[] = [];
  protected alive: Uint8Array = new Uint8Array(0);
  protected docnoOf = new Map<string, number>();
  private closed = false;
  /** Opened with `readOnly`: no writes, no garbage collection. */
  protected readOnly = false;
  private writing: Promise<unknown> = Promise.resolve();
  /** Compute kernels of this object (a process setting, never stored). */
  protected kernels: KernelOptions = {};

  protected constructor(store: IndexDirectory, manifest: Manifest, meta: MetadataStore) {
    this.store = store;
    this.manifest = manifest;
    this.meta = meta;
  }

  // ---- life cycle ----

  /** Sets the compute kernels of this object (create and open options). */
  protected useKernels(kernels: KernelOptions | undefined): void {
    this.kernels = checkKernelOptions(kernels);
  }

  protected static initDirectory(
    dir: string,
    type: string,
    options: BaseIndexOptions,
    config: Record<string, unknown>,
  ): { store: IndexDirectory; manifest: Manifest; meta: MetadataStore } {
    if (options.dim !== undefined && (!Number.isInteger(options.dim) || options.dim < 1)) {
      throw new ConfigError(`dim must be a positive integer, got ${options.dim}`);
    }
    const store = new IndexDirectory(dir);
    if (options.override && existsSync(store.manifestPath)) {
      rmSync(dir, { recursive: true, force: true });
    }
    store.init();
    const textFields = options.textFields ?? ["title", "text"];
    const manifest: Manifest = {
      format: FORMAT_NAME,
      version: FORMAT_VERSION,
      type,
      dim: options.dim ?? 0,
      generation: 0,
      nextDocno: 0,
      config: { ...config, textFields },
      chunks: [],
      deleted: null,
      files: {},
      state: {},
    };
    const meta = new MetadataStore(store.metadataPath, textFields);
    store.writeManifest(manifest);
    return { store, manifest, meta };
  }

  protected static openDirectory(
    dir: string,
    type: string,
    options: OpenOptions = {},
  ): { store: IndexDirectory; manifest: Manifest; meta: MetadataStore } {
    const store = new IndexDirectory(dir);
    store.sharedFiles = options.sharedFiles ?? null;
    const manifest = store.readManifest();
    if (manifest.type !== type) {
      throw new IndexError(
        `${dir} holds a "${manifest.type}" index, not "${type}"; open it with openIndex() or the matching class`,
      );
    }
    const meta = new MetadataStore(
      store.metadataPath,
      (manifest.config.textFields as string[]) ?? ["title", "text"],
    );
    return { store, manifest, meta };
  }

  /**
   * Loads chunks and deletions; unless read-only, reconciles metadata and removes garbage of
   * crashed writes.
   */
  protected loadAll(options: OpenOptions): void {
    const verify = options.verifyChecksums ?? true;
    this.readOnly = options.readOnly ?? false;
    this.useKernels(options.kernels);
    const m = this.manifest;
    this.chunks = [];
    this.slots = new Array(m.nextDocno);
    this.idOf = new Array(m.nextDocno);
    this.alive = new Uint8Array(m.nextDocno);
    for (const c of m.chunks) this.attachChunk(c, this.store.readFile(c, verify));
    if (m.deleted) {
      const c = this.store.readFile(m.deleted, verify);
      const del = sectionOf(c, "docnos", Uint32Array, this.store.path(m.deleted.file));
      for (const d of del) this.markDead(d);
    }
    if (this.readOnly) return;
    this.meta.reconcile((d) => d < this.alive.length && this.alive[d] === 1);
    this.store.collectGarbage(m);
  }

  private attachChunk(ref: ChunkRef, c: Container): void {
    const ids = c.header.ids as string[];
    const lens = c.sections.doclens instanceof Uint32Array ? c.sections.doclens : null;
    if (!Array.isArray(ids) || !lens || ids.length !== ref.docs || lens.length !== ref.docs) {
      throw new IndexError(
        `${this.store.path(ref.file)}: chunk header does not match the manifest (${ref.docs} documents)`,
      );
    }
    const ci = this.chunks.length;
    this.chunks.push(c);
    let start = 0;
    for (let i = 0; i < ref.docs; i++) {
      const d = ref.firstDocno + i;
      this.slots[d] = { chunk: ci, start, len: lens[i] };
      this.idOf[d] = ids[i];
      this.alive[d] = 1;
      this.docnoOf.set(ids[i], d);
      start += lens[i];
    }
    this.onChunkAttached(ci, ref);
  }

  private markDead(d: number): void {
    if (this.alive[d]) {
      this.alive[d] = 0;
      if (this.docnoOf.get(this.idOf[d]) === d) this.docnoOf.delete(this.idOf[d]);
    }
  }

  /** Number of live documents. */
  count(): number {
    return this.docnoOf.size;
  }

  /** The committed manifest generation this object holds (each write adds one). */
  get generation(): number {
    return this.manifest.generation;
  }

  /** Embedding dimension (0 until the first add). */
  get dim(): number {
    return this.manifest.dim;
  }

  /** The live document ids. */
  ids(): string[] {
    return [...this.docnoOf.keys()];
  }

  has(id: string): boolean {
    return this.docnoOf.has(id);
  }

  /** Stored metadata of a document. */
  metadata(id: string): DocumentMetadata | undefined {
    const d = this.docnoOf.get(id);
    return d === undefined ? undefined : this.meta.get(d);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.writing.catch(() => undefined);
    this.closed = true;
    this.meta.close();
    this.onClose();
  }

  protected checkOpen(): void {
    if (this.closed)
      throw new IndexError(`the index at ${this.store.dir} is closed; open it again`);
  }

  protected checkWritable(): void {
    this.checkOpen();
    if (this.readOnly)
      throw new IndexError(
        `the index at ${this.store.dir} was opened read-only; open it without readOnly to write`,
      );
  }

  // ---- hooks ----

  /** Encodes new documents into chunk sections (must include u32 `doclens`). */
  protected abstract encode(embeddings: Matrix[]): Promise<EncodedChunk>;
  /** Called for each chunk after load or commit. */
  protected abstract onChunkAttached(chunkIndex: number, ref: ChunkRef): void;
  /** Called after deletions are committed (docnos already marked dead). */
  protected onDeleted(_docnos: number[]): void {}
  /** Called after a commit that replaced index-specific files or state. */
  protected onFilesChanged(_previous: Manifest): void {}
  protected onClose(): void {}
  /** Undo in-memory effects of `encode` when the write did not commit. */
  protected onWriteFailed(_encoded: EncodedChunk): void {}
  /** Called before the manifest commit of a deletion (e.g. to write a new graph file). */
  protected async beforeDeleteCommit(_docnos: number[]): Promise<Manifest["files"] | undefined> {
    return undefined;
  }
  /** Search option names of this index type beyond k, filter and subset. */
  protected abstract searchKeys(): readonly string[];
  /**
   * This call's index-specific search parameters, checked and with the index's defaults
   * filled in. They travel down as an argument: nothing per call is stored on the object,
   * so concurrent searches with different options cannot see each other's.
   */
  protected abstract searchParameters(options: O): P;
  /**
   * Scores every query against the allowed documents: per query [docno, score] best first, at
   * most k (queries go together so that an index can share work across them).
   */
  protected abstract searchBatch(
    queries: Matrix[],
    k: number,
    allowed: Uint8Array | null,
    allowedCount: number,
    params: P,
  ): Promise<[number, number][][]>;

  // ---- writes ----

  /** Serialises writes of this object (each write is itself atomic on disk). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writing.then(fn, fn);
    this.writing = run.catch(() => undefined);
    return run;
  }

  protected checkEmbeddings(embeddings: Matrix[], what: string): void {
    checkDocumentEmbeddings(embeddings, what, this.manifest.dim || undefined);
  }

  private checkBatch(
    ids: string[],
    embeddings: Matrix[],
    metadata: DocumentMetadata[] | undefined,
    replacing: boolean,
  ): void {
    checkDocumentBatch(
      ids,
      embeddings,
      metadata,
      this.manifest.dim || undefined,
      replacing ? undefined : (id) => this.docnoOf.has(id),
    );
  }

  add(ids: string[], embeddings: Matrix[], metadata?: DocumentMetadata[]): Promise<void> {
    return this.serial(() => this.write(ids, embeddings, metadata, false));
  }

  /** Replaces documents (adds those not present), in one atomic commit. */
  update(ids: string[], embeddings: Matrix[], metadata?: DocumentMetadata[]): Promise<void> {
    return this.serial(() => this.write(ids, embeddings, metadata, true));
  }

  delete(ids: string[]): Promise<void> {
    return this.serial(async () => {
      this.checkWritable();
      if (!Array.isArray(ids)) throw new InvalidArgumentError("ids must be an array of strings");
      const docnos = [...new Set(ids)]
        .map((id) => this.docnoOf.get(id))
        .filter((d): d is number => d !== undefined);
      if (docnos.length === 0) return;
      const next = this.nextManifest();
      this.applyDeletions(next, docnos);
      const files = await this.beforeDeleteCommit(docnos);
      if (files) next.files = { ...next.files, ...files };
      this.commit(next);
      for (const d of docnos) this.markDead(d);
      this.onDeleted(docnos);
      this.meta.remove(docnos);
    });
  }

  private nextManifest(): Manifest {
    return structuredClone({ ...this.manifest, generation: this.manifest.generation + 1 });
  }

  /**
   * Applies deletions to `next`: chunks whose documents are all deleted leave the manifest
   * (their files are collected), and the deletion list keeps the dead documents of the others.
   */
  private applyDeletions(next: Manifest, extra: number[]): void {
    const dying = new Set(extra);
    const isDead = (d: number) => !this.alive[d] || dying.has(d);
    next.chunks = next.chunks.filter((c) => {
      if (c.firstDocno >= this.manifest.nextDocno) return true; // added by this write
      for (let d = c.firstDocno; d < c.firstDocno + c.docs; d++) if (!isDead(d)) return true;
      return false;
    });
    const dead: number[] = [];
    for (const c of next.chunks) {
      if (c.firstDocno >= this.manifest.nextDocno) continue;
      for (let d = c.firstDocno; d < c.firstDocno + c.docs; d++) if (isDead(d)) dead.push(d);
    }
    next.deleted = dead.length
      ? this.store.writeFile(
          `deleted-${this.manifest.generation + 1}`,
          {},
          { docnos: Uint32Array.from(dead) },
        )
      : null;
  }

  private commit(next: Manifest): void {
    this.store.writeManifest(next);
    this.manifest = next;
  }

  private async write(
    ids: string[],
    embeddings: Matrix[],
    metadata: DocumentMetadata[] | undefined,
    replacing: boolean,
  ): Promise<void> {
    this.checkWritable();
    this.checkBatch(ids, embeddings, metadata, replacing);
    if (ids.length === 0) return;
    if (!this.manifest.dim) this.manifest.dim = embeddings[0].cols;
    const previous = this.manifest;
    const encoded = await this.encode(embeddings);
    try {
      await this.commitWrite(ids, embeddings, metadata, replacing, previous, encoded);
    } catch (err) {
      this.onWriteFailed(encoded);
      throw err;
    }
  }

  private async commitWrite(
    ids: string[],
    embeddings: Matrix[],
    metadata: DocumentMetadata[] | undefined,
    replacing: boolean,
    previous: Manifest,
    encoded: EncodedChunk,
  ): Promise<void> {
    const tokens = embeddings.reduce((s, e) => s + e.rows, 0);
    const firstDocno = previous.nextDocno;
    const ref = this.store.writeFile(
      `chunk-${previous.generation + 1}`,
      { ...encoded.header, ids, firstDocno },
      { ...encoded.sections, doclens: Uint32Array.from(embeddings, (e) => e.rows) },
    );
    const docnos = ids.map((_, i) => firstDocno + i);
    // Rows for new docnos are invisible until the manifest commits (reconcile drops them).
    this.meta.insert(docnos, ids, metadata ?? []);
    const replaced = replacing
      ? ids.map((id) => this.docnoOf.get(id)).filter((d): d is number => d !== undefined)
      : [];
    const next = this.nextManifest();
    next.nextDocno = firstDocno + ids.length;
    const chunkRef: ChunkRef = { ...ref, firstDocno, docs: ids.length, tokens };
    next.chunks.push(chunkRef);
    if (encoded.files) next.files = { ...next.files, ...encoded.files };
    if (encoded.state) next.state = { ...next.state, ...encoded.state };
    if (replaced.length) this.applyDeletions(next, replaced);
    this.commit(next);
    // In-memory state follows the committed manifest.
    this.growTo(next.nextDocno);
    for (const d of replaced) this.markDead(d);
    if (replaced.length) this.onDeleted(replaced);
    if (encoded.files || encoded.state) this.onFilesChanged(previous);
    this.attachChunk(chunkRef, {
      header: { ...encoded.header, ids, firstDocno },
      sections: { ...encoded.sections, doclens: Uint32Array.from(embeddings, (e) => e.rows) },
    });
    if (replaced.length) this.meta.remove(replaced);
    this.store.collectGarbage(next);
  }

  private growTo(n: number): void {
    if (this.alive.length >= n) return;
    const a = new Uint8Array(Math.max(n, this.alive.length * 2));
    a.set(this.alive);
    this.alive = a;
  }

  // ---- search ----

  /** The mask of searchable docnos (alive ∩ filter ∩ subset), or null for all live ones. */
  protected allowedMask(options: SearchOptions): { mask: Uint8Array | null; count: number } {
    if (!options.filter && !options.subset) return { mask: null, count: this.count() };
    const mask = new Uint8Array(this.alive.length);
    let count = 0;
    if (options.subset) {
      if (!Array.isArray(options.subset))
        throw new InvalidArgumentError("subset must be an array of document ids");
      for (const id of options.subset) {
        const d = this.docnoOf.get(id);
        if (d !== undefined && !mask[d]) {
          mask[d] = 1;
          count++;
        }
      }
    }
    if (options.filter) {
      const hits = this.meta.filter(options.filter);
      const fmask = new Uint8Array(this.alive.length);
      for (const d of hits) if (d < fmask.length && this.alive[d]) fmask[d] = 1;
      if (options.subset) {
        count = 0;
        for (let d = 0; d < mask.length; d++) {
          mask[d] &= fmask[d];
          count += mask[d];
        }
      } else {
        mask.set(fmask);
        count = hits.filter((d) => fmask[d]).length;
      }
    }
    return { mask, count };
  }

  protected checkK(k: unknown): number {
    return checkK(k);
  }

  async search(queries: Matrix[], options: O = {} as O): Promise<SearchResult[][]> {
    this.checkOpen();
    checkSearchKeys(options, this.searchKeys(), `the ${this.manifest.type} index`);
    const k = this.checkK(options.k);
    const params = this.searchParameters(options);
    if (!Array.isArray(queries))
      throw new InvalidArgumentError("queries must be an array of matrices");
    queries.forEach((q, i) => {
      checkMatrix(q, `queries[${i}]`, this.manifest.dim || undefined);
    });
    const { mask, count } = this.allowedMask(options);
    if (count === 0) return queries.map(() => []);
    const hits = await this.searchBatch(queries, k, mask, count, params);
    return hits.map((h) => h.map(([d, score]) => ({ id: this.idOf[d], score })));
  }

  /**
   * The live document ids whose metadata satisfies the filter, in insertion order (the
   * server's delete-by-condition and metadata queries). Same checks as a search filter.
   */
  filterIds(filter: MetadataFilter): string[] {
    this.checkOpen();
    return this.meta
      .filter(filter)
      .filter((d) => d < this.alive.length && this.alive[d] === 1)
      .sort((a, b) => a - b)
      .map((d) => this.idOf[d]);
  }

  /**
   * Replaces the metadata of live documents (embeddings untouched), in one SQLite transaction;
   * serialised with the other writes. Ids not in the index are skipped.
   */
  setMetadata(ids: string[], metadata: DocumentMetadata[]): Promise<void> {
    return this.serial(async () => {
      this.checkWritable();
      const docnos: number[] = [];
      const keep: string[] = [];
      const metas: DocumentMetadata[] = [];
      ids.forEach((id, i) => {
        const d = this.docnoOf.get(id);
        if (d === undefined) return;
        docnos.push(d);
        keep.push(id);
        metas.push(metadata[i]);
      });
      if (docnos.length) this.meta.replace(docnos, keep, metas);
    });
  }

  /** Token embeddings held for the live documents. */
  tokenCount(): number {
    let n = 0;
    for (const d of this.docnoOf.values()) n += this.slots[d].len;
    return n;
  }

  /** BM25 keyword search over the text fields (FTS5), with the same filters. */
  async keywordSearch(
    texts: string[],
    options: KeywordSearchOptions = {},
  ): Promise<SearchResult[][]> {
    this.checkOpen();
    const k = this.checkK(options.k);
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== "string")) {
      throw new InvalidArgumentError("texts must be an array of strings");
    }
    const { mask } = this.allowedMask(options);
    const ok = (d: number) =>
      d < this.alive.length && this.alive[d] === 1 && (!mask || mask[d] === 1);
    return texts.map((t) =>
      this.meta.keyword(t, k, ok).map(([d, score]) => ({ id: this.idOf[d], score })),
    );
  }

  /** Vector + keyword search fused by relative scores (alpha) or reciprocal ranks. */
  async hybridSearch(
    queries: Matrix[],
    texts: string[],
    options: HybridSearchOptions = {},
  ): Promise<SearchResult[][]> {
    return fuseSearches(
      (sub) => this.search(queries, sub as O),
      (sub) => this.keywordSearch(texts, sub),
      queries,
      texts,
      options,
    );
  }
}
