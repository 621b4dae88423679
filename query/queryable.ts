// The proxy as the PromQL engine's Queryable: one query's selects fan out through the
// StoreProxy, merge, and are deduplicated; downsampled (aggregated) chunks are turned into the
// chunks the engine reads, picked by the function that reads them.

import type { SeriesStats } from "./telemetry.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import {
  type BatchedSeriesSet,
  type Chunk,
  ChunkEncoding,
  type Queryable,
  type SelectHints,
  type SeriesWithChunks,
} from "../tsdb/series.ts";
import { PromQLError } from "../promql/errors.ts";
import {
  Aggr,
  PartialResponseStrategy,
  type SeriesRequest,
  type ShardInfo,
  type StoreChunk,
} from "../storeapi/codec.ts";
import {
  decodeReplica,
  type DedupFunc,
  type DedupOptions,
  dedupSeries,
  encodeXorChunks,
} from "../storeapi/dedup.ts";
import { type ProxyCallOptions, type StoreProxy, StoreRequestError } from "../storeapi/proxy.ts";
import { Gate } from "../runutil/gate.ts";
import { applyCounterResets } from "../tsdb/chunkenc/aggr.ts";
import type { EvalTask, MatcherData } from "./eval_pool.ts";

/**
 * Series per `SeriesResponse` asked of the stores (`response_batch_size`, v0.41+): Thanos's
 * `store.DefaultResponseBatchSize` (64, pkg/store), which its querier sends; stores that predate
 * the field ignore it and answer one series per message, which the client reads as well.
 */
export const SERIES_RESPONSE_BATCH_SIZE = 64;

/** Per-query options of {@link ProxyQueryable} (the HTTP API's Thanos parameters). */
export interface ProxyQueryOptions {
  /** WARN (true) or ABORT (false). */
  partialResponse: boolean;
  /** Deduplicate replicas (needs at least one replica label). */
  dedup: boolean;
  replicaLabels: readonly string[];
  dedupFunc: DedupFunc;
  storeMatchers?: Matcher[][];
  /** `max_source_resolution` in ms (0 = raw only). */
  maxSourceResolutionMs?: number;
  /** Concurrent Series fan-outs of one query (`--query.max-concurrent-select`, default 4). */
  maxConcurrentSelect?: number;
  /** Vertical sharding (`shard_info` from the query frontend), passed on to every store. */
  shardInfo?: ShardInfo;
  /** The request's tenant (server/tenancy.ts), sent to every store; absent: the default. */
  tenant?: string;
}

/**
 * One query's view of the proxy: a Queryable whose selects fan out, merge and deduplicate.
 * Store warnings collect in `warnings`; a store failure under ABORT throws a PromQLError of type
 * `execution` ("expanding series: …"), as Prometheus reports storage errors during evaluation.
 */
export class ProxyQueryable implements Queryable {
  /** Warnings of every call so far (partial responses), without duplicates. */
  readonly warnings: string[] = [];
  /** Series, chunks and samples the stores sent (`--query.telemetry.*`, query/telemetry.ts). */
  readonly stats: SeriesStats = { series: 0, chunks: 0, samples: 0 };
  /** Bounds this query's concurrent selects (at least one). */
  private readonly selectGate: Gate;

  constructor(private readonly proxy: StoreProxy, private readonly opts: ProxyQueryOptions) {
    this.selectGate = new Gate(Math.max(1, opts.maxConcurrentSelect ?? 4));
  }

  /** The options as plain data (for an evaluation worker, query/eval_pool.ts). */
  describe(): EvalTask["queryable"] {
    const o = this.opts;
    return {
      partialResponse: o.partialResponse,
      dedup: o.dedup,
      replicaLabels: [...o.replicaLabels],
      dedupFunc: o.dedupFunc,
      storeMatchers: o.storeMatchers?.map((set) =>
        set.map((m): MatcherData => [m.type, m.name, m.value])
      ),
      maxSourceResolutionMs: o.maxSourceResolutionMs,
      maxConcurrentSelect: o.maxConcurrentSelect,
      shardInfo: o.shardInfo,
      tenant: o.tenant,
    };
  }

