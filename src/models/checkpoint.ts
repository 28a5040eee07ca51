/**
 * Reading the three checkpoint layouts a ColBERT can come in, into one description:
 *   1. PyLate / sentence-transformers: modules.json, config_sentence_transformers.json,
 *      backbone at the Transformer module's path, Dense modules in `1_Dense/`, ...
 *   2. Stanford ColBERT (HF_ColBERT): one safetensors with `bert.*` and `linear.weight`,
 *      [unused0]/[unused1] markers and lengths in `artifact.metadata`.
 *   3. A plain Hugging Face encoder: no projection; PyLate adds a fresh Dense.
 */
import type { WeightStore } from "../io/safetensors.js";
import { FileFormatError, UnsupportedError } from "../util/errors.js";
import { type DenseWeights, detectWeightPrefix } from "./backbones/encoder.js";
import { BACKBONES } from "./backbones/registry.js";
import { type ColBERTConfig, colbertConfigFromJson } from "./config.js";
import { checkDenseChain, type DenseLayer, readDenseModule } from "./dense.js";
import { readJson, readJsonIfExists } from "./json.js";
import { type CheckpointSource, joinPath } from "./source.js";

/** The projection after the backbone: y = x·Wᵀ + b, W is [outFeatures, inFeatures]. */
export type { DenseWeights };

export type CheckpointLayout = "pylate" | "stanford" | "huggingface";

export interface CheckpointDescription {
  layout: CheckpointLayout;
  /** Where the files were read from (save() copies vocab.txt from there). */
  source: CheckpointSource;
  /** The checkpoint's directory, or "<files>" (for messages). */
  dir: string;
  /** The backbone's folder, relative to the checkpoint root ("" = the root). */
  backboneFolder: string;
  /** Directory holding the backbone's config.json and tokenizer files (for messages). */
  backboneDir: string;
  backboneConfig: Record<string, unknown>;
  weights: WeightStore;
  /** Name prefix of the backbone tensors inside `weights` ("bert." for Stanford). */
  weightPrefix: string;
  /** The backbone's word-embedding tensor (without prefix). */
  wordEmbeddingName: string;
  /** The Dense modules in order (Stanford: its `linear`); empty when the checkpoint has none. */
  denseLayers: DenseLayer[];
  /** modules.json types PyLate drops on load (neither Transformer nor Dense, e.g. Pooling). */
  ignoredModules: string[];
  /** sentence_bert_config.json's do_lower_case: texts are lowercased before tokenizing. */
  doLowerCase: boolean;
  /** ColBERT settings found in the checkpoint (config_sentence_transformers.json, metadata). */
  colbert: Partial<ColBERTConfig>;
  /** The raw config_sentence_transformers.json, kept so that save() preserves unknown keys. */
  sentenceTransformersConfig: Record<string, unknown>;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  specialTokensMap: Record<string, unknown>;
}

/** The backbone builder for config.json's model_type (the registry is the one list). */
function backboneFor(config: Record<string, unknown>, path: string) {
  const type = config.model_type;
  const builder = typeof type === "string" ? BACKBONES[type] : undefined;
  if (!builder) {
    throw new UnsupportedError(
      `${path}: model_type ${JSON.stringify(type)} is not supported (supported: ${Object.keys(BACKBONES).join(", ")})`,
    );
  }
  return builder;
}

function openWeights(source: CheckpointSource, folder: string): WeightStore {
  const store = source.openSafetensors(folder);
  if (store) return store;
  throw new FileFormatError(
    source.where(joinPath(folder, "model.safetensors")),
    source.has(joinPath(folder, "pytorch_model.bin"))
      ? "only pytorch_model.bin found; tslate reads safetensors"
      : "missing the backbone weights (model.safetensors or model.safetensors.index.json)",
    { missing: true },
  );
}

