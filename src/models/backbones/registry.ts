import { bert, xlmRoberta } from "./bert.js";
import type { HfConfig } from "./common.js";
import { isJinaBert, jinaBert } from "./jinabert.js";
import { modernBert } from "./modernbert.js";
import type { BackboneBuilder } from "./types.js";
import { isXlmRobertaFlash, xlmRobertaFlash } from "./xlm-roberta-flash.js";

/**
 * One model_type whose layout depends on other config fields (e.g. "xlm-roberta": absolute
 * positions, or Jina's rotary flash variant). All variants share the probe tensor.
 */
function byConfig(
  probeTensor: string,
  choose: (config: HfConfig) => BackboneBuilder,
): BackboneBuilder {
  return {
    probeTensor,
    hiddenSize: (c) => choose(c).hiddenSize(c),
    usesTokenTypeIds: (c) => choose(c).usesTokenTypeIds(c),
    maxSequenceLength: (c) => choose(c).maxSequenceLength(c),
    build: (g, inputs, c, w) => choose(c).build(g, inputs, c, w),
  };
}

const xlmRobertaAny = byConfig(xlmRoberta.probeTensor, (c) =>
  isXlmRobertaFlash(c) ? xlmRobertaFlash : xlmRoberta,
);

const bertAny = byConfig(bert.probeTensor, (c) => (isJinaBert(c) ? jinaBert : bert));

/** HF `model_type` → builder. A new architecture is one file plus one line here. */
export const BACKBONES: Readonly<Record<string, BackboneBuilder>> = Object.freeze({
  bert: bertAny,
  modernbert: modernBert,
  "xlm-roberta": xlmRobertaAny,
  roberta: xlmRoberta,
});
