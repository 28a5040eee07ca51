import { createRequire } from "node:module";
import { IndexError, InvalidArgumentError, UnsupportedError } from "../util/errors.js";
import { checkMatrix, type Matrix } from "../util/matrix.js";
import { checkDocumentBatch, checkK } from "./checks.js";
import { fuseSearches } from "./fusion.js";
import { gemmABt } from "./kernels.js";
import { validateFilterSql } from "./metadata.js";
import type {
  DocumentInput,
  DocumentMetadata,
  HybridSearchOptions,
  KeywordSearchOptions,
  MetadataFilter,
  MultiVectorIndex,
  SearchOptions,
  SearchResult,
} from "./types.js";

/*
 * A tslate index stored as one LanceDB table, so that the data can live on object storage
 * (s3://, gs://, az://) and be read by many processes at once. LanceDB versions every write:
 * each add, update (merge-insert) and delete is one commit, and a reader pinned to a version
 * never sees half of a batch.
 *
 * Search: LanceDB's JS API does expose multi-vector MaxSim (`vectorSearch(multiVector)` on a
 * List<FixedSizeList<f32>> column), but its flat scan measured 10-90 s per query on a
 * SciFact-size table here (0.3 GFLOP/s), so tslate does not use it for exact search. Instead:
 * - without a vector index (default), `search` streams the table's record batches at one
 *   pinned version and scores every document with tslate's own exact MaxSim (one matrix
 *   product per run of documents, as `Exact` does), for all queries of the call in one pass;
 * - after `createVectorIndex()` (LanceDB's IVF-PQ over the multi-vector column), LanceDB
 *   proposes `candidates` documents per query, whose stored vectors are then rescored with
 *   exact MaxSim.
 */

/** The structural part of @lancedb/lancedb that this file uses (it is an optional peer). */
interface LanceModule {
  connect(uri: string, options?: Record<string, unknown>): Promise<LanceConnection>;
  Index: {
    fts(options?: Record<string, unknown>): unknown;
    ivfPq(options?: Record<string, unknown>): unknown;
  };
}
interface LanceConnection {
  openTable(name: string): Promise<LanceTable>;
  createEmptyTable(
    name: string,
    schema: unknown,
    options?: Record<string, unknown>,
  ): Promise<LanceTable>;
  close(): void;
}
interface LanceQuery {
  where(sql: string): LanceQuery;
  select(columns: string[]): LanceQuery;
  withRowId(): LanceQuery;
  limit(n: number): LanceQuery;
  toArray(): Promise<Record<string, unknown>[]>;
  toArrow(): Promise<ArrowTable>;
  execute(): Promise<AsyncIterable<ArrowRecordBatch>>;
}
interface LanceVectorQuery extends LanceQuery {
  column(name: string): LanceVectorQuery;
  distanceType(t: string): LanceVectorQuery;
  nprobes(n: number): LanceVectorQuery;
  postfilter(): LanceVectorQuery;
}
interface LanceTable {
  version(): Promise<number>;
  checkout(version: number): Promise<void>;
  checkoutLatest(): Promise<void>;
  countRows(filter?: string): Promise<number>;
  schema(): Promise<ArrowSchema>;
  add(data: unknown): Promise<unknown>;
  delete(predicate: string): Promise<unknown>;
  addColumns(cols: { name: string; valueSql: string }[]): Promise<unknown>;
  mergeInsert(on: string): {
    whenMatchedUpdateAll(): {
      whenNotMatchedInsertAll(): { execute(data: unknown): Promise<unknown> };
    };
  };
  query(): LanceQuery;
  vectorSearch(v: number[][]): LanceVectorQuery;
  search(q: string, queryType: string, columns: string[] | string): LanceQuery;
  createIndex(column: string, options: Record<string, unknown>): Promise<void>;
  listIndices(): Promise<{ name: string; indexType: string; columns: string[] }[]>;
  optimize(options?: Record<string, unknown>): Promise<unknown>;
  close(): void;
}
interface ArrowSchema {
  fields: { name: string; type: { toString(): string; listSize?: number } }[];
  metadata: Map<string, string>;
}
interface ArrowVector {
  length: number;
  get(i: number): unknown;
  data: ArrowData[];
}
interface ArrowData {
  offset: number;
  length: number;
  valueOffsets: Int32Array;
  children: ArrowData[];
  values: Float32Array;
}
interface ArrowRecordBatch {
  numRows: number;
  getChild(name: string): ArrowVector | null;
}
interface ArrowTable {
  numRows: number;
  getChild(name: string): ArrowVector | null;
  batches: ArrowRecordBatch[];
}
// apache-arrow, as far as this file builds tables with it.
interface ArrowModule {
  Schema: new (fields: unknown[], metadata?: Map<string, string>) => unknown;
  Field: new (name: string, type: unknown, nullable?: boolean) => unknown;
  Utf8: new () => unknown;
  Float32: new () => unknown;
  Float64: new () => unknown;
  Bool: new () => unknown;
  List: new (child: unknown) => unknown;
  FixedSizeList: new (size: number, child: unknown) => unknown;
  makeData(props: Record<string, unknown>): unknown;
  makeVector(data: unknown): unknown;
  vectorFromArray(values: unknown[], type?: unknown): unknown;
  Table: new (columns: Record<string, unknown>) => unknown;
}

