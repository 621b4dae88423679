// The store gateway's StoreAPI backend (https://thanos.io/tip/components/store.md/; Thanos's
// https://github.com/thanos-io/thanos/blob/main/pkg/store/bucket.go): blocks in a bucket, each
// opened through its local index-header; postings, series and chunks read with range requests that
// merge nearby ranges; blocks grouped by external labels, merged per group and across groups;
// resolution chosen per request like Thanos's `getFor`.

import { endSpan, inSpan, startSpan, withSpan } from "../tracing/tracer.ts";
import { type Bucket, streamBucketRange } from "../objstore/bucket.ts";
import { bucketByteSource } from "../objstore/bytesource.ts";
import type { Counter, CounterChild, Gauge, Registry } from "../metrics/registry.ts";
import type {
  AggrChunkParts,
  LabelNamesRequest,
  LabelValuesRequest,
  SeriesRequest,
  SeriesWithLabelsProto,
  StoreChunk,
  StoreInfo,
  TsdbInfo,
} from "../storeapi/codec.ts";
import { Aggr, INT64_MAX, INT64_MIN } from "../storeapi/codec.ts";
import { withExternalLabels } from "../storeapi/external_labels.ts";
import { labelSetsMatch } from "../storeapi/proxy.ts";
import { GrpcError, GrpcStatus } from "../storeapi/grpc.ts";
import type { SeriesItem, StoreBackend } from "../storeapi/server.ts";
import type { ByteSource } from "../tsdb/bytesource.ts";
import { CorruptionError } from "../tsdb/errors.ts";
import { chunkRecordLength, parseChunkRecord, segmentFileName } from "../tsdb/chunks/segment.ts";
import { ChunkArena, ChunkRangeCutter } from "./chunk_cutter.ts";
import { AggrType, CHUNK_ENC_AGGR, parseAggrChunk } from "../tsdb/chunkenc/aggr.ts";
import {
  allPostings,
  postingsForMatchers,
  type PostingsReader,
} from "../tsdb/index/postings_for_matchers.ts";
import type { IndexReader, IndexSeries } from "../tsdb/index/reader.ts";
import { compareLabels, compareStrings, labelsFromObject, unionSorted } from "../tsdb/labels.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import type { BlockMeta } from "../tsdb/meta.ts";
import { mergeSeriesBatches } from "../tsdb/querier.ts";
import { ChunkEncoding, type Labels, type SeriesWithChunks } from "../tsdb/series.ts";
import type { Logger } from "../logging/log.ts";
import { IndexCache, type IndexCacheOptions, type StoreIndexCache } from "./index_cache.ts";
import { ensureIndexHeaderFile, openIndexHeader } from "../block/index_header.ts";
import {
  type BlockIndexHandle,
  DEFAULT_LAZY_READER_IDLE_TIMEOUT_MS,
  EagerIndexHandle,
  lazyReaderMetrics,
  ReaderPool,
} from "../block/lazy_index_header.ts";
import type { MetaSyncer } from "../block/fetcher.ts";
import { forEachConcurrent, Gate } from "../runutil/gate.ts";
import { TurnPacer } from "../runutil/loop_turn.ts";
import {
  ESTIMATED_MAX_SERIES_SIZE,
  labelsMatch,
  type LazyPostingsMetrics,
  lazyPostingsMetrics,
  planLazyPostings,
} from "./lazy_postings.ts";

/** Read size assumed for a chunk whose end is unknown (Thanos's EstimatedMaxChunkSize). */
const EST_MAX_CHUNK_SIZE = 16000;
/** Chunk ranges closer than this are fetched in one request (Thanos's gap partitioner). */
const CHUNK_RANGE_MAX_GAP = 512 * 1024;
/** Upper bound of one chunk range request (bounds memory held per batch). */
const CHUNK_RANGE_MAX_BYTES = 16 * 1024 * 1024;
/** Concurrent chunk range requests per batch. */
const CHUNK_FETCH_CONCURRENCY = 8;
/**
 * Series decoded and chunk-loaded together. Every block of a Series call holds one batch while
 * the blocks are merged, so this bounds the call's memory: 1024 took a fifth more peak RSS than
 * 512 on a 5,400-series × 12-block read, and smaller batches mean more bucket requests.
 */
const SERIES_BATCH = 512;
/**
 * Series held in batches across all blocks of one Series call: a call merging many blocks reads
 * smaller batches per block, down to {@link MIN_SERIES_BATCH}, so its memory grows slowly with
 * the number of blocks it spans. The floor is 128, not lower: each batch costs a block an index
 * read, a chunk read and a merge wait: a 30-day query over 360 two-hour blocks took 10-30 %
 * more of the store's CPU at 32 series a batch (bench/store_memory_vs_prometheus.ts --days30),
 * for a few MiB of batches less.
 */
const CALL_SERIES_BATCH = 8192;
const MIN_SERIES_BATCH = 128;
/**
 * Longest stretch (ms) of LabelNames/LabelValues work between two event-loop turns (an `up`
 * query through this store waits about this long behind them). The turns are I/O turns
 * (runutil/loop_turn.ts, ≈0.03 ms each through the role thread's loopback pair): a
 * `label/idx/values` call over 60,000 series took 224 ms against 379 ms with the timer turns
 * (≈2 ms each) it had before (starvation bench, median of 12, same run, loaded machine). With
 * timer turns (the fallback) 60,000 cached series took 2.3 times as long as without turns at
 * 1 ms, 1.8 times at 2 ms, 1.5 times at 4 ms (in-process, same run).
 */
const LABELS_TURN_EVERY_MS = 2;

/** Batch size per block for a Series call over `blocks` blocks. */
export function seriesBatchSize(blocks: number): number {
  const share = Math.floor(CALL_SERIES_BATCH / Math.max(1, blocks));
  return Math.max(MIN_SERIES_BATCH, Math.min(SERIES_BATCH, share));
}
/** Coarsest first, as Thanos's bucketBlockSet.resolutions. */
const RESOLUTIONS = [3_600_000, 300_000, 0];

const NO_CHUNKS: StoreChunk[] = [];
const NO_MATCHERS: readonly Matcher[] = [];

/** Bytes read from the bucket by kind, as Thanos's `data_type` label. */
export type FetchedDataType = "index-header" | "postings" | "series" | "chunks";

/** Per-request accounting (downloaded-bytes limit, stats). */
export class RequestStats {
  chunkBytes = 0;
  chunkRequests = 0;
  seriesTouched = 0;
  /** Blocks this request could not read (corrupt or failing), each named once. */
  readonly blockWarnings: string[] = [];
  constructor(readonly bytesLimit = 0) {}

  /** Adds fetched chunk bytes; throws ResourceExhausted past the limit. */
  addChunkBytes(n: number): void {
    this.chunkBytes += n;
    this.chunkRequests++;
    if (this.bytesLimit > 0 && this.chunkBytes > this.bytesLimit) {
      throw new GrpcError(
        GrpcStatus.RESOURCE_EXHAUSTED,
        `exceeded bytes limit while fetching chunks: limit ${this.bytesLimit} violated (got ${this.chunkBytes})`,
      );
    }
  }
}

