/**
 * The browser's stand-in for graph/runtime.ts (the one file that imports onnxruntime-node):
 * the same exports on onnxruntime-web. The web build (scripts/build-web.mjs) resolves
 * graph/runtime.js to this file, so models and graphs run unchanged in the browser.
 *
 * Execution: WebAssembly SIMD, multi-threaded where the page is cross-origin isolated
 * (SharedArrayBuffer), or WebGPU when `configureWebRuntime({ executionProviders: ["webgpu"] })`
 * is set (onnxruntime-web falls back to the next provider in the list for unsupported ops).
 */
import * as ort from "onnxruntime-web";

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

/** The options of graph/runtime.ts; only `threads` and `graphOptimizationLevel` apply here. */
export interface RuntimeOptions {
  readonly threads?: number;
  readonly graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
  readonly allowSpinning?: boolean;
  readonly optimizedModelFilePath?: string;
  readonly enableCpuMemArena?: boolean;
  readonly enableMemPattern?: boolean;
}

export type WebExecutionProvider = "wasm" | "webgpu";

export interface WebRuntimeOptions {
  /** Providers in order of preference; default ["wasm"]. */
  readonly executionProviders?: readonly WebExecutionProvider[];
  /**
   * WebAssembly threads; default: 1 without cross-origin isolation (no SharedArrayBuffer),
   * else min(4, hardwareConcurrency).
   */
  readonly threads?: number;
  /** Where onnxruntime-web's .wasm/.mjs files are served (its `env.wasm.wasmPaths`). */
  readonly wasmPaths?: string;
}

let webOptions: WebRuntimeOptions = {};

/**
 * Sets how sessions opened after this call run (providers, threads, where the ORT wasm files
 * are). onnxruntime-web's thread count is global: it is fixed by the first session.
 */
export function configureWebRuntime(options: WebRuntimeOptions): void {
  webOptions = { ...webOptions, ...options };
}

/** Whether this page may use WebAssembly threads (cross-origin isolated). */
export function crossOriginIsolated(): boolean {
  return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
}

export function defaultThreads(): number {
  if (!crossOriginIsolated()) return 1;
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  return Math.max(1, Math.min(4, cores ?? 1));
}

export function makeTensor(
  type: TensorType,
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array,
  dims: readonly number[],
): TensorLike {
  return new ort.Tensor(type, data as Float32Array, dims);
}

/** A serialised model; in the browser every weight is embedded or in `externalData`. */
export interface ModelBytes {
  readonly bytes: Uint8Array;
  readonly externalFolder: string | null;
  readonly externalData?: readonly { readonly path: string; readonly data: Uint8Array }[];
}

export async function createInferenceSession(
  model: string | ModelBytes,
  options: RuntimeOptions = {},
): Promise<InferenceSessionLike> {
  const threads = webOptions.threads ?? options.threads ?? defaultThreads();
  ort.env.wasm.numThreads = crossOriginIsolated() ? threads : 1;
  if (webOptions.wasmPaths) ort.env.wasm.wasmPaths = webOptions.wasmPaths;
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [...(webOptions.executionProviders ?? ["wasm"])],
    graphOptimizationLevel: options.graphOptimizationLevel ?? "all",
    logSeverityLevel: 3,
  };
  if (typeof model !== "string" && model.externalData && model.externalData.length > 0) {
    sessionOptions.externalData = model.externalData.map((f) => ({ path: f.path, data: f.data }));
  }
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
