export {
  type IndexCorpusOptions,
  indexCorpus,
  type SearchQueriesOptions,
  searchQueries,
} from "./beir.js";
export { type RetrieveOptions, Retriever } from "./colbert.js";
