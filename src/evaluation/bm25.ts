import type { SearchResult } from "../indexes/types.js";
import type { BeirDocument } from "../io/beir.js";
import { InvalidArgumentError } from "../util/errors.js";
import { porterStem } from "./porter.js";

/**
 * Lucene's English stop words (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, Elasticsearch's
 * `_english_`), the list BEIR's Elasticsearch BM25 removes.
 */
export const ENGLISH_STOP_WORDS: ReadonlySet<string> = new Set(
  (
    "a an and are as at be but by for if in into is it no not of on or such that the their " +
    "then there these they this to was will with"
  ).split(" "),
);

// Approximates Lucene's StandardTokenizer (Unicode UAX#29 word breaks) for alphabetic
// scripts: runs of letters, marks, digits and "_", joined across "." and "'" (e.g., don't,
// e.g, 3.14), across "," or ";" between digits (1,000) and ":" between letters. Runs are
// matched with a plain regex and joined by hand (a regex with look-behinds is 8x slower).
const WORD = /[\p{L}\p{M}\p{N}_]+/gu;
const DIGIT = /\p{N}/u;
const LETTER = /\p{L}/u;

function tokenize(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let end = -2;
  for (const m of text.matchAll(WORD)) {
    const w = m[0];
    const start = m.index;
    if (cur !== "" && start === end + 1 && joins(text[end], cur[cur.length - 1], w[0])) {
      cur += text[end] + w;
    } else {
      if (cur !== "") out.push(cur);
      cur = w;
    }
    end = start + w.length;
  }
  if (cur !== "") out.push(cur);
  return out;
}

function joins(sep: string, before: string, after: string): boolean {
  if (sep === "." || sep === "'" || sep === "\u2019") return true;
  if (sep === "," || sep === ";") return DIGIT.test(before) && DIGIT.test(after);
  if (sep === ":") return LETTER.test(before) && LETTER.test(after);
  return false;
}

// Raw token -> term ("" for a stop word). Vocabularies are small next to token counts, so
// each distinct token goes through the filters and the stemmer once.
const TERM_CACHE = new Map<string, string>();

function termOf(raw: string): string {
  let t = raw;
  // Lucene's EnglishPossessiveFilter runs before lower-casing and accepts ' and U+2019.
  if (t.length >= 2 && (t.endsWith("s") || t.endsWith("S"))) {
    const c = t[t.length - 2];
    if (c === "'" || c === "\u2019" || c === "\uFF07") t = t.slice(0, -2);
  }
  t = t.toLowerCase();
  return t === "" || ENGLISH_STOP_WORDS.has(t) ? "" : porterStem(t);
}

/**
 * The analyser of Elasticsearch's `english` analyser, which BEIR's BM25 baseline indexes
 * title and text with: standard tokenizer -> english possessive filter (drops a trailing 's)
 * -> lower case -> English stop words -> Porter stemmer. Returns the terms in order.
 */
export function englishAnalyzer(text: string): string[] {
  const out: string[] = [];
  for (const raw of tokenize(text)) {
    let term = TERM_CACHE.get(raw);
    if (term === undefined) {
      if (TERM_CACHE.size >= 500_000) TERM_CACHE.clear();
      TERM_CACHE.set(raw, (term = termOf(raw)));
    }
    if (term !== "") out.push(term);
  }
  return out;
}

/**
 * Lucene stores each document's field length in one byte (SmallFloat.intToByte4): exact below
 * 24 tokens, then 4 significant bits. BM25 sees the decoded length, so we do too.
 */
export function luceneQuantizedLength(len: number): number {
  const NUM_FREE_VALUES = 24;
  if (len < NUM_FREE_VALUES) return len;
  const i = len - NUM_FREE_VALUES;
  const numBits = 32 - Math.clz32(i);
  let decoded: number;
  if (numBits < 4) decoded = i;
  else {
    const shift = numBits - 4;
    decoded = (((i >>> shift) & 0x07) | 0x08) * 2 ** shift;
  }
  return NUM_FREE_VALUES + decoded;
}

/**
 * Named parameter sets. On SciFact test (bench/results/bm25.json) "anserini-multifield"
 * gives nDCG@10 0.6647 and "anserini-flat" 0.6788, Pyserini's published BEIR baselines
 * (0.665 multifield, the number of the BEIR leaderboard and paper; 0.679 flat) to four
 * digits; "elasticsearch" follows BEIR's Elasticsearch query (ES defaults k1 1.2, b 0.75,
 * multi_match best_fields, tie breaker 0.5) and lands higher (0.691).
 */
