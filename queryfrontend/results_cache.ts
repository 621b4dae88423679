// The results cache of range queries (Cortex's results_cache.go as used by Thanos' frontend,
// https://thanos.io/tip/components/query-frontend.md/#caching): per split part a key made of
// the query, step, split interval and interval index (plus the step grid's phase and Thanos'
// request options), holding "extents" — time ranges already answered with their samples. A
// request is answered from the extents that overlap it and only the missing ranges go
// downstream; new results are merged into the extents, never past the max-freshness window.
// Values are JSON, optionally snappy-compressed (`--cache-compression-type`); the full key is
// stored inside so a hash collision is a miss.

import { snappyBlockCompress, snappyBlockUncompress } from "../storeapi/snappy.ts";
import type { Cache } from "../cache/cache.ts";
import { fnv64a } from "../cache/memcached.ts";
import type { Counter, Histogram, Registry } from "../metrics/registry.ts";
import { cutMatrix, type Matrix, mergeMatrices } from "./matrix.ts";
import type { TimeRange } from "./split.ts";

/** A time range already answered, with its samples (points on the key's step grid). */
export interface Extent extends TimeRange {
  matrix: Matrix;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * The missing ranges of `req` (points start + k·step up to end) given cached extents, and the
 * cached samples that overlap it. Ranges are on the request's grid.
 */
export function partition(
  req: TimeRange,
  step: number,
  extents: readonly Extent[],
): { missing: TimeRange[]; cached: Matrix[] } {
  const last = req.start + Math.floor((req.end - req.start) / step) * step;
  const missing: TimeRange[] = [];
  const cached: Matrix[] = [];
  let cursor = req.start;
  const sorted = [...extents].sort((a, b) => a.start - b.start);
  for (const x of sorted) {
    if (cursor > last) break;
    if (x.end < cursor || x.start > last) continue;
    if (x.start > cursor) {
      const before = cursor + Math.floor((x.start - 1 - cursor) / step) * step;
      if (before >= cursor) missing.push({ start: cursor, end: before });
    }
    cached.push(cutMatrix(x.matrix, Math.max(cursor, x.start), Math.min(last, x.end)));
    cursor = cursor + (Math.floor((x.end - cursor) / step) + 1) * step;
  }
  if (cursor <= last) missing.push({ start: cursor, end: req.end });
  return { missing, cached };
}

/** Adds extents and merges those that overlap or touch (the next grid point follows). */
export function mergeExtents(extents: readonly Extent[], step: number): Extent[] {
  const sorted = [...extents].sort((a, b) => a.start - b.start);
  const out: Extent[] = [];
  for (const x of sorted) {
    const cur = out[out.length - 1];
    if (cur !== undefined && x.start <= cur.end + step) {
      cur.matrix = mergeMatrices([cur.matrix, x.matrix]);
      cur.end = Math.max(cur.end, x.end);
    } else {
      out.push({ start: x.start, end: x.end, matrix: x.matrix });
    }
  }
  return out;
}

/** Metrics of the results cache (Cortex's instrumented cache names). */
export interface ResultsCacheMetrics {
  fetchedKeys: Counter;
  hits: Counter;
  duration: Histogram;
}

/** Registers the results cache metrics. */
export function resultsCacheMetrics(registry: Registry): ResultsCacheMetrics {
  return {
    fetchedKeys: registry.counter({
      name: "cortex_cache_fetched_keys_total",
      help: "Total count of keys requested from cache.",
      labelNames: ["name"],
    }),
    hits: registry.counter({
      name: "cortex_cache_hits_total",
      help: "Total count of keys found in cache.",
      labelNames: ["name"],
    }),
    duration: registry.histogram({
      name: "cortex_cache_request_duration_seconds",
      help: "Total time spent in seconds doing cache requests.",
      labelNames: ["method", "name", "status_code"],
    }),
  };
}

/** Extents stored in a Cache under hashed keys. */
export class ExtentCache {
  constructor(
    private readonly cache: Cache,
    private readonly name: string,
    private readonly snappy: boolean,
    private readonly metrics: ResultsCacheMetrics,
  ) {}

  static hashKey(key: string): string {
    return "fe:" + fnv64a(key).toString(16).padStart(16, "0");
  }

  /** The extents stored for `key` (none on a miss or a failure). */
  async get(key: string): Promise<Extent[]> {
    const start = performance.now();
    const h = ExtentCache.hashKey(key);
    this.metrics.fetchedKeys.inc({ name: this.name });
    const got = (await this.cache.fetch([h])).get(h);
    this.metrics.duration.observe(
      { method: "fetch", name: this.name, status_code: "200" },
      (performance.now() - start) / 1000,
    );
    if (got === undefined) return [];
    try {
      const raw = got[0] === 1 ? snappyBlockUncompress(got.subarray(1), 1 << 28) : got.subarray(1);
      const v = JSON.parse(dec.decode(raw)) as {
        k: string;
        e: { s: number; e: number; m: [string[], [number, string][]][] }[];
      };
      if (v.k !== key) return [];
      this.metrics.hits.inc({ name: this.name });
      return v.e.map((x) => ({
        start: x.s,
        end: x.e,
        matrix: x.m.map(([labels, points]) => ({ labels, points })),
      }));
    } catch {
      return [];
    }
  }

  /** Stores the extents of `key` for `ttlMs`. */
  async put(key: string, extents: readonly Extent[], ttlMs: number): Promise<void> {
    const start = performance.now();
    const body = enc.encode(JSON.stringify({
      k: key,
      e: extents.map((x) => ({
        s: x.start,
        e: x.end,
        m: x.matrix.map((s) => [s.labels, s.points]),
      })),
    }));
    const payload = this.snappy ? snappyBlockCompress(body) : body;
    const value = new Uint8Array(payload.length + 1);
    value[0] = this.snappy ? 1 : 0;
    value.set(payload, 1);
    await this.cache.store(new Map([[ExtentCache.hashKey(key), value]]), ttlMs);
    this.metrics.duration.observe(
      { method: "store", name: this.name, status_code: "200" },
      (performance.now() - start) / 1000,
    );
  }
}
