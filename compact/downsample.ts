// Downsampling of blocks to 5m and 1h resolution in Thanos's format
// (https://thanos.io/tip/components/compact.md/#downsampling; algorithm and chunk layout as in
// https://github.com/thanos-io/thanos/blob/main/pkg/compact/downsample/downsample.go): each
// series becomes AggrChunks (tsdb/chunkenc/aggr.ts) whose five XOR sub-chunks hold, per window
// aligned to the resolution, the count, sum, min, max and a counter-reset-corrected counter of
// the samples in the window, stamped at the window's last millisecond (or the last sample of the
// chunk). The counter sub-chunk also keeps the chunk's first raw sample and repeats the last
// window's timestamp with the last raw value, so rate() across chunks sees true resets
// (applyCounterResets). 5m blocks are downsampled again to 1h along chunk boundaries.

import type { Bucket } from "../objstore/bucket.ts";
import type { Counter, Histogram, Registry } from "../metrics/registry.ts";
import type { Logger } from "../logging/log.ts";
import { Block } from "../tsdb/block.ts";
import { type EncodedSeries, writeBlock } from "../tsdb/block_writer.ts";
import {
  type AggrPart,
  AggrType,
  applyCounterResets,
  CHUNK_ENC_AGGR,
  encodeAggrChunk,
  parseAggrChunk,
} from "../tsdb/chunkenc/aggr.ts";
import { XorAppender, XorIterator } from "../tsdb/chunkenc/xor.ts";
import { allPostings } from "../tsdb/index/postings_for_matchers.ts";
import type { BlockMeta } from "../tsdb/meta.ts";
import { type Chunk, ChunkEncoding } from "../tsdb/series.ts";
import { labelsToString } from "../tsdb/labels.ts";
import { newULID } from "../tsdb/ulid.ts";
import { MetaSyncer } from "../block/fetcher.ts";
import { uploadBlock } from "../block/shipper.ts";
import { downloadBlock } from "../block/download.ts";
import { NO_DOWNSAMPLE_MARK_FILENAME } from "../block/markers.ts";
import { forEachConcurrent } from "../runutil/gate.ts";

/** Raw data. */
export const RES_RAW = 0;
/** 5 minutes in ms. */
export const RES_5M = 300_000;
/** 1 hour in ms. */
export const RES_1H = 3_600_000;
/** A raw block is downsampled to 5m once it spans this long (40h). */
export const RES_5M_DOWNSAMPLE_RANGE = 40 * 3_600_000;
/** A 5m block is downsampled to 1h once it spans this long (10 days). */
export const RES_1H_DOWNSAMPLE_RANGE = 10 * 24 * 3_600_000;

const CHUNK_AGGR = CHUNK_ENC_AGGR as ChunkEncoding;

/** Samples of one series: parallel timestamps (ms) and values. */
export interface Samples {
  ts: number[];
  vs: number[];
}

/** End (last ms) of the window of width `r` holding `t` (Thanos's currentWindow). */
export function currentWindow(t: number, r: number): number {
  return t - (t % r) + r - 1;
}

/** Thanos's rangeFullness: share of [mint, maxt] covered by `count` samples at `step`, ≤ 1. */
function rangeFullness(mint: number, maxt: number, step: number, count: number): number {
  const f = count / ((maxt - mint) / step);
  return f > 1 ? 1 : f;
}

/**
 * Chunks to produce for a series (Thanos's targetChunkCount): the expected number of output
 * samples split so chunks average at most 140 samples.
 */
export function targetChunkCount(
  mint: number,
  maxt: number,
  inRes: number,
  outRes: number,
  count: number,
): number {
  const maxSamples = Math.trunc((maxt - mint) / outRes);
  const expSamples = Math.trunc(maxSamples * rangeFullness(mint, maxt, inRes, count)) + 1;
  let x = 1;
  while (Math.trunc(expSamples / x) > 140) x++;
  return x;
}

