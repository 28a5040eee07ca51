import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Graph } from "../../src/graph/ir.js";
import { GraphSession } from "../../src/graph/session.js";
import { WeightStore, writeSafetensors } from "../../src/io/safetensors.js";
import { ColBERT } from "../../src/models/colbert.js";
import {
  buildDenseChain,
  DENSE_ACTIVATIONS,
  type DenseActivation,
  planDenseChain,
} from "../../src/models/dense.js";
import type { Matrix } from "../../src/util/matrix.js";
import { mulberry32 } from "../../src/util/random.js";
import { modelTestContext } from "../helpers/models.js";
import { sharedPath } from "../helpers/shared.js";

// float32 graph against float64 references: |a - r| <= TOL * max(1, |r|).
const TOL = 2e-6;
// Whole-model outputs: 64-term float32 dot products through one to three layers.
const EMB_TOL = 1e-5;

const { tmp, load } = modelTestContext("dense");

/** erf by its Taylor series (|x| <= 4, ~1e-11 here) and ±1 beyond (|1 - erf(4)| < 2e-8). */
function erf(x: number): number {
  if (Math.abs(x) > 4) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));
const clamp = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);

/** torch.nn activations with default arguments (torch documentation formulas). */
const REFERENCE: Record<DenseActivation, (x: number) => number> = {
  Identity: (x) => x,
  Tanh: Math.tanh,
  ReLU: (x) => Math.max(0, x),
  Sigmoid: sigmoid,
  GELU: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  SiLU: (x) => x * sigmoid(x),
  LeakyReLU: (x) => (x >= 0 ? x : 0.01 * x),
  ELU: (x) => (x > 0 ? x : Math.expm1(x)),
  CELU: (x) => Math.max(0, x) + Math.min(0, Math.expm1(x)),
  SELU: (x) => 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * Math.expm1(x)),
  Softplus: softplus,
  Mish: (x) => x * Math.tanh(softplus(x)),
  Softsign: (x) => x / (1 + Math.abs(x)),
  Tanhshrink: (x) => x - Math.tanh(x),
  Hardtanh: (x) => clamp(x, -1, 1),
  ReLU6: (x) => clamp(x, 0, 6),
  Hardsigmoid: (x) => clamp(x / 6 + 0.5, 0, 1),
  Hardswish: (x) => (x * clamp(x + 3, 0, 6)) / 6,
  LogSigmoid: (x) => (x < 0 ? x - Math.log1p(Math.exp(x)) : -Math.log1p(Math.exp(-x))),
};

test("every supported activation computes torch's function in the graph", async () => {
  const xs = [
    -30, -20.5, -6, -3.5, -3, -2.5, -1, -0.5, -1e-3, 0, 1e-3, 0.5, 1, 2.5, 3, 3.5, 6, 6.5, 19.9,
    20.5, 30,
  ];
  const n = xs.length;
  const identity = new Float32Array(n * n);
  for (let i = 0; i < n; i++) identity[i * n + i] = 1;
  const g = new Graph("activations");
  const x = g.input("x", "float32", [1, n]);
  for (const act of DENSE_ACTIVATIONS) {
    const layer = {
      weight: identity,
      inFeatures: n,
      outFeatures: n,
      activation: act,
      useResidual: false,
    };
    g.output(buildDenseChain(g, x, [layer]), act);
  }
  const session = await GraphSession.create(g, { threads: 1 });
  try {
    const out = await session.run({ x: { data: Float32Array.from(xs), dims: [1, n] } });
    assert.equal(DENSE_ACTIVATIONS.length, Object.keys(REFERENCE).length);
    for (const act of DENSE_ACTIVATIONS) {
      const got = out[act].data as Float32Array;
      xs.forEach((v, i) => {
        const r = REFERENCE[act](v);
        assert.ok(
          Math.abs(got[i] - r) <= TOL * Math.max(1, Math.abs(r)),
          `${act}(${v}) = ${got[i]}, torch gives ${r}`,
        );
      });
    }
  } finally {
    await session.dispose();
  }
});

// ---- whole models: copies of the bert-tiny fixture with other Dense modules ----

