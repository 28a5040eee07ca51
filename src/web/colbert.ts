/**
 * ColBERT in the browser: the library's model class, loaded from bytes (`fromFiles`) or from
 * the hub by URL (`fromPretrained("org/name")`: fetch + Cache API, see hub.ts) instead of the
 * Node file system. Encoding is the same code on onnxruntime-web, with PyLate's semantics.
 */
import { ColBERT as ColBERTModel } from "../models/colbert.js";
import type { ColBERTOptions } from "../models/options.js";
import type { CheckpointFiles } from "../models/source.js";
import { fetchCheckpointFiles, type WebHubOptions } from "./hub.js";

export type WebColBERTOptions = Omit<ColBERTOptions, "endpoint" | "revision" | "token"> &
  WebHubOptions;

/** A loaded model (the library's class: encode, embeddingDim, ...). */
export type ColBERT = ColBERTModel;

/** The browser's constructors of a ColBERT model. */
export const ColBERT = {
  /** From the checkpoint's files as bytes: { "config.json": bytes, "model.safetensors": ... }. */
  fromFiles(files: CheckpointFiles, options: ColBERTOptions = {}): Promise<ColBERTModel> {
    return ColBERTModel.fromFiles(files, options);
  },

  /**
   * Downloads `repoId`'s files from the hub (kept in the Cache API: a second load works
   * offline) and builds the model in memory. `endpoint` points at a mirror or a local server.
   */
  async fromPretrained(repoId: string, options: WebColBERTOptions = {}): Promise<ColBERTModel> {
    const { endpoint, revision, token, cacheName, onFile, ...modelOptions } = options;
    const files = await fetchCheckpointFiles(repoId, {
      endpoint,
      revision,
      token,
      cacheName,
      onFile,
    });
    return ColBERTModel.fromFiles(files, modelOptions);
  },
};