const TABLE = "tslate";
const FORMAT = "tslate-lance";
const FORMAT_VERSION = 1;
/** Columns of ours; metadata keys may not start with "_" (LanceDB's own columns do too). */
const ID = "_id";
const VECTOR = "_vector";
const TEXT = "_text";
const META = "_meta";
/** LanceDB's row id column (withRowId). */
const ROW_ID = "_rowid";
const IDENT = /^[A-Za-z][A-Za-z0-9_]*$/;
/** Rows per `_id IN (...)` predicate when looking ids up. */
const ID_LOOKUP_BATCH = 1000;
/** Scores per product in the scan: [query tokens, document tokens] ≤ 8M floats = 32 MB. */
const BLOCK_SCORES = 8 * 1024 * 1024;
/** Functions that mean the same in SQLite's and LanceDB's (DataFusion) SQL. */
const LANCE_FUNCTIONS = new Set(["lower", "upper", "abs", "coalesce", "round", "trim"]);

async function loadLance(): Promise<{ lance: LanceModule; arrow: ArrowModule }> {
  try {
    const lance = (await import("@lancedb/lancedb")) as unknown as LanceModule;
    // LanceDB is CommonJS and checks arrow classes with instanceof: take the same (CommonJS)
    // copy of apache-arrow, not the ESM one an import would load.
    const arrow = createRequire(import.meta.url)("apache-arrow") as ArrowModule;
    return { lance, arrow };
  } catch (e) {
    throw new UnsupportedError(
      `the Lance index needs the optional packages @lancedb/lancedb and apache-arrow: run \`npm install @lancedb/lancedb@0.31.0 apache-arrow@18.1.0\` (${(e as Error).message})`,
    );
  }
}

/** Options of `Lance.create`. */
export interface LanceOptions {
  /** Embedding dimension (required: the table's schema fixes it). */
  dim: number;
  /** Metadata fields indexed for keyword search (default ["title", "text"]). */
  textFields?: string[];
  /** LanceDB storage options (credentials, region, endpoint...) for s3://, gs://, az:// URIs. */
  storageOptions?: Record<string, string>;
  /** Replace an existing tslate table at this URI (PyLate's `override`). Default false. */
  override?: boolean;
}

/** Options of `Lance.open`. */
export interface LanceOpenOptions {
  storageOptions?: Record<string, string>;
  /** Open for searching only: writes throw. */
  readOnly?: boolean;
}

/** Search options of the Lance index. */
export interface LanceSearchOptions extends SearchOptions {
  /**
   * Only with a vector index: documents proposed by LanceDB's IVF-PQ per query, rescored
   * exactly (default max(10·k, 100)).
   */
  candidates?: number;
  /** Only with a vector index: IVF partitions probed (default 20, LanceDB's). */
  nprobes?: number;
  /** Search this table version instead of the latest. */
  version?: number;
}

const SEARCH_KEYS = new Set(["k", "filter", "subset", "candidates", "nprobes", "version"]);

/** Search results with the table version they were computed on. */
export interface VersionedResults {
  version: number;
  results: SearchResult[][];
}

/** `'it''s'`: a SQL string literal (the only way values reach LanceDB's SQL text). */
function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

function sqlLiteral(v: unknown, where: string): string {
  if (v === null) return "NULL";
  if (typeof v === "boolean") return v ? "TRUE" : "FALSE";
  if (typeof v === "number") {
    if (!Number.isFinite(v))
      throw new InvalidArgumentError(`${where} is ${v}; use a finite number`);
    return String(v);
  }
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string") return sqlString(v);
  throw new InvalidArgumentError(
    `${where} is ${typeof v}; filter parameters must be numbers, strings, booleans or null`,
  );
}

/**
 * The filter as a LanceDB `where` expression: checked by the same rules as the SQLite filters
 * (known columns, literals, operators, no comments, `;` or sub-queries), then each `?` replaced
 * by its parameter as a quoted literal. Only functions with the same meaning in both SQL
 * dialects are accepted.
 */
