/**
 * PyLate's Dense modules (pylate/models/Dense.py, a sentence-transformers Dense plus
 * `use_residual`): per module, y = act(x·Wᵀ + b) (+ x, or + x·Rᵀ when in != out, if
 * use_residual). `activation_function` is the torch class name stored in `1_Dense/config.json`;
 * the element-wise activations torch.nn offers with default arguments are supported.
 *
 * Runs of Identity modules are one linear map and are folded into one matrix; a module with a
 * non-linear activation stays a layer of its own in the graph.
 */
import type { Graph, Value } from "../graph/ir.js";
import { ConfigError, FileFormatError, ShapeError, UnsupportedError } from "../util/errors.js";
import type { DenseWeights } from "./backbones/encoder.js";
import { readJson } from "./json.js";
import { type CheckpointSource, joinPath } from "./source.js";

/** Names of the torch.nn activations a Dense module may use (called with default arguments). */
export type DenseActivation =
  | "Identity"
  | "Tanh"
  | "ReLU"
  | "GELU"
  | "Sigmoid"
  | "SiLU"
  | "LeakyReLU"
  | "ELU"
  | "CELU"
  | "SELU"
  | "Softplus"
  | "Mish"
  | "Softsign"
  | "Tanhshrink"
  | "Hardtanh"
  | "ReLU6"
  | "Hardsigmoid"
  | "Hardswish"
  | "LogSigmoid";

/** One Dense module as saved: weights, activation and residual. */
export interface DenseLayer extends DenseWeights {
  activation: DenseActivation;
  /** PyLate's use_residual: add the module's input (through `residualWeight` when in != out). */
  useResidual: boolean;
  /** [outFeatures, inFeatures], present iff useResidual and in != out. */
  residualWeight?: Float32Array;
}

// torch constants (torch/nn/modules/activation.py defaults).
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;
const SOFTPLUS_THRESHOLD = 20;

/** softplus(x) = log(1 + exp(x)), and x itself above torch's threshold 20. */
function softplus(g: Graph, x: Value): Value {
  const soft = g.unary("Log", g.add(g.unary("Exp", x), 1));
  return g.where(g.lessOrEqual(x, SOFTPLUS_THRESHOLD), soft, x);
}
/** exp(x) - 1 where x <= 0, else x (ELU with alpha 1). */
function elu(g: Graph, x: Value): Value {
  return g.where(g.lessOrEqual(x, 0), g.sub(g.unary("Exp", x), 1), x);
}
function clamp(g: Graph, x: Value, lo: number, hi: number): Value {
  return g.where(g.less(x, lo), lo, g.where(g.lessOrEqual(x, hi), x, hi));
}

/** Each activation written in the graph IR (float32; torch formulas with default arguments). */
const ACTIVATIONS: Record<DenseActivation, (g: Graph, x: Value) => Value> = {
  Identity: (_g, x) => x,
  Tanh: (g, x) => g.unary("Tanh", x),
  ReLU: (g, x) => g.unary("Relu", x),
  Sigmoid: (g, x) => g.unary("Sigmoid", x),
  // approximate="none": x·Φ(x) = 0.5·x·(1 + erf(x/√2))
  GELU: (g, x) => g.mul(g.mul(x, 0.5), g.add(g.unary("Erf", g.mul(x, Math.SQRT1_2)), 1)),
  SiLU: (g, x) => g.mul(x, g.unary("Sigmoid", x)),
  LeakyReLU: (g, x) => g.max(x, g.mul(x, 0.01)), // negative_slope 0.01
  ELU: elu, // alpha 1
  CELU: elu, // alpha 1: same as ELU
  SELU: (g, x) =>
    g.mul(
      g.where(g.lessOrEqual(x, 0), g.mul(g.sub(g.unary("Exp", x), 1), SELU_ALPHA), x),
      SELU_SCALE,
    ),
  Softplus: softplus,
  Mish: (g, x) => g.mul(x, g.unary("Tanh", softplus(g, x))),
  Softsign: (g, x) => g.div(x, g.add(g.unary("Abs", x), 1)),
  Tanhshrink: (g, x) => g.sub(x, g.unary("Tanh", x)),
  Hardtanh: (g, x) => clamp(g, x, -1, 1),
  ReLU6: (g, x) => clamp(g, x, 0, 6),
  Hardsigmoid: (g, x) => g.div(clamp(g, g.add(x, 3), 0, 6), 6),
  Hardswish: (g, x) => g.div(g.mul(x, clamp(g, g.add(x, 3), 0, 6)), 6),
  LogSigmoid: (g, x) => g.unary("Neg", softplus(g, g.unary("Neg", x))),
};

