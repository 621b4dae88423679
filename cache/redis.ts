// Redis backend over RESP2 (https://redis.io/docs/latest/develop/reference/protocol-spec/):
// MGET in batches of `get_multi_batch_size`, pipelined `SET key value PX ttl` in batches of
// `set_multi_batch_size`, AUTH/SELECT on each new connection, optional TLS. Own client rather
// than ioredis: its `debug` dependency enumerates the whole environment when loaded, which the
// role's sandbox (components/permissions.ts) does not grant. Config fields:
// https://thanos.io/tip/components/store.md/#redis-index-cache.

import type { Registry } from "../metrics/registry.ts";
import { forEachConcurrent } from "../runutil/gate.ts";
import { type Cache, DEFAULT_EXPIRATION_MS } from "./cache.ts";
import { connectTarget, type RedisConfig } from "./config.ts";
import { CacheConn, CacheOpError, concatBytes, ConnPool, type DialOptions } from "./conn.ts";
import { CacheMetrics, ClientMetrics } from "./metrics.ts";

const enc = new TextEncoder();

/** Encodes one command as a RESP array of bulk strings. */
export function respCommand(args: readonly (string | Uint8Array)[]): Uint8Array {
  const parts: Uint8Array[] = [enc.encode(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === "string" ? enc.encode(a) : a;
    parts.push(enc.encode(`$${b.length}\r\n`), b, enc.encode("\r\n"));
  }
  return concatBytes(parts);
}

/** A RESP reply: simple string, integer, bulk (null when absent) or array. */
export type RespReply = string | number | Uint8Array | null | RespReply[];

/** Reads one reply; a RESP error reply throws a server-error. */
export async function readReply(c: CacheConn, depth = 0): Promise<RespReply> {
  const line = await c.readLine();
  const rest = line.slice(1);
  switch (line[0]) {
    case "+":
      return rest;
    case "-":
      throw new CacheOpError("server-error", rest);
    case ":":
      return Number(rest);
    case "$": {
      const n = Number(rest);
      return n < 0 ? null : await c.readBlock(n);
    }
    case "*": {
      const n = Number(rest);
      if (n < 0) return null;
      if (depth > 4) throw new CacheOpError("malformed", "nested too deep");
      const out: RespReply[] = [];
      for (let i = 0; i < n; i++) out.push(await readReply(c, depth + 1));
      return out;
    }
  }
  throw new CacheOpError("malformed", `unexpected reply ${JSON.stringify(line.slice(0, 80))}`);
}

/** Options of {@link RedisCache}. */
export interface RedisCacheOptions {
  name: string;
  config: RedisConfig;
  registry: Registry;
}

/** The redis backend. */
export class RedisCache implements Cache {
  readonly name: string;
  readonly #cfg: RedisConfig;
  readonly #pool: ConnPool;
  readonly #client: ClientMetrics;
  readonly #cache: CacheMetrics;
  #pendingSets = 0;

  constructor(o: RedisCacheOptions) {
    this.name = o.name;
    this.#cfg = o.config;
    const cfg = o.config;
    const dial: DialOptions = {
      ...connectTarget(cfg.addresses[0]),
      dialTimeoutMs: cfg.dialTimeoutMs,
    };
    if (cfg.tlsEnabled) {
      dial.tls = {
        caCerts: cfg.tls.caFile ? [Deno.readTextFileSync(cfg.tls.caFile)] : undefined,
        certChain: cfg.tls.certFile ? Deno.readTextFileSync(cfg.tls.certFile) : undefined,
        privateKey: cfg.tls.keyFile ? Deno.readTextFileSync(cfg.tls.keyFile) : undefined,
      };
    }
    this.#pool = new ConnPool(async () => {
      const c = await CacheConn.dial(dial);
      try {
        c.deadline(cfg.readTimeoutMs + cfg.writeTimeoutMs);
        if (cfg.password !== "") {
          const auth = cfg.username !== ""
            ? ["AUTH", cfg.username, cfg.password]
            : ["AUTH", cfg.password];
          await c.write(respCommand(auth));
          await readReply(c);
        }
        if (cfg.db !== 0) {
          await c.write(respCommand(["SELECT", String(cfg.db)]));
          await readReply(c);
        }
        c.clearDeadline();
        return c;
      } catch (e) {
        c.close();
        throw e;
      }
    }, cfg.poolSize);
    this.#client = new ClientMetrics(o.registry, "redis", o.name);
    this.#cache = new CacheMetrics(o.registry, "redis", o.name);
  }

  #key(k: string): string {
    return this.#cfg.prefix + k;
  }

  async fetch(keys: readonly string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    this.#cache.requests(keys.length);
    const size = this.#cfg.getMultiBatchSize > 0 ? this.#cfg.getMultiBatchSize : keys.length;
    const batches: string[][] = [];
    for (let i = 0; i < keys.length; i += Math.max(1, size)) batches.push(keys.slice(i, i + size));
    const limit = this.#cfg.maxGetMultiConcurrency > 0
      ? this.#cfg.maxGetMultiConcurrency
      : Infinity;
    await forEachConcurrent(batches, limit, async (batch) => {
      await this.#client.run("getmulti", async () => {
        await this.#pool.with(async (c) => {
          c.deadline(this.#cfg.writeTimeoutMs + this.#cfg.readTimeoutMs);
          await c.write(respCommand(["MGET", ...batch.map((k) => this.#key(k))]));
          const reply = await readReply(c);
          if (!Array.isArray(reply) || reply.length !== batch.length) {
            throw new CacheOpError("malformed", "MGET: unexpected reply");
          }
          reply.forEach((v, i) => {
            if (v instanceof Uint8Array) out.set(batch[i], v);
          });
        });
      });
    });
    this.#cache.hits(out.size);
    return out;
  }

  async store(entries: ReadonlyMap<string, Uint8Array>, ttlMs: number): Promise<void> {
    const ttl = ttlMs > 0 ? ttlMs : (this.#cfg.expirationMs || DEFAULT_EXPIRATION_MS);
    const items: [string, Uint8Array][] = [];
    for (const [k, v] of entries) {
      if (this.#pendingSets >= Math.max(1, this.#cfg.maxAsyncBufferSize)) {
        this.#client.skipped("set", "async-buffer-full");
      } else {
        this.#pendingSets++;
        items.push([k, v]);
      }
    }
    const size = Math.max(1, this.#cfg.setMultiBatchSize || items.length);
    const batches: [string, Uint8Array][][] = [];
    for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
    const limit = Math.max(1, this.#cfg.maxSetMultiConcurrency);
    try {
      await forEachConcurrent(batches, limit, async (batch) => {
        await this.#client.run("set", async () => {
          await this.#pool.with(async (c) => {
            c.deadline(this.#cfg.writeTimeoutMs + this.#cfg.readTimeoutMs);
            await c.write(
              concatBytes(
                batch.map(([k, v]) =>
                  respCommand(["SET", this.#key(k), v, "PX", String(Math.ceil(ttl))])
                ),
              ),
            );
            let failure: CacheOpError | undefined;
            for (let i = 0; i < batch.length; i++) {
              try {
                await readReply(c);
              } catch (e) {
                if (!(e instanceof CacheOpError) || e.reason !== "server-error") throw e;
                failure ??= e; // read the other replies, keep the connection in sync
              }
            }
            if (failure) throw failure;
          });
        });
      });
    } finally {
      this.#pendingSets -= items.length;
    }
  }

  close(): void {
    this.#pool.close();
  }
}
