// Query-time deduplication of HA replicas
// (https://thanos.io/tip/components/query.md/#deduplication-algorithms; the algorithms are in
// https://github.com/thanos-io/thanos/blob/main/pkg/dedup/iter.go and chunk_iter.go). The proxy
// hands over series whose replica labels are already removed, so one series may hold the chunks of
// several replicas. Chunks that overlap in time are split into replicas; replicas are merged sample
// by sample with Thanos's penalty algorithm (or a plain chained union) and re-encoded as XOR
// chunks, which is what the PromQL engine consumes. Series with a single replica pass through
// untouched.

import { chainMerge, encodeXorChunks, type SampleList } from "../tsdb/chunkenc/samples.ts";
import { XorIterator } from "../tsdb/chunkenc/xor.ts";
import { type Chunk, ChunkEncoding, type SeriesWithChunks } from "../tsdb/series.ts";
import { HI_WORD, LO_WORD } from "../tsdb/value.ts";

export { chainMerge, encodeXorChunks };

/** `--deduplication.func`: Thanos's penalty merge, or Prometheus's chained merge. */
export type DedupFunc = "penalty" | "chain";

/** Functions whose input is a counter: replica switches must not look like counter resets. */
export const COUNTER_FUNCS: ReadonlySet<string> = new Set(["rate", "increase", "irate", "resets"]);

/** Penalty when no previous delta is known (ms), as Thanos's `initialPenalty`. */
export const INITIAL_PENALTY_MS = 5000;

/** Decoded samples of one replica (tsdb/chunkenc/samples.ts). */
export type ReplicaSamples = SampleList;

/** Options of {@link dedupSeries}. */
export interface DedupOptions {
  func: DedupFunc;
  /**
   * The PromQL function reading the selection (SelectHints.func); counter correction applies when
   * it is one of {@link COUNTER_FUNCS} (penalty mode only).
   */
  selectFunc?: string;
}

/**
 * Splits chunks (sorted by minTime) into replicas: each chunk goes to the first replica whose last
 * chunk ends before it starts (Thanos's greedy overlap split). Returns one chunk list per replica.
 */
export function splitOverlappingChunks(chunks: readonly Chunk[]): Chunk[][] {
  const replicas: Chunk[][] = [];
  outer: for (const c of chunks) {
    for (const r of replicas) {
      if (r[r.length - 1].maxTime < c.minTime) {
        r.push(c);
        continue outer;
      }
    }
    replicas.push([c]);
  }
  return replicas;
}

/** Sorts chunks by (minTime, maxTime, bytes) and drops byte-identical duplicates. */
export function sortAndDropIdenticalChunks(chunks: Chunk[]): Chunk[] {
  if (chunks.length < 2) return chunks;
  chunks.sort(compareChunks);
  const out: Chunk[] = [chunks[0]];
  for (let i = 1; i < chunks.length; i++) {
    if (compareChunks(out[out.length - 1], chunks[i]) !== 0) out.push(chunks[i]);
  }
  return out;
}

