// Block querier: label matchers + time range → sorted SeriesSet of still-encoded chunks, with
// Prometheus semantics for matchers (postingsForMatchers, shared with the store gateway in
// index/postings_for_matchers.ts) and tombstones; plus the k-way merge of series sets from
// several blocks.

import { MinHeap } from "./heap.ts";
import type { Block } from "./block.ts";
import { XorAppender } from "./chunkenc/xor.ts";
import { AggrType, CHUNK_ENC_AGGR, encodeAggrChunk, parseAggrChunk } from "./chunkenc/aggr.ts";
import { CorruptionError } from "./errors.ts";
import { decodeXorSamples } from "./chunkenc/xor.ts";
import { intersectPostings } from "./index/postings.ts";
import { postingsForMatchers } from "./index/postings_for_matchers.ts";
import { compareLabels, compareStrings, labelsEqual, unionSorted } from "./labels.ts";
import type { Matcher } from "./matchers.ts";
import {
  type Chunk,
  ChunkEncoding,
  type Labels,
  type Queryable,
  type SelectHints,
  type SeriesSet,
  type SeriesWithChunks,
} from "./series.ts";
import type { Interval } from "./tombstones.ts";

export { postingsForMatchers } from "./index/postings_for_matchers.ts";

/** True when [mint, maxt] lies entirely inside one of the (merged) intervals. */
function isSubrange(mint: number, maxt: number, intervals: readonly Interval[]): boolean {
  for (const iv of intervals) if (iv.mint <= mint && maxt <= iv.maxt) return true;
  return false;
}

function deletedAt(intervals: readonly Interval[], t: number): boolean {
  for (const iv of intervals) if (t >= iv.mint && t <= iv.maxt) return true;
  return false;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = LITTLE_ENDIAN ? 0 : 1;

/**
 * Re-encodes a chunk without the samples inside `intervals` (value bits kept exactly, so stale
 * markers survive). Returns null when nothing is left. XOR chunks are re-encoded; aggregated
 * (downsampled, encoding 0xff) chunks have each aggregate's XOR sub-chunk filtered the same way
 * ({@link removeDeletedAggrSamples}). Native histogram chunks are returned unchanged: partial
 * deletion inside them is not supported yet.
 */
export function removeDeletedSamples(chk: Chunk, intervals: readonly Interval[]): Chunk | null {
  if ((chk.encoding as number) === CHUNK_ENC_AGGR) return removeDeletedAggrSamples(chk, intervals);
  if (chk.encoding !== ChunkEncoding.XOR) return chk;
  const r = filterXorSamples(chk.data, intervals, false);
  return r && { minTime: r.minTime, maxTime: r.maxTime, encoding: ChunkEncoding.XOR, data: r.data };
}

/** An XOR chunk's samples outside `intervals`, re-encoded; null when none is left. */
function filterXorSamples(
  data: Uint8Array,
  intervals: readonly Interval[],
  allowEqualTimestamps: boolean,
): { minTime: number; maxTime: number; data: Uint8Array } | null {
  const { ts, vs } = decodeXorSamples(data);
  const words = new Uint32Array(vs.buffer, vs.byteOffset, vs.length * 2);
  const app = new XorAppender(allowEqualTimestamps);
  let minTime = 0;
  let maxTime = 0;
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i];
    if (deletedAt(intervals, t)) continue;
    if (app.numSamples === 0) minTime = t;
    maxTime = t;
    app.appendBits(t, words[2 * i + HI], words[2 * i + LO]);
  }
  if (app.numSamples === 0) return null;
  return { minTime, maxTime, data: app.bytes().slice() };
}

/**
 * An aggregated chunk (Thanos's AggrChunk, tsdb/chunkenc/aggr.ts) without the samples inside
 * `intervals`: every aggregate (count, sum, min, max, counter) is filtered alone, so each
 * remaining window keeps all its aggregates; an aggregate left empty becomes absent. The
 * chunk's range is that of the windows left (the counter's extra first raw sample is not a
 * window, as the downsampler stamps chunks). Returns the chunk itself when no interval touches
 * its range, null when nothing is left. Throws CorruptionError on a bad chunk.
 */
