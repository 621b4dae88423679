// In-memory backend: an LRU bounded by total bytes (`max_size`) and/or item count
// (`max_size_items`), items expire after `validity` or the TTL given to store
// (https://thanos.io/tip/components/query-frontend.md/#in-memory). Metric names follow Thanos'
// pkg/cache/inmemory.go (`thanos_cache_inmemory_*`).

import type { Counter, Gauge, Registry } from "../metrics/registry.ts";
import type { Cache } from "./cache.ts";
import type { InMemoryConfig } from "./config.ts";

interface Entry {
  value: Uint8Array;
  size: number;
  expiresAt: number;
}

/** Options of {@link InMemoryCache}. */
export interface InMemoryCacheOptions {
  name: string;
  config: InMemoryConfig;
  registry: Registry;
  /** Clock (ms), for tests. */
  now?: () => number;
}

/** The in-memory backend. */
export class InMemoryCache implements Cache {
  readonly name: string;
  readonly #cfg: InMemoryConfig;
  /** Map order is recency order: oldest first. */
  readonly #items = new Map<string, Entry>();
  #bytes = 0;
  readonly #now: () => number;
  readonly #requests: Counter;
  readonly #hits: Counter;
  readonly #expiredHits: Counter;
  readonly #added: Counter;
  readonly #evicted: Counter;
  readonly #overflowed: Counter;
  readonly #itemsGauge: Gauge;
  readonly #bytesGauge: Gauge;

  constructor(o: InMemoryCacheOptions) {
    this.name = o.name;
    this.#cfg = o.config;
    this.#now = o.now ?? Date.now;
    const r = o.registry;
    const c = (name: string, help: string) =>
      r.counter({ name: `thanos_cache_inmemory_${name}`, help, labelNames: ["name"] });
    this.#requests = c("requests_total", "Total number of requests to the inmemory cache.");
    this.#hits = c("hits_total", "Total number of requests to the inmemory cache that were a hit.");
    this.#expiredHits = c(
      "hits_on_expired_data_total",
      "Total number of requests to the inmemory cache that were a hit but needed to be evicted due to TTL.",
    );
    this.#added = c(
      "items_added_total",
      "Total number of items that were added to the inmemory cache.",
    );
    this.#evicted = c(
      "items_evicted_total",
      "Total number of items that were evicted from the inmemory cache.",
    );
    this.#overflowed = c(
      "items_overflowed_total",
      "Total number of items that could not be added to the inmemory cache due to being too big.",
    );
    this.#itemsGauge = r.gauge({
      name: "thanos_cache_inmemory_items",
      help: "Current number of items in the inmemory cache.",
      labelNames: ["name"],
    });
    this.#bytesGauge = r.gauge({
      name: "thanos_cache_inmemory_items_size_bytes",
      help: "Current byte size of items in the inmemory cache.",
      labelNames: ["name"],
    });
    for (const m of [this.#requests, this.#hits, this.#added, this.#evicted]) {
      m.inc({ name: this.name }, 0);
    }
    this.#gauges();
  }

  #gauges(): void {
    this.#itemsGauge.set({ name: this.name }, this.#items.size);
    this.#bytesGauge.set({ name: this.name }, this.#bytes);
  }

  #remove(key: string, e: Entry): void {
    this.#items.delete(key);
    this.#bytes -= e.size;
  }

  fetch(keys: readonly string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    const now = this.#now();
    for (const k of keys) {
      this.#requests.inc({ name: this.name });
      const e = this.#items.get(k);
      if (e === undefined) continue;
      if (e.expiresAt <= now) {
        this.#expiredHits.inc({ name: this.name });
        this.#remove(k, e);
        continue;
      }
      // refresh recency
      this.#items.delete(k);
      this.#items.set(k, e);
      this.#hits.inc({ name: this.name });
      out.set(k, e.value);
    }
    this.#gauges();
    return Promise.resolve(out);
  }

  store(entries: ReadonlyMap<string, Uint8Array>, ttlMs: number): Promise<void> {
    const now = this.#now();
    const maxBytes = this.#cfg.maxSizeBytes;
    const maxItems = this.#cfg.maxSizeItems;
    for (const [k, v] of entries) {
      const size = v.length + k.length;
      if (maxBytes > 0 && size > maxBytes) {
        this.#overflowed.inc({ name: this.name });
        continue;
      }
      const old = this.#items.get(k);
      if (old !== undefined) this.#remove(k, old);
      let ttl = ttlMs > 0 ? ttlMs : Infinity;
      if (this.#cfg.validityMs > 0) ttl = Math.min(ttl, this.#cfg.validityMs);
      // evict least recently used items until the new one fits
      for (const [ok, oe] of this.#items) {
        const fits = (maxBytes <= 0 || this.#bytes + size <= maxBytes) &&
          (maxItems <= 0 || this.#items.size + 1 <= maxItems);
        if (fits) break;
        this.#remove(ok, oe);
        this.#evicted.inc({ name: this.name });
      }
      this.#items.set(k, { value: v, size, expiresAt: now + ttl });
      this.#bytes += size;
      this.#added.inc({ name: this.name });
    }
    this.#gauges();
    return Promise.resolve();
  }

  close(): void {
    this.#items.clear();
    this.#bytes = 0;
    this.#gauges();
  }
}
