export { type RetrieveOptions, Retriever } from "./colbert.js";
export {
  type IndexCorpusOptions,
  indexCorpus,
  type SearchQueriesOptions,
  searchQueries,
} from "./corpus.js";
