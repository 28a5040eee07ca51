import { bert, xlmRoberta } from "./bert.js";
import { modernBert } from "./modernbert.js";
import type { BackboneBuilder } from "./types.js";

/** HF `model_type` → builder. A new architecture is one file plus one line here. */
export const BACKBONES: Readonly<Record<string, BackboneBuilder>> = Object.freeze({
  bert,
  modernbert: modernBert,
  "xlm-roberta": xlmRoberta,
  roberta: xlmRoberta,
});
