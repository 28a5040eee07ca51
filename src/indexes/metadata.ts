import { createRequire } from "node:module";
import { IndexError, InvalidArgumentError } from "../util/errors.js";
import type { DocumentMetadata, MetadataFilter } from "./types.js";

/**
 * Per-document metadata in SQLite (better-sqlite3), keyed by the index's internal document
 * number. Table `docs(_docno, _id, _meta, <one column per metadata key>)`: keys that are plain
 * identifiers become columns usable in filters (`year > ?`); every key stays in the `_meta`
 * JSON (`json_extract(_meta, '$.a.b')`). FTS5 table `fts` holds the text fields for BM25.
 *
 * The manifest is the source of truth: rows of documents that a crashed write left behind
 * are removed by `reconcile` when the index opens.
 */

/** The subset of better-sqlite3 used here (STYLE.md §7). */
interface SqliteStatement {
  run(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  get(...params: unknown[]): unknown;
  readonly reader: boolean;
}
interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): unknown;
  pragma(sql: string): unknown;
  transaction<T extends (...args: never[]) => unknown>(fn: T): T;
  close(): void;
}

const KEYWORDS = new Set([
  "and",
  "or",
  "not",
  "in",
  "is",
  "null",
  "like",
  "glob",
  "between",
  "escape",
  "true",
  "false",
  "collate",
  "nocase",
  "binary",
  "rtrim",
  "case",
  "when",
  "then",
  "else",
  "end",
  "cast",
  "as",
  "integer",
  "real",
  "text",
  "numeric",
]);
const FUNCTIONS = new Set([
  "json_extract",
  "json_array_length",
  "json_type",
  "lower",
  "upper",
  "length",
  "abs",
  "coalesce",
  "ifnull",
  "substr",
  "instr",
  "round",
  "trim",
  "typeof",
]);
const IDENT = /^[A-Za-z][A-Za-z0-9_]*$/;
const RESERVED_COLUMNS = new Set(["_docno", "_id", "_meta"]);

/**
 * Checks that `sql` is one boolean expression built only from known columns, `?` placeholders,
 * literals, operators and a whitelist of keywords and functions: no `;`, comments, quoted
 * identifiers or sub-queries. Returns the number of `?` placeholders.
 */
export function validateFilterSql(sql: string, columns: ReadonlySet<string>): number {
  if (typeof sql !== "string" || sql.trim() === "") {
    throw new InvalidArgumentError("filter.sql must be a non-empty SQL condition, e.g. 'year > ?'");
  }
  let i = 0;
  let depth = 0;
  let placeholders = 0;
  const fail = (what: string): never => {
    throw new InvalidArgumentError(
      `filter.sql ${JSON.stringify(sql)}: ${what} at offset ${i}; allowed: metadata columns, ? placeholders, numbers, 'strings', comparison/arithmetic operators, parentheses, AND/OR/NOT/IN/IS/LIKE/GLOB/BETWEEN and functions ${[...FUNCTIONS].join(", ")}`,
    );
  };
  while (i < sql.length) {
    const c = sql[i];
    if (/\s/.test(c)) {
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i))![0];
      const lower = m.toLowerCase();
      const rest = sql.slice(i + m.length).trimStart();
      if (rest.startsWith("(") && FUNCTIONS.has(lower)) {
        // function call
      } else if (KEYWORDS.has(lower)) {
        // keyword
      } else if (!columns.has(m)) {
        fail(`unknown column or keyword ${JSON.stringify(m)}`);
      }
      i += m.length;
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(sql[i + 1] ?? ""))) {
      const m = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(sql.slice(i))![0];
      i += m.length;
    } else if (c === "'") {
      let j = i + 1;
      for (;;) {
        if (j >= sql.length) fail("unterminated string literal");
        if (sql[j] === "'") {
          if (sql[j + 1] === "'") j += 2;
          else break;
        } else j++;
      }
      i = j + 1;
    } else if (c === "?") {
      if (/[0-9A-Za-z:@$]/.test(sql[i + 1] ?? "")) fail("only plain ? placeholders are allowed");
      placeholders++;
      i++;
    } else if (c === "(") {
      depth++;
      i++;
    } else if (c === ")") {
      depth--;
      if (depth < 0) fail("unbalanced ')'");
      i++;
    } else if (sql.startsWith("--", i) || sql.startsWith("/*", i)) {
      fail("comments are not allowed");
    } else {
      const op = [
        "<=",
        ">=",
        "<>",
        "!=",
        "==",
        "||",
        "=",
        "<",
        ">",
        "+",
        "-",
        "*",
        "/",
        "%",
        ",",
      ].find((o) => sql.startsWith(o, i));
      if (!op) fail(`character ${JSON.stringify(c)} is not allowed`);
      i += op!.length;
    }
  }
  if (depth !== 0) fail("unbalanced '('");
  return placeholders;
}

