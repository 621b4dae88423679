// WAL record payloads in Prometheus 2.42's encoding: series, float samples and tombstones.
// Format: https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/docs/format/wal.md
// (encoder/decoder: tsdb/record/record.go of the same tag).
//
//   series:     type=1 | per series: ref be64, label count uvarint, (uvarint len, bytes)×2n
//   samples:    type=2 | first ref be64, first ts be64 (int64) | per sample: ref−first ref
//               (signed varint), ts−first ts (signed varint), value bits be64
//   tombstones: type=3 | per interval: ref be64, mint varint, maxt varint
//
// Samples travel in Float64Arrays and their value bits are copied word by word, so the stale
// marker (NaN with payload 0x7FF0000000000002, see ../value.ts) survives bit-exactly.
// Numbers are JS doubles: refs and timestamps must stay below 2^53 in magnitude (tombstone
// bounds such as math.MinInt64 are handled through BigInt and round to the nearest double).

import type { Labels } from "../series.ts";
import { float64Words, HI_WORD, LO_WORD } from "../value.ts";
import { WalCorruptionError } from "./errors.ts";

/** Record types this package understands (the first byte of a record). */
export const enum RecordType {
  Series = 1,
  Samples = 2,
  Tombstones = 3,
}

/** A series and its head reference. */
export interface RefSeries {
  ref: number;
  labels: Labels;
}

/**
 * `n` float samples as parallel arrays (`refs[i]`, `ts[i]`, `vs[i]`); the arrays may be longer
 * than `n` when a caller reuses buffers (decoders return arrays of exactly `n`).
 */
export interface SamplesBatch {
  n: number;
  refs: Float64Array;
  ts: Float64Array;
  vs: Float64Array;
}

/** Deleted intervals (inclusive, ms) of one series. */
export interface RefTombstone {
  ref: number;
  intervals: { mint: number; maxt: number }[];
}

const TWO32 = 4294967296;
const TEXT_ENCODER = new TextEncoder();
const TEXT_DECODER = new TextDecoder("utf-8", { fatal: false });

/** Type of a record (its first byte); 0 for an empty record or a type this package skips. */
export function recordType(rec: Uint8Array): RecordType | 0 {
  if (rec.length === 0) return 0;
  const t = rec[0];
  return t === 1 || t === 2 || t === 3 ? t as RecordType : 0;
}

// ---------------------------------------------------------------------------------------------
// Writer

/** Growable output buffer; one per module, reused by every encoder call (single-threaded). */
class Out {
  b = new Uint8Array(1 << 16);
  p = 0;

  reset(): void {
    this.p = 0;
  }

  ensure(n: number): void {
    if (this.p + n <= this.b.length) return;
    let cap = this.b.length * 2;
    while (cap < this.p + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.b.subarray(0, this.p));
    this.b = nb;
  }

  byte(v: number): void {
    this.b[this.p++] = v;
  }

  be32(v: number): void {
    const b = this.b;
    const p = this.p;
    b[p] = v >>> 24;
    b[p + 1] = (v >>> 16) & 0xff;
    b[p + 2] = (v >>> 8) & 0xff;
    b[p + 3] = v & 0xff;
    this.p = p + 4;
  }

  /** Two's-complement 64-bit big-endian of an integer within ±2^53. */
  be64(v: number): void {
    const hi = Math.floor(v / TWO32);
    this.be32(hi >>> 0);
    this.be32((v - hi * TWO32) >>> 0);
  }

