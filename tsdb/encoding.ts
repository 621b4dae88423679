// Primitive encodings of the TSDB formats, as Prometheus's tsdb/encoding package has them
// (https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/encoding/encoding.go):
// big-endian fixed ints, LEB128 uvarints, zig-zag varints and length-prefixed strings. 64-bit
// values are held in `number` and must stay within ±2^53 (true for millisecond timestamps and
// chunk refs).

import { CorruptionError } from "./errors.ts";

const TEXT_DECODER = new TextDecoder("utf-8", { fatal: false });
const TEXT_ENCODER = new TextEncoder();
const TWO32 = 4294967296;

/** Growable byte buffer with the TSDB primitive writers. */
export class Encbuf {
  private buf: Uint8Array;
  private view: DataView;
  /** Number of bytes written. */
  len = 0;

  constructor(initialCapacity = 1024) {
    this.buf = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buf.buffer);
  }

  /** Empties the buffer, keeping its memory. */
  reset(): void {
    this.len = 0;
  }

  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
    this.view = new DataView(nb.buffer);
  }

  putByte(b: number): void {
    this.grow(1);
    this.buf[this.len++] = b;
  }

  putBytes(b: Uint8Array): void {
    this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  putBE16(v: number): void {
    this.grow(2);
    this.view.setUint16(this.len, v);
    this.len += 2;
  }

  putBE32(v: number): void {
    this.grow(4);
    this.view.setUint32(this.len, v >>> 0);
    this.len += 4;
  }

  /** Writes a non-negative integer < 2^53 as 8 big-endian bytes. */
  putBE64(v: number): void {
    this.grow(8);
    this.view.setUint32(this.len, Math.floor(v / TWO32));
    this.view.setUint32(this.len + 4, v % TWO32);
    this.len += 8;
  }

  /** Writes the raw IEEE-754 bits of `v` big-endian. */
  putBEFloat64(v: number): void {
    this.grow(8);
    this.view.setFloat64(this.len, v);
    this.len += 8;
  }

  /** Unsigned LEB128 of a non-negative integer < 2^53. */
  putUvarint(v: number): void {
    this.grow(10);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
  }

  /** Zig-zag signed varint of an integer within ±2^52. */
  putVarint(v: number): void {
    this.putUvarint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  /** uvarint byte length followed by the UTF-8 bytes. */
  putUvarintStr(s: string): void {
    const b = TEXT_ENCODER.encode(s);
    this.putUvarint(b.length);
    this.putBytes(b);
  }

  /** Overwrites 4 bytes at `pos` (used to patch lengths). */
  setBE32At(pos: number, v: number): void {
    this.view.setUint32(pos, v >>> 0);
  }

  /** A view of the written bytes (valid until the next write). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/**
 * Cursor over a byte array with the TSDB primitive readers. Reading past the end throws a
 * {@link CorruptionError} naming `file` and the offset (`base + position`).
 */
export class Decbuf {
  pos: number;
  /** Made on the first fixed-width read: most cursors (series entries) read only varints. */
  private fixed: DataView | null = null;

  constructor(
    /** The bytes read; {@link reset} points a reused cursor at others. */
    public b: Uint8Array,
    /** File name for error messages. */
    readonly file = "<buffer>",
    /** File offset of `b[0]`, for error messages. */
    readonly base = 0,
    start = 0,
  ) {
    this.pos = start;
  }

  /**
   * Points this cursor at the start of `b`, so one cursor serves many small buffers read one
   * after another (cached series entries: a cursor each was garbage per entry).
   */
  reset(b: Uint8Array): void {
    this.b = b;
    this.pos = 0;
    this.fixed = null;
  }

  /** A DataView of `b`, for big-endian fixed-width reads. */
  get view(): DataView {
    return this.fixed ??= new DataView(this.b.buffer, this.b.byteOffset, this.b.byteLength);
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.b.length - this.pos;
  }

  /** Throws a corruption error at the current position. */
  fail(detail: string, at = this.pos): never {
    throw new CorruptionError(this.file, this.base + at, detail);
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.b.length) this.fail(`truncated: need ${n} bytes for ${what}`);
  }

  byte(): number {
    this.need(1, "byte");
    return this.b[this.pos++];
  }

  be16(): number {
    this.need(2, "uint16");
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  be32(): number {
    this.need(4, "uint32");
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  /** Reads 8 big-endian bytes as a number; fails if the value exceeds 2^53. */
  be64(): number {
    this.need(8, "uint64");
    const hi = this.view.getUint32(this.pos);
    const lo = this.view.getUint32(this.pos + 4);
    if (hi >= 0x200000) this.fail("uint64 value exceeds 2^53");
    this.pos += 8;
    return hi * TWO32 + lo;
  }

  beFloat64(): number {
    this.need(8, "float64");
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  uvarint(): number {
    const b = this.b;
    let p = this.pos;
    if (p >= b.length) this.fail("truncated uvarint", p);
    let c = b[p++];
    if (c < 0x80) {
      // most varints of series entries and postings tables (symbol refs, counts, deltas)
      this.pos = p;
      return c;
    }
    // up to four bytes in 32-bit integer arithmetic, then doubles (timestamps, refs past 2^28)
    let result = c & 0x7f;
    for (let shift = 7; shift < 28; shift += 7) {
      if (p >= b.length) this.fail("truncated uvarint", p);
      c = b[p++];
      result |= (c & 0x7f) << shift;
      if (c < 0x80) {
        this.pos = p;
        return result;
      }
    }
    let mul = 0x10000000;
    for (let i = 4; i < 10; i++) {
      if (p >= b.length) this.fail("truncated uvarint", p);
      c = b[p++];
      result += (c & 0x7f) * mul;
      if (c < 0x80) {
        this.pos = p;
        if (result > Number.MAX_SAFE_INTEGER) this.fail("uvarint exceeds 2^53");
        return result;
      }
      mul *= 128;
    }
    this.pos = p;
    return this.fail("uvarint overflows 64 bits");
  }

  varint(): number {
    // zig-zag: the sign is the low bit of the first byte (a modulo of a double is a C call in V8)
    const negative = this.pos < this.b.length && (this.b[this.pos] & 1) === 1;
    const u = this.uvarint();
    return negative ? -(u + 1) / 2 : u / 2;
  }

  bytes(n: number): Uint8Array {
    this.need(n, `${n} bytes`);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  skip(n: number): void {
    this.need(n, `${n} bytes`);
    this.pos += n;
  }

  uvarintStr(): string {
    const n = this.uvarint();
    return TEXT_DECODER.decode(this.bytes(n));
  }

  /** Reads a uvarint-prefixed string as raw bytes (no decoding). */
  uvarintBytes(): Uint8Array {
    const n = this.uvarint();
    return this.bytes(n);
  }
}

/** Decodes UTF-8 bytes to a string. */
export function decodeUtf8(b: Uint8Array): string {
  return TEXT_DECODER.decode(b);
}

/** Encodes a string to UTF-8 bytes. */
export function encodeUtf8(s: string): Uint8Array {
  return TEXT_ENCODER.encode(s);
}
