/**
 * Keeps the best k (doc, score) pairs: a binary min-heap of the kept ones, so a push costs
 * O(log k). Ties prefer the lower doc number, whatever the order of the pushes.
 */
export class TopK {
  private readonly cap: number;
  private readonly ids: Int32Array;
  private readonly scores: Float64Array;
  private size = 0;

  constructor(k: number) {
    this.cap = Math.max(0, k);
    this.ids = new Int32Array(this.cap);
    this.scores = new Float64Array(this.cap);
  }

  get length(): number {
    return this.size;
  }

  /** The score a newcomer must beat (−∞ until k pairs are kept). */
  get threshold(): number {
    return this.size < this.cap ? Number.NEGATIVE_INFINITY : this.scores[0];
  }

  /** Is heap entry a worse than b (lower score, or equal score and higher doc)? */
  private worse(a: number, b: number): boolean {
    const sa = this.scores[a];
    const sb = this.scores[b];
    return sa < sb || (sa === sb && this.ids[a] > this.ids[b]);
  }

  private swap(a: number, b: number): void {
    const d = this.ids[a];
    this.ids[a] = this.ids[b];
    this.ids[b] = d;
    const s = this.scores[a];
    this.scores[a] = this.scores[b];
    this.scores[b] = s;
  }

  push(doc: number, score: number): void {
    if (this.cap === 0) return;
    if (this.size < this.cap) {
      let i = this.size++;
      this.ids[i] = doc;
      this.scores[i] = score;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.worse(i, p)) break;
        this.swap(i, p);
        i = p;
      }
      return;
    }
    if (score < this.scores[0] || (score === this.scores[0] && doc > this.ids[0])) return;
    this.ids[0] = doc;
    this.scores[0] = score;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.size && this.worse(l, m)) m = l;
      if (r < this.size && this.worse(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }

  /** The kept docs in heap order (a copy). */
  docs(): Int32Array {
    return this.ids.slice(0, this.size);
  }

  /** The kept pairs, best first (score descending, doc ascending on ties). */
  result(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < this.size; i++) out.push([this.ids[i], this.scores[i]]);
    return out.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  }
}
