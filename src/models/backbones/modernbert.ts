/**
 * ModernBERT (HF ModernBertModel, padded eager path).
 *
 *   x = LN_emb(tok[t])
 *   layer l: h = l == 0 ? x : LN_attn(x);  q,k,v = split(h·Wqkvᵀ);  RoPE(q, k)
 *            x = x + attn(q, k, v; mask_l)·Woᵀ
 *            input, gate = split(LN_mlp(x)·Wiᵀ);  x = x + (act(input)·gate)·Woᵀ
 *   last_hidden_state = LN_final(x)
 *
 * Layer l is global iff l % global_attn_every_n_layers == 0; local layers only attend within
 * |i−j| <= local_attention/2 and use local_rope_theta. Masks are added finfo.min values (never
 * -inf), so a row with no allowed key gets uniform finite weights instead of NaN.
 */
import type { Graph, Value } from "../../graph/ir.js";
import { UnsupportedError } from "../../util/errors.js";
import {
  activation,
  attention,
  FLOAT32_MIN,
  type HfConfig,
  linear,
  maskBias,
  ropeInverseFrequencies,
  seqLength,
  splitHeads,
  type WeightLoader,
} from "./common.js";
import type { BackboneBuilder, BackboneInputs, BackboneOutputs } from "./types.js";

export { ropeInverseFrequencies };

function ropeThetas(config: HfConfig): { global: number; local: number } {
  // transformers >= 5 writes rope_parameters per layer type; older configs the two keys.
  const rp = config.raw.rope_parameters as Record<string, { rope_theta?: unknown }> | undefined;
  if (rp && typeof rp === "object") {
    const full = rp.full_attention?.rope_theta;
    const sliding = rp.sliding_attention?.rope_theta;
    if (typeof full === "number" && typeof sliding === "number")
      return { global: full, local: sliding };
  }
  const global = config.num("global_rope_theta", 160000);
  return { global, local: config.num("local_rope_theta", 10000) };
}

function layerIsLocal(config: HfConfig, l: number, every: number): boolean {
  const types = config.raw.layer_types;
  if (Array.isArray(types) && types.length > l) return types[l] === "sliding_attention";
  return l % every !== 0;
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
  const eps = config.num("norm_eps", 1e-5);
  const every = config.int("global_attn_every_n_layers", 3);
  const window = config.int("local_attention", 128);
  const act = config.str("hidden_activation", "gelu");
  const normBias = config.bool("norm_bias", false);
  const attnBias = config.bool("attention_bias", false);
  const mlpBias = config.bool("mlp_bias", false);
  if (H % heads !== 0 || (H / heads) % 2 !== 0) {
    throw new UnsupportedError(
      `${config.path}: hidden_size ${H} / num_attention_heads ${heads} must be an even head size`,
    );
  }
  const hd = H / heads;
  const thetas = ropeThetas(config);

  const norm = (name: string, v: Value) =>
    g.layerNorm(v, w.get(`${name}.weight`, [H]), normBias ? w.get(`${name}.bias`, [H]) : null, eps);
  const lin = (name: string, v: Value, out: number, inp: number, bias: boolean) =>
    linear(g, v, w.get(`${name}.weight`, [out, inp]), bias ? w.get(`${name}.bias`, [out]) : null);

  let x = norm(
    "embeddings.norm",
    g.gather(w.get("embeddings.tok_embeddings.weight", [vocab, H]), inputs.inputIds),
  );
  const hiddenStates = [x];

  // Positions 0..L-1 and the |i-j| <= window/2 test, shared by all layers.
  const L = seqLength(g, inputs.inputIds);
  const positions = g.range(g.ints(0), L, g.ints(1));
  const posF = g.unsqueeze(g.cast(positions, "float32"), [1]);
  const rope = new Map<number, { cos: Value; sin: Value }>();
  const ropeFor = (theta: number) => {
    let r = rope.get(theta);
    if (!r) {
      const invFreq = g.constant(ropeInverseFrequencies(theta, hd), { shape: [1, hd / 2] });
      const ang = g.mul(posF, invFreq);
      const emb = g.concat([ang, ang], -1); // [seq, hd]
      r = { cos: g.unary("Cos", emb), sin: g.unary("Sin", emb) };
      rope.set(theta, r);
    }
    return r;
  };
  const applyRope = (u: Value, r: { cos: Value; sin: Value }) => {
    const [u1, u2] = g.split(u, [hd / 2, hd / 2], -1);
    const rotated = g.concat([g.unary("Neg", u2), u1], -1);
    return g.add(g.mul(u, r.cos), g.mul(rotated, r.sin));
  };
  const globalBias = maskBias(g, inputs.attentionMask);
  let localBias: Value | null = null;
  const localMask = () => {
    if (!localBias) {
      const dist = g.unary("Abs", g.sub(g.unsqueeze(positions, [1]), g.unsqueeze(positions, [0])));
      const inWindow = g.lessOrEqual(dist, Math.floor(window / 2));
      localBias = g.where(inWindow, globalBias, FLOAT32_MIN); // [batch, 1, seq, seq]
    }
    return localBias;
  };

  for (let l = 0; l < layers; l++) {
    const p = `layers.${l}`;
    const local = layerIsLocal(config, l, every);
    // HF: layer 0 has no attention norm (Identity).
    const h = l === 0 ? x : norm(`${p}.attn_norm`, x);
    const [q, k, v] = g.split(lin(`${p}.attn.Wqkv`, h, 3 * H, H, attnBias), [H, H, H], -1);
    const r = ropeFor(local ? thetas.local : thetas.global);
    const q4 = applyRope(splitHeads(g, q, heads, hd), r);
    const k4 = applyRope(splitHeads(g, k, heads, hd), r);
    const ctx = attention(
      g,
      q4,
      k4,
      splitHeads(g, v, heads, hd),
      local ? localMask() : globalBias,
      hd,
    );
    x = g.add(x, lin(`${p}.attn.Wo`, ctx, H, H, attnBias));
    const [input, gate] = g.split(
      lin(`${p}.mlp.Wi`, norm(`${p}.mlp_norm`, x), 2 * I, H, mlpBias),
      [I, I],
      -1,
    );
    x = g.add(x, lin(`${p}.mlp.Wo`, g.mul(activation(g, input, act, config), gate), H, I, mlpBias));
    hiddenStates.push(x);
  }
  return { lastHiddenState: norm("final_norm", x), hiddenStates };
}

export const modernBert: BackboneBuilder = {
  probeTensor: "embeddings.tok_embeddings.weight",
  hiddenSize: (config) => config.int("hidden_size"),
  usesTokenTypeIds: () => false,
  // RoPE has no table; longer inputs than max_position_embeddings run but were never trained.
  maxSequenceLength: () => null,
  build,
};