export function removeDeletedAggrSamples(
  chk: Chunk,
  intervals: readonly Interval[],
): Chunk | null {
  if (!intervals.some((iv) => iv.mint <= chk.maxTime && chk.minTime <= iv.maxt)) return chk;
  const parts = parseAggrChunk(chk.data);
  let minTime = Infinity;
  let maxTime = -Infinity;
  let counterMin = Infinity;
  let counterMax = -Infinity;
  const out = parts.map((p, i) => {
    if (p === null) return null;
    if (p.encoding !== ChunkEncoding.XOR) {
      throw new CorruptionError("", -1, `aggregate ${i} has chunk encoding ${p.encoding}, not XOR`);
    }
    const r = filterXorSamples(p.data, intervals, i === AggrType.Counter);
    if (r === null) return null;
    if (i === AggrType.Counter) {
      counterMin = r.minTime;
      counterMax = r.maxTime;
    } else {
      minTime = Math.min(minTime, r.minTime);
      maxTime = Math.max(maxTime, r.maxTime);
    }
    return { encoding: ChunkEncoding.XOR, data: r.data };
  });
  if (out.every((p) => p === null)) return null;
  if (minTime === Infinity) [minTime, maxTime] = [counterMin, counterMax];
  return { minTime, maxTime, encoding: chk.encoding, data: encodeAggrChunk(out) };
}

/** Options of {@link BlockQuerier}. */
export interface BlockQuerierOptions {
  /** Series decoded and chunk-loaded per batch (default 256). */
  batchSize?: number;
}

/** Reads one block through the {@link Queryable} interface. */
export class BlockQuerier implements Queryable {
  private readonly batchSize: number;

  constructor(readonly block: Block, opts: BlockQuerierOptions = {}) {
    this.batchSize = Math.max(1, opts.batchSize ?? 256);
  }

  /**
   * Series matching `matchers` that have a chunk overlapping [hints.start, hints.end]
   * (inclusive), sorted by labels. Chunks are returned whole (not trimmed to the range);
   * tombstoned samples are removed (chunks re-encoded) and fully deleted series skipped.
   * With `skipChunks` the series carry no chunks and no chunk data is read.
   */
  select(matchers: Matcher[], hints: SelectHints, signal?: AbortSignal): SeriesSet {
    return this.selectGen(matchers, hints, signal);
  }

  private async *selectGen(
    matchers: Matcher[],
    hints: SelectHints,
    signal?: AbortSignal,
  ): AsyncGenerator<SeriesWithChunks> {
    const { index, chunks: chunkReader, tombstones } = this.block;
    const mint = hints.start;
    const maxt = hints.end;
    const refs = await postingsForMatchers(index, matchers);
    if (refs.length === 0) return;

    type Pending = {
      labels: Labels;
      metas: { minTime: number; maxTime: number; ref: number }[];
      dels?: Interval[];
    };
    let batch: Pending[] = [];

    const flush = async function* (this: void, b: Pending[]): AsyncGenerator<SeriesWithChunks> {
      if (hints.skipChunks) {
        for (const p of b) yield { labels: p.labels, chunks: [] };
        return;
      }
      // Read the batch's chunks concurrently: a bucket source turns each into a range request.
      const loaded = await Promise.all(
        b.map((p) =>
          Promise.all(p.metas.map(async (m): Promise<Chunk> => {
            const c = await chunkReader.chunk(m.ref);
            return { minTime: m.minTime, maxTime: m.maxTime, encoding: c.encoding, data: c.data };
          }))
        ),
      );
      for (let i = 0; i < b.length; i++) {
        const p = b[i];
        let chks = loaded[i];
        if (p.dels) {
          const kept: Chunk[] = [];
          for (const c of chks) {
            const r = removeDeletedSamples(c, p.dels);
            if (r) kept.push(r);
          }
          if (kept.length === 0) continue;
          chks = kept;
        }
        yield { labels: p.labels, chunks: chks };
      }
    };

    for await (const s of index.seriesMany(refs, { signal })) {
      const dels = tombstones.size > 0 ? tombstones.get(s.ref) : undefined;
      const metas = [];
      for (const c of s.chunks) {
        if (c.maxTime < mint || c.minTime > maxt) continue;
        if (dels && isSubrange(c.minTime, c.maxTime, dels)) continue;
        metas.push(c);
      }
      if (metas.length === 0) continue;
      batch.push({ labels: s.labels, metas, dels: dels && dels.length > 0 ? dels : undefined });
      if (batch.length >= this.batchSize) {
        signal?.throwIfAborted();
        yield* flush(batch);
        batch = [];
      }
    }
    if (batch.length > 0) yield* flush(batch);
  }

  /** Label names of series matching `matchers` (all names of the block when none). */
  async labelNames(matchers: Matcher[], _start?: number, _end?: number): Promise<string[]> {
    if (matchers.length === 0) return this.block.index.labelNames();
    const refs = await postingsForMatchers(this.block.index, matchers);
    const names = new Set<string>();
    for await (const s of this.block.index.seriesMany(refs)) {
      for (let i = 0; i < s.labels.length; i += 2) names.add(s.labels[i]);
    }
    return [...names].sort(compareStrings);
  }

