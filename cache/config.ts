// Cache configuration in Thanos' YAML format: `type: IN-MEMORY | MEMCACHED | REDIS` with its
// `config` fields, names and defaults as documented in
// https://thanos.io/tip/components/query-frontend.md/#caching and
// https://thanos.io/tip/components/store.md/#memcached-index-cache (…#redis-index-cache).
// Unknown fields are errors (Thanos decodes strictly); durations are Go durations (`500ms`,
// `24h0m0s`), sizes are byte sizes (`1MiB`, `64MB`; units are powers of 1024).

import { parseAllDocuments } from "yaml";
import { parseGoDuration } from "../strconv/duration.ts";

/** A cache configuration that cannot be used; the message names the field. */
export class CacheConfigError extends Error {
  override name = "CacheConfigError";
}

/** `type: IN-MEMORY`. */
export interface InMemoryConfig {
  /** Bytes; 0 = unlimited (when max_size_items is set). */
  maxSizeBytes: number;
  /** 0 = unlimited (when max_size is set). */
  maxSizeItems: number;
  /** Items older than this are misses; 0 = no expiry beyond the TTL given to store. */
  validityMs: number;
}

/** `type: MEMCACHED`. */
export interface MemcachedConfig {
  addresses: string[];
  timeoutMs: number;
  maxIdleConnections: number;
  maxAsyncConcurrency: number;
  maxAsyncBufferSize: number;
  maxGetMultiConcurrency: number;
  maxGetMultiBatchSize: number;
  /** 0 = unlimited. */
  maxItemSize: number;
  dnsProviderUpdateIntervalMs: number;
  /** 0 = 24h. */
  expirationMs: number;
}

/** `tls_config` of redis. */
export interface RedisTlsConfig {
  caFile: string;
  certFile: string;
  keyFile: string;
  serverName: string;
  insecureSkipVerify: boolean;
}

/** `type: REDIS`. */
export interface RedisConfig {
  /** One `host:port` per server (addr, or addresses). */
  addresses: string[];
  prefix: string;
  username: string;
  password: string;
  db: number;
  dialTimeoutMs: number;
  readTimeoutMs: number;
  writeTimeoutMs: number;
  poolSize: number;
  maxGetMultiConcurrency: number;
  getMultiBatchSize: number;
  maxSetMultiConcurrency: number;
  setMultiBatchSize: number;
  tlsEnabled: boolean;
  tls: RedisTlsConfig;
  maxAsyncBufferSize: number;
  maxAsyncConcurrency: number;
  /** 0 = 24h. */
  expirationMs: number;
}

/** A parsed cache configuration. */
export type CacheConfig =
  | { type: "IN-MEMORY"; config: InMemoryConfig; ttlMs: number }
  | { type: "MEMCACHED"; config: MemcachedConfig; ttlMs: number }
  | { type: "REDIS"; config: RedisConfig; ttlMs: number };

type Kind = "string" | "strings" | "int" | "bool" | "duration" | "bytes" | "float" | "object";
interface Field {
  kind: Kind;
  default?: unknown;
}
type Schema = Record<string, Field>;

const S = (d = ""): Field => ({ kind: "string", default: d });
const I = (d = 0): Field => ({ kind: "int", default: d });
const B = (d = false): Field => ({ kind: "bool", default: d });
const D = (d = 0): Field => ({ kind: "duration", default: d });
const CIRCUIT_BREAKER: Field = { kind: "object" };

const IN_MEMORY_SCHEMA: Schema = {
  max_size: { kind: "bytes", default: 0 },
  max_size_items: I(),
  validity: D(),
};

// Defaults: https://thanos.io/tip/components/query-frontend.md/#memcached ("The default memcached
// config is").
const MEMCACHED_SCHEMA: Schema = {
  addresses: { kind: "strings", default: [] },
  timeout: D(500),
  max_idle_connections: I(100),
  max_async_concurrency: I(10),
  max_async_buffer_size: I(10000),
  max_get_multi_concurrency: I(100),
  max_get_multi_batch_size: I(0),
  max_item_size: { kind: "bytes", default: 1024 * 1024 },
  dns_provider_update_interval: D(10_000),
  auto_discovery: B(),
  set_async_circuit_breaker_config: CIRCUIT_BREAKER,
  expiration: D(0),
};