const FIXTURE = sharedPath("fixtures/bert-tiny-colbert");
const fixtureW = WeightStore.open(join(FIXTURE, "1_Dense")).readFloat32("linear.weight"); // [32, 64]
const TEXTS = ["late interaction, token by token.", "Paris is the capital of France", "a"];

interface LayerSpec {
  activation: string;
  weight: Float32Array;
  out: number;
  inp: number;
  bias?: Float32Array;
  useResidual?: boolean;
  residual?: Float32Array;
}

/** A copy of the fixture whose Dense modules are `layers` (in order). */
function makeModel(name: string, layers: LayerSpec[]): string {
  const dir = join(tmp, name);
  cpSync(FIXTURE, dir, { recursive: true });
  rmSync(join(dir, "1_Dense"), { recursive: true });
  const modules: unknown[] = [
    { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
  ];
  layers.forEach((l, i) => {
    const sub = join(dir, `${i + 1}_Dense`);
    mkdirSync(sub);
    writeFileSync(
      join(sub, "config.json"),
      JSON.stringify({
        in_features: l.inp,
        out_features: l.out,
        bias: l.bias !== undefined,
        activation_function: l.activation,
        use_residual: l.useResidual ?? false,
      }),
    );
    const tensors: Record<string, { data: Float32Array; shape: number[] }> = {
      "linear.weight": { data: l.weight, shape: [l.out, l.inp] },
    };
    if (l.bias) tensors["linear.bias"] = { data: l.bias, shape: [l.out] };
    if (l.residual) tensors["residual.weight"] = { data: l.residual, shape: [l.out, l.inp] };
    writeSafetensors(join(sub, "model.safetensors"), tensors, { format: "pt" });
    modules.push({
      idx: i + 1,
      name: String(i + 1),
      path: `${i + 1}_Dense`,
      type: "pylate.models.Dense.Dense",
    });
  });
  writeFileSync(join(dir, "modules.json"), JSON.stringify(modules));
  return dir;
}

function randomMatrix(seed: number, out: number, inp: number, scale = 0.3): Float32Array {
  const rand = mulberry32(seed);
  return new Float32Array(out * inp).map(() => (rand() * 2 - 1) * scale);
}

/** y = act(W x + b) (+ x, or + R x) on every row of `xs` (float64). */
function applyLayer(xs: number[][], l: LayerSpec): number[][] {
  const act = REFERENCE[l.activation.split(".").pop() as DenseActivation];
  return xs.map((x) =>
    Array.from({ length: l.out }, (_, o) => {
      let s = l.bias ? l.bias[o] : 0;
      for (let i = 0; i < l.inp; i++) s += l.weight[o * l.inp + i] * x[i];
      let y = act(s);
      if (l.useResidual) {
        if (l.residual) for (let i = 0; i < l.inp; i++) y += l.residual[o * l.inp + i] * x[i];
        else y += x[o];
      }
      return y;
    }),
  );
}

function rowsOf(m: Matrix): number[][] {
  return Array.from({ length: m.rows }, (_, r) =>
    Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols)),
  );
}

function assertClose(actual: Matrix, expected: number[][], what: string): void {
  assert.equal(actual.rows, expected.length, `${what}: rows`);
  assert.equal(actual.cols, expected[0].length, `${what}: cols`);
  let worst = 0;
  expected.flat().forEach((e, k) => {
    worst = Math.max(worst, Math.abs(actual.data[k] - e));
  });
  assert.ok(worst <= EMB_TOL, `${what}: max abs diff ${worst} > ${EMB_TOL}`);
}

/** The backbone's last hidden state of the kept tokens: a model whose Dense is I(64). */
async function hiddenStates(isQuery: boolean): Promise<number[][][]> {
  const eye = new Float32Array(64 * 64);
  for (let i = 0; i < 64; i++) eye[i * 64 + i] = 1;
  const dir = existsSync(join(tmp, "hidden"))
    ? join(tmp, "hidden")
    : makeModel("hidden", [
        { activation: "torch.nn.modules.linear.Identity", weight: eye, out: 64, inp: 64 },
      ]);
  const model = await load(dir);
  return (await model.encode(TEXTS, { isQuery, normalizeEmbeddings: false })).map(rowsOf);
}

