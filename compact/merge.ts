// Merging blocks into one (the work of Prometheus's `LeveledCompactor.Compact`, as Thanos runs it in
// https://github.com/thanos-io/thanos/blob/main/pkg/compact/compact.go): every series of every
// source block in label order (k-way merge, tsdb/querier.ts), tombstoned samples removed, chunks
// copied as they are when a series' chunks do not overlap; when they do (vertical compaction),
// the series is merged sample by sample — `""` keeps one sample per timestamp (Prometheus's
// compacting chained merge), `penalty` is the querier's penalty deduplication
// (storeapi/dedup.ts), so the merged block equals what the querier's online dedup returns.

import type { Block } from "../tsdb/block.ts";
import { ChunkSegmentWriter } from "../tsdb/chunks/segment.ts";
import { type ChunkMeta, IndexWriter } from "../tsdb/index/writer.ts";
import { compareLabels, labelsToString } from "../tsdb/labels.ts";
import { type BlockMeta, writeBlockMeta } from "../tsdb/meta.ts";
import { mergeSeriesSets, removeDeletedSamples } from "../tsdb/querier.ts";
import { type Chunk, ChunkEncoding, type Labels, type SeriesWithChunks } from "../tsdb/series.ts";
import { writeTombstones } from "../tsdb/tombstones.ts";
import { newULID } from "../tsdb/ulid.ts";
import { renameDirAtomic, TMP_FOR_CREATION } from "../runutil/atomic_file.ts";
import { dedupSeries } from "../storeapi/dedup.ts";
import { CHUNK_ENC_AGGR } from "../tsdb/chunkenc/aggr.ts";
import { aggrChunkSamples } from "./downsample.ts";

/** `--deduplication.func`: `""` one-to-one merge of identical samples, or `penalty`. */
export type CompactDedupFunc = "" | "penalty";

/** Reading a source block failed: the block (by ULID) and what went wrong. */
export class BlockReadError extends Error {
  override name = "BlockReadError";
  constructor(
    readonly ulid: string,
    readonly reason: string,
    options?: ErrorOptions,
    /** The index lists a series' chunks out of order or overlapping (Thanos's OutOfOrderChunks). */
    readonly outOfOrderChunks = false,
  ) {
    super(`block ${ulid}: ${reason}`, options);
  }
}

/**
 * Every series of `block` in label order with its chunks (tombstoned samples removed). Checks
 * what the compactor relies on: series strictly increasing by labels, chunks of a series ordered
 * and not overlapping. Any failure is a {@link BlockReadError} naming the block.
 */
export async function* blockSeries(
  block: Block,
  signal?: AbortSignal,
): AsyncGenerator<SeriesWithChunks> {
  const id = block.meta.ulid;
  let prev: Labels | null = null;
  try {
    const refs = await block.index.allPostings();
    for await (const s of block.index.seriesMany(refs, { signal })) {
      if (prev !== null && compareLabels(prev, s.labels) >= 0) {
        throw new BlockReadError(
          id,
          `index: series ${labelsToString(s.labels)} out of order after ${labelsToString(prev)}`,
        );
      }
      prev = s.labels;
      for (let i = 1; i < s.chunks.length; i++) {
        if (s.chunks[i].minTime <= s.chunks[i - 1].maxTime) {
          throw new BlockReadError(
            id,
            `index: out-of-order or overlapping chunks in series ${labelsToString(s.labels)}`,
            undefined,
            true,
          );
        }
      }
      const dels = block.tombstones.size > 0 ? block.tombstones.get(s.ref) : undefined;
      const chunks: Chunk[] = [];
      for (const m of s.chunks) {
        const c = await block.chunks.chunk(m.ref);
        let chk: Chunk | null = {
          minTime: m.minTime,
          maxTime: m.maxTime,
          encoding: c.encoding,
          data: c.data,
        };
        if (dels && dels.length > 0) chk = removeDeletedSamples(chk, dels);
        if (chk) chunks.push(chk);
      }
      if (chunks.length > 0) yield { labels: s.labels, chunks };
    }
  } catch (e) {
    if (e instanceof BlockReadError || (e as Error).name === "AbortError") throw e;
    throw new BlockReadError(id, (e as Error).message, { cause: e });
  }
}

/** True when some chunk starts at or before the end of the previous ones (sorted by minTime). */
export function chunksOverlap(chunks: readonly Chunk[]): boolean {
  let maxt = -Infinity;
  for (const c of chunks) {
    if (c.minTime <= maxt) return true;
    if (c.maxTime > maxt) maxt = c.maxTime;
  }
  return false;
}

/**
 * Samples in a chunk: XOR and native histogram chunks carry the count in their first two bytes;
 * an aggregated chunk counts its windows (Thanos's `AggrChunk.NumSamples`).
 */
export function chunkSamples(c: Chunk): number {
  if ((c.encoding as number) === CHUNK_ENC_AGGR) return aggrChunkSamples(c);
  if (
    (c.encoding === ChunkEncoding.XOR || c.encoding === ChunkEncoding.Histogram ||
      c.encoding === ChunkEncoding.FloatHistogram) && c.data.length >= 2
  ) return (c.data[0] << 8) | c.data[1];
  return 0;
}

