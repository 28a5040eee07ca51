/**
 * Copies a PyLate checkpoint with a fresh Dense head of another width, for benchmarks that
 * need token vectors of a given dimension from a model we can train offline (the fixtures'
 * heads are 32-dim; ColBERT's are 128):
 *
 *   node build/bench/colbert-head.js --model ../shared/fixtures/bert-tiny-colbert \
 *     --out /tmp/tslate-fixture128 --dim 128 [--seed 12345]
 *   node build/bench/train-scifact.js --model /tmp/tslate-fixture128 --out /tmp/tslate-scifact-model128
 *
 * The head is `linear.weight` [dim, in_features], uniform in ±1/sqrt(in_features) (torch's
 * nn.Linear initialisation) from a seeded generator, no bias, identity activation.
 */
import { chmodSync, cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeSafetensors } from "../src/io/safetensors.js";
import { mulberry32 as rng } from "../src/util/random.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    out: { type: "string" },
    dim: { type: "string", default: "128" },
    seed: { type: "string", default: "12345" },
  },
});
if (!values.model || !values.out) {
  throw new Error("usage: colbert-head --model DIR --out DIR [--dim 128] [--seed 12345]");
}
const dim = Number(values.dim);
if (!Number.isInteger(dim) || dim < 1)
  throw new Error(`--dim must be a positive integer, got ${values.dim}`);
const modules = JSON.parse(readFileSync(join(values.model, "modules.json"), "utf8")) as {
  path: string;
  type: string;
}[];
const dense = modules.find((m) => m.type.endsWith("Dense"));
if (!dense) throw new Error(`${values.model}: no Dense module in modules.json`);
cpSync(values.model, values.out, { recursive: true });
const dir = join(values.out, dense.path);
// The source may be read-only (../shared): the copy's head must be writable.
chmodSync(dir, 0o755);
for (const f of ["config.json", "model.safetensors"]) chmodSync(join(dir, f), 0o644);
const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as {
  in_features: number;
  out_features: number;
  bias: boolean;
};
const inFeatures = config.in_features;
const random = rng(Number(values.seed));
const bound = 1 / Math.sqrt(inFeatures);
const weight = Float32Array.from({ length: dim * inFeatures }, () => (random() * 2 - 1) * bound);
writeSafetensors(join(dir, "model.safetensors"), {
  "linear.weight": { data: weight, shape: [dim, inFeatures] },
});
writeFileSync(
  join(dir, "config.json"),
  `${JSON.stringify({ ...config, out_features: dim, bias: false }, null, 2)}\n`,
);
console.log(`${values.out}: ${dense.path} is now ${inFeatures} → ${dim} (seed ${values.seed})`);
