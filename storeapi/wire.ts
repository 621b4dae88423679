// Protocol-buffers wire primitives (proto3) for the StoreAPI codecs: varints, 64-bit integers held
// in `number` without BigInt, length-delimited fields. Decoding never copies `bytes` fields: they
// come back as views of the input, which is how chunk payloads stay zero-copy from socket to querier.

import { utf8Length } from "../strconv/utf8.ts";

/** Wire types of a field tag. */
export enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
}

/** Largest int64 as the nearest double (2^63); encoders write it as `math.MaxInt64`. */
export const INT64_MAX = 9223372036854775807;
/** Smallest int64 (-2^63), exact as a double. */
export const INT64_MIN = -9223372036854775808;

const TWO32 = 4294967296;
const TEXT_DECODER = new TextDecoder("utf-8");

/** Slots of the short-string cache of {@link ProtoReader.string} (a prime: hash mod slots). */
const INTERN_SLOTS = 4093;
const INTERNED: string[] = new Array<string>(INTERN_SLOTS).fill("");
const TEXT_ENCODER = new TextEncoder();

/** Bytes do not form a valid protobuf message of the expected type. */
export class ProtoDecodeError extends Error {
  override name = "ProtoDecodeError";
  constructor(readonly what: string, readonly offset: number, detail: string) {
    super(`cannot decode ${what} at byte ${offset}: ${detail}`);
  }
}

/** Size in bytes of `v` (a non-negative integer below 2^53) as a varint. */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  // comparisons, not a division loop: chunk and sample times (~2^40 ms) take 6 bytes
  if (v < 0x800000000) return 5;
  if (v < 0x40000000000) return 6;
  if (v < 0x2000000000000) return 7;
  if (v < 0x100000000000000) return 8;
  if (v < 0x8000000000000000) return 9;
  return 10;
}

/** Size of an int64 field value (negative numbers take 10 bytes, as in Go). */
export function int64Size(v: number): number {
  if (v < 0) return 10;
  if (v >= INT64_MAX) return 9;
  return varintSize(v);
}

/** Size of a length-delimited field (tag + length + payload) for field numbers below 16. */
export function ldSize(payload: number): number {
  return 1 + varintSize(payload) + payload;
}

/**
 * Writes protobuf into a fixed buffer whose size the caller computed exactly (the hot path), or
 * into a growable one (`ProtoWriter.growable()`), where embedded messages reserve their length.
 */
export class ProtoWriter {
  buf: Uint8Array;
  pos: number;
  private readonly growableBuf: boolean;

  constructor(buf: Uint8Array, pos = 0, growable = false) {
    this.buf = buf;
    this.pos = pos;
    this.growableBuf = growable;
  }

  /** A writer that grows as needed; read the result with `finish()`. */
  static growable(initial = 256): ProtoWriter {
    return new ProtoWriter(new Uint8Array(initial), 0, true);
  }

  /** The written bytes (a view, no copy). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    if (!this.growableBuf) {
      throw new RangeError(
        `protobuf writer overflow: need ${n} bytes at ${this.pos}, buffer is ${this.buf.length}`,
      );
    }
    let cap = Math.max(this.buf.length * 2, 64);
    while (cap < this.pos + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.pos));
    this.buf = nb;
  }

  /** Writes a raw byte. */
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** Writes a tag for `field` with `wireType`. */
  tag(field: number, wireType: WireType): void {
    this.varint(field * 8 + wireType);
  }

