import { type BeirDataset, documentText } from "../io/beir.js";
import { DataError } from "../util/errors.js";
import { mulberry32 } from "../util/random.js";

/**
 * (query, positive, negative) text triples from a loaded split, as PyLate's
 * `get_beir_triples`: one triple per judged (query, document) pair, the negative a document
 * drawn uniformly from the corpus. Unlike PyLate, the draw is seeded (default seed 42) and
 * skips documents judged relevant to that query, so a triple never pits a positive against
 * itself. Feed them to ColBERTTripletEvaluator.
 */
export function getBeirTriples(
  dataset: BeirDataset,
  options: { seed?: number } = {},
): [string, string, string][] {
  const byId = new Map(dataset.corpus.map((d) => [d.id, d]));
  if (dataset.corpus.length === 0) throw new DataError("the corpus is empty: no negatives to draw");
  const random = mulberry32(options.seed ?? 42);
  const out: [string, string, string][] = [];
  for (const q of dataset.queries) {
    const judged = dataset.qrels.get(q.id);
    if (!judged) continue;
    const relevant = new Set([...judged].filter(([, r]) => r > 0).map(([d]) => d));
    if (relevant.size >= dataset.corpus.length) continue;
    for (const docId of judged.keys()) {
      const pos = byId.get(docId);
      if (!pos) continue;
      let neg = dataset.corpus[Math.floor(random() * dataset.corpus.length)];
      while (relevant.has(neg.id))
        neg = dataset.corpus[Math.floor(random() * dataset.corpus.length)];
      out.push([q.text, documentText(pos), documentText(neg)]);
    }
  }
  return out;
}