/** Reads a checkpoint (a directory, or files in memory) and says what it is. */
export function describeCheckpoint(source: CheckpointSource): CheckpointDescription {
  const modulesPath = "modules.json";
  let layout: CheckpointLayout;
  let backboneFolder = "";
  const denseFolders: string[] = [];
  const ignoredModules: string[] = [];
  if (source.has(modulesPath)) {
    layout = "pylate";
    let modules: unknown;
    try {
      modules = JSON.parse(new TextDecoder().decode(source.readBytes(modulesPath)));
    } catch (err) {
      throw new FileFormatError(
        source.where(modulesPath),
        `not valid JSON (${(err as Error).message})`,
      );
    }
    if (!Array.isArray(modules) || modules.length === 0) {
      throw new FileFormatError(source.where(modulesPath), "must be a non-empty array of modules");
    }
    const sorted = [...modules].sort((a, b) => (a.idx ?? 0) - (b.idx ?? 0));
    sorted.forEach((m: { type?: unknown; path?: unknown }, i: number) => {
      const type = String(m.type ?? "");
      const path = typeof m.path === "string" ? m.path : "";
      if (i === 0) {
        if (!type.endsWith("Transformer")) {
          throw new UnsupportedError(
            `${source.where(modulesPath)}: the first module must be a Transformer, got "${type}"`,
          );
        }
        backboneFolder = joinPath(path);
      } else if (type.endsWith("Dense")) {
        denseFolders.push(joinPath(path));
      } else {
        // colbert.py _load_sbert_model keeps only the Transformer and the Dense modules
        // (a sentence-transformers model's Pooling, Normalize, ... are dropped).
        ignoredModules.push(type);
      }
    });
  } else {
    layout = "huggingface";
  }

  const backboneConfigPath = joinPath(backboneFolder, "config.json");
  const backboneConfig = readJson(source, backboneConfigPath, "backbone config.json");
  const architectures = backboneConfig.architectures;
  // colbert.py: when fewer than two modules load (no Dense next to the Transformer) and the
  // config says HF_ColBERT, the checkpoint is a Stanford one, whatever modules.json says
  // (mxbai-colbert-large-v1 ships a Transformer-only modules.json next to linear.weight).
  if (
    (layout === "huggingface" || denseFolders.length === 0) &&
    Array.isArray(architectures) &&
    architectures[0] === "HF_ColBERT"
  ) {
    layout = "stanford";
    ignoredModules.length = 0;
  }
  const weights = openWeights(source, backboneFolder);
  // The word-embedding tensor names the backbone and tells its prefix ("bert." for Stanford).
  const wordEmbeddingName = backboneFor(
    backboneConfig,
    source.where(backboneConfigPath),
  ).probeTensor;
  const weightPrefix = detectWeightPrefix(weights, wordEmbeddingName);

  const denseLayers = denseFolders.map((f) => readDenseModule(source, f));
  checkDenseChain(denseLayers, source.where(modulesPath));

  // sentence-transformers reads sentence_bert_config.json from the Transformer's folder.
  const sbPath = joinPath(backboneFolder, "sentence_bert_config.json");
  const sbConfig = readJsonIfExists(source, sbPath, "sentence_bert_config.json");
  if (sbConfig.do_lower_case !== undefined && typeof sbConfig.do_lower_case !== "boolean") {
    throw new FileFormatError(
      source.where(sbPath),
      `do_lower_case must be true or false, got ${JSON.stringify(sbConfig.do_lower_case)}`,
    );
  }
  const doLowerCase = sbConfig.do_lower_case === true;

  const stPath = "config_sentence_transformers.json";
  const stConfig = readJsonIfExists(source, stPath, "config_sentence_transformers.json");
  const colbert = colbertConfigFromJson(stConfig, source.where(stPath));
  if (layout === "stanford") {
    const info = weights.expect("linear.weight", [
      weights.info("linear.weight").shape[0],
      backboneConfig.hidden_size as number,
    ]);
    denseLayers.push({
      weight: weights.readFloat32(info.name),
      outFeatures: info.shape[0],
      inFeatures: info.shape[1],
      activation: "Identity",
      useResidual: false,
    });
    const meta = readJsonIfExists(source, "artifact.metadata", "artifact.metadata");
    // colbert.py: prefixes from the metadata or [unused0]/[unused1]; lengths and the
    // attention rule from the metadata when present.
    colbert.queryPrefix =
      typeof meta.query_token_id === "string" ? meta.query_token_id : "[unused0]";
    colbert.documentPrefix =
      typeof meta.doc_token_id === "string" ? meta.doc_token_id : "[unused1]";
    if (Number.isInteger(meta.query_maxlen)) colbert.queryLength = meta.query_maxlen as number;
    if (Number.isInteger(meta.doc_maxlen)) colbert.documentLength = meta.doc_maxlen as number;
    if (typeof meta.attend_to_mask_tokens === "boolean") {
      colbert.attendToExpansionTokens = meta.attend_to_mask_tokens;
    }
  }

  const tokenizerPath = joinPath(backboneFolder, "tokenizer.json");
  if (!source.has(tokenizerPath)) {
    throw new FileFormatError(
      source.where(tokenizerPath),
      "missing tokenizer.json (tslate needs the fast-tokenizer file; save the tokenizer with transformers >= 4 to create it)",
      { missing: true },
    );
  }
  return {
    layout,
    source,
    dir: source.root,
    backboneFolder,
    backboneDir: backboneFolder === "" ? source.root : source.where(backboneFolder),
    backboneConfig,
    weights,
    weightPrefix,
    wordEmbeddingName,
    denseLayers,
    ignoredModules,
    doLowerCase,
    colbert,
    sentenceTransformersConfig: stConfig,
    tokenizerJson: readJson(source, tokenizerPath, "tokenizer.json"),
    tokenizerConfig: readJsonIfExists(
      source,
      joinPath(backboneFolder, "tokenizer_config.json"),
      "tokenizer_config.json",
    ),
    specialTokensMap: readJsonIfExists(
      source,
      joinPath(backboneFolder, "special_tokens_map.json"),
      "special_tokens_map.json",
    ),
  };
}
