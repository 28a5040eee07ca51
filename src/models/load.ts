/**
 * Building a ColBERT from a described checkpoint, in memory: settings resolved as PyLate's
 * constructor does, tokenizer (prefix tokens added), the Dense chain (a new seeded Dense when
 * the checkpoint has none), resized word embeddings and config overrides kept in memory (no
 * temporary files), then the onnxruntime session. No file-system access here: a directory
 * source reads its files before (models/directory.ts), a memory source holds them.
 */
import { type TensorToWrite, WeightStore } from "../io/safetensors.js";
import { InvalidArgumentError } from "../util/errors.js";
import { mulberry32 } from "../util/random.js";
import { HfConfig } from "./backbones/common.js";
import { createEncoder, type EncoderSession } from "./backbones/encoder.js";
import { type CheckpointDescription, type DenseWeights, describeCheckpoint } from "./checkpoint.js";
import { type ColBERTConfig, resolveColBERTConfig } from "./config.js";
import { buildDenseChain, type DenseLayer, foldLinearChain, planDenseChain } from "./dense.js";
import { backboneOverrides, type ColBERTOptions, checkLoadOptions } from "./options.js";
import { type CheckpointSource, joinPath } from "./source.js";
import { ColBERTTokenizer } from "./tokenizer.js";

/** Everything a ColBERT instance holds. */
export interface ColBERTParts {
  config: ColBERTConfig;
  tokenizer: ColBERTTokenizer;
  checkpoint: CheckpointDescription;
  denseLayers: DenseLayer[];
  weights: WeightStore;
  encoder: EncoderSession;
  truncateDim: number | null;
  warn: (message: string) => void;
  /** The chain as one linear map, null when it has activations. */
  folded: DenseWeights | null;
}

export function defaultWarn(message: string): void {
  console.warn(`tslate: ${message}`);
}

