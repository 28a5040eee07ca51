/**
 * What the kernel loaders need of WebAssembly: the slice of its API they use (not in this
 * project's ES2023 + node typings) and the decoding of a generated module's bytes.
 */

export interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}

export interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

/** The runtime's WebAssembly object, or null where there is none. */
export function wasmApi(): WasmApi | null {
  return (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly ?? null;
}

/**
 * Compiles a generated module (base64 bytes, see scripts/build-kernels.mjs), or returns null
 * where the runtime has no WebAssembly or no SIMD (the callers then use their scalar loops).
 */
export function compileKernel(base64: string): object | null {
  const api = wasmApi();
  if (!api) return null;
  try {
    return new api.Module(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
  } catch {
    return null; // SIMD refused by this runtime
  }
}

/** A fresh instance (its own memory) of a compiled kernel module. */
export function instantiate<T>(module: object): T {
  const api = wasmApi()!;
  return new api.Instance(module, {}).exports as T;
}
