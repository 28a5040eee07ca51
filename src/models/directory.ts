/**
 * Checkpoints in a directory on disk (Node only). The loader reads every small file (JSON,
 * tokenizer) into memory and hands float32 weights to onnxruntime as external data pointing
 * into the directory's safetensors files (no copy); the model is then built by the same
 * in-memory path as `ColBERT.fromFiles` (load.ts).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { type HubOptions, resolveModelPath } from "../hub/index.js";
import { WeightStore } from "../io/safetensors.js";
import { FileFormatError, InvalidArgumentError } from "../util/errors.js";
import { type CheckpointSource, joinPath } from "./source.js";

/** A checkpoint directory as a CheckpointSource (weights stay in their files). */
export function directorySource(dir: string): CheckpointSource {
  const root = resolve(dir);
  const abs = (path: string) => join(root, joinPath(path));
  return {
    root,
    where: abs,
    has: (path) => existsSync(abs(path)) && statSync(abs(path)).isFile(),
    readBytes(path) {
      try {
        return readFileSync(abs(path));
      } catch (err) {
        throw new FileFormatError(abs(path), "cannot read the file", {
          cause: err,
          missing: (err as NodeJS.ErrnoException).code === "ENOENT",
        });
      }
    },
    openSafetensors(folder) {
      const d = abs(folder);
      if (
        existsSync(join(d, "model.safetensors")) ||
        existsSync(join(d, "model.safetensors.index.json"))
      ) {
        return WeightStore.open(d);
      }
      return null;
    },
  };
}

/** The local directory of `pathOrHubId`: itself when it exists, else the hub download. */
export async function resolveCheckpointDirectory(
  pathOrHubId: string,
  options: HubOptions,
): Promise<string> {
  if (typeof pathOrHubId !== "string" || pathOrHubId.trim() === "") {
    throw new InvalidArgumentError(
      `fromPretrained needs a model directory or a hub id like "org/name", got ${JSON.stringify(pathOrHubId)}`,
    );
  }
  if (existsSync(pathOrHubId)) {
    const dir = resolve(pathOrHubId);
    if (!statSync(dir).isDirectory()) {
      throw new FileFormatError(dir, "is a file; pass the model's directory", { missing: true });
    }
    return dir;
  }
  return resolveModelPath(pathOrHubId, options);
}
