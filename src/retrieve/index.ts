export { Retriever, type RetrieveOptions } from "./colbert.js";
export { indexCorpus, searchQueries, readBeirCorpus, readBeirQueries, writeTrecRun, type IndexCorpusOptions, type SearchQueriesOptions } from "./beir.js";