  /** Values of label `name` over series matching `matchers` (all values when none). */
  async labelValues(
    name: string,
    matchers: Matcher[],
    _start?: number,
    _end?: number,
  ): Promise<string[]> {
    if (matchers.length === 0) return await this.block.index.labelValues(name);
    const withName = await this.block.index.postingsForLabelMatching(name, () => true);
    const refs = intersectPostings([
      withName,
      await postingsForMatchers(this.block.index, matchers),
    ]);
    const values = new Set<string>();
    for await (const s of this.block.index.seriesMany(refs)) {
      for (let i = 0; i < s.labels.length; i += 2) {
        if (s.labels[i] === name) values.add(s.labels[i + 1]);
      }
    }
    return [...values].sort(compareStrings);
  }
}

/** Set `idx`'s current batch in {@link mergeSeriesBatches} and its position in it. */
interface Cursor {
  idx: number;
  batch: SeriesWithChunks[];
  pos: number;
}

/** Cursors of several sets whose current series have equal labels. */
interface HeadGroup {
  labels: Labels;
  members: Cursor[];
}

/** Series per batch {@link mergeSeriesBatches} hands on at most. */
const MERGED_BATCH = 256;

/**
 * K-way merge of sorted series sets by labels. A series present in several sets is yielded once
 * with all its chunks sorted by minTime (ties keep set order); overlapping chunks from
 * different sets stay separate chunks: consumers dedupe samples.
 */
export async function* mergeSeriesSets(sets: readonly SeriesSet[]): SeriesSet {
  if (sets.length === 1) {
    yield* sets[0];
    return;
  }
  const its = sets.map((s) => s[Symbol.asyncIterator]());
  const merged = mergeBatchSources(
    its.length,
    (i) => its[i].next().then((r) => r.done ? null : [r.value]),
    () => Promise.all(its.map((it) => it.return?.())),
  );
  for await (const batch of merged) for (const s of batch) yield s;
}

/**
 * {@link mergeSeriesSets} over sets read in batches (each set sorted across its batches): the
 * merge runs through a batch without an await and waits only for sets whose batch ran out, all
 * of them at once, so merging a series found in 360 blocks costs no promise per block. Yields
 * the merged series in batches (at most 256, handed on before each wait).
 */
export function mergeSeriesBatches(
  sets: readonly AsyncIterable<SeriesWithChunks[]>[],
): AsyncIterable<SeriesWithChunks[]> {
  if (sets.length === 1) return sets[0];
  const its = sets.map((s) => s[Symbol.asyncIterator]());
  return mergeBatchSources(
    its.length,
    (i) => its[i].next().then((r) => r.done ? null : r.value),
    () => Promise.all(its.map((it) => it.return?.())),
  );
}

async function* mergeBatchSources(
  n: number,
  next: (idx: number) => Promise<SeriesWithChunks[] | null>,
  close: () => Promise<unknown>,
): AsyncGenerator<SeriesWithChunks[]> {
  try {
    // Heads with equal labels share one heap entry (a group, its members in set order), so a
    // series present in many sets (the same series in each of 360 two-hour blocks) costs one
    // heap operation and a label comparison per set, not a heap push and pop per set.
    // Groups are ordered by labels, then by their first set (equal series keep the sets' order).
    const heap = new MinHeap<HeadGroup>((x, y) => {
      const c = compareLabels(x.labels, y.labels);
      return c < 0 || (c === 0 && x.members[0].idx < y.members[0].idx);
    });
    /** Adds cursors (in set order) to the heap, runs of equal labels as one group. */
    const add = (cursors: Cursor[]) => {
      let g: HeadGroup | undefined;
      for (const c of cursors) {
        const labels = c.batch[c.pos].labels;
        if (g !== undefined && labelsEqual(g.labels, labels)) g.members.push(c);
        else heap.push(g = { labels, members: [c] });
      }
    };
    /** The next non-empty batch of every cursor in `empty`, read concurrently; set order kept. */
    const refill = async (empty: Cursor[], ready: Cursor[]): Promise<Cursor[]> => {
      let wait = empty;
      while (wait.length > 0) {
        const batches = await Promise.all(wait.map((c) => next(c.idx)));
        const again: Cursor[] = [];
        for (let i = 0; i < wait.length; i++) {
          const b = batches[i];
          if (b === null) continue;
          wait[i].batch = b;
          wait[i].pos = 0;
          (b.length === 0 ? again : ready).push(wait[i]);
        }
        wait = again;
      }
      return ready.sort((a, b) => a.idx - b.idx);
    };
    const all: Cursor[] = [];
    for (let i = 0; i < n; i++) all.push({ idx: i, batch: [], pos: 0 });
    // prime every set concurrently so their first reads overlap
    add(await refill(all, []));
    let out: SeriesWithChunks[] = [];
    for (;;) {
      const top = heap.pop();
      if (!top) break;
      let group = top.members;
      let merged = false;
      while (heap.peek() && labelsEqual(heap.peek()!.labels, top.labels)) {
        if (!merged) group = [...group];
        merged = true;
        for (const m of heap.pop()!.members) group.push(m);
      }
      if (merged) group.sort((a, b) => a.idx - b.idx);
      if (group.length === 1) {
        const c = group[0];
        out.push(c.batch[c.pos]);
      } else {
        out.push({ labels: top.labels, chunks: concatChunks(group) });
      }
      // advance the group's cursors; those at the end of their batch wait for the next one
      let exhausted = false;
      for (let k = 0; k < group.length; k++) {
        const c = group[k];
        if (++c.pos >= c.batch.length) exhausted = true;
      }
      if (!exhausted) {
        // the usual case: the same series next in every set of the group, which goes back on
        // the heap as it is (no group or member array per merged series)
        if (sameHeads(group)) {
          top.labels = group[0].batch[group[0].pos].labels;
          top.members = group;
          heap.push(top);
        } else add(group);
        if (out.length >= MERGED_BATCH) {
          yield out;
          out = [];
        }
        continue;
      }
      const ready: Cursor[] = [];
      const empty: Cursor[] = [];
      for (const c of group) (c.pos < c.batch.length ? ready : empty).push(c);
      // what is merged so far goes on before waiting for the sets' next batches
      if (out.length > 0) {
        yield out;
        out = [];
      }
      add(await refill(empty, ready));
    }
    if (out.length > 0) yield out;
  } finally {
    await close();
  }
}