/** Reads `source` and builds the model's parts (options as `ColBERT.fromPretrained`). */
export async function loadColBERT(
  source: CheckpointSource,
  options: ColBERTOptions = {},
): Promise<ColBERTParts> {
  checkLoadOptions(options);
  const warn = options.warn ?? defaultWarn;
  const checkpoint = describeCheckpoint(source);
  const dropped = checkpoint.ignoredModules.filter((t) => !t.endsWith("Normalize"));
  if (dropped.length > 0) {
    warn(
      `${source.where("modules.json")}: ignoring ${dropped.join(", ")}: a ColBERT keeps only the Transformer and its Dense modules, as PyLate does`,
    );
  }
  const config = resolveColBERTConfig(options, checkpoint.colbert);
  if (options.tokenizerKwargs) {
    checkpoint.tokenizerConfig = { ...checkpoint.tokenizerConfig, ...options.tokenizerKwargs };
  }
  const configOverrides = backboneOverrides(options, checkpoint.backboneConfig);
  const tokenizer = new ColBERTTokenizer(
    checkpoint.tokenizerJson,
    checkpoint.tokenizerConfig,
    config,
    checkpoint.specialTokensMap,
    { doLowerCase: checkpoint.doLowerCase },
  );
  const hidden = checkpoint.backboneConfig.hidden_size as number;

  const denseLayers = [...checkpoint.denseLayers];
  const newDense = (inFeatures: number, outFeatures: number): DenseLayer => {
    // torch nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)).
    const rand = mulberry32(options.seed ?? 42);
    const bound = 1 / Math.sqrt(inFeatures);
    const weight = new Float32Array(outFeatures * inFeatures).map(() => (rand() * 2 - 1) * bound);
    const bias = options.bias
      ? new Float32Array(outFeatures).map(() => (rand() * 2 - 1) * bound)
      : undefined;
    return { weight, bias, outFeatures, inFeatures, activation: "Identity", useResidual: false };
  };
  if (denseLayers.length === 0) {
    const size = options.embeddingSize ?? 128;
    warn(
      `${source.root} has no projection layer: adding a new Dense(${hidden} -> ${size}) with random weights, as PyLate does. Train or fine-tune the model before relying on its embeddings.`,
    );
    denseLayers.push(newDense(hidden, size));
  } else if (
    options.embeddingSize !== undefined &&
    denseLayers[denseLayers.length - 1].outFeatures !== options.embeddingSize
  ) {
    const last = denseLayers[denseLayers.length - 1].outFeatures;
    warn(
      `the checkpoint's projection gives ${last} dimensions and embeddingSize is ${options.embeddingSize}: appending a new Dense(${last} -> ${options.embeddingSize}) with random weights, as PyLate does. Train it before relying on its embeddings.`,
    );
    denseLayers.push(newDense(last, options.embeddingSize));
  }
  const configPath = source.where(joinPath(checkpoint.backboneFolder, "config.json"));
  if (denseLayers[0].inFeatures !== hidden) {
    throw new InvalidArgumentError(
      `the first Dense module takes ${denseLayers[0].inFeatures} features but the backbone's hidden_size is ${hidden} (${configPath})`,
    );
  }

  let weights = checkpoint.weights.withPrefix(checkpoint.weightPrefix);
  checkpoint.backboneConfig = { ...checkpoint.backboneConfig, ...configOverrides };
  const resized =
    tokenizer.addedTokens.length > 0
      ? resizeWordEmbeddings(weights, checkpoint.wordEmbeddingName, tokenizer.vocabSize)
      : null;
  if (resized) {
    warn(
      `added ${tokenizer.addedTokens.map((t) => JSON.stringify(t.token)).join(", ")} to the vocabulary; their embeddings start at the mean of the existing ones`,
    );
    // The resized tensor lives in memory; every other tensor still points into the
    // checkpoint's files (or bytes).
    const replacement = WeightStore.fromTensors(
      { [weights.prefix + resized.name]: resized.tensor },
      `${resized.name} (resized in memory)`,
    );
    weights = weights.withOverrides(replacement);
    checkpoint.backboneConfig.vocab_size = tokenizer.vocabSize;
  }

  // A linear chain is one matrix in the graph (the training graph reads the same `dense`);
  // a chain with activations is built layer by layer.
  const folded = foldLinearChain(denseLayers);
  const plan = folded ? [] : planDenseChain(denseLayers);
  const encoder = await createEncoder(
    new HfConfig(checkpoint.backboneConfig, configPath),
    weights,
    {
      weightPrefix: weights.prefix,
      dense: folded,
      head: folded
        ? null
        : {
            outputDim: plan[plan.length - 1].outFeatures,
            build: (g, hiddenState) => buildDenseChain(g, hiddenState, plan),
          },
      normalize: false,
      threads: options.threads,
    },
  );
  return {
    config,
    tokenizer,
    checkpoint,
    denseLayers,
    weights,
    encoder,
    truncateDim: options.truncateDim ?? null,
    warn,
    folded,
  };
}

/**
 * When prefix tokens were added to the vocabulary, the word-embedding matrix needs rows for
 * them. HF's resize_token_embeddings initialises new rows around the mean of the old ones;
 * we use the mean itself (deterministic).
 */
function resizeWordEmbeddings(
  weights: WeightStore,
  name: string,
  vocabSize: number,
): { name: string; tensor: TensorToWrite } | null {
  const [rows, cols] = weights.info(name).shape;
  if (rows >= vocabSize) return null;
  const old = weights.readFloat32(name);
  const data = new Float32Array(vocabSize * cols);
  data.set(old);
  const mean = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mean[c] += old[r * cols + c];
  for (let r = rows; r < vocabSize; r++) {
    for (let c = 0; c < cols; c++) data[r * cols + c] = mean[c] / rows;
  }
  return { name, tensor: { data, shape: [vocabSize, cols] } };
}