export function lanceWhere(filter: MetadataFilter, columns: ReadonlySet<string>): string {
  if (!filter || typeof filter !== "object")
    throw new InvalidArgumentError("filter must be { sql: string, params?: unknown[] }");
  const params = filter.params ?? [];
  if (!Array.isArray(params)) throw new InvalidArgumentError("filter.params must be an array");
  const n = validateFilterSql(filter.sql, columns);
  if (n !== params.length) {
    throw new InvalidArgumentError(
      `filter.sql has ${n} ? placeholders but ${params.length} params were given`,
    );
  }
  let out = "";
  let p = 0;
  const sql = filter.sql;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'") {
      // copy the string literal as is (validateFilterSql checked it is terminated)
      let j = i + 1;
      while (!(sql[j] === "'" && sql[j + 1] !== "'")) j += sql[j] === "'" ? 2 : 1;
      out += sql.slice(i, j + 1);
      i = j;
    } else if (c === "?") {
      out += sqlLiteral(params[p], `filter.params[${p}]`);
      p++;
    } else if (/[A-Za-z_]/.test(c)) {
      const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i))![0];
      const lower = word.toLowerCase();
      if (
        sql
          .slice(i + word.length)
          .trimStart()
          .startsWith("(") &&
        !columns.has(word)
      ) {
        if (!LANCE_FUNCTIONS.has(lower) && lower !== "in")
          throw new UnsupportedError(
            `filter.sql: function ${word}() is not available on a Lance index; allowed: ${[...LANCE_FUNCTIONS].join(", ")}`,
          );
      }
      if (lower === "glob")
        throw new UnsupportedError("filter.sql: GLOB is SQLite's; use LIKE on a Lance index");
      out += columns.has(word) ? `\`${word}\`` : word;
      i += word.length - 1;
    } else out += c;
  }
  return out;
}

function idList(ids: readonly string[]): string {
  return `${ID} IN (${ids.map(sqlString).join(", ")})`;
}

/** The arrow type a metadata value is stored as (LanceDB columns are typed). */
function columnTypeOf(v: unknown): "Float64" | "Utf8" | "Bool" | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "number" || typeof v === "bigint") return "Float64";
  if (typeof v === "boolean") return "Bool";
  return "Utf8";
}

const SQL_TYPE = { Float64: "DOUBLE", Utf8: "STRING", Bool: "BOOLEAN" } as const;

/** Exact MaxSim of every query against the documents of one flat token block. */
class ScanScorer {
  readonly Q: Float32Array;
  readonly rows: number;
  readonly qOff: number[] = [];
  constructor(
    readonly queries: Matrix[],
    readonly dim: number,
  ) {
    this.rows = queries.reduce((s, q) => s + q.rows, 0);
    this.Q = new Float32Array(this.rows * dim);
    for (let j = 0, o = 0; j < queries.length; j++) {
      this.qOff.push(o);
      this.Q.set(queries[j].data.subarray(0, queries[j].rows * dim), o * dim);
      o += queries[j].rows;
    }
  }

  /**
   * Documents d = 0..n-1 own token rows offsets[d]..offsets[d+1]-1 of `values`; calls
   * push(j, d, score) for every query j.
   */
  async score(
    values: Float32Array,
    offsets: ArrayLike<number>,
    n: number,
    push: (query: number, doc: number, score: number) => void,
  ): Promise<void> {
    const dim = this.dim;
    const block = Math.max(1, Math.floor(BLOCK_SCORES / Math.max(1, this.rows)));
    for (let b = 0; b < n; ) {
      const lo = offsets[b];
      let e = b + 1;
      while (e < n && offsets[e + 1] - lo <= block) e++;
      const width = offsets[e] - lo;
      const S =
        width > 0 && this.rows > 0
          ? await gemmABt(
              this.Q,
              this.rows,
              values.subarray(lo * dim, (lo + width) * dim),
              width,
              dim,
            )
          : new Float32Array(0);
      for (let j = 0; j < this.queries.length; j++) {
        const nq = this.queries[j].rows;
        if (nq === 0) continue;
        for (let x = b; x < e; x++) {
          const start = offsets[x] - lo;
          const len = offsets[x + 1] - offsets[x];
          let total = 0;
          if (len > 0)
            for (let i = 0; i < nq; i++) {
              const o = (this.qOff[j] + i) * width + start;
              let mx = S[o];
              for (let t = 1; t < len; t++) if (S[o + t] > mx) mx = S[o + t];
              total += mx;
            }
          push(j, x, total);
        }
      }
      b = e;
    }
  }
}

/**
 * Best k per query, ties broken by LanceDB's row id (it grows with each append, so ties go to
 * the older document, as the other indexes break ties by document number). Row ids pass 2^32
 * (fragment << 32 | offset), hence numbers, not util/topk's int32 doc numbers; k is small.
 */
