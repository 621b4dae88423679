// Memcached backend over the text protocol (https://github.com/memcached/memcached/blob/master/doc/protocol.txt):
// `get k1 k2 …` for multi-key fetches, `set` with an expiration. Keys are spread over the
// servers with jump consistent hashing like Thanos' client
// (https://thanos.io/tip/components/store.md/#memcached-index-cache). Own client rather than an
// npm one: memjs 1.3.2 has no multi-get (one round trip per key) and logs to the console;
// every operation here has a deadline and a failure reason for Thanos' metrics.
// Metric names follow Thanos' pkg/cacheutil/memcached_client.go and pkg/cache/memcached.go.

import type { Registry } from "../metrics/registry.ts";
import type { Logger } from "../logging/log.ts";
import { forEachConcurrent } from "../runutil/gate.ts";
import { type Cache, DEFAULT_EXPIRATION_MS } from "./cache.ts";
import { connectTarget, type MemcachedConfig } from "./config.ts";
import { CacheConn, CacheOpError, concatBytes, ConnPool } from "./conn.ts";
import { CacheMetrics, ClientMetrics } from "./metrics.ts";

const enc = new TextEncoder();

/** Lamping & Veach's jump consistent hash (https://arxiv.org/abs/1406.2294). */
export function jumpHash(key: bigint, buckets: number): number {
  let b = -1n;
  let j = 0n;
  const n = BigInt(buckets);
  let k = BigInt.asUintN(64, key);
  while (j < n) {
    b = j;
    k = BigInt.asUintN(64, k * 2862933555777941757n + 1n);
    j = BigInt(Math.floor(Number(b + 1n) * (2 ** 31 / Number((k >> 33n) + 1n))));
  }
  return Number(b);
}

/** 64-bit FNV-1a of a string's UTF-8 bytes. */
export function fnv64a(s: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of enc.encode(s)) {
    h ^= BigInt(byte);
    h = BigInt.asUintN(64, h * 0x100000001b3n);
  }
  return h;
}

/** A memcached key must be 1–250 bytes without spaces or control characters. */
export function validMemcachedKey(k: string): boolean {
  // deno-lint-ignore no-control-regex
  return k.length > 0 && enc.encode(k).length <= 250 && !/[\x00-\x20\x7f]/.test(k);
}

/** Options of {@link MemcachedCache}. */
export interface MemcachedCacheOptions {
  name: string;
  config: MemcachedConfig;
  registry: Registry;
  logger?: Logger;
}

/** The memcached backend. */
export class MemcachedCache implements Cache {
  readonly name: string;
  readonly #cfg: MemcachedConfig;
  readonly #pools: ConnPool[];
  readonly #client: ClientMetrics;
  readonly #cache: CacheMetrics;
  #pendingSets = 0;

  constructor(o: MemcachedCacheOptions) {
    this.name = o.name;
    this.#cfg = o.config;
    this.#pools = o.config.addresses.map((a) => {
      const t = connectTarget(a);
      return new ConnPool(
        () => CacheConn.dial({ ...t, dialTimeoutMs: o.config.timeoutMs }),
        o.config.maxIdleConnections,
      );
    });
    this.#client = new ClientMetrics(o.registry, "memcached", o.name);
    this.#cache = new CacheMetrics(o.registry, "memcached", o.name);
  }

  #server(key: string): number {
    return this.#pools.length === 1 ? 0 : jumpHash(fnv64a(key), this.#pools.length);
  }

  async fetch(keys: readonly string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    this.#cache.requests(keys.length);
    const byServer = new Map<number, string[]>();
    for (const k of keys) {
      if (!validMemcachedKey(k)) {
        this.#client.skipped("getmulti", "malformed-key");
        continue;
      }
      const s = this.#server(k);
      const list = byServer.get(s) ?? [];
      list.push(k);
      byServer.set(s, list);
    }
    const batch = this.#cfg.maxGetMultiBatchSize > 0 ? this.#cfg.maxGetMultiBatchSize : Infinity;
    const jobs: { server: number; keys: string[] }[] = [];
    for (const [server, ks] of byServer) {
      for (let i = 0; i < ks.length; i += batch === Infinity ? ks.length : batch) {
        jobs.push({ server, keys: ks.slice(i, i + (batch === Infinity ? ks.length : batch)) });
      }
    }
    const limit = this.#cfg.maxGetMultiConcurrency > 0
      ? this.#cfg.maxGetMultiConcurrency
      : Infinity;
    await forEachConcurrent(jobs, limit, async (job) => {
      await this.#client.run("getmulti", async () => {
        await this.#pools[job.server].with(async (c) => {
          c.deadline(this.#cfg.timeoutMs);
          await c.write(enc.encode(`get ${job.keys.join(" ")}\r\n`));
          for (let guard = 0; guard <= job.keys.length; guard++) {
            const line = await c.readLine();
            if (line === "END") return;
            const m = /^VALUE (\S+) \d+ (\d+)/.exec(line);
            if (m === null) throw responseError(line);
            const data = await c.readBlock(Number(m[2]));
            out.set(m[1], data);
          }
          throw new CacheOpError("malformed", "more values than keys");
        });
      });
    });
    this.#cache.hits(out.size);
    return out;
  }

  async store(entries: ReadonlyMap<string, Uint8Array>, ttlMs: number): Promise<void> {
    const ttl = ttlMs > 0 ? ttlMs : (this.#cfg.expirationMs || DEFAULT_EXPIRATION_MS);
    // memcached takes relative seconds up to 30 days, else an absolute unix time
    let exp = Math.max(1, Math.ceil(ttl / 1000));
    if (exp > 30 * 24 * 3600) exp = Math.floor(Date.now() / 1000) + exp;
    const items: [string, Uint8Array][] = [];
    for (const [k, v] of entries) {
      if (!validMemcachedKey(k)) this.#client.skipped("set", "malformed-key");
      else if (this.#cfg.maxItemSize > 0 && v.length > this.#cfg.maxItemSize) {
        this.#client.skipped("set", "max-item-size");
      } else if (this.#pendingSets >= Math.max(1, this.#cfg.maxAsyncBufferSize)) {
        this.#client.skipped("set", "async-buffer-full");
      } else {
        this.#pendingSets++;
        items.push([k, v]);
      }
    }
    try {
      await forEachConcurrent(items, Math.max(1, this.#cfg.maxAsyncConcurrency), async ([k, v]) => {
        await this.#client.run("set", async () => {
          await this.#pools[this.#server(k)].with(async (c) => {
            c.deadline(this.#cfg.timeoutMs);
            await c.write(concatBytes([
              enc.encode(`set ${k} 0 ${exp} ${v.length}\r\n`),
              v,
              enc.encode("\r\n"),
            ]));
            const line = await c.readLine();
            if (line !== "STORED") throw responseError(line);
          });
        });
      });
    } finally {
      this.#pendingSets -= items.length;
    }
  }

  close(): void {
    for (const p of this.#pools) p.close();
  }
}

function responseError(line: string): CacheOpError {
  if (line.startsWith("SERVER_ERROR")) return new CacheOpError("server-error", line);
  return new CacheOpError("malformed", `unexpected response ${JSON.stringify(line.slice(0, 80))}`);
}
