// Builds a Cache from a parsed configuration (cache/config.ts).

import type { Registry } from "../metrics/registry.ts";
import type { Logger } from "../logging/log.ts";
import type { Cache } from "./cache.ts";
import { type CacheConfig, CacheConfigError } from "./config.ts";
import { InMemoryCache } from "./inmemory.ts";
import { MemcachedCache } from "./memcached.ts";
import { RedisCache } from "./redis.ts";

/** Creates the backend `cfg` names; `name` labels its metrics (e.g. `query-range`). */
export function newCache(
  cfg: CacheConfig,
  o: { name: string; registry: Registry; logger?: Logger },
): Cache {
  switch (cfg.type) {
    case "IN-MEMORY":
      if (cfg.config.maxSizeBytes === 0 && cfg.config.maxSizeItems === 0) {
        // Thanos creates no cache then (query-frontend.md: "If both max_size and max_size_items
        // are not set, then the cache would not be created").
        throw new CacheConfigError(
          "cache config: IN-MEMORY needs config.max_size or config.max_size_items",
        );
      }
      return new InMemoryCache({ name: o.name, config: cfg.config, registry: o.registry });
    case "MEMCACHED":
      return new MemcachedCache({
        name: o.name,
        config: cfg.config,
        registry: o.registry,
        logger: o.logger,
      });
    case "REDIS":
      return new RedisCache({ name: o.name, config: cfg.config, registry: o.registry });
  }
}
