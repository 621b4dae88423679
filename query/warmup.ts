// Warms the querier's instant-query path right after start (issue 19): V8 runs a function in its
// interpreter until it has been called often enough to be compiled, so the first dashboard
// queries after a start took 3–4× the time of the same queries a minute later. Synthetic series
// (no store, no socket, no cache touched) go through the path a store's answer takes:
// SeriesResponse encoding and decoding, the proxy, the Queryable, the engine (selectors, range
// functions, aggregations, joins, a subquery) and the JSON encoder; and one-series queries (another
// instance each time) take a StoreAPI call's whole way over an in-memory HTTP/2 connection
// (storeapi/loopback.ts: gRPC framing on the client and server side), for a bounded number of
// rounds.

import { Engine } from "../promql/engine.ts";
import { resultToJSONChunks } from "../promql/value.ts";
import { encodeXorChunks } from "../tsdb/chunkenc/samples.ts";
import type { SeriesWithChunks } from "../tsdb/series.ts";
import {
  decodeSeriesResponse,
  encodeSeriesResponseBatch,
  type SeriesRequest,
  type StoreInfo,
} from "../storeapi/codec.ts";
import type { SeriesItem, StoreBackend } from "../storeapi/server.ts";
import { loopbackStore } from "../storeapi/loopback.ts";
import { type ProxyStoreClient, StoreProxy } from "../storeapi/proxy.ts";
import { WARMUP_INSTANCES, warmupSeries } from "../store/warmup.ts";
import { labelsMatch } from "../store/lazy_postings.ts";
import { ProxyQueryable } from "./queryable.ts";
import { untraced } from "../tracing/tracer.ts";

/** Evaluation time of the warm-up queries: the end of the synthetic data, on no scrape step. */
const WARMUP_TIME = 1_700_000_000_000 - 7_000;
const SCRAPE_MS = 15_000;
/** Two hours of samples per series (four XOR chunks), as a store's newest block holds. */
const SAMPLES = 480;
/** Series per SeriesResponse message, as the querier asks its stores for. */
const RESPONSE_BATCH = 64;
/**
 * One-series queries per round through the in-memory StoreAPI connection: a call's transport
 * work is per call, so many small calls compile it (12 rounds: 2,040 calls) at little memory.
 */
export const WIRE_QUERIES_PER_ROUND = 170;

/** The round's `i`-th one-series query: the gauge of another instance each time. */
export function wireQuery(round: number, i: number): string {
  const instance = (round * WIRE_QUERIES_PER_ROUND + i) % WARMUP_INSTANCES;
  return `warmup_gauge{instance="host-${instance}:9100"}`;
}

/** The queries of one round: the shapes of node-exporter and API dashboards. */
const WARMUP_QUERIES: readonly string[] = [
  "warmup_gauge",
  'warmup_gauge{job="api"}',
  "count(warmup_gauge)",
  "count by (job) (warmup_gauge > 0)",
  "absent(warmup_missing)",
  "sum by (job) (rate(warmup_requests_total[5m]))",
  'sum without (instance) (rate(warmup_requests_total{code=~"5.."}[5m]))',
  "topk(3, sum by (instance) (irate(warmup_requests_total[5m])))",
  'increase(warmup_requests_total{code="200"}[1h])',
  "histogram_quantile(0.9, sum by (job, le) (rate(warmup_duration_seconds_bucket[5m])))",
  "1 - avg by (instance) (rate(warmup_requests_total[5m]))",
  "warmup_gauge / on (job, instance) group_left max by (job, instance) (warmup_gauge)",
  "max_over_time(warmup_gauge[1h])",
  "avg_over_time(warmup_gauge[30m])",
  "quantile_over_time(0.9, warmup_gauge[1h])",
  "deriv(warmup_gauge[1h])",
  "max_over_time(sum by (job) (rate(warmup_requests_total[5m]))[1h:1m])",
  'label_replace(warmup_gauge, "host", "$1", "instance", "(.*):.*")',
  "sort_desc(sum by (job) (warmup_gauge))",
  "count(count by (instance) (warmup_gauge))",
];

/** Rounds of a whole warm-up. */
export const WARMUP_ROUNDS = 12;

/** What a warm-up did. */
export interface WarmupReport {
  rounds: number;
  queries: number;
  ms: number;
}

/** Options of {@link warmInstantQueryPath}. */
export interface WarmupOptions {
  /** Rounds over the query list (default {@link WARMUP_ROUNDS}). */
  rounds?: number;
  /** Stop after the round that passes this many milliseconds (default 1,500). */
  budgetMs?: number;
  /** Stops the warm-up between queries (the role's shutdown). */
  signal?: AbortSignal;
  /** Called with each query and its answer's JSON (tests look at them). */
  onAnswer?: (query: string, json: string) => void;
}