function compareChunks(a: Chunk, b: Chunk): number {
  if (a.minTime !== b.minTime) return a.minTime - b.minTime;
  if (a.maxTime !== b.maxTime) return a.maxTime - b.maxTime;
  if (a.encoding !== b.encoding) return a.encoding - b.encoding;
  const x = a.data;
  const y = b.data;
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

const iterator = new XorIterator();

/** Decodes a replica's XOR chunks into one sample array (later samples must be newer). */
export function decodeReplica(chunks: readonly Chunk[]): ReplicaSamples {
  let total = 0;
  for (const c of chunks) total += c.data.length >= 2 ? (c.data[0] << 8) | c.data[1] : 0;
  const ts = new Float64Array(total);
  const vs = new Float64Array(total);
  const vw = new Uint32Array(vs.buffer);
  let n = 0;
  for (const c of chunks) {
    iterator.reset(c.data);
    while (iterator.next()) {
      const t = iterator.t;
      // chunks of one replica do not overlap, but guard against a repeated boundary sample
      if (n > 0 && t <= ts[n - 1]) continue;
      ts[n] = t;
      vw[2 * n + HI_WORD] = iterator.vHi;
      vw[2 * n + LO_WORD] = iterator.vLo;
      n++;
    }
  }
  return { ts, vs, n };
}

/**
 * Merges two replicas with Thanos's penalty algorithm: stick to one replica and switch only when
 * it has a gap larger than about twice its sampling interval. With `counterAdjust`, a switch to a
 * replica whose value is below the last emitted one adds the difference to that replica's
 * subsequent values (counters must not appear to reset at switch points).
 */
export function penaltyMerge(
  a: ReplicaSamples,
  b: ReplicaSamples,
  counterAdjust: boolean,
): ReplicaSamples {
  const cap = a.n + b.n;
  const ts = new Float64Array(cap);
  const vs = new Float64Array(cap);
  const ow = new Uint32Array(vs.buffer);
  const aw = new Uint32Array(a.vs.buffer, a.vs.byteOffset, a.n * 2);
  const bw = new Uint32Array(b.vs.buffer, b.vs.byteOffset, b.n * 2);
  let n = 0;
  let ia = 0;
  let ib = 0;
  let lastT = -Infinity;
  let penA = 0;
  let penB = 0;
  let useA = false;
  let started = false;
  let adjA = 0;
  let adjB = 0;
  let lastV = 0;
  for (;;) {
    // Seek: first sample at or after lastT + 1 + penalty (an iterator never moves backwards).
    const seekA = lastT + 1 + penA;
    while (ia < a.n && a.ts[ia] < seekA) ia++;
    const seekB = lastT + 1 + penB;
    while (ib < b.n && b.ts[ib] < seekB) ib++;
    const hasA = ia < a.n;
    const hasB = ib < b.n;
    if (!hasA && !hasB) break;
    let pickA: boolean;
    if (!hasA) {
      pickA = false;
      penB = 0;
    } else if (!hasB) {
      pickA = true;
      penA = 0;
    } else {
      const ta = a.ts[ia];
      const tb = b.ts[ib];
      pickA = ta <= tb;
      if (pickA) {
        penB = lastT === -Infinity ? INITIAL_PENALTY_MS : 2 * (ta - lastT);
        penA = 0;
      } else {
        penA = lastT === -Infinity ? INITIAL_PENALTY_MS : 2 * (tb - lastT);
        penB = 0;
      }
    }
    if (counterAdjust && started && pickA !== useA) {
      // switching replicas: the new one must not start below the last emitted value
      const v = pickA ? valueAt(aw, ia) + adjA : valueAt(bw, ib) + adjB;
      if (lastV > v) {
        if (pickA) adjA += lastV - v;
        else adjB += lastV - v;
      }
    }
    useA = pickA;
    started = true;
    const words = pickA ? aw : bw;
    const i = pickA ? ia : ib;
    const t = pickA ? a.ts[ia] : b.ts[ib];
    const adj = pickA ? adjA : adjB;
    ts[n] = t;
    if (adj !== 0 && !isNaNWord(words, i)) {
      vs[n] = valueAt(words, i) + adj;
    } else {
      ow[2 * n] = words[2 * i];
      ow[2 * n + 1] = words[2 * i + 1];
    }
    lastV = valueAt(ow, n);
    lastT = t;
    n++;
  }
  return { ts, vs, n };
}

function isNaNWord(w: Uint32Array, i: number): boolean {
  return (w[2 * i + HI_WORD] & 0x7ff00000) === 0x7ff00000 &&
    ((w[2 * i + HI_WORD] & 0xfffff) !== 0 || w[2 * i + LO_WORD] !== 0);
}

const scratch = new Float64Array(1);
const scratchW = new Uint32Array(scratch.buffer);

function valueAt(w: Uint32Array, i: number): number {
  scratchW[0] = w[2 * i];
  scratchW[1] = w[2 * i + 1];
  return scratch[0];
}

/**
 * Deduplicates one series whose chunks may come from several replicas. Returns the series
 * unchanged when its chunks do not overlap, or when some chunk is not a float XOR chunk (those
 * cannot be merged sample-wise here; the engine then sees every replica's samples).
 */
export function dedupSeries(s: SeriesWithChunks, opts: DedupOptions): SeriesWithChunks {
  if (s.chunks.length < 2) return s;
  const chunks = sortAndDropIdenticalChunks(s.chunks.slice());
  const replicas = splitOverlappingChunks(chunks);
  if (replicas.length === 1) return { labels: s.labels, chunks };
  for (const c of chunks) if (c.encoding !== ChunkEncoding.XOR) return { labels: s.labels, chunks };
  const decoded = replicas.map(decodeReplica);
  let merged: ReplicaSamples;
  if (opts.func === "chain") merged = chainMerge(decoded);
  else {
    const adjust = opts.selectFunc !== undefined && COUNTER_FUNCS.has(opts.selectFunc);
    merged = decoded[0];
    for (let r = 1; r < decoded.length; r++) merged = penaltyMerge(merged, decoded[r], adjust);
  }
  return { labels: s.labels, chunks: encodeXorChunks(merged) };
}