class TopRows {
  private readonly items: { row: number; id: string; score: number }[] = [];
  constructor(private readonly k: number) {}
  push(row: number, id: string, score: number): void {
    const it = this.items;
    const worse = (a: { row: number; score: number }) =>
      a.score < score || (a.score === score && a.row > row);
    if (it.length >= this.k && !worse(it[it.length - 1])) return;
    let i = it.length;
    while (i > 0 && worse(it[i - 1])) i--;
    it.splice(i, 0, { row, id, score });
    if (it.length > this.k) it.pop();
  }
  result(): SearchResult[] {
    return this.items.map(({ id, score }) => ({ id, score }));
  }
}

/** The token rows of row r of a List<FixedSizeList<f32>> column chunk: [values, offsets]. */
function listColumn(col: ArrowVector): {
  parts: { values: Float32Array; offsets: Int32Array; n: number }[];
} {
  const parts = col.data.map((d) => {
    const fsl = d.children[0];
    const dim = (fsl as unknown as { type: { listSize: number } }).type.listSize;
    const values = fsl.children[0].values;
    // rebase the offsets of this slice onto its own values
    const offs = d.valueOffsets.subarray(d.offset, d.offset + d.length + 1);
    const base = offs[0];
    const offsets = new Int32Array(offs.length);
    for (let i = 0; i < offs.length; i++) offsets[i] = offs[i] - base;
    const first = (fsl.offset + base) * dim;
    return {
      values: values.subarray(first, first + offsets[offsets.length - 1] * dim),
      offsets,
      n: d.length,
    };
  });
  return { parts };
}

/**
 * A multi-vector index in a LanceDB table: on local disk or object storage, versioned, read by
 * any number of processes. Same interface as PLAID/Exact/HNSW (string ids, metadata, filters,
 * subset, keyword and hybrid search).
 */
export class Lance implements MultiVectorIndex {
  static readonly TYPE = "lance";

  private closed = false;
  private writing: Promise<unknown> = Promise.resolve();
  /** Metadata columns and their types, as the table's schema last showed them. */
  private columns = new Map<string, "Float64" | "Utf8" | "Bool">();
  private liveCount = 0;

  private constructor(
    private readonly lance: LanceModule,
    private readonly arrow: ArrowModule,
    private readonly db: LanceConnection,
    private table: LanceTable,
    readonly uri: string,
    readonly dim: number,
    readonly textFields: readonly string[],
    private readonly readOnly: boolean,
  ) {}

  /** Creates the table at `uri` (a directory, or s3:// gs:// az:// with `storageOptions`). */
  static async create(uri: string, options: LanceOptions): Promise<Lance> {
    const { lance, arrow } = await loadLance();
    const dim = options?.dim;
    if (!Number.isInteger(dim) || dim < 1)
      throw new InvalidArgumentError(
        `Lance.create needs options.dim, a positive integer; got ${dim}`,
      );
    const textFields = options.textFields ?? ["title", "text"];
    const db = await Lance.connect(lance, uri, options.storageOptions);
    if (!options.override && (await Lance.tableExists(db, uri))) {
      db.close();
      throw new IndexError(
        `${uri} already holds a tslate Lance index; open it with Lance.open, or pass { override: true } to replace it`,
      );
    }
    const meta = new Map([
      ["tslate", JSON.stringify({ format: FORMAT, version: FORMAT_VERSION, dim, textFields })],
    ]);
    const schema = new arrow.Schema(
      [
        new arrow.Field(ID, new arrow.Utf8(), false),
        new arrow.Field(VECTOR, Lance.vectorType(arrow, dim), false),
        new arrow.Field(TEXT, new arrow.Utf8(), true),
        new arrow.Field(META, new arrow.Utf8(), true),
      ],
      meta,
    );
    const table = await db.createEmptyTable(TABLE, schema, { mode: "overwrite" });
    return new Lance(lance, arrow, db, table, uri, dim, textFields, false);
  }

  /** Opens the tslate table at `uri`. */
  static async open(uri: string, options: LanceOpenOptions = {}): Promise<Lance> {
    const { lance, arrow } = await loadLance();
    const db = await Lance.connect(lance, uri, options.storageOptions);
    if (!(await Lance.tableExists(db, uri))) {
      db.close();
      throw new IndexError(
        `${uri}: no tslate Lance index here; create one with Lance.create(uri, { dim })`,
      );
    }
    const table = await db.openTable(TABLE);
    const schema = await table.schema();
    const raw = schema.metadata.get("tslate");
    let info: { format?: string; version?: number; dim?: number; textFields?: string[] } = {};
    try {
      info = JSON.parse(raw ?? "null") ?? {};
    } catch {}
    if (info.format !== FORMAT || typeof info.dim !== "number")
      throw new IndexError(
        `${uri}: the table was not written by tslate (no tslate schema metadata)`,
      );
    if ((info.version ?? 0) > FORMAT_VERSION)
      throw new IndexError(
        `${uri}: format version ${info.version} is newer than this tslate reads (${FORMAT_VERSION}); upgrade tslate`,
      );
    const index = new Lance(
      lance,
      arrow,
      db,
      table,
      uri,
      info.dim,
      info.textFields ?? ["title", "text"],
      options.readOnly ?? false,
    );
    await index.refresh();
    return index;
  }

