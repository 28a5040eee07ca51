/**
 * Parity of the BERT and ModernBERT backbones with the PyTorch reference fixtures
 * (../shared/fixtures/README.md §1, §3). Tolerances (README §7, never loosened):
 * hidden states abs 5e-5; Dense output and normalised embeddings abs 2e-5.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { WeightStore } from "../../../src/io/index.js";
import { type EncoderSession, openEncoder } from "../../../src/models/backbones/index.js";
import { maxAbsDiff, readSharedJson, sharedPath } from "../../helpers/shared.js";

const HIDDEN_TOL = 5e-5;
const EMB_TOL = 2e-5;

const ids = (xs: number[]) => BigInt64Array.from(xs, (x) => BigInt(x));

function assertClose(
  actual: ArrayLike<number>,
  expected: number[][] | number[],
  tol: number,
  what: string,
) {
  const flat = (expected as unknown[]).flat() as number[];
  const d = maxAbsDiff(actual, flat);
  assert.ok(
    d <= tol,
    `${what}: maxdiff ${d.toExponential(3)} > ${tol}; first values got [${Array.from(actual).slice(0, 4).join(", ")}] expected [${flat.slice(0, 4).join(", ")}]`,
  );
}

/** Rows `positions` of a [L, D] slice starting at `offset` in `data`. */
function pick(data: Float32Array, offset: number, D: number, positions: number[]): Float32Array {
  const out = new Float32Array(positions.length * D);
  positions.forEach((p, i) => {
    out.set(data.subarray(offset + p * D, offset + (p + 1) * D), i * D);
  });
  return out;
}

interface FixtureQuery {
  input_ids: number[];
  attention_mask: number[];
  num_embeddings: number;
  embeddings: number[][];
}

function denseOf(model: string) {
  const store = WeightStore.open(sharedPath(`fixtures/${model}/1_Dense`));
  const [outFeatures, inFeatures] = store.info("linear.weight").shape;
  return { weight: store.readFloat32("linear.weight"), outFeatures, inFeatures };
}

