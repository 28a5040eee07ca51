import { createHash, randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
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
import { gemmABt } from "./kernels.js";
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

/**
 * HNSW settings. The defaults are PyLate's Voyager settings, and nRerank 0 reranks every
 * candidate as PyLate does, so results are PyLate's. Cheaper settings (a smaller m and
 * efConstruction build several times faster; kToken 32 / efSearch 64 / nRerank 128 search
 * faster) have not been measured at SciFact size yet: check them on your embeddings with
 * bench/hnsw.ts before relying on them.
 */
export interface HnswConfig {
  /** Graph degree (default 64). */
  m: number;
  /** Beam width while building (default 200). */
  efConstruction: number;
  /** Beam width while searching (default 200; at least kToken is used). */
  efSearch: number;
  /** Nearest tokens fetched per query token (default 100). */
  kToken: number;
  /**
   * Candidate documents scored by exact MaxSim: the best by approximate score (default 0:
   * every candidate, as PyLate's Voyager index does). The approximate score sums, per query
   * token, the document's best retrieved similarity, or the token's lowest retrieved
   * similarity when none of the document's tokens was retrieved for it (XTR's imputation).
   */
  nRerank: number;
  seed: number;
}

export const DEFAULT_HNSW_CONFIG: Readonly<HnswConfig> = Object.freeze({
  m: 64,
  efConstruction: 200,
  efSearch: 200,
  kToken: 100,
  nRerank: 0,
  seed: 42,
});

/** Config keys that may be 0. */
const ZERO_ALLOWED: ReadonlySet<keyof HnswConfig> = new Set(["seed", "nRerank"]);

export interface HnswOptions extends BaseIndexOptions, Partial<HnswConfig> {}
export interface HnswSearchOptions extends SearchOptions {
  /** Nearest tokens fetched per query token (default: the index's kToken). */
  kToken?: number;
  /** Beam width of the graph search (default: the index's efSearch). */
  efSearch?: number;
  /** Candidates scored exactly (default: the index's nRerank; 0: all). */
  nRerank?: number;
}

/** HNSW's search options beyond k, filter and subset. */
export const HNSW_SEARCH_KEYS: readonly (keyof HnswSearchOptions)[] = [
  "kToken",
  "efSearch",
  "nRerank",
];

/** One search call's HNSW parameters (checked, defaults filled in). */
export interface HnswSearchParameters {
  kToken: number;
  efSearch: number;
  nRerank: number;
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
 * the documents they belong to get an approximate score from those hits, and the best
 * `nRerank` of them (0: all) are reranked by exact MaxSim on the stored fp32 embeddings, all
 * of a query's candidates in one matrix product (the fast kernels, as Exact).
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
      const min = ZERO_ALLOWED.has(key) ? 0 : 1;
      if (!Number.isInteger(v) || v < min)
        throw new ConfigError(
          `${key} must be a ${min === 0 ? "non-negative" : "positive"} integer, got ${v}`,
        );
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
    // hnswlib-node takes plain arrays only: one reused array instead of one per token.
    const point: number[] = new Array(dim).fill(0);
    for (let t = 0; t < tokens; t++) {
      for (let j = 0; j < dim; j++) point[j] = data[t * dim + j];
      g.addPoint(point, first + t);
    }
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
    const check = (name: keyof HnswSearchParameters, min: number): number => {
      const v = options[name] ?? this.config[name];
      if (!Number.isInteger(v) || v < min) {
        throw new InvalidArgumentError(
          `${name} must be a ${min === 0 ? "non-negative" : "positive"} integer, got ${v}`,
        );
      }
      return v;
    };
    return {
      kToken: check("kToken", 1),
      efSearch: check("efSearch", 1),
      nRerank: check("nRerank", 0),
    };
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
      out.push(q.rows === 0 ? [] : await this.searchOne(q, k, allowed, allowedCount, params));
    return out;
  }

  /**
   * Token candidates from the graph, the best `nRerank` documents by approximate score, then
   * exact MaxSim over those.
   */
  private async searchOne(
    q: Matrix,
    k: number,
    allowed: Uint8Array | null,
    allowedCount: number,
    p: HnswSearchParameters,
  ): Promise<[number, number][]> {
    if (allowed && allowedCount <= Math.max(p.kToken, k) * 4) {
      // A small allowed set: score it all exactly.
      const docs: number[] = [];
      for (let d = 0; d < allowed.length; d++) if (allowed[d]) docs.push(d);
      return this.rerank(q, docs, k);
    }
    if (!this.graph) return [];
    const nq = q.rows;
    const kk = Math.min(p.kToken, this.graph.getCurrentCount());
    this.graph.setEf(Math.max(p.efSearch, kk));
    // Per candidate document: its best retrieved similarity per query token (-Infinity: none).
    const best = new Map<number, Float32Array>();
    // Per query token: the lowest similarity retrieved (the imputed score of the others).
    const floor = new Float32Array(nq);
    const point: number[] = new Array(q.cols).fill(0);
    for (let i = 0; i < nq && kk > 0; i++) {
      for (let j = 0; j < q.cols; j++) point[j] = q.data[i * q.cols + j];
      let res: { neighbors: number[]; distances: number[] } = { neighbors: [], distances: [] };
      // hnswlib throws when fewer than k live points are reachable (after deletes): ask for fewer.
      for (let kq = kk; kq > 0; kq = Math.floor(kq / 2)) {
        try {
          res = this.graph.searchKnn(point, kq);
          break;
        } catch {
          // retry with a smaller k
        }
      }
      // Inner-product space: distance = 1 - <q, d>.
      let low = Number.POSITIVE_INFINITY;
      for (let h = 0; h < res.neighbors.length; h++) {
        const sim = 1 - res.distances[h];
        if (sim < low) low = sim;
        const d = this.tokenDoc[res.neighbors[h]];
        if (!this.alive[d] || (allowed && !allowed[d])) continue;
        let b = best.get(d);
        if (!b) best.set(d, (b = new Float32Array(nq).fill(Number.NEGATIVE_INFINITY)));
        if (sim > b[i]) b[i] = sim;
      }
      floor[i] = Number.isFinite(low) ? low : 0;
    }
    let docs = [...best.keys()];
    if (p.nRerank > 0 && docs.length > p.nRerank) {
      const approx = new TopK(p.nRerank);
      for (const [d, b] of best) {
        let s = 0;
        for (let i = 0; i < nq; i++) s += b[i] === Number.NEGATIVE_INFINITY ? floor[i] : b[i];
        approx.push(d, s);
      }
      docs = approx.result().map(([d]) => d);
    }
    return this.rerank(q, docs, k);
  }

  /** Exact MaxSim of `q` against `docs`: one product with all their tokens. */
  private async rerank(q: Matrix, docs: number[], k: number): Promise<[number, number][]> {
    const top = new TopK(k);
    const dim = this.manifest.dim;
    let tokens = 0;
    for (const d of docs) tokens += this.slots[d].len;
    if (tokens === 0) {
      for (const d of docs) top.push(d, 0);
      return top.result();
    }
    const D = new Float32Array(tokens * dim);
    let o = 0;
    for (const d of docs) {
      const m = this.docMatrix(d);
      D.set(m.data, o * dim);
      o += m.rows;
    }
    const S = await gemmABt(q.data.subarray(0, q.rows * dim), q.rows, D, tokens, dim, this.kernels);
    let start = 0;
    for (const d of docs) {
      const len = this.slots[d].len;
      let total = 0;
      if (len > 0) {
        for (let i = 0; i < q.rows; i++) {
          const row = i * tokens + start;
          let mx = S[row];
          for (let t = 1; t < len; t++) if (S[row + t] > mx) mx = S[row + t];
          total += mx;
        }
      }
      top.push(d, total);
      start += len;
    }
    return top.result();
  }

  protected override onClose(): void {
    this.graph = null;
  }
}