/**
 * Runs the warm-up queries over synthetic series until `rounds` rounds are done, the budget is
 * spent or `signal` aborts. Each query's answer is encoded to JSON and dropped. Returns what it
 * did; throws only when a warm-up query fails (a bug: the queries and data are fixed).
 */
export function warmInstantQueryPath(opts: WarmupOptions = {}): Promise<WarmupReport> {
  // synthetic work no one asked for: no spans in the traces
  return untraced(() => warmRounds(opts));
}

async function warmRounds(opts: WarmupOptions): Promise<WarmupReport> {
  const rounds = opts.rounds ?? WARMUP_ROUNDS;
  const budgetMs = opts.budgetMs ?? 1500;
  const began = performance.now();
  const info: StoreInfo = {
    componentType: "store",
    labelSets: [],
    minTime: WARMUP_TIME - SAMPLES * SCRAPE_MS,
    maxTime: WARMUP_TIME,
  };
  const backend = syntheticStore(info);
  const proxy = new StoreProxy({
    endpoints: () => [{ name: "warmup", client: inProcessClient(backend), info }],
  });
  // the same series through a StoreAPI server and client in this process
  const loopback = loopbackStore(backend);
  const wireProxy = new StoreProxy({
    endpoints: () => [{ name: "warmup-wire", client: loopback.client, info }],
  });
  const engine = new Engine({});
  let round = 0;
  let queries = 0;
  /** Evaluates `query` through `through`; false when the signal aborted it. */
  const run = async (through: StoreProxy, query: string): Promise<boolean> => {
    const q = new ProxyQueryable(through, {
      partialResponse: false,
      dedup: true,
      replicaLabels: [],
      dedupFunc: "penalty",
    });
    let res;
    try {
      res = await engine.instantQuery(q, query, WARMUP_TIME, opts.signal);
    } catch (e) {
      // the engine refuses to start, or stops, a query whose signal aborted
      if (opts.signal?.aborted) return false;
      throw e;
    }
    let json = "";
    for (const piece of resultToJSONChunks(res.value)) json += piece;
    opts.onAnswer?.(query, json);
    queries++;
    return true;
  };
  try {
    rounds: while (round < rounds && performance.now() - began < budgetMs) {
      for (const query of WARMUP_QUERIES) if (!await run(proxy, query)) break rounds;
      for (let i = 0; i < WIRE_QUERIES_PER_ROUND; i++) {
        if (!await run(wireProxy, wireQuery(round, i))) break rounds;
      }
      round++;
    }
  } finally {
    await loopback.close();
  }
  return { rounds: round, queries, ms: performance.now() - began };
}

/** A StoreAPI backend over synthetic series ({@link syntheticSeries}). */
function syntheticStore(info: StoreInfo): StoreBackend {
  const all = syntheticSeries();
  const select = (req: SeriesRequest) => all.filter((s) => labelsMatch(s.labels, req.matchers));
  return {
    info: () => Promise.resolve(info),
    async *series(req: SeriesRequest): AsyncIterable<SeriesItem> {
      for (const s of select(req)) yield s;
    },
    async *seriesBatches(req: SeriesRequest): AsyncIterable<SeriesItem[]> {
      const picked = select(req);
      for (let i = 0; i < picked.length; i += RESPONSE_BATCH) {
        yield picked.slice(i, i + RESPONSE_BATCH);
      }
    },
    labelNames: () => Promise.resolve({ names: [], warnings: [] }),
    labelValues: () => Promise.resolve({ values: [], warnings: [] }),
  };
}

/**
 * `backend`'s answers as a StoreClient delivers them, without a connection: each batch encoded
 * as a SeriesResponse message and decoded again.
 */
function inProcessClient(backend: StoreBackend): ProxyStoreClient {
  const noSignal = new AbortController().signal;
  return {
    series: (req: SeriesRequest, signal?: AbortSignal) => backend.series(req, signal ?? noSignal),
    async *seriesBatches(req: SeriesRequest): AsyncIterable<SeriesItem[]> {
      for await (const batch of backend.seriesBatches!(req, noSignal)) {
        const res = decodeSeriesResponse(encodeSeriesResponseBatch(batch as SeriesWithChunks[]));
        if (res !== null && "batch" in res) yield res.batch;
      }
    },
    labelNames: (req, signal) => backend.labelNames(req, signal ?? noSignal),
    labelValues: (req, signal) => backend.labelValues(req, signal ?? noSignal),
  };
}

/** {@link warmupSeries} ending at the evaluation time, as XOR chunks. */
function syntheticSeries(): SeriesWithChunks[] {
  return warmupSeries(WARMUP_TIME - SAMPLES * SCRAPE_MS).map((s) => ({
    labels: s.labels,
    chunks: encodeXorChunks({ ts: s.ts, vs: s.vs, n: s.ts.length }),
  }));
}
