/**
 * Symbolic reverse-mode differentiation of the graph IR.
 *
 * `gradients(graph, loss, wrt)` walks the graph's nodes backwards from `loss` and appends the
 * backward nodes to the SAME graph, so one onnxruntime session computes the loss and its
 * gradients. Each op has one rule in `GRADIENT_RULES` (autodiff-rules.ts): given the upstream
 * gradient of the node's outputs it returns one gradient per input (or null). Only float32
 * values that depend on a `wrt` value carry gradients; ints, bools and constants never do.
 *
 * Gradients reaching the same value from several uses are summed (one Add per extra use).
 * Two exceptions keep the backward graph small:
 * - Row lookups (Gather on axis 0, e.g. the word embeddings read by the query and document
 *   towers) are collected and become ONE scatter-add into the table when its gradient is
 *   needed, not one dense table-sized tensor per lookup plus Adds.
 * - Composite patterns (`matchComposite`: exact GELU) get one rule for the whole pattern,
 *   computed from the pattern's input alone, so the forward intermediates die after the
 *   forward pass (and onnxruntime can still fuse the forward pattern into one kernel).
 *
 * onnxruntime's CPU ScatterND with reduction "add" splits the updates over its threads with
 * no guard against repeated rows: on more than one thread, updates to the same row race and
 * some are lost (the token-type table, where every token hits row 0, lost up to 2x its
 * gradient's size on 2 threads). `gradientParts` therefore hands a wrt table's row updates to
 * the caller, who adds them in order (training/step.ts `readGradient`); `gradients` keeps the
 * one-session ScatterND form, exact on one thread.
 */
import { InvalidArgumentError, UnsupportedError } from "../util/errors.js";
import {
  GRADIENT_RULES,
  type GradContext,
  matchComposite,
  NON_DIFFERENTIABLE,
  rowLookup,
  scatterRows,
} from "./autodiff-rules.js";
import type { Graph, Node, Value } from "./ir.js";

const FLOAT = new Set(["float32", "float16"]);

/** Row updates of a table: row `indices[i]` of the gradient gets `updates[i]` added. */
export interface RowUpdates {
  /** int64 [n] (negative values count from the end, as in Gather). */
  readonly indices: Value;
  /** [n, rowSize]: the table's row shape flattened. */
  readonly updates: Value;
}

/** A gradient as a dense part plus row updates from lookups (either may be absent). */
export interface GradientParts {
  readonly dense: Value | null;
  readonly rows: RowUpdates | null;
}

/**
 * Appends to `graph` the nodes that compute d`loss`/d`w` for every `w` in `wrt` and returns
 * those gradient values (same order; a value that `loss` does not depend on gets zeros of its
 * shape). `loss` must be a float scalar (shape [] or all-ones dims).
 */
export function gradients(graph: Graph, loss: Value, wrt: readonly Value[]): Value[] {
  return gradientParts(graph, loss, wrt).map((p, i) => {
    const w = wrt[i];
    if (!p.rows) return p.dense ?? zerosOf(graph, w);
    const scattered = scatterRows(graph, w, [p.rows]);
    return p.dense ? graph.add(p.dense, scattered) : scattered;
  });
}

function zerosOf(graph: Graph, w: Value): Value {
  return graph.expand(graph.constant(0, { dtype: w.dtype }), graph.shapeOf(w));
}

/**
 * As `gradients`, but the gradient a `wrt` table gets from its row lookups (Gather on axis 0)
 * is returned as row updates, to be added outside onnxruntime in a fixed order (see the module
 * comment). Updates are in the order `gradients`' ScatterND would apply them, so a sequential
 * sum equals it bit for bit. `dense` and `rows` both null: `loss` does not depend on `w`.
 */
