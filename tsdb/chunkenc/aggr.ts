// Aggregated (downsampled) chunks, Thanos's AggrChunk
// (https://github.com/thanos-io/thanos/blob/main/pkg/compact/downsample/aggr.go): one chunk
// record with encoding byte 0xff whose payload holds five sub-chunks, in AggrType order count,
// sum, min, max, counter. Each entry is `uvarint(len(data)) encoding-byte data`; an absent
// aggregate is a single zero length (no encoding byte).

import { CorruptionError, InvalidInputError } from "../errors.ts";
import type { ChunkEncoding } from "../series.ts";
import { XorIterator } from "./xor.ts";

/** Chunk encoding byte of aggregated (downsampled) chunks. */
export const CHUNK_ENC_AGGR = 0xff;

/** Position of each aggregate in an aggregated chunk (Thanos's downsample.AggrType). */
export enum AggrType {
  Count = 0,
  Sum = 1,
  Min = 2,
  Max = 3,
  Counter = 4,
}

/** Number of aggregates in an aggregated chunk. */
export const AGGR_TYPES = 5;

/** One aggregate's chunk (an XOR chunk in practice). */
export interface AggrPart {
  encoding: ChunkEncoding;
  data: Uint8Array;
}

/**
 * Splits an aggregated chunk payload (without the 0xff encoding byte) into its five
 * sub-chunks, indexed by {@link AggrType}; null marks an absent aggregate. Data are views into
 * `data`. Throws CorruptionError naming `object` and `offset` when an entry is truncated.
 */
export function parseAggrChunk(data: Uint8Array, object = "", offset = -1): (AggrPart | null)[] {
  const out: (AggrPart | null)[] = [];
  let p = 0;
  for (let i = 0; i < AGGR_TYPES; i++) {
    let len = 0;
    let mul = 1;
    for (;;) {
      if (p >= data.length) {
        throw new CorruptionError(object, offset, `aggregated chunk entry ${i} is truncated`);
      }
      const c = data[p++];
      len += (c & 0x7f) * mul;
      mul *= 128;
      if (c < 0x80) break;
    }
    if (len === 0) {
      out.push(null);
      continue;
    }
    if (p + 1 + len > data.length) {
      throw new CorruptionError(object, offset, `aggregated chunk entry ${i} is truncated`);
    }
    out.push({ encoding: data[p] as ChunkEncoding, data: data.subarray(p + 1, p + 1 + len) });
    p += 1 + len;
  }
  return out;
}

function putUvarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/**
 * Encodes an aggregated chunk payload (to be written with encoding byte
 * {@link CHUNK_ENC_AGGR}) from up to five sub-chunks indexed by {@link AggrType}; null or
 * undefined marks an absent aggregate. Throws InvalidInputError for more than five parts or a
 * part with empty data (its zero length would read back as absent).
 */
export function encodeAggrChunk(parts: readonly (AggrPart | null | undefined)[]): Uint8Array {
  if (parts.length > AGGR_TYPES) {
    throw new InvalidInputError(`aggregated chunk has ${parts.length} parts, at most 5`);
  }
  let size = 0;
  const heads: number[][] = [];
  for (let i = 0; i < AGGR_TYPES; i++) {
    const p = parts[i];
    const h: number[] = [];
    if (!p) {
      putUvarint(h, 0);
    } else {
      if (p.data.length === 0) {
        throw new InvalidInputError(`aggregated chunk part ${i} has no data`);
      }
      putUvarint(h, p.data.length);
      h.push(p.encoding);
      size += p.data.length;
    }
    heads.push(h);
    size += h.length;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < AGGR_TYPES; i++) {
    out.set(heads[i], at);
    at += heads[i].length;
    const p = parts[i];
    if (p) {
      out.set(p.data, at);
      at += p.data.length;
    }
  }
  return out;
}

const counterIter = new XorIterator();

/** Result of {@link applyCounterResets}. */
export interface CounterSeries {
  ts: number[];
  vs: number[];
  /** The last raw value (the repeated-timestamp sample of the last chunk). */
  lastV: number;
}

/**
 * Thanos's ApplyCounterResetsSeriesIterator over counter sub-chunks (or raw counter chunks) in
 * time order: a monotonic series where a drop counts as a reset. A sample repeating the previous
 * timestamp carries the chunk's true last raw value; it is not emitted but compared with the next
 * chunk's first raw value, so resets between chunks are seen. NaNs are dropped.
 */
export function applyCounterResets(chunks: readonly Uint8Array[]): CounterSeries {
  const out: CounterSeries = { ts: [], vs: [], lastV: NaN };
  let total = 0;
  let lastT = -Infinity;
  let lastV = 0;
  let totalV = 0;
  for (const c of chunks) {
    for (counterIter.reset(c); counterIter.next();) {
      const t = counterIter.t;
      const v = counterIter.v;
      if (Number.isNaN(v)) continue;
      if (total === 0) {
        total++;
        lastT = t;
        lastV = v;
        totalV = v;
      } else if (t > lastT) {
        totalV += v >= lastV ? v - lastV : v;
        lastT = t;
        lastV = v;
        total++;
      } else {
        if (t === lastT) lastV = v;
        continue;
      }
      out.ts.push(lastT);
      out.vs.push(totalV);
    }
  }
  out.lastV = lastV;
  return out;
}