function bindValue(v: unknown, where: string): unknown {
  if (v === null || typeof v === "number" || typeof v === "string" || typeof v === "bigint")
    return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  throw new InvalidArgumentError(
    `${where} is ${typeof v}; filter parameters must be numbers, strings, booleans or null`,
  );
}

function columnValue(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "number" || typeof v === "string" || typeof v === "bigint") return v;
  return JSON.stringify(v);
}

/** FTS5 query from free text: every word quoted (no FTS syntax from the user), OR-ed. */
export function ftsQuery(text: string): string | null {
  const words = text.match(/[\p{L}\p{N}]+/gu);
  if (!words || words.length === 0) return null;
  return [...new Set(words.map((w) => w.toLowerCase()))].map((w) => `"${w}"`).join(" OR ");
}

export class MetadataStore {
  private readonly db: SqliteDatabase;
  private readonly columns = new Set<string>(RESERVED_COLUMNS);
  private readonly textFields: readonly string[];

  constructor(path: string, textFields: readonly string[]) {
    const Database = createRequire(import.meta.url)("better-sqlite3") as new (
      p: string,
    ) => SqliteDatabase;
    try {
      this.db = new Database(path);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = FULL");
      this.db.exec(
        "CREATE TABLE IF NOT EXISTS docs(_docno INTEGER PRIMARY KEY, _id TEXT NOT NULL, _meta TEXT NOT NULL);" +
          "CREATE INDEX IF NOT EXISTS docs_id ON docs(_id);" +
          "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2');",
      );
    } catch (err) {
      throw new IndexError(`${path}: cannot open the metadata database (${String(err)})`, {
        cause: err,
      });
    }
    for (const r of this.db.prepare("PRAGMA table_info(docs)").all() as { name: string }[]) {
      this.columns.add(r.name);
    }
    this.textFields = textFields;
  }

  /** Inserts rows for new documents (one transaction). */
  insert(docnos: number[], ids: string[], metadata: (DocumentMetadata | undefined)[]): void {
    const newCols = new Set<string>();
    for (const m of metadata) {
      if (!m) continue;
      for (const key of Object.keys(m)) {
        if (IDENT.test(key) && !this.columns.has(key)) newCols.add(key);
      }
    }
    const tx = this.db.transaction(() => {
      for (const c of newCols) {
        // c matches IDENT, so it is a safe bare identifier.
        this.db.exec(`ALTER TABLE docs ADD COLUMN ${c}`);
        this.columns.add(c);
      }
      const stmts = new Map<string, SqliteStatement>();
      const fts = this.db.prepare("INSERT INTO fts(rowid, body) VALUES (?, ?)");
      for (let i = 0; i < docnos.length; i++) {
        const m = metadata[i] ?? {};
        const keys = Object.keys(m).filter((k) => IDENT.test(k));
        const sig = keys.join(",");
        let st = stmts.get(sig);
        if (!st) {
          const cols = ["_docno", "_id", "_meta", ...keys];
          st = this.db.prepare(
            `INSERT OR REPLACE INTO docs(${cols.join(",")}) VALUES (${cols.map(() => "?").join(",")})`,
          );
          stmts.set(sig, st);
        }
        st.run(docnos[i], ids[i], JSON.stringify(m), ...keys.map((k) => columnValue(m[k])));
        const body = this.textFields
          .map((f) => m[f])
          .filter((v): v is string => typeof v === "string" && v.length > 0)
          .join(" ");
        if (body) fts.run(docnos[i], body);
      }
    });
    tx();
  }