// Defaults: https://thanos.io/tip/components/query-frontend.md/#redis.
const REDIS_SCHEMA: Schema = {
  addr: S(),
  addresses: { kind: "strings", default: [] },
  prefix: S(),
  username: S(),
  password: S(),
  db: I(),
  dial_timeout: D(5000),
  read_timeout: D(3000),
  write_timeout: D(3000),
  pool_size: I(100),
  min_idle_conns: I(),
  idle_timeout: D(),
  max_conn_age: D(),
  max_get_multi_concurrency: I(100),
  get_multi_batch_size: I(100),
  max_set_multi_concurrency: I(100),
  set_multi_batch_size: I(100),
  tls_enabled: B(),
  tls_config: { kind: "object" },
  cache_size: { kind: "bytes", default: 0 },
  master_name: S(),
  max_async_buffer_size: I(10000),
  max_async_concurrency: I(20),
  set_async_circuit_breaker_config: CIRCUIT_BREAKER,
  expiration: D(0),
};

const TLS_SCHEMA: Schema = {
  ca_file: S(),
  cert_file: S(),
  key_file: S(),
  server_name: S(),
  insecure_skip_verify: B(),
  min_version: S(),
};

const CB_SCHEMA: Schema = {
  enabled: B(),
  half_open_max_requests: I(),
  open_duration: D(),
  min_requests: I(),
  consecutive_failures: I(),
  failure_percent: { kind: "float", default: 0 },
};

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `${typeof v} ${JSON.stringify(v)}`;
}

function decode(path: string, schema: Schema, raw: unknown): Record<string, unknown> {
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new CacheConfigError(`cache config: ${path}: expected a mapping, got ${describe(raw)}`);
  }
  const obj = raw as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (!(k in schema)) {
      throw new CacheConfigError(
        `cache config: unknown field ${path}.${k} (known fields: ${
          Object.keys(schema).join(", ")
        })`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(schema)) {
    const v = obj[k];
    const where = `${path}.${k}`;
    const fail = (want: string): never => {
      throw new CacheConfigError(`cache config: ${where}: expected ${want}, got ${describe(v)}`);
    };
    if (v === undefined || v === null) {
      out[k] = f.kind === "object"
        ? decode(where, k === "tls_config" ? TLS_SCHEMA : CB_SCHEMA, {})
        : f.default;
      continue;
    }
    switch (f.kind) {
      case "string":
        out[k] = typeof v === "string" || typeof v === "number" ? String(v) : fail("a string");
        break;
      case "strings":
        if (typeof v === "string") out[k] = v.split(",").map((s) => s.trim()).filter(Boolean);
        else if (Array.isArray(v) && v.every((s) => typeof s === "string")) out[k] = v;
        else fail("a list of strings");
        break;
      case "int":
        out[k] = typeof v === "number" && Number.isSafeInteger(v) && v >= 0
          ? v
          : fail("a non-negative integer");
        break;
      case "float":
        out[k] = typeof v === "number" ? v : fail("a number");
        break;
      case "bool":
        out[k] = typeof v === "boolean" ? v : fail("a boolean");
        break;
      case "duration": {
        const ms = typeof v === "string" ? parseGoDuration(v) : v === 0 ? 0 : null;
        out[k] = ms !== null && ms >= 0 ? ms : fail('a duration like "500ms" or "24h"');
        break;
      }
      case "bytes": {
        if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) {
          out[k] = v;
          break;
        }
        const m = typeof v === "string" ? /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(v.trim()) : null;
        const unit = m ? BYTE_UNITS[m[2].toLowerCase()] : undefined;
        out[k] = m && unit !== undefined
          ? Math.round(Number(m[1]) * unit)
          : fail('a byte size like "1MiB"');
        break;
      }
      case "object":
        out[k] = decode(where, k === "tls_config" ? TLS_SCHEMA : CB_SCHEMA, v);
        break;
    }
  }
  return out;
}

/**
 * Parses a cache configuration (YAML text, only the first document counts). Throws
 * CacheConfigError with a one-line message for every problem. `extraTopLevel` names fields the
 * caller accepts beside `type` and `config` (e.g. `ttl`, `enabled_items` of the index cache);
 * `ttl`, when present, is returned as ttlMs.
 */
