import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { Exact } from "../../indexes/exact.js";
import { documentsOf, exportIndex } from "../../indexes/export.js";
import { HNSW } from "../../indexes/hnsw.js";
import { openIndex } from "../../indexes/index.js";
import { Lance } from "../../indexes/lance.js";
import { PLAID } from "../../indexes/plaid/index.js";
import type { MultiVectorIndex } from "../../indexes/types.js";
import { ConfigError } from "../../util/errors.js";
import { makeProgress } from "../../util/progress.js";
import { positiveInt } from "../args.js";

const TARGET_TYPES = ["lance", "plaid", "exact", "hnsw"] as const;
type TargetType = (typeof TARGET_TYPES)[number];

export interface ExportCommandOptions {
  from: string;
  to: string;
  indexType?: string;
  storageOption?: string[];
  batchTokens?: string;
  override?: boolean;
  progress: boolean;
}

/** An object-storage URI (LanceDB's schemes) rather than a local path. */
function isRemote(uri: string): boolean {
  return /^(s3|s3\+ddb|gs|az|abfss?|memory):\/\//.test(uri);
}

/** A Lance index: a remote URI, or a directory holding LanceDB's `tslate.lance` table. */
function isLance(uri: string): boolean {
  return isRemote(uri) || existsSync(join(uri, "tslate.lance"));
}

function storageOptions(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs?.length) return undefined;
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf("=");
    if (eq < 1)
      throw new ConfigError(`--storage-option must be key=value, got ${JSON.stringify(p)}`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

/**
 * Copies an index into another store: a local PLAID/Exact/HNSW index into a Lance table (a
 * directory or s3:// gs:// az://), or a Lance table back into a local index. Streams batches
 * of `--batch-tokens` token rows, so memory is bounded by a batch.
 */
export async function runExport(
  opts: ExportCommandOptions,
): Promise<{ documents: number; type: TargetType }> {
  const storage = storageOptions(opts.storageOption);
  const fromLance = isLance(opts.from);
  const type = (opts.indexType ?? (fromLance ? "plaid" : "lance")) as TargetType;
  if (!TARGET_TYPES.includes(type))
    throw new ConfigError(
      `--index-type must be one of ${TARGET_TYPES.join(", ")}, got ${JSON.stringify(opts.indexType)}`,
    );
  if (type !== "lance" && isRemote(opts.to))
    throw new ConfigError(
      `--to ${opts.to} is object storage: only --index-type lance can live there`,
    );
  const batchTokens = positiveInt("batch-tokens", opts.batchTokens);
  const source = fromLance
    ? await Lance.open(opts.from, { storageOptions: storage, readOnly: true })
    : await openIndex(opts.from, { readOnly: true });
  const bar = makeProgress(opts.progress);
  let target: MultiVectorIndex | undefined;
  try {
    const dim = source.dim;
    const total = source.count();
    bar.start(total, `export ${opts.from} -> ${opts.to} (${type})`);
    let shown = 0;
    const onProgress = (done: number) => {
      bar.increment(done - shown);
      shown = done;
    };
    if (type === "plaid") {
      // PLAID trains its codec on a sample of the stream first: PLAID.build streams it, with
      // its own memory bound (buildMemoryTokens), so --batch-tokens does not apply here.
      target = await PLAID.build(opts.to, documentsOf(source), { dim, onProgress });
      return { documents: target.count(), type };
    }
    target =
      type === "lance"
        ? await Lance.create(opts.to, { dim, storageOptions: storage, override: opts.override })
        : type === "exact"
          ? await Exact.create(opts.to, { dim })
          : await HNSW.create(opts.to, { dim });
    const documents = await exportIndex(source, target, { batchTokens, onProgress });
    return { documents, type };
  } finally {
    bar.stop();
    await target?.close();
    await source.close();
  }
}

export function register(program: Command): void {
  program
    .command("export")
    .description(
      "Copy an index into another store: a local PLAID/Exact/HNSW index into a Lance table (directory or s3:// gs:// az://), or a Lance table back into a local index; streamed with bounded memory",
    )
    .requiredOption("--from <dir|uri>", "source index: a tslate index directory or a Lance URI")
    .requiredOption("--to <dir|uri>", "target: a directory, or s3:// gs:// az:// for Lance")
    .option(
      "--index-type <type>",
      `target type: ${TARGET_TYPES.join(", ")} (default: lance from a local index, plaid from a Lance table)`,
    )
    .option(
      "--storage-option <key=value...>",
      "LanceDB storage option (credentials, region, endpoint), repeatable; AWS_*/GOOGLE_*/AZURE_* variables are read too",
    )
    .option("--batch-tokens <n>", "token rows per write (bounds memory)", String(1 << 18))
    .option("--override", "replace an existing Lance table at --to")
    .option("--no-progress", "no progress bar")
    .action(async (opts: ExportCommandOptions) => {
      const t0 = performance.now();
      const r = await runExport(opts);
      process.stderr.write(
        `exported ${r.documents} documents to ${opts.to} (${r.type}) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
      );
    });
}