  private static async connect(
    lance: LanceModule,
    uri: string,
    storageOptions?: Record<string, string>,
  ): Promise<LanceConnection> {
    if (typeof uri !== "string" || uri === "")
      throw new InvalidArgumentError("a Lance index needs a URI: a directory or s3:// gs:// az://");
    // readConsistencyInterval 0: every read checks for newer versions (other writers).
    return lance.connect(uri, { readConsistencyInterval: 0, storageOptions });
  }

  /**
   * Whether the table exists. Opening it is the test, not listing table names: listings on
   * some S3-compatible stores omit prefixes, and opening is what every later call does.
   */
  private static async tableExists(db: LanceConnection, uri: string): Promise<boolean> {
    try {
      (await db.openTable(TABLE)).close();
      return true;
    } catch (e) {
      const message = (e as Error).message ?? String(e);
      if (/not found|does not exist|no such/i.test(message)) return false;
      throw new IndexError(`${uri}: cannot read the store: ${message}`);
    }
  }

  private static vectorType(arrow: ArrowModule, dim: number): unknown {
    return new arrow.List(
      new arrow.Field(
        "item",
        new arrow.FixedSizeList(dim, new arrow.Field("item", new arrow.Float32(), true)),
        true,
      ),
    );
  }

  /** Re-reads the latest version's schema and count (other processes may have written). */
  async refresh(): Promise<number> {
    this.checkOpen();
    const schema = await this.table.schema();
    this.columns.clear();
    for (const f of schema.fields) {
      if (f.name.startsWith("_")) continue;
      const t = String(f.type);
      this.columns.set(f.name, t === "Float64" ? "Float64" : t === "Bool" ? "Bool" : "Utf8");
    }
    this.liveCount = await this.table.countRows();
    return this.table.version();
  }

  /** Documents in the version last seen (after open, a write, a search or `refresh()`). */
  count(): number {
    return this.liveCount;
  }

  /** The latest committed version of the table. */
  async version(): Promise<number> {
    this.checkOpen();
    return this.table.version();
  }

  async has(id: string): Promise<boolean> {
    this.checkOpen();
    return (await this.table.countRows(idList([id]))) > 0;
  }

  async metadata(id: string): Promise<DocumentMetadata | undefined> {
    this.checkOpen();
    const rows = await this.table
      .query()
      .where(idList([id]))
      .select([META])
      .limit(1)
      .toArray();
    return rows.length
      ? (JSON.parse(String(rows[0][META] ?? "{}")) as DocumentMetadata)
      : undefined;
  }

  /** The ids of the live documents (in storage order). */
  async ids(): Promise<string[]> {
    this.checkOpen();
    const t = await this.table.query().select([ID]).toArrow();
    const col = t.getChild(ID)!;
    return Array.from({ length: col.length }, (_, i) => String(col.get(i)));
  }

  /** The stored embedding of a document. */
  async embedding(id: string): Promise<Matrix | undefined> {
    this.checkOpen();
    const t = await this.table
      .query()
      .where(idList([id]))
      .select([VECTOR])
      .limit(1)
      .toArrow();
    if (t.numRows === 0) return undefined;
    const { parts } = listColumn(t.getChild(VECTOR)!);
    const p = parts.find((x) => x.n > 0)!;
    const rows = p.offsets[1] - p.offsets[0];
    return { data: p.values.slice(0, rows * this.dim), rows, cols: this.dim };
  }

  /**
   * Every document of one version (id, embedding, metadata), streamed in LanceDB's record
   * batches: memory is bounded by a batch, not by the table.
   */
  async *documents(): AsyncGenerator<DocumentInput[]> {
    this.checkOpen();
    const snap = await this.snapshot();
    try {
      const stream = await snap.table.query().select([ID, VECTOR, META]).execute();
      for await (const batch of stream) {
        const ids = batch.getChild(ID)!;
        const metas = batch.getChild(META)!;
        const out: DocumentInput[] = [];
        let base = 0;
        for (const p of listColumn(batch.getChild(VECTOR)!).parts) {
          for (let d = 0; d < p.n; d++) {
            const rows = p.offsets[d + 1] - p.offsets[d];
            const data = p.values.slice(p.offsets[d] * this.dim, p.offsets[d + 1] * this.dim);
            out.push({
              id: String(ids.get(base + d)),
              embedding: { data, rows, cols: this.dim },
              metadata: JSON.parse(String(metas.get(base + d) ?? "{}")) as DocumentMetadata,
            });
          }
          base += p.n;
        }
        yield out;
      }
    } finally {
      snap.table.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.writing.catch(() => undefined);
    this.closed = true;
    this.table.close();
    this.db.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new IndexError(`the Lance index at ${this.uri} is closed`);
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.readOnly)
      throw new IndexError(
        `the Lance index at ${this.uri} was opened read-only; writes are refused`,
      );
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writing.then(fn, fn);
    this.writing = run.catch(() => undefined);
    return run;
  }