export function gradientParts(
  graph: Graph,
  loss: Value,
  wrt: readonly Value[],
): GradientParts[] {
  if (!FLOAT.has(loss.dtype)) {
    throw new InvalidArgumentError(`gradients: the loss must be a float tensor, got ${loss.dtype}`);
  }
  if (!loss.shape.every((d) => d === 1)) {
    throw new InvalidArgumentError(
      `gradients: the loss must be a scalar (shape [] or [1, ...]), got [${loss.shape.join(", ")}]; reduce it first (ReduceSum / ReduceMean)`,
    );
  }
  const forward: readonly Node[] = graph.nodes.slice();

  // Values that depend on some wrt value (forward pass over the topological order).
  const active = new Set<Value>(wrt);
  for (const node of forward) {
    if (node.inputs.some((v) => v && active.has(v))) {
      for (const o of node.outputs) if (FLOAT.has(o.dtype)) active.add(o);
    }
  }

  // Consumers of each value among the forward nodes (pattern rules need single-use values).
  const uses = new Map<Value, number>();
  for (const node of forward)
    for (const v of node.inputs) if (v) uses.set(v, (uses.get(v) ?? 0) + 1);
  for (const o of graph.outputs) uses.set(o.value, (uses.get(o.value) ?? 0) + 1);

  const grads = new Map<Value, Value>();
  // Row lookups into a table, merged into one scatter-add when the table's gradient is read.
  const rows = new Map<Value, { indices: Value; updates: Value }[]>();
  const accumulate = (v: Value, g: Value): void => {
    const prev = grads.get(v);
    grads.set(v, prev ? graph.add(prev, g) : g);
  };
  const gradOf = (v: Value): Value | null => {
    const lookups = rows.get(v);
    if (lookups) {
      rows.delete(v);
      accumulate(v, scatterRows(graph, v, lookups));
    }
    return grads.get(v) ?? null;
  };
  const seed = graph.constant(1, { dtype: loss.dtype, shape: loss.shape as number[] });
  if (active.has(loss)) grads.set(loss, seed);

  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i];
    const outGrads = node.outputs.map(gradOf);
    if (outGrads.every((g) => g === null)) continue;
    const needed = node.inputs.map((v) => v !== null && active.has(v));
    if (!needed.some(Boolean)) continue;
    if (NON_DIFFERENTIABLE.has(node.op)) continue;
    const composite = matchComposite(node, (v) => uses.get(v) ?? 0);
    if (composite) {
      // The pattern's inner nodes get no upstream gradient, so the sweep skips them.
      const gx = composite.gradient(graph, outGrads[0]!);
      if (active.has(composite.input)) accumulate(composite.input, gx);
      continue;
    }
    const lookup = rowLookup(node);
    if (lookup && needed[0]) {
      const list = rows.get(lookup.table) ?? [];
      list.push({ indices: lookup.indices, updates: outGrads[0]! });
      rows.set(lookup.table, list);
      continue;
    }
    const rule = GRADIENT_RULES[node.op];
    if (!rule) {
      throw new UnsupportedError(
        `gradients: no gradient rule for op ${node.op} (node ${node.name}); add one to GRADIENT_RULES in src/graph/autodiff-rules.ts`,
      );
    }
    const ctx: GradContext = { graph, node, outGrads, needed };
    const inGrads = rule(ctx);
    node.inputs.forEach((v, k) => {
      const g = inGrads[k];
      if (v && needed[k] && g) accumulate(v, g);
    });
  }

  return wrt.map((w) => {
    const lookups = rows.get(w);
    rows.delete(w);
    const dense = gradOf(w);
    if (!lookups) return { dense, rows: null };
    const rowSize = (w.shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
    const idx = lookups.map((l) => graph.reshape(graph.cast(l.indices, "int64"), [-1]));
    const upd = lookups.map((l) => graph.reshape(l.updates, [-1, rowSize]));
    return {
      dense,
      rows: {
        indices: idx.length === 1 ? idx[0] : graph.concat(idx, 0),
        updates: upd.length === 1 ? upd[0] : graph.concat(upd, 0),
      },
    };
  });
}
