/**
 * tslate's files: datasets (lines and JSONL, parquet tables, BEIR folders, TREC runs and
 * qrels), safetensors weights and encoded-embedding files. The floor just above util/: every
 * other module reads and writes data through here.
 */
export {
  type BeirDataset,
  type BeirDocument,
  type BeirFiles,
  type BeirQueriesAndQrels,
  type BeirQuery,
  checkJudgedDocuments,
  countCorpus,
  documentText,
  listSplits,
  loadBeir,
  loadBeirQueries,
  locateBeirFiles,
  streamBeirCorpus,
  streamCorpus,
  streamQueries,
} from "./beir.js";
export {
  type EmbeddingFile,
  type EmbeddingFileFormat,
  EmbeddingFileWriter,
  type EmbeddingPrecision,
  formatFromPath,
  idsPath,
  readEmbeddingFile,
  type StoredMatrix,
} from "./embeddings.js";
export { type JsonlRecord, readJsonl, readLines } from "./lines.js";
export { countParquetRows, type ParquetRecord, readParquet } from "./parquet.js";
export { type LocatedRow, type Row, readRows, streamRows } from "./rows.js";
export {
  bytesToFloat32,
  encodeSafetensors,
  halfToFloat,
  parseSafetensorsHeader,
  readSafetensorsHeader,
  SAFETENSORS_DTYPE_BYTES,
  type SafetensorsDType,
  type SafetensorsHeader,
  type TensorInfo,
  type TensorToWrite,
  WeightStore,
  writeSafetensors,
} from "./safetensors.js";
export {
  formatRun,
  type Qrels,
  type Run,
  rankDocuments,
  readQrels,
  readRun,
  runFromHits,
  type WriteRunOptions,
  writeRun,
} from "./trec.js";
