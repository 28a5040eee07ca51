// The scores module, as PyLate's pylate/scores/__init__.py exports it (camel-cased), plus
// the tensor helpers its inputs need.

export {
  ColBERTScores,
  colbertKdScores,
  colbertScores,
  colbertScoresPairwise,
  type ScoreMasks,
} from "./colbert.js";
export { maxSim } from "./maxsim.js";
export { type MaskTensor, padMatrices, type Tensor, tensor } from "./tensor.js";
export { XTRKDScores, XTRScores, type XTRScoresOptions, xtrKdScores, xtrScores } from "./xtr.js";
