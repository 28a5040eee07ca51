/**
 * The BERT-base-shaped PyLate checkpoint the benchmarks load (12 layers, hidden 768, 12 heads,
 * FFN 3072, random weights, ~110M parameters), written once into a directory and reused.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type TensorToWrite, writeSafetensors } from "../../src/io/safetensors.js";
import { DEFAULT_COLBERT_CONFIG } from "../../src/models/config.js";
import { ColBERTTokenizer } from "../../src/models/tokenizer.js";
import { mulberry32 } from "../../src/util/random.js";

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const shared = join(repo, "..", "shared");

/** Writes a BERT-base-shaped PyLate checkpoint with random weights (cached in tmpdir). */
export function buildCheckpoint(dir: string): void {
  if (existsSync(join(dir, "1_Dense", "model.safetensors"))) return;
  mkdirSync(join(dir, "1_Dense"), { recursive: true });
  const H = 768;
  const F = 3072;
  const layers = 12;
  const tokJson = JSON.parse(
    readFileSync(join(shared, "tokenizers/bert-base-uncased/tokenizer.json"), "utf8"),
  );
  const tokConfig = JSON.parse(
    readFileSync(join(shared, "tokenizers/bert-base-uncased/tokenizer_config.json"), "utf8"),
  );
  const tok = new ColBERTTokenizer(tokJson, tokConfig, DEFAULT_COLBERT_CONFIG);
  const vocab = tok.vocabSize;
  const rand = mulberry32(1);
  const tensors: Record<string, TensorToWrite> = {};
  const normal = (shape: number[], std = 0.02): TensorToWrite => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    // Sum of 3 uniforms: close enough to a normal for timing purposes.
    const s = std * 2;
    for (let i = 0; i < n; i++) data[i] = (rand() + rand() + rand() - 1.5) * s;
    return { data, shape };
  };
  const fill = (shape: number[], v: number): TensorToWrite => ({
    data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(v),
    shape,
  });
  tensors["embeddings.word_embeddings.weight"] = normal([vocab, H]);
  tensors["embeddings.position_embeddings.weight"] = normal([512, H]);
  tensors["embeddings.token_type_embeddings.weight"] = normal([2, H]);
  tensors["embeddings.LayerNorm.weight"] = fill([H], 1);
  tensors["embeddings.LayerNorm.bias"] = fill([H], 0);
  for (let l = 0; l < layers; l++) {
    const p = `encoder.layer.${l}.`;
    for (const n of ["query", "key", "value"]) {
      tensors[`${p}attention.self.${n}.weight`] = normal([H, H]);
      tensors[`${p}attention.self.${n}.bias`] = normal([H]);
    }
    tensors[`${p}attention.output.dense.weight`] = normal([H, H]);
    tensors[`${p}attention.output.dense.bias`] = normal([H]);
    tensors[`${p}attention.output.LayerNorm.weight`] = fill([H], 1);
    tensors[`${p}attention.output.LayerNorm.bias`] = fill([H], 0);
    tensors[`${p}intermediate.dense.weight`] = normal([F, H]);
    tensors[`${p}intermediate.dense.bias`] = normal([F]);
    tensors[`${p}output.dense.weight`] = normal([H, F]);
    tensors[`${p}output.dense.bias`] = normal([H]);
    tensors[`${p}output.LayerNorm.weight`] = fill([H], 1);
    tensors[`${p}output.LayerNorm.bias`] = fill([H], 0);
  }
  writeSafetensors(join(dir, "model.safetensors"), tensors);
  writeSafetensors(join(dir, "1_Dense", "model.safetensors"), {
    "linear.weight": normal([128, H], 0.05),
  });
  const json = (name: string, v: unknown) =>
    writeFileSync(join(dir, name), JSON.stringify(v, null, 2));
  json("config.json", {
    architectures: ["BertModel"],
    model_type: "bert",
    hidden_size: H,
    num_hidden_layers: layers,
    num_attention_heads: 12,
    intermediate_size: F,
    hidden_act: "gelu",
    layer_norm_eps: 1e-12,
    max_position_embeddings: 512,
    type_vocab_size: 2,
    vocab_size: vocab,
    position_embedding_type: "absolute",
    hidden_dropout_prob: 0,
    attention_probs_dropout_prob: 0,
  });
  json("1_Dense/config.json", {
    in_features: H,
    out_features: 128,
    bias: false,
    activation_function: "torch.nn.modules.linear.Identity",
    use_residual: false,
  });
  json("modules.json", [
    { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
    { idx: 1, name: "1", path: "1_Dense", type: "pylate.models.Dense.Dense" },
  ]);
  json("config_sentence_transformers.json", {
    model_type: "ColBERT",
    query_prefix: "[Q] ",
    document_prefix: "[D] ",
  });
  json("tokenizer.json", tok.tokenizerJson);
  json("tokenizer_config.json", { ...tokConfig, mask_token: "[MASK]", pad_token: "[MASK]" });
}