test("a Tanh Dense (1_Dense/config.json) gives tanh(W x), normalised after", async () => {
  const layer: LayerSpec = {
    activation: "torch.nn.modules.activation.Tanh",
    weight: fixtureW,
    out: 32,
    inp: 64,
  };
  const model = await load(makeModel("tanh", [layer]));
  assert.deepEqual(
    model.denseLayers.map((l) => l.activation),
    ["Tanh"],
  );
  for (const isQuery of [true, false]) {
    const hidden = await hiddenStates(isQuery);
    const raw = await model.encode(TEXTS, { isQuery, normalizeEmbeddings: false });
    const normed = await model.encode(TEXTS, { isQuery });
    hidden.forEach((x, t) => {
      const y = applyLayer(x, layer);
      assertClose(raw[t], y, `text ${t} (isQuery ${isQuery})`);
      const n = y.map((r) => {
        const norm = Math.max(Math.hypot(...r), 1e-12);
        return r.map((v) => v / norm);
      });
      assertClose(normed[t], n, `normalised text ${t}`);
    });
  }
  assert.throws(
    () => model.dense,
    /not one linear map \(1_Dense: Tanh\).*Training such a model is not supported/,
  );
});

test("a GELU layer with a residual projection, then two Identity layers (folded), as PyLate's Dense chain", async () => {
  const layers: LayerSpec[] = [
    {
      activation: "torch.nn.modules.activation.GELU",
      weight: fixtureW,
      out: 32,
      inp: 64,
      bias: randomMatrix(1, 1, 32),
      useResidual: true,
      residual: randomMatrix(2, 32, 64, 0.1),
    },
    {
      activation: "torch.nn.modules.linear.Identity",
      weight: randomMatrix(3, 32, 32),
      out: 32,
      inp: 32,
      bias: randomMatrix(4, 1, 32),
      useResidual: true, // in == out: + x
    },
    { activation: "torch.nn.Identity", weight: randomMatrix(5, 16, 32), out: 16, inp: 32 },
  ];
  const dir = makeModel("chain", layers);
  const model = await load(dir);
  assert.equal(model.embeddingDim, 16);
  // The graph holds the GELU layer, then one folded matrix.
  const plan = planDenseChain(model.denseLayers);
  assert.deepEqual(
    plan.map((l) => [l.activation, l.inFeatures, l.outFeatures]),
    [
      ["GELU", 64, 32],
      ["Identity", 32, 16],
    ],
  );
  const hidden = await hiddenStates(false);
  const raw = await model.encode(TEXTS, { normalizeEmbeddings: false });
  hidden.forEach((x, t) => {
    const y = layers.reduce((h, l) => applyLayer(h, l), x);
    assertClose(raw[t], y, `text ${t}`);
  });

  // save() writes every module back as it was read; both reload to the same embeddings.
  const out = join(tmp, "chain-saved");
  await model.save(out);
  const modules = JSON.parse(readFileSync(join(out, "modules.json"), "utf8"));
  assert.deepEqual(
    modules.map((m: { path: string }) => m.path),
    ["", "1_Dense", "2_Dense", "3_Dense"],
  );
  assert.deepEqual(JSON.parse(readFileSync(join(out, "1_Dense/config.json"), "utf8")), {
    in_features: 64,
    out_features: 32,
    bias: true,
    activation_function: "torch.nn.modules.activation.GELU",
    use_residual: true,
  });
  assert.equal(
    JSON.parse(readFileSync(join(out, "3_Dense/config.json"), "utf8")).activation_function,
    "torch.nn.modules.linear.Identity",
  );
  assert.ok(WeightStore.open(join(out, "1_Dense")).has("residual.weight"));
  const reloaded = await load(out);
  assert.deepEqual(
    await reloaded.encode(TEXTS, { isQuery: true }),
    await model.encode(TEXTS, { isQuery: true }),
  );
});

