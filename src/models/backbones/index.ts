export {
  activation,
  attention,
  FLOAT32_MIN,
  HfConfig,
  linear,
  maskBias,
  WeightLoader,
} from "./common.js";
export {
  buildEncoderGraph,
  createEncoder,
  type DenseWeights,
  defaultRunTokenBudget,
  detectWeightPrefix,
  type EncoderBatch,
  type EncoderGraph,
  type EncoderGraphOptions,
  type EncoderOptions,
  type EncoderOutput,
  type EncoderSession,
} from "./encoder.js";
export { openEncoder, readBackboneConfig } from "./files.js";
export { ropeInverseFrequencies } from "./modernbert.js";
export { BACKBONES } from "./registry.js";
export type { BackboneBuilder, BackboneInputs, BackboneOutputs } from "./types.js";