/** Running aggregates of one window plus the counter state since the chunk's start. */
class Aggregator {
  total = 0;
  count = 0;
  sum = 0;
  min = Number.MAX_VALUE;
  max = -Number.MAX_VALUE;
  counter = 0;
  last = 0;

  reset(): void {
    this.count = 0;
    this.sum = 0;
    this.min = Number.MAX_VALUE;
    this.max = -Number.MAX_VALUE;
  }

  add(v: number): void {
    if (this.total > 0) {
      // a drop is a counter reset: the counter continues from the new value
      this.counter += v < this.last ? v : v - this.last;
    } else {
      this.counter = v;
    }
    this.last = v;
    this.sum += v;
    this.count++;
    this.total++;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }
}

/**
 * Aggregates `data` window by window (Thanos's downsampleBatch): calls `emit(t, aggr)` at the
 * end of each window, `t` being the window's last ms but at most the last sample's time.
 * Returns the timestamp of the last window.
 */
function downsampleBatch(
  data: Samples,
  resolution: number,
  emit: (t: number, a: Aggregator) => void,
): number {
  const a = new Aggregator();
  const lastT = data.ts[data.ts.length - 1];
  let nextT = -1;
  for (let i = 0; i < data.ts.length; i++) {
    const t = data.ts[i];
    if (t > nextT) {
      if (nextT !== -1) emit(nextT, a);
      a.reset();
      nextT = Math.min(currentWindow(t, resolution), lastT);
    }
    a.add(data.vs[i]);
  }
  if (a.total > 0) emit(nextT, a);
  return nextT;
}

/** Builds the sub-chunks of one aggregated chunk. */
class AggrChunkBuilder {
  mint = Infinity;
  maxt = -Infinity;
  readonly apps: (XorAppender | null)[] = [null, null, null, null, null];

  app(type: AggrType): XorAppender {
    // the counter repeats a timestamp to carry the last raw value
    return this.apps[type] ??= new XorAppender(type === AggrType.Counter);
  }

  stamp(t: number): void {
    if (t < this.mint) this.mint = t;
    if (t > this.maxt) this.maxt = t;
  }

  encode(): Chunk {
    const parts: (AggrPart | null)[] = this.apps.map((a) =>
      a ? { encoding: ChunkEncoding.XOR, data: a.bytes() } : null
    );
    return {
      minTime: this.mint,
      maxTime: this.maxt,
      encoding: CHUNK_AGGR,
      data: encodeAggrChunk(parts),
    };
  }
}

/** Aggregated chunk of raw samples (none NaN) in whole windows (Thanos's downsampleFloatBatch). */
function downsampleFloatBatch(batch: Samples, resolution: number): Chunk {
  const b = new AggrChunkBuilder();
  const counter = b.app(AggrType.Counter);
  const count = b.app(AggrType.Count);
  const sum = b.app(AggrType.Sum);
  const min = b.app(AggrType.Min);
  const max = b.app(AggrType.Max);
  // first raw value, see applyCounterResets
  counter.append(batch.ts[0], batch.vs[0]);
  const lastT = downsampleBatch(batch, resolution, (t, a) => {
    b.stamp(t);
    sum.append(t, a.sum);
    min.append(t, a.min);
    max.append(t, a.max);
    count.append(t, a.count);
    counter.append(t, a.counter);
  });
  // last raw value at the last window's timestamp, see applyCounterResets
  counter.append(lastT, batch.vs[batch.vs.length - 1]);
  return b.encode();
}

/**
 * Downsamples the raw samples of one series (sorted by time; stale markers and NaNs are
 * dropped) to aggregated chunks of `resolution` (Thanos's DownsampleRaw): windows aligned to
 * the resolution, split into chunks of whole windows of about 140 windows each.
 */