/** Whether the current series of all `group`'s cursors have the same labels. */
function sameHeads(group: readonly Cursor[]): boolean {
  const first = group[0].batch[group[0].pos].labels;
  for (let k = 1; k < group.length; k++) {
    if (!labelsEqual(group[k].batch[group[k].pos].labels, first)) return false;
  }
  return true;
}

/**
 * The chunks of the current series of `group`'s cursors (in set order) in one array sized once,
 * sorted by minTime, set order kept on ties. Sets are usually blocks in time order, so the
 * chunks arrive sorted and the sort is skipped.
 */
function concatChunks(group: readonly Cursor[]): Chunk[] {
  let n = 0;
  for (let k = 0; k < group.length; k++) n += group[k].batch[group[k].pos].chunks.length;
  const chunks = new Array<Chunk>(n);
  let i = 0;
  let sorted = true;
  let last = -Infinity;
  for (let k = 0; k < group.length; k++) {
    const cs = group[k].batch[group[k].pos].chunks;
    for (let j = 0; j < cs.length; j++) {
      const ch = cs[j];
      if (ch.minTime < last) sorted = false;
      last = ch.minTime;
      chunks[i++] = ch;
    }
  }
  if (!sorted) chunks.sort((a, b) => a.minTime - b.minTime); // stable: set order kept on ties
  return chunks;
}

/** True when block [meta.minTime, meta.maxTime) overlaps the closed interval [mint, maxt]. */
export function blockOverlaps(block: Block, mint: number, maxt: number): boolean {
  return block.meta.minTime <= maxt && mint < block.meta.maxTime;
}

/** Reads several blocks as one {@link Queryable}: selects from the blocks overlapping the range and merges. */
export class BlocksQuerier implements Queryable {
  private readonly queriers: BlockQuerier[];

  constructor(readonly blocks: readonly Block[], opts?: BlockQuerierOptions) {
    this.queriers = blocks.map((b) => new BlockQuerier(b, opts));
  }

  /** Merged {@link BlockQuerier.select} of the blocks overlapping [hints.start, hints.end]. */
  select(matchers: Matcher[], hints: SelectHints, signal?: AbortSignal): SeriesSet {
    const sets = this.queriers
      .filter((q) => blockOverlaps(q.block, hints.start, hints.end))
      .map((q) => q.select(matchers, hints, signal));
    if (sets.length === 0) return emptySeriesSet();
    return mergeSeriesSets(sets);
  }

  /** Union of the blocks' label names. */
  async labelNames(matchers: Matcher[], start: number, end: number): Promise<string[]> {
    const parts = await Promise.all(
      this.queriers.filter((q) => blockOverlaps(q.block, start, end)).map((q) =>
        q.labelNames(matchers, start, end)
      ),
    );
    return unionSorted(parts);
  }

  /** Union of the blocks' values of label `name`. */
  async labelValues(
    name: string,
    matchers: Matcher[],
    start: number,
    end: number,
  ): Promise<string[]> {
    const parts = await Promise.all(
      this.queriers.filter((q) => blockOverlaps(q.block, start, end)).map((q) =>
        q.labelValues(name, matchers, start, end)
      ),
    );
    return unionSorted(parts);
  }
}

/** A series set with no series. */
export function emptySeriesSet(): SeriesSet {
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => Promise.resolve({ done: true as const, value: undefined }),
    }),
  };
}
