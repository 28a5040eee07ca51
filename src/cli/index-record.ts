import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { ColBERT } from "../models/colbert.js";
import { ConfigError, FileFormatError, IndexError } from "../util/errors.js";

/**
 * What `tslate index` writes next to the index's own files (`<index>/tslate-index.json`): the
 * model that built it and the settings, so that `tslate search` can tell when it is given
 * another model (whose query vectors would be compared with document vectors they do not
 * match: silent garbage, not an error, without this check).
 */
export const INDEX_RECORD_FILE = "tslate-index.json";

export interface ModelRecord {
  /** As given on the command line (a path or a hub id). */
  name: string;
  /** The resolved checkpoint directory. */
  path: string;
  /** Hub commit when the checkpoint is a hub-cache snapshot (…/snapshots/<commit>), else null. */
  revision: string | null;
  embeddingDim: number;
  queryPrefix: string;
  documentPrefix: string;
  queryLength: number;
  documentLength: number;
  doQueryExpansion: boolean;
  attendToExpansionTokens: boolean;
}

export interface IndexRecord {
  format: "tslate-index-record";
  version: 1;
  model: ModelRecord;
  corpus: string;
  indexType: string;
  options: Record<string, unknown>;
  documents: number;
  completedAt: string;
}

export function modelRecord(model: ColBERT, name: string): ModelRecord {
  const path = model.checkpoint.dir;
  const revision =
    basename(dirname(path)) === "snapshots" && /^[0-9a-f]{40}$/.test(basename(path))
      ? basename(path)
      : null;
  const c = model.config;
  return {
    name,
    path,
    revision,
    embeddingDim: model.embeddingDim,
    queryPrefix: c.queryPrefix,
    documentPrefix: c.documentPrefix,
    queryLength: c.queryLength,
    documentLength: c.documentLength,
    doQueryExpansion: c.doQueryExpansion,
    attendToExpansionTokens: c.attendToExpansionTokens,
  };
}

/**
 * How two records differ: "same"; "location" (same settings, another checkpoint path or hub
 * revision: a copy, or retrained weights, which tslate cannot tell apart without hashing them);
 * "settings" (embedding dim, prefixes, lengths: the vectors cannot match). `why` names the
 * first difference.
 */
export function compareModels(
  a: ModelRecord,
  b: ModelRecord,
): { level: "same" | "location" | "settings"; why: string } {
  const settings: (keyof ModelRecord)[] = [
    "embeddingDim",
    "queryPrefix",
    "documentPrefix",
    "queryLength",
    "documentLength",
    "doQueryExpansion",
    "attendToExpansionTokens",
  ];
  const differ = (key: keyof ModelRecord) =>
    `${key} ${JSON.stringify(a[key])} vs ${JSON.stringify(b[key])}`;
  for (const key of settings) if (a[key] !== b[key]) return { level: "settings", why: differ(key) };
  for (const key of ["path", "revision"] as const) {
    if (a[key] !== b[key]) return { level: "location", why: differ(key) };
  }
  return { level: "same", why: "" };
}

/** Reads an index's record; null for an index built without one (the library, older tslate). */
export function readIndexRecord(indexDir: string): IndexRecord | null {
  const path = join(indexDir, INDEX_RECORD_FILE);
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as IndexRecord;
  } catch (err) {
    throw new FileFormatError(path, "is not valid JSON (corrupted)", { cause: err });
  }
}

/**
 * Before `tslate search` opens `indexDir`: a clear error for a missing index, a file, or an
 * interrupted build; then the model check (an error unless `force`, a warning with it).
 */
export function checkIndexForSearch(
  indexDir: string,
  model: ModelRecord,
  force: boolean,
  warn: (message: string) => void,
): void {
  if (!existsSync(indexDir)) {
    if (existsSync(`${indexDir.replace(/[\\/]+$/, "")}.partial`)) {
      throw new IndexError(
        `${indexDir} is not complete: its build was interrupted (the work so far is in ${indexDir.replace(/[\\/]+$/, "")}.partial); finish it with \`tslate index ... --resume\` or start over with --overwrite`,
      );
    }
    throw new FileFormatError(indexDir, "not found: no index here (build one with tslate index)", {
      missing: true,
    });
  }
  if (!statSync(indexDir).isDirectory()) {
    throw new ConfigError(`--index ${indexDir} is a file, not an index folder`);
  }
  const record = readIndexRecord(indexDir);
  if (!record) return;
  const { level, why } = compareModels(record.model, model);
  if (level === "same") return;
  const message = `${indexDir} was built with model ${record.model.name} (${record.model.path}), not ${model.name} (${model.path}): ${why}`;
  if (level === "location") {
    warn(`${message}; the settings match, so searching (fine if it is a copy of the same model)`);
    return;
  }
  if (!force) {
    throw new IndexError(
      `${message}; its query vectors cannot match the index's document vectors. Search with the indexing model, or pass --force`,
    );
  }
  warn(`${message} (searching anyway: --force)`);
}
