/**
 * BERT (HF BertModel) and XLM-RoBERTa / RoBERTa (same encoder, different position ids).
 *
 *   x0 = LN(word[t] + type[s] + pos[p])
 *   per layer: a = LN(attn(x)·Woᵀ + bo + x);  x = LN(act(a·W1ᵀ + b1)·W2ᵀ + b2 + a)
 *
 * BERT positions are 0..L-1. RoBERTa positions count the non-pad tokens from padding_idx + 1
 * (create_position_ids_from_input_ids): p = cumsum(t != pad)·(t != pad) + pad.
 */
import type { Graph, Value } from "../../graph/ir.js";
import { UnsupportedError } from "../../util/errors.js";
import {
  activation,
  attention,
  type HfConfig,
  linear,
  maskBias,
  splitHeads,
  type WeightLoader,
} from "./common.js";
import type { BackboneBuilder, BackboneInputs, BackboneOutputs } from "./types.js";

function dims(config: HfConfig) {
  const hidden = config.int("hidden_size");
  const heads = config.int("num_attention_heads");
  if (hidden % heads !== 0) {
    throw new UnsupportedError(
      `${config.path}: hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}`,
    );
  }
  return {
    hidden,
    heads,
    headDim: hidden / heads,
    layers: config.int("num_hidden_layers"),
    intermediate: config.int("intermediate_size"),
    vocab: config.int("vocab_size"),
    maxPositions: config.int("max_position_embeddings"),
    typeVocab: config.has("type_vocab_size") ? config.int("type_vocab_size") : 0,
    eps: config.num("layer_norm_eps", 1e-12),
    act: config.str("hidden_act", "gelu"),
  };
}

function buildEncoder(
  g: Graph,
  inputs: BackboneInputs,
  config: HfConfig,
  w: WeightLoader,
  positionIds: (g: Graph, inputs: BackboneInputs, pos: Value) => Value,
): BackboneOutputs {
  const d = dims(config);
  const pet = config.str("position_embedding_type", "absolute");
  if (pet !== "absolute") {
    throw new UnsupportedError(
      `${config.path}: position_embedding_type ${JSON.stringify(pet)} is not supported (only "absolute")`,
    );
  }
  const H = d.hidden;
  const word = w.get("embeddings.word_embeddings.weight", [d.vocab, H]);
  const pos = w.get("embeddings.position_embeddings.weight", [d.maxPositions, H]);
  let x = g.add(g.gather(word, inputs.inputIds), positionIds(g, inputs, pos));
  if (d.typeVocab > 0) {
    const types = w.get("embeddings.token_type_embeddings.weight", [d.typeVocab, H]);
    // Without token_type_ids HF uses type 0 everywhere.
    x = g.add(
      x,
      inputs.tokenTypeIds ? g.gather(types, inputs.tokenTypeIds) : g.gather(types, g.ints(0)),
    );
  }
  const ln = (prefix: string, v: Value) =>
    g.layerNorm(v, w.get(`${prefix}.weight`, [H]), w.get(`${prefix}.bias`, [H]), d.eps);
  x = ln("embeddings.LayerNorm", x);
  const hiddenStates = [x];
  const bias = maskBias(g, inputs.attentionMask);
  for (let l = 0; l < d.layers; l++) {
    const p = `encoder.layer.${l}`;
    const lin = (name: string, v: Value, out: number, inp: number) =>
      linear(g, v, w.get(`${p}.${name}.weight`, [out, inp]), w.get(`${p}.${name}.bias`, [out]));
    const heads = (name: string) => splitHeads(g, lin(name, x, H, H), d.heads, d.headDim);
    const q = heads("attention.self.query");
    const k = heads("attention.self.key");
    const v = heads("attention.self.value");
    const ctx = attention(g, q, k, v, bias, d.headDim);
    const a = ln(
      `${p}.attention.output.LayerNorm`,
      g.add(lin("attention.output.dense", ctx, H, H), x),
    );
    const inter = activation(g, lin("intermediate.dense", a, d.intermediate, H), d.act, config);
    x = ln(`${p}.output.LayerNorm`, g.add(lin("output.dense", inter, H, d.intermediate), a));
    hiddenStates.push(x);
  }
  return { lastHiddenState: x, hiddenStates };
}

export const bert: BackboneBuilder = {
  probeTensor: "embeddings.word_embeddings.weight",
  hiddenSize: (config) => config.int("hidden_size"),
  usesTokenTypeIds: (config) => config.has("type_vocab_size") && config.int("type_vocab_size") > 0,
  maxSequenceLength: (config) => config.int("max_position_embeddings"),
  build: (g, inputs, config, w) =>
    buildEncoder(g, inputs, config, w, (g, inp, pos) =>
      // positions 0..L-1: the first L rows of the table.
      g.slice(pos, [0], g.shapeOf(inp.inputIds, 1, 2), [0]),
    ),
};

function robertaPad(config: HfConfig): number {
  const pad = config.raw.pad_token_id ?? 1;
  if (typeof pad !== "number" || !Number.isInteger(pad) || pad < 0) {
    throw new UnsupportedError(
      `${config.path}: pad_token_id ${JSON.stringify(pad)} is not a token id`,
    );
  }
  return pad;
}

export const xlmRoberta: BackboneBuilder = {
  probeTensor: "embeddings.word_embeddings.weight",
  hiddenSize: (config) => config.int("hidden_size"),
  // XLM-R/RoBERTa tokenizers do not return token_type_ids; type 0 is used.
  usesTokenTypeIds: () => false,
  // Positions run from pad + 1 to pad + L.
  maxSequenceLength: (config) => config.int("max_position_embeddings") - robertaPad(config) - 1,
  build: (g, inputs, config, w) => {
    const pad = robertaPad(config);
    return buildEncoder(g, inputs, config, w, (g, inp, pos) => {
      const notPad = g.cast(g.unary("Not", g.equal(inp.inputIds, pad)), "int64");
      const count = g.op("CumSum", [notPad, g.ints(1)]);
      return g.gather(pos, g.add(g.mul(count, notPad), pad));
    });
  },
};
