/**
 * A minimal Parquet writer for tests (hyparquet only reads): one row group, required columns,
 * PLAIN encoding, no compression, data page v1, Thrift compact footer. Enough to lay out a
 * Hugging Face style BEIR mirror (string and int64 columns) and read it back with hyparquet.
 */
import { writeFileSync } from "node:fs";

type Column =
  | { name: string; type: "string"; values: string[] }
  | { name: string; type: "int64"; values: bigint[] };

class Compact {
  bytes: number[] = [];
  private last: number[] = [0];
  varint(n: bigint): void {
    let v = n;
    while (v >= 0x80n) {
      this.bytes.push(Number((v & 0x7fn) | 0x80n));
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }
  zigzag(n: number | bigint): void {
    const v = BigInt(n);
    this.varint(v >= 0n ? v << 1n : (-v << 1n) - 1n);
  }
  field(id: number, type: number): void {
    const delta = id - this.last[this.last.length - 1];
    if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type);
    else {
      this.bytes.push(type);
      this.zigzag(id);
    }
    this.last[this.last.length - 1] = id;
  }
  i32(id: number, v: number): void {
    this.field(id, 5);
    this.zigzag(v);
  }
  i64(id: number, v: number | bigint): void {
    this.field(id, 6);
    this.zigzag(v);
  }
  binary(id: number, s: string): void {
    this.field(id, 8);
    const b = Buffer.from(s, "utf8");
    this.varint(BigInt(b.length));
    this.bytes.push(...b);
  }
  listHeader(id: number, size: number, elemType: number): void {
    this.field(id, 9);
    if (size < 15) this.bytes.push((size << 4) | elemType);
    else {
      this.bytes.push(0xf0 | elemType);
      this.varint(BigInt(size));
    }
  }
  beginStruct(id?: number): void {
    if (id !== undefined) this.field(id, 12);
    this.last.push(0);
  }
  endStruct(): void {
    this.bytes.push(0);
    this.last.pop();
  }
}

export function writeParquet(path: string, columns: Column[]): void {
  const numRows = columns[0].values.length;
  const chunks: Buffer[] = [Buffer.from("PAR1")];
  let offset = 4;
  const metas: { offset: number; size: number; type: number; name: string }[] = [];
  for (const col of columns) {
    const parts: Buffer[] = [];
    if (col.type === "string") {
      for (const v of col.values) {
        const b = Buffer.from(v, "utf8");
        const len = Buffer.alloc(4);
        len.writeUInt32LE(b.length);
        parts.push(len, b);
      }
    } else {
      for (const v of col.values) {
        const b = Buffer.alloc(8);
        b.writeBigInt64LE(v);
        parts.push(b);
      }
    }
    const data = Buffer.concat(parts);
    const h = new Compact();
    h.beginStruct();
    h.i32(1, 0); // DATA_PAGE
    h.i32(2, data.length);
    h.i32(3, data.length);
    h.beginStruct(5);
    h.i32(1, numRows);
    h.i32(2, 0); // PLAIN
    h.i32(3, 3); // RLE
    h.i32(4, 3);
    h.endStruct();
    h.endStruct();
    const header = Buffer.from(h.bytes);
    const type = col.type === "string" ? 6 : 2;
    metas.push({ offset, size: header.length + data.length, type, name: col.name });
    chunks.push(header, data);
    offset += header.length + data.length;
  }
  const m = new Compact();
  m.beginStruct();
  m.i32(1, 1);
  m.listHeader(2, columns.length + 1, 12);
  m.beginStruct();
  m.binary(4, "schema");
  m.i32(5, columns.length);
  m.endStruct();
  for (const c of columns) {
    m.beginStruct();
    m.i32(1, c.type === "string" ? 6 : 2);
    m.i32(3, 0); // REQUIRED
    m.binary(4, c.name);
    if (c.type === "string") m.i32(6, 0); // UTF8
    m.endStruct();
  }
  m.i64(3, numRows);
  m.listHeader(4, 1, 12);
  m.beginStruct();
  m.listHeader(1, metas.length, 12);
  for (const cm of metas) {
    m.beginStruct();
    m.i64(2, cm.offset);
    m.beginStruct(3);
    m.i32(1, cm.type);
    m.listHeader(2, 1, 5);
    m.zigzag(0);
    m.listHeader(3, 1, 8);
    const nb = Buffer.from(cm.name, "utf8");
    m.varint(BigInt(nb.length));
    m.bytes.push(...nb);
    m.i32(4, 0); // UNCOMPRESSED
    m.i64(5, numRows);
    m.i64(6, cm.size);
    m.i64(7, cm.size);
    m.i64(9, cm.offset);
    m.endStruct();
    m.endStruct();
  }
  m.i64(
    2,
    metas.reduce((s, c) => s + c.size, 0),
  );
  m.i64(3, numRows);
  m.endStruct();
  m.endStruct();
  const meta = Buffer.from(m.bytes);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(meta.length);
  chunks.push(meta, len, Buffer.from("PAR1"));
  writeFileSync(path, Buffer.concat(chunks));
}
