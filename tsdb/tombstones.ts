// The `tombstones` file of a block
// (https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/docs/format/tombstones.md):
// deleted time intervals per series ref. Entries are (uvarint ref, varint mint, varint maxt) with
// a CRC32C over the entries.

import { crc32c } from "./crc32c.ts";
import { Decbuf, Encbuf } from "./encoding.ts";
import { CorruptionError } from "./errors.ts";
import { writeFileAtomic } from "../runutil/atomic_file.ts";

/** Magic number at the start of a tombstones file. */
export const MAGIC_TOMBSTONES = 0x0130ba30;
const TOMBSTONES_VERSION = 1;
/** File name inside a block directory. */
export const TOMBSTONES_FILENAME = "tombstones";

/** A deleted time range, inclusive at both ends (ms). */
export interface Interval {
  mint: number;
  maxt: number;
}

/**
 * Adds `iv` to the sorted, non-overlapping list `ivs`, merging overlapping or adjacent
 * intervals (as Prometheus's `Intervals.Add`). Mutates and returns `ivs`.
 */
export function addInterval(ivs: Interval[], iv: Interval): Interval[] {
  // First interval that could touch iv: maxt + 1 >= iv.mint.
  let lo = 0;
  let hi = ivs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ivs[mid].maxt + 1 < iv.mint) lo = mid + 1;
    else hi = mid;
  }
  let end = lo;
  let mint = iv.mint;
  let maxt = iv.maxt;
  while (end < ivs.length && ivs[end].mint <= maxt + 1) {
    if (ivs[end].mint < mint) mint = ivs[end].mint;
    if (ivs[end].maxt > maxt) maxt = ivs[end].maxt;
    end++;
  }
  ivs.splice(lo, end - lo, { mint, maxt });
  return ivs;
}

/**
 * Decodes a tombstones file. Checks magic, version and the CRC over the entries; merges the
 * intervals of each series ref. Throws CorruptionError naming `file` and the offset.
 */
export function decodeTombstones(data: Uint8Array, file: string): Map<number, Interval[]> {
  if (data.length < 5 + 4) {
    throw new CorruptionError(file, 0, `tombstones file of ${data.length} bytes is too short`);
  }
  const d = new Decbuf(data, file);
  const magic = d.be32();
  if (magic !== MAGIC_TOMBSTONES) {
    throw new CorruptionError(
      file,
      0,
      `bad tombstones magic 0x${magic.toString(16).padStart(8, "0")}, want 0x0130ba30`,
    );
  }
  const version = d.byte();
  if (version !== TOMBSTONES_VERSION) {
    throw new CorruptionError(file, 4, `unsupported tombstones version ${version}`);
  }
  const end = data.length - 4;
  const want = new DataView(data.buffer, data.byteOffset + end, 4).getUint32(0);
  const got = crc32c(data, 5, end);
  if (want !== got) {
    throw new CorruptionError(
      file,
      end,
      `tombstones checksum mismatch: stored 0x${want.toString(16).padStart(8, "0")}, computed 0x${
        got.toString(16).padStart(8, "0")
      }`,
    );
  }
  const entries = new Decbuf(data.subarray(0, end), file);
  entries.pos = 5;
  const out = new Map<number, Interval[]>();
  while (entries.remaining > 0) {
    const ref = entries.uvarint();
    const mint = clampedVarint(entries);
    const maxt = clampedVarint(entries);
    let ivs = out.get(ref);
    if (!ivs) {
      ivs = [];
      out.set(ref, ivs);
    }
    addInterval(ivs, { mint, maxt });
  }
  return out;
}

/**
 * Reads a zig-zag varint, clamping values beyond ±2^53 to ±(2^53-1): deleting "everything"
 * writes math.MinInt64/MaxInt64-like bounds, and no sample lies beyond ±2^53 anyway.
 */
function clampedVarint(d: Decbuf): number {
  const start = d.pos;
  let u = 0;
  let mul = 1;
  for (let i = 0;; i++) {
    if (i >= 10) d.fail("varint overflows 64 bits", start);
    const c = d.byte();
    u += (c & 0x7f) * mul;
    mul *= 128;
    if (c < 0x80) break;
  }
  // Parity from the first byte: `u` itself may be rounded.
  const v = (d.b[start] & 1) === 0 ? u / 2 : -(u + 1) / 2;
  if (v > Number.MAX_SAFE_INTEGER) return Number.MAX_SAFE_INTEGER;
  if (v < -Number.MAX_SAFE_INTEGER) return -Number.MAX_SAFE_INTEGER;
  return v;
}

/** Reads `<blockDir>/tombstones`; a missing file means no tombstones (empty map). */
export async function readTombstones(blockDir: string): Promise<Map<number, Interval[]>> {
  const path = `${blockDir}/${TOMBSTONES_FILENAME}`;
  let data: Uint8Array;
  try {
    data = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return new Map();
    throw err;
  }
  return decodeTombstones(data, path);
}

/**
 * Encodes tombstones: refs ascending, one entry per interval. The empty map gives exactly
 * `01 30 ba 30 01 00 00 00 00`.
 */
export function encodeTombstones(m: Map<number, Interval[]> = new Map()): Uint8Array {
  const e = new Encbuf(64);
  e.putBE32(MAGIC_TOMBSTONES);
  e.putByte(TOMBSTONES_VERSION);
  const refs = [...m.keys()].sort((a, b) => a - b);
  for (const ref of refs) {
    for (const iv of m.get(ref)!) {
      e.putUvarint(ref);
      e.putVarint(iv.mint);
      e.putVarint(iv.maxt);
    }
  }
  e.putBE32(crc32c(e.bytes(), 5, e.len));
  return e.bytes().slice();
}

/**
 * Writes `<blockDir>/tombstones` atomically (see writeFileAtomic). Without `m` an empty
 * tombstones file is written, as Prometheus does for every new block.
 */
export async function writeTombstones(
  blockDir: string,
  m: Map<number, Interval[]> = new Map(),
): Promise<void> {
  await writeFileAtomic(`${blockDir}/${TOMBSTONES_FILENAME}`, encodeTombstones(m));
}

/**
 * True when `t` lies in one of `intervals` (sorted, non-overlapping). Linear for the usual
 * one or two intervals, binary search beyond.
 */
export function isDeleted(intervals: readonly Interval[], t: number): boolean {
  const n = intervals.length;
  if (n === 0) return false;
  if (n <= 4) {
    for (let i = 0; i < n; i++) {
      const iv = intervals[i];
      if (t < iv.mint) return false;
      if (t <= iv.maxt) return true;
    }
    return false;
  }
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (intervals[mid].maxt < t) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && intervals[lo].mint <= t;
}
