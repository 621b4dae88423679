// XOR chunk encoding (Gorilla-style,
// https://github.com/prometheus/prometheus/blob/v3.8.0/tsdb/docs/format/chunks.md#xor-chunk-data
// and tsdb/chunkenc/xor.go there), bit-exact with Prometheus 3.x.
// The decoder also accepts the extra trailing zero byte written by Prometheus 2.x.
//
// NaN payloads: V8 may canonicalise a NaN held in a JS number (object fields in the
// interpreter, constants in optimised code), which would turn the stale marker into an
// ordinary NaN. Value bits are therefore kept as two uint32 words end to end: the iterator
// exposes `vHi`/`vLo`, `decodeXorSamples` writes the words straight into the output
// Float64Array's memory, and `XorAppender.appendBits` takes words.

import { CorruptionError, InvalidInputError } from "../errors.ts";
import { STALE_NAN_HI, STALE_NAN_LO } from "../value.ts";
import { BIT_READER_PADDING, BitWriter } from "./bstream.ts";

const TWO32 = 4294967296;
/** Bounds within which a run's timestamps are exact integers whether added or multiplied. */
const TWO48 = 281474976710656;
const TWO52 = 4503599627370496;
/** Max samples per chunk: the count is a BE16. */
const MAX_SAMPLES = 65535;
const CHUNK_FILE = "<chunk>";

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Index of the high / low 32-bit word of a float64 in a Uint32Array view. */
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = LITTLE_ENDIAN ? 0 : 1;
const scratchF64 = new Float64Array(1);
const scratchU32 = new Uint32Array(scratchF64.buffer);

