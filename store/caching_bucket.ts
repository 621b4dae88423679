// The store gateway's caching bucket (`--store.caching-bucket.config`,
// https://thanos.io/tip/components/store.md/#caching-bucket): a Bucket wrapper that serves chunk
// ranges in fixed, aligned subranges (`chunk_subrange_size`) and chunk object sizes, block
// meta files (`meta.json`, `deletion-mark.json`: content and existence) and the listing of the
// bucket root from a Cache (cache/: in-memory, memcached or redis). Everything else passes
// through. The cache never fails a call: a backend error or an unusable item is a miss, read
// from the bucket. Metric names are Thanos's `thanos_store_bucket_cache_*`.
//
// It lives in store/ rather than objstore/: which objects are cached and how (chunk segment
// files, meta files, the block root listing) is the store gateway's knowledge of the block
// layout, and objstore/ stays a provider layer that knows no cache and no block format.

import { parse as parseYaml } from "yaml";
import type { Cache } from "../cache/cache.ts";
import {
  type CacheConfig,
  CacheConfigError,
  CACHING_BUCKET_FIELDS,
  parseCacheConfig,
} from "../cache/config.ts";
import type { Counter, Registry } from "../metrics/registry.ts";
import {
  type Bucket,
  isObjectNotFound,
  type IterOptions,
  type ObjectAttributes,
  ObjectNotFoundError,
  type RangePieceSink,
  streamBucketRange,
  uploadFileByStream,
} from "../objstore/bucket.ts";
import { parseBase2Bytes } from "../strconv/bytes.ts";
import { parseGoDuration } from "../strconv/duration.ts";

/** A `--store.caching-bucket.config` that is malformed or cannot be served. */
export class CachingBucketConfigError extends Error {
  override name = "CachingBucketConfigError";
}

/** A parsed `--store.caching-bucket.config`. */
export interface CachingBucketConfig {
  backend: CacheConfig;
  /** IN-MEMORY `max_item_size`: larger items are not stored (0: no limit). */
  maxItemSize: number;
  chunkSubrangeSize: number;
  /** Bucket range requests one getRange may send for its missing subranges (0: no limit). */
  maxChunksGetRangeRequests: number;
  chunkObjectAttrsTtlMs: number;
  chunkSubrangeTtlMs: number;
  blocksIterTtlMs: number;
  metafileExistsTtlMs: number;
  metafileDoesntExistTtlMs: number;
  metafileContentTtlMs: number;
  metafileMaxSize: number;
}

const MIB = 1024 * 1024;

/**
 * Reads a caching bucket configuration: `type` (IN-MEMORY, MEMCACHED, REDIS) and `config` as
 * the index cache has them, and beside them the chunk and meta-file options with Thanos's
 * defaults (pkg/store/cache/caching_bucket_factory.go `Defaults`).
 */