  /** The proxy call's `storeMatch[]` and tenant (sent to the stores as gRPC metadata). */
  private callOptions(): ProxyCallOptions {
    return { storeMatchers: this.opts.storeMatchers, tenant: this.opts.tenant };
  }

  private get dedupOn(): boolean {
    return this.opts.dedup && this.opts.replicaLabels.length > 0;
  }

  private addWarning(w: string): void {
    if (!this.warnings.includes(w)) this.warnings.push(w);
  }

  private strategy(): PartialResponseStrategy {
    return this.opts.partialResponse ? PartialResponseStrategy.WARN : PartialResponseStrategy.ABORT;
  }

  /** Series matching `matchers` in [hints.start, hints.end], deduplicated when enabled. */
  select(matchers: Matcher[], hints: SelectHints, signal?: AbortSignal): BatchedSeriesSet {
    const batches = () =>
      this.selectBatches(matchers, hints, signal ?? new AbortController().signal);
    return {
      batches,
      async *[Symbol.asyncIterator]() {
        for await (const batch of batches()) {
          for (let i = 0; i < batch.length; i++) yield batch[i];
        }
      },
    };
  }

  /** The series of a select, one array per batch of the stores' streams. */
  private async *selectBatches(
    matchers: Matcher[],
    hints: SelectHints,
    signal: AbortSignal,
  ): AsyncGenerator<SeriesWithChunks[]> {
    const req: SeriesRequest = {
      minTime: hints.start,
      maxTime: hints.end,
      matchers,
      partialResponseStrategy: this.strategy(),
      partialResponseDisabled: !this.opts.partialResponse,
      skipChunks: hints.skipChunks === true,
      maxResolutionWindow: maxResolutionFor(
        this.opts.maxSourceResolutionMs ?? 0,
        hints.range,
        hints.func,
      ),
      aggregates: aggregatesFor(hints.func),
      queryHints: {
        stepMillis: hints.step,
        func: hints.func,
        grouping: hints.grouping ? { by: hints.by === true, labels: hints.grouping } : undefined,
        rangeMillis: hints.range,
      },
      withoutReplicaLabels: this.dedupOn ? [...this.opts.replicaLabels] : undefined,
      shardInfo: this.opts.shardInfo,
      responseBatchSize: SERIES_RESPONSE_BATCH_SIZE,
    };
    // a select still waiting when the query is cancelled or times out gives up its place
    await this.selectGate.acquire(signal);
    try {
      const batches = this.proxy.seriesBatches(req, signal, this.callOptions());
      const dedupOpts: DedupOptions = { func: this.opts.dedupFunc, selectFunc: hints.func };
      const dedup = this.dedupOn && !req.skipChunks;
      // one await per batch of the store's stream, for the engine too
      for await (const batch of batches) {
        const out: SeriesWithChunks[] = [];
        for (let i = 0; i < batch.length; i++) {
          const item = batch[i];
          if ("warning" in item) {
            this.addWarning(item.warning);
            continue;
          }
          countSeries(this.stats, item);
          const chunks = toEngineChunks(item, hints.func);
          // raw chunks (the usual case) pass as they came: no new object per series
          let s: SeriesWithChunks = chunks === item.chunks ? item : { labels: item.labels, chunks };
          if (dedup) s = dedupSeries(s, dedupOpts);
          out.push(s);
        }
        if (out.length > 0) yield out;
      }
    } catch (e) {
      if (e instanceof StoreRequestError) {
        throw new PromQLError("execution", `expanding series: ${e.message}`, { cause: e });
      }
      throw e;
    } finally {
      this.selectGate.release();
    }
  }

  /** Label names over the selected stores (replica labels removed when deduplicating). */
  async labelNames(
    matchers: Matcher[],
    start: number,
    end: number,
    signal?: AbortSignal,
  ): Promise<string[]> {
    const res = await this.wrap(() =>
      this.proxy.labelNames(
        {
          start,
          end,
          matchers,
          partialResponseStrategy: this.strategy(),
          partialResponseDisabled: !this.opts.partialResponse,
          withoutReplicaLabels: this.dedupOn ? [...this.opts.replicaLabels] : undefined,
        },
        signal ?? new AbortController().signal,
        this.callOptions(),
      )
    );
    for (const w of res.warnings) this.addWarning(w);
    return res.names;
  }