  // ---- writes (each one LanceDB commit) ----

  add(ids: string[], embeddings: Matrix[], metadata?: DocumentMetadata[]): Promise<void> {
    return this.serial(() => this.write(ids, embeddings, metadata, false));
  }

  /** Replaces documents (adds those not present), in one commit (LanceDB merge-insert). */
  update(ids: string[], embeddings: Matrix[], metadata?: DocumentMetadata[]): Promise<void> {
    return this.serial(() => this.write(ids, embeddings, metadata, true));
  }

  delete(ids: string[]): Promise<void> {
    return this.serial(async () => {
      this.checkWritable();
      if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string"))
        throw new InvalidArgumentError("ids must be an array of strings");
      const unique = [...new Set(ids)];
      if (unique.length === 0) return;
      await this.table.delete(idList(unique));
      await this.refresh();
    });
  }

  private async existing(ids: string[]): Promise<string[]> {
    const found: string[] = [];
    for (let i = 0; i < ids.length; i += ID_LOOKUP_BATCH) {
      const rows = await this.table
        .query()
        .where(idList(ids.slice(i, i + ID_LOOKUP_BATCH)))
        .select([ID])
        .toArray();
      for (const r of rows) found.push(String(r[ID]));
    }
    return found;
  }

  private checkBatch(ids: string[], embeddings: Matrix[], metadata?: DocumentMetadata[]): void {
    checkDocumentBatch(ids, embeddings, metadata, this.dim);
    metadata?.forEach((m, i) => {
      for (const key of Object.keys(m ?? {}))
        if (!IDENT.test(key))
          throw new InvalidArgumentError(
            `metadata[${i}] key ${JSON.stringify(key)}: a Lance index stores metadata keys as columns; use letters, digits and _ (starting with a letter)`,
          );
    });
  }

  private async write(
    ids: string[],
    embeddings: Matrix[],
    metadata: DocumentMetadata[] | undefined,
    replacing: boolean,
  ): Promise<void> {
    this.checkWritable();
    this.checkBatch(ids, embeddings, metadata);
    if (ids.length === 0) return;
    if (!replacing) {
      const dup = await this.existing(ids);
      if (dup.length)
        throw new InvalidArgumentError(
          `id ${JSON.stringify(dup[0])} is already in the index; use update() to replace it or delete() it first`,
        );
    }
    await this.ensureColumns(metadata ?? []);
    const data = this.arrowBatch(ids, embeddings, metadata);
    if (replacing)
      await this.table
        .mergeInsert(ID)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute(data);
    else await this.table.add(data);
    await this.refresh();
  }

  /** Adds a column (all NULL) for every metadata key the table does not have yet. */
  private async ensureColumns(metadata: (DocumentMetadata | undefined)[]): Promise<void> {
    const added = new Map<string, "Float64" | "Utf8" | "Bool">();
    for (const m of metadata)
      for (const [key, v] of Object.entries(m ?? {})) {
        const t = columnTypeOf(v);
        if (!t) continue;
        const have = this.columns.get(key) ?? added.get(key);
        if (!have) added.set(key, t);
        else if (have !== t && have !== "Utf8")
          throw new InvalidArgumentError(
            `metadata key ${JSON.stringify(key)} holds ${typeof v} here but the index stores it as ${have}; keep one type per key`,
          );
      }
    if (added.size === 0) return;
    await this.table.addColumns(
      [...added].map(([name, t]) => ({ name, valueSql: `CAST(NULL AS ${SQL_TYPE[t]})` })),
    );
    for (const [k, t] of added) this.columns.set(k, t);
  }

