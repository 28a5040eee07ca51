/**
 * tslate public API. Nothing outside this file is promised.
 */
export * from "./util/errors.js";
export { type Matrix, matrix, fromRows } from "./util/matrix.js";
export { maxSim } from "./scores/maxsim.js";
