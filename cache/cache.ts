// The Cache interface every backend implements (in-memory, memcached, redis), modelled on
// Thanos' `pkg/cache.Cache` (https://github.com/thanos-io/thanos/blob/main/pkg/cache/cache.go):
// string keys, byte values, multi-key fetch, store with a TTL. A backend never throws from
// fetch/store: a failure (server down, timeout, oversized item) is a miss or a dropped write,
// counted in the backend's metrics.

/** A key/value cache. */
export interface Cache {
  /** The cache's name (the `name` label of its metrics). */
  readonly name: string;
  /** Values of the keys that were found; missing keys and failures are absent. */
  fetch(keys: readonly string[]): Promise<Map<string, Uint8Array>>;
  /**
   * Stores every entry with time-to-live `ttlMs` (0: the backend's default expiration). Resolves
   * once the writes are done or dropped; never rejects.
   */
  store(entries: ReadonlyMap<string, Uint8Array>, ttlMs: number): Promise<void>;
  /** Closes connections; later calls are misses. */
  close(): void;
}

/** Thanos' default expiration for memcached and redis items when `expiration` is 0 (24h). */
export const DEFAULT_EXPIRATION_MS = 24 * 3600_000;
