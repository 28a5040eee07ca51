/**
 * Saving a ColBERT in PyLate's layout (Node only: writes files, each atomically). Loadable by
 * `pylate.models.ColBERT(dir)` and by `ColBERT.fromPretrained(dir)`. Reached from
 * `ColBERT.save` through a dynamic import, so that the in-memory loading path imports no
 * Node built-in.
 */
import { copyFileSync, mkdirSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import { type TensorToWrite, type WeightStore, writeSafetensors } from "../io/safetensors.js";
import { fsyncDir, writeFileAtomic } from "../util/atomic.js";
import type { CheckpointDescription, DenseWeights } from "./checkpoint.js";
import { type ColBERTConfig, colbertConfigToJson } from "./config.js";
import { type DenseLayer, denseLayerConfig } from "./dense.js";
import { joinPath } from "./source.js";
import type { ColBERTTokenizer } from "./tokenizer.js";

/** What save needs of a model. */
export interface SavableModel {
  readonly config: ColBERTConfig;
  readonly tokenizer: ColBERTTokenizer;
  readonly checkpoint: CheckpointDescription;
  readonly denseLayers: readonly DenseLayer[];
  readonly weights: WeightStore;
}

export interface SaveOptions {
  /** Backbone tensors to write instead of the loaded ones (trained parameters). */
  weights?: Record<string, TensorToWrite>;
  /** A trained linear projection that replaces the whole Dense chain. */
  dense?: DenseWeights;
}

const FLOAT_DTYPES = new Set(["F32", "F16", "BF16"]);

/** Writes `model` into `dir` in PyLate's layout. */
export function saveColBERT(model: SavableModel, dir: string, options: SaveOptions = {}): void {
  const out = resolve(dir);
  const layers: readonly DenseLayer[] = options.dense
    ? [{ ...options.dense, activation: "Identity", useResidual: false }]
    : model.denseLayers;
  const denseDirs = layers.map((_, i) => `${i + 1}_Dense`);
  mkdirSync(out, { recursive: true });
  for (const d of denseDirs) mkdirSync(join(out, d), { recursive: true });
  const json = (name: string, value: unknown) =>
    writeFileAtomic(join(out, name), `${JSON.stringify(value, null, 2)}\n`);
  const checkpoint = model.checkpoint;

  json("modules.json", [
    { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
    ...denseDirs.map((path, i) => ({
      idx: i + 1,
      name: String(i + 1),
      path,
      type: "pylate.models.Dense.Dense",
    })),
  ]);
  const { __version__, ...rest } = checkpoint.sentenceTransformersConfig;
  json(
    "config_sentence_transformers.json",
    colbertConfigToJson(model.config, {
      model_type: "ColBERT",
      ...(__version__ ? { __version__ } : {}),
      ...rest,
    }),
  );
  json("sentence_bert_config.json", {
    max_seq_length: model.config.documentLength - 1,
    do_lower_case: model.tokenizer.doLowerCase,
  });
  const backboneConfig: Record<string, unknown> = { ...checkpoint.backboneConfig };
  if (checkpoint.layout === "stanford") {
    // Loaded through AutoModel, saved by the backbone class itself (as PyLate does).
    backboneConfig.architectures = ["BertModel"];
  }
  json("config.json", backboneConfig);

  // Backbone weights: copy the file when it is one unmodified, unprefixed safetensors file on
  // disk, else rewrite the tensors under their bare backbone names.
  const weights = model.weights;
  const src = weights.source;
  if (
    !options.weights &&
    weights.prefix === "" &&
    !weights.inMemory &&
    src.endsWith(".safetensors") &&
    checkpoint.layout === "pylate"
  ) {
    copyFileAtomic(src, join(out, "model.safetensors"));
  } else {
    const tensors: Record<string, TensorToWrite> = {};
    for (const name of weights.names()) {
      if (name.startsWith("linear.")) continue;
      const override = options.weights?.[name];
      if (override) {
        tensors[name] = override;
        continue;
      }
      // Non-float buffers (BERT's int64 position_ids in older checkpoints) are not weights:
      // PyLate's save_pretrained does not write them either.
      if (!FLOAT_DTYPES.has(weights.info(name).dtype)) continue;
      tensors[name] = { data: weights.readFloat32(name), shape: weights.info(name).shape };
    }
    writeSafetensors(join(out, "model.safetensors"), tensors, { format: "pt" });
  }

  // Tokenizer files: tokenizer.json with the prefix tokens, pad token = [MASK] (colbert.py).
  const tokenizer = model.tokenizer;
  json("tokenizer.json", tokenizer.tokenizerJson);
  const maskName = tokenizer.idToToken(tokenizer.padTokenId);
  json("tokenizer_config.json", { ...tokenizer.tokenizerConfig, pad_token: maskName });
  json("special_tokens_map.json", { ...checkpoint.specialTokensMap, pad_token: maskName });
  const vocab = joinPath(checkpoint.backboneFolder, "vocab.txt");
  if (checkpoint.source.has(vocab) && checkpoint.source.where(vocab) !== join(out, "vocab.txt")) {
    writeFileAtomic(join(out, "vocab.txt"), checkpoint.source.readBytes(vocab));
  }

  layers.forEach((layer, i) => {
    json(`${denseDirs[i]}/config.json`, denseLayerConfig(layer));
    const shape = [layer.outFeatures, layer.inFeatures];
    const tensors: Record<string, TensorToWrite> = {
      "linear.weight": { data: layer.weight, shape },
    };
    if (layer.bias) tensors["linear.bias"] = { data: layer.bias, shape: [layer.outFeatures] };
    if (layer.residualWeight) tensors["residual.weight"] = { data: layer.residualWeight, shape };
    writeSafetensors(join(out, denseDirs[i], "model.safetensors"), tensors, { format: "pt" });
  });
}

/** Copies a file next to the target, then renames it into place (atomic). */
function copyFileAtomic(src: string, target: string): void {
  const tmp = `${target}.${process.pid}.tmp`;
  copyFileSync(src, tmp);
  renameSync(tmp, target);
  fsyncDir(resolve(target, ".."));
}