export function parseCacheConfig(
  yamlText: string,
  extraTopLevel: readonly string[] = [],
): CacheConfig {
  const docs = parseAllDocuments(yamlText, { version: "1.1", uniqueKeys: true });
  const first = Array.isArray(docs) ? docs[0] : undefined;
  if (first === undefined || first.contents === null) {
    throw new CacheConfigError("cache config: empty configuration; set type and config");
  }
  if (first.errors.length > 0) {
    throw new CacheConfigError(
      `cache config: invalid YAML: ${first.errors[0].message.split("\n")[0]}`,
    );
  }
  const root = first.toJS({ maxAliasCount: 100 }) as unknown;
  if (typeof root !== "object" || root === null || Array.isArray(root)) {
    throw new CacheConfigError(`cache config: expected a mapping, got ${describe(root)}`);
  }
  const top = root as Record<string, unknown>;
  const known = ["type", "config", ...extraTopLevel];
  for (const k of Object.keys(top)) {
    if (!known.includes(k)) {
      throw new CacheConfigError(
        `cache config: unknown field ${k} (known fields: ${known.join(", ")})`,
      );
    }
  }
  let ttlMs = 0;
  if (top.ttl !== undefined && top.ttl !== null) {
    const t = typeof top.ttl === "string" ? parseGoDuration(top.ttl) : null;
    if (t === null || t < 0) throw new CacheConfigError("cache config: ttl: expected a duration");
    ttlMs = t;
  }
  const type = typeof top.type === "string" ? top.type.toUpperCase() : "";
  // Thanos also accepts INMEMORY for the in-memory cache of the frontend.
  if (type === "IN-MEMORY" || type === "INMEMORY") {
    const c = decode("config", IN_MEMORY_SCHEMA, top.config);
    return {
      type: "IN-MEMORY",
      ttlMs,
      config: {
        maxSizeBytes: c.max_size as number,
        maxSizeItems: c.max_size_items as number,
        validityMs: c.validity as number,
      },
    };
  }
  if (type === "MEMCACHED") {
    const c = decode("config", MEMCACHED_SCHEMA, top.config);
    const addresses = c.addresses as string[];
    if (addresses.length === 0) {
      throw new CacheConfigError("cache config: config.addresses: no memcached addresses");
    }
    if (c.auto_discovery) {
      throw new CacheConfigError("cache config: config.auto_discovery is not supported");
    }
    for (const a of addresses) checkAddress("config.addresses", a);
    return {
      type: "MEMCACHED",
      ttlMs,
      config: {
        addresses,
        timeoutMs: c.timeout as number,
        maxIdleConnections: c.max_idle_connections as number,
        maxAsyncConcurrency: c.max_async_concurrency as number,
        maxAsyncBufferSize: c.max_async_buffer_size as number,
        maxGetMultiConcurrency: c.max_get_multi_concurrency as number,
        maxGetMultiBatchSize: c.max_get_multi_batch_size as number,
        maxItemSize: c.max_item_size as number,
        dnsProviderUpdateIntervalMs: c.dns_provider_update_interval as number,
        expirationMs: c.expiration as number,
      },
    };
  }
  if (type === "REDIS") {
    const c = decode("config", REDIS_SCHEMA, top.config);
    const addresses = [
      ...((c.addr as string) === "" ? [] : (c.addr as string).split(",").map((s) => s.trim())),
      ...(c.addresses as string[]),
    ];
    if (addresses.length === 0) {
      throw new CacheConfigError("cache config: config.addr: no redis address");
    }
    if (addresses.length > 1) {
      throw new CacheConfigError(
        "cache config: config.addr: redis cluster (more than one address) is not supported",
      );
    }
    if (c.master_name !== "") {
      throw new CacheConfigError(
        "cache config: config.master_name: redis sentinel is not supported",
      );
    }
    for (const a of addresses) checkAddress("config.addr", a);
    const t = c.tls_config as Record<string, unknown>;
    // Deno's TLS client verifies against the address it connects to and cannot skip verification
    if (t.server_name !== "") {
      throw new CacheConfigError(
        "cache config: config.tls_config.server_name is not supported; use the name the " +
          "certificate is for in config.addr",
      );
    }
    if (t.insecure_skip_verify === true) {
      throw new CacheConfigError(
        "cache config: config.tls_config.insecure_skip_verify is not supported; give the CA in " +
          "config.tls_config.ca_file",
      );
    }
    return {
      type: "REDIS",
      ttlMs,
      config: {
        addresses,
        prefix: c.prefix as string,
        username: c.username as string,
        password: c.password as string,
        db: c.db as number,
        dialTimeoutMs: c.dial_timeout as number,
        readTimeoutMs: c.read_timeout as number,
        writeTimeoutMs: c.write_timeout as number,
        poolSize: c.pool_size as number,
        maxGetMultiConcurrency: c.max_get_multi_concurrency as number,
        getMultiBatchSize: c.get_multi_batch_size as number,
        maxSetMultiConcurrency: c.max_set_multi_concurrency as number,
        setMultiBatchSize: c.set_multi_batch_size as number,
        tlsEnabled: c.tls_enabled as boolean,
        tls: {
          caFile: t.ca_file as string,
          certFile: t.cert_file as string,
          keyFile: t.key_file as string,
          serverName: t.server_name as string,
          insecureSkipVerify: t.insecure_skip_verify as boolean,
        },
        maxAsyncBufferSize: c.max_async_buffer_size as number,
        maxAsyncConcurrency: c.max_async_concurrency as number,
        expirationMs: c.expiration as number,
      },
    };
  }
  throw new CacheConfigError(
    `cache config: type: unsupported cache type ${JSON.stringify(top.type ?? "")} ` +
      "(supported: IN-MEMORY, MEMCACHED, REDIS)",
  );
}

