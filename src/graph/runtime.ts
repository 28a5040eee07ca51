/**
 * The one file that imports onnxruntime-node. Everything else talks to the minimal
 * structural types below, so tests can fake a session and a browser build can swap this file
 * for onnxruntime-web.
 */
import { availableParallelism } from "node:os";
// Must stay before the onnxruntime-node import: it sets the environment that library reads.
import "./ort-env.js";
import * as ort from "onnxruntime-node";

export type TensorType = "float32" | "float16" | "int64" | "int32" | "bool";

/** What we need of an ORT tensor. */
export interface TensorLike {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}

/** What we need of an ORT inference session. */
export interface InferenceSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, TensorLike>): Promise<Record<string, TensorLike>>;
  release(): Promise<void>;
}

export interface RuntimeOptions {
  /** Intra-op threads; default: all available cores. */
  readonly threads?: number;
  /** ORT graph optimisation level; default "all" (fusions included). */
  readonly graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
  /**
   * Let idle ORT worker threads spin (ORT's default, true). On a machine shared with other
   * busy processes, false was measured faster (BERT-base, 2 threads, load ~11: -7% wall).
   */
  readonly allowSpinning?: boolean;
  /** Write the optimised graph here (debugging: see which fusions ORT applied). */
  readonly optimizedModelFilePath?: string;
  /**
   * ORT's CPU memory arena (default true). With the memory pattern on, turning the arena off
   * lowered a 2-layer BERT-base training step's peak RSS (2.58 → 1.85 GB); with the pattern off
   * the arena is both faster and smaller (see training/step.ts TRAINING_SESSION_OPTIONS).
   */
  readonly enableCpuMemArena?: boolean;
  /**
   * ORT's memory-pattern planner (default true). Training graphs: off, with the arena on, was
   * measured 2x faster and half the peak RSS (BERT-base step: the planned block is faulted in
   * on every run).
   */
  readonly enableMemPattern?: boolean;
}

export function defaultThreads(): number {
  return availableParallelism();
}

export function makeTensor(
  type: TensorType,
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array,
  dims: readonly number[],
): TensorLike {
  return new ort.Tensor(type, data as Float32Array, dims);
}

/** A serialised model; external-data locations are relative to `externalFolder`. */
export interface ModelBytes {
  readonly bytes: Uint8Array;
  readonly externalFolder: string | null;
  /** In-memory external-data files: `path` is the location the model's tensors name. */
  readonly externalData?: readonly { readonly path: string; readonly data: Uint8Array }[];
}

/** Opens an ONNX model (a file path, or bytes plus the folder its external data lives in). */
export async function createInferenceSession(
  model: string | ModelBytes,
  options: RuntimeOptions = {},
): Promise<InferenceSessionLike> {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: options.threads ?? defaultThreads(),
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: options.graphOptimizationLevel ?? "all",
    logSeverityLevel: 3,
  };
  if (options.optimizedModelFilePath) {
    sessionOptions.optimizedModelFilePath = options.optimizedModelFilePath;
  }
  if (options.enableCpuMemArena !== undefined) {
    sessionOptions.enableCpuMemArena = options.enableCpuMemArena;
  }
  if (options.enableMemPattern !== undefined) {
    sessionOptions.enableMemPattern = options.enableMemPattern;
  }
  const extra: Record<string, string> = {};
  if (typeof model !== "string" && model.externalFolder) {
    extra["session.model_external_initializers_file_folder_path"] = model.externalFolder;
  }
  if (typeof model !== "string" && model.externalData && model.externalData.length > 0) {
    sessionOptions.externalData = model.externalData.map((f) => ({ path: f.path, data: f.data }));
  }
  if (options.allowSpinning === false) extra["session.intra_op.allow_spinning"] = "0";
  if (Object.keys(extra).length > 0) sessionOptions.extra = extra;
  const session =
    typeof model === "string"
      ? await ort.InferenceSession.create(model, sessionOptions)
      : await ort.InferenceSession.create(model.bytes, sessionOptions);
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run: async (feeds) => session.run(feeds as Record<string, ort.Tensor>),
    release: () => session.release(),
  };
}
