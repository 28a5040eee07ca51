/**
 * Helpers for the small hand-assembled WebAssembly kernels (indexes/wasm-kernels.ts,
 * training/adamw-kernel.ts): the binary encodings they share, and the slice of the
 * WebAssembly API they use (not in this project's ES2023 + node typings).
 */

/** Unsigned LEB128, WebAssembly's integer encoding. */
export function uleb128(n: number): number[] {
  const out: number[] = [];
  let v = n;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}

/** A module section: id, byte length, bytes. */
export function wasmSection(id: number, bytes: number[]): number[] {
  return [id, ...uleb128(bytes.length), ...bytes];
}

/** A name (export or import) as length-prefixed ASCII. */
export function wasmName(s: string): number[] {
  return [s.length, ...[...s].map((c) => c.charCodeAt(0))];
}

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