interface StoreMetrics {
  blocksLoaded: Gauge;
  blockLoads: Counter;
  blockLoadFailures: Counter;
  blockDrops: Counter;
  fetchedBytes: Counter;
  fetchedRequests: Counter;
  seriesFetched: Counter;
  chunksFetched: Counter;
  blocksQueried: Counter;
  headerOpens: Counter;
  seriesRequests: Counter;
  blockReadFailures: Counter;
  seriesInFlight: Gauge;
  seriesCanceled: Counter;
}

function storeMetrics(reg: Registry): StoreMetrics {
  return {
    blocksLoaded: reg.gauge({
      name: "thanos_bucket_store_blocks_loaded",
      help: "Number of currently loaded blocks.",
    }),
    blockLoads: reg.counter({
      name: "thanos_bucket_store_block_loads_total",
      help: "Total number of remote block loading attempts.",
    }),
    blockLoadFailures: reg.counter({
      name: "thanos_bucket_store_block_load_failures_total",
      help: "Total number of failed remote block loading attempts.",
    }),
    blockDrops: reg.counter({
      name: "thanos_bucket_store_block_drops_total",
      help: "Total number of local blocks that were dropped.",
    }),
    fetchedBytes: reg.counter({
      name: "thanos_bucket_store_data_fetched_bytes_total",
      help: "Bytes read from the bucket, by data type (index-header, postings, series, chunks).",
      labelNames: ["data_type"],
    }),
    fetchedRequests: reg.counter({
      name: "thanos_bucket_store_data_fetched_requests_total",
      help: "Range requests sent to the bucket, by data type.",
      labelNames: ["data_type"],
    }),
    seriesFetched: reg.counter({
      name: "thanos_bucket_store_series_fetched_total",
      help: "Series returned by Series calls.",
    }),
    chunksFetched: reg.counter({
      name: "thanos_bucket_store_chunks_fetched_total",
      help: "Chunks returned by Series calls.",
    }),
    blocksQueried: reg.counter({
      name: "thanos_bucket_store_series_blocks_queried_total",
      help: "Blocks queried by Series calls.",
    }),
    headerOpens: reg.counter({
      name: "thanos_bucket_store_index_header_opens_total",
      help: "Index-headers opened, by origin: disk (local file reused) or built (read from " +
        "the bucket).",
      labelNames: ["origin"],
    }),
    seriesRequests: reg.counter({
      name: "thanos_bucket_store_series_requests_total",
      help: "Series calls served.",
    }),
    // Thanos's series gate gauge (pkg/gate, prefix thanos_bucket_store_series_)
    seriesInFlight: reg.gauge({
      name: "thanos_bucket_store_series_gate_queries_in_flight",
      help: "Number of Series calls currently being served (holding a gate slot).",
    }),
    seriesCanceled: reg.counter({
      name: "thanos_bucket_store_series_canceled_total",
      help: "Series calls that stopped reading blocks because the client cancelled them (or " +
        "their deadline passed).",
    }),
    blockReadFailures: reg.counter({
      name: "thanos_bucket_store_block_read_failures_total",
      help: "Reads of one block that failed inside a Series call (the block is left out of the " +
        "answer with a warning naming it; other blocks are served), by reason: corruption " +
        "(CRC or format error) or error.",
      labelNames: ["reason"],
    }),
  };
}

/**
 * A ByteSource that counts the bucket reads of one index object by data type, classifying each
 * read by the index section it falls in once the TOC is known.
 */
class CountingIndexSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  /** Section bounds: [seriesStart, seriesEnd) series, [postingsStart, postingsEnd) postings. */
  bounds:
    | { seriesStart: number; seriesEnd: number; postingsStart: number; postingsEnd: number }
    | null = null;
  constructor(
    private readonly inner: ByteSource,
    private readonly onRead: (type: FetchedDataType, bytes: number) => void,
  ) {
    this.name = inner.name;
    this.size = inner.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const b = await this.inner.read(offset, length);
    let type: FetchedDataType = "index-header";
    const s = this.bounds;
    if (s) {
      if (offset >= s.seriesStart && offset < s.seriesEnd) type = "series";
      else if (offset >= s.postingsStart && offset < s.postingsEnd) type = "postings";
    }
    this.onRead(type, b.length);
    return b;
  }
}

/** One loaded block. */
export class BucketBlock {
  readonly id: string;
  readonly extLabels: Labels;
  readonly resolution: number;

  constructor(
    readonly meta: BlockMeta,
    /** Its index: open from load on (default), or opened on use (lazy reader). */
    readonly handle: BlockIndexHandle,
  ) {
    this.id = meta.ulid;
    this.extLabels = labelsFromObject(meta.thanos?.labels ?? {});
    this.resolution = meta.thanos?.downsample.resolution ?? 0;
  }

  /** The block's index; only while it is acquired ({@link withIndex}) when lazily loaded. */
  get index(): IndexReader {
    const ix = this.handle.current;
    if (ix === null) throw new Error(`index-header of block ${this.id} is not loaded`);
    return ix;
  }

  /** Runs `fn` with the block's index held open (loaded first if lazy). */
  async withIndex<T>(fn: (ix: IndexReader) => Promise<T> | T): Promise<T> {
    const ix = await this.handle.acquire();
    try {
      return await fn(ix);
    } finally {
      this.handle.release();
    }
  }

  /** True when [minTime, maxTime) overlaps the closed range [mint, maxt]. */
  overlaps(mint: number, maxt: number): boolean {
    return this.meta.minTime <= maxt && mint < this.meta.maxTime;
  }
}

/** Options of {@link BucketStore}. */
export interface BucketStoreOptions {
  syncer: MetaSyncer;
  logger: Logger;
  registry?: Registry;
  /** Directory for index-headers (`--data-dir`); headers stay in memory when absent. */
  dataDir?: string;
  /** Keep index-headers in `dataDir` across restarts (`--cache-index-header`, default true). */
  cacheIndexHeader?: boolean;
  /** In-memory index cache size in bytes (`--index-cache-size`); 0 disables it. */
  indexCacheBytes?: number;
  /** Item size limit and cached item types of the index cache (`--index-cache.config`). */
  indexCache?: Omit<IndexCacheOptions, "registry">;
  /**
   * A remote index cache (`--index-cache.config` MEMCACHED or REDIS) used instead of the
   * in-memory one; the store closes it.
   */
  remoteIndexCache?: StoreIndexCache;
  /** Blocks loaded concurrently (`--block-sync-concurrency`). */
  blockSyncConcurrency?: number;
  /** Served time range (`--min-time`/`--max-time`), inclusive ms. */
  minTime?: number;
  maxTime?: number;
  /** Concurrent Series calls (`--store.grpc.series-max-concurrency`); more wait. */
  seriesMaxConcurrency?: number;
  /** Chunk bytes one Series call may download (`--store.grpc.downloaded-bytes-limit`). */
  bytesLimit?: number;
  /**
   * `--store.enable-index-header-lazy-reader`: index-headers opened when a query needs the
   * block and closed after `idleTimeoutMs` unused (0: never); with `downloadStrategy` "lazy"
   * (`--store.index-header-lazy-download-strategy`) not even built before the first use.
   */
  lazyReader?: {
    idleTimeoutMs?: number;
    downloadStrategy?: "eager" | "lazy";
    /** The pool's clock (tests). */
    now?: () => number;
  };
  /**
   * `--store.enable-lazy-expanded-postings` with `--store.posting-group-max-key-series-ratio`:
   * postings of label groups estimated to cost more than they save are not fetched; their
   * matchers filter the series entries instead (store/lazy_postings.ts).
   */
  lazyExpandedPostings?: { maxKeySeriesRatio: number };
}

