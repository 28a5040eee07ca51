/**
 * Jina's XLM-RoBERTa "flash" variant (jina-colbert-v2, jina-embeddings-v3): config.json says
 * model_type "xlm-roberta" with position_embedding_type "rotary"; tensors are named after
 * flash-attn's BERT (mixer.Wqkv, mixer.out_proj, mlp.fc1/fc2, norm1/norm2, emb_ln).
 *
 *   x0 = LN_emb(word[t] + type[0])                      (no position table)
 *   per layer: q,k,v = split(x·Wqkvᵀ + b);  RoPE(q, k) at positions 0..L-1
 *              a = LN1(x + attn(q, k, v)·Woᵀ + bo);  x = LN2(a + fc2(act(fc1(a))))
 *
 * Post-norm like BERT; RoPE over the whole head (rotary_emb_dim = head size), rotate-half
 * (non-interleaved) pairs, base rotary_emb_base. Padded positions come after the real
 * tokens, so the real tokens' positions equal those of the unpadded (flash varlen) run.
 */
import type { Graph } from "../../graph/ir.js";
import { UnsupportedError } from "../../util/errors.js";
import {
  activation,
  applyRope,
  attention,
  type HfConfig,
  linear,
  maskBias,
  ropeTables,
  splitHeads,
  type WeightLoader,
} from "./common.js";
import type { BackboneBuilder, BackboneInputs, BackboneOutputs } from "./types.js";

/** True for the rotary (flash) layout of an "xlm-roberta" config. */
export function isXlmRobertaFlash(config: HfConfig): boolean {
  return config.raw.position_embedding_type === "rotary";
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
  const eps = config.num("layer_norm_eps", 1e-5);
  const act = config.str("hidden_act", "gelu");
  const theta = config.num("rotary_emb_base", 10000);
  if (H % heads !== 0 || (H / heads) % 2 !== 0) {
    throw new UnsupportedError(
      `${config.path}: hidden_size ${H} / num_attention_heads ${heads} must be an even head size`,
    );
  }
  const hd = H / heads;
  const unsupported = (what: string) => {
    throw new UnsupportedError(`${config.path}: ${what} is not supported by tslate's XLM-R flash`);
  };
  if (config.raw.rotary_emb_interleaved === true) unsupported("rotary_emb_interleaved: true");
  if (config.has("rotary_emb_dim") && config.raw.rotary_emb_dim !== hd) {
    unsupported(`rotary_emb_dim ${config.raw.rotary_emb_dim} (only the head size ${hd})`);
  }
  if (config.has("rotary_emb_scale_base")) unsupported("rotary_emb_scale_base");
  if (config.raw.last_layer_subset === true) unsupported("last_layer_subset: true");
  if (config.raw.lora_adaptations && config.raw.load_trained_adapters === true) {
    unsupported("LoRA task adapters (load_trained_adapters: true)");
  }

  const ln = (name: string, v: ReturnType<Graph["add"]>) =>
    g.layerNorm(v, w.get(`${name}.weight`, [H]), w.get(`${name}.bias`, [H]), eps);
  const lin = (name: string, v: ReturnType<Graph["add"]>, out: number, inp: number) =>
    linear(g, v, w.get(`${name}.weight`, [out, inp]), w.get(`${name}.bias`, [out]));

  let x = g.gather(w.get("embeddings.word_embeddings.weight", [vocab, H]), inputs.inputIds);
  const typeVocab = config.has("type_vocab_size") ? config.int("type_vocab_size") : 0;
  if (typeVocab > 0) {
    const types = w.get("embeddings.token_type_embeddings.weight", [typeVocab, H]);
    x = g.add(x, g.gather(types, g.ints(0))); // XLM-R has no token types: type 0 everywhere
  }
  x = ln("emb_ln", x);
  const hiddenStates = [x];
  const rope = ropeTables(g, inputs.inputIds, theta, hd);
  const bias = maskBias(g, inputs.attentionMask);
  for (let l = 0; l < layers; l++) {
    const p = `encoder.layers.${l}`;
    const [q, k, v] = g.split(lin(`${p}.mixer.Wqkv`, x, 3 * H, H), [H, H, H], -1);
    const ctx = attention(
      g,
      applyRope(g, splitHeads(g, q, heads, hd), rope),
      applyRope(g, splitHeads(g, k, heads, hd), rope),
      splitHeads(g, v, heads, hd),
      bias,
      hd,
    );
    const a = ln(`${p}.norm1`, g.add(x, lin(`${p}.mixer.out_proj`, ctx, H, H)));
    const inter = activation(g, lin(`${p}.mlp.fc1`, a, I, H), act, config);
    x = ln(`${p}.norm2`, g.add(a, lin(`${p}.mlp.fc2`, inter, H, I)));
    hiddenStates.push(x);
  }
  return { lastHiddenState: x, hiddenStates };
}

export const xlmRobertaFlash: BackboneBuilder = {
  probeTensor: "embeddings.word_embeddings.weight",
  hiddenSize: (config) => config.int("hidden_size"),
  usesTokenTypeIds: () => false,
  // RoPE has no table (max_position_embeddings 8194 is the trained length, not a limit).
  maxSequenceLength: () => null,
  build,
};
