/**
 * The proof each new backbone gives on its tiny checkpoint (test/fixtures/backbones/<name>,
 * made by generate.py with the plain-torch reference.py):
 *   - token ids exactly as the reference tokenizes (prefix, truncation, mask padding);
 *   - embeddings within EMB_TOL of the reference (encode(): Dense + L2 normalisation);
 *   - save() then fromPretrained() gives the same embeddings;
 *   - the training graph's gradients (loss = Σ embeddings ⊙ R over a padded batch) within
 *     GRAD_ABS + GRAD_REL·max|g| of torch.autograd's, for every parameter.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { GraphSession } from "../../../src/graph/session.js";
import { WeightStore } from "../../../src/io/safetensors.js";
import { ColBERT, type ColBERTOptions } from "../../../src/models/colbert.js";
import { TrainingGraphBuilder } from "../../../src/training/graph.js";
import { readParameters } from "../../../src/training/parameters.js";
import { readGradient } from "../../../src/training/step.js";
import { trainableModel } from "../../../src/training/trainer.js";
import { maxAbsDiff } from "../../helpers/shared.js";

export const EMB_TOL = 1e-4;
export const GRAD_ABS = 1e-5;
export const GRAD_REL = 1e-3;

interface Case {
  text: string;
  is_query: boolean;
  input_ids: number[];
  embeddings: number[][];
}

interface Expected {
  cases: Case[];
  gradient: {
    input_ids: number[][];
    attention_mask: number[][];
    R: number[][][];
    R_shape: number[];
    loss: number;
  };
}

/** Source folder of a fixture (tests run from build/test/models/backbones). */
export function fixtureDir(name: string): string {
  return fileURLToPath(new URL(`../../../../test/fixtures/backbones/${name}`, import.meta.url));
}

function readExpected(dir: string): Expected {
  return JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")) as Expected;
}

async function checkEncode(model: ColBERT, exp: Expected, what: string): Promise<void> {
  for (const c of exp.cases) {
    const [m] = await model.encode([c.text], { isQuery: c.is_query });
    assert.equal(m.rows, c.embeddings.length, `${what} "${c.text}": rows`);
    const d = maxAbsDiff(m.data, c.embeddings.flat());
    assert.ok(d <= EMB_TOL, `${what} "${c.text}": maxdiff ${d.toExponential(3)} > ${EMB_TOL}`);
  }
}

/** Registers the four parity tests of one fixture. */
export function backboneParityTests(name: string, options: ColBERTOptions = {}): void {
  const dir = fixtureDir(name);
  const exp = readExpected(dir);
  const load = (d: string) => ColBERT.fromPretrained(d, { warn: () => {}, threads: 1, ...options });

  test(`${name}: token ids equal the reference's`, async () => {
    const model = await load(dir);
    try {
      for (const c of exp.cases) {
        // The ids the backbone runs on: queries padded with the mask id to queryLength.
        const t = model.tokenize([c.text], { isQuery: c.is_query });
        assert.deepEqual(Array.from(t.inputIds, Number), c.input_ids, `"${c.text}"`);
      }
    } finally {
      await model.dispose();
    }
  });

  test(`${name}: embeddings within ${EMB_TOL} of the reference`, async () => {
    const model = await load(dir);
    try {
      await checkEncode(model, exp, "encode");
    } finally {
      await model.dispose();
    }
  });

  test(`${name}: save then load gives the same embeddings`, async () => {
    const tmp = mkdtempSync(join(tmpdir(), `tslate-${name}-`));
    const model = await load(dir);
    try {
      await model.save(tmp);
      const again = await load(tmp);
      try {
        await checkEncode(again, exp, "reloaded");
        for (const c of exp.cases.slice(0, 2)) {
          const [a] = await model.encode([c.text], { isQuery: c.is_query });
          const [b] = await again.encode([c.text], { isQuery: c.is_query });
          assert.ok(maxAbsDiff(a.data, b.data) <= 1e-6, `"${c.text}": before and after save`);
        }
      } finally {
        await again.dispose();
      }
    } finally {
      await model.dispose();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test(`${name}: training-graph gradients equal torch.autograd's`, async () => {
    const model = await load(dir);
    try {
      const trainable = trainableModel(model);
      const b = new TrainingGraphBuilder(trainable);
      const tower = b.tower("x");
      const g = b.graph;
      const R = g.input("R", "float32", ["x_batch", "x_seq", trainable.dense.outFeatures]);
      const loss = g.reduce("ReduceSum", g.mul(tower.embeddings, R), [0, 1, 2], false);
      const names = b.finish(loss);
      const params = readParameters(trainable, names);
      const session = await GraphSession.create(g, { threads: 1 });
      try {
        const { input_ids, attention_mask } = exp.gradient;
        const dims = [input_ids.length, input_ids[0].length];
        const big = (xs: number[][]) => BigInt64Array.from(xs.flat(), (x) => BigInt(x));
        const feeds: Record<string, { data: Float32Array | BigInt64Array; dims: number[] }> = {
          x_input_ids: { data: big(input_ids), dims },
          x_attention_mask: { data: big(attention_mask), dims },
          R: { data: Float32Array.from(exp.gradient.R.flat(2)), dims: exp.gradient.R_shape },
        };
        if (tower.usesTokenTypeIds)
          feeds.x_token_type_ids = { data: new BigInt64Array(dims[0] * dims[1]), dims };
        for (const p of params) feeds[p.name] = { data: p.data, dims: [...p.shape] };
        const out = await session.run(feeds);
        const l = (out.loss.data as Float32Array)[0];
        assert.ok(Math.abs(l - exp.gradient.loss) <= 1e-4, `loss ${l} vs ${exp.gradient.loss}`);
        const ref = WeightStore.open(join(dir, "expected-grads.safetensors"));
        const stanfordDense = model.checkpoint.layout === "stanford" ? "linear.weight" : null;
        let checked = 0;
        for (const p of params) {
          const refName =
            p.name === "1_Dense/linear.weight" && stanfordDense ? stanfordDense : p.name;
          const key = `grad:${refName}`;
          assert.ok(ref.has(key), `the reference has a gradient for ${p.name}`);
          const want = ref.readFloat32(key);
          // dense part plus embedding-table row updates (the training step's own reader)
          const got = readGradient(out, p);
          let peak = 0;
          for (const x of want) peak = Math.max(peak, Math.abs(x));
          const d = maxAbsDiff(got, want);
          const tol = GRAD_ABS + GRAD_REL * peak;
          assert.ok(
            d <= tol,
            `grad ${p.name}: maxdiff ${d.toExponential(3)} > ${tol.toExponential(3)}`,
          );
          checked++;
        }
        assert.equal(checked, ref.names().length, "every reference gradient was compared");
      } finally {
        await session.dispose();
      }
    } finally {
      await model.dispose();
    }
  });
}
