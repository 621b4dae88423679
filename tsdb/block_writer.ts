// Writes raw samples as a Prometheus block directory (chunks, index, tombstones, meta.json),
// cutting chunks the way Prometheus 2.42's head does, and splits a data set into blocks
// aligned like `promtool tsdb create-blocks-from`.

import { ChunkSegmentWriter } from "./chunks/segment.ts";
import { SAMPLES_PER_CHUNK, XorAppender } from "./chunkenc/xor.ts";
import { InvalidInputError } from "./errors.ts";
import { type ChunkMeta, IndexWriter } from "./index/writer.ts";
import { compareLabels, labelsToString } from "./labels.ts";
import { type BlockMeta, type BlockMetaCompaction, writeBlockMeta } from "./meta.ts";
import { type Chunk, ChunkEncoding, type Labels } from "./series.ts";
import { writeTombstones } from "./tombstones.ts";
import { newULID } from "./ulid.ts";
import { renameDirAtomic, TMP_FOR_CREATION } from "../runutil/atomic_file.ts";

/** Default block range (2h), also the head's chunk range in Prometheus. */
export const DEFAULT_BLOCK_DURATION_MS = 7_200_000;

/** Raw samples of one series; `ts` ascending integer ms, `vs` same length. */
export interface RawSeries {
  labels: Labels;
  ts: Float64Array;
  vs: Float64Array;
}

/**
 * A series given as already-encoded chunks, written byte for byte (any encoding, e.g. Thanos's
 * aggregated chunks, encoding 0xff). Chunks must be sorted, non-overlapping and inside the
 * block's range; `numSamples` is what the series adds to meta.json's `stats.numSamples`.
 */
export interface EncodedSeries {
  labels: Labels;
  chunks: readonly Chunk[];
  numSamples: number;
}

/** The `thanos` section accepted by {@link writeBlock} (see tsdb/meta.ts). */
export type BlockThanosMeta = NonNullable<BlockMeta["thanos"]>;

/** Options of {@link writeBlock}. */
export interface WriteBlockOptions {
  /** Block start (inclusive, ms); every sample must be ≥ it. */
  minTime: number;
  /** Block end (exclusive, ms); every sample must be < it. */
  maxTime: number;
  /** Block ULID (default: a new one). */
  ulid?: string;
  /** Compaction level (default 1; sources = [ulid]). */
  level?: number;
  /** Compaction section written as given (overrides `level`; e.g. a downsampled block's). */
  compaction?: BlockMetaCompaction;
  /** Thanos section of meta.json (external labels, downsampling, source). */
  thanos?: BlockThanosMeta;
  /**
   * Chunk range used by the cutting policy (default 2h, Prometheus's head default). promtool's
   * backfill uses twice the block duration; pass that to reproduce its chunk boundaries.
   */
  chunkRangeMs?: number;
  /** Max bytes per chunk segment file (default 512 MiB). */
  maxSegmentSize?: number;
}

/** Go's `int64 / int64`: truncates toward zero. */
function goDiv(a: number, b: number): number {
  return Math.trunc(a / b);
}

/** Prometheus `rangeForTimestamp`: end of the chunk range holding `t`. */
function rangeForTimestamp(t: number, width: number): number {
  return goDiv(t, width) * width + width;
}