/** The store gateway's StoreBackend over a bucket. */
export class BucketStore implements StoreBackend {
  private readonly blocks = new Map<string, BucketBlock>();
  /** Blocks that failed to load, with the error (retried at the next sync). */
  readonly failed = new Map<string, Error>();
  /** Metas of the blocks in `failed` (so answers over their range can name them). */
  private readonly failedMetas = new Map<string, BlockMeta>();
  readonly cache: StoreIndexCache;
  private readonly metrics?: StoreMetrics;
  /** Series calls beyond the limit wait for a slot (0: unlimited). */
  private readonly gate: Gate;
  private readonly log: Logger;
  private syncing: Promise<void> | null = null;
  private closed = false;
  /** Lazy index-header readers (absent: headers open from block load on). */
  readonly readerPool?: ReaderPool;
  private readonly lazyPostingsMetrics?: LazyPostingsMetrics;
  /**
   * The backends of {@link setBackends}, kept until the loaded blocks change: grouping a dozen
   * blocks by external labels and wrapping each group took 3 KiB of garbage and a few µs of
   * every Series call (issue 19).
   */
  private backends: StoreBackend[] | null = null;

  constructor(private readonly bucket: Bucket, private readonly opts: BucketStoreOptions) {
    this.log = opts.logger;
    this.cache = opts.remoteIndexCache ??
      new IndexCache(opts.indexCacheBytes ?? 250 * 1024 * 1024, {
        ...opts.indexCache,
        registry: opts.registry,
      });
    this.metrics = opts.registry ? storeMetrics(opts.registry) : undefined;
    this.gate = new Gate(opts.seriesMaxConcurrency ?? 20);
    opts.registry?.onCollect(() => this.metrics?.blocksLoaded.set(this.blocks.size));
    if (opts.lazyReader) {
      this.readerPool = new ReaderPool({
        idleTimeoutMs: opts.lazyReader.idleTimeoutMs ?? DEFAULT_LAZY_READER_IDLE_TIMEOUT_MS,
        metrics: opts.registry ? lazyReaderMetrics(opts.registry) : undefined,
        now: opts.lazyReader.now,
        onUnloadError: (err) => this.log.warn("failed to close idle index-header reader", { err }),
      });
      this.readerPool.start();
    }
    if (opts.lazyExpandedPostings && opts.registry) {
      this.lazyPostingsMetrics = lazyPostingsMetrics(opts.registry);
    }
  }

  /** Loaded blocks, sorted by minTime. */
  loadedBlocks(): BucketBlock[] {
    return [...this.blocks.values()].sort((a, b) =>
      a.meta.minTime - b.meta.minTime || compareStrings(a.id, b.id)
    );
  }

  private countFetch(type: FetchedDataType, bytes: number): void {
    const m = this.metrics;
    if (m === undefined) return;
    // each type's two series resolved once: a lookup by label object builds a key per call
    const c = this.fetchCounters[type] ??= {
      bytes: m.fetchedBytes.labels(type),
      requests: m.fetchedRequests.labels(type),
    };
    c.bytes.inc(bytes);
    c.requests.inc();
  }

  /** The fetched-data counters per data type, resolved on first use. */
  private readonly fetchCounters: Partial<
    Record<FetchedDataType, { bytes: CounterChild; requests: CounterChild }>
  > = {};

  /**
   * Syncs the loaded blocks with the bucket: loads new blocks, drops removed ones. Throws when
   * the bucket cannot be listed (loaded blocks keep being served). Concurrent calls share one
   * sync.
   */
  syncBlocks(signal?: AbortSignal): Promise<void> {
    if (!this.syncing) {
      this.syncing = this.doSync(signal).finally(() => this.syncing = null);
    }
    return this.syncing;
  }

  private async doSync(signal?: AbortSignal): Promise<void> {
    const res = await this.opts.syncer.sync(signal);
    const wanted = res.metas;
    const toLoad = [...wanted.values()].filter((m) => !this.blocks.has(m.ulid));
    await forEachConcurrent(toLoad, this.opts.blockSyncConcurrency ?? 20, async (meta) => {
      if (this.closed) return;
      this.metrics?.blockLoads.inc();
      try {
        const b = await this.loadBlock(meta);
        if (this.closed) {
          await b.handle.close();
          return;
        }
        this.blocks.set(meta.ulid, b);
        this.backends = null;
        this.failed.delete(meta.ulid);
        this.failedMetas.delete(meta.ulid);
      } catch (e) {
        if (signal?.aborted) throw e;
        this.metrics?.blockLoadFailures.inc();
        this.failed.set(meta.ulid, e as Error);
        this.failedMetas.set(meta.ulid, meta);
        this.log.warn("loading block failed; skipping it until the next sync", {
          id: meta.ulid,
          err: e as Error,
        });
      }
    });
    for (const [id, b] of [...this.blocks]) {
      if (wanted.has(id)) continue;
      this.blocks.delete(id);
      this.backends = null;
      this.metrics?.blockDrops.inc();
      this.cache.dropBlock(id);
      await b.handle.close();
      this.log.info("dropped outdated block", { block: id });
    }
    for (const id of [...this.failed.keys()]) {
      if (wanted.has(id)) continue;
      this.failed.delete(id);
      this.failedMetas.delete(id);
    }
    await this.removeStaleLocalDirs(wanted);
  }

