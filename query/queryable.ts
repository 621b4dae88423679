// The proxy as the PromQL engine's Queryable: one query's selects fan out through the
// StoreProxy, merge, and are deduplicated; downsampled (aggregated) chunks are turned into the
// chunks the engine reads, picked by the function that reads them.

import type { Matcher } from "../tsdb/matchers.ts";
import {
  type Chunk,
  ChunkEncoding,
  type Queryable,
  type SelectHints,
  type SeriesSet,
  type SeriesWithChunks,
} from "../tsdb/series.ts";
import { PromQLError } from "../promql/errors.ts";
import {
  Aggr,
  PartialResponseStrategy,
  type SeriesRequest,
  type StoreChunk,
} from "../storeapi/codec.ts";
import {
  decodeReplica,
  type DedupFunc,
  type DedupOptions,
  dedupSeries,
  encodeXorChunks,
} from "../storeapi/dedup.ts";
import { type StoreProxy, StoreRequestError } from "../storeapi/proxy.ts";
import { Gate } from "../runutil/gate.ts";

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
}

/**
 * One query's view of the proxy: a Queryable whose selects fan out, merge and deduplicate.
 * Store warnings collect in `warnings`; a store failure under ABORT throws a PromQLError of type
 * `execution` ("expanding series: …"), as Prometheus reports storage errors during evaluation.
 */
export class ProxyQueryable implements Queryable {
  /** Warnings of every call so far (partial responses), without duplicates. */
  readonly warnings: string[] = [];
  /** Bounds this query's concurrent selects (at least one). */
  private readonly selectGate: Gate;

  constructor(private readonly proxy: StoreProxy, private readonly opts: ProxyQueryOptions) {
    this.selectGate = new Gate(Math.max(1, opts.maxConcurrentSelect ?? 4));
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
  select(matchers: Matcher[], hints: SelectHints, signal?: AbortSignal): SeriesSet {
    return this.selectGen(matchers, hints, signal ?? new AbortController().signal);
  }

  private async *selectGen(
    matchers: Matcher[],
    hints: SelectHints,
    signal: AbortSignal,
  ): AsyncGenerator<SeriesWithChunks> {
    const req: SeriesRequest = {
      minTime: hints.start,
      maxTime: hints.end,
      matchers,
      partialResponseStrategy: this.strategy(),
      partialResponseDisabled: !this.opts.partialResponse,
      skipChunks: hints.skipChunks === true,
      maxResolutionWindow: this.opts.maxSourceResolutionMs ?? 0,
      aggregates: aggregatesFor(hints.func),
      queryHints: {
        stepMillis: hints.step,
        func: hints.func,
        grouping: hints.grouping ? { by: hints.by === true, labels: hints.grouping } : undefined,
        rangeMillis: hints.range,
      },
      withoutReplicaLabels: this.dedupOn ? [...this.opts.replicaLabels] : undefined,
    };
    // a select still waiting when the query is cancelled or times out gives up its place
    await this.selectGate.acquire(signal);
    try {
      const items = this.proxy.series(req, signal, { storeMatchers: this.opts.storeMatchers });
      const dedupOpts: DedupOptions = { func: this.opts.dedupFunc, selectFunc: hints.func };
      for await (const item of items) {
        if ("warning" in item) {
          this.addWarning(item.warning);
          continue;
        }
        let s: SeriesWithChunks = { labels: item.labels, chunks: toEngineChunks(item, hints.func) };
        if (this.dedupOn && !req.skipChunks) s = dedupSeries(s, dedupOpts);
        yield s;
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
  async labelNames(matchers: Matcher[], start: number, end: number): Promise<string[]> {
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
        new AbortController().signal,
        { storeMatchers: this.opts.storeMatchers },
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
        new AbortController().signal,
        { storeMatchers: this.opts.storeMatchers },
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

/**
 * Aggregates to ask downsampled stores for, by the PromQL function reading the data (Thanos's
 * choice: counter for rate-like functions, the matching aggregate for *_over_time, else sum and
 * count so an average can be formed).
 */
export function aggregatesFor(func: string | undefined): Aggr[] {
  switch (func) {
    case "min":
    case "min_over_time":
      return [Aggr.MIN];
    case "max":
    case "max_over_time":
      return [Aggr.MAX];
    case "count":
    case "count_over_time":
      return [Aggr.COUNT];
    case "sum_over_time":
      return [Aggr.SUM];
    case "rate":
    case "increase":
    case "irate":
    case "resets":
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
function toEngineChunks(s: SeriesWithChunks, func: string | undefined): Chunk[] {
  let allRaw = true;
  for (const c of s.chunks) {
    if ((c as StoreChunk).aggr !== undefined && c.encoding === ChunkEncoding.None) {
      allRaw = false;
      break;
    }
  }
  if (allRaw) return s.chunks;
  const out: Chunk[] = [];
  for (const c of s.chunks) {
    const a = (c as StoreChunk).aggr;
    if (a === undefined || c.encoding !== ChunkEncoding.None) {
      out.push(c);
      continue;
    }
    const want = aggregatesFor(func);
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
    if (pick) {
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

function averageChunks(minTime: number, maxTime: number, sum: Uint8Array, count: Uint8Array) {
  const s = decodeReplica([{ minTime, maxTime, encoding: ChunkEncoding.XOR, data: sum }]);
  const c = decodeReplica([{ minTime, maxTime, encoding: ChunkEncoding.XOR, data: count }]);
  const n = Math.min(s.n, c.n);
  const vs = new Float64Array(n);
  for (let i = 0; i < n; i++) vs[i] = s.vs[i] / c.vs[i];
  return encodeXorChunks({ ts: s.ts.subarray(0, n), vs, n });
}