test("a linear chain is still one matrix (model.dense) with the same embeddings", async () => {
  const layers: LayerSpec[] = [
    { activation: "torch.nn.modules.linear.Identity", weight: fixtureW, out: 32, inp: 64 },
    {
      activation: "torch.nn.modules.linear.Identity",
      weight: randomMatrix(6, 32, 32),
      out: 32,
      inp: 32,
      useResidual: true,
    },
  ];
  const model = await load(makeModel("linear-chain", layers));
  assert.equal(model.dense.inFeatures, 64);
  assert.equal(model.dense.outFeatures, 32);
  const hidden = await hiddenStates(true);
  const raw = await model.encode(TEXTS, { isQuery: true, normalizeEmbeddings: false });
  hidden.forEach((x, t) =>
    assertClose(
      raw[t],
      layers.reduce((h, l) => applyLayer(h, l), x),
      `text ${t}`,
    ),
  );
});

test("unsupported activations and broken chains are clear errors", async () => {
  const softmax = makeModel("softmax", [
    { activation: "torch.nn.modules.activation.Softmax", weight: fixtureW, out: 32, inp: 64 },
  ]);
  await assert.rejects(
    ColBERT.fromPretrained(softmax, { threads: 1 }),
    /1_Dense[/\\]config\.json: Dense activation_function "torch\.nn\.modules\.activation\.Softmax" is not supported; supported: torch\.nn\.Identity, torch\.nn\.Tanh/,
  );
  const broken = makeModel("broken", [
    { activation: "torch.nn.Tanh", weight: fixtureW, out: 32, inp: 64 },
    { activation: "torch.nn.Tanh", weight: randomMatrix(7, 8, 16), out: 8, inp: 16 },
  ]);
  await assert.rejects(
    ColBERT.fromPretrained(broken, { threads: 1 }),
    /modules\.json: Dense modules do not chain: module 1 gives 32 features, module 2 takes 16/,
  );
});

test("embeddingSize different from the checkpoint's appends a new Dense, as PyLate does", async () => {
  const warnings: string[] = [];
  const model = await load(FIXTURE, { embeddingSize: 16, warn: (m: string) => warnings.push(m) });
  assert.equal(model.embeddingDim, 16);
  assert.equal(model.denseLayers.length, 2);
  assert.match(warnings.join("\n"), /appending a new Dense\(32 -> 16\) with random weights/);
  const [d] = await model.encode(["late interaction"]);
  assert.equal(d.cols, 16);
  const out = join(tmp, "appended");
  await model.save(out);
  const again = await load(out);
  assert.equal(again.denseLayers.length, 2);
  assert.deepEqual(await again.encode(["late interaction"]), [d]);
});

test("a sentence-transformers layout keeps only its Transformer and Dense modules, as PyLate does", async () => {
  const layer: LayerSpec = {
    activation: "torch.nn.modules.activation.Tanh",
    weight: fixtureW,
    out: 32,
    inp: 64,
    bias: randomMatrix(8, 1, 32),
  };
  const dir = makeModel("st-layout", [layer]);
  writeFileSync(
    join(dir, "modules.json"),
    JSON.stringify([
      { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
      { idx: 1, name: "1", path: "1_Pooling", type: "sentence_transformers.models.Pooling" },
      { idx: 2, name: "2", path: "1_Dense", type: "sentence_transformers.models.Dense" },
      { idx: 3, name: "3", path: "3_Normalize", type: "sentence_transformers.models.Normalize" },
    ]),
  );
  const warnings: string[] = [];
  const model = await load(dir, { warn: (m: string) => warnings.push(m) });
  assert.match(
    warnings.join("\n"),
    /ignoring sentence_transformers\.models\.Pooling: a ColBERT keeps only/,
  );
  assert.doesNotMatch(warnings.join("\n"), /Normalize/);
  assert.deepEqual(model.checkpoint.ignoredModules, [
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
  ]);
  const hidden = await hiddenStates(false);
  const raw = await model.encode(TEXTS, { normalizeEmbeddings: false });
  hidden.forEach((x, t) => assertClose(raw[t], applyLayer(x, layer), `text ${t}`));
});