/** Prometheus `computeChunkEndTime`: spread the remaining range evenly over chunks. */
function computeChunkEndTime(start: number, cur: number, max: number): number {
  const n = goDiv(max - start, (cur - start + 1) * 4);
  if (n <= 1) return max;
  return start + goDiv(max - start, n);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = LITTLE_ENDIAN ? 0 : 1;

/**
 * Cuts `[from, to)` of a series' samples into XOR chunks as Prometheus 2.42's head does:
 * a new chunk when the sample reaches the predicted end time (set at 30 samples so chunks
 * split the rest of the chunk range evenly, at the latest the range boundary) or when the
 * chunk holds 240 samples. Calls `emit` with each finished chunk.
 */
export async function cutChunks(
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  chunkRange: number,
  emit: (minTime: number, maxTime: number, data: Uint8Array) => Promise<void>,
): Promise<void> {
  // Value bits read as words: a NaN read into a JS number may lose its payload (stale marker).
  const words = new Uint32Array(vs.buffer, vs.byteOffset, vs.length * 2);
  let app: XorAppender | null = null;
  let minTime = 0;
  let maxTime = 0;
  let nextAt = 0;
  for (let i = from; i < to; i++) {
    const t = ts[i];
    if (app !== null) {
      const n = app.numSamples;
      if (n === SAMPLES_PER_CHUNK / 4) nextAt = computeChunkEndTime(minTime, maxTime, nextAt);
      if (t >= nextAt || n >= SAMPLES_PER_CHUNK * 2) {
        await emit(minTime, maxTime, app.bytes());
        app = null;
      }
    }
    if (app === null) {
      app = new XorAppender();
      minTime = t;
      nextAt = rangeForTimestamp(t, chunkRange);
    }
    app.appendBits(t, words[2 * i + HI], words[2 * i + LO]);
    maxTime = t;
  }
  if (app !== null) await emit(minTime, maxTime, app.bytes());
}

interface PendingSeries {
  labels: Labels;
  chunks: ChunkMeta[];
}

async function removeAll(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/**
 * Writes one block under `parentDir` and returns its meta. `series` must be sorted by labels
 * (strictly increasing) with samples strictly increasing in time inside
 * [opts.minTime, opts.maxTime); series without samples are skipped. Files go to
 * `<ulid>.tmp-for-creation/`, which is renamed to `<ulid>/` once complete, so readers never
 * see a partial block. Throws InvalidInputError naming the series on unsorted input.
 */
export async function writeBlock(
  parentDir: string,
  series:
    | Iterable<RawSeries | EncodedSeries>
    | AsyncIterable<RawSeries | EncodedSeries>,
  opts: WriteBlockOptions,
): Promise<BlockMeta> {
  const ulid = opts.ulid ?? newULID();
  if (!(opts.minTime < opts.maxTime)) {
    throw new InvalidInputError(
      `writeBlock: minTime ${opts.minTime} must be below maxTime ${opts.maxTime}`,
    );
  }
  const chunkRange = opts.chunkRangeMs ?? DEFAULT_BLOCK_DURATION_MS;
  const tmp = `${parentDir}/${ulid}${TMP_FOR_CREATION}`;
  const final = `${parentDir}/${ulid}`;
  await removeAll(tmp);
  await Deno.mkdir(tmp, { recursive: true });
  let chunkWriter: ChunkSegmentWriter | null = null;
  let indexWriter: IndexWriter | null = null;
  try {
    chunkWriter = await ChunkSegmentWriter.create(`${tmp}/chunks`, {
      maxSegmentSize: opts.maxSegmentSize,
    });
    const cw = chunkWriter;
    // Chunks are written while reading the input once; the index needs all symbols up front,
    // so labels and chunk metas (small) are kept until the index is written.
    const pending: PendingSeries[] = [];
    const symbols = new Set<string>();
    let numSamples = 0;
    let numChunks = 0;
    let prev: Labels | null = null;
    for await (const s of series as AsyncIterable<RawSeries | EncodedSeries>) {
      const labels = s.labels;
      if (prev !== null && compareLabels(prev, labels) >= 0) {
        throw new InvalidInputError(
          `writeBlock: series ${labelsToString(labels)} is not after ${
            labelsToString(prev)
          }; series must be sorted by labels and unique`,
        );
      }
      prev = labels;
      if ("chunks" in s) {
        // pre-encoded chunks: passed through unchanged
        if (s.chunks.length === 0) continue;
        const metas: ChunkMeta[] = [];
        let last = -Infinity;
        for (const c of s.chunks) {
          if (
            !(c.minTime >= opts.minTime && c.maxTime < opts.maxTime && c.minTime <= c.maxTime &&
              c.minTime > last)
          ) {
            throw new InvalidInputError(
              `writeBlock: series ${labelsToString(labels)} chunk [${c.minTime}, ${c.maxTime}] ` +
                `must lie within [${opts.minTime}, ${opts.maxTime}) after the previous chunk`,
            );
          }
          last = c.maxTime;
          metas.push({
            minTime: c.minTime,
            maxTime: c.maxTime,
            ref: await cw.writeChunk(c.encoding, c.data),
          });
        }
        for (const l of labels) symbols.add(l);
        pending.push({ labels, chunks: metas });
        numSamples += s.numSamples;
        numChunks += metas.length;
        continue;
      }
      const { ts, vs } = s;
      if (ts.length !== vs.length) {
        throw new InvalidInputError(
          `writeBlock: series ${
            labelsToString(labels)
          } has ${ts.length} timestamps but ${vs.length} values`,
        );
      }
      if (ts.length === 0) continue;
      for (let i = 0; i < ts.length; i++) {
        const t = ts[i];
        if (!(t >= opts.minTime && t < opts.maxTime) || (i > 0 && !(t > ts[i - 1]))) {
          throw new InvalidInputError(
            `writeBlock: series ${
              labelsToString(labels)
            } sample ${i} at ${t}: timestamps must be ` +
              `strictly increasing within [${opts.minTime}, ${opts.maxTime})`,
          );
        }
      }
      const metas: ChunkMeta[] = [];
      await cutChunks(ts, vs, 0, ts.length, chunkRange, async (minTime, maxTime, data) => {
        const ref = await cw.writeChunk(ChunkEncoding.XOR, data);
        metas.push({ minTime, maxTime, ref });
      });
      for (const l of labels) symbols.add(l);
      pending.push({ labels, chunks: metas });
      numSamples += ts.length;
      numChunks += metas.length;
    }
    await chunkWriter.close();
    chunkWriter = null;

    indexWriter = await IndexWriter.create(`${tmp}/index`, symbols);
    for (const p of pending) await indexWriter.addSeries(p.labels, p.chunks);
    await indexWriter.close();
    indexWriter = null;

    await writeTombstones(tmp);
    const meta: BlockMeta = {
      ulid,
      minTime: opts.minTime,
      maxTime: opts.maxTime,
      stats: { numSamples, numSeries: pending.length, numChunks },
      compaction: opts.compaction ?? { level: opts.level ?? 1, sources: [ulid] },
      version: 1,
    };
    if (opts.thanos) meta.thanos = opts.thanos;
    await writeBlockMeta(tmp, meta);
    await renameDirAtomic(tmp, final);
    return meta;
  } catch (e) {
    if (chunkWriter) await chunkWriter.close().catch(() => undefined);
    if (indexWriter) await indexWriter.abort().catch(() => undefined);
    await removeAll(tmp).catch(() => undefined);
    throw e;
  }
}

/** First index in ascending `ts` with `ts[i] >= t`. */
function lowerBound(ts: Float64Array, t: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Options of {@link createBlocksFromSeries}. */
export interface CreateBlocksOptions {
  /** Block duration (default 2h). */
  blockDurationMs?: number;
  /** Passed to {@link writeBlock}. */
  thanos?: BlockThanosMeta;
}

/**
 * Splits the samples of `series` (sorted by labels) into blocks like promtool's
 * `create-blocks-from openmetrics`: windows `[t, t + d)` starting at the first sample's time
 * truncated to a multiple of `d`; each non-empty window becomes a block whose minTime is its
 * first sample and maxTime its last sample + 1, with chunks cut using a chunk range of 2·d
 * (promtool's block writer). Returns the metas of the blocks written, in time order.
 */
export async function createBlocksFromSeries(
  outDir: string,
  series: readonly RawSeries[],
  blockDurationMsOrOpts: number | CreateBlocksOptions = DEFAULT_BLOCK_DURATION_MS,
): Promise<BlockMeta[]> {
  const opts = typeof blockDurationMsOrOpts === "number"
    ? { blockDurationMs: blockDurationMsOrOpts }
    : blockDurationMsOrOpts;
  const d = opts.blockDurationMs ?? DEFAULT_BLOCK_DURATION_MS;
  const sorted = series.slice().sort((a, b) => compareLabels(a.labels, b.labels));
  let mint = Infinity;
  let maxt = -Infinity;
  for (const s of sorted) {
    if (s.ts.length === 0) continue;
    if (s.ts[0] < mint) mint = s.ts[0];
    if (s.ts[s.ts.length - 1] > maxt) maxt = s.ts[s.ts.length - 1];
  }
  await Deno.mkdir(outDir, { recursive: true });
  const metas: BlockMeta[] = [];
  if (mint === Infinity) return metas;
  for (let t = goDiv(mint, d) * d; t <= maxt; t += d) {
    const upper = t + d;
    const parts: RawSeries[] = [];
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of sorted) {
      const a = lowerBound(s.ts, t);
      const b = lowerBound(s.ts, upper);
      if (a >= b) continue;
      parts.push({ labels: s.labels, ts: s.ts.subarray(a, b), vs: s.vs.subarray(a, b) });
      if (s.ts[a] < lo) lo = s.ts[a];
      if (s.ts[b - 1] > hi) hi = s.ts[b - 1];
    }
    if (parts.length === 0) continue;
    metas.push(
      await writeBlock(outDir, parts, {
        minTime: lo,
        maxTime: hi + 1,
        chunkRangeMs: 2 * d,
        thanos: opts.thanos,
      }),
    );
  }
  return metas;
}