  /** Replaces the rows of these documents (one transaction: readers see old or new). */
  replace(docnos: number[], ids: string[], metadata: DocumentMetadata[]): void {
    // better-sqlite3 runs the nested transactions as savepoints of this one.
    this.db.transaction(() => {
      this.remove(docnos);
      this.insert(docnos, ids, metadata);
    })();
  }

  /** Removes the rows of these documents. */
  remove(docnos: Iterable<number>): void {
    const del = this.db.prepare("DELETE FROM docs WHERE _docno = ?");
    const delFts = this.db.prepare("DELETE FROM fts WHERE rowid = ?");
    const tx = this.db.transaction(() => {
      for (const d of docnos) {
        del.run(d);
        delFts.run(d);
      }
    });
    tx();
  }

  /** Drops rows that the manifest does not hold as live (left by a crashed write). */
  reconcile(isLive: (docno: number) => boolean): number {
    const stale = (this.db.prepare("SELECT _docno FROM docs").all() as { _docno: number }[])
      .map((r) => r._docno)
      .filter((d) => !isLive(d));
    const staleFts = (this.db.prepare("SELECT rowid FROM fts").all() as { rowid: number }[])
      .map((r) => r.rowid)
      .filter((d) => !isLive(d));
    if (stale.length || staleFts.length) this.remove(new Set([...stale, ...staleFts]));
    return stale.length;
  }

  get(docno: number): DocumentMetadata | undefined {
    const r = this.db.prepare("SELECT _meta FROM docs WHERE _docno = ?").get(docno) as
      | { _meta: string }
      | undefined;
    return r ? (JSON.parse(r._meta) as DocumentMetadata) : undefined;
  }

  /** Document numbers whose metadata satisfies the filter. */
  filter(filter: MetadataFilter): number[] {
    if (!filter || typeof filter !== "object") {
      throw new InvalidArgumentError("filter must be { sql: string, params?: unknown[] }");
    }
    const params = (filter.params ?? []).map((p, i) => bindValue(p, `filter.params[${i}]`));
    const n = validateFilterSql(filter.sql, this.columns);
    if (n !== params.length) {
      throw new InvalidArgumentError(
        `filter.sql has ${n} ? placeholder(s) but ${params.length} param(s) were given; pass one value per ?`,
      );
    }
    let st: SqliteStatement;
    try {
      st = this.db.prepare(`SELECT _docno FROM docs WHERE (${filter.sql})`);
    } catch (err) {
      throw new InvalidArgumentError(
        `filter.sql ${JSON.stringify(filter.sql)} is not valid SQL: ${String(err)}`,
      );
    }
    if (!st.reader) throw new InvalidArgumentError("filter.sql must be a read-only condition");
    return (st.all(...params) as { _docno: number }[]).map((r) => r._docno);
  }

  /** BM25 keyword search: [docno, score] with higher = better, at most `limit`. */
  keyword(
    text: string,
    limit: number,
    allowed: ((docno: number) => boolean) | null,
  ): [number, number][] {
    const q = ftsQuery(text);
    if (!q) return [];
    const out: [number, number][] = [];
    const st = this.db.prepare(
      "SELECT rowid AS d, bm25(fts) AS s FROM fts WHERE fts MATCH ? ORDER BY s",
    );
    // Iterate (not LIMIT) so that filtered-out rows do not eat the budget.
    for (const r of (
      st as unknown as { iterate(...p: unknown[]): Iterable<{ d: number; s: number }> }
    ).iterate(q)) {
      if (allowed && !allowed(r.d)) continue;
      out.push([r.d, -r.s]);
      if (out.length >= limit) break;
    }
    return out;
  }

  close(): void {
    this.db.close();
  }
}
