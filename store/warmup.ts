// Warms the store gateway's Series path right after start (issue 19): V8 runs a function in its
// interpreter until it has been called often enough to be compiled, so the first Series calls
// after a start took 3–5× the time of the same calls later. A small synthetic block in a scratch
// folder of the data dir is read by a bucket store of its own (own index cache, metrics and
// index headers: the real store, its caches and its bucket are not touched) with the selectors
// of dashboard queries and with one series of another instance each call, read through a
// second store with an index cache too small to keep it (its postings and entry come from the
// bucket each time: the index-header lookup and bucket reads of "another series each time"),
// and each answer is encoded as SeriesResponse batches (the one-series calls through a StoreAPI
// server and client in this process, over an in-memory HTTP/2 connection: storeapi/loopback.ts),
// for a bounded number of rounds; the folder is removed afterwards.

import { MetaSyncer } from "../block/fetcher.ts";
import { Logger } from "../logging/log.ts";
import { Registry } from "../metrics/registry.ts";
import { FilesystemBucket } from "../objstore/filesystem.ts";
import { InstrumentedBucket } from "../objstore/instrumented.ts";
import { encodeSeriesResponseBatch } from "../storeapi/codec.ts";
import { loopbackStore } from "../storeapi/loopback.ts";
import { type RawSeries, writeBlock } from "../tsdb/block_writer.ts";
import { compareLabels } from "../tsdb/labels.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import type { SeriesWithChunks } from "../tsdb/series.ts";
import { BucketStore } from "./bucket_store.ts";
import { untraced } from "../tracing/tracer.ts";

const H = 3_600_000;
/** The synthetic block's start: a 2-hour boundary. */
const BLOCK_START = 1_699_992_000_000;
const SCRAPE_MS = 15_000;
const SAMPLES = 480;
/** Instances of the synthetic series (8 series each). */
export const WARMUP_INSTANCES = 48;
/** The index cache of the one-series selectors' store: it keeps no round's items for long. */
const MISS_CACHE_BYTES = 4096;
/** Series per SeriesResponse message, as the querier asks for. */
const RESPONSE_BATCH = 64;

/** The selectors of one round: a metric name alone, with an equality and with a regex matcher. */
const WARMUP_SELECTORS: readonly Matcher[][] = [
  [new Matcher(MatchType.Equal, "__name__", "warmup_gauge")],
  [
    new Matcher(MatchType.Equal, "__name__", "warmup_gauge"),
    new Matcher(MatchType.Equal, "job", "api"),
  ],
  [
    new Matcher(MatchType.Equal, "__name__", "warmup_requests_total"),
    new Matcher(MatchType.Regexp, "code", "5.."),
  ],
  [
    new Matcher(MatchType.Equal, "__name__", "warmup_requests_total"),
    new Matcher(MatchType.NotEqual, "code", "200"),
  ],
  [new Matcher(MatchType.Equal, "__name__", "warmup_duration_seconds_bucket")],
];

/**
 * One-series selectors per round, each read through the in-memory StoreAPI connection: a call's
 * transport work is per call, so many small calls compile it at little memory (300 rounds: 2,100
 * calls; with 300 the first real queries after a start took 3–10 % more time in
 * bench/instant_cpu.ts).
 */
export const WIRE_CALLS_PER_ROUND = 7;

/**
 * The selectors of round `round`: {@link WARMUP_SELECTORS}, then the gauges of
 * {@link WIRE_CALLS_PER_ROUND} instances, the next ones after the previous round's (another
 * series each call).
 */
export function warmupSelectors(round: number): Matcher[][] {
  const out = [...WARMUP_SELECTORS];
  for (let k = 0; k < WIRE_CALLS_PER_ROUND; k++) {
    const instance = `host-${(round * WIRE_CALLS_PER_ROUND + k) % WARMUP_INSTANCES}:9100`;
    out.push([
      new Matcher(MatchType.Equal, "__name__", "warmup_gauge"),
      new Matcher(MatchType.Equal, "instance", instance),
    ]);
  }
  return out;
}

/** What a warm-up did. */
export interface StoreWarmupReport {
  rounds: number;
  calls: number;
  series: number;
  /** Calls read through the small index cache (a round's one-series selector). */
  uncachedCalls: number;
  ms: number;
}

/** Options of {@link warmSeriesPath}. */
export interface StoreWarmupOptions {
  /** A folder the warm-up may create and remove (`<data dir>/warmup`). */
  dir: string;
  /**
   * Rounds over the selectors (default 300: V8 compiles a function with its optimizing compiler
   * only after thousands of calls; 30 rounds left the Series path to be compiled during the
   * first ~2,000 real calls, on V8's worker threads and in slower tiers meanwhile).
   */
  rounds?: number;
  /** Stop after the round that passes this many milliseconds (default 1,500). */
  budgetMs?: number;
  /** Stops the warm-up between calls (the role's shutdown). */
  signal?: AbortSignal;
}

/**
 * Writes the synthetic block under `dir`, reads it with the warm-up selectors until `rounds`
 * rounds are done, the budget is spent or `signal` aborts, and removes `dir`. Returns what it
 * did; throws when the block cannot be written or read (the folder is removed all the same).
 */
