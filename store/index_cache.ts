// In-memory LRU index cache of the store gateway (`--index-cache-size`,
// https://thanos.io/tip/components/store.md/#in-memory-index-cache; Thanos's
// https://github.com/thanos-io/thanos/blob/main/pkg/store/cache/inmemory.go): postings lists per
// block and matcher, and decoded series entries per block and ref, bounded by their estimated size
// in bytes. Metric names follow Thanos's `thanos_store_index_cache_*`.

import { parse as parseYaml } from "yaml";
import { parseBase2Bytes } from "../strconv/bytes.ts";
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

/** Options of an {@link IndexCache}, as Thanos's IN-MEMORY index cache config names them. */
export interface IndexCacheOptions {
  registry?: Registry;
  /** Largest single item (`max_item_size`); default half of `maxBytes`. */
  maxItemBytes?: number;
  /** Item types cached (`enabled_items`); default all. */
  enabledItems?: readonly CacheItemType[];
}

/** An LRU cache bounded by bytes. `maxBytes` 0 disables it (every get misses, sets are dropped). */
export class IndexCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private readonly maxItemBytes: number;
  private readonly enabled?: ReadonlySet<CacheItemType>;
  private readonly metrics?: CacheMetrics;

  constructor(readonly maxBytes: number, opts: IndexCacheOptions = {}) {
    // one item may not take more than half the cache, so a huge list cannot flush everything
    this.maxItemBytes = opts.maxItemBytes ?? Math.floor(maxBytes / 2);
    if (opts.enabledItems) this.enabled = new Set(opts.enabledItems);
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
      reg.gauge({
        name: "thanos_store_index_cache_max_item_size_bytes",
        help: "Maximum number of bytes for single entry to be held in the index cache.",
      }).set(this.maxItemBytes);
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
    if (this.maxBytes <= 0 || (this.enabled && !this.enabled.has(type))) return undefined;
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
    if (this.maxBytes <= 0 || (this.enabled && !this.enabled.has(type))) return;
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

/** An index cache configuration as `--index-cache.config` gives it, for the IN-MEMORY type. */
export interface InMemoryIndexCacheConfig {
  maxBytes: number;
  maxItemBytes: number;
  /** Undefined: every item type. */
  enabledItems?: CacheItemType[];
}

/** An `--index-cache.config` this build cannot serve or that is malformed. */
export class IndexCacheConfigError extends Error {
  override name = "IndexCacheConfigError";
}

const MIB = 1024 * 1024;

/**
 * Reads Thanos's index cache configuration (https://thanos.io/tip/components/store.md/#index-cache):
 * `type` (case-insensitive) and `config`. IN-MEMORY: `max_size` (default 250MiB),
 * `max_item_size` (default 125MiB, at most `max_size`), `enabled_items` (`Postings`, `Series`,
 * `ExpandedPostings`; this build caches no expanded postings), `ttl` (no effect, as in Thanos).
 * MEMCACHED and REDIS are refused until the cache clients are in this build.
 */
export function parseIndexCacheConfig(text: string): InMemoryIndexCacheConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new IndexCacheConfigError(`parsing index cache config YAML: ${(e as Error).message}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new IndexCacheConfigError("index cache config: want a mapping with type and config");
  }
  const { type, config = {}, ...rest } = doc as Record<string, unknown>;
  const unknownTop = Object.keys(rest);
  if (unknownTop.length > 0) {
    throw new IndexCacheConfigError(`index cache config: unknown field ${unknownTop[0]}`);
  }
  const kind = String(type ?? "").toUpperCase();
  if (kind === "MEMCACHED" || kind === "REDIS") {
    throw new IndexCacheConfigError(
      `index cache type ${kind} is not in this build yet; use type IN-MEMORY`,
    );
  }
  if (kind !== "IN-MEMORY") {
    throw new IndexCacheConfigError(
      `unsupported index cache type ${JSON.stringify(type ?? "")}: want IN-MEMORY, MEMCACHED ` +
        "or REDIS",
    );
  }
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new IndexCacheConfigError("index cache config: config must be a mapping");
  }
  const c = config as Record<string, unknown>;
  for (const k of Object.keys(c)) {
    if (!["max_size", "max_item_size", "enabled_items", "ttl"].includes(k)) {
      throw new IndexCacheConfigError(`index cache config: unknown field config.${k}`);
    }
  }
  const bytes = (field: string, def: number): number => {
    const v = c[field];
    if (v === undefined || v === null) return def;
    const n = typeof v === "number" ? v : parseBase2Bytes(String(v));
    if (n === undefined || !Number.isInteger(n) || n < 0) {
      throw new IndexCacheConfigError(
        `index cache config: invalid ${field} ${JSON.stringify(v)}: want a byte size like 250MB`,
      );
    }
    return n;
  };
  // unset or 0 fields keep Thanos's defaults (DefaultInMemoryIndexCacheConfig)
  const maxBytes = bytes("max_size", 0) || 250 * MIB;
  const maxItemBytes = bytes("max_item_size", 0) || 125 * MIB;
  if (maxItemBytes > maxBytes) {
    throw new IndexCacheConfigError(
      `index cache config: max_item_size (${maxItemBytes}) must not exceed max_size (${maxBytes})`,
    );
  }
  const out: InMemoryIndexCacheConfig = { maxBytes, maxItemBytes };
  const items = c.enabled_items;
  if (items !== undefined && items !== null) {
    if (!Array.isArray(items)) {
      throw new IndexCacheConfigError("index cache config: enabled_items must be a list");
    }
    if (items.length > 0) {
      out.enabledItems = [];
      for (const it of items) {
        if (it === "Postings" || it === "Series") out.enabledItems.push(it);
        else if (it !== "ExpandedPostings") {
          throw new IndexCacheConfigError(
            `index cache config: unsupported item type ${JSON.stringify(it)}: want Postings, ` +
              "Series or ExpandedPostings",
          );
        }
      }
    }
  }
  return out;
}