  uvarint(v: number): void {
    const b = this.b;
    let p = this.p;
    if (v < TWO32) {
      while (v >= 0x80) {
        b[p++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      b[p++] = v;
    } else {
      while (v >= 0x80) {
        b[p++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
      b[p++] = v;
    }
    this.p = p;
  }

  /** Zig-zag varint; magnitudes beyond 2^52 go through BigInt (saturating at int64). */
  varint(v: number): void {
    if (v >= -0x10000000000000 && v <= 0x10000000000000) {
      this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);
      return;
    }
    let x = BigInt(Math.trunc(v));
    if (x > 0x7fffffffffffffffn) x = 0x7fffffffffffffffn;
    if (x < -0x8000000000000000n) x = -0x8000000000000000n;
    let z = x >= 0n ? x << 1n : ((-x) << 1n) - 1n;
    while (z >= 0x80n) {
      this.byte(Number(z & 0x7fn) | 0x80);
      z >>= 7n;
    }
    this.byte(Number(z));
  }

  str(s: string): void {
    // worst case 3 UTF-8 bytes per UTF-16 unit
    this.ensure(10 + s.length * 3);
    const lenPos = this.p;
    const n = s.length;
    if (n < 128) {
      // ASCII fast path: one byte per unit, length fits one uvarint byte
      const b = this.b;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[lenPos + 1 + i] = c;
      }
      if (i === n) {
        b[lenPos] = n;
        this.p = lenPos + 1 + n;
        return;
      }
    }
    if (n < 43) {
      // length fits one uvarint byte (< 128 bytes even at 3 bytes per unit)
      const r = TEXT_ENCODER.encodeInto(s, this.b.subarray(lenPos + 1));
      this.b[lenPos] = r.written;
      this.p = lenPos + 1 + r.written;
      return;
    }
    const bytes = TEXT_ENCODER.encode(s);
    this.uvarint(bytes.length);
    this.b.set(bytes, this.p);
    this.p += bytes.length;
  }

  /** A fresh copy of the written bytes. */
  take(): Uint8Array {
    return this.b.slice(0, this.p);
  }
}

const out = new Out();

/** Encodes a series record. */
export function encodeSeries(series: readonly RefSeries[]): Uint8Array {
  out.reset();
  out.ensure(1);
  out.byte(RecordType.Series);
  for (const s of series) {
    out.ensure(18);
    out.be64(s.ref);
    out.uvarint(s.labels.length >>> 1);
    for (let i = 0; i < s.labels.length; i++) out.str(s.labels[i]);
  }
  return out.take();
}

/** Encodes a float samples record of the first `b.n` samples (type byte only when n = 0). */
export function encodeSamples(b: SamplesBatch): Uint8Array {
  const n = b.n;
  out.reset();
  out.ensure(17 + n * 28);
  out.byte(RecordType.Samples);
  if (n === 0) return out.take();
  const { refs, ts } = b;
  const words = float64Words(b.vs);
  const ref0 = refs[0];
  const t0 = ts[0];
  out.be64(ref0);
  out.be64(t0);
  for (let i = 0; i < n; i++) {
    out.varint(refs[i] - ref0);
    out.varint(ts[i] - t0);
    out.be32(words[2 * i + HI_WORD]);
    out.be32(words[2 * i + LO_WORD]);
  }
  return out.take();
}

/** Encodes a tombstones record: one (ref, mint, maxt) entry per interval. */
export function encodeTombstones(t: readonly RefTombstone[]): Uint8Array {
  out.reset();
  out.ensure(1);
  out.byte(RecordType.Tombstones);
  for (const s of t) {
    for (const iv of s.intervals) {
      out.ensure(28);
      out.be64(s.ref);
      out.varint(iv.mint);
      out.varint(iv.maxt);
    }
  }
  return out.take();
}

// ---------------------------------------------------------------------------------------------
// Reader

/** Cursor over one record; every read past the end throws a WalCorruptionError. */
class In {
  p = 0;
  constructor(readonly b: Uint8Array, readonly what: string) {}

  fail(detail: string): never {
    throw new WalCorruptionError(-1, this.p, `${this.what} record: ${detail}`);
  }

  get left(): number {
    return this.b.length - this.p;
  }

  be32(): number {
    const b = this.b;
    const p = this.p;
    if (p + 4 > b.length) this.fail("truncated uint32");
    this.p = p + 4;
    return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
  }

  /** Unsigned 64-bit big-endian; fails beyond 2^53. */
  ube64(): number {
    const hi = this.be32();
    const lo = this.be32();
    if (hi >= 0x200000) {
      this.p -= 8;
      this.fail("uint64 value exceeds 2^53");
    }
    return hi * TWO32 + lo;
  }

  /** Signed (two's complement) 64-bit big-endian; fails beyond ±2^53. */
  sbe64(): number {
    const hi = this.be32() | 0;
    const lo = this.be32();
    if (hi >= 0x200000 || hi < -0x200000) {
      this.p -= 8;
      this.fail("int64 value exceeds ±2^53");
    }
    return hi * TWO32 + lo;
  }

  uvarint(): number {
    const b = this.b;
    let p = this.p;
    let x = 0;
    let shift = 0;
    // fast path: up to 4 bytes (28 bits) with integer ops
    for (; shift < 28; shift += 7) {
      if (p >= b.length) this.fail("truncated uvarint");
      const c = b[p++];
      x |= (c & 0x7f) << shift;
      if (c < 0x80) {
        this.p = p;
        return x >>> 0;
      }
    }
    let mul = 268435456; // 2^28
    x >>>= 0;
    for (let i = 4; i < 10; i++) {
      if (p >= b.length) this.fail("truncated uvarint");
      const c = b[p++];
      x += (c & 0x7f) * mul;
      if (c < 0x80) {
        this.p = p;
        return x;
      }
      mul *= 128;
    }
    return this.fail("uvarint overflows 64 bits");
  }

  /** Zig-zag varint; values beyond 2^53 are decoded exactly then rounded to a double. */
  varint(): number {
    const start = this.p;
    const u = this.uvarint();
    if (u <= Number.MAX_SAFE_INTEGER) return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
    let z = 0n;
    for (let i = this.p - 1; i >= start; i--) z = (z << 7n) | BigInt(this.b[i] & 0x7f);
    return Number((z & 1n) === 0n ? z >> 1n : -((z + 1n) >> 1n));
  }

  str(): string {
    const n = this.uvarint();
    const b = this.b;
    const p = this.p;
    if (p + n > b.length) this.fail(`truncated string of ${n} bytes`);
    this.p = p + n;
    if (n <= 64) return internShort(b, p, n);
    return TEXT_DECODER.decode(b.subarray(p, p + n));
  }
}

// Short strings (label names and most label values) repeat across series: a direct-mapped cache
// keyed by a hash of their bytes returns the same string instance, which saves both the decode
// and the memory of duplicates held by the head.
const INTERN_SLOTS = 8192;
const internBytes: (Uint8Array | undefined)[] = new Array(INTERN_SLOTS);
const internStrs: string[] = new Array(INTERN_SLOTS);

function internShort(b: Uint8Array, p: number, n: number): string {
  let h = 0x811c9dc5;
  let ascii = true;
  for (let i = p; i < p + n; i++) {
    const c = b[i];
    if (c >= 0x80) ascii = false;
    h = Math.imul(h ^ c, 0x01000193);
  }
  const slot = (h >>> 0) & (INTERN_SLOTS - 1);
  const cached = internBytes[slot];
  if (cached !== undefined && cached.length === n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (cached[i] !== b[p + i]) {
        same = false;
        break;
      }
    }
    if (same) return internStrs[slot];
  }
  const sub = b.subarray(p, p + n);
  const s = ascii
    ? String.fromCharCode.apply(null, sub as unknown as number[])
    : TEXT_DECODER.decode(sub);
  internBytes[slot] = sub.slice();
  internStrs[slot] = s;
  return s;
}

function expectType(d: In, t: RecordType): void {
  if (d.b.length === 0 || d.b[0] !== t) d.fail(`invalid record type ${d.b[0] ?? "<empty>"}`);
  d.p = 1;
}

/** Decodes a series record (labels as written: Prometheus writes them sorted). */
export function decodeSeries(rec: Uint8Array): RefSeries[] {
  const d = new In(rec, "series");
  expectType(d, RecordType.Series);
  const res: RefSeries[] = [];
  while (d.left > 0) {
    const ref = d.ube64();
    const n = d.uvarint();
    if (n > d.left) d.fail(`label count ${n} exceeds record`);
    const labels: string[] = new Array(2 * n);
    for (let i = 0; i < 2 * n; i++) labels[i] = d.str();
    res.push({ ref, labels });
  }
  return res;
}

/** Decodes a float samples record; the arrays have exactly `n` elements. */
export function decodeSamples(rec: Uint8Array): SamplesBatch {
  const d = new In(rec, "samples");
  expectType(d, RecordType.Samples);
  if (d.left === 0) {
    return { n: 0, refs: new Float64Array(0), ts: new Float64Array(0), vs: new Float64Array(0) };
  }
  const ref0 = d.ube64();
  const t0 = d.sbe64();
  // every sample takes at least 1 + 1 + 8 bytes
  const cap = Math.floor(d.left / 10);
  const all = new Float64Array(3 * cap);
  const refs = all.subarray(0, cap);
  const ts = all.subarray(cap, 2 * cap);
  const vs = all.subarray(2 * cap, 3 * cap);
  const words = float64Words(vs);
  const b = rec;
  let n = 0;
  while (d.p < b.length) {
    // ref delta, fast path for one-byte zig-zag values
    let c = b[d.p];
    let dr: number;
    if (c < 0x80) {
      d.p++;
      dr = (c >>> 1) ^ -(c & 1);
    } else dr = d.varint();
    c = b[d.p];
    let dt: number;
    if (c < 0x80) {
      d.p++;
      dt = (c >>> 1) ^ -(c & 1);
    } else dt = d.varint();
    if (d.p + 8 > b.length) d.fail(`truncated value after ${n} samples`);
    const ref = ref0 + dr;
    if (ref < 0) d.fail(`negative series ref ${ref}`);
    refs[n] = ref;
    ts[n] = t0 + dt;
    const p = d.p;
    words[2 * n + HI_WORD] = ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
    words[2 * n + LO_WORD] = ((b[p + 4] << 24) | (b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]) >>>
      0;
    d.p = p + 8;
    n++;
  }
  return { n, refs: refs.subarray(0, n), ts: ts.subarray(0, n), vs: vs.subarray(0, n) };
}

/**
 * Decodes a tombstones record. Prometheus writes one entry per interval; consecutive entries of
 * the same ref are merged into one RefTombstone.
 */
export function decodeTombstones(rec: Uint8Array): RefTombstone[] {
  const d = new In(rec, "tombstones");
  expectType(d, RecordType.Tombstones);
  const res: RefTombstone[] = [];
  while (d.left > 0) {
    const ref = d.ube64();
    const mint = d.varint();
    const maxt = d.varint();
    const last = res.length > 0 ? res[res.length - 1] : undefined;
    if (last !== undefined && last.ref === ref) last.intervals.push({ mint, maxt });
    else res.push({ ref, intervals: [{ mint, maxt }] });
  }
  return res;
}
