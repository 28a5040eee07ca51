/**
 * JinaBERT (jina-bert-v2, jina-colbert-v1): config.json says model_type "bert" with
 * position_embedding_type "alibi". BERT's embeddings (without a position table), self-attention
 * and post-norm, plus
 *   - symmetric ALiBi: head h adds −m_h·|i − j| to its attention scores, m_h the ALiBi slopes
 *     (geometric for a power-of-two head count, interleaved otherwise, as in the paper);
 *   - a gated MLP: [g, u] = split(x·W_gatedᵀ);  x = LN(act(g)·u·W_oᵀ + b_o + x), act = GELU
 *     (feed_forward_type "geglu") or ReLU ("reglu"); tensors mlp.gated_layers, mlp.wo,
 *     mlp.layernorm.
 */
import type { Graph, Value } from "../../graph/ir.js";
import { UnsupportedError } from "../../util/errors.js";
import {
  activation,
  attention,
  type HfConfig,
  linear,
  maskBias,
  seqLength,
  splitHeads,
  type WeightLoader,
} from "./common.js";
import type { BackboneBuilder, BackboneInputs, BackboneOutputs } from "./types.js";

export function isJinaBert(config: HfConfig): boolean {
  return config.raw.position_embedding_type === "alibi";
}

/** ALiBi head slopes (Press et al.), in float64 like the Python list they come from. */
export function alibiSlopes(heads: number): number[] {
  const powerOf2 = (n: number) => {
    const start = 2 ** -(2 ** -(Math.log2(n) - 3));
    return Array.from({ length: n }, (_, i) => start * start ** i);
  };
  if (Number.isInteger(Math.log2(heads))) return powerOf2(heads);
  const closest = 2 ** Math.floor(Math.log2(heads));
  return [
    ...powerOf2(closest),
    ...alibiSlopes(2 * closest)
      .filter((_, i) => i % 2 === 0)
      .slice(0, heads - closest),
  ];
}

function build(
  g: Graph,
  inputs: BackboneInputs,
  config: HfConfig,
  w: WeightLoader,
): BackboneOutputs {
  const H = config.int("hidden_size");
  const heads = config.int("num_attention_heads");
  const layers = config.int("num_hidden_layers");
  const I = config.int("intermediate_size");
  const vocab = config.int("vocab_size");
  const eps = config.num("layer_norm_eps", 1e-12);
  const ff = config.str("feed_forward_type", "original");
  if (ff !== "geglu" && ff !== "reglu") {
    throw new UnsupportedError(
      `${config.path}: JinaBERT feed_forward_type ${JSON.stringify(ff)} is not supported (geglu, reglu)`,
    );
  }
  if (H % heads !== 0) {
    throw new UnsupportedError(
      `${config.path}: hidden_size ${H} is not a multiple of num_attention_heads ${heads}`,
    );
  }
  const hd = H / heads;
  const ln = (name: string, v: Value) =>
    g.layerNorm(v, w.get(`${name}.weight`, [H]), w.get(`${name}.bias`, [H]), eps);
  const lin = (name: string, v: Value, out: number, inp: number, bias = true) =>
    linear(g, v, w.get(`${name}.weight`, [out, inp]), bias ? w.get(`${name}.bias`, [out]) : null);

  let x = g.gather(w.get("embeddings.word_embeddings.weight", [vocab, H]), inputs.inputIds);
  const typeVocab = config.has("type_vocab_size") ? config.int("type_vocab_size") : 0;
  if (typeVocab > 0) {
    const types = w.get("embeddings.token_type_embeddings.weight", [typeVocab, H]);
    x = g.add(
      x,
      inputs.tokenTypeIds ? g.gather(types, inputs.tokenTypeIds) : g.gather(types, g.ints(0)),
    );
  }
  x = ln("embeddings.LayerNorm", x);
  const hiddenStates = [x];

  // bias[b, h, i, j] = mask_b[j] − m_h·|i − j|, built once for all layers.
  const pos = g.cast(g.range(g.ints(0), seqLength(g, inputs.inputIds), g.ints(1)), "float32");
  const dist = g.unary("Abs", g.sub(g.unsqueeze(pos, [1]), g.unsqueeze(pos, [0])));
  const slopes = g.constant(
    Float32Array.from(alibiSlopes(heads), (m) => -m),
    {
      shape: [heads, 1, 1],
    },
  );
  const bias = g.add(maskBias(g, inputs.attentionMask), g.mul(slopes, dist));

  for (let l = 0; l < layers; l++) {
    const p = `encoder.layer.${l}`;
    const head = (name: string) =>
      splitHeads(g, lin(`${p}.attention.self.${name}`, x, H, H), heads, hd);
    const ctx = attention(g, head("query"), head("key"), head("value"), bias, hd);
    const a = ln(
      `${p}.attention.output.LayerNorm`,
      g.add(lin(`${p}.attention.output.dense`, ctx, H, H), x),
    );
    const [gated, nonGated] = g.split(lin(`${p}.mlp.gated_layers`, a, 2 * I, H, false), [I, I], -1);
    const act = activation(g, gated, ff === "geglu" ? "gelu" : "relu", config);
    x = ln(`${p}.mlp.layernorm`, g.add(lin(`${p}.mlp.wo`, g.mul(act, nonGated), H, I), a));
    hiddenStates.push(x);
  }
  return { lastHiddenState: x, hiddenStates };
}

export const jinaBert: BackboneBuilder = {
  probeTensor: "embeddings.word_embeddings.weight",
  hiddenSize: (config) => config.int("hidden_size"),
  usesTokenTypeIds: (config) => config.has("type_vocab_size") && config.int("type_vocab_size") > 0,
  // ALiBi has no table: longer inputs than max_position_embeddings run (the paper's point).
  maxSequenceLength: () => null,
  build,
};