  /** Values of label `name` (empty for a replica label when deduplicating). */
  async labelValues(
    name: string,
    matchers: Matcher[],
    start: number,
    end: number,
    signal?: AbortSignal,
  ): Promise<string[]> {
    const res = await this.wrap(() =>
      this.proxy.labelValues(
        {
          label: name,
          start,
          end,
          matchers,
          partialResponseStrategy: this.strategy(),
          partialResponseDisabled: !this.opts.partialResponse,
          withoutReplicaLabels: this.dedupOn ? [...this.opts.replicaLabels] : undefined,
        },
        signal ?? new AbortController().signal,
        this.callOptions(),
      )
    );
    for (const w of res.warnings) this.addWarning(w);
    return res.values;
  }

  private async wrap<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof StoreRequestError) {
        throw new PromQLError("execution", e.message, { cause: e });
      }
      throw e;
    }
  }
}

/** Functions that need two samples in their range (Thanos's promqlFuncRequiresTwoSamples). */
const TWO_SAMPLE_FUNCS = new Set([
  "rate",
  "irate",
  "increase",
  "delta",
  "idelta",
  "deriv",
  "predict_linear",
  "holt_winters",
  "double_exponential_smoothing",
]);

/**
 * The resolution a select may read (Thanos's maxResolutionFromSelectHints): at most half the
 * range of a function that needs two samples in its range, so e.g. `rate(x[1h])` never reads
 * 1h-resolution data (one sample per range).
 */
export function maxResolutionFor(maxRes: number, range: number | undefined, func?: string): number {
  if (range !== undefined && range > 0 && func !== undefined && TWO_SAMPLE_FUNCS.has(func)) {
    return Math.min(maxRes, Math.trunc(range / 2));
  }
  return maxRes;
}

/**
 * Aggregates to ask downsampled stores for, by the PromQL function reading the data (Thanos's
 * choice: counter for rate-like functions, the matching aggregate for *_over_time, else sum and
 * count so an average can be formed).
 */
export function aggregatesFor(func: string | undefined): Aggr[] {
  // Thanos's aggrsFromFunc (pkg/query/querier.go) matches name prefixes
  const f = func ?? "";
  if (f === "min" || f.startsWith("min_")) return [Aggr.MIN];
  if (f === "max" || f.startsWith("max_")) return [Aggr.MAX];
  if (f === "count" || f.startsWith("count_")) return [Aggr.COUNT];
  // "sum" itself wants the actual samples (the average below)
  if (f.startsWith("sum_")) return [Aggr.SUM];
  switch (f) {
    case "rate":
    case "increase":
    case "irate":
    case "resets":
    case "xrate":
    case "xincrease":
      return [Aggr.COUNTER];
    default:
      return [Aggr.COUNT, Aggr.SUM];
  }
}

/**
 * Chunks the engine can read: raw chunks as they are; for downsampled aggregate chunks, the
 * sub-chunk matching the function (counter / min / max / count / sum), else the average of each
 * window computed from sum and count.
 */
/** XOR samples of a raw chunk: the count in its first two bytes. */
function xorSamples(c: { encoding: ChunkEncoding; data: Uint8Array }): number {
  return c.encoding === ChunkEncoding.XOR && c.data.length >= 2 ? (c.data[0] << 8) | c.data[1] : 0;
}

/** Thanos's SeriesStatsCounter.Count: one series, each raw chunk and each aggregate chunk. */
function countSeries(stats: SeriesStats, s: SeriesWithChunks): void {
  stats.series++;
  for (const c of s.chunks) {
    if (c.encoding !== ChunkEncoding.None) {
      stats.chunks++;
      stats.samples += xorSamples(c);
    }
    const a = (c as StoreChunk).aggr;
    if (a === undefined) continue;
    for (const part of [a.count, a.counter, a.max, a.min, a.sum]) {
      if (part === undefined) continue;
      stats.chunks++;
      stats.samples += xorSamples(part);
    }
  }
}

