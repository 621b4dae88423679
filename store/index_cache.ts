// In-memory LRU index cache of the store gateway (`--index-cache-size`,
// https://thanos.io/tip/components/store.md/#in-memory-index-cache; Thanos's
// https://github.com/thanos-io/thanos/blob/main/pkg/store/cache/inmemory.go): postings lists per
// block and matcher, and decoded series entries per block and ref, bounded by their estimated size
// in bytes. Metric names follow Thanos's `thanos_store_index_cache_*`.

import type { Counter, Gauge, Registry } from "../metrics/registry.ts";
import type { IndexSeries } from "../tsdb/index/reader.ts";

/** Kinds of cached items, as Thanos's `item_type` label. */
export type CacheItemType = "Postings" | "Series";

interface Entry {
  type: CacheItemType;
  value: Uint32Array | IndexSeries;
  size: number;
}

/** Fixed per-entry overhead estimate (map entry, key string, object headers). */
const ENTRY_OVERHEAD = 96;

/** Estimated bytes held by a decoded series entry. */
export function seriesSize(s: IndexSeries): number {
  let n = 64 + s.chunks.length * 48;
  for (const l of s.labels) n += 16 + 2 * l.length;
  return n;
}

interface CacheMetrics {
  requests: Counter;
  hits: Counter;
  added: Counter;
  evicted: Counter;
  items: Gauge;
  size: Gauge;
}

/** An LRU cache bounded by bytes. `maxBytes` 0 disables it (every get misses, sets are dropped). */
export class IndexCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private readonly maxItemBytes: number;
  private readonly metrics?: CacheMetrics;

  constructor(readonly maxBytes: number, opts: { registry?: Registry } = {}) {
    // one item may not take more than half the cache, so a huge list cannot flush everything
    this.maxItemBytes = Math.floor(maxBytes / 2);
    const reg = opts.registry;
    if (reg) {
      const lbl = ["item_type"];
      this.metrics = {
        requests: reg.counter({
          name: "thanos_store_index_cache_requests_total",
          help: "Total number of items requests to the cache.",
          labelNames: lbl,
        }),
        hits: reg.counter({
          name: "thanos_store_index_cache_hits_total",
          help: "Total number of items requests to the cache that were a hit.",
          labelNames: lbl,
        }),
        added: reg.counter({
          name: "thanos_store_index_cache_items_added_total",
          help: "Total number of items that were added to the index cache.",
          labelNames: lbl,
        }),
        evicted: reg.counter({
          name: "thanos_store_index_cache_items_evicted_total",
          help: "Total number of items that were evicted from the index cache.",
          labelNames: lbl,
        }),
        items: reg.gauge({
          name: "thanos_store_index_cache_items",
          help: "Current number of items in the index cache.",
          labelNames: lbl,
        }),
        size: reg.gauge({
          name: "thanos_store_index_cache_total_size_bytes",
          help: "Current byte size of items (both value and key) in the index cache.",
          labelNames: lbl,
        }),
      };
      reg.gauge({
        name: "thanos_store_index_cache_max_size_bytes",
        help: "Maximum number of bytes to be held in the index cache.",
      }).set(maxBytes);
      for (const t of ["Postings", "Series"]) {
        this.metrics.items.set({ item_type: t }, 0);
        this.metrics.size.set({ item_type: t }, 0);
      }
    }
  }

  /** Bytes currently held (estimated). */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** Number of items held. */
  get itemCount(): number {
    return this.entries.size;
  }

  private get<T extends Uint32Array | IndexSeries>(
    type: CacheItemType,
    key: string,
  ): T | undefined {
    if (this.maxBytes <= 0) return undefined;
    this.metrics?.requests.inc({ item_type: type });
    const e = this.entries.get(key);
    if (!e) return undefined;
    // move to the most recently used end
    this.entries.delete(key);
    this.entries.set(key, e);
    this.metrics?.hits.inc({ item_type: type });
    return e.value as T;
  }

  private set(type: CacheItemType, key: string, value: Uint32Array | IndexSeries, size: number) {
    if (this.maxBytes <= 0) return;
    const total = size + ENTRY_OVERHEAD + 2 * key.length;
    if (total > this.maxItemBytes) return;
    const old = this.entries.get(key);
    if (old) this.remove(key, old, false);
    while (this.bytes + total > this.maxBytes && this.entries.size > 0) {
      const [k, e] = this.entries.entries().next().value as [string, Entry];
      this.remove(k, e, true);
    }
    this.entries.set(key, { type, value, size: total });
    this.bytes += total;
    this.metrics?.added.inc({ item_type: type });
    this.metrics?.items.inc({ item_type: type });
    this.metrics?.size.inc({ item_type: type }, total);
  }

  private remove(key: string, e: Entry, evicted: boolean): void {
    this.entries.delete(key);
    this.bytes -= e.size;
    if (evicted) this.metrics?.evicted.inc({ item_type: e.type });
    this.metrics?.items.dec({ item_type: e.type });
    this.metrics?.size.dec({ item_type: e.type }, e.size);
  }

  /** Cached postings of `block` for `key` (a matcher's canonical form). */
  getPostings(block: string, key: string): Uint32Array | undefined {
    return this.get<Uint32Array>("Postings", `P:${block}:${key}`);
  }

  /** Caches postings of `block` for `key`. */
  setPostings(block: string, key: string, postings: Uint32Array): void {
    this.set("Postings", `P:${block}:${key}`, postings, postings.byteLength);
  }

  /** Cached series entry `ref` of `block`. */
  getSeries(block: string, ref: number): IndexSeries | undefined {
    return this.get<IndexSeries>("Series", `S:${block}:${ref}`);
  }

  /** Caches series entry `ref` of `block`. */
  setSeries(block: string, ref: number, s: IndexSeries): void {
    this.set("Series", `S:${block}:${ref}`, s, seriesSize(s));
  }

  /** Drops every item of `block` (after the block was unloaded). */
  dropBlock(block: string): void {
    const infix = `:${block}:`;
    for (const [k, e] of [...this.entries]) {
      if (k.startsWith("P" + infix) || k.startsWith("S" + infix)) this.remove(k, e, false);
    }
  }
}