  /** Writes a non-negative integer (< 2^53) as a varint. */
  varint(v: number): void {
    if (this.pos + 10 > this.buf.length) this.ensure(varintSize(v));
    const b = this.buf;
    let p = this.pos;
    // above int32 (chunk and sample times): four 7-bit groups per float division, not a float
    // modulo (a C call in V8) per byte
    while (v >= 0x80000000) {
      const hi = Math.floor(v / 0x10000000);
      const lo = v - hi * 0x10000000;
      b[p++] = (lo & 0x7f) | 0x80;
      b[p++] = ((lo >>> 7) & 0x7f) | 0x80;
      b[p++] = ((lo >>> 14) & 0x7f) | 0x80;
      b[p++] = (lo >>> 21) | 0x80;
      v = hi;
    }
    while (v >= 0x80) {
      b[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  /** Writes an int64 varint; values beyond ±2^63 clamp to Go's MaxInt64/MinInt64. */
  int64(v: number): void {
    let lo: number;
    let hi: number;
    if (v >= INT64_MAX) {
      hi = 0x7fffffff;
      lo = 0xffffffff;
    } else if (v <= INT64_MIN) {
      hi = 0x80000000;
      lo = 0;
    } else if (v >= 0) {
      this.varint(Math.trunc(v));
      return;
    } else {
      const a = -Math.trunc(v);
      lo = a % TWO32;
      hi = Math.floor(a / TWO32);
      // two's complement of the 64-bit magnitude
      lo = (~lo + 1) >>> 0;
      hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
    }
    this.ensure(v < 0 ? 10 : 9);
    const b = this.buf;
    let p = this.pos;
    while (hi !== 0 || lo >= 0x80) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[p++] = lo;
    this.pos = p;
  }

  /** Writes raw bytes. */
  raw(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** Writes the UTF-8 of `s`, whose byte length the caller knows. */
  stringBytes(s: string, byteLen: number): void {
    this.ensure(byteLen);
    const b = this.buf;
    if (byteLen === s.length) {
      // ASCII: a plain loop beats encodeInto for the short strings labels are
      let p = this.pos;
      for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
      this.pos = p;
    } else {
      TEXT_ENCODER.encodeInto(s, b.subarray(this.pos, this.pos + byteLen));
      this.pos += byteLen;
    }
  }

  /** int64 field, omitted when 0 (proto3). */
  int64Field(field: number, v: number): void {
    if (v === 0) return;
    this.tag(field, WireType.Varint);
    this.int64(v);
  }

  /** double field (fixed64, little-endian), omitted when 0 (proto3). */
  doubleField(field: number, v: number): void {
    if (v === 0 && !Object.is(v, -0)) return;
    this.tag(field, WireType.Fixed64);
    this.ensure(8);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).setFloat64(0, v, true);
    this.pos += 8;
  }

  /** uint32/enum field, omitted when 0. */
  uintField(field: number, v: number): void {
    if (v === 0) return;
    this.tag(field, WireType.Varint);
    this.varint(v);
  }

  /** bool field, omitted when false. */
  boolField(field: number, v: boolean | undefined): void {
    if (!v) return;
    this.tag(field, WireType.Varint);
    this.byte(1);
  }

  /** string field, omitted when empty. */
  stringField(field: number, s: string | undefined): void {
    if (!s) return;
    const n = utf8Length(s);
    this.tag(field, WireType.LengthDelimited);
    this.varint(n);
    this.stringBytes(s, n);
  }

  /** repeated string: every element is written, even empty ones. */
  repeatedString(field: number, values: readonly string[] | undefined): void {
    if (!values) return;
    for (const s of values) {
      const n = utf8Length(s);
      this.tag(field, WireType.LengthDelimited);
      this.varint(n);
      this.stringBytes(s, n);
    }
  }

  /** bytes field, omitted when empty. */
  bytesField(field: number, data: Uint8Array | undefined): void {
    if (!data || data.length === 0) return;
    this.tag(field, WireType.LengthDelimited);
    this.varint(data.length);
    this.raw(data);
  }

  /**
   * Embedded message (growable writers only): reserves 5 length bytes, lets `body` write, then
   * closes the gap. Always written, even when empty (presence matters for `oneof`/sub-messages).
   */
  message(field: number, body: (w: ProtoWriter) => void): void {
    this.tag(field, WireType.LengthDelimited);
    this.ensure(5);
    const lenPos = this.pos;
    this.pos += 5;
    body(this);
    const len = this.pos - lenPos - 5;
    const vs = varintSize(len);
    if (vs < 5) {
      this.buf.copyWithin(lenPos + vs, lenPos + 5, this.pos);
      this.pos -= 5 - vs;
    }
    const end = this.pos;
    this.pos = lenPos;
    this.varint(len);
    this.pos = end;
  }
}

/** Reads protobuf fields from a view; `bytes()` returns views of the input (zero copy). */
export class ProtoReader {
  pos: number;
  end: number;

  constructor(readonly buf: Uint8Array, readonly what: string, pos = 0, end = buf.length) {
    this.pos = pos;
    this.end = end;
  }

  /** True when every field has been read. */
  eof(): boolean {
    return this.pos >= this.end;
  }

  private fail(detail: string): never {
    throw new ProtoDecodeError(this.what, this.pos, detail);
  }

  /** Reads a tag; returns `field * 8 + wireType`. */
  tag(): number {
    const t = this.varint();
    if (t < 8) this.fail(`invalid tag ${t}`);
    return t;
  }

  /** Reads a varint as a non-negative number (exact below 2^53, rounded above). */
  varint(): number {
    // tags, lengths and small numbers are one or two bytes: read without the general loop
    const b = this.buf;
    const p = this.pos;
    if (p + 1 < this.end) {
      const c = b[p];
      if (c < 0x80) {
        this.pos = p + 1;
        return c;
      }
      const d = b[p + 1];
      if (d < 0x80) {
        this.pos = p + 2;
        return (c & 0x7f) | (d << 7);
      }
    }
    return this.longVarint();
  }

  /** {@link ProtoReader.varint} of any length, with its errors. */
  private longVarint(): number {
    const b = this.buf;
    let p = this.pos;
    let lo = 0;
    let shift = 0;
    let c: number;
    do {
      if (p >= this.end) this.fail("truncated varint");
      c = b[p++];
      lo += (c & 0x7f) * 2 ** shift;
      shift += 7;
    } while (c & 0x80 && shift < 70);
    if (c & 0x80) this.fail("varint longer than 10 bytes");
    this.pos = p;
    return lo;
  }

  /** Reads an int64 varint (two's complement) as a number. */
  int64(): number {
    const b = this.buf;
    let p = this.pos;
    let lo = 0;
    let hi = 0;
    let c = 0;
    for (let i = 0; i < 10; i++) {
      if (p >= this.end) this.fail("truncated varint");
      c = b[p++];
      if (i < 4) lo |= (c & 0x7f) << (i * 7);
      else if (i === 4) {
        lo |= (c & 0x0f) << 28;
        hi |= (c & 0x7f) >> 4;
      } else hi |= (c & 0x7f) << (i * 7 - 32);
      if (!(c & 0x80)) break;
    }
    if (c & 0x80) this.fail("varint longer than 10 bytes");
    this.pos = p;
    return (hi | 0) * TWO32 + (lo >>> 0);
  }

  /** Reads a bool. */
  bool(): boolean {
    return this.varint() !== 0;
  }

  /** Reads a length prefix and checks it fits. */
  length(): number {
    const n = this.varint();
    if (this.pos + n > this.end) {
      this.fail(`length ${n} exceeds the remaining ${this.end - this.pos} bytes`);
    }
    return n;
  }

  /** Reads a bytes field as a view of the input. */
  bytes(): Uint8Array {
    const n = this.length();
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** Reads a string field. */
  string(): string {
    const n = this.length();
    const start = this.pos;
    this.pos += n;
    if (n < 24) {
      // short ASCII strings (label names, most values) decode faster by hand, and repeat from
      // series to series: the last string seen per hash slot is handed out again when its
      // characters are these bytes (no new string, and equal labels are the same string)
      const b = this.buf;
      const stop = start + n;
      let h = n;
      for (let i = start; i < stop; i++) {
        const c = b[i];
        if (c >= 0x80) return TEXT_DECODER.decode(b.subarray(start, stop));
        h = Math.imul(h ^ c, 0x01000193);
      }
      const slot = (h >>> 0) % INTERN_SLOTS;
      const hit = INTERNED[slot];
      if (hit.length === n) {
        let i = 0;
        while (i < n && hit.charCodeAt(i) === b[start + i]) i++;
        if (i === n) return hit;
      }
      let s = "";
      for (let i = start; i < stop; i++) s += String.fromCharCode(b[i]);
      INTERNED[slot] = s;
      return s;
    }
    return TEXT_DECODER.decode(this.buf.subarray(start, start + n));
  }

  /** Reads a double. */
  double(): number {
    if (this.pos + 8 > this.end) this.fail("truncated double");
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  /** Returns a reader over an embedded message and skips it here. */
  sub(what: string): ProtoReader {
    const n = this.length();
    const r = new ProtoReader(this.buf, what, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  /**
   * Reads an embedded message with `read` in place, this reader bounded to the message for the
   * call: no reader object per message (a Series response holds thousands). A message `read`
   * fails on is read again through `sub(what)`, so its error names the message as before.
   */
  embedded<T>(what: string, read: (r: ProtoReader) => T): T {
    const at = this.pos;
    const end = this.length() + this.pos;
    const outer = this.end;
    this.end = end;
    try {
      const v = read(this);
      if (this.pos === end) return v;
    } catch (e) {
      if (!(e instanceof ProtoDecodeError)) throw e;
    } finally {
      this.end = outer;
    }
    this.pos = at;
    return read(this.sub(what));
  }

  /** Reads a packed (or single unpacked) repeated varint into `out`. */
  packedVarints(wireType: number, out: number[]): void {
    if (wireType === WireType.Varint) {
      out.push(this.varint());
      return;
    }
    const n = this.length();
    const end = this.pos + n;
    while (this.pos < end) out.push(this.varint());
  }

  /** Skips a field of the given wire type (unknown fields are ignored, as proto3 requires). */
  skip(wireType: number): void {
    switch (wireType) {
      case WireType.Varint:
        this.varint();
        return;
      case WireType.Fixed64:
        this.pos += 8;
        break;
      case WireType.LengthDelimited: {
        const n = this.length(); // read before adding: `pos += length()` would use the old pos
        this.pos += n;
        return;
      }
      case WireType.Fixed32:
        this.pos += 4;
        break;
      case WireType.StartGroup: {
        for (;;) {
          const t = this.tag();
          if ((t & 7) === WireType.EndGroup) return;
          this.skip(t & 7);
        }
      }
      default:
        this.fail(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) this.fail("truncated fixed-size field");
  }
}
