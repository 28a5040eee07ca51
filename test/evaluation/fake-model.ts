import type { EmbeddingModel, EncodeOptions } from "../../src/models/types.js";
import type { Matrix } from "../../src/util/matrix.js";

/**
 * A deterministic stand-in for ColBERT: one row per lower-cased word, the word's row a
 * one-hot vector at a hashed position (FNV-1a mod dim). With no hash collision, the dot of
 * two words is 1 if they are equal and 0 otherwise, so MaxSim(q, d) = number of query words
 * found in d: scores can be worked out by hand. Records every call for assertions.
 */
export class BagOfWordsModel implements EmbeddingModel {
  readonly calls: { n: number; isQuery: boolean }[] = [];
  constructor(readonly dim = 257) {}

  static words(text: string): string[] {
    return text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  }

  slot(word: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < word.length; i++) {
      h ^= word.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h % this.dim;
  }

  async encode(texts: string[], options: EncodeOptions = {}): Promise<Matrix[]> {
    this.calls.push({ n: texts.length, isQuery: options.isQuery ?? false });
    return texts.map((t) => {
      const words = BagOfWordsModel.words(t);
      const data = new Float32Array(words.length * this.dim);
      words.forEach((w, i) => {
        data[i * this.dim + this.slot(w)] = 1;
      });
      return { data, rows: words.length, cols: this.dim };
    });
  }
}