export function warmSeriesPath(opts: StoreWarmupOptions): Promise<StoreWarmupReport> {
  // synthetic work no one asked for: no spans in the traces
  return untraced(() => warmRounds(opts));
}

async function warmRounds(opts: StoreWarmupOptions): Promise<StoreWarmupReport> {
  const rounds = opts.rounds ?? 300;
  const budgetMs = opts.budgetMs ?? 1500;
  const began = performance.now();
  const report = { rounds: 0, calls: 0, series: 0, uncachedCalls: 0, ms: 0 };
  await Deno.remove(opts.dir, { recursive: true }).catch(() => {});
  const bucketDir = `${opts.dir}/bucket`;
  await Deno.mkdir(bucketDir, { recursive: true });
  const registry = new Registry();
  // wrapped as a role's bucket is (objstore/config.ts), so its range reads take the same path
  const bucket = new InstrumentedBucket(new FilesystemBucket(bucketDir), { registry });
  const newStore = (name: string, indexCacheBytes?: number) => {
    const storeRegistry = new Registry();
    return new BucketStore(bucket, {
      syncer: new MetaSyncer(bucket, {
        registry: storeRegistry,
        cacheDir: `${opts.dir}/meta-syncer-${name}`,
      }),
      logger: new Logger("error", "logfmt", {}, () => {}),
      registry: storeRegistry,
      dataDir: `${opts.dir}/${name}`,
      indexCacheBytes,
    });
  };
  // a round's one-series selectors (after the dashboard ones) read through an index cache too
  // small to keep their items: their lookups miss and fetch from the bucket, as a query of a
  // series not read before does
  const stores = [newStore("data"), newStore("data-miss", MISS_CACHE_BYTES)];
  // the one-series calls take a StoreAPI call's whole way, through a server and client in this
  // process (gRPC and HTTP/2 framing, the server's Series encoder): a call's transport work is
  // per call, so many small calls compile it at little memory
  const wire = loopbackStore(stores[1]);
  try {
    await writeBlock(bucketDir, warmupSeries(), {
      minTime: BLOCK_START,
      maxTime: BLOCK_START + 2 * H,
    });
    for (const store of stores) await store.syncBlocks(opts.signal);
    const signal = opts.signal ?? new AbortController().signal; // one for every call
    outer: while (report.rounds < rounds && performance.now() - began < budgetMs) {
      const selectors = warmupSelectors(report.rounds);
      for (let i = 0; i < selectors.length; i++) {
        const matchers = selectors[i];
        if (opts.signal?.aborted) break outer;
        const req = {
          minTime: BLOCK_START + H,
          maxTime: BLOCK_START + 2 * H,
          matchers,
          responseBatchSize: RESPONSE_BATCH,
        };
        const uncached = i >= WARMUP_SELECTORS.length;
        if (uncached) {
          report.uncachedCalls++;
          for await (const items of wire.client.seriesBatches(req, signal)) {
            for (const item of items) if (!("warning" in item)) report.series++;
          }
        } else {
          let batch: SeriesWithChunks[] = [];
          for await (const items of stores[0].seriesBatches(req, signal)) {
            for (const item of items) {
              if ("warning" in item) continue;
              batch.push(item);
              report.series++;
              if (batch.length === RESPONSE_BATCH) {
                encodeSeriesResponseBatch(batch);
                batch = [];
              }
            }
          }
          if (batch.length > 0) encodeSeriesResponseBatch(batch);
        }
        report.calls++;
      }
      report.rounds++;
    }
  } finally {
    await wire.close().catch(() => {});
    for (const store of stores) await store.close().catch(() => {});
    await bucket.close();
    await Deno.remove(opts.dir, { recursive: true }).catch(() => {});
  }
  report.ms = performance.now() - began;
  return report;
}

/**
 * The warm-ups' synthetic series (also the querier's, query/warmup.ts): counters, gauges and
 * histogram buckets of `instances` instances of 2 jobs, 480 samples at 15 s from `start`, sorted
 * by labels.
 */
export function warmupSeries(start = BLOCK_START, instances = WARMUP_INSTANCES): RawSeries[] {
  const out: RawSeries[] = [];
  let seed = 1;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const add = (labels: string[], counter: boolean) => {
    const ts = new Float64Array(SAMPLES);
    const vs = new Float64Array(SAMPLES);
    let v = 0;
    for (let i = 0; i < SAMPLES; i++) {
      ts[i] = start + i * SCRAPE_MS + 1_000;
      v = counter ? v + Math.floor(random() * 10) : random() * 100;
      vs[i] = v;
    }
    out.push({ labels, ts, vs });
  };
  for (let i = 0; i < instances; i++) {
    const job = i % 2 === 0 ? "api" : "db";
    const instance = `host-${i}:9100`;
    for (const code of ["200", "404", "500"]) {
      add(
        ["__name__", "warmup_requests_total", "code", code, "instance", instance, "job", job],
        true,
      );
    }
    add(["__name__", "warmup_gauge", "instance", instance, "job", job], false);
    for (const le of ["0.1", "0.5", "1", "+Inf"]) {
      add(
        ["__name__", "warmup_duration_seconds_bucket", "instance", instance, "job", job, "le", le],
        true,
      );
    }
  }
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}
