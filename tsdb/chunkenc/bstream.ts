// The bit stream under every chunk payload, Prometheus's bstream
// (https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/chunkenc/bstream.go, notes in
// https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/docs/bstream.md): bits are written
// MSB-first, the stream ends with zero padding to a byte boundary. 64-bit fields are handled
// as hi/lo 32-bit words so no BigInt is needed.

import { CorruptionError } from "../errors.ts";

/**
 * Zero bytes kept after the data in a {@link BitReader}'s buffer, so that a read can always
 * load a whole 32-bit window and truncation is detected by comparing bit positions instead of
 * bounds-checking every byte load.
 */
export const BIT_READER_PADDING = 32;

/** Append-only MSB-first bit writer over a growable byte buffer. */
export class BitWriter {
  /** Backing buffer; bytes past the written bits are always zero. */
  private buf: Uint8Array;
  /** Number of bits written. */
  nbits = 0;

  constructor(initialCapacity = 128) {
    this.buf = new Uint8Array(Math.max(8, initialCapacity));
  }

  /** Number of bytes the stream occupies (the last one zero-padded). */
  get lengthBytes(): number {
    return (this.nbits + 7) >>> 3;
  }

  private ensure(extraBits: number): void {
    // +5 bytes of slack: writeBits ORs a whole 5-byte window.
    const needBytes = ((this.nbits + extraBits + 7) >>> 3) + 5;
    if (needBytes <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < needBytes) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.lengthBytes));
    this.buf = nb;
  }

  /** Writes one bit (0 or 1). */
  writeBit(bit: number): void {
    const n = this.nbits;
    if ((n >>> 3) + 5 >= this.buf.length) this.ensure(1);
    if (bit) this.buf[n >>> 3] |= 0x80 >>> (n & 7);
    this.nbits = n + 1;
  }

  /** Writes the `n` (0…32) least-significant bits of `v`, most significant first. */
  writeBits(v: number, n: number): void {
    if (n <= 0) return;
    const pos = this.nbits;
    if ((pos >>> 3) + 9 >= this.buf.length) this.ensure(n);
    const b = this.buf;
    const i = pos >>> 3;
    const s = pos & 7;
    // Left-align the n bits in a 32-bit word (shifting drops the bits above them), then OR
    // the word into the 5 bytes it spans; bytes past the written bits are always zero.
    const x = v << (32 - n);
    b[i] |= x >>> (24 + s);
    b[i + 1] |= x >>> (16 + s);
    b[i + 2] |= x >>> (8 + s);
    b[i + 3] |= x >>> s;
    if (s !== 0) b[i + 4] |= x << (8 - s);
    this.nbits = pos + n;
  }

  /** Writes the `n` (0…64) least-significant bits of the 64-bit word `hi:lo`. */
  writeBits64(hi: number, lo: number, n: number): void {
    if (n > 32) {
      this.writeBits(hi, n - 32);
      this.writeBits(lo, 32);
    } else {
      this.writeBits(lo, n);
    }
  }

  /** Writes 8 bits (need not be byte aligned). */
  writeByte(b: number): void {
    this.writeBits(b & 0xff, 8);
  }

  /** Overwrites whole byte `i` of the stream (used for headers such as the sample count). */
  setByte(i: number, b: number): void {
    this.buf[i] = b;
  }

  /** A view of the written bytes, valid until the next write. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.lengthBytes);
  }

  /** A copy of the written bytes. */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.lengthBytes);
  }
}

/**
 * MSB-first bit reader. The data is copied into an internal zero-padded buffer (reused
 * across {@link BitReader.reset} calls), so reads never run off the end; callers check
 * {@link BitReader.overrun} (or call {@link BitReader.check}) after each logical record.
 */
export class BitReader {
  /** Padded copy of the data. */
  buf: Uint8Array = new Uint8Array(BIT_READER_PADDING);
  /** Current bit position. */
  pos = 0;
  /** Number of real (unpadded) bits. */
  nbits = 0;
  /** High word of the last {@link BitReader.readBits64} result. */
  hi = 0;
  /** Low word of the last {@link BitReader.readBits64} result. */
  lo = 0;

  constructor(data?: Uint8Array, readonly file = "<chunk>") {
    if (data) this.reset(data);
  }

  /** Starts reading `data` from bit 0, reusing the internal buffer when it is large enough. */
  reset(data: Uint8Array): void {
    const need = data.length + BIT_READER_PADDING;
    if (this.buf.length < need) {
      this.buf = new Uint8Array(Math.max(need, this.buf.length * 2));
    } else {
      // Clear the padding left over from a longer previous stream.
      this.buf.fill(0, data.length, need);
    }
    this.buf.set(data);
    this.pos = 0;
    this.nbits = data.length * 8;
  }

  /** True when reads went past the real data into the padding. */
  get overrun(): boolean {
    return this.pos > this.nbits;
  }

  /** Throws a {@link CorruptionError} if reads went past the end of the data. */
  check(what: string): void {
    if (this.pos > this.nbits) {
      throw new CorruptionError(
        this.file,
        this.nbits >>> 3,
        `truncated data while reading ${what}`,
      );
    }
  }

  /** Next 32 bits from the current position, without consuming them. */
  peek32(): number {
    const b = this.buf;
    const p = this.pos;
    const i = p >>> 3;
    const s = p & 7;
    const w = (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3];
    return ((w << s) | (b[i + 4] >>> (8 - s))) >>> 0;
  }

  /** Reads one bit. */
  readBit(): number {
    const p = this.pos;
    this.pos = p + 1;
    return (this.buf[p >>> 3] >>> (7 - (p & 7))) & 1;
  }

  /** Reads `n` (0…32) bits as an unsigned number. */
  readBits(n: number): number {
    if (n <= 0) return 0;
    const w = this.peek32();
    this.pos += n;
    return n === 32 ? w : w >>> (32 - n);
  }

  /** Reads `n` (0…64) bits into {@link BitReader.hi}/{@link BitReader.lo}. */
  readBits64(n: number): void {
    if (n > 32) {
      this.hi = this.readBits(n - 32);
      this.lo = this.readBits(32);
    } else {
      this.hi = 0;
      this.lo = this.readBits(n);
    }
  }

  /** Reads 8 bits (need not be byte aligned). */
  readByte(): number {
    return this.readBits(8);
  }

  /** Reads up to 52 bits as a non-negative number. */
  readBitsNumber(n: number): number {
    if (n <= 32) return this.readBits(n);
    const hi = this.readBits(n - 32);
    return hi * 4294967296 + this.readBits(32);
  }
}