export const BM25_PRESETS = {
  "anserini-multifield": { k1: 0.9, b: 0.4, fields: "multi", tieBreaker: 1 },
  "anserini-flat": { k1: 0.9, b: 0.4, fields: "flat" },
  elasticsearch: { k1: 1.2, b: 0.75, fields: "multi", tieBreaker: 0.5 },
} as const satisfies Record<string, BM25Options>;

export type BM25Preset = keyof typeof BM25_PRESETS;

export interface BM25Options {
  /** Term-frequency saturation (default 1.2, Elasticsearch's and Lucene's default). */
  k1?: number;
  /** Length normalisation (default 0.75, Elasticsearch's default). */
  b?: number;
  /**
   * "multi" (default): title and text are two fields with their own statistics, combined as
   * Elasticsearch's `multi_match` `best_fields` query with `tieBreaker`, as BEIR's BM25.
   * "flat": one field holding `title text` (Anserini's "flat" BEIR index).
   */
  fields?: "multi" | "flat";
  /** dis_max tie breaker for "multi": max field score + tieBreaker * the others (default 0.5). */
  tieBreaker?: number;
  /** Turns text into terms (default englishAnalyzer). */
  analyzer?: (text: string) => string[];
}

interface FieldIndex {
  /** term id -> document indices (ascending). */
  docs: Int32Array[];
  /** term id -> term frequency, parallel to docs. */
  tfs: Int32Array[];
  /** Lucene-quantised length per document. */
  lengths: Float64Array;
  /** Documents with at least one term (Lucene's docCount). */
  docCount: number;
  avgdl: number;
}

/**
 * BM25 over an in-memory inverted index, scoring as Lucene 8+/Elasticsearch 7+ does:
 *   score(q, d) = sum over query terms t of idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl))
 *   idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)),  N = documents having the field,
 * with dl quantised like Lucene's norms, a repeated query term counted once per occurrence,
 * and per-field statistics combined by best_fields dis_max (see BM25Options.fields).
 *
 * Our own rather than SQLite FTS5 or an npm package: FTS5's bm25() cannot combine fields
 * with dis_max and ships a different tokenizer/stemmer, and the npm BM25 packages use other
 * idf or length formulas; this is ~150 lines, exact, fast (no SQL per query) and runs in
 * the browser too.
 */
export class BM25 {
  readonly ids: string[];
  private readonly fields: FieldIndex[];
  private readonly vocab = new Map<string, number>();
  private readonly k1: number;
  private readonly b: number;
  private readonly tieBreaker: number;
  private readonly analyzer: (text: string) => string[];
  private readonly scratch: Float64Array[];

  private constructor(ids: string[], fieldTexts: string[][], options: BM25Options) {
    this.k1 = options.k1 ?? 1.2;
    this.b = options.b ?? 0.75;
    this.tieBreaker = options.tieBreaker ?? 0.5;
    this.analyzer = options.analyzer ?? englishAnalyzer;
    for (const [name, v, lo, hi] of [
      ["k1", this.k1, 0, Number.POSITIVE_INFINITY],
      ["b", this.b, 0, 1],
      ["tieBreaker", this.tieBreaker, 0, 1],
    ] as const) {
      if (!Number.isFinite(v) || v < lo || v > hi) {
        throw new InvalidArgumentError(`BM25 ${name} must be in [${lo}, ${hi}], got ${v}`);
      }
    }
    this.ids = ids;
    this.fields = fieldTexts.map((texts) => this.buildField(texts));
    this.scratch = this.fields.map(() => new Float64Array(ids.length));
  }

  /** Indexes documents (title + text), in the given order. */
  static build(documents: Iterable<BeirDocument>, options: BM25Options = {}): BM25 {
    const ids: string[] = [];
    const titles: string[] = [];
    const texts: string[] = [];
    const flat = (options.fields ?? "multi") === "flat";
    if (options.fields !== undefined && options.fields !== "multi" && !flat) {
      throw new InvalidArgumentError(
        `BM25 fields must be "multi" or "flat", got "${options.fields}"`,
      );
    }
    for (const d of documents) {
      ids.push(d.id);
      if (flat) texts.push(`${d.title} ${d.text}`);
      else {
        titles.push(d.title);
        texts.push(d.text);
      }
    }
    return new BM25(ids, flat ? [texts] : [titles, texts], options);
  }

