export { rerank } from "./rerank.js";
