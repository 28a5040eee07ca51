export {
  type RetrieveOptions,
  Retriever,
  type SearchableIndex,
  type SearchOptionsOf,
} from "./colbert.js";
export {
  type IndexCorpusOptions,
  indexCorpus,
  type SearchParameters,
  type SearchQueriesOptions,
  searchQueries,
} from "./corpus.js";
