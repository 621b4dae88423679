// Thanos's query telemetry (pkg/store/telemetry.go `seriesStatsAggregator`, observed by
// pkg/api/query/v1.go after each successful instant and range query): the query's duration in
// `thanos_store_api_query_duration_seconds`, labelled by the bucket its series count and its
// sample count fall in. The buckets come from `--query.telemetry.request-duration-seconds-quantiles`
// (the histogram's), `--query.telemetry.request-series-seconds-quantiles` (series_le) and
// `--query.telemetry.request-samples-quantiles` (samples_le).
// https://thanos.io/tip/components/query.md/#flags

import type { Histogram, Registry } from "../metrics/registry.ts";
import { formatFloatGo } from "../strconv/float.ts";

/** What the Series calls of one query returned (Thanos's storepb.SeriesStatsCounter). */
export interface SeriesStats {
  series: number;
  chunks: number;
  samples: number;
}

/** The three bucket lists of the telemetry flags, each ascending. */
export interface TelemetryBuckets {
  durationSeconds: readonly number[];
  series: readonly number[];
  samples: readonly number[];
}

/**
 * The `le` label of `value` among `bounds`: the first bound ≥ value (Go's
 * sort.SearchFloat64s), "+Inf" at or past the last one or when there are none.
 */
export function findBucket(value: number, bounds: readonly number[]): string {
  if (bounds.length === 0 || value >= bounds[bounds.length - 1]) return "+Inf";
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bounds[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return formatFloatGo(bounds[lo]);
}

/** The histogram of query durations by series and samples buckets. */
export class QueryTelemetry {
  private readonly duration: Histogram;

  constructor(registry: Registry, private readonly buckets: TelemetryBuckets) {
    this.duration = registry.histogram({
      name: "thanos_store_api_query_duration_seconds",
      help: "Duration of the Thanos Store API select phase for a query.",
      buckets: buckets.durationSeconds,
      labelNames: ["series_le", "samples_le", "tenant"],
    });
  }

  /** Records one query; as in Thanos, nothing when it read no series, chunks or samples. */
  observe(tenant: string, stats: SeriesStats, seconds: number): void {
    if (stats.series === 0 || stats.samples === 0 || stats.chunks === 0) return;
    this.duration.observe({
      series_le: findBucket(stats.series, this.buckets.series),
      samples_le: findBucket(stats.samples, this.buckets.samples),
      tenant,
    }, seconds);
  }
}
