// The StoreAPI over a local TSDB (Thanos's TSDBStore,
// https://github.com/thanos-io/thanos/blob/main/pkg/store/tsdb.go), used by receive for each
// tenant: any Queryable (a DB's querier: head + local blocks) served with external labels
// (storeapi/external_labels.ts: external-label matchers tested and removed, labels attached, an
// all-external-label request refused with InvalidArgument as TSDBStore does). Info advertises the
// external label set, minTime = the DB's start time (oldest block, else the head's min time;
// INT64_MAX while empty, like Prometheus's `DB.StartTime`) and maxTime = INT64_MAX, because the
// head keeps receiving samples.

import { INT64_MAX, INT64_MIN } from "../storeapi/codec.ts";
import type {
  ComponentType,
  LabelNamesRequest,
  LabelValuesRequest,
  SeriesRequest,
  StoreInfo,
} from "../storeapi/codec.ts";
import { withExternalLabels } from "../storeapi/external_labels.ts";
import type { SeriesItem, StoreBackend } from "../storeapi/server.ts";
import type { DB } from "../tsdb/db.ts";
import type { Labels, Queryable } from "../tsdb/series.ts";

/** Options of {@link TsdbStore}. */
export interface TsdbStoreOptions {
  /** External labels (sorted) attached to every series and advertised in Info. */
  externalLabels: Labels;
  /** Oldest timestamp of the data in ms (e.g. `() => dbMinTime(db)`); default INT64_MIN. */
  minTime?: () => number;
  /** Component type in Info (default "receive"). */
  componentType?: ComponentType;
}

/** Prometheus's `DB.StartTime`: the oldest block's minTime, else the head's; INT64_MAX if empty. */
export function dbMinTime(db: DB): number {
  const blocks = db.blocks;
  if (blocks.length > 0) return blocks[0].meta.minTime;
  const m = Math.min(db.head.minTime, db.head.oooMinTime);
  return Number.isFinite(m) ? m : INT64_MAX;
}

/** Backend over the Queryable, labels as stored (external labels are added by the wrapper). */
class QueryableBackend implements StoreBackend {
  constructor(private readonly q: Queryable, private readonly parent: TsdbStore) {}

  info(): Promise<StoreInfo> {
    return this.parent.info();
  }

  async *series(req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesItem> {
    if (req.minTime > req.maxTime) return;
    const limit = req.limit ?? 0;
    let n = 0;
    const set = this.q.select(req.matchers, {
      start: req.minTime,
      end: req.maxTime,
      skipChunks: req.skipChunks === true,
    }, signal);
    for await (const s of set) {
      if (req.skipChunks && s.chunks.length > 0) yield { labels: s.labels, chunks: [] };
      else yield s;
      if (limit > 0 && ++n >= limit) return;
    }
  }

  async labelNames(
    req: LabelNamesRequest,
    _signal: AbortSignal,
  ): Promise<{ names: string[]; warnings: string[] }> {
    if (req.start > req.end) return { names: [], warnings: [] };
    let names = await this.q.labelNames(req.matchers, req.start, req.end);
    if ((req.limit ?? 0) > 0 && names.length > req.limit!) names = names.slice(0, req.limit);
    return { names, warnings: [] };
  }

  async labelValues(
    req: LabelValuesRequest,
    _signal: AbortSignal,
  ): Promise<{ values: string[]; warnings: string[] }> {
    if (req.start > req.end) return { values: [], warnings: [] };
    let values = await this.q.labelValues(req.label, req.matchers, req.start, req.end);
    if ((req.limit ?? 0) > 0 && values.length > req.limit!) values = values.slice(0, req.limit);
    return { values, warnings: [] };
  }
}

/** StoreAPI backend over a Queryable with external labels (Thanos's TSDBStore). */
export class TsdbStore implements StoreBackend {
  private readonly wrapped: StoreBackend;
  readonly externalLabels: Labels;

  constructor(queryable: Queryable, private readonly opts: TsdbStoreOptions) {
    this.externalLabels = opts.externalLabels;
    this.wrapped = withExternalLabels(
      new QueryableBackend(queryable, this),
      opts.externalLabels,
      { requireMatchers: true },
    );
  }

  /** Current [minTime, maxTime] advertised (ms). */
  timeRange(): { minTime: number; maxTime: number } {
    return { minTime: this.opts.minTime?.() ?? INT64_MIN, maxTime: INT64_MAX };
  }

  info(): Promise<StoreInfo> {
    const { minTime, maxTime } = this.timeRange();
    const ext = this.externalLabels;
    return Promise.resolve({
      componentType: this.opts.componentType ?? "receive",
      labelSets: ext.length > 0 ? [ext] : [],
      minTime,
      maxTime,
      storeApi: true,
      supportsSharding: true,
      supportsWithoutReplicaLabels: true,
      tsdbInfos: ext.length > 0 ? [{ labels: ext, minTime, maxTime }] : [],
    });
  }

  series(req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesItem> {
    return this.wrapped.series(req, signal);
  }

  labelNames(
    req: LabelNamesRequest,
    signal: AbortSignal,
  ): Promise<{ names: string[]; warnings: string[] }> {
    return this.wrapped.labelNames(req, signal);
  }

  labelValues(
    req: LabelValuesRequest,
    signal: AbortSignal,
  ): Promise<{ values: string[]; warnings: string[] }> {
    return this.wrapped.labelValues(req, signal);
  }
}
