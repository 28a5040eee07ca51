import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { DocumentInput } from "../../src/indexes/types.js";
import type { Matrix } from "../../src/util/matrix.js";
import { mulberry32 as rng } from "../../src/util/random.js";
import type { BenchCorpus } from "./index-embeddings.js";

/**
 * Synthetic ColBERT-like token embeddings for the index benchmark, generated as a stream (so
 * that the build's memory is the index's, not the generator's) and reproducibly (the same
 * seed gives the same documents, so ground truth can be recomputed by streaming again).
 *
 * Model: a vocabulary of V random unit "word" directions; T topics, each a Zipf distribution
 * over 400 topic words; a document has one topic, 70% of its tokens from the topic, 30% from
 * a global Zipf over the vocabulary; a token is normalise(word + noise) with cos ≈ 0.8 to its
 * word (contextualised embeddings of one word cluster, as ColBERT's do).
 */
export interface SyntheticSpec {
  /** Tokens per document. */
  lengths: number[];
  dim: number;
  seed: number;
  vocab?: number;
  topics?: number;
}

export class SyntheticCorpus {
  readonly spec: SyntheticSpec;
  readonly dim: number;
  readonly words: Float32Array;
  readonly topicWords: Uint32Array;
  readonly docTopic: Uint32Array;
  private readonly vocab: number;
  private readonly noise: number;
  private readonly zipfTopic: Float64Array;
  private readonly zipfGlobal: Float64Array;

  constructor(spec: SyntheticSpec) {
    this.spec = spec;
    this.dim = spec.dim;
    this.vocab = spec.vocab ?? 30_000;
    const topics = spec.topics ?? 600;
    const r = rng(spec.seed);
    const gauss = gaussian(r);
    this.words = new Float32Array(this.vocab * spec.dim);
    for (let i = 0; i < this.words.length; i++) this.words[i] = gauss();
    normalize(this.words, spec.dim);
    this.topicWords = new Uint32Array(topics * 400);
    for (let i = 0; i < this.topicWords.length; i++)
      this.topicWords[i] = Math.floor(r() * this.vocab);
    this.docTopic = Uint32Array.from(spec.lengths, () => Math.floor(r() * topics));
    this.zipfTopic = zipfCdf(400);
    this.zipfGlobal = zipfCdf(this.vocab);
    // |noise|² = 0.56 → cos(token, word) ≈ 1 / sqrt(1.56) = 0.8
    this.noise = Math.sqrt(0.56 / spec.dim);
  }

  get docs(): number {
    return this.spec.lengths.length;
  }
  get tokens(): number {
    return this.spec.lengths.reduce((s, l) => s + l, 0);
  }

  /** The word ids of document d (deterministic). */
  private docWords(d: number): Uint32Array {
    const r = rng(this.spec.seed * 7919 + d);
    const len = this.spec.lengths[d];
    const out = new Uint32Array(len);
    const t = this.docTopic[d];
    for (let i = 0; i < len; i++) {
      out[i] =
        r() < 0.7
          ? this.topicWords[t * 400 + sample(this.zipfTopic, r())]
          : sample(this.zipfGlobal, r());
    }
    return out;
  }

  private embedWords(wordIds: ArrayLike<number>, seed: number, noiseScale = 1): Matrix {
    const dim = this.dim;
    const gauss = gaussian(rng(seed));
    const data = new Float32Array(wordIds.length * dim);
    for (let i = 0; i < wordIds.length; i++) {
      const wo = wordIds[i] * dim;
      for (let j = 0; j < dim; j++)
        data[i * dim + j] = this.words[wo + j] + this.noise * noiseScale * gauss();
    }
    normalize(data, dim);
    return { data, rows: wordIds.length, cols: dim };
  }

  document(d: number): Matrix {
    return this.embedWords(this.docWords(d), this.spec.seed * 104729 + d);
  }

  async *stream(): AsyncGenerator<DocumentInput> {
    for (let d = 0; d < this.docs; d++) yield { id: `d${d}`, embedding: this.document(d) };
  }

  /**
   * A query about document `target`: 12 of its words plus 4 topic words, re-embedded with
   * fresh noise, expanded to 32 tokens by noisier copies (as [MASK] expansion tokens are).
   */
  query(target: number, seed: number): Matrix {
    const r = rng(seed);
    const words = this.docWords(target);
    const t = this.docTopic[target];
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) ids.push(words[Math.floor(r() * words.length)]);
    for (let i = 0; i < 4; i++) ids.push(this.topicWords[t * 400 + sample(this.zipfTopic, r())]);
    const base = this.embedWords(ids, seed * 31 + 1);
    const exp = this.embedWords(
      Array.from({ length: 16 }, (_, i) => ids[i % ids.length]),
      seed * 31 + 2,
      1.5,
    );
    const data = new Float32Array(32 * this.dim);
    data.set(base.data);
    data.set(exp.data, base.data.length);
    return { data, rows: 32, cols: this.dim };
  }
}

function gaussian(r: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = r() || 1e-12;
    const v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    spare = m * Math.sin(2 * Math.PI * v);
    return m * Math.cos(2 * Math.PI * v);
  };
}

function normalize(x: Float32Array, dim: number): void {
  for (let o = 0; o < x.length; o += dim) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[o + j] * x[o + j];
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < dim; j++) x[o + j] *= inv;
  }
}

function zipfCdf(n: number): Float64Array {
  const c = new Float64Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    s += 1 / (i + 1);
    c[i] = s;
  }
  for (let i = 0; i < n; i++) c[i] /= s;
  return c;
}

function sample(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** SciFact's document lengths in tokens: words(title + " " + text) × 1.3, capped at 180. */
export function scifactLengths(corpusPath: string): number[] {
  return readFileSync(corpusPath, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const o = JSON.parse(l) as { title?: string; text: string };
      const words = `${o.title ?? ""} ${o.text}`.trim().split(/\s+/).length;
      return Math.max(1, Math.min(180, Math.round(words * 1.3)));
    });
}

/** Document lengths for a corpus of about `tokens` tokens (uniform 60..180 per document). */
export function lengthsForTokens(tokens: number, seed: number): number[] {
  const r = rng(seed);
  const out: number[] = [];
  let total = 0;
  while (total < tokens) {
    const l = Math.min(60 + Math.floor(r() * 121), tokens - total);
    out.push(l);
    total += l;
  }
  return out;
}

/**
 * The index benchmark's "scifact-size" set: SciFact's document lengths (corpus.jsonl of
 * `scifactDir`), dim 128, seed 11, and its queries (query i is about document i·7919 mod N).
 */
export function scifactSizeSet(
  scifactDir: string,
  queries: number,
): { corpus: SyntheticCorpus; queries: Matrix[] } {
  const corpus = new SyntheticCorpus({
    lengths: scifactLengths(join(scifactDir, "corpus.jsonl")),
    dim: 128,
    seed: 11,
  });
  const q = Array.from({ length: queries }, (_, i) =>
    corpus.query((i * 7919) % corpus.docs, 1000 + i),
  );
  return { corpus, queries: q };
}

/** A synthetic corpus as the benchmark's corpora: document d is indexed as "d<d>". */
export function benchCorpus(corpus: SyntheticCorpus): BenchCorpus {
  return {
    docs: corpus.docs,
    tokens: corpus.tokens,
    dim: corpus.dim,
    id: (d) => `d${d}`,
    document: (d) => corpus.document(d),
    stream: () => corpus.stream(),
  };
}
