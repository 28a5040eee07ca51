import { createHash, randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import { maxSim } from "../scores/maxsim.js";
import { fsyncDir } from "../util/atomic.js";
import {
  ConfigError,
  FileFormatError,
  InvalidArgumentError,
  UnsupportedError,
} from "../util/errors.js";
import type { Matrix } from "../util/matrix.js";
import {
  BaseIndex,
  type BaseIndexOptions,
  type EncodedChunk,
  type OpenOptions,
  TopK,
} from "./base.js";
import type { MetadataStore } from "./metadata.js";
import type { ChunkRef, FileRef, IndexDirectory, Manifest } from "./store.js";
import type { SearchOptions } from "./types.js";

/** The subset of hnswlib-node's HierarchicalNSW used here (STYLE.md §7). */
interface HnswLike {
  initIndex(opts: {
    maxElements: number;
    m?: number;
    efConstruction?: number;
    randomSeed?: number;
    allowReplaceDeleted?: boolean;
  }): void;
  readIndexSync(filename: string, allowReplaceDeleted?: boolean): void;
  writeIndexSync(filename: string): void;
  resizeIndex(n: number): void;
  addPoint(point: number[] | Float32Array, label: number): void;
  markDelete(label: number): void;
  searchKnn(q: number[] | Float32Array, k: number): { distances: number[]; neighbors: number[] };
  getMaxElements(): number;
  getCurrentCount(): number;
  setEf(ef: number): void;
}

/** HNSW settings (PyLate's Voyager defaults). */
export interface HnswConfig {
  /** Graph degree (default 64). */
  m: number;
  /** Beam width while building (default 200). */
  efConstruction: number;
  /** Beam width while searching (default 200). */
  efSearch: number;
  /** Nearest tokens fetched per query token before the MaxSim rerank (default 100). */
  kToken: number;
  seed: number;
}

export const DEFAULT_HNSW_CONFIG: Readonly<HnswConfig> = Object.freeze({
  m: 64,
  efConstruction: 200,
  efSearch: 200,
  kToken: 100,
  seed: 42,
});

export interface HnswOptions extends BaseIndexOptions, Partial<HnswConfig> {}
export interface HnswSearchOptions extends SearchOptions {
  /** Nearest tokens fetched per query token (default: the index's kToken). */
  kToken?: number;
}

/** HNSW's search options beyond k, filter and subset. */
export const HNSW_SEARCH_KEYS: readonly (keyof HnswSearchOptions)[] = ["kToken"];

/** One search call's HNSW parameters (checked, defaults filled in). */
export interface HnswSearchParameters {
  kToken: number;
}

function loadHnswlib(): new (space: string, dim: number) => HnswLike {
  try {
    return (
      createRequire(import.meta.url)("hnswlib-node") as {
        HierarchicalNSW: new (s: string, d: number) => HnswLike;
      }
    ).HierarchicalNSW;
  } catch (err) {
    throw new UnsupportedError(
      `the HNSW index needs the hnswlib-node package, which failed to load (${String(err)}); use PLAID or Exact`,
    );
  }
}

/**
 * PyLate's Voyager-style token index on hnswlib-node: every document token is a point of one
 * inner-product HNSW graph; a query fetches the `kToken` nearest tokens of each of its tokens,
 * and the documents they belong to are reranked by exact MaxSim on the stored fp32 embeddings.
 * Chunk sections: `embeddings` f32 [tokens, dim]; header `firstToken` (graph label of its
 * first token). The graph is the manifest file `graph`, rewritten on every write.
 */
export class HNSW extends BaseIndex<HnswSearchOptions, HnswSearchParameters> {
  static readonly TYPE = "hnsw";
  private config: HnswConfig;
  private graph: HnswLike | null = null;
  /** Graph label → docno. */
  private tokenDoc = new Int32Array(0);
  private firstToken: number[] = [];

  private constructor(store: IndexDirectory, manifest: Manifest, meta: MetadataStore) {
    super(store, manifest, meta);
    this.config = { ...DEFAULT_HNSW_CONFIG, ...(manifest.config.hnsw as Partial<HnswConfig>) };
  }

  static async create(dir: string, options: HnswOptions = {}): Promise<HNSW> {
    loadHnswlib();
    const config: HnswConfig = { ...DEFAULT_HNSW_CONFIG };
    for (const key of Object.keys(DEFAULT_HNSW_CONFIG) as (keyof HnswConfig)[]) {
      const v = options[key];
      if (v === undefined) continue;
      if (!Number.isInteger(v) || v < (key === "seed" ? 0 : 1))
        throw new ConfigError(`${key} must be a positive integer, got ${v}`);
      config[key] = v;
    }
    const { store, manifest, meta } = BaseIndex.initDirectory(dir, HNSW.TYPE, options, {
      hnsw: config,
    });
    const index = new HNSW(store, manifest, meta);
    index.useKernels(options.kernels);
    return index;
  }

  static async open(dir: string, options: OpenOptions = {}): Promise<HNSW> {
    const { store, manifest, meta } = BaseIndex.openDirectory(dir, HNSW.TYPE, options);
    const index = new HNSW(store, manifest, meta);
    const verify = options.verifyChecksums ?? true;
    const ref = manifest.files.graph;
    if (ref) {
      const p = store.path(ref.file);
      let bytes: Buffer;
      try {
        bytes = readFileSync(p);
      } catch (err) {
        throw new FileFormatError(p, "is missing; the index is damaged (rebuild it)", {
          cause: err,
          missing: true,
        });
      }
      if (
        bytes.length !== ref.bytes ||
        (verify && createHash("sha256").update(bytes).digest("hex") !== ref.sha256)
      ) {
        throw new FileFormatError(
          p,
          "size or checksum does not match the manifest (corrupted); rebuild the index",
        );
      }
      const Hnsw = loadHnswlib();
      const g = new Hnsw("ip", manifest.dim);
      g.readIndexSync(p, false);
      g.setEf(index.config.efSearch);
      index.graph = g;
    }
    index.loadAll(options);
    return index;
  }

  private nextToken(): number {
    return (this.manifest.state.nextToken as number | undefined) ?? 0;
  }

  private ensureGraph(extra: number): HnswLike {
    if (!this.graph) {
      const Hnsw = loadHnswlib();
      const g = new Hnsw("ip", this.manifest.dim);
      g.initIndex({
        maxElements: Math.max(1024, extra * 2),
        m: this.config.m,
        efConstruction: this.config.efConstruction,
        randomSeed: this.config.seed,
        allowReplaceDeleted: false,
      });
      g.setEf(this.config.efSearch);
      this.graph = g;
    }
    const need = this.nextToken() + extra;
    if (need > this.graph.getMaxElements())
      this.graph.resizeIndex(Math.max(need, this.graph.getMaxElements() * 2));
    return this.graph;
  }

  /** Writes the graph to a fresh file (temp, fsync, rename) and returns its reference. */
  private writeGraph(): FileRef {
    const file = `graph-${this.manifest.generation + 1}-${randomBytes(4).toString("hex")}.hnsw`;
    const final = this.store.path(file);
    const tmp = `${final}.tmp`;
    this.graph!.writeIndexSync(tmp);
    const fd = openSync(tmp, "r");
    fsyncSync(fd);
    closeSync(fd);
    const bytes = readFileSync(tmp);
    renameSync(tmp, final);
    fsyncDir(this.store.path(""));
    return { file, bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
  }

  protected async encode(embeddings: Matrix[]): Promise<EncodedChunk> {
    const tokens = embeddings.reduce((s, e) => s + e.rows, 0);
    const g = this.ensureGraph(tokens);
    const dim = this.manifest.dim;
    const data = new Float32Array(tokens * dim);
    let o = 0;
    for (const e of embeddings) {
      data.set(e.data, o);
      o += e.data.length;
    }
    const first = this.nextToken();
    for (let t = 0; t < tokens; t++)
      g.addPoint(Array.from(data.subarray(t * dim, t * dim + dim)), first + t);
    const graph = this.writeGraph();
    return {
      sections: { embeddings: data },
      header: { firstToken: first },
      files: { graph },
      state: { nextToken: first + tokens },
    };
  }

  protected override onWriteFailed(encoded: EncodedChunk): void {
    const first = encoded.header?.firstToken as number;
    const n = (encoded.sections.embeddings as Float32Array).length / this.manifest.dim;
    for (let t = 0; t < n; t++) this.graph?.markDelete(first + t);
  }

  protected override async beforeDeleteCommit(docnos: number[]): Promise<Manifest["files"]> {
    for (const d of docnos) {
      const s = this.slots[d];
      const first = this.firstToken[s.chunk] + s.start;
      for (let t = 0; t < s.len; t++) this.graph!.markDelete(first + t);
    }
    return { graph: this.writeGraph() };
  }

  protected onChunkAttached(ci: number, ref: ChunkRef): void {
    const first = this.chunks[ci].header.firstToken as number;
    this.firstToken[ci] = first;
    const need = first + ref.tokens;
    if (this.tokenDoc.length < need) {
      const a = new Int32Array(Math.max(need, this.tokenDoc.length * 2));
      a.set(this.tokenDoc);
      this.tokenDoc = a;
    }
    for (let i = 0; i < ref.docs; i++) {
      const d = ref.firstDocno + i;
      const s = this.slots[d];
      this.tokenDoc.fill(d, first + s.start, first + s.start + s.len);
    }
  }

  protected docMatrix(d: number): Matrix {
    const s = this.slots[d];
    const dim = this.manifest.dim;
    const data = this.chunks[s.chunk].sections.embeddings as Float32Array;
    return { data: data.subarray(s.start * dim, (s.start + s.len) * dim), rows: s.len, cols: dim };
  }

  protected searchKeys(): readonly string[] {
    return HNSW_SEARCH_KEYS;
  }

  protected searchParameters(options: HnswSearchOptions): HnswSearchParameters {
    const kToken = options.kToken ?? this.config.kToken;
    if (!Number.isInteger(kToken) || kToken < 1)
      throw new InvalidArgumentError(`kToken must be a positive integer, got ${kToken}`);
    return { kToken };
  }

  protected async searchBatch(
    queries: Matrix[],
    k: number,
    allowed: Uint8Array | null,
    allowedCount: number,
    params: HnswSearchParameters,
  ): Promise<[number, number][][]> {
    const out: [number, number][][] = [];
    for (const q of queries)
      out.push(
        q.rows === 0 ? [] : await this.searchOne(q, k, allowed, allowedCount, params.kToken),
      );
    return out;
  }

  /** Token candidates from the graph, then exact MaxSim over their documents. */
  private async searchOne(
    q: Matrix,
    k: number,
    allowed: Uint8Array | null,
    allowedCount: number,
    kToken: number,
  ): Promise<[number, number][]> {
    const cands = new Set<number>();
    if (allowed && allowedCount <= Math.max(kToken, k) * 4) {
      for (let d = 0; d < allowed.length; d++) if (allowed[d]) cands.add(d);
    } else if (this.graph) {
      const live = this.graph.getCurrentCount();
      const kk = Math.min(kToken, live);
      for (let i = 0; i < q.rows && kk > 0; i++) {
        const point = Array.from(q.data.subarray(i * q.cols, (i + 1) * q.cols));
        let res: { neighbors: number[] } = { neighbors: [] };
        // hnswlib throws when fewer than k live points are reachable (after deletes): ask for fewer.
        for (let kq = kk; kq > 0; kq = Math.floor(kq / 2)) {
          try {
            res = this.graph.searchKnn(point, kq);
            break;
          } catch {
            // retry with a smaller k
          }
        }
        for (const label of res.neighbors) {
          const d = this.tokenDoc[label];
          if (this.alive[d] && (!allowed || allowed[d])) cands.add(d);
        }
      }
    }
    const top = new TopK(k);
    for (const d of cands) top.push(d, maxSim(q, this.docMatrix(d)));
    return top.result();
  }

  protected override onClose(): void {
    this.graph = null;
  }
}
