// The demo's Web Worker: loads the model (fetch + Cache API), encodes the corpus in batches
// (posting progress), builds an Exact index, saves it to IndexedDB and answers searches.
// Bundled with tslate/web and onnxruntime-web by scripts/build-web.mjs.
import { ColBERT, configureWebRuntime, Exact, openIndex, saveIndex } from "../../src/web/index.ts";

configureWebRuntime({ wasmPaths: "/ort/" });
let model = null;
let index = null;
let docs = new Map();

const now = () => performance.now();

async function build({ model: m, corpus }) {
  const t0 = now();
  model = await ColBERT.fromPretrained(m.hubId, { endpoint: m.endpoint });
  const t1 = now();
  docs = new Map(corpus.map((d) => [d.id, d]));
  const name = `demo:${m.hubId}:${corpus.length}`;
  let reopened = false;
  let t2 = t1;
  const timings = { load: t1 - t0, encode: 0, index: 0, save: 0 };
  try {
    index = await openIndex(name);
    reopened = index.size === corpus.length;
  } catch {
    index = null;
  }
  if (!reopened) {
    index = new Exact();
    let encodeMs = 0;
    let indexMs = 0;
    const batch = 16;
    for (let i = 0; i < corpus.length; i += batch) {
      const part = corpus.slice(i, i + batch);
      const a = now();
      const emb = await model.encode(part.map((d) => `${d.title} ${d.text}`), { isQuery: false });
      const b = now();
      index.add(part.map((d) => d.id), emb);
      encodeMs += b - a;
      indexMs += now() - b;
      postMessage({ type: "progress", stage: "encoding", done: i + part.length, total: corpus.length });
    }
    t2 = now();
    await saveIndex(name, index);
    timings.encode = encodeMs;
    timings.index = indexMs;
  }
  timings.save = now() - t2;
  return {
    documents: index.size,
    reopened,
    threads: globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency) : 1,
    timings,
  };
}

async function search({ text, k }) {
  const t0 = now();
  const [q] = await model.encode([text], { isQuery: true });
  const t1 = now();
  const [hits] = index.search([q], { k });
  const t2 = now();
  return {
    hits: hits.map((h) => ({ ...h, title: docs.get(h.id)?.title ?? h.id, text: docs.get(h.id)?.text ?? "" })),
    timings: { encode: t1 - t0, search: t2 - t1 },
  };
}

onmessage = async ({ data }) => {
  try {
    const out = data.type === "index" ? await build(data) : await search(data);
    postMessage({ type: "done", ...out });
  } catch (e) {
    postMessage({ type: "error", message: String(e?.message ?? e) });
  }
};
