import { FileFormatError } from "../util/errors.js";
import { readJsonl } from "./lines.js";
import { readParquet } from "./parquet.js";

/** One record of a table file: a JSONL object or a parquet row (int64 columns as BigInt). */
export type Row = Record<string, unknown>;

/** A row and where it is: `file:line` (JSONL, 1-based) or `file:row n` (parquet, 0-based). */
export interface LocatedRow {
  row: Row;
  where: string;
}

const TABLE_EXTENSIONS = [".jsonl", ".jsonl.gz", ".json", ".parquet"];

/**
 * Streams the rows of a `.jsonl` (optionally `.gz`) or `.parquet` file: JSONL line by line,
 * parquet row group by row group. Bad lines are the same DataError as in every JSONL reader.
 */
export async function* streamRows(path: string): AsyncGenerator<LocatedRow> {
  if (!TABLE_EXTENSIONS.some((e) => path.endsWith(e))) {
    throw new FileFormatError(
      path,
      "a table file must be .jsonl (one JSON object per line, optionally .gz) or .parquet",
    );
  }
  if (path.endsWith(".parquet")) {
    for await (const { value, row } of readParquet(path)) {
      yield { row: value, where: `${path}:row ${row}` };
    }
  } else {
    for await (const { value, lineNo } of readJsonl(path)) {
      yield { row: value, where: `${path}:${lineNo}` };
    }
  }
}

/** Reads all rows of a `.jsonl` or `.parquet` file (see streamRows). */
export async function readRows(path: string): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const { row } of streamRows(path)) rows.push(row);
  return rows;
}