for (const model of ["bert-tiny-colbert", "modernbert-tiny-colbert"]) {
  describe(`${model} parity`, () => {
    const exp = readSharedJson<any>(`fixtures/expected/${model}.json`);
    const dir = sharedPath(`fixtures/${model}`);
    let raw: EncoderSession;
    let colbert: EncoderSession;
    before(async () => {
      raw = await openEncoder(dir, {
        dense: denseOf(model),
        outputHiddenStates: true,
        threads: 1,
      });
      colbert = await openEncoder(dir, {
        dense: denseOf(model),
        normalize: true,
        threads: 1,
        allowSpinning: false,
      });
    });
    after(async () => {
      await raw.dispose();
      await colbert.dispose();
    });

    test("reports its dimensions", () => {
      assert.equal(colbert.hiddenSize, model.startsWith("bert") ? 64 : 32);
      assert.equal(colbert.outputDim, exp.settings.embedding_dim);
      assert.equal(colbert.usesTokenTypeIds, exp.settings.has_token_type_ids);
    });

    for (const which of ["query", "document"]) {
      test(`hidden states, last_hidden_state and Dense output of the ${which}`, async () => {
        const hs = exp.hidden_states[which];
        const L = hs.input_ids.length;
        const out = await raw.run({
          inputIds: ids(hs.input_ids),
          attentionMask: ids(hs.attention_mask),
          tokenTypeIds: hs.token_type_ids ? ids(hs.token_type_ids) : undefined,
          batchSize: 1,
          seqLength: L,
        });
        assert.deepEqual(out.dims, [1, L, exp.settings.embedding_dim]);
        assert.equal(out.hiddenStates!.length, hs.layer_outputs.length);
        hs.layer_outputs.forEach((lo: number[][], i: number) => {
          assertClose(out.hiddenStates![i], lo, HIDDEN_TOL, `layer_outputs[${i}]`);
        });
        assertClose(
          out.embeddings,
          hs.dense_output_unnormalized,
          EMB_TOL,
          "dense_output_unnormalized",
        );
        // last_hidden_state: for BERT the last layer output; for ModernBERT after final_norm,
        // which the Dense output above already depends on. Check it with a Dense-free session.
        const bare = await openEncoder(dir, { threads: 1 });
        try {
          const b = await bare.run({
            inputIds: ids(hs.input_ids),
            attentionMask: ids(hs.attention_mask),
            tokenTypeIds: hs.token_type_ids ? ids(hs.token_type_ids) : undefined,
            batchSize: 1,
            seqLength: L,
          });
          assertClose(b.embeddings, hs.last_hidden_state, HIDDEN_TOL, "last_hidden_state");
        } finally {
          await bare.dispose();
        }
      });
    }

    test("query embeddings, one batch of 4 (all 32 positions kept)", async () => {
      const qs = exp.queries;
      const L = qs[0].input_ids.length;
      const out = await colbert.run({
        inputIds: ids(qs.flatMap((q: { input_ids: number[] }) => q.input_ids)),
        attentionMask: ids(qs.flatMap((q: { attention_mask: number[] }) => q.attention_mask)),
        batchSize: qs.length,
        seqLength: L,
      });
      const D = out.dims[2];
      qs.forEach((q: { embeddings: number[][] }, i: number) => {
        assertClose(
          out.embeddings.subarray(i * L * D, (i + 1) * L * D),
          q.embeddings,
          EMB_TOL,
          `query ${i}`,
        );
      });
    });

    test("query variants: attend_to_expansion_tokens and no expansion", async () => {
      for (const [name, variant] of Object.entries(exp.query_variants) as [
        string,
        { queries: FixtureQuery[] },
      ][]) {
        for (const [i, q] of variant.queries.entries()) {
          const L = q.input_ids.length;
          const out = await colbert.run({
            inputIds: ids(q.input_ids),
            attentionMask: ids(q.attention_mask),
            batchSize: 1,
            seqLength: L,
          });
          const kept = q.attention_mask.flatMap((m: number, p: number) =>
            m === 1 || name.startsWith("attend") ? [p] : [],
          );
          assert.equal(kept.length, q.num_embeddings);
          assertClose(
            pick(out.embeddings, 0, out.dims[2], kept),
            q.embeddings,
            EMB_TOL,
            `${name} query ${i}`,
          );
        }
      }
    });

    test("document embeddings at kept_positions, each document alone", async () => {
      for (const [i, d] of exp.documents.entries()) {
        const L = d.input_ids.length;
        const out = await colbert.run({
          inputIds: ids(d.input_ids),
          attentionMask: ids(d.attention_mask),
          tokenTypeIds: d.token_type_ids ? ids(d.token_type_ids) : undefined,
          batchSize: 1,
          seqLength: L,
        });
        assertClose(
          pick(out.embeddings, 0, out.dims[2], d.kept_positions),
          d.embeddings,
          EMB_TOL,
          `document ${i}`,
        );
      }
    });

    test("padded document batch: padding does not change real tokens", async () => {
      const b = exp.documents_encode_batch;
      const B = b.input_ids.length;
      const L = b.input_ids[0].length;
      const out = await colbert.run({
        inputIds: ids(b.input_ids.flat()),
        attentionMask: ids(b.attention_mask.flat()),
        tokenTypeIds: b.token_type_ids ? ids(b.token_type_ids.flat()) : undefined,
        batchSize: B,
        seqLength: L,
      });
      const D = out.dims[2];
      assert.ok(
        out.embeddings.every(Number.isFinite),
        "no NaN/Inf anywhere, padding rows included",
      );
      b.order.forEach((docIndex: number, row: number) => {
        const d = exp.documents[docIndex];
        assert.deepEqual(b.input_ids[row].slice(0, d.input_ids.length), d.input_ids);
        assertClose(
          pick(out.embeddings, row * L * D, D, d.kept_positions),
          d.embeddings,
          EMB_TOL,
          `batch row ${row} (document ${docIndex})`,
        );
      });
    });

    test("a batch run in row chunks (runTokenBudget) gives the padded batch's embeddings and hidden states", async () => {
      const b = exp.documents_encode_batch;
      const B = b.input_ids.length;
      const L = b.input_ids[0].length;
      const batch = {
        inputIds: ids(b.input_ids.flat()),
        attentionMask: ids(b.attention_mask.flat()),
        tokenTypeIds: b.token_type_ids ? ids(b.token_type_ids.flat()) : undefined,
        batchSize: B,
        seqLength: L,
      };
      assert.ok(B >= 3, "the fixture batch has several rows to split");
      const chunked = await openEncoder(dir, {
        dense: denseOf(model),
        outputHiddenStates: true,
        threads: 1,
        runTokenBudget: 2 * L - 1, // one row per run
      });
      try {
        const whole = await raw.run(batch);
        const parts = await chunked.run(batch);
        assert.deepEqual(parts.dims, whole.dims);
        // The same rows through the same kernels: equal up to float summation order.
        assertClose(parts.embeddings, Array.from(whole.embeddings), EMB_TOL, "chunked embeddings");
        assert.equal(parts.hiddenStates!.length, whole.hiddenStates!.length);
        parts.hiddenStates!.forEach((h, i) => {
          assertClose(h, Array.from(whole.hiddenStates![i]), HIDDEN_TOL, `chunked hidden ${i}`);
        });
        b.order.forEach((docIndex: number, row: number) => {
          const d = exp.documents[docIndex];
          const D = parts.dims[2];
          const v = pick(parts.embeddings, row * L * D, D, d.kept_positions);
          // Unnormalised Dense output here; compare directions with the fixture's unit vectors.
          for (let t = 0; t < d.kept_positions.length; t++) {
            const row_ = v.subarray(t * D, (t + 1) * D);
            const norm = Math.hypot(...row_);
            row_.forEach((x, j) => {
              row_[j] = x / norm;
            });
          }
          assertClose(v, d.embeddings, EMB_TOL, `chunked batch row ${row}`);
        });
      } finally {
        await chunked.dispose();
      }
    });

    test("runTokenBudget must be a positive integer", async () => {
      await assert.rejects(
        openEncoder(dir, { runTokenBudget: 0 }),
        /runTokenBudget must be a positive integer, got 0/,
      );
    });

    test("a fully masked row stays finite and does not disturb the other rows", async () => {
      const q = exp.queries[0];
      const L = q.input_ids.length;
      const out = await colbert.run({
        inputIds: ids([...q.input_ids, ...q.input_ids]),
        attentionMask: ids([...q.attention_mask, ...q.attention_mask.map(() => 0)]),
        batchSize: 2,
        seqLength: L,
      });
      assert.ok(out.embeddings.every(Number.isFinite));
      assertClose(
        out.embeddings.subarray(0, L * out.dims[2]),
        q.embeddings,
        EMB_TOL,
        "row 0 next to a fully masked row",
      );
    });
  });
}