function checkAddress(field: string, a: string): void {
  if (/^dnssrv(noa)?\+/.test(a)) {
    throw new CacheConfigError(
      `cache config: ${field}: ${a}: SRV discovery is not supported; use host:port or dns+host:port`,
    );
  }
  if (!/^(dns\+)?[^\s:/]+:\d+$/.test(a) && !/^(dns\+)?\[[0-9a-fA-F:.]+\]:\d+$/.test(a)) {
    throw new CacheConfigError(`cache config: ${field}: ${JSON.stringify(a)} is not host:port`);
  }
}

/** `host:port` to connect to for an address of the config (`dns+` resolves at connect time). */
export function connectTarget(address: string): { hostname: string; port: number } {
  const a = address.replace(/^dns\+/, "");
  const i = a.lastIndexOf(":");
  return { hostname: a.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(a.slice(i + 1)) };
}

/** Top-level fields of the store's `--index-cache.config` beside `type` and `config`. */
export const INDEX_CACHE_FIELDS = ["ttl", "enabled_items"] as const;

/**
 * Top-level fields of the store's `--store.caching-bucket.config` beside `type` and `config`
 * (https://thanos.io/tip/components/store.md/#caching-bucket).
 */
export const CACHING_BUCKET_FIELDS = [
  "chunk_subrange_size",
  "max_chunks_get_range_requests",
  "chunk_object_attrs_ttl",
  "chunk_subrange_ttl",
  "blocks_iter_ttl",
  "metafile_exists_ttl",
  "metafile_doesnt_exist_ttl",
  "metafile_content_ttl",
  "metafile_max_size",
] as const;

/** Whether the first YAML document's `type` is IN-MEMORY (malformed text: false). */
function isInMemory(yamlText: string): boolean {
  try {
    const root = parseAllDocuments(yamlText, { version: "1.1" });
    const first = Array.isArray(root) ? root[0] : undefined;
    const doc = first?.toJS({ maxAliasCount: 100 }) as unknown;
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return false;
    const type = (doc as Record<string, unknown>).type;
    return typeof type === "string" && ["IN-MEMORY", "INMEMORY"].includes(type.toUpperCase());
  } catch {
    return false;
  }
}

/** What a cache configuration needs from the role's sandbox: hosts to reach, files to read. */
export function cachePermissions(yamlText: string): { net: string[]; read: string[] } {
  // an in-memory cache reaches nothing; its config fields differ per user (the store's index
  // cache and caching bucket take max_item_size), so its own parser checks them
  if (isInMemory(yamlText)) return { net: [], read: [] };
  const c = parseCacheConfig(yamlText, [...INDEX_CACHE_FIELDS, ...CACHING_BUCKET_FIELDS]);
  if (c.type === "IN-MEMORY") return { net: [], read: [] };
  const net = c.config.addresses.map((a) => a.replace(/^dns\+/, ""));
  const read: string[] = [];
  if (c.type === "REDIS" && c.config.tlsEnabled) {
    for (const f of [c.config.tls.caFile, c.config.tls.certFile, c.config.tls.keyFile]) {
      if (f !== "") read.push(f);
    }
  }
  return { net, read };
}
