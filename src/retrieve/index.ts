export {
  type IndexCorpusOptions,
  indexCorpus,
  readBeirCorpus,
  readBeirQueries,
  type SearchQueriesOptions,
  searchQueries,
  writeTrecRun,
} from "./beir.js";
export { type RetrieveOptions, Retriever } from "./colbert.js";