  private buildField(texts: string[]): FieldIndex {
    const docsB: number[][] = [];
    const tfsB: number[][] = [];
    const lengths = new Float64Array(texts.length);
    let docCount = 0;
    let total = 0;
    const counts = new Map<number, number>();
    for (let d = 0; d < texts.length; d++) {
      const terms = this.analyzer(texts[d]);
      counts.clear();
      for (const t of terms) {
        let id = this.vocab.get(t);
        if (id === undefined) this.vocab.set(t, (id = this.vocab.size));
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      for (const [id, c] of counts) {
        while (docsB.length <= id) {
          docsB.push([]);
          tfsB.push([]);
        }
        docsB[id].push(d);
        tfsB[id].push(c);
      }
      lengths[d] = luceneQuantizedLength(terms.length);
      if (terms.length > 0) docCount++;
      total += terms.length;
    }
    return {
      docs: docsB.map((a) => Int32Array.from(a)),
      tfs: tfsB.map((a) => Int32Array.from(a)),
      lengths,
      docCount,
      avgdl: docCount === 0 ? 1 : total / docCount,
    };
  }

  /** Number of indexed documents. */
  count(): number {
    return this.ids.length;
  }

  /** The k best documents for one query, best first (ties: earlier indexed first, as Lucene). */
  search(query: string, k = 10): SearchResult[] {
    if (!Number.isInteger(k) || k < 1) {
      throw new InvalidArgumentError(`k must be a positive integer, got ${k}`);
    }
    const qterms = new Map<number, number>();
    for (const t of this.analyzer(query)) {
      const id = this.vocab.get(t);
      if (id !== undefined) qterms.set(id, (qterms.get(id) ?? 0) + 1);
    }
    const touched: number[] = [];
    const seen = new Uint8Array(this.ids.length);
    for (let f = 0; f < this.fields.length; f++) {
      const field = this.fields[f];
      const acc = this.scratch[f];
      for (const [term, mult] of qterms) {
        const docs = field.docs[term];
        if (!docs || docs.length === 0) continue;
        const tfs = field.tfs[term];
        const df = docs.length;
        const idf = Math.log(1 + (field.docCount - df + 0.5) / (df + 0.5));
        const w = idf * mult;
        for (let i = 0; i < docs.length; i++) {
          const d = docs[i];
          const tf = tfs[i];
          const norm = this.k1 * (1 - this.b + (this.b * field.lengths[d]) / field.avgdl);
          acc[d] += (w * tf) / (tf + norm);
          if (!seen[d]) {
            seen[d] = 1;
            touched.push(d);
          }
        }
      }
    }
    // Top k by a bounded min-heap over (score, -doc): O(touched log k), no full sort.
    const cap = Math.min(k, touched.length);
    const hs = new Float64Array(cap);
    const hd = new Int32Array(cap);
    let size = 0;
    // a is worse than b: lower score, or equal score and later document (Lucene keeps the earlier).
    const worse = (sa: number, da: number, sb: number, db: number) =>
      sa < sb || (sa === sb && da > db);
    for (let i = 0; i < touched.length; i++) {
      const d = touched[i];
      let best = 0;
      let sum = 0;
      for (let f = 0; f < this.fields.length; f++) {
        const v = this.scratch[f][d];
        this.scratch[f][d] = 0;
        sum += v;
        if (v > best) best = v;
      }
      const score = best + this.tieBreaker * (sum - best);
      if (size < cap) {
        let j = size++;
        while (j > 0) {
          const p = (j - 1) >> 1;
          if (!worse(score, d, hs[p], hd[p])) break;
          hs[j] = hs[p];
          hd[j] = hd[p];
          j = p;
        }
        hs[j] = score;
        hd[j] = d;
      } else if (worse(hs[0], hd[0], score, d)) {
        let j = 0;
        for (;;) {
          const l = 2 * j + 1;
          if (l >= size) break;
          const r = l + 1;
          const c = r < size && worse(hs[r], hd[r], hs[l], hd[l]) ? r : l;
          if (!worse(hs[c], hd[c], score, d)) break;
          hs[j] = hs[c];
          hd[j] = hd[c];
          j = c;
        }
        hs[j] = score;
        hd[j] = d;
      }
    }
    const order = Array.from({ length: size }, (_, i) => i);
    order.sort((x, y) => (worse(hs[x], hd[x], hs[y], hd[y]) ? 1 : -1));
    return order.map((i) => ({ id: this.ids[hd[i]], score: hs[i] }));
  }
}
