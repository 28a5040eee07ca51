/**
 * Where a checkpoint's files come from. The loader reads a checkpoint only through this
 * interface, so that the same code builds a model from a directory (models/directory.ts, Node)
 * or from bytes already in memory (`memorySource`, no file-system access: the browser path).
 * Paths are relative to the checkpoint root, "/"-separated ("1_Dense/config.json").
 */
import { WeightStore } from "../io/safetensors.js";
import { FileFormatError } from "../util/errors.js";

export interface CheckpointSource {
  /** What the files are, for messages: a directory path, or "<files>". */
  readonly root: string;
  /** `path` as messages show it (the full path on disk, or the relative name). */
  where(path: string): string;
  has(path: string): boolean;
  /** The file's bytes; a missing file is a FileFormatError naming it. */
  readBytes(path: string): Uint8Array;
  /**
   * The weights of a module folder ("" = the root): `model.safetensors`, or the shards of
   * `model.safetensors.index.json`. Returns null when the folder has neither.
   */
  openSafetensors(folder: string): WeightStore | null;
}

/** Joins relative checkpoint paths: "" and "." are the root, "./x" is "x". */
export function joinPath(...parts: string[]): string {
  const out: string[] = [];
  for (const part of parts) {
    for (const seg of part.split("/")) {
      if (seg === "" || seg === ".") continue;
      out.push(seg);
    }
  }
  return out.join("/");
}

/** What `ColBERT.fromFiles` takes: file name (relative, "/"-separated) → contents. */
export type CheckpointFiles = Readonly<Record<string, Uint8Array | ArrayBuffer | string>>;

/** A checkpoint given as bytes in memory: nothing is read from any file system. */
export function memorySource(files: CheckpointFiles, root = "<files>"): CheckpointSource {
  const bytes: Record<string, Uint8Array> = {};
  for (const [name, value] of Object.entries(files)) {
    const key = joinPath(name);
    if (typeof value === "string") bytes[key] = new TextEncoder().encode(value);
    else if (value instanceof Uint8Array) bytes[key] = value;
    else if (value instanceof ArrayBuffer) bytes[key] = new Uint8Array(value);
    else {
      throw new FileFormatError(
        name,
        `fromFiles: the contents of "${name}" must be a Uint8Array, an ArrayBuffer or a string, got ${typeof value}`,
      );
    }
  }
  return {
    root,
    where: (path) => joinPath(path) || ".",
    has: (path) => joinPath(path) in bytes,
    readBytes(path) {
      const b = bytes[joinPath(path)];
      if (!b) {
        throw new FileFormatError(joinPath(path), "missing from the files given", {
          missing: true,
        });
      }
      return b;
    },
    openSafetensors(folder) {
      const single = joinPath(folder, "model.safetensors");
      const index = joinPath(folder, "model.safetensors.index.json");
      if (single in bytes) return WeightStore.fromBytes(bytes, single);
      if (index in bytes) return WeightStore.fromBytes(bytes, index);
      return null;
    },
  };
}