export function parseCachingBucketConfig(text: string): CachingBucketConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new CachingBucketConfigError(
      `caching bucket config: invalid YAML: ${(e as Error).message.split("\n")[0]}`,
    );
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new CachingBucketConfigError(
      "caching bucket config: want a mapping with type and config",
    );
  }
  const top = doc as Record<string, unknown>;
  const known = ["type", "config", ...CACHING_BUCKET_FIELDS] as string[];
  for (const k of Object.keys(top)) {
    if (!known.includes(k)) {
      throw new CachingBucketConfigError(
        `caching bucket config: unknown field ${k} (known fields: ${known.join(", ")})`,
      );
    }
  }
  const int = (field: string, def: number): number => {
    const v = top[field];
    if (v === undefined || v === null) return def;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw new CachingBucketConfigError(
        `caching bucket config: ${field}: want a non-negative integer, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const dur = (field: string, def: number): number => {
    const v = top[field];
    if (v === undefined || v === null) return def;
    const ms = typeof v === "string" ? parseGoDuration(v) : v === 0 ? 0 : null;
    if (ms === null || ms < 0) {
      throw new CachingBucketConfigError(
        `caching bucket config: ${field}: want a duration like "24h", got ${JSON.stringify(v)}`,
      );
    }
    return ms;
  };
  const bytes = (field: string, def: number, obj = top, where = field): number => {
    const v = obj[field];
    if (v === undefined || v === null) return def;
    const n = typeof v === "number" ? v : parseBase2Bytes(String(v));
    if (n === undefined || !Number.isSafeInteger(n) || n < 0) {
      throw new CachingBucketConfigError(
        `caching bucket config: ${where}: want a byte size like "1MiB", got ${JSON.stringify(v)}`,
      );
    }
    return n;
  };
  const type = typeof top.type === "string" ? top.type.toUpperCase() : "";
  let backend: CacheConfig;
  let maxItemSize = 0;
  if (type === "IN-MEMORY") {
    // the in-memory index cache's fields (store.md: "The yml structure for setting the in
    // memory cache configs for caching bucket is the same as the in-memory index cache")
    const c = top.config ?? {};
    if (typeof c !== "object" || Array.isArray(c)) {
      throw new CachingBucketConfigError("caching bucket config: config must be a mapping");
    }
    const cfg = c as Record<string, unknown>;
    for (const k of Object.keys(cfg)) {
      if (k !== "max_size" && k !== "max_item_size") {
        throw new CachingBucketConfigError(
          `caching bucket config: unknown field config.${k} (known fields: max_size, ` +
            "max_item_size)",
        );
      }
    }
    const maxSize = bytes("max_size", 0, cfg, "config.max_size") || 250 * MIB;
    maxItemSize = bytes("max_item_size", 0, cfg, "config.max_item_size") || 125 * MIB;
    if (maxItemSize > maxSize) {
      throw new CachingBucketConfigError(
        `caching bucket config: config.max_item_size (${maxItemSize}) must not exceed ` +
          `config.max_size (${maxSize})`,
      );
    }
    backend = {
      type: "IN-MEMORY",
      ttlMs: 0,
      config: { maxSizeBytes: maxSize, maxSizeItems: 0, validityMs: 0 },
    };
  } else if (type === "MEMCACHED" || type === "REDIS") {
    try {
      backend = parseCacheConfig(text, CACHING_BUCKET_FIELDS);
    } catch (e) {
      if (e instanceof CacheConfigError) {
        throw new CachingBucketConfigError(
          e.message.replace(/^cache config: /, "caching bucket config: "),
        );
      }
      throw e;
    }
  } else if (type === "GROUPCACHE") {
    throw new CachingBucketConfigError(
      "caching bucket config: type GROUPCACHE is not in this build; use IN-MEMORY, MEMCACHED " +
        "or REDIS",
    );
  } else {
    throw new CachingBucketConfigError(
      `caching bucket config: unsupported type ${JSON.stringify(top.type ?? "")}: want ` +
        "IN-MEMORY, MEMCACHED or REDIS",
    );
  }
  const chunkSubrangeSize = int("chunk_subrange_size", 16000);
  if (chunkSubrangeSize === 0) {
    throw new CachingBucketConfigError("caching bucket config: chunk_subrange_size must be > 0");
  }
  return {
    backend,
    maxItemSize,
    chunkSubrangeSize,
    maxChunksGetRangeRequests: int("max_chunks_get_range_requests", 3),
    chunkObjectAttrsTtlMs: dur("chunk_object_attrs_ttl", 24 * 3600_000),
    chunkSubrangeTtlMs: dur("chunk_subrange_ttl", 24 * 3600_000),
    blocksIterTtlMs: dur("blocks_iter_ttl", 5 * 60_000),
    metafileExistsTtlMs: dur("metafile_exists_ttl", 2 * 3600_000),
    metafileDoesntExistTtlMs: dur("metafile_doesnt_exist_ttl", 15 * 60_000),
    metafileContentTtlMs: dur("metafile_content_ttl", 24 * 3600_000),
    metafileMaxSize: bytes("metafile_max_size", MIB),
  };
}

/** A chunk segment file of a block (`<ulid>/chunks/000001`). */
export function isChunkFile(name: string): boolean {
  return /^.*\/chunks\/\d+$/.test(name);
}

/** A block's meta file or deletion mark. */
export function isMetaFile(name: string): boolean {
  return name.endsWith("/meta.json") || name.endsWith("/deletion-mark.json");
}

/** Thanos's config names (the `config` label): which caching rule served an operation. */
type RuleName = "chunks" | "meta.jsons" | "blocks-iter";

interface Metrics {
  requests: Counter;
  hits: Counter;
  requestedBytes: Counter;
  fetchedBytes: Counter;
  refetchedBytes: Counter;
}

const te = new TextEncoder();
const td = new TextDecoder();

/** An aligned piece of a chunk file as the cache keeps it, with its bytes once known. */
interface Subrange {
  start: number;
  end: number;
  key: string;
  data?: Uint8Array;
}

/** Options of {@link CachingBucket}. */
export interface CachingBucketOptions {
  registry?: Registry;
  /** Tells listings of different buckets apart in a shared cache (Thanos: the config's hash). */
  bucketId?: string;
}

/** The caching bucket: see the file comment. */
export class CachingBucket implements Bucket {
  private readonly m?: Metrics;
  private readonly pending = new Set<Promise<void>>();
  private readonly bucketId: string;

  constructor(
    private readonly inner: Bucket,
    private readonly cache: Cache,
    private readonly cfg: CachingBucketConfig,
    opts: CachingBucketOptions = {},
  ) {
    this.bucketId = opts.bucketId ?? "";
    const reg = opts.registry;
    if (reg) {
      this.m = {
        requests: reg.counter({
          name: "thanos_store_bucket_cache_operation_requests_total",
          help: "Number of requested operations matching given config.",
          labelNames: ["operation", "config"],
        }),
        hits: reg.counter({
          name: "thanos_store_bucket_cache_operation_hits_total",
          help: "Number of operations served from cache for given config.",
          labelNames: ["operation", "config"],
        }),
        requestedBytes: reg.counter({
          name: "thanos_store_bucket_cache_getrange_requested_bytes_total",
          help: "Total number of bytes requested via GetRange.",
          labelNames: ["config"],
        }),
        fetchedBytes: reg.counter({
          name: "thanos_store_bucket_cache_getrange_fetched_bytes_total",
          help: "Total number of bytes fetched because of GetRange operation. Data from bucket " +
            "is then stored to cache.",
          labelNames: ["origin", "config"],
        }),
        refetchedBytes: reg.counter({
          name: "thanos_store_bucket_cache_getrange_refetched_bytes_total",
          help: "Total number of bytes re-fetched from storage because of GetRange operation, " +
            "despite being in cache already.",
          labelNames: ["origin", "config"],
        }),
      };
      const ops: [string, RuleName][] = [
        ["get_range", "chunks"],
        ["attributes", "chunks"],
        ["exists", "meta.jsons"],
        ["get", "meta.jsons"],
        ["iter", "blocks-iter"],
      ];
      for (const [op, rule] of ops) {
        this.m.requests.labels(op, rule);
        this.m.hits.labels(op, rule);
      }
      this.m.requestedBytes.labels("chunks");
      for (const o of ["bucket", "cache"]) {
        this.m.fetchedBytes.labels(o, "chunks");
        this.m.refetchedBytes.labels(o, "chunks");
      }
    }
  }

  get name(): string {
    return this.inner.name;
  }

  private request(op: string, rule: RuleName): void {
    this.m?.requests.labels(op, rule).inc();
  }

  private hit(op: string, rule: RuleName): void {
    this.m?.hits.labels(op, rule).inc();
  }

  /** Stores in the background (a write never delays or fails a read). */
  private store(entries: Map<string, Uint8Array>, ttlMs: number): void {
    const max = this.cfg.maxItemSize;
    if (max > 0) {
      for (const [k, v] of entries) if (v.length > max) entries.delete(k);
    }
    if (entries.size === 0) return;
    const p = this.cache.store(entries, ttlMs).catch(() => {});
    this.pending.add(p);
    p.finally(() => this.pending.delete(p));
  }

  private async fetchOne(key: string): Promise<Uint8Array | undefined> {
    return (await this.cache.fetch([key])).get(key);
  }

  async get(name: string, signal?: AbortSignal): Promise<Uint8Array> {
    if (!isMetaFile(name)) return this.inner.get(name, signal);
    this.request("get", "meta.jsons");
    const contentKey = `content:${name}`;
    const existsKey = `exists:${name}`;
    const got = await this.cache.fetch([contentKey, existsKey]);
    const content = got.get(contentKey);
    if (content !== undefined) {
      this.hit("get", "meta.jsons");
      return content;
    }
    if (td.decode(got.get(existsKey) ?? new Uint8Array()) === "false") {
      this.hit("get", "meta.jsons");
      throw new ObjectNotFoundError(this.inner.name, name);
    }
    let data: Uint8Array;
    try {
      data = await this.inner.get(name, signal);
    } catch (e) {
      if (isObjectNotFound(e)) {
        this.store(new Map([[existsKey, te.encode("false")]]), this.cfg.metafileDoesntExistTtlMs);
      }
      throw e;
    }
    if (data.length <= this.cfg.metafileMaxSize) {
      this.store(new Map([[contentKey, data]]), this.cfg.metafileContentTtlMs);
    }
    this.store(new Map([[existsKey, te.encode("true")]]), this.cfg.metafileExistsTtlMs);
    return data;
  }

  async exists(name: string, signal?: AbortSignal): Promise<boolean> {
    if (!isMetaFile(name)) return this.inner.exists(name, signal);
    this.request("exists", "meta.jsons");
    const key = `exists:${name}`;
    const v = await this.fetchOne(key);
    const s = v === undefined ? "" : td.decode(v);
    if (s === "true" || s === "false") {
      this.hit("exists", "meta.jsons");
      return s === "true";
    }
    const ok = await this.inner.exists(name, signal);
    this.store(
      new Map([[key, te.encode(String(ok))]]),
      ok ? this.cfg.metafileExistsTtlMs : this.cfg.metafileDoesntExistTtlMs,
    );
    return ok;
  }

  async attributes(name: string, signal?: AbortSignal): Promise<ObjectAttributes> {
    if (!isChunkFile(name)) return this.inner.attributes(name, signal);
    this.request("attributes", "chunks");
    const key = `attrs:${name}`;
    const v = await this.fetchOne(key);
    if (v !== undefined) {
      try {
        const o = JSON.parse(td.decode(v)) as { size: unknown; lastModified: unknown };
        if (
          typeof o.size === "number" && Number.isSafeInteger(o.size) && o.size >= 0 &&
          typeof o.lastModified === "number"
        ) {
          this.hit("attributes", "chunks");
          return { size: o.size, lastModified: new Date(o.lastModified) };
        }
      } catch {
        // an unusable item is a miss
      }
    }
    const a = await this.inner.attributes(name, signal);
    this.store(
      new Map([[
        key,
        te.encode(JSON.stringify({ size: a.size, lastModified: a.lastModified.getTime() })),
      ]]),
      this.cfg.chunkObjectAttrsTtlMs,
    );
    return a;
  }

  async getRange(
    name: string,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    if (!isChunkFile(name) || offset < 0 || length === 0) {
      return this.inner.getRange(name, offset, length, signal);
    }
    const got = await this.subranges(name, offset, length, signal);
    if (got === null) return new Uint8Array();
    const { subs, end } = got;
    const out = new Uint8Array(end - offset);
    for (const s of subs) {
      const from = Math.max(s.start, offset);
      const to = Math.min(s.end, end);
      if (to <= from) continue;
      const d = s.data!;
      out.set(d.subarray(from - s.start, to - s.start), from - offset);
    }
    return out;
  }

  /**
   * getRange's bytes handed to `sink` one cached subrange at a time, without a copy of the
   * whole range; other objects stream from the wrapped bucket.
   */
  async streamRange(
    name: string,
    offset: number,
    length: number,
    sink: RangePieceSink,
    signal?: AbortSignal,
  ): Promise<number> {
    if (!isChunkFile(name) || offset < 0 || length === 0) {
      return await streamBucketRange(this.inner, name, offset, length, sink, signal);
    }
    const got = await this.subranges(name, offset, length, signal);
    if (got === null) return 0;
    const { subs, end } = got;
    for (const s of subs) {
      const from = Math.max(s.start, offset);
      const to = Math.min(s.end, end);
      if (to > from) sink(s.data!.subarray(from - s.start, to - s.start));
    }
    return end - offset;
  }

  /**
   * The aligned subranges covering `length` bytes of chunk file `name` from `offset`, each with
   * its data (from the cache, else read from the bucket and stored), and where the range ends
   * in the object; null when `offset` is at or past its end.
   */
  private async subranges(
    name: string,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ): Promise<{ subs: Subrange[]; end: number } | null> {
    this.request("get_range", "chunks");
    const { size } = await this.attributes(name, signal);
    if (offset >= size) return null;
    const end = length < 0 ? size : Math.min(size, offset + length);
    this.m?.requestedBytes.labels("chunks").inc(end - offset);
    const S = this.cfg.chunkSubrangeSize;
    const subs: Subrange[] = [];
    for (let s = Math.floor(offset / S) * S; s < end; s += S) {
      const e = Math.min(s + S, size);
      subs.push({ start: s, end: e, key: `subrange:${name}:${s}:${e}` });
    }
    const got = await this.cache.fetch(subs.map((s) => s.key));
    let cachedBytes = 0;
    for (const s of subs) {
      const d = got.get(s.key);
      // an item of the wrong length (another object's bytes, a truncated value) is a miss
      if (d !== undefined && d.length === s.end - s.start) {
        s.data = d;
        cachedBytes += d.length;
      }
    }
    this.m?.fetchedBytes.labels("cache", "chunks").inc(cachedBytes);
    const missing = subs.filter((s) => s.data === undefined);
    if (missing.length === 0) {
      this.hit("get_range", "chunks");
    } else {
      await this.fetchMissing(name, subs, signal);
    }
    return { subs, end };
  }

  /**
   * Reads the missing subranges from the bucket, in at most `max_chunks_get_range_requests`
   * range requests (runs of missing subranges merged across the smallest cached gaps, whose
   * bytes are then read again), and stores them.
   */
  private async fetchMissing(
    name: string,
    subs: Subrange[],
    signal?: AbortSignal,
  ): Promise<void> {
    // runs of consecutive missing subranges, as [first, last] indexes into subs
    let runs: [number, number][] = [];
    for (let i = 0; i < subs.length; i++) {
      if (subs[i].data !== undefined) continue;
      const last = runs[runs.length - 1];
      if (last && last[1] === i - 1) last[1] = i;
      else runs.push([i, i]);
    }
    const max = this.cfg.maxChunksGetRangeRequests;
    while (max > 0 && runs.length > max) {
      let best = 1;
      for (let i = 2; i < runs.length; i++) {
        if (runs[i][0] - runs[i - 1][1] < runs[best][0] - runs[best - 1][1]) best = i;
      }
      runs = [
        ...runs.slice(0, best - 1),
        [runs[best - 1][0], runs[best][1]],
        ...runs.slice(best + 1),
      ];
    }
    const toStore = new Map<string, Uint8Array>();
    await Promise.all(runs.map(async ([a, b]) => {
      const start = subs[a].start;
      const end = subs[b].end;
      const buf = await this.inner.getRange(name, start, end - start, signal);
      this.m?.fetchedBytes.labels("bucket", "chunks").inc(buf.length);
      if (buf.length !== end - start) {
        throw new Error(
          `bucket ${this.inner.name}: object ${JSON.stringify(name)} is shorter than its ` +
            `cached size (read ${buf.length} of ${end - start} bytes at ${start})`,
        );
      }
      for (let i = a; i <= b; i++) {
        const s = subs[i];
        const d = buf.slice(s.start - start, s.end - start);
        if (s.data === undefined) toStore.set(s.key, d);
        else this.m?.refetchedBytes.labels("cache", "chunks").inc(d.length);
        s.data = d;
      }
    }));
    this.store(toStore, this.cfg.chunkSubrangeTtlMs);
  }

  async *iter(dir: string, opts?: IterOptions): AsyncIterable<string> {
    if (dir !== "" && dir !== "/") {
      yield* this.inner.iter(dir, opts);
      return;
    }
    this.request("iter", "blocks-iter");
    const key = `${opts?.recursive ? "iter-recursive" : "iter"}::${this.bucketId}`;
    const v = await this.fetchOne(key);
    if (v !== undefined) {
      let names: unknown;
      try {
        names = JSON.parse(td.decode(v));
      } catch {
        names = null;
      }
      if (Array.isArray(names) && names.every((n) => typeof n === "string")) {
        this.hit("iter", "blocks-iter");
        yield* names as string[];
        return;
      }
    }
    const names: string[] = [];
    for await (const n of this.inner.iter(dir, opts)) names.push(n);
    this.store(new Map([[key, te.encode(JSON.stringify(names))]]), this.cfg.blocksIterTtlMs);
    yield* names;
  }

  upload(
    name: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<void> {
    return this.inner.upload(name, data, signal);
  }

  uploadFile(name: string, path: string, signal?: AbortSignal): Promise<void> {
    if (this.inner.uploadFile) return this.inner.uploadFile(name, path, signal);
    return uploadFileByStream(this.inner, name, path, signal);
  }

  delete(name: string, signal?: AbortSignal): Promise<void> {
    return this.inner.delete(name, signal);
  }

  /** Resolves once the cache writes started so far are done (or dropped). */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** Waits for pending cache writes, closes the cache, then the bucket. */
  async close(): Promise<void> {
    await Promise.all([...this.pending]);
    this.cache.close();
    await this.inner.close();
  }
}