export const DENSE_ACTIVATIONS: readonly DenseActivation[] = Object.freeze(
  Object.keys(ACTIVATIONS) as DenseActivation[],
);

/**
 * The name sentence-transformers writes (`fullname(module)`): torch defines Identity in
 * torch.nn.modules.linear and the others in torch.nn.modules.activation.
 */
export function activationFullName(a: DenseActivation): string {
  return a === "Identity" ? "torch.nn.modules.linear.Identity" : `torch.nn.modules.activation.${a}`;
}

/**
 * Parses `activation_function` as sentence-transformers' import_from_string would resolve it:
 * "torch.nn.modules.activation.Tanh", "torch.nn.Tanh" or a bare "Tanh".
 */
export function parseActivation(name: unknown, where: string): DenseActivation {
  const m =
    typeof name === "string"
      ? /^(?:torch\.nn\.(?:modules\.(?:activation|linear)\.)?)?([A-Za-z0-9]+)$/.exec(name)
      : null;
  const short = m?.[1] as DenseActivation | undefined;
  if (!short || !(short in ACTIVATIONS)) {
    throw new UnsupportedError(
      `${where}: Dense activation_function ${JSON.stringify(name)} is not supported; supported: ${DENSE_ACTIVATIONS.map((a) => `torch.nn.${a}`).join(", ")} (default arguments)`,
    );
  }
  return short;
}

/** Reads one Dense module folder (PyLate's or sentence-transformers' Dense). */
export function readDenseModule(source: CheckpointSource, folder: string): DenseLayer {
  const configPath = source.where(joinPath(folder, "config.json"));
  const config = readJson(source, joinPath(folder, "config.json"), "Dense config");
  const inF = config.in_features;
  const outF = config.out_features;
  if (!Number.isInteger(inF) || !Number.isInteger(outF)) {
    throw new FileFormatError(configPath, "in_features and out_features must be integers");
  }
  // PyLate and sentence-transformers always write the key; when it is absent we take PyLate's
  // Dense default (Identity).
  const activation = parseActivation(
    config.activation_function ?? "torch.nn.modules.linear.Identity",
    configPath,
  );
  const store = source.openSafetensors(folder);
  if (!store) {
    throw new FileFormatError(
      source.where(joinPath(folder, "model.safetensors")),
      source.has(joinPath(folder, "pytorch_model.bin"))
        ? "only pytorch_model.bin found: convert the Dense weights to safetensors (PyLate saves safetensors by default)"
        : "missing Dense weights",
      { missing: true },
    );
  }
  const weight = store.readFloat32(
    store.expect("linear.weight", [outF as number, inF as number]).name,
  );
  let bias: Float32Array | undefined;
  if (config.bias !== false && store.has("linear.bias")) {
    bias = store.readFloat32(store.expect("linear.bias", [outF as number]).name);
  }
  const useResidual = config.use_residual === true;
  const residualWeight =
    useResidual && inF !== outF
      ? store.readFloat32(store.expect("residual.weight", [outF as number, inF as number]).name)
      : undefined;
  return {
    weight,
    bias,
    outFeatures: outF as number,
    inFeatures: inF as number,
    activation,
    useResidual,
    residualWeight,
  };
}

/** The `1_Dense/config.json` PyLate writes for a layer. */
export function denseLayerConfig(layer: DenseLayer): Record<string, unknown> {
  return {
    in_features: layer.inFeatures,
    out_features: layer.outFeatures,
    bias: layer.bias !== undefined,
    activation_function: activationFullName(layer.activation),
    use_residual: layer.useResidual,
  };
}