function toEngineChunks(s: SeriesWithChunks, func: string | undefined): Chunk[] {
  let allRaw = true;
  for (const c of s.chunks) {
    if ((c as StoreChunk).aggr !== undefined && c.encoding === ChunkEncoding.None) {
      allRaw = false;
      break;
    }
  }
  if (allRaw) return s.chunks;
  const want = aggregatesFor(func);
  if (want.length === 1 && want[0] === Aggr.COUNTER) return counterChunks(s.chunks);
  const out: Chunk[] = [];
  for (const c of s.chunks) {
    const a = (c as StoreChunk).aggr;
    if (a === undefined || c.encoding !== ChunkEncoding.None) {
      out.push(c);
      continue;
    }
    const pick = want.length === 1
      ? (want[0] === Aggr.MIN
        ? a.min
        : want[0] === Aggr.MAX
        ? a.max
        : want[0] === Aggr.COUNT
        ? a.count
        : want[0] === Aggr.SUM
        ? a.sum
        : a.counter)
      : undefined;
    if (pick && func === "count_over_time") {
      out.push(...expandCounts(pick.data));
    } else if (pick) {
      out.push({
        minTime: c.minTime,
        maxTime: c.maxTime,
        encoding: pick.encoding,
        data: pick.data,
      });
    } else if (a.sum && a.count) {
      out.push(...averageChunks(c.minTime, c.maxTime, a.sum.data, a.count.data));
    }
  }
  return out;
}

/**
 * The counter aggregates (and raw chunks) of a series as one monotonic series, as Thanos reads
 * them through ApplyCounterResetsSeriesIterator (pkg/query/iter.go): each counter sub-chunk
 * starts with its first raw value and ends by repeating its last timestamp with the last raw
 * value, so resets inside and between chunks become increases and the repeated sample is dropped.
 */
function counterChunks(chunks: readonly Chunk[]): Chunk[] {
  const data: Uint8Array[] = [];
  for (const c of chunks) {
    const a = (c as StoreChunk).aggr;
    if (a !== undefined && c.encoding === ChunkEncoding.None) {
      if (a.counter) data.push(a.counter.data);
    } else if (c.encoding === ChunkEncoding.XOR) {
      data.push(c.data);
    }
  }
  const m = applyCounterResets(data);
  if (m.ts.length === 0) return [];
  return encodeXorChunks({
    ts: Float64Array.from(m.ts),
    vs: Float64Array.from(m.vs),
    n: m.ts.length,
  });
}

/**
 * count_over_time over a count aggregate: each window's count `c` becomes `c` samples on the
 * last `c` ms of the window (all inside it, so a range that holds the window's timestamp holds
 * them all), so the engine counts raw samples instead of windows. Thanos counts windows here;
 * we return the raw count the aggregate records.
 */
function expandCounts(count: Uint8Array): Chunk[] {
  const c = decodeReplica([{ minTime: 0, maxTime: 0, encoding: ChunkEncoding.XOR, data: count }]);
  let total = 0;
  for (let i = 0; i < c.n; i++) total += Math.max(0, Math.round(c.vs[i]));
  const ts = new Float64Array(total);
  const vs = new Float64Array(total).fill(1);
  let n = 0;
  let prev = -Infinity;
  for (let i = 0; i < c.n; i++) {
    const k = Math.max(0, Math.round(c.vs[i]));
    // never before the previous window's timestamp
    const from = Math.max(c.ts[i] - k + 1, prev + 1);
    for (let t = from; t <= c.ts[i]; t++) ts[n++] = t;
    prev = c.ts[i];
  }
  return encodeXorChunks({ ts: ts.subarray(0, n), vs: vs.subarray(0, n), n });
}

function averageChunks(minTime: number, maxTime: number, sum: Uint8Array, count: Uint8Array) {
  const s = decodeReplica([{ minTime, maxTime, encoding: ChunkEncoding.XOR, data: sum }]);
  const c = decodeReplica([{ minTime, maxTime, encoding: ChunkEncoding.XOR, data: count }]);
  const n = Math.min(s.n, c.n);
  const vs = new Float64Array(n);
  for (let i = 0; i < n; i++) vs[i] = s.vs[i] / c.vs[i];
  return encodeXorChunks({ ts: s.ts.subarray(0, n), vs, n });
}
