/**
 * The Porter (1980) stemmer, as in Martin Porter's reference implementation and Lucene's
 * PorterStemFilter (which Elasticsearch's `english` analyser ends with), including the two
 * reference "departures" (bli -> ble, logi -> log). Words of one or two letters are kept.
 * Input is expected in lower case.
 */
export function porterStem(word: string): string {
  if (word.length <= 2) return word;
  const s = new PorterState(word);
  s.step1ab();
  s.step1c();
  s.step2();
  s.step3();
  s.step4();
  s.step5();
  return s.b.slice(0, s.k + 1);
}

class PorterState {
  b: string;
  k: number;
  j = 0;
  constructor(word: string) {
    this.b = word;
    this.k = word.length - 1;
  }

  cons(i: number): boolean {
    switch (this.b[i]) {
      case "a":
      case "e":
      case "i":
      case "o":
      case "u":
        return false;
      case "y":
        return i === 0 ? true : !this.cons(i - 1);
      default:
        return true;
    }
  }

  /** Number of consonant-vowel sequences in b[0..j]. */
  m(): number {
    let n = 0;
    let i = 0;
    const j = this.j;
    for (;;) {
      if (i > j) return n;
      if (!this.cons(i)) break;
      i++;
    }
    i++;
    for (;;) {
      for (;;) {
        if (i > j) return n;
        if (this.cons(i)) break;
        i++;
      }
      i++;
      n++;
      for (;;) {
        if (i > j) return n;
        if (!this.cons(i)) break;
        i++;
      }
      i++;
    }
  }

  vowelInStem(): boolean {
    for (let i = 0; i <= this.j; i++) if (!this.cons(i)) return true;
    return false;
  }

  doublec(j: number): boolean {
    return j >= 1 && this.b[j] === this.b[j - 1] && this.cons(j);
  }

  cvc(i: number): boolean {
    if (i < 2 || !this.cons(i) || this.cons(i - 1) || !this.cons(i - 2)) return false;
    const ch = this.b[i];
    return !(ch === "w" || ch === "x" || ch === "y");
  }

  ends(s: string): boolean {
    const len = s.length;
    if (len > this.k + 1) return false;
    if (this.b.slice(this.k - len + 1, this.k + 1) !== s) return false;
    this.j = this.k - len;
    return true;
  }

  setto(s: string): void {
    this.b = this.b.slice(0, this.j + 1) + s + this.b.slice(this.k + 1);
    this.k = this.j + s.length;
  }

  r(s: string): void {
    if (this.m() > 0) this.setto(s);
  }

  step1ab(): void {
    if (this.b[this.k] === "s") {
      if (this.ends("sses")) this.k -= 2;
      else if (this.ends("ies")) this.setto("i");
      else if (this.b[this.k - 1] !== "s") this.k--;
    }
    if (this.ends("eed")) {
      if (this.m() > 0) this.k--;
    } else if ((this.ends("ed") || this.ends("ing")) && this.vowelInStem()) {
      this.k = this.j;
      if (this.ends("at")) this.setto("ate");
      else if (this.ends("bl")) this.setto("ble");
      else if (this.ends("iz")) this.setto("ize");
      else if (this.doublec(this.k)) {
        const ch = this.b[this.k];
        this.k--;
        if (ch === "l" || ch === "s" || ch === "z") this.k++;
      } else if (this.m() === 1 && this.cvc(this.k)) this.setto("e");
    }
  }

  step1c(): void {
    if (this.ends("y") && this.vowelInStem()) {
      this.b = this.b.slice(0, this.k) + "i" + this.b.slice(this.k + 1);
    }
  }

  /** Tries each (suffix, replacement) in order; the first suffix that ends the word wins. */
  private rules(pairs: readonly (readonly [string, string])[]): void {
    for (const [suffix, rep] of pairs) {
      if (this.ends(suffix)) {
        this.r(rep);
        return;
      }
    }
  }

  step2(): void {
    if (this.k === 0) return;
    const table = STEP2[this.b[this.k - 1]];
    if (table) this.rules(table);
  }

  step3(): void {
    const table = STEP3[this.b[this.k]];
    if (table) this.rules(table);
  }

  step4(): void {
    if (this.k === 0) return;
    const suffixes = STEP4[this.b[this.k - 1]];
    if (!suffixes) return;
    let found = false;
    for (const s of suffixes) {
      if (this.ends(s)) {
        if (s === "ion" && !(this.j >= 0 && (this.b[this.j] === "s" || this.b[this.j] === "t"))) {
          continue;
        }
        found = true;
        break;
      }
    }
    if (!found) return;
    if (this.m() > 1) this.k = this.j;
  }

  step5(): void {
    this.j = this.k;
    if (this.b[this.k] === "e") {
      const a = this.m();
      if (a > 1 || (a === 1 && !this.cvc(this.k - 1))) this.k--;
    }
    if (this.b[this.k] === "l" && this.doublec(this.k) && this.m() > 1) this.k--;
  }
}

const STEP2: Record<string, readonly (readonly [string, string])[]> = {
  a: [
    ["ational", "ate"],
    ["tional", "tion"],
  ],
  c: [
    ["enci", "ence"],
    ["anci", "ance"],
  ],
  e: [["izer", "ize"]],
  l: [
    ["bli", "ble"],
    ["alli", "al"],
    ["entli", "ent"],
    ["eli", "e"],
    ["ousli", "ous"],
  ],
  o: [
    ["ization", "ize"],
    ["ation", "ate"],
    ["ator", "ate"],
  ],
  s: [
    ["alism", "al"],
    ["iveness", "ive"],
    ["fulness", "ful"],
    ["ousness", "ous"],
  ],
  t: [
    ["aliti", "al"],
    ["iviti", "ive"],
    ["biliti", "ble"],
  ],
  g: [["logi", "log"]],
};

const STEP3: Record<string, readonly (readonly [string, string])[]> = {
  e: [
    ["icate", "ic"],
    ["ative", ""],
    ["alize", "al"],
  ],
  i: [["iciti", "ic"]],
  l: [
    ["ical", "ic"],
    ["ful", ""],
  ],
  s: [["ness", ""]],
};

const STEP4: Record<string, readonly string[]> = {
  a: ["al"],
  c: ["ance", "ence"],
  e: ["er"],
  i: ["ic"],
  l: ["able", "ible"],
  n: ["ant", "ement", "ment", "ent"],
  o: ["ion", "ou"],
  s: ["ism"],
  t: ["ate", "iti"],
  u: ["ous"],
  v: ["ive"],
  z: ["ize"],
};