  /** One Arrow table of the batch, built from the Float32Arrays without per-value copies to JS arrays. */
  private arrowBatch(ids: string[], embeddings: Matrix[], metadata?: DocumentMetadata[]): unknown {
    const arrow = this.arrow;
    const dim = this.dim;
    const total = embeddings.reduce((s, e) => s + e.rows, 0);
    const values = new Float32Array(total * dim);
    const offsets = new Int32Array(ids.length + 1);
    let t = 0;
    embeddings.forEach((e, i) => {
      values.set(e.data.subarray(0, e.rows * dim), t * dim);
      t += e.rows;
      offsets[i + 1] = t;
    });
    const f32 = new arrow.Float32();
    const fslType = new arrow.FixedSizeList(dim, new arrow.Field("item", f32, true));
    const listType = new arrow.List(new arrow.Field("item", fslType, true));
    const child = arrow.makeData({ type: f32, length: total * dim, data: values });
    const fsl = arrow.makeData({ type: fslType, length: total, child });
    const list = arrow.makeData({
      type: listType,
      length: ids.length,
      valueOffsets: offsets,
      child: fsl,
    });
    const columns: Record<string, unknown> = {
      [ID]: arrow.vectorFromArray(ids, new arrow.Utf8()),
      [VECTOR]: arrow.makeVector(list),
      [TEXT]: arrow.vectorFromArray(
        ids.map((_, i) => {
          const m = metadata?.[i] ?? {};
          const parts = this.textFields.map((f) => m[f]).filter((v) => typeof v === "string");
          return parts.length ? parts.join(" ") : null;
        }),
        new arrow.Utf8(),
      ),
      [META]: arrow.vectorFromArray(
        ids.map((_, i) => JSON.stringify(metadata?.[i] ?? {})),
        new arrow.Utf8(),
      ),
    };
    for (const [name, type] of this.columns) {
      const values = ids.map((_, i) => {
        const v = metadata?.[i]?.[name];
        if (v === undefined || v === null) return null;
        if (type === "Float64") return Number(v);
        if (type === "Bool") return Boolean(v);
        return typeof v === "string" ? v : JSON.stringify(v);
      });
      const at =
        type === "Float64"
          ? new arrow.Float64()
          : type === "Bool"
            ? new arrow.Bool()
            : new arrow.Utf8();
      columns[name] = arrow.vectorFromArray(values, at);
    }
    return new arrow.Table(columns);
  }

  /** Builds LanceDB's IVF-PQ index over the multi-vector column (search then rescores its candidates exactly). */
  async createVectorIndex(
    options: { numPartitions?: number; numSubVectors?: number } = {},
  ): Promise<void> {
    return this.serial(async () => {
      this.checkWritable();
      await this.table.createIndex(VECTOR, {
        config: this.lance.Index.ivfPq({ distanceType: "cosine", ...options }),
        replace: true,
      });
    });
  }

  /** Builds (or rebuilds) LanceDB's full-text index over the text fields. */
  async createKeywordIndex(): Promise<void> {
    return this.serial(async () => {
      this.checkWritable();
      await this.table.createIndex(TEXT, { config: this.lance.Index.fts(), replace: true });
    });
  }

