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
 */
import { InvalidArgumentError, UnsupportedError } from "../util/errors.js";
import { GRADIENT_RULES, type GradContext, NON_DIFFERENTIABLE } from "./autodiff-rules.js";
import type { Graph, Node, Value } from "./ir.js";

const FLOAT = new Set(["float32", "float16"]);

/**
 * Appends to `graph` the nodes that compute d`loss`/d`w` for every `w` in `wrt` and returns
 * those gradient values (same order; a value that `loss` does not depend on gets zeros of its
 * shape). `loss` must be a float scalar (shape [] or all-ones dims).
 */
export function gradients(graph: Graph, loss: Value, wrt: readonly Value[]): Value[] {
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

  const grads = new Map<Value, Value>();
  const accumulate = (v: Value, g: Value): void => {
    const prev = grads.get(v);
    grads.set(v, prev ? graph.add(prev, g) : g);
  };
  const seed = graph.constant(1, { dtype: loss.dtype, shape: loss.shape as number[] });
  if (active.has(loss)) grads.set(loss, seed);

  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i];
    const outGrads = node.outputs.map((o) => grads.get(o) ?? null);
    if (outGrads.every((g) => g === null)) continue;
    const needed = node.inputs.map((v) => v !== null && active.has(v));
    if (!needed.some(Boolean)) continue;
    if (NON_DIFFERENTIABLE.has(node.op)) continue;
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

  return wrt.map(
    (w) => grads.get(w) ?? graph.expand(graph.constant(0, { dtype: w.dtype }), graph.shapeOf(w)),
  );
}
