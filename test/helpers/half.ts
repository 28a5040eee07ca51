/**
 * Writes safetensors files with float16 / bfloat16 tensors (the io module writes float32
 * only), rounding to nearest even as torch's .to(dtype) does.
 */
import { writeFileSync } from "node:fs";

export type HalfDType = "F16" | "BF16";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → bfloat16 bits, round to nearest even (NaN stays NaN). */
export function toBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 → float16 bits, round to nearest even. */
export function toF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** Values as they read back after rounding to `dtype`. */
export function roundTo(dtype: HalfDType, data: Float32Array): Float32Array {
  const out = new Float32Array(data.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < data.length; i++) {
    if (dtype === "BF16") bits[i] = toBf16Bits(data[i]) << 16;
    else {
      const h = toF16Bits(data[i]);
      const s = h & 0x8000 ? -1 : 1;
      const e = (h >>> 10) & 0x1f;
      const m = h & 0x3ff;
      out[i] =
        e === 0
          ? s * m * 2 ** -24
          : e === 0x1f
            ? m
              ? NaN
              : s * Infinity
            : s * (1 + m / 1024) * 2 ** (e - 15);
    }
  }
  return out;
}

export function writeHalfSafetensors(
  path: string,
  tensors: Readonly<Record<string, { data: Float32Array; shape: readonly number[] }>>,
  dtype: HalfDType,
): void {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const n of names) {
    const len = tensors[n].data.length * 2;
    header[n] = { dtype, shape: tensors[n].shape, data_offsets: [offset, offset + len] };
    offset += len;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const body = new Uint16Array(offset / 2);
  let at = 0;
  for (const n of names) {
    for (const x of tensors[n].data) body[at++] = dtype === "BF16" ? toBf16Bits(x) : toF16Bits(x);
  }
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json), Buffer.from(body.buffer)]));
}