export function downsampleRaw(data: Samples, resolution: number): Chunk[] {
  const n = data.ts.length;
  if (n === 0) return [];
  const mint = data.ts[0];
  const maxt = data.ts[n - 1];
  // Thanos assumes a raw resolution of 1 minute for chunk sizing
  const numChunks = targetChunkCount(mint, maxt, 60_000, resolution, n);
  const batchSize = Math.trunc(n / numChunks) + 1;
  const out: Chunk[] = [];
  let from = 0;
  while (from < n) {
    let j = Math.min(from + batchSize, n);
    // whole windows only: take the rest of the window the batch ends in
    const curW = currentWindow(data.ts[j - 1], resolution);
    while (j < n && data.ts[j] <= curW) j++;
    const batch: Samples = { ts: [], vs: [] };
    for (let i = from; i < j; i++) {
      if (Number.isNaN(data.vs[i])) continue;
      batch.ts.push(data.ts[i]);
      batch.vs.push(data.vs[i]);
    }
    from = j;
    if (batch.ts.length > 0) out.push(downsampleFloatBatch(batch, resolution));
  }
  return out;
}

const iter = new XorIterator();

/**
 * Appends the samples of an XOR chunk to `out`, skipping stale markers and samples that go back
 * in time (Thanos's expandXorChunkIterator).
 */
function expandXor(data: Uint8Array, out: Samples): void {
  let lastT = -Infinity;
  for (iter.reset(data); iter.next();) {
    if (iter.isStale()) continue;
    const t = iter.t;
    if (t >= lastT) {
      out.ts.push(t);
      out.vs.push(iter.v);
      lastT = t;
    }
  }
}

/** Decoded aggregated chunk: its sub-chunks (null when absent). */
type AggrParts = (AggrPart | null)[];

function numSamplesOf(parts: AggrParts): number {
  const c = parts[AggrType.Count];
  if (!c || c.data.length < 2) return 0;
  return (c.data[0] << 8) | c.data[1];
}

/** Thanos's downsampleFloatAggrBatch: one aggregated chunk from consecutive aggregated chunks. */
function downsampleAggrBatch(chks: readonly AggrParts[], resolution: number): Chunk {
  const b = new AggrChunkBuilder();
  const generic = (type: AggrType, f: (a: Aggregator) => number) => {
    const buf: Samples = { ts: [], vs: [] };
    for (const p of chks) {
      const part = p[type];
      if (part) expandXor(part.data, buf);
    }
    if (buf.ts.length === 0) return;
    const app = b.app(type);
    downsampleBatch(buf, resolution, (t, a) => {
      b.stamp(t);
      app.append(t, f(a));
    });
  };
  // a count of counts is their sum
  generic(AggrType.Count, (a) => a.sum);
  generic(AggrType.Sum, (a) => a.sum);
  generic(AggrType.Min, (a) => a.min);
  generic(AggrType.Max, (a) => a.max);
  const counters: Uint8Array[] = [];
  for (const p of chks) {
    const part = p[AggrType.Counter];
    if (part) counters.push(part.data);
  }
  const cs = applyCounterResets(counters);
  if (cs.ts.length > 0) {
    const app = b.app(AggrType.Counter);
    app.append(cs.ts[0], cs.vs[0]);
    const lastT = downsampleBatch(cs, resolution, (t, a) => {
      b.stamp(t);
      app.append(t, a.counter);
    });
    app.append(lastT, cs.lastV);
  }
  return b.encode();
}

/**
 * Downsamples the aggregated chunks of one series to a coarser resolution along chunk
 * boundaries (a chunk's first and last counter values are true raw values and must stay so),
 * as Thanos's downsampleAggr: the chunks are grouped into about targetChunkCount batches.
 */
export function downsampleAggr(
  chunks: readonly Chunk[],
  inRes: number,
  outRes: number,
): Chunk[] {
  if (chunks.length === 0) return [];
  const parts = chunks.map((c) => parseAggrChunk(c.data));
  let numSamples = 0;
  for (const p of parts) numSamples += numSamplesOf(p);
  const numChunks = targetChunkCount(
    chunks[0].minTime,
    chunks[chunks.length - 1].maxTime,
    inRes,
    outRes,
    numSamples,
  );
  const batchSize = Math.max(1, Math.trunc(parts.length / numChunks));
  const out: Chunk[] = [];
  for (let i = 0; i < parts.length; i += batchSize) {
    const c = downsampleAggrBatch(parts.slice(i, i + batchSize), outRes);
    if (c.minTime === Infinity) {
      throw new Error(`invalid range for downsampled aggregate chunk: no samples`);
    }
    out.push(c);
  }
  return out;
}