function identityMatrix(n: number): Float32Array {
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

/** An Identity layer as one linear map: W (+ I or + R when residual), b. */
function linearPart(layer: DenseLayer): DenseWeights {
  if (!layer.useResidual) {
    return {
      weight: layer.weight,
      bias: layer.bias,
      outFeatures: layer.outFeatures,
      inFeatures: layer.inFeatures,
    };
  }
  const residual = layer.residualWeight ?? identityMatrix(layer.inFeatures);
  const w = new Float32Array(layer.weight.length);
  for (let i = 0; i < w.length; i++) w[i] = layer.weight[i] + residual[i];
  return { ...layer, weight: w, bias: layer.bias };
}

/**
 * Composes two linear maps, `second ∘ first`: W = W2·W1, b = W2·b1 + b2 (float64 sums).
 */
export function composeDense(first: DenseWeights, second: DenseWeights): DenseWeights {
  if (second.inFeatures !== first.outFeatures) {
    throw new ConfigError(
      `Dense modules do not chain: ${first.inFeatures}->${first.outFeatures} then ${second.inFeatures}->${second.outFeatures}`,
    );
  }
  const O = second.outFeatures;
  const M = first.outFeatures;
  const I = first.inFeatures;
  const w = new Float64Array(O * I);
  for (let o = 0; o < O; o++) {
    for (let m = 0; m < M; m++) {
      const a = second.weight[o * M + m];
      if (a === 0) continue;
      for (let i = 0; i < I; i++) w[o * I + i] += a * first.weight[m * I + i];
    }
  }
  let bias: Float32Array | undefined;
  if (first.bias || second.bias) {
    bias = new Float32Array(O);
    for (let o = 0; o < O; o++) {
      let s = second.bias ? second.bias[o] : 0;
      if (first.bias) for (let m = 0; m < M; m++) s += second.weight[o * M + m] * first.bias[m];
      bias[o] = s;
    }
  }
  return { weight: Float32Array.from(w), outFeatures: O, inFeatures: I, bias };
}

/** Checks that the layers chain (each in_features = previous out_features). */
export function checkDenseChain(layers: readonly DenseLayer[], where: string): void {
  for (let i = 1; i < layers.length; i++) {
    if (layers[i].inFeatures !== layers[i - 1].outFeatures) {
      throw new ConfigError(
        `${where}: Dense modules do not chain: module ${i} gives ${layers[i - 1].outFeatures} features, module ${i + 1} takes ${layers[i].inFeatures}`,
      );
    }
  }
}

/** The chain as one linear map when every module is Identity, else null. */
export function foldLinearChain(layers: readonly DenseLayer[]): DenseWeights | null {
  if (layers.length === 0 || layers.some((l) => l.activation !== "Identity")) return null;
  let out = linearPart(layers[0]);
  for (let i = 1; i < layers.length; i++) out = composeDense(out, linearPart(layers[i]));
  return out;
}

/**
 * What the graph computes: runs of Identity modules folded into one linear map, non-linear
 * modules kept whole. A fully linear chain becomes one Identity layer.
 */
export function planDenseChain(layers: readonly DenseLayer[]): DenseLayer[] {
  const plan: DenseLayer[] = [];
  let run: DenseWeights | null = null;
  const flush = () => {
    if (run) plan.push({ ...run, activation: "Identity", useResidual: false });
    run = null;
  };
  for (const layer of layers) {
    if (layer.activation === "Identity") {
      const lin = linearPart(layer);
      run = run ? composeDense(run, lin) : lin;
    } else {
      flush();
      plan.push(layer);
    }
  }
  flush();
  return plan;
}

function transposed(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
  return t;
}

/** Appends the planned Dense layers to `x` ([..., inFeatures]) in the graph. */
export function buildDenseChain(g: Graph, x: Value, layers: readonly DenseLayer[]): Value {
  let y = x;
  layers.forEach((layer, i) => {
    const last = y.shape[y.shape.length - 1];
    if (last !== layer.inFeatures) {
      throw new ShapeError(
        `Dense layer ${i + 1} takes ${layer.inFeatures} features, its input has ${String(last)}`,
      );
    }
    const input = y;
    const wt = transposed(layer.weight, layer.outFeatures, layer.inFeatures);
    y = g.matmul(input, g.constant(wt, { shape: [layer.inFeatures, layer.outFeatures] }));
    if (layer.bias) y = g.add(y, g.constant(layer.bias));
    y = ACTIVATIONS[layer.activation](g, y);
    if (layer.useResidual) {
      const r = layer.residualWeight
        ? g.matmul(
            input,
            g.constant(transposed(layer.residualWeight, layer.outFeatures, layer.inFeatures), {
              shape: [layer.inFeatures, layer.outFeatures],
            }),
          )
        : input;
      y = g.add(y, r);
    }
  });
  return y;
}
