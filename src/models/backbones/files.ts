/**
 * Backbones from a model directory on disk (Node only): the in-memory path is
 * `createEncoder(config, weights)` in encoder.ts, which reads no file.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { WeightStore } from "../../io/safetensors.js";
import { FileFormatError } from "../../util/errors.js";
import { HfConfig } from "./common.js";
import { createEncoder, type EncoderOptions, type EncoderSession } from "./encoder.js";

/** Reads and validates `config.json` of a model directory. */
export function readBackboneConfig(modelDir: string): HfConfig {
  const path = join(modelDir, "config.json");
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new FileFormatError(
      path,
      "cannot read the backbone config (is this a model directory?)",
      {
        cause: err,
        missing: true,
      },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new FileFormatError(path, `not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new FileFormatError(path, "must hold a JSON object");
  }
  return new HfConfig(raw as Record<string, unknown>, path);
}

/** `createEncoder` on a model directory's config.json and model.safetensors. */
export async function openEncoder(
  modelDir: string,
  options: EncoderOptions = {},
): Promise<EncoderSession> {
  return createEncoder(readBackboneConfig(modelDir), WeightStore.open(modelDir), options);
}