/** Number of windows (samples of the count aggregate) of an aggregated chunk. */
export function aggrChunkSamples(c: Chunk): number {
  return numSamplesOf(parseAggrChunk(c.data));
}

/** Options of {@link downsampleBlock}. */
export interface DownsampleBlockOptions {
  /** ULID of the new block (default: a new one). */
  ulid?: string;
  logger?: Logger;
}

/**
 * Downsamples the local block in `blockDir` to `resolution` (300000 or 3600000) and writes the
 * result as a new block under `outDir` (tsdb/block_writer.ts, renamed into place when
 * complete). The new meta.json keeps the source's time range, labels and compaction section
 * (sources), with `thanos.downsample.resolution` set and source `compactor`. Returns it.
 */
export async function downsampleBlock(
  blockDir: string,
  outDir: string,
  resolution: number,
  opts: DownsampleBlockOptions = {},
): Promise<BlockMeta> {
  const block = await Block.open(blockDir);
  try {
    const meta = block.meta;
    const inRes = meta.thanos?.downsample.resolution ?? 0;
    if (inRes >= resolution) {
      throw new Error(
        `block ${meta.ulid}: target resolution ${resolution} not lower than existing one ${inRes}`,
      );
    }
    const series = downsampleSeries(block, inRes, resolution);
    const thanos = meta.thanos ?? { labels: {}, downsample: { resolution: 0 }, source: "" };
    return await writeBlock(outDir, series, {
      ulid: opts.ulid ?? newULID(),
      minTime: meta.minTime,
      maxTime: meta.maxTime,
      compaction: structuredClone(meta.compaction),
      thanos: {
        version: thanos.version,
        labels: { ...thanos.labels },
        downsample: { resolution },
        source: "compactor",
      },
    });
  } finally {
    await block.close();
  }
}

async function* downsampleSeries(
  block: Block,
  inRes: number,
  outRes: number,
): AsyncGenerator<EncodedSeries> {
  const refs = await allPostings(block.index);
  for await (const s of block.index.seriesMany(refs)) {
    const name = () => `${block.name}: series ${labelsToString(s.labels)}`;
    for (let i = 1; i < s.chunks.length; i++) {
      if (s.chunks[i - 1].maxTime >= s.chunks[i].minTime) {
        throw new Error(`${name()}: found overlapping chunks; expected ordered, non-overlapping`);
      }
    }
    const records = await Promise.all(s.chunks.map((c) => block.chunks.chunk(c.ref)));
    let out: Chunk[];
    if (inRes === 0) {
      const data: Samples = { ts: [], vs: [] };
      for (const r of records) {
        if (r.encoding !== ChunkEncoding.XOR) {
          throw new Error(`${name()}: chunk encoding ${r.encoding} cannot be downsampled`);
        }
        expandXor(r.data, data);
      }
      out = downsampleRaw(data, outRes);
    } else {
      // a downsampled block may hold stray raw chunks: turn them into 5m aggregates first
      const aggr: Chunk[] = [];
      for (let i = 0; i < records.length; i++) {
        const r = records[i];
        const m = s.chunks[i];
        if (r.encoding === CHUNK_ENC_AGGR) {
          aggr.push({ minTime: m.minTime, maxTime: m.maxTime, encoding: CHUNK_AGGR, data: r.data });
        } else if (r.encoding === ChunkEncoding.XOR) {
          const data: Samples = { ts: [], vs: [] };
          expandXor(r.data, data);
          aggr.push(...downsampleRaw(data, RES_5M));
        } else {
          throw new Error(`${name()}: chunk encoding ${r.encoding} cannot be downsampled`);
        }
      }
      out = downsampleAggr(aggr, inRes, outRes);
    }
    if (out.length === 0) continue;
    let n = 0;
    for (const c of out) n += aggrChunkSamples(c);
    yield { labels: s.labels, chunks: out, numSamples: n };
  }
}

