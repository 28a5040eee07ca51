import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from "hyparquet";
import { FileFormatError } from "../util/errors.js";

type ParquetFile = Awaited<ReturnType<typeof asyncBufferFromFile>>;
type ParquetMetadata = Awaited<ReturnType<typeof parquetMetadataAsync>>;

/** One parquet row as an object (int64 columns come back as BigInt), with its 0-based row. */
export interface ParquetRecord {
  value: Record<string, unknown>;
  row: number;
}

async function openParquet(
  path: string,
): Promise<{ file: ParquetFile; metadata: ParquetMetadata }> {
  try {
    const file = await asyncBufferFromFile(path);
    return { file, metadata: await parquetMetadataAsync(file) };
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
    throw new FileFormatError(
      path,
      missing ? "file not found" : `not a readable parquet file (${(err as Error).message})`,
      { cause: err, missing },
    );
  }
}

/**
 * Streams the rows of a parquet file one row group at a time, so that memory stays bounded by
 * the largest row group, not by the file. `columns` restricts the columns read (names absent
 * from the file are ignored: the caller checks the rows).
 */
export async function* readParquet(
  path: string,
  options: { columns?: readonly string[] } = {},
): AsyncGenerator<ParquetRecord> {
  const { file, metadata } = await openParquet(path);
  const present = new Set(metadata.schema.slice(1).map((s: { name: string }) => s.name));
  const columns = options.columns?.filter((c) => present.has(c));
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd, columns });
    } catch (err) {
      throw new FileFormatError(
        path,
        `cannot read rows ${rowStart}-${rowEnd} (${(err as Error).message})`,
        { cause: err },
      );
    }
    for (let i = 0; i < rows.length; i++) yield { value: rows[i], row: rowStart + i };
    rowStart = rowEnd;
  }
}

/** Number of rows, from the footer alone. */
export async function countParquetRows(path: string): Promise<number> {
  const { metadata } = await openParquet(path);
  return Number(metadata.num_rows);
}