/**
 * A series' chunks still overlap after the merge: native histogram or aggregated chunks of
 * different replicas cannot be merged sample by sample here (the compactor reports the group
 * instead of writing a block whose series has overlapping chunks).
 */
export class UnmergeableChunksError extends Error {
  override name = "UnmergeableChunksError";
}

/** Merges the overlapping chunks of one series with `func`. */
export function mergeSeriesChunks(s: SeriesWithChunks, func: CompactDedupFunc): SeriesWithChunks {
  if (!chunksOverlap(s.chunks)) return s;
  return dedupSeries(s, { func: func === "penalty" ? "penalty" : "chain" });
}

/** Options of {@link writeCompactedBlock}. */
export interface CompactedBlockOptions {
  /** The `thanos` section of the new meta.json. */
  thanos: NonNullable<BlockMeta["thanos"]>;
  /** Merge function for overlapping series (vertical compaction). */
  dedupFunc?: CompactDedupFunc;
  ulid?: string;
  signal?: AbortSignal;
}

/** What the merge did. */
export interface CompactedBlock {
  meta: BlockMeta;
  /** Directory of the new block. */
  dir: string;
  /** Series whose chunks overlapped and were merged sample by sample. */
  mergedSeries: number;
}

/**
 * Merges `blocks` into a new block under `parentDir` (written to `<ulid>.tmp-for-creation`, renamed
 * when complete). The meta records level max(parents)+1, the union of the sources and the
 * parents, and the union of the time ranges.
 */
export async function writeCompactedBlock(
  parentDir: string,
  blocks: readonly Block[],
  opts: CompactedBlockOptions,
): Promise<CompactedBlock> {
  const ulid = opts.ulid ?? newULID();
  const tmp = `${parentDir}/${ulid}${TMP_FOR_CREATION}`;
  const final = `${parentDir}/${ulid}`;
  await Deno.remove(tmp, { recursive: true }).catch(() => undefined);
  await Deno.mkdir(tmp, { recursive: true });
  let cw: ChunkSegmentWriter | null = null;
  let iw: IndexWriter | null = null;
  try {
    cw = await ChunkSegmentWriter.create(`${tmp}/chunks`);
    const pending: { labels: Labels; chunks: ChunkMeta[] }[] = [];
    const symbols = new Set<string>();
    let numSamples = 0;
    let numChunks = 0;
    let mergedSeries = 0;
    const sets = blocks.map((b) => blockSeries(b, opts.signal));
    for await (const raw of mergeSeriesSets(sets)) {
      const s = mergeSeriesChunks(raw, opts.dedupFunc ?? "");
      if (s !== raw) mergedSeries++;
      if (s !== raw && chunksOverlap(s.chunks)) {
        throw new UnmergeableChunksError(
          `series ${labelsToString(s.labels)} has overlapping non-float (native histogram or ` +
            `aggregated) chunks in different blocks; they cannot be merged`,
        );
      }
      const metas: ChunkMeta[] = [];
      for (const c of s.chunks) {
        const ref = await cw.writeChunk(c.encoding, c.data);
        metas.push({ minTime: c.minTime, maxTime: c.maxTime, ref });
        numSamples += chunkSamples(c);
      }
      numChunks += metas.length;
      for (const l of s.labels) symbols.add(l);
      pending.push({ labels: s.labels, chunks: metas });
    }
    await cw.close();
    cw = null;
    iw = await IndexWriter.create(`${tmp}/index`, symbols);
    for (const p of pending) await iw.addSeries(p.labels, p.chunks);
    await iw.close();
    iw = null;
    await writeTombstones(tmp);

    const sources = new Set<string>();
    for (const b of blocks) {
      for (const s of b.meta.compaction.sources ?? [b.meta.ulid]) sources.add(s);
    }
    const meta: BlockMeta = {
      ulid,
      minTime: Math.min(...blocks.map((b) => b.meta.minTime)),
      maxTime: Math.max(...blocks.map((b) => b.meta.maxTime)),
      stats: { numSamples, numSeries: pending.length, numChunks },
      compaction: {
        level: Math.max(...blocks.map((b) => b.meta.compaction.level)) + 1,
        sources: [...sources].sort(),
        parents: blocks.map((b) => ({
          ulid: b.meta.ulid,
          minTime: b.meta.minTime,
          maxTime: b.meta.maxTime,
        })),
      },
      version: 1,
      thanos: opts.thanos,
    };
    await writeBlockMeta(tmp, meta);
    await renameDirAtomic(tmp, final);
    return { meta, dir: final, mergedSeries };
  } catch (e) {
    if (cw) await cw.close().catch(() => undefined);
    if (iw) await iw.abort().catch(() => undefined);
    await Deno.remove(tmp, { recursive: true }).catch(() => undefined);
    throw e;
  }
}