  /** Removes index-header dirs of blocks no longer served. */
  private async removeStaleLocalDirs(wanted: ReadonlyMap<string, BlockMeta>): Promise<void> {
    const dir = this.opts.dataDir;
    if (!dir) return;
    try {
      for await (const e of Deno.readDir(dir)) {
        if (!e.isDirectory || !/^[0-9A-HJKMNP-TV-Z]{26}$/.test(e.name)) continue;
        if (!wanted.has(e.name)) await Deno.remove(`${dir}/${e.name}`, { recursive: true });
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  private async loadBlock(meta: BlockMeta): Promise<BucketBlock> {
    const name = `${meta.ulid}/index`;
    const known = meta.thanos?.files?.find((f) => f.rel_path === "index")?.size_bytes;
    let remote: CountingIndexSource | undefined;
    const indexSource = async () =>
      remote ??= new CountingIndexSource(
        await bucketByteSource(this.bucket, name, known && known > 0 ? known : undefined),
        (type, bytes) => this.countFetch(type, bytes),
      );
    const keep = this.opts.cacheIndexHeader !== false && this.opts.dataDir !== undefined;
    const blockDir = keep ? `${this.opts.dataDir}/${meta.ulid}` : undefined;
    const open = async () => {
      const src = await indexSource();
      const opened = await openIndexHeader(src, {
        blockDir,
        onRebuild: (file, err) =>
          this.log.warn("local index-header unusable, rebuilding it", { file, err }),
      });
      const toc = opened.index.toc;
      src.bounds = {
        seriesStart: toc.series,
        seriesEnd: toc.labelIndices > toc.series ? toc.labelIndices : toc.postings,
        postingsStart: toc.postings,
        postingsEnd: toc.postingsTable,
      };
      this.metrics?.headerOpens.inc({ origin: opened.origin });
      return opened;
    };
    if (!this.readerPool) {
      const opened = await open();
      this.log.debug("loaded block", { id: meta.ulid, index_header: opened.origin });
      return new BucketBlock(meta, new EagerIndexHandle(opened.index));
    }
    // Thanos's eager download strategy: the header file is written at load, opened on use
    if (this.opts.lazyReader?.downloadStrategy !== "lazy" && blockDir) {
      await ensureIndexHeaderFile(await indexSource(), blockDir);
    }
    this.log.debug("loaded block with a lazy index-header reader", { id: meta.ulid });
    return new BucketBlock(meta, this.readerPool.newHandle(open));
  }

  /** Closes every block, then the index cache (after its pending writes). */
  async close(): Promise<void> {
    this.closed = true;
    await this.syncing?.catch(() => undefined);
    this.readerPool?.stop();
    for (const b of this.blocks.values()) await b.handle.close();
    this.blocks.clear();
    this.backends = null;
    await this.cache.close();
  }

  /** Blocks grouped by external labels. */
  private blockSets(): { ext: Labels; blocks: BucketBlock[] }[] {
    const sets = new Map<string, { ext: Labels; blocks: BucketBlock[] }>();
    for (const b of this.loadedBlocks()) {
      const k = JSON.stringify(b.extLabels);
      let s = sets.get(k);
      if (!s) sets.set(k, s = { ext: b.extLabels, blocks: [] });
      s.blocks.push(b);
    }
    return [...sets.values()].sort((a, b) => compareLabels(a.ext, b.ext));
  }

  private clampMin(t: number): number {
    return this.opts.minTime !== undefined ? Math.max(t, this.opts.minTime) : t;
  }

  private clampMax(t: number): number {
    return this.opts.maxTime !== undefined ? Math.min(t, this.opts.maxTime) : t;
  }

  /** StoreAPI Info: label sets and time range of the loaded blocks. */
  info(): Promise<StoreInfo> {
    const tsdbInfos: TsdbInfo[] = [];
    let mint = INT64_MAX;
    let maxt = INT64_MIN;
    for (const s of this.blockSets()) {
      let smin = INT64_MAX;
      let smax = INT64_MIN;
      for (const b of s.blocks) {
        smin = Math.min(smin, b.meta.minTime);
        smax = Math.max(smax, b.meta.maxTime);
      }
      tsdbInfos.push({ labels: s.ext, minTime: this.clampMin(smin), maxTime: this.clampMax(smax) });
      mint = Math.min(mint, smin);
      maxt = Math.max(maxt, smax);
    }
    if (tsdbInfos.length > 0) {
      mint = this.clampMin(mint);
      maxt = this.clampMax(maxt);
    }
    return Promise.resolve({
      componentType: "store",
      labelSets: tsdbInfos.map((t) => t.labels),
      minTime: mint,
      maxTime: maxt,
      storeApi: true,
      supportsSharding: true,
      supportsWithoutReplicaLabels: true,
      tsdbInfos,
    });
  }

  /** Per block set: a backend serving its blocks with its external labels attached. */
  private setBackends(): StoreBackend[] {
    return this.backends ??= this.blockSets().map((s) =>
      withExternalLabels(new BlockSetBackend(this, s.blocks), s.ext, { requireMatchers: false })
    );
  }

  /**
   * StoreAPI Series: the request's time range clamped to the served range, blocks chosen per
   * set by resolution, series merged across blocks and sets in label order, identical chunks
   * of the same series dropped.
   */
  async *series(req: SeriesRequest, signal: AbortSignal): AsyncGenerator<SeriesItem> {
    for await (const batch of this.seriesBatches(req, signal)) yield* batch;
  }

  /** {@link series} in batches, as the block readers and the merge hand them over. */
  async *seriesBatches(req: SeriesRequest, signal: AbortSignal): AsyncGenerator<SeriesItem[]> {
    await this.gate.acquire(signal);
    this.metrics?.seriesInFlight.inc();
    try {
      this.metrics?.seriesRequests.inc();
      const minTime = this.clampMin(req.minTime);
      const maxTime = this.clampMax(req.maxTime);
      if (minTime > maxTime) return;
      const stats = new RequestStats(this.opts.bytesLimit ?? 0);
      const warnings: string[] = [];
      // the stats ride along on the request object (withExternalLabels copies its fields); one
      // copy of the request, clamped
      const inner: StatsSeriesRequest = {
        ...req,
        minTime,
        maxTime,
        hints: undefined,
        limit: 0,
        stats,
      };
      const backends = this.setBackends();
      const merged = backends.length > 1;
      // one label set (the usual case): its batches as they come, warnings set aside here
      const batches: AsyncIterable<SeriesItem[]> = merged
        ? mergeSeriesBatches(
          backends.map((b) => seriesOnly(b.seriesBatches!(inner, signal), warnings)),
        )
        : backends.length === 1
        ? backends[0].seriesBatches!(inner, signal)
        : NO_BATCHES;
      let n = 0;
      let chunks = 0;
      try {
        for await (const batch of batches) {
          let out = batch as SeriesWithChunks[];
          if (!merged && batch.some((it) => "warning" in it)) out = seriesOf(batch, warnings);
          for (const s of out) {
            if (merged && s.chunks.length > 1) s.chunks = dedupeChunks(s.chunks);
            chunks += s.chunks.length;
          }
          n += out.length;
          if (out.length > 0) yield out;
        }
      } finally {
        this.metrics?.seriesFetched.inc(n);
        this.metrics?.chunksFetched.inc(chunks);
      }
      const tail: SeriesItem[] = [];
      for (const w of warnings) tail.push({ warning: w });
      for (const w of stats.blockWarnings) tail.push({ warning: w });
      for (const w of this.failedBlockWarnings(minTime, maxTime, req.matchers)) {
        tail.push({ warning: w });
      }
      if (tail.length > 0) yield tail;
    } finally {
      if (signal.aborted) this.metrics?.seriesCanceled.inc();
      this.metrics?.seriesInFlight.dec();
      this.gate.release();
    }
  }

  /** StoreAPI LabelNames over the blocks overlapping [start, end]. */
  async labelNames(
    req: LabelNamesRequest,
    signal: AbortSignal,
  ): Promise<{ names: string[]; warnings: string[] }> {
    const r = { ...req, start: this.clampMin(req.start), end: this.clampMax(req.end) };
    const parts = await Promise.all(this.setBackends().map((b) => b.labelNames(r, signal)));
    return {
      names: unionSorted(parts.map((p) => p.names)),
      warnings: [
        ...parts.flatMap((p) => p.warnings),
        ...this.failedBlockWarnings(r.start, r.end, r.matchers),
      ],
    };
  }

  /** StoreAPI LabelValues over the blocks overlapping [start, end]. */
  async labelValues(
    req: LabelValuesRequest,
    signal: AbortSignal,
  ): Promise<{ values: string[]; warnings: string[] }> {
    const r = { ...req, start: this.clampMin(req.start), end: this.clampMax(req.end) };
    const parts = await Promise.all(this.setBackends().map((b) => b.labelValues(r, signal)));
    return {
      values: unionSorted(parts.map((p) => p.values)),
      warnings: [
        ...parts.flatMap((p) => p.warnings),
        ...this.failedBlockWarnings(r.start, r.end, r.matchers),
      ],
    };
  }

  /**
   * Warnings naming the blocks that failed to load (e.g. a corrupt symbol table) and could
   * hold data for [mint, maxt] and `matchers`: their data is missing from the answer, which
   * must say so rather than look complete.
   */
  private failedBlockWarnings(mint: number, maxt: number, matchers: readonly Matcher[]): string[] {
    const out: string[] = [];
    for (const [id, meta] of this.failedMetas) {
      if (meta.minTime > maxt || mint >= meta.maxTime) continue;
      const ext = labelsFromObject(meta.thanos?.labels ?? {});
      if (!labelSetsMatch([ext], matchers)) continue;
      const err = this.failed.get(id);
      out.push(`block ${id} is not served: loading it failed: ${err?.message ?? "unknown error"}`);
    }
    return out;
  }

  /**
   * One block's series with its failures contained: a corrupt or unreadable block ends its own
   * stream with a warning naming it (counted in thanos_bucket_store_block_read_failures_total)
   * while the other blocks are still served, as Prometheus fails only queries touching the
   * block. Cancellation and request limits still fail the whole call.
   */
  async *guardBlock(
    block: BucketBlock,
    batches: AsyncIterable<SeriesWithChunks[]>,
    stats: RequestStats,
    signal: AbortSignal,
  ): AsyncGenerator<SeriesWithChunks[]> {
    try {
      // batches as the block's reader hands them over: the merge awaits once per batch
      yield* batches;
    } catch (e) {
      if (signal.aborted || e instanceof GrpcError) throw e;
      const reason = e instanceof CorruptionError ? "corruption" : "error";
      this.metrics?.blockReadFailures.inc({ reason });
      const msg = e instanceof Error ? e.message : String(e);
      this.log.warn("reading block failed; answering without it", {
        block: block.id,
        reason,
        err: e as Error,
      });
      stats.blockWarnings.push(`block ${block.id} left out of the answer (${reason}): ${msg}`);
    }
  }

  // ---- per-block reading (used by BlockSetBackend) ----

  /** Sorted refs of the series of `block` matching `matchers` (all series when none). */
  async postings(block: BucketBlock, matchers: readonly Matcher[]): Promise<Uint32Array> {
    if (matchers.length === 0) return allPostings(this.postingsReader(block));
    // Thanos's ExpandedPostings item: the refs of the whole matcher set, order-independent
    const key = JSON.stringify(matchers.map((m) => [m.name, m.type, m.value]).sort());
    const cached = await this.cache.fetchExpandedPostings(block.id, key);
    if (cached) return cached;
    // the reader (an object and four closures) only on a miss: most calls hit the cache
    const refs = await postingsForMatchers(this.postingsReader(block), matchers);
    this.cache.storeExpandedPostings(block.id, key, refs);
    return refs;
  }

  /**
   * Refs of `block`'s series for `matchers` and the matchers its series entries must still be
   * checked against: none, unless lazy expanded postings left some label groups unfetched.
   * `key` names the matcher set in the expanded postings cache, for the refs that passed.
   */
  async expandedPostings(
    block: BucketBlock,
    matchers: readonly Matcher[],
  ): Promise<{ refs: Uint32Array; filter: readonly Matcher[]; key: string }> {
    const lazy = this.opts.lazyExpandedPostings;
    if (!lazy || matchers.length < 2) {
      return { refs: await this.postings(block, matchers), filter: NO_MATCHERS, key: "" };
    }
    const key = JSON.stringify(matchers.map((m) => [m.name, m.type, m.value]).sort());
    const cached = await this.cache.fetchExpandedPostings(block.id, key);
    if (cached) return { refs: cached, filter: NO_MATCHERS, key };
    const statsMax = block.meta.thanos?.index_stats?.series_max_size ?? 0;
    const plan = await planLazyPostings(block.index, matchers, {
      // as Thanos's store: the block's own bound when smaller than the estimate
      seriesMaxSize: statsMax > 0 && statsMax < ESTIMATED_MAX_SERIES_SIZE
        ? statsMax
        : ESTIMATED_MAX_SERIES_SIZE,
      maxKeySeriesRatio: lazy.maxKeySeriesRatio,
    });
    if (plan.kind === "empty") return { refs: new Uint32Array(0), filter: NO_MATCHERS, key };
    if (plan.kind === "eager") {
      const refs = await postingsForMatchers(this.postingsReader(block), matchers);
      this.cache.storeExpandedPostings(block.id, key, refs);
      return { refs, filter: NO_MATCHERS, key };
    }
    const m = this.lazyPostingsMetrics;
    m?.applied.inc();
    for (const g of plan.groups) {
      m?.groups.inc({ reason: g.reason });
      m?.sizeBytes.inc(4 * g.refs);
    }
    const refs = await postingsForMatchers(this.postingsReader(block), plan.fetch);
    return { refs, filter: plan.filter, key };
  }

  /**
   * The block's index as postingsForMatchers reads it, each lookup (one matcher's postings,
   * or all series) cached per block in the index cache, so queries sharing a matcher share
   * the fetch.
   */
  private postingsReader(block: BucketBlock): PostingsReader {
    const ix = block.index;
    const cache = this.cache;
    return {
      postings: (name, values) => ix.postings(name, values),
      postingsForLabelMatching: (name, pred) => ix.postingsForLabelMatching(name, pred),
      allPostings: () => ix.allPostings(),
      memo: async (key, fetch) => {
        const cached = await cache.fetchPostings(block.id, key);
        if (cached) return cached;
        const p = await fetch();
        cache.storePostings(block.id, key, p);
        return p;
      },
    };
  }

  /**
   * Series entries of `refs` (sorted), from the cache or with merged range reads. Entries from
   * the cache keep only the chunk metas overlapping [`mint`, `maxt`] (all by default; none when
   * `mint` > `maxt`, for label calls); entries read from the index keep all of them.
   */
  async seriesEntries(
    block: BucketBlock,
    refs: Uint32Array,
    signal?: AbortSignal,
    mint = -Infinity,
    maxt = Infinity,
  ): Promise<IndexSeries[]> {
    const out = new Array<IndexSeries>(refs.length);
    const missing: number[] = [];
    const missingAt: number[] = [];
    const index = block.index;
    const cached = await this.cache.fetchSeries(
      block.id,
      refs,
      (ref, body, proto) => index.decodeSeriesBody(ref, body, mint, maxt, proto),
    );
    for (let i = 0; i < refs.length; i++) {
      const c = cached[i];
      if (c) out[i] = c;
      else {
        missing.push(refs[i]);
        missingAt.push(i);
      }
    }
    if (missing.length > 0) {
      let k = 0;
      const read: IndexSeries[] = [];
      // the cache keeps each entry's bytes (a copy: the view is into the read buffer)
      const bodies = new Map<number, Uint8Array>();
      const onBody = (ref: number, body: Uint8Array) => bodies.set(ref, body.slice());
      for await (const s of block.index.seriesMany(missing, { signal, onBody })) {
        out[missingAt[k++]] = s;
        read.push(s);
      }
      // with the labels ready-encoded for answers (external labels are merged in by the
      // attacher, storeapi/external_labels.ts)
      this.cache.storeSeries(block.id, read, bodies, true);
    }
    return out;
  }

  /**
   * Series of one block matching `matchers` with chunks overlapping [mint, maxt], sorted by
   * labels (without external labels), in batches. Chunks are fetched per batch with merged range
   * reads.
   */
  async *blockSeries(
    block: BucketBlock,
    matchers: readonly Matcher[],
    mint: number,
    maxt: number,
    opts: {
      skipChunks: boolean;
      aggregates: readonly Aggr[];
      stats: RequestStats;
      batchSize?: number;
    },
    signal: AbortSignal,
  ): AsyncGenerator<SeriesWithChunks[]> {
    this.metrics?.blocksQueried.inc();
    // a span per block read, child of the Series call's, with the postings lookup as its child
    const span = startSpan("bucket_store_block_series", { "block.id": block.id });
    let failure: unknown = undefined;
    let seriesFetched = 0;
    let chunksFetched = 0;
    let held = false;
    try {
      // held for the whole stream of this block: a lazy reader is not unloaded under it
      await block.handle.acquire();
      held = true;
      const { refs, filter, key } = await withSpan(
        span,
        () =>
          inSpan("bucket_store_postings", undefined, () => this.expandedPostings(block, matchers)),
      );
      span.setAttribute("postings", refs.length);
      // lazy expanded postings: the refs whose entries passed the filter, cached once all are seen
      const kept: number[] | null = filter.length > 0 ? [] : null;
      // no series (an absent metric): no batch generator to start and await
      if (refs.length > 0) {
        yield* this.blockSeriesBatches(
          block,
          refs,
          mint,
          maxt,
          opts,
          signal,
          (n, c) => {
            seriesFetched += n;
            chunksFetched += c;
          },
          filter,
          kept,
        );
      }
      if (kept) this.cache.storeExpandedPostings(block.id, key, Uint32Array.from(kept));
    } catch (e) {
      failure = e;
      throw e;
    } finally {
      if (held) block.handle.release();
      span.setAttributes({ "series.fetched": seriesFetched, "chunks.fetched": chunksFetched });
      endSpan(span, failure);
    }
  }

  private async *blockSeriesBatches(
    block: BucketBlock,
    refs: Uint32Array,
    mint: number,
    maxt: number,
    opts: {
      skipChunks: boolean;
      aggregates: readonly Aggr[];
      stats: RequestStats;
      batchSize?: number;
    },
    signal: AbortSignal,
    fetched: (series: number, chunks: number) => void,
    filter: readonly Matcher[] = NO_MATCHERS,
    kept: number[] | null = null,
  ): AsyncGenerator<SeriesWithChunks[]> {
    const batch = opts.batchSize ?? SERIES_BATCH;
    for (let from = 0; from < refs.length; from += batch) {
      signal.throwIfAborted();
      const batchRefs = refs.subarray(from, Math.min(refs.length, from + batch));
      const entries = await this.seriesEntries(block, batchRefs, signal, mint, maxt);
      const touched = entries.length;
      opts.stats.seriesTouched += touched;
      // the entries are garbage from here on: nothing below may hold them across the awaits,
      // or every block of a 360-block merge keeps a batch of them alive while its chunks load
      const { out, wants } = chunksWanted(entries, mint, maxt, opts.skipChunks, filter, kept);
      if (wants.length > 0) {
        await this.fetchChunks(block, wants, opts.aggregates, opts.stats, signal);
      }
      fetched(touched, wants.length);
      if (out.length > 0) yield out;
    }
  }

  /** Loads the chunk records of `wants` with merged range requests, filling each chunk. */
  private async fetchChunks(
    block: BucketBlock,
    wants: ChunkWants,
    aggregates: readonly Aggr[],
    stats: RequestStats,
    signal: AbortSignal,
  ): Promise<void> {
    const order = wants.sortByRef();
    const refs = wants.refs;
    // each record's offset in its segment file, in ref order: ranges take runs of it
    const offs = new Float64Array(wants.length);
    const ranges: ChunkRange[] = [];
    let cur: ChunkRange | null = null;
    for (let i = 0; i < wants.length; i++) {
      const ref = refs[order === null ? i : order[i]];
      const seg = Math.floor(ref / 0x100000000);
      const off = ref % 0x100000000;
      offs[i] = off;
      const end = off + EST_MAX_CHUNK_SIZE;
      if (
        cur && cur.segment === seg && off - cur.end <= CHUNK_RANGE_MAX_GAP &&
        end - cur.start <= CHUNK_RANGE_MAX_BYTES
      ) {
        cur.end = Math.max(cur.end, end);
        cur.count++;
      } else {
        cur = { segment: seg, start: off, end, first: i, count: 1, dense: false };
        ranges.push(cur);
      }
    }
    let streamed = 0;
    for (const r of ranges) {
      r.dense = isDenseRange(offs.subarray(r.first, r.first + r.count));
      if (!r.dense) streamed += r.count;
    }
    // the batch's chunk bytes, copied out of the streamed ranges
    const arena = new ChunkArena(streamed);
    await forEachConcurrent(ranges, CHUNK_FETCH_CONCURRENCY, async (r) => {
      signal.throwIfAborted();
      const object = `${block.id}/chunks/${segmentFileName(r.segment + 1)}`;
      const offsets = offs.subarray(r.first, r.first + r.count);
      const length = r.end - r.start;
      let got: number;
      let cutter: ChunkRangeCutter;
      if (r.dense) {
        // mostly chunks we keep: one array for the range, chunks as views of it (a copy of
        // each out of a streamed piece would cost more than the array)
        cutter = new ChunkRangeCutter(object, r.start, offsets, null);
        const buf = await this.bucket.getRange(object, r.start, length, signal);
        if (buf.length > 0) cutter.push(buf);
        got = buf.length;
      } else {
        cutter = new ChunkRangeCutter(object, r.start, offsets, arena);
        got = await streamBucketRange(
          this.bucket,
          object,
          r.start,
          length,
          (piece) => cutter.push(piece),
          signal,
        );
      }
      this.countFetch("chunks", got);
      stats.addChunkBytes(got);
      // a short answer means the object ended inside the range
      cutter.finish(got < length);
      for (let i = 0; i < r.count; i++) {
        const k = r.first + i;
        const out = wants.outs[order === null ? k : order[k]];
        const off = offsets[i];
        const data = cutter.data(i);
        if (data !== null) {
          setChunk(out, cutter.encoding(i), data, aggregates, object, off);
          continue;
        }
        // longer than estimated: read exactly this record
        const head = await this.bucket.getRange(object, off, 10, signal);
        const len = chunkRecordLength(head, object, off);
        const exact = await this.bucket.getRange(object, off, len, signal);
        this.countFetch("chunks", head.length + exact.length);
        stats.addChunkBytes(head.length + exact.length);
        const rec = parseChunkRecord(exact, 0, true, object, off)!;
        setChunk(out, rec.encoding, rec.data, aggregates, object, off);
      }
    });
  }
}

const EMPTY_BYTES = new Uint8Array(0);

/**
 * Chunks closer together on average than this are read as one array and kept as views of it;
 * sparser ones are streamed and copied out (a 120-sample XOR chunk takes 100-300 bytes).
 */
const DENSE_CHUNK_SPACING = 1024;

/** Whether the chunk records at `offsets` (ascending) fill most of the range they span. */
function isDenseRange(offsets: ArrayLike<number>): boolean {
  const n = offsets.length;
  return n > 1 && (offsets[n - 1] - offsets[0]) / (n - 1) <= DENSE_CHUNK_SPACING;
}

/**
 * The series of `entries` with chunks overlapping [`mint`, `maxt`] (those passing `filter`,
 * their refs added to `kept`), each chunk still to be loaded: its ref in `wants`.
 */
function chunksWanted(
  entries: readonly IndexSeries[],
  mint: number,
  maxt: number,
  skipChunks: boolean,
  filter: readonly Matcher[],
  kept: number[] | null,
): { out: SeriesWithLabelsProto[]; wants: ChunkWants } {
  const out: SeriesWithLabelsProto[] = [];
  // the chunks to load: their refs and the chunks they fill, side by side (no object each)
  const wants = new ChunkWants(entries.length);
  for (const s of entries) {
    if (filter.length > 0) {
      if (!labelsMatch(s.labels, filter)) continue;
      kept?.push(s.ref);
    }
    let chunks: StoreChunk[] | null = null;
    for (const c of s.chunks) {
      if (c.maxTime < mint || c.minTime > maxt) continue;
      if (skipChunks) {
        chunks = NO_CHUNKS;
        break;
      }
      const sc: StoreChunk = {
        minTime: c.minTime,
        maxTime: c.maxTime,
        encoding: ChunkEncoding.None,
        data: EMPTY_BYTES,
      };
      // a literal of one: an empty array grown by a push holds room for 17
      if (chunks === null) chunks = [sc];
      else chunks.push(sc);
      wants.add(c.ref, sc);
    }
    if (chunks === null) continue;
    const proto = s.labelsProto;
    // a cached entry's ready label encoding rides along for the answer's encoder
    out.push(
      proto === undefined ? { labels: s.labels, chunks } : {
        labels: s.labels,
        chunks,
        labelsProto: proto,
      },
    );
  }
  return { out, wants };
}

/** A Series request carrying the per-request accounting down to the block readers. */
interface StatsSeriesRequest extends SeriesRequest {
  stats?: RequestStats;
}

/**
 * The chunks one batch loads: each chunk's ref and the chunk its record fills, in two parallel
 * arrays (an object per wanted chunk was a tenth of the store's garbage on a 30-day query).
 */
class ChunkWants {
  refs: Float64Array;
  readonly outs: StoreChunk[] = [];

  /**
   * Room for `expected` wants first (a batch's series count: an instant query wants a chunk or
   * two per series), so the usual batch grows no array: each typed array costs about a
   * microsecond in Deno, and doubling from 64 made three for 170 series (issue 19).
   */
  constructor(expected: number) {
    this.refs = new Float64Array(Math.max(expected, 16));
  }

  /** Wants held (`refs` has room for more). */
  get length(): number {
    return this.outs.length;
  }

  add(ref: number, out: StoreChunk): void {
    const n = this.outs.length;
    if (n === this.refs.length) {
      const grown = new Float64Array(n * 2);
      grown.set(this.refs);
      this.refs = grown;
    }
    this.refs[n] = ref;
    this.outs.push(out);
  }

  /**
   * The indices of the wants in ascending ref order, or null when they already are (the usual
   * case: a block's series and their chunks are written in the same order).
   */
  sortByRef(): Uint32Array | null {
    const refs = this.refs;
    let i = 1;
    while (i < this.length && refs[i - 1] <= refs[i]) i++;
    if (i >= this.length) return null;
    const order = new Uint32Array(this.length);
    for (let k = 0; k < order.length; k++) order[k] = k;
    return order.sort((a, b) => refs[a] - refs[b]);
  }
}

/** A merged chunk range read: the wants `first` … `first + count - 1` in ref order. */
interface ChunkRange {
  segment: number;
  start: number;
  end: number;
  first: number;
  count: number;
  /** Read as one array (see {@link isDenseRange}), not streamed through the arena. */
  dense: boolean;
}

/** StoreAPI aggregate → its AggrChunkParts field and its sub-chunk in an aggregated chunk. */
const AGGR_PARTS: Partial<Record<Aggr, { name: keyof AggrChunkParts; type: AggrType }>> = {
  [Aggr.COUNT]: { name: "count", type: AggrType.Count },
  [Aggr.SUM]: { name: "sum", type: AggrType.Sum },
  [Aggr.MIN]: { name: "min", type: AggrType.Min },
  [Aggr.MAX]: { name: "max", type: AggrType.Max },
  [Aggr.COUNTER]: { name: "counter", type: AggrType.Counter },
};

/**
 * Fills `out` from a chunk record: a raw chunk as it is, an aggregated (downsampled) chunk as
 * the requested aggregates (InvalidArgument when one is absent).
 */
function setChunk(
  out: StoreChunk,
  encoding: number,
  data: Uint8Array,
  aggregates: readonly Aggr[],
  object: string,
  off: number,
): void {
  if (encoding !== CHUNK_ENC_AGGR) {
    out.encoding = encoding as ChunkEncoding;
    out.data = data;
    return;
  }
  const parts = parseAggrChunk(data, object, off);
  const aggr: AggrChunkParts = {};
  for (const a of aggregates) {
    if (a === Aggr.RAW) continue;
    const want = AGGR_PARTS[a];
    if (!want) continue;
    const { name } = want;
    const part = parts[want.type];
    if (!part) {
      throw new GrpcError(
        GrpcStatus.INVALID_ARGUMENT,
        `aggregate ${name.toUpperCase()} does not exist`,
      );
    }
    aggr[name] = part;
  }
  out.aggr = aggr;
}

/** Drops byte-identical chunks (same series read from several block sets, e.g. replicas). */
function dedupeChunks(chunks: StoreChunk[]): StoreChunk[] {
  const out: StoreChunk[] = [chunks[0]];
  for (let i = 1; i < chunks.length; i++) {
    const c = chunks[i];
    let dup = false;
    for (let j = out.length - 1; j >= 0 && out[j].minTime === c.minTime; j--) {
      if (sameChunk(out[j], c)) {
        dup = true;
        break;
      }
    }
    if (!dup) out.push(c);
  }
  return out;
}

function sameChunk(a: StoreChunk, b: StoreChunk): boolean {
  if (a.maxTime !== b.maxTime || a.encoding !== b.encoding || a.data.length !== b.data.length) {
    return false;
  }
  if (a.aggr || b.aggr) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

/** The batches of `batches` cut after `limit` series in all. */
async function* batchesOfLimit(
  batches: AsyncIterable<SeriesWithChunks[]>,
  limit: number,
): AsyncGenerator<SeriesWithChunks[]> {
  let n = 0;
  for await (const batch of batches) {
    if (n + batch.length >= limit) {
      yield batch.slice(0, limit - n);
      return;
    }
    n += batch.length;
    yield batch;
  }
}

/** The series of `batches` one by one, at most `limit` of them (0: all). */
async function* seriesOfBatches(
  batches: AsyncIterable<SeriesWithChunks[]>,
  limit: number,
): AsyncGenerator<SeriesWithChunks> {
  let n = 0;
  for await (const batch of batches) {
    for (const s of batch) {
      yield s;
      if (++n === limit) return;
    }
  }
}

/** The series of `batches`, their warnings set aside in `warnings`. */
async function* seriesOnly(
  batches: AsyncIterable<SeriesItem[]>,
  warnings: string[],
): AsyncGenerator<SeriesWithChunks[]> {
  for await (const batch of batches) {
    const out = seriesOf(batch, warnings);
    if (out.length > 0) yield out;
  }
}

/** The series of `batch`, its warnings appended to `warnings`. */
function seriesOf(batch: readonly SeriesItem[], warnings: string[]): SeriesWithChunks[] {
  const out: SeriesWithChunks[] = [];
  for (const it of batch) {
    if ("warning" in it) warnings.push(it.warning);
    else out.push(it);
  }
  return out;
}

/**
 * Blocks chosen for [mint, maxt] at most `maxRes` coarse: Thanos's `getFor`, which takes the
 * coarsest allowed resolution and fills gaps before, between and after its blocks with finer
 * resolutions.
 */
export function blocksFor(
  byRes: ReadonlyMap<number, readonly BucketBlock[]>,
  mint: number,
  maxt: number,
  maxRes: number,
  level = -1,
): BucketBlock[] {
  if (mint > maxt) return [];
  let i = level;
  if (i < 0) {
    i = 0;
    while (i < RESOLUTIONS.length - 1 && RESOLUTIONS[i] > maxRes) i++;
  }
  const out: BucketBlock[] = [];
  let start = mint;
  for (const b of byRes.get(RESOLUTIONS[i]) ?? []) {
    if (b.meta.maxTime <= mint) continue;
    if (b.meta.minTime > maxt) break;
    if (i + 1 < RESOLUTIONS.length) {
      for (const x of blocksFor(byRes, start, b.meta.minTime - 1, maxRes, i + 1)) out.push(x);
    }
    out.push(b);
    start = b.meta.maxTime;
  }
  if (i + 1 < RESOLUTIONS.length) {
    for (const x of blocksFor(byRes, start, maxt, maxRes, i + 1)) out.push(x);
  }
  return out;
}

/** The blocks of one external label set as a StoreBackend (labels without external labels). */
class BlockSetBackend implements StoreBackend {
  private readonly byRes = new Map<number, BucketBlock[]>();

  constructor(private readonly store: BucketStore, private readonly blocks: BucketBlock[]) {
    for (const b of blocks) {
      let l = this.byRes.get(b.resolution);
      if (!l) this.byRes.set(b.resolution, l = []);
      l.push(b);
    }
  }

  info(): Promise<StoreInfo> {
    return this.store.info();
  }

  series(req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesItem> {
    return seriesOfBatches(this.blockBatches(req, signal), req.limit ?? 0);
  }

  seriesBatches(req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesItem[]> {
    const limit = req.limit ?? 0;
    const batches = this.blockBatches(req, signal);
    return limit > 0 ? batchesOfLimit(batches, limit) : batches;
  }

  /** The series of the blocks chosen for `req`, merged in label order, in batches. */
  private blockBatches(req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesWithChunks[]> {
    const blocks = blocksFor(this.byRes, req.minTime, req.maxTime, req.maxResolutionWindow ?? 0);
    if (blocks.length === 0) return NO_BATCHES;
    const stats = (req as StatsSeriesRequest).stats ?? new RequestStats();
    const batchSize = seriesBatchSize(blocks.length);
    const sets = blocks.map((b) =>
      this.store.guardBlock(
        b,
        this.store.blockSeries(b, req.matchers, req.minTime, req.maxTime, {
          skipChunks: req.skipChunks === true,
          aggregates: req.aggregates ?? [],
          stats,
          batchSize,
        }, signal),
        stats,
        signal,
      )
    );
    return mergeSeriesBatches(sets);
  }

  private overlapping(start: number, end: number): BucketBlock[] {
    return this.blocks.filter((b) => b.overlaps(start, end));
  }

  async labelNames(
    req: LabelNamesRequest,
    signal: AbortSignal,
  ): Promise<{ names: string[]; warnings: string[] }> {
    const pacer = new TurnPacer(LABELS_TURN_EVERY_MS);
    const parts = await Promise.all(
      this.overlapping(req.start, req.end).map((b) =>
        b.withIndex(async (ix) => {
          if (req.matchers.length === 0) return ix.labelNames();
          const names = new Set<string>();
          await this.forEachMatchingLabels(b, req.matchers, pacer, signal, (labels) => {
            for (let k = 0; k < labels.length; k += 2) names.add(labels[k]);
          });
          return [...names];
        })
      ),
    );
    return { names: unionSorted(parts.map((p) => p.slice().sort(compareStrings))), warnings: [] };
  }

  async labelValues(
    req: LabelValuesRequest,
    signal: AbortSignal,
  ): Promise<{ values: string[]; warnings: string[] }> {
    const pacer = new TurnPacer(LABELS_TURN_EVERY_MS);
    const parts = await Promise.all(
      this.overlapping(req.start, req.end).map((b) =>
        b.withIndex(async (ix) => {
          if (req.matchers.length === 0) return await ix.labelValues(req.label);
          const values = new Set<string>();
          await this.forEachMatchingLabels(b, req.matchers, pacer, signal, (labels) => {
            for (let k = 0; k < labels.length; k += 2) {
              if (labels[k] === req.label) values.add(labels[k + 1]);
            }
          });
          return [...values].sort(compareStrings);
        })
      ),
    );
    return { values: unionSorted(parts), warnings: [] };
  }

  /**
   * Calls `visit` with the labels of each series of `block` matching `matchers`, giving the
   * event loop the turns `pacer` calls for: cached entries resolve without one, and 60,000 of
   * them held the store's thread (its Series calls, Info, probes) for 100-240 ms (issue 20).
   */
  private async forEachMatchingLabels(
    block: BucketBlock,
    matchers: readonly Matcher[],
    pacer: TurnPacer,
    signal: AbortSignal,
    visit: (labels: Labels) => void,
  ): Promise<void> {
    const { refs, filter } = await this.store.expandedPostings(block, matchers);
    for (let i = 0; i < refs.length; i += SERIES_BATCH) {
      const batch = await this.store.seriesEntries(
        block,
        refs.subarray(i, i + SERIES_BATCH),
        signal,
        LABELS_ONLY.mint,
        LABELS_ONLY.maxt,
      );
      for (const s of batch) {
        if (filter.length === 0 || labelsMatch(s.labels, filter)) visit(s.labels);
        const turn = pacer.pause();
        if (turn) await turn;
      }
    }
  }
}

/** A time window no chunk overlaps: series entries decoded for their labels alone. */
const LABELS_ONLY = { mint: Infinity, maxt: -Infinity };

/** No series: a Series call over no blocks. */
const NO_BATCHES: AsyncIterable<SeriesWithChunks[]> = {
  async *[Symbol.asyncIterator]() {},
};