// ---------------------------------------------------------------------------------------------
// Bucket-level downsampling (the compactor's downsample step)

/** Options of {@link downsampleBucket}. */
export interface DownsampleBucketOptions {
  /** Working directory for downloads and results (emptied after a successful run). */
  dir: string;
  /** Blocks to consider; default: a sync of the bucket (partial and deletion-marked skipped). */
  metas?: ReadonlyMap<string, BlockMeta>;
  logger?: Logger;
  registry?: Registry;
  /** Metrics to reuse across calls (from {@link downsampleMetrics}); overrides `registry`. */
  metrics?: DownsampleMetrics;
  /** `--hash-func` for uploads. */
  hashFunc?: string;
  /** Files up/downloaded in parallel per block (`--block-files-concurrency`). */
  blockFilesConcurrency?: number;
  /** Blocks downsampled at a time (`--downsample.concurrency`); default 1. */
  concurrency?: number;
  signal?: AbortSignal;
}

/** Thanos's downsample metrics (cmd/thanos/downsample.go), labelled by source resolution. */
export interface DownsampleMetrics {
  downsamples: Counter;
  failures: Counter;
  duration: Histogram;
}

/** Registers (or returns) the compactor's downsample metrics in `reg`. */
export function downsampleMetrics(reg: Registry): DownsampleMetrics {
  return {
    downsamples: reg.counter({
      name: "thanos_compact_downsample_total",
      help: "Total number of downsampling attempts.",
      labelNames: ["resolution"],
    }),
    failures: reg.counter({
      name: "thanos_compact_downsample_failures_total",
      help: "Total number of failed downsampling attempts.",
      labelNames: ["resolution"],
    }),
    duration: reg.histogram({
      name: "thanos_compact_downsample_duration_seconds",
      help: "Duration of downsample runs",
      buckets: [60, 300, 900, 1800, 3600, 7200, 14400],
      labelNames: ["resolution"],
    }),
  };
}

/** Result of {@link downsampleBucket}. */
export interface DownsampleBucketResult {
  /** Metas of the blocks uploaded, in creation order. */
  created: BlockMeta[];
}

/**
 * Blocks that need downsampling now (Thanos's downsampleBucket selection): raw blocks spanning
 * at least 40h whose sources are not all covered by 5m blocks, and 5m blocks spanning at least
 * 10 days whose sources are not all covered by 1h blocks; sorted by ULID.
 */
export function downsampleCandidates(metas: ReadonlyMap<string, BlockMeta>): BlockMeta[] {
  const sources5m = new Set<string>();
  const sources1h = new Set<string>();
  for (const m of metas.values()) {
    const res = m.thanos?.downsample.resolution ?? 0;
    const into = res === RES_5M ? sources5m : res === RES_1H ? sources1h : null;
    if (res !== 0 && !into) {
      throw new Error(`block ${m.ulid}: unexpected downsampling resolution ${res}`);
    }
    for (const id of m.compaction.sources ?? []) into?.add(id);
  }
  const out: BlockMeta[] = [];
  for (const id of [...metas.keys()].sort()) {
    const m = metas.get(id)!;
    const res = m.thanos?.downsample.resolution ?? 0;
    const span = m.maxTime - m.minTime;
    const sources = m.compaction.sources ?? [];
    if (res === 0) {
      if (sources.every((s) => sources5m.has(s))) continue;
      if (span < RES_5M_DOWNSAMPLE_RANGE) continue;
    } else if (res === RES_5M) {
      if (sources.every((s) => sources1h.has(s))) continue;
      if (span < RES_1H_DOWNSAMPLE_RANGE) continue;
    } else {
      continue;
    }
    out.push(m);
  }
  return out;
}