/** Count of trailing zero bits of a non-zero 32-bit word. */
function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Samples per XOR chunk Prometheus aims for (2.42 `samplesPerChunk`; Thanos's MaxSamplesPerChunk). */
export const SAMPLES_PER_CHUNK = 120;

/** Streaming encoder of one XOR chunk. */
export class XorAppender {
  private readonly w = new BitWriter(256);
  private n = 0;
  private t = 0;
  private tDelta = 0;
  private vHi = 0;
  private vLo = 0;
  /** Leading/trailing zero window of the last written XOR; 0xff = no window yet. */
  private leading = 0xff;
  private trailing = 0;

  /**
   * With `allowEqualTimestamps` a sample may repeat the previous timestamp (delta 0), as Go's
   * XOR appender allows: Thanos's downsampled counter aggregate stores the last raw value that
   * way (https://github.com/thanos-io/thanos/blob/main/pkg/compact/downsample/downsample.go).
   */
  constructor(private readonly allowEqualTimestamps = false) {
    this.w.writeBits(0, 16); // sample count, patched after each append
  }

  /** Number of samples appended. */
  get numSamples(): number {
    return this.n;
  }

  /** Size of the payload in bytes (incl. the 2-byte count). */
  get sizeBytes(): number {
    return this.w.lengthBytes;
  }

  /**
   * Appends a sample. `t` is an integer ms timestamp greater than the previous one; the bits
   * of `v` are read through a Float64Array, so NaN payloads reaching here intact are kept.
   * Throws InvalidInputError on a non-increasing or non-integer timestamp or a full chunk.
   */
  append(t: number, v: number): void {
    scratchF64[0] = v;
    this.appendBits(t, scratchU32[HI], scratchU32[LO]);
  }

  /** Appends a stale marker (exact bits 0x7FF0000000000002) at `t`. */
  appendStale(t: number): void {
    this.appendBits(t, STALE_NAN_HI, STALE_NAN_LO);
  }

  /** Appends a sample whose value is given as the high/low 32-bit words of its IEEE-754 bits. */
  appendBits(t: number, hi: number, lo: number): void {
    const n = this.n;
    const w = this.w;
    if (!Number.isSafeInteger(t)) {
      throw new InvalidInputError(`XOR chunk: timestamp ${t} is not an integer number of ms`);
    }
    if (n >= MAX_SAMPLES) {
      throw new InvalidInputError(`XOR chunk: cannot hold more than ${MAX_SAMPLES} samples`);
    }
    hi >>>= 0;
    lo >>>= 0;
    if (n === 0) {
      putVarintBits(w, t);
      w.writeBits(hi, 32);
      w.writeBits(lo, 32);
    } else {
      const delta = t - this.t;
      if (!(delta > 0) && !(delta === 0 && this.allowEqualTimestamps)) {
        throw new InvalidInputError(
          `XOR chunk: timestamp ${t} is not after the previous sample's ${this.t}`,
        );
      }
      if (n === 1) {
        putUvarintBits(w, delta);
      } else {
        putDod(w, delta - this.tDelta);
      }
      this.tDelta = delta;
      this.writeValue(hi, lo);
    }
    this.t = t;
    this.vHi = hi;
    this.vLo = lo;
    this.n = n + 1;
    w.setByte(0, (n + 1) >>> 8);
    w.setByte(1, (n + 1) & 0xff);
  }

  private writeValue(hi: number, lo: number): void {
    const w = this.w;
    const xh = (hi ^ this.vHi) >>> 0;
    const xl = (lo ^ this.vLo) >>> 0;
    if (xh === 0 && xl === 0) {
      w.writeBit(0);
      return;
    }
    let lead = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
    const trail = xl !== 0 ? ctz32(xl) : 32 + ctz32(xh);
    // The leading count has a 5-bit field; clamping keeps a few zero bits in the payload.
    if (lead >= 32) lead = 31;
    if (this.leading !== 0xff && lead >= this.leading && trail >= this.trailing) {
      w.writeBits(0b10, 2);
      writeShifted(w, xh, xl, this.trailing, 64 - this.leading - this.trailing);
    } else {
      this.leading = lead;
      this.trailing = trail;
      const sig = 64 - lead - trail;
      // '11', 5 bits leading, 6 bits significant-bit count (64 is written as 0).
      w.writeBits((0b11 << 11) | (lead << 6) | (sig & 63), 13);
      writeShifted(w, xh, xl, trail, sig);
    }
  }

  /** A copy of the chunk payload (3.x form: no extra trailing byte). */
  bytes(): Uint8Array {
    return this.w.bytes();
  }
}

/** Writes the `sig` low bits of the 64-bit word `xh:xl` shifted right by `shift`. */
function writeShifted(w: BitWriter, xh: number, xl: number, shift: number, sig: number): void {
  let sh: number;
  let sl: number;
  if (shift === 0) {
    sh = xh;
    sl = xl;
  } else if (shift < 32) {
    sl = ((xl >>> shift) | (xh << (32 - shift))) >>> 0;
    sh = xh >>> shift;
  } else {
    sl = xh >>> (shift - 32);
    sh = 0;
  }
  if (sig > 32) {
    w.writeBits(sh, sig - 32);
    w.writeBits(sl, 32);
  } else {
    w.writeBits(sl, sig);
  }
}

/** Writes a delta-of-delta with the bucketed prefix code. */
function putDod(w: BitWriter, dod: number): void {
  if (dod === 0) {
    w.writeBit(0);
  } else if (dod >= -8191 && dod <= 8192) {
    w.writeBits((0b10 << 14) | (dod & 0x3fff), 16);
  } else if (dod >= -65535 && dod <= 65536) {
    w.writeBits((0b110 << 17) | (dod & 0x1ffff), 20);
  } else if (dod >= -524287 && dod <= 524288) {
    w.writeBits((0b1110 << 20) | (dod & 0xfffff), 24);
  } else {
    w.writeBits(0b1111, 4);
    // Two's complement of a value within ±2^53 as hi/lo words.
    const hi = Math.floor(dod / TWO32);
    w.writeBits(hi >>> 0, 32);
    w.writeBits(dod - hi * TWO32, 32);
  }
}

/** Writes an unsigned LEB128 varint as whole bytes into the bit stream. */
function putUvarintBits(w: BitWriter, u: number): void {
  while (u >= 0x80) {
    w.writeByte((u % 128) | 0x80);
    u = Math.floor(u / 128);
  }
  w.writeByte(u);
}

/** Writes a zig-zag varint as whole bytes into the bit stream. */
function putVarintBits(w: BitWriter, v: number): void {
  putUvarintBits(w, v >= 0 ? v * 2 : -v * 2 - 1);
}

/**
 * Loads 32 bits at bit position `p` of a padded buffer `b` (MSB first), as a signed int32; `v` is
 * a DataView of `b`'s memory (from its start): one big-endian 32-bit load and one byte load
 * instead of five byte loads, the decoder's hottest read.
 */
function peek(v: DataView, b: Uint8Array, p: number): number {
  const i = p >>> 3;
  const s = p & 7;
  return (v.getInt32(i) << s) | (b[i + 4] >>> (8 - s));
}

/**
 * Decoder of one XOR chunk that allocates nothing per sample. Usage:
 * `for (it.reset(data); it.next();) use(it.t, it.v)`. Corrupt or truncated data throws
 * {@link CorruptionError} (file `<chunk>`, offset = byte position in the payload).
 */
export class XorIterator {
  /** Padded copy of the payload (reused across resets). */
  private buf: Uint8Array = new Uint8Array(BIT_READER_PADDING + 256);
  /** `buf` as a DataView, for {@link peek}. */
  private view = new DataView(this.buf.buffer);
  private nbits = 0;
  private pos = 0;
  private n = 0;
  private i = 0;
  private tDelta = 0;
  private leading = 0;
  private trailing = 0;
  /** Timestamp (ms) of the current sample. */
  t = 0;
  /**
   * Current value bits as [high word, low word]; a typed array so that per-sample updates
   * store raw words (uint32 fields would be boxed as doubles).
   */
  private readonly vw = new Uint32Array(2);

  constructor(data?: Uint8Array) {
    if (data) this.reset(data);
  }

  /** Starts iterating `data`; throws CorruptionError if it is shorter than the 2-byte header. */
  reset(data: Uint8Array): void {
    const len = data.length;
    if (len < 2) {
      throw new CorruptionError(CHUNK_FILE, 0, `XOR chunk of ${len} bytes has no sample count`);
    }
    const need = len + BIT_READER_PADDING;
    if (this.buf.length < need) {
      this.buf = new Uint8Array(Math.max(need, this.buf.length * 2));
      this.view = new DataView(this.buf.buffer);
    } else {
      this.buf.fill(0, len, need); // clear leftovers of a longer previous chunk
    }
    this.buf.set(data);
    this.nbits = len * 8;
    this.n = (data[0] << 8) | data[1];
    this.pos = 16;
    this.i = 0;
    this.t = 0;
    this.tDelta = 0;
    this.vw[0] = 0;
    this.vw[1] = 0;
    this.leading = 0;
    this.trailing = 0;
  }

  /** Number of samples in the chunk (from its header). */
  get numSamples(): number {
    return this.n;
  }

  /**
   * Value of the current sample. A NaN payload such as the stale marker may be lost by V8 once
   * this number is stored in an object or plain array; use {@link XorIterator.isStale},
   * `vHi`/`vLo` or {@link decodeXorSamples} where the bits matter.
   */
  get v(): number {
    scratchU32[HI] = this.vw[0];
    scratchU32[LO] = this.vw[1];
    return scratchF64[0];
  }

  /** True when the current value is the stale marker (exact bit comparison). */
  isStale(): boolean {
    return this.vw[1] === STALE_NAN_LO && this.vw[0] === STALE_NAN_HI;
  }

  /** High 32 bits of the current value's IEEE-754 pattern (authoritative for NaN payloads). */
  get vHi(): number {
    return this.vw[0];
  }

  /** Low 32 bits of the current value's IEEE-754 pattern. */
  get vLo(): number {
    return this.vw[1];
  }

  /** Advances to the next sample; false at the end. Throws CorruptionError on bad data. */
  next(): boolean {
    const i = this.i;
    if (i >= this.n) return false;
    if (i < 2) return this.nextHead(i);
    const b = this.buf;
    let p = this.pos;

    // Timestamp: delta of delta with a 1–4 bit prefix.
    const w = peek(this.view, b, p);
    if (w >= 0) {
      // '0': same delta. The next bit is the value's: '0' = unchanged, the commonest sample.
      if ((w & 0x40000000) === 0) {
        this.t += this.tDelta;
        p += 2;
        if (p > this.nbits) this.truncated(i);
        this.pos = p;
        this.i = i + 1;
        return true;
      }
      p += 1;
    } else {
      let dod: number;
      if ((w & 0x40000000) === 0) {
        dod = (w >>> 16) & 0x3fff;
        if (dod > 8192) dod -= 16384;
        p += 16;
      } else if ((w & 0x20000000) === 0) {
        dod = (w >>> 12) & 0x1ffff;
        if (dod > 65536) dod -= 131072;
        p += 20;
      } else if ((w & 0x10000000) === 0) {
        dod = (w >>> 8) & 0xfffff;
        if (dod > 524288) dod -= 1048576;
        p += 24;
      } else {
        const hi = peek(this.view, b, p + 4); // signed high word
        const lo = peek(this.view, b, p + 36) >>> 0;
        p += 68;
        if (hi > 0x1fffff || hi < -0x200000) {
          throw new CorruptionError(
            CHUNK_FILE,
            (p >>> 3) - 8,
            `timestamp delta-of-delta of sample ${i} exceeds ±2^53`,
          );
        }
        dod = hi * TWO32 + lo;
      }
      this.tDelta += dod;
    }
    this.t += this.tDelta;

    p = this.readValue(b, p);
    if (p > this.nbits) this.truncated(i);
    this.pos = p;
    this.i = i + 1;
    return true;
  }

  /** Samples 0 and 1: byte-wise varint timestamps, raw first value. */
  private nextHead(i: number): boolean {
    const b = this.buf;
    const u = this.readUvarint(i);
    let p = this.pos;
    if (i === 0) {
      this.t = u % 2 === 0 ? u / 2 : -(u + 1) / 2; // zig-zag
      this.vw[0] = peek(this.view, b, p);
      this.vw[1] = peek(this.view, b, p + 32);
      p += 64;
    } else {
      this.tDelta = u;
      this.t += u;
      p = this.readValue(b, p);
    }
    if (p > this.nbits) this.truncated(i);
    this.pos = p;
    this.i = i + 1;
    return true;
  }

  /** Reads a LEB128 uvarint written as whole bytes into the bit stream at `pos`. */
  private readUvarint(i: number): number {
    const b = this.buf;
    let p = this.pos;
    let u = 0;
    let mul = 1;
    for (let k = 0;; k++) {
      if (k >= 10 || p + 8 > this.nbits) this.truncated(i);
      const c = (peek(this.view, b, p) >>> 24) & 0xff;
      p += 8;
      u += (c & 0x7f) * mul;
      mul *= 128;
      if (c < 0x80) break;
    }
    if (u > Number.MAX_SAFE_INTEGER) {
      throw new CorruptionError(CHUNK_FILE, (p >>> 3) - 1, `timestamp of sample ${i} exceeds 2^53`);
    }
    this.pos = p;
    return u;
  }

  /**
   * Decodes one XOR-encoded value at bit `p` into `vHi`/`vLo` and returns the new position.
   * '0' = unchanged, '10' = reuse the window, '11' = new window (5-bit leading, 6-bit size).
   */
  private readValue(b: Uint8Array, p: number): number {
    const w = peek(this.view, b, p);
    if (w >= 0) return p + 1;
    if ((w & 0x40000000) !== 0) {
      const lead = (w >>> 25) & 31;
      let size = (w >>> 19) & 63;
      if (size === 0) size = 64;
      if (lead + size > 64) this.badWindow(p, lead, size);
      this.leading = lead;
      this.trailing = 64 - lead - size;
      p += 13;
    } else {
      p += 2;
    }
    const tr = this.trailing;
    const sig = 64 - this.leading - tr;
    const vw = this.vw;
    if (sig <= 32) {
      const x = peek(this.view, b, p) >>> (32 - sig);
      p += sig;
      if (tr === 0) {
        vw[1] ^= x;
      } else if (tr < 32) {
        vw[0] ^= x >>> (32 - tr);
        vw[1] ^= x << tr;
      } else {
        vw[0] ^= x << (tr - 32);
      }
    } else {
      const xh = peek(this.view, b, p) >>> (64 - sig);
      p += sig - 32;
      const xl = peek(this.view, b, p);
      p += 32;
      if (tr === 0) {
        vw[0] ^= xh;
        vw[1] ^= xl;
      } else {
        vw[0] ^= (xh << tr) | (xl >>> (32 - tr));
        vw[1] ^= xl << tr;
      }
    }
    return p;
  }

  /**
   * Decodes all remaining samples into `tOut[k…]` and the value words into `words` (two per
   * sample, in the platform's Float64Array word order), returning the new sample count `k`.
   * Same algorithm as {@link XorIterator.next} with the state in locals: the bulk path.
   * Stops before the first sample after `maxt` (the iterator is then exhausted): a reader of
   * [mint, maxt] skips decoding the tail of the last chunk it needs, as Prometheus' lazy iterators.
   * Samples before `mint` are decoded (XOR is sequential) but not written: an instant query's
   * window is the last few samples of a chunk, and nothing has to be trimmed afterwards.
   */
  decodeRest(
    tOut: Float64Array,
    words: Uint32Array,
    k: number,
    maxt = Infinity,
    mint = -Infinity,
  ): number {
    while (this.i < 2 && this.next()) {
      if (this.t > maxt) {
        this.i = this.n;
        return k;
      }
      if (this.t < mint) continue;
      tOut[k] = this.t;
      words[2 * k + HI] = this.vw[0];
      words[2 * k + LO] = this.vw[1];
      k++;
    }
    const b = this.buf;
    const v = this.view;
    const n = this.n;
    const nbits = this.nbits;
    let p = this.pos;
    let t = this.t;
    let tDelta = this.tDelta;
    let vh = this.vw[0] | 0;
    let vl = this.vw[1] | 0;
    let leading = this.leading;
    let trailing = this.trailing;
    for (let i = this.i; i < n; i++) {
      let w = peek(v, b, p);
      // bits of `w` the timestamp used when the value's control bits (at most 13) follow in it
      let used = 0;
      if (w >= 0) {
        p += 1;
        used = 1;
      } else {
        let dod: number;
        if ((w & 0x40000000) === 0) {
          dod = (w >>> 16) & 0x3fff;
          if (dod > 8192) dod -= 16384;
          p += 16;
          used = 16;
        } else if ((w & 0x20000000) === 0) {
          dod = (w >>> 12) & 0x1ffff;
          if (dod > 65536) dod -= 131072;
          p += 20;
        } else if ((w & 0x10000000) === 0) {
          dod = (w >>> 8) & 0xfffff;
          if (dod > 524288) dod -= 1048576;
          p += 24;
        } else {
          const hi = peek(v, b, p + 4);
          const lo = peek(v, b, p + 36) >>> 0;
          p += 68;
          if (hi > 0x1fffff || hi < -0x200000) {
            this.pos = p;
            this.i = i;
            throw new CorruptionError(
              CHUNK_FILE,
              (p >>> 3) - 8,
              `timestamp delta-of-delta of sample ${i} exceeds ±2^53`,
            );
          }
          dod = hi * TWO32 + lo;
        }
        tDelta += dod;
      }
      t += tDelta;
      if (t > maxt) {
        if (p > nbits) this.truncated(i);
        this.i = n;
        return k;
      }

      // after a same delta ('0', scrapes at a fixed interval) or a small change of it the value's
      // control bits are already in `w`, and often its significant bits too: peeks saved
      w = used !== 0 ? w << used : peek(v, b, p);
      // '0' '0' (same delta, same value): repeats may follow (taken after this sample is written)
      let repeats = false;
      if (w >= 0) {
        p += 1;
        repeats = used === 1;
      } else {
        // bits of `w` read by the value's control bits
        let ctl = 2;
        if ((w & 0x40000000) !== 0) {
          leading = (w >>> 25) & 31;
          let size = (w >>> 19) & 63;
          if (size === 0) size = 64;
          if (leading + size > 64) this.badWindow(p, leading, size);
          trailing = 64 - leading - size;
          p += 13;
          ctl = 13;
        } else {
          p += 2;
        }
        const sig = 64 - leading - trailing;
        if (sig <= 32) {
          const x = (used + ctl + sig <= 32 ? w << ctl : peek(v, b, p)) >>> (32 - sig);
          p += sig;
          if (trailing === 0) {
            vl ^= x;
          } else if (trailing < 32) {
            vh ^= x >>> (32 - trailing);
            vl ^= x << trailing;
          } else {
            vh ^= x << (trailing - 32);
          }
        } else {
          // the high word's bits too are often still in `w` (a gauge's changing value)
          const xh = (used + ctl + sig <= 64 ? w << ctl : peek(v, b, p)) >>> (64 - sig);
          p += sig - 32;
          const xl = peek(v, b, p);
          p += 32;
          if (trailing === 0) {
            vh ^= xh;
            vl ^= xl;
          } else {
            vh ^= (xh << trailing) | (xl >>> (32 - trailing));
            vl ^= xl << trailing;
          }
        }
      }
      if (p > nbits) {
        this.i = i;
        this.truncated(i);
      }
      if (t >= mint) {
        tOut[k] = t;
        words[2 * k + HI] = vh;
        words[2 * k + LO] = vl;
        k++;
      }
      if (repeats) {
        // '0' '0' (same delta, same value): a regular scrape of an unchanged value (`up`, a
        // constant gauge, an idle counter), often followed by more. The repeats in the rest of
        // `w` (its 30 bits after this sample; the last 2 are no data) are taken as one step.
        // The zero padding past the data reads as repeats too, so a run ends at the chunk's
        // sample count and at the data's last whole sample: a sample cut by the end is decoded
        // alone, which reports it.
        let r = Math.clz32(w << 1) >>> 1;
        if (r > 15) r = 15;
        if (r > n - i - 1) r = n - i - 1;
        const whole = (nbits - p) >>> 1;
        if (r > whole) r = whole;
        p += 2 * r;
        const last = t + r * tDelta;
        if (
          last < mint && last <= maxt && tDelta >= 0 && tDelta < TWO48 && t > -TWO52 &&
          t < TWO52
        ) {
          // all before the window (the product is exact within these bounds, as the sums)
          t = last;
          i += r;
        } else {
          const end = i + r;
          while (i < end) {
            i++;
            t += tDelta;
            if (t > maxt) {
              this.i = n;
              return k;
            }
            if (t >= mint) {
              tOut[k] = t;
              words[2 * k + HI] = vh;
              words[2 * k + LO] = vl;
              k++;
            }
          }
        }
      }
    }
    this.pos = p;
    this.i = n;
    this.t = t;
    this.tDelta = tDelta;
    this.vw[0] = vh;
    this.vw[1] = vl;
    this.leading = leading;
    this.trailing = trailing;
    return k;
  }

  /**
   * Advances to the first sample with timestamp ≥ `t` (staying on the current one if it
   * already qualifies). Returns false when the chunk has no such sample.
   */
  seek(t: number): boolean {
    if (this.i > 0 && this.t >= t) return true;
    while (this.next()) {
      if (this.t >= t) return true;
    }
    return false;
  }

  private truncated(i: number): never {
    throw new CorruptionError(
      CHUNK_FILE,
      this.nbits >>> 3,
      `XOR chunk truncated: data ends inside sample ${i} of ${this.n}`,
    );
  }

  private badWindow(p: number, lead: number, sig: number): never {
    throw new CorruptionError(
      CHUNK_FILE,
      p >>> 3,
      `XOR value window of ${lead} leading + ${sig} significant bits exceeds 64`,
    );
  }
}

/** Decoded samples of a chunk. */
export interface XorSamples {
  /** Timestamps (ms). */
  ts: Float64Array;
  /** Values; NaN payload bits (stale markers) are written exactly. */
  vs: Float64Array;
}

const sharedIterator = new XorIterator();

/**
 * Decodes all samples of an XOR chunk. When `ts`/`vs` are given and large enough they are
 * filled and returned as subarrays; otherwise new arrays are allocated. Value bits are written
 * as words into `vs`'s memory, so stale markers survive. Throws CorruptionError on bad data.
 * With `maxt`, decoding stops at the first sample after it (later samples are not returned, and
 * a corruption past it goes unnoticed).
 */
export function decodeXorSamples(
  data: Uint8Array,
  ts?: Float64Array,
  vs?: Float64Array,
  maxt = Infinity,
): XorSamples {
  const it = sharedIterator;
  it.reset(data);
  const n = it.numSamples;
  const tOut = ts && ts.length >= n ? ts : new Float64Array(n);
  const vOut = vs && vs.length >= n ? vs : new Float64Array(n);
  const words = new Uint32Array(vOut.buffer, vOut.byteOffset, vOut.length * 2);
  const k = it.decodeRest(tOut, words, 0, maxt);
  return { ts: tOut.subarray(0, k), vs: vOut.subarray(0, k) };
}
