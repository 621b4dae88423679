// The sidecar's StoreAPI backend: series through Prometheus remote read (chunks passed on as
// Prometheus encoded them), `skip_chunks` series and label APIs through Prometheus's HTTP API.
// External labels are not handled here: main.ts wraps this backend with `withExternalLabels`.

import { compareLabels, compareStrings } from "../tsdb/labels.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import type {
  LabelNamesRequest,
  LabelValuesRequest,
  SeriesRequest,
  StoreInfo,
} from "../storeapi/codec.ts";
import { INT64_MAX } from "../storeapi/codec.ts";
import type { SeriesItem, StoreBackend } from "../storeapi/server.ts";
import { type PrometheusClient, versionAtLeast } from "../promclient/client.ts";
import { ReadResponseType, remoteRead, type RemoteReadQuery } from "../promclient/remote_read.ts";

/** What the sidecar currently knows about its Prometheus (refreshed by the heartbeat). */
export interface PrometheusState {
  /** Prometheus version, "0" when unknown. */
  version: string;
  /** Advertised min time (ms): max(--min-time, oldest sample). */
  minTime: number;
}

/** Options of {@link PrometheusStore}. */
export interface PrometheusStoreOptions {
  /** The current state (version, min time). */
  state: () => PrometheusState;
  /** `--min-time` (ms): requests are clamped to it. */
  minTimeFlag?: number;
  /** Response types offered to remote read (default: streamed, then samples). */
  accepted?: readonly ReadResponseType[];
}

/** StoreAPI backend over one Prometheus server. */
export class PrometheusStore implements StoreBackend {
  constructor(
    private readonly client: PrometheusClient,
    private readonly opts: PrometheusStoreOptions,
  ) {}

  info(): Promise<StoreInfo> {
    const st = this.opts.state();
    return Promise.resolve({
      componentType: "sidecar",
      labelSets: [],
      minTime: st.minTime,
      maxTime: INT64_MAX,
      storeApi: true,
      supportsWithoutReplicaLabels: true,
      tsdbInfos: [],
    });
  }

  private clampMin(t: number): number {
    const m = this.opts.minTimeFlag;
    return m !== undefined && t < m ? m : t;
  }

  async *series(req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesItem> {
    const minTime = this.clampMin(req.minTime);
    if (minTime > req.maxTime) return;
    if (req.skipChunks) {
      const sets = await this.client.series(req.matchers, minTime, req.maxTime, signal);
      sets.sort(compareLabels);
      let prev: readonly string[] | null = null;
      for (const labels of sets) {
        if (prev !== null && compareLabels(prev, labels) === 0) continue;
        prev = labels;
        yield { labels, chunks: [] };
      }
      return;
    }
    const h = req.queryHints;
    const q: RemoteReadQuery = {
      start: minTime,
      end: req.maxTime,
      matchers: req.matchers,
      hints: {
        startMs: minTime,
        endMs: req.maxTime,
        stepMs: h?.stepMillis,
        // "series" makes Prometheus's TSDB drop chunks; the StoreAPI asked for them
        func: h?.func === "series" ? undefined : h?.func,
        grouping: h?.grouping?.labels,
        by: h?.grouping?.by,
        rangeMs: h?.rangeMillis,
      },
    };
    yield* remoteRead(this.client, q, { accepted: this.opts.accepted, signal });
  }

  async labelNames(
    req: LabelNamesRequest,
    signal: AbortSignal,
  ): Promise<{ names: string[]; warnings: string[] }> {
    const start = this.clampMin(req.start);
    if (req.matchers.length > 0 && !this.matchSupported()) {
      const names = new Set<string>();
      for (const ls of await this.client.series(req.matchers, start, req.end, signal)) {
        for (let i = 0; i < ls.length; i += 2) names.add(ls[i]);
      }
      return { names: [...names].sort(compareStrings), warnings: [] };
    }
    const names = await this.client.labelNames(req.matchers, start, req.end, signal);
    return { names, warnings: [] };
  }

  async labelValues(
    req: LabelValuesRequest,
    signal: AbortSignal,
  ): Promise<{ values: string[]; warnings: string[] }> {
    const start = this.clampMin(req.start);
    if (req.matchers.length > 0 && !this.matchSupported()) {
      return { values: await this.valuesFromSeries(req, start, signal), warnings: [] };
    }
    const values = await this.client.labelValues(
      req.label,
      req.matchers,
      start,
      req.end,
      signal,
    );
    return { values, warnings: [] };
  }

  /** Prometheus < 2.24 ignores `match[]` on the label APIs. */
  private matchSupported(): boolean {
    return versionAtLeast(this.opts.state().version, "2.24.0");
  }

  private async valuesFromSeries(
    req: LabelValuesRequest,
    start: number,
    signal: AbortSignal,
  ): Promise<string[]> {
    const withLabel: Matcher[] = req.matchers;
    const values = new Set<string>();
    for (const ls of await this.client.series(withLabel, start, req.end, signal)) {
      for (let i = 0; i < ls.length; i += 2) if (ls[i] === req.label) values.add(ls[i + 1]);
    }
    return [...values].sort(compareStrings);
  }
}