  private async indexTypes(table: LanceTable): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const ix of await table.listIndices())
      for (const c of ix.columns) out.set(c, ix.indexType);
    return out;
  }

  // ---- search ----

  /** The `where` condition of filter ∩ subset, or null. */
  private condition(options: SearchOptions): string | null {
    const parts: string[] = [];
    if (options.filter) parts.push(`(${lanceWhere(options.filter, new Set(this.columns.keys()))})`);
    if (options.subset !== undefined) {
      if (!Array.isArray(options.subset) || options.subset.some((s) => typeof s !== "string"))
        throw new InvalidArgumentError("subset must be an array of document ids");
      if (options.subset.length === 0) return "FALSE";
      parts.push(idList([...new Set(options.subset)]));
    }
    return parts.length ? parts.join(" AND ") : null;
  }

  /** A table handle pinned to one version, so that a whole search sees one commit. */
  private async snapshot(version?: number): Promise<{ table: LanceTable; version: number }> {
    const table = await this.db.openTable(TABLE);
    const v = version ?? (await table.version());
    try {
      await table.checkout(v);
    } catch (e) {
      table.close();
      throw new IndexError(`${this.uri}: cannot read version ${v}: ${(e as Error).message}`);
    }
    return { table, version: v };
  }

  async search(queries: Matrix[], options: LanceSearchOptions = {}): Promise<SearchResult[][]> {
    return (await this.searchVersioned(queries, options)).results;
  }

  /** Search, and the table version the results come from (one version for all queries). */
  async searchVersioned(
    queries: Matrix[],
    options: LanceSearchOptions = {},
  ): Promise<VersionedResults> {
    this.checkOpen();
    for (const key of Object.keys(options ?? {}))
      if (!SEARCH_KEYS.has(key))
        throw new InvalidArgumentError(
          `unknown search option ${JSON.stringify(key)} for a Lance index; allowed: ${[...SEARCH_KEYS].join(", ")}`,
        );
    const k = checkK(options.k);
    if (!Array.isArray(queries))
      throw new InvalidArgumentError("queries must be an array of matrices");
    queries.forEach((q, i) => {
      checkMatrix(q, `queries[${i}]`, this.dim);
    });
    const where = this.condition(options);
    const snap = await this.snapshot(options.version);
    try {
      const hasVectorIndex = (await this.indexTypes(snap.table)).has(VECTOR);
      const results = hasVectorIndex
        ? await this.searchIndexed(snap.table, queries, k, where, options)
        : await this.searchScan(snap.table, queries, k, where);
      return { version: snap.version, results };
    } finally {
      snap.table.close();
    }
  }

  /** Every (allowed) document scored exactly, for all queries in one pass over the table. */
  private async searchScan(
    table: LanceTable,
    queries: Matrix[],
    k: number,
    where: string | null,
  ): Promise<SearchResult[][]> {
    const tops = queries.map(() => new TopRows(k));
    if (queries.length === 0) return [];
    const scorer = new ScanScorer(queries, this.dim);
    let q = table.query().select([ID, VECTOR]).withRowId();
    if (where) q = q.where(where);
    for await (const batch of await q.execute()) {
      const idCol = batch.getChild(ID)!;
      const rowCol = batch.getChild(ROW_ID)!;
      const { parts } = listColumn(batch.getChild(VECTOR)!);
      let base = 0;
      for (const p of parts) {
        await scorer.score(p.values, p.offsets, p.n, (j, d, s) => {
          tops[j].push(Number(rowCol.get(base + d)), String(idCol.get(base + d)), s);
        });
        base += p.n;
      }
    }
    return tops.map((t, j) => (queries[j].rows === 0 ? [] : t.result()));
  }

  /** LanceDB's IVF-PQ proposes candidates; their stored vectors are rescored exactly. */
  private async searchIndexed(
    table: LanceTable,
    queries: Matrix[],
    k: number,
    where: string | null,
    options: LanceSearchOptions,
  ): Promise<SearchResult[][]> {
    const candidates = checkK(options.candidates ?? Math.max(10 * k, 100), "candidates");
    const out: SearchResult[][] = [];
    for (const query of queries) {
      if (query.rows === 0) {
        out.push([]);
        continue;
      }
      const rowsOf: number[][] = [];
      for (let i = 0; i < query.rows; i++)
        rowsOf.push(Array.from(query.data.subarray(i * this.dim, (i + 1) * this.dim)));
      let vq = table.vectorSearch(rowsOf).column(VECTOR).distanceType("cosine");
      if (options.nprobes !== undefined) vq = vq.nprobes(checkK(options.nprobes, "nprobes"));
      let cq: LanceQuery = vq.select([ID, VECTOR]).withRowId().limit(candidates);
      if (where) cq = cq.where(where);
      const t = await cq.toArrow();
      const top = new TopRows(k);
      const scorer = new ScanScorer([query], this.dim);
      for (const batch of t.batches) {
        const ids = batch.getChild(ID)!;
        const rows = batch.getChild(ROW_ID)!;
        let base = 0;
        for (const p of listColumn(batch.getChild(VECTOR)!).parts) {
          await scorer.score(p.values, p.offsets, p.n, (_j, d, s) =>
            top.push(Number(rows.get(base + d)), String(ids.get(base + d)), s),
          );
          base += p.n;
        }
      }
      out.push(top.result());
    }
    return out;
  }

  /** Full-text (BM25) search over the text fields with LanceDB's FTS index (built on first use). */
  async keywordSearch(
    texts: string[],
    options: KeywordSearchOptions = {},
  ): Promise<SearchResult[][]> {
    this.checkOpen();
    const k = checkK(options.k);
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== "string"))
      throw new InvalidArgumentError("texts must be an array of strings");
    const where = this.condition(options);
    if (!(await this.indexTypes(this.table)).has(TEXT)) {
      if (this.readOnly)
        throw new IndexError(
          `${this.uri}: no keyword index yet; a writer must call createKeywordIndex() first`,
        );
      await this.createKeywordIndex();
    }
    const snap = await this.snapshot();
    try {
      const out: SearchResult[][] = [];
      for (const text of texts) {
        const words = text.match(/[\p{L}\p{N}]+/gu);
        if (!words) {
          out.push([]);
          continue;
        }
        let q = snap.table
          .search(words.join(" "), "fts", [TEXT])
          .select([ID, "_score"])
          .withRowId()
          .limit(k);
        if (where) q = q.where(where);
        const rows = await q.toArray();
        out.push(
          rows
            .map((r) => ({ id: String(r[ID]), score: Number(r._score), row: Number(r[ROW_ID]) }))
            .sort((a, b) => b.score - a.score || a.row - b.row)
            .map(({ id, score }) => ({ id, score })),
        );
      }
      return out;
    } finally {
      snap.table.close();
    }
  }

  /** Vector + keyword search fused by relative scores (alpha) or reciprocal ranks. */
  async hybridSearch(
    queries: Matrix[],
    texts: string[],
    options: HybridSearchOptions = {},
  ): Promise<SearchResult[][]> {
    return fuseSearches(
      (sub) => this.search(queries, sub),
      (sub) => this.keywordSearch(texts, sub),
      queries,
      texts,
      options,
    );
  }
}