/**
 * The compactor's downsampling step: finds the blocks to downsample (downsampleCandidates, minus
 * blocks with a no-downsample-mark.json), downloads each, downsamples it (raw → 5m, 5m → 1h) and
 * uploads the result with the upload protocol (files, then meta.json last). Runs until no
 * candidate is left, so a fresh 5m block spanning 10 days is turned into 1h in the same call.
 * `concurrency` blocks are handled at a time. A failed block is logged and counted; the error of
 * the first failure is thrown at the end.
 */
export async function downsampleBucket(
  bucket: Bucket,
  opts: DownsampleBucketOptions,
): Promise<DownsampleBucketResult> {
  const log = opts.logger;
  const metrics = opts.metrics ?? (opts.registry ? downsampleMetrics(opts.registry) : undefined);
  let metas: Map<string, BlockMeta>;
  if (opts.metas) {
    metas = new Map(opts.metas);
  } else {
    metas = (await new MetaSyncer(bucket).sync(opts.signal)).metas;
  }
  await Deno.mkdir(opts.dir, { recursive: true });
  const created: BlockMeta[] = [];
  const tried = new Set<string>();
  let firstErr: unknown = undefined;
  for (;;) {
    const todo = [];
    for (const m of downsampleCandidates(metas)) {
      if (tried.has(m.ulid)) continue;
      tried.add(m.ulid);
      if (await bucket.exists(`${m.ulid}/${NO_DOWNSAMPLE_MARK_FILENAME}`, opts.signal)) {
        log?.info("skipping block marked for no downsample", { block: m.ulid });
        continue;
      }
      todo.push(m);
    }
    if (todo.length === 0) break;
    log?.info("downsampling bucket", { blocks: todo.length });
    await forEachConcurrent(todo, Math.max(1, opts.concurrency ?? 1), async (m, i) => {
      opts.signal?.throwIfAborted();
      const inRes = m.thanos?.downsample.resolution ?? 0;
      const outRes = inRes === 0 ? RES_5M : RES_1H;
      const resLabel = String(inRes);
      const src = `${opts.dir}/${m.ulid}`;
      let outDir: string | undefined;
      const begin = performance.now();
      try {
        await downloadBlock(bucket, m.ulid, src, { signal: opts.signal });
        log?.info("downloaded block", {
          id: m.ulid,
          duration_ms: Math.round(performance.now() - begin),
        });
        const t0 = performance.now();
        const out = await downsampleBlock(src, opts.dir, outRes);
        outDir = `${opts.dir}/${out.ulid}`;
        const secs = (performance.now() - t0) / 1000;
        metrics?.duration.labels(resLabel).observe(secs);
        log?.info("downsampled block", {
          from: m.ulid,
          to: out.ulid,
          resolution: outRes,
          series: out.stats.numSeries ?? 0,
          duration_ms: Math.round(secs * 1000),
          progress: `${i + 1}/${todo.length}`,
        });
        const t1 = performance.now();
        const uploaded = await uploadBlock(bucket, outDir, {
          hashFunc: opts.hashFunc,
          concurrency: opts.blockFilesConcurrency,
          signal: opts.signal,
        });
        log?.info("uploaded block", {
          id: out.ulid,
          duration_ms: Math.round(performance.now() - t1),
        });
        created.push(uploaded);
        metas.set(uploaded.ulid, uploaded);
      } catch (e) {
        metrics?.failures.labels(resLabel).inc();
        log?.error("downsampling failed", {
          block: m.ulid,
          resolution: outRes,
          err: e as Error,
        });
        firstErr ??= e;
      } finally {
        metrics?.downsamples.labels(resLabel).inc();
        await Deno.remove(src, { recursive: true }).catch(() => undefined);
        if (outDir) await Deno.remove(outDir, { recursive: true }).catch(() => undefined);
      }
    });
  }
  if (firstErr !== undefined) throw firstErr;
  return { created };
}
