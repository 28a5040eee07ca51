/**
 * A checkpoint's files from the Hugging Face hub (or a mirror) in the browser: `fetch` of
 * the hub's resolve URLs, kept in the Cache API so a second visit loads offline. Which files:
 * config.json (required), the sentence-transformers and tokenizer files when present, the
 * weights (model.safetensors, or the shards of model.safetensors.index.json) and each Dense
 * module listed in modules.json.
 */
import { HubError } from "../util/errors.js";

export interface WebHubOptions {
  /** Hub URL (default https://huggingface.co). */
  readonly endpoint?: string;
  /** Branch, tag or commit (default "main"). */
  readonly revision?: string;
  /** Bearer token for private repositories. */
  readonly token?: string;
  /** Cache API cache to keep the files in (default "tslate-hub"; null: no cache). */
  readonly cacheName?: string | null;
  /** Called after each file with its name and size. */
  readonly onFile?: (file: string, bytes: number) => void;
}

// The slice of the Fetch and Cache APIs used here (no DOM typings in this project).
interface ResponseLike {
  readonly ok: boolean;
  readonly status: number;
  arrayBuffer(): Promise<ArrayBuffer>;
  clone(): ResponseLike;
}
interface CacheLike {
  match(url: string): Promise<ResponseLike | undefined>;
  put(url: string, response: ResponseLike): Promise<void>;
}
interface WebGlobals {
  fetch(url: string, init?: { headers?: Record<string, string> }): Promise<ResponseLike>;
  caches?: { open(name: string): Promise<CacheLike> };
}

const OPTIONAL = [
  "modules.json",
  "config_sentence_transformers.json",
  "sentence_bert_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "vocab.txt",
];

/** Fetches the files of hub repository `repoId` ("org/name"): file name → bytes. */
export async function fetchCheckpointFiles(
  repoId: string,
  options: WebHubOptions = {},
): Promise<Record<string, Uint8Array>> {
  if (typeof repoId !== "string" || !/^[\w.-]+\/[\w.-]+$/.test(repoId)) {
    throw new HubError(`hub id must look like "org/name", got ${JSON.stringify(repoId)}`);
  }
  const g = globalThis as unknown as WebGlobals;
  const endpoint = (options.endpoint ?? "https://huggingface.co").replace(/\/+$/, "");
  const revision = options.revision ?? "main";
  const cacheName = options.cacheName === undefined ? "tslate-hub" : options.cacheName;
  const cache = cacheName && g.caches ? await g.caches.open(cacheName) : null;
  const headers: Record<string, string> = options.token
    ? { authorization: `Bearer ${options.token}` }
    : {};
  const files: Record<string, Uint8Array> = {};

  /** One file's bytes, or null on 404 when `optional`. */
  const get = async (file: string, optional: boolean): Promise<Uint8Array | null> => {
    const url = `${endpoint}/${repoId}/resolve/${encodeURIComponent(revision)}/${file
      .split("/")
      .map(encodeURIComponent)
      .join("/")}`;
    let res = cache ? await cache.match(url) : undefined;
    if (!res) {
      try {
        res = await g.fetch(url, { headers });
      } catch (e) {
        throw new HubError(
          `cannot reach ${endpoint} to download ${file} of ${repoId} (${(e as Error).message}); check the network or the endpoint option`,
        );
      }
      if (res.status === 404 && optional) return null;
      if (!res.ok) {
        throw new HubError(
          `${url}: HTTP ${res.status}${res.status === 401 || res.status === 403 ? " (private repository? pass token)" : ""}; check the id "${repoId}" and revision "${revision}"`,
        );
      }
      if (cache) await cache.put(url, res.clone());
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    files[file] = bytes;
    options.onFile?.(file, bytes.length);
    return bytes;
  };

  await get("config.json", false);
  await Promise.all(OPTIONAL.map((f) => get(f, true)));
  if (!(await get("model.safetensors", true))) {
    const index = await get("model.safetensors.index.json", true);
    if (!index) {
      throw new HubError(
        `${repoId}@${revision} has neither model.safetensors nor model.safetensors.index.json; only safetensors checkpoints load in the browser`,
      );
    }
    const map = JSON.parse(new TextDecoder().decode(index)).weight_map as Record<string, string>;
    for (const shard of new Set(Object.values(map))) await get(shard, false);
  }
  const modules = files["modules.json"]
    ? (JSON.parse(new TextDecoder().decode(files["modules.json"])) as {
        path?: string;
        type?: string;
      }[])
    : [];
  for (const m of modules) {
    if (!m.path || !/Dense/.test(m.type ?? "")) continue;
    await get(`${m.path}/config.json`, false);
    await get(`${m.path}/model.safetensors`, false);
  }
  return files;
}
