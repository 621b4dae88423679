// The compiled-matcher cache of `--matcher-cache-size` (Thanos's storecache.MatchersCache:
// https://github.com/thanos-io/thanos/blob/main/pkg/store/cache/matchers_cache.go): the regex
// matchers (`=~`, `!~`) of incoming StoreAPI requests are compiled once per distinct
// (name, type, value) and reused from an LRU of at most `size` entries; `=` and `!=` matchers are
// cheap and not cached. Matchers are immutable, so requests share them.

import type { Counter, Gauge, Registry } from "../metrics/registry.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import { CountLru } from "../runutil/lru.ts";

/** Builds a matcher from a request's fields (compiles its regex). */
export type MatcherFactory = (type: MatchType, name: string, value: string) => Matcher;

/** Compiles without caching. */
export const newMatcher: MatcherFactory = (type, name, value) => new Matcher(type, name, value);

interface Metrics {
  requests: Counter;
  hits: Counter;
  items: Gauge;
  maxItems: Gauge;
  evicted: Counter;
}

/** An LRU of compiled regex matchers, by count, with Thanos's `thanos_matchers_cache_*` metrics. */
export class MatchersCache {
  private readonly items: CountLru<string, Matcher>;
  private readonly metrics?: Metrics;

  constructor(readonly size: number, registry?: Registry) {
    if (!(size > 0)) throw new RangeError(`matcher cache size must be positive, got ${size}`);
    this.items = new CountLru(size);
    if (registry) {
      this.metrics = {
        requests: registry.counter({
          name: "thanos_matchers_cache_requests_total",
          help: "Total number of cache requests for series matchers",
        }),
        hits: registry.counter({
          name: "thanos_matchers_cache_hits_total",
          help: "Total number of cache hits for series matchers",
        }),
        items: registry.gauge({
          name: "thanos_matchers_cache_items",
          help: "Total number of cached items",
        }),
        maxItems: registry.gauge({
          name: "thanos_matchers_cache_max_items",
          help: "Maximum number of items that can be cached",
        }),
        evicted: registry.counter({
          name: "thanos_matchers_cache_evicted_total",
          help: "Total number of items evicted from the cache",
        }),
      };
      this.metrics.maxItems.set(size);
    }
  }

  /** Entries held. */
  get length(): number {
    return this.items.size;
  }

  /** The cached matcher for the fields, or a new one (cached when it is a regex matcher). */
  readonly get: MatcherFactory = (type, name, value) => {
    if (type !== MatchType.Regexp && type !== MatchType.NotRegexp) {
      return new Matcher(type, name, value);
    }
    const m = this.metrics;
    m?.requests.inc();
    const key = `${name}\u0000${type}\u0000${value}`;
    const hit = this.items.get(key);
    if (hit) {
      m?.hits.inc();
      return hit;
    }
    // a regex that does not compile throws here and is not cached
    const made = new Matcher(type, name, value);
    const dropped = this.items.set(key, made);
    if (dropped > 0) m?.evicted.inc(dropped);
    m?.items.set(this.items.size);
    return made;
  };
}
