// Hierarchical token pooling speed: one 180-token document (E = 128, the PyLate defaults),
// measured after warm-up. Run: npx tsc -p tsconfig.json && node build/bench/pooling.js
import { poolEmbeddingsHierarchical } from "../src/models/pooling.js";
import type { Matrix } from "../src/util/matrix.js";

function randomDoc(rows: number, cols: number, seed: number): Matrix {
  let s = seed >>> 0;
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let norm = 0;
    for (let c = 0; c < cols; c++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[r * cols + c] = s / 2 ** 32 - 0.5;
      norm += data[r * cols + c] ** 2;
    }
    for (let c = 0; c < cols; c++) data[r * cols + c] /= Math.sqrt(norm);
  }
  return { data, rows, cols };
}

const docs = Array.from({ length: 200 }, (_, i) => randomDoc(180, 128, i + 1));
poolEmbeddingsHierarchical(docs.slice(0, 20)); // warm-up
const t0 = performance.now();
poolEmbeddingsHierarchical(docs);
const ms = (performance.now() - t0) / docs.length;
console.log(
  JSON.stringify({
    document_tokens: 180,
    dim: 128,
    pool_factor: 2,
    ms_per_document: +ms.toFixed(3),
  }),
);
