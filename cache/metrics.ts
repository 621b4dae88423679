// Metrics of the cache backends, Thanos names: `thanos_cache_<backend>_requests_total` and
// `…_hits_total` per cache (pkg/cache/memcached.go, redis.go), and per client operation
// `thanos_<backend>_operations_total`, `…_operation_failures_total{reason}`,
// `…_operation_skipped_total{reason}`, `…_operation_duration_seconds`
// (pkg/cacheutil/memcached_client.go). The cache's name is a label (`name`), as Thanos adds it.

import type { Counter, Histogram, Registry } from "../metrics/registry.ts";
import { CacheOpError } from "./conn.ts";

/** Requests and hits of one cache. */
export class CacheMetrics {
  readonly #requests: Counter;
  readonly #hits: Counter;

  constructor(registry: Registry, backend: string, readonly name: string) {
    this.#requests = registry.counter({
      name: `thanos_cache_${backend}_requests_total`,
      help: `Total number of items requests to ${backend}.`,
      labelNames: ["name"],
    });
    this.#hits = registry.counter({
      name: `thanos_cache_${backend}_hits_total`,
      help: "Total number of items requests to the cache that were a hit.",
      labelNames: ["name"],
    });
    this.#requests.inc({ name }, 0);
    this.#hits.inc({ name }, 0);
  }

  requests(n: number): void {
    this.#requests.inc({ name: this.name }, n);
  }

  hits(n: number): void {
    this.#hits.inc({ name: this.name }, n);
  }
}

/** Operations of one client against its servers; failures are counted, never thrown. */
export class ClientMetrics {
  readonly #ops: Counter;
  readonly #failures: Counter;
  readonly #skipped: Counter;
  readonly #duration: Histogram;

  constructor(registry: Registry, backend: string, readonly name: string) {
    this.#ops = registry.counter({
      name: `thanos_${backend}_operations_total`,
      help: `Total number of operations against ${backend}.`,
      labelNames: ["name", "operation"],
    });
    this.#failures = registry.counter({
      name: `thanos_${backend}_operation_failures_total`,
      help: `Total number of operations against ${backend} that failed.`,
      labelNames: ["name", "operation", "reason"],
    });
    this.#skipped = registry.counter({
      name: `thanos_${backend}_operation_skipped_total`,
      help: `Total number of operations against ${backend} that have been skipped.`,
      labelNames: ["name", "operation", "reason"],
    });
    this.#duration = registry.histogram({
      name: `thanos_${backend}_operation_duration_seconds`,
      help: `Duration of operations against ${backend}.`,
      labelNames: ["name", "operation"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 3, 6, 10],
    });
  }

  /** Runs one operation; returns false when it failed (the failure is counted). */
  async run(operation: string, fn: () => Promise<void>): Promise<boolean> {
    const start = performance.now();
    this.#ops.inc({ name: this.name, operation });
    try {
      await fn();
      return true;
    } catch (e) {
      const reason = e instanceof CacheOpError ? e.reason : "other";
      this.#failures.inc({ name: this.name, operation, reason });
      return false;
    } finally {
      this.#duration.observe({ name: this.name, operation }, (performance.now() - start) / 1000);
    }
  }

  skipped(operation: string, reason: string): void {
    this.#skipped.inc({ name: this.name, operation, reason });
  }

  /** Failures of an operation so far, summed over reasons (for tests and logs). */
  failures(operation: string, reason: string): number {
    return this.#failures.get({ name: this.name, operation, reason });
  }
}
