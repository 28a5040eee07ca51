// The demo's page: UI only. The model, the encoding and the index live in the worker
// (dist/web/demo-worker.js, bundled by scripts/build-web.mjs from examples/web/worker.js).
const $ = (id) => document.getElementById(id);
const worker = new Worker("/dist/web/demo-worker.js", { type: "module" });
let pending = null;

function call(message) {
  return new Promise((resolve, reject) => {
    pending = { resolve, reject };
    worker.postMessage(message);
  });
}

worker.onmessage = ({ data }) => {
  if (data.type === "progress") {
    $("progress").value = data.done / data.total;
    $("status").textContent = `${data.stage}: ${data.done} / ${data.total}`;
  } else if (data.type === "done") {
    pending?.resolve(data);
  } else if (data.type === "error") {
    pending?.reject(new Error(data.message));
  }
};

const ms = (x) => `${x.toFixed(0)} ms`;

$("load").onclick = async () => {
  $("error").textContent = "";
  $("load").disabled = true;
  try {
    const useHub = document.querySelector('input[name="model"]:checked').value === "hub";
    const model = useHub
      ? { hubId: $("hubId").value.trim(), endpoint: "https://huggingface.co" }
      : { hubId: "fixtures/bert-tiny-colbert", endpoint: `${location.origin}/hub` };
    const corpus = await (await fetch("/corpus.json")).json();
    const r = await call({ type: "index", model, corpus });
    $("status").textContent =
      `indexed ${r.documents} documents (${r.threads} WASM thread${r.threads > 1 ? "s" : ""}${r.reopened ? ", reopened from IndexedDB" : ""})`;
    $("timings").textContent =
      `model load ${ms(r.timings.load)} · encode ${ms(r.timings.encode)} (${(r.documents / (r.timings.encode / 1000)).toFixed(1)} docs/s) · index ${ms(r.timings.index)} · save ${ms(r.timings.save)}`;
    $("query").disabled = false;
    $("search").disabled = false;
    $("query").focus();
  } catch (e) {
    $("error").textContent = String(e.message ?? e);
  } finally {
    $("load").disabled = false;
  }
};

$("searchForm").onsubmit = async (ev) => {
  ev.preventDefault();
  const text = $("query").value.trim();
  if (!text) return;
  try {
    const r = await call({ type: "search", text, k: 10 });
    $("timings").textContent = `query encode ${ms(r.timings.encode)} · search ${ms(r.timings.search)}`;
    $("results").replaceChildren(
      ...r.hits.map((h) => {
        const li = document.createElement("li");
        li.innerHTML = `<span class="score">${h.score.toFixed(3)}</span> <span class="title"></span><br /><span class="text"></span>`;
        li.querySelector(".title").textContent = h.title;
        li.querySelector(".text").textContent = `${h.text.slice(0, 220)}…`;
        return li;
      }),
    );
    document.body.dataset.searched = String(r.hits.length);
  } catch (e) {
    $("error").textContent = String(e.message ?? e);
  }
};
