import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Matrix } from "../../src/util/matrix.js";
import { mulberry32 as rng } from "../../src/util/random.js";

/** A fresh temporary directory (removed by the returned cleanup). */
export function tempDir(prefix = "tslate-idx-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Clustered unit vectors shaped like ColBERT output: a vocabulary of "word" directions, each
 * document a mix of words of one topic plus a little noise per token; queries are noisy copies
 * of tokens of a target document.
 */
export function synthetic(opts: {
  docs: number;
  dim?: number;
  minLen?: number;
  maxLen?: number;
  seed?: number;
  vocab?: number;
  noise?: number;
}) {
  const dim = opts.dim ?? 16;
  const r = rng(opts.seed ?? 1);
  const gauss = () => Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());
  const vocab = opts.vocab ?? 64;
  const words = new Float32Array(vocab * dim).map(gauss);
  const noise = opts.noise ?? 0.3;
  const unit = (m: Float32Array, o: number) => {
    let s = 0;
    for (let j = 0; j < dim; j++) s += m[o + j] * m[o + j];
    s = Math.sqrt(s);
    for (let j = 0; j < dim; j++) m[o + j] /= s;
  };
  const docs: Matrix[] = [];
  for (let d = 0; d < opts.docs; d++) {
    const len =
      (opts.minLen ?? 3) + Math.floor(r() * ((opts.maxLen ?? 8) - (opts.minLen ?? 3) + 1));
    const data = new Float32Array(len * dim);
    for (let t = 0; t < len; t++) {
      const w = Math.floor(r() * vocab);
      for (let j = 0; j < dim; j++) data[t * dim + j] = words[w * dim + j] + noise * gauss();
      unit(data, t * dim);
    }
    docs.push({ data, rows: len, cols: dim });
  }
  const query = (target: Matrix, len = 4, qnoise = 0.2): Matrix => {
    const data = new Float32Array(len * dim);
    for (let t = 0; t < len; t++) {
      const s = Math.floor(r() * target.rows);
      for (let j = 0; j < dim; j++) data[t * dim + j] = target.data[s * dim + j] + qnoise * gauss();
      unit(data, t * dim);
    }
    return { data, rows: len, cols: dim };
  };
  return { docs, dim, query, ids: docs.map((_, i) => `doc-${i}`) };
}
