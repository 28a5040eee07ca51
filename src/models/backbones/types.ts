import type { Graph, Value } from "../../graph/ir.js";
import type { HfConfig, WeightLoader } from "./common.js";

/** The graph inputs a backbone reads ([batch, seq] int64 each). */
export interface BackboneInputs {
  readonly inputIds: Value;
  readonly attentionMask: Value;
  /** Present iff the backbone uses token types. */
  readonly tokenTypeIds: Value | null;
}

/** What a backbone builder adds to the graph. */
export interface BackboneOutputs {
  /** [batch, seq, hidden]: the HF model's last_hidden_state. */
  readonly lastHiddenState: Value;
  /** Embedding output, then each layer's output (HF hidden_states; before any final norm). */
  readonly hiddenStates: readonly Value[];
}

/** One architecture: reads config.json fields and writes the forward pass in the IR. */
export interface BackboneBuilder {
  /** A tensor every checkpoint of this architecture has (used to detect a name prefix). */
  readonly probeTensor: string;
  hiddenSize(config: HfConfig): number;
  usesTokenTypeIds(config: HfConfig): boolean;
  /** Longest sequence the weights support (absolute position tables), or null if unbounded. */
  maxSequenceLength(config: HfConfig): number | null;
  build(g: Graph, inputs: BackboneInputs, config: HfConfig, weights: WeightLoader): BackboneOutputs;
}
