// In-memory LRU index cache of the store gateway (`--index-cache-size`,
// https://thanos.io/tip/components/store.md/#in-memory-index-cache; Thanos's
// https://github.com/thanos-io/thanos/blob/main/pkg/store/cache/inmemory.go): postings lists per
// block and matcher, and series entries per block and ref kept as bytes (the index's own entry),
// bounded by their size in bytes. Metric names follow Thanos's `thanos_store_index_cache_*`.

import { parse as parseYaml } from "yaml";
import { parseBase2Bytes } from "../strconv/bytes.ts";
import { byteString } from "../strconv/byte_string.ts";
import type { Counter, CounterChild, Gauge, GaugeChild, Registry } from "../metrics/registry.ts";
import type { IndexSeries } from "../tsdb/index/reader.ts";
import { Decbuf, Encbuf } from "../tsdb/encoding.ts";
import type { Cache } from "../cache/cache.ts";
import { encodeLabelsProto } from "../storeapi/codec.ts";
import { CacheSlots, FREE_KIND, MAX_SLOT_SIZE, NO_SLOT } from "./index_cache_slots.ts";
import {
  type CacheConfig,
  CacheConfigError,
  INDEX_CACHE_FIELDS,
  parseCacheConfig,
} from "../cache/config.ts";

/**
 * Decodes a cached series entry body (the index's own bytes) of series `ref`; `labelsProto` is
 * the entry's {@link IndexSeries.labelsProto}, to be set on the result.
 */
export type SeriesBodyDecoder = (
  ref: number,
  body: Uint8Array,
  labelsProto: string | undefined,
) => IndexSeries;

/** Kinds of cached items, as Thanos's `item_type` label. */
export type CacheItemType = "Postings" | "Series" | "ExpandedPostings";

/** Item types by their kind number in the cache's slots. */
const TYPES: readonly CacheItemType[] = ["Postings", "Series", "ExpandedPostings"];
const SERIES_KIND = 1;

/**
 * The index cache as the bucket store uses it: lookups are asynchronous (a remote backend answers
 * over the network), writes are fire-and-forget, and a failing backend is a miss, never an error.
 */
export interface StoreIndexCache {
  /** Cached postings of `block` for `key` (a matcher's canonical form). */
  fetchPostings(block: string, key: string): Promise<Uint32Array | undefined>;
  /** Caches postings of `block` for `key`. */
  storePostings(block: string, key: string, postings: Uint32Array): void;
  /** Cached series refs of `block` matching a whole matcher set (`key`, its canonical form). */
  fetchExpandedPostings(block: string, key: string): Promise<Uint32Array | undefined>;
  /** Caches the series refs of `block` matching the matcher set `key`. */
  storeExpandedPostings(block: string, key: string, postings: Uint32Array): void;
  /**
   * Cached series entries of `block` for `refs`, undefined where missing. `decodeBody` decodes
   * an entry the cache kept as the index's own bytes (see `storeSeries`), with the ready
   * encoding of its labels the cache may keep beside it (`labelsProto`).
   */
  fetchSeries(
    block: string,
    refs: ArrayLike<number>,
    decodeBody?: SeriesBodyDecoder,
  ): Promise<(IndexSeries | undefined)[]>;
  /**
   * Caches series entries of `block`; `bodies` may hold an entry's body as read from the index
   * (symbol references: the most compact form, decoded again by the block's index reader).
   * `labelsProto`: keep beside each entry its labels ready-encoded for answers, when the cache
   * can (a block without external labels: its series go out with their labels as they are).
   */
  storeSeries(
    block: string,
    series: readonly IndexSeries[],
    bodies?: ReadonlyMap<number, Uint8Array>,
    labelsProto?: boolean,
  ): void;
  /** Forgets what it can of `block` (after the block was unloaded). */
  dropBlock(block: string): void;
  /** Waits for pending writes, then closes connections. */
  close(): Promise<void>;
}

/** First char of a cached series string: the index's own entry body, or {@link encodeSeries}. */
const BODY_TAG_CODE = "r".charCodeAt(0);
const ENCODED_TAG_CODE = "e".charCodeAt(0);

/** Scratch buffer for {@link seriesString} (grown to the largest entry). */
let entryBytes = new Uint8Array(1024);

/**
 * A series entry as one flat string of one char per byte: its tag, then its body. Built from
 * bytes: `tag + body` would be a cons string (32 bytes more per entry). The ready labels stay a
 * string of their own: kept in this one after the body, each hit handed them over as a sliced
 * string, ~90 ns slower per series for the answer's encoder to copy (a 1,000-series selector's
 * store CPU +7 %) for 24 bytes less per entry.
 */
function seriesString(tag: number, body: Uint8Array): string {
  const n = 1 + body.length;
  if (entryBytes.length < n) entryBytes = new Uint8Array(Math.max(n, 2 * entryBytes.length));
  const b = entryBytes;
  b[0] = tag;
  b.set(body, 1);
  return byteString(b.subarray(0, n));
}

/** Scratch buffer for {@link stringBytes} (decoding is synchronous, so one is shared). */
let scratch = new Uint8Array(1024);
/**
 * `scratchViews[n]`: the view of the first `n` scratch bytes, made once per length (entries are
 * a few hundred bytes at most): a typed-array view per decoded entry was garbage per hit.
 */
let scratchViews: Uint8Array[] = [];

/** The bytes of a cached series string (without its tag), valid until the next call. */
function stringBytes(s: string): Uint8Array {
  const n = s.length - 1;
  if (scratch.length < n) {
    scratch = new Uint8Array(Math.max(n, 2 * scratch.length));
    scratchViews = [];
  }
  const b = scratch;
  for (let i = 0; i < n; i++) b[i] = s.charCodeAt(i + 1);
  if (n >= 4096) return b.subarray(0, n);
  return scratchViews[n] ??= b.subarray(0, n);
}

/**
 * A cached series entry decoded (`v`, its {@link seriesString}; `ready`, its labels' ready
 * encoding or ""): the index's own body by `decodeBody`, else our encoding; with its labels'
 * ready encoding.
 */
function decodeEntry(
  v: string,
  ready: string,
  ref: number,
  decodeBody?: SeriesBodyDecoder,
): IndexSeries | undefined {
  const proto = ready === "" ? undefined : ready;
  if (v.charCodeAt(0) === ENCODED_TAG_CODE) return decodeSeries(stringBytes(v), proto);
  return decodeBody?.(ref, stringBytes(v), proto);
}

/**
 * Bytes a string of `n` one-byte chars holds: a 16-byte header (map, hash, length; Deno's V8
 * keeps full 8-byte pointers), rounded up to 8 bytes (measured: 1,000,000 strings of 4, 8, 12,
 * 16 chars held 24, 24, 32, 32 bytes each).
 */
function stringHeapBytes(n: number): number {
  return (16 + n + 7) & ~7;
}

/**
 * Fixed per-item overhead estimate beyond an item's bytes and key (its slot in the typed arrays,
 * the series table or the postings maps, the value's header), so the bound (`--index-cache-size`)
 * is the memory held: measured on V8 (bench/index_cache_memory.ts), 200,000 series entries held
 * 101 B each beyond their chars (8 counted as the key, ~14 as the ready labels' header), 400
 * postings lists 109 B beyond their elements (~30 counted as the key); ~20 B more just after the
 * arrays doubled. (An object per item, its map entry and a cons string took 224.)
 */
export const INDEX_CACHE_ENTRY_OVERHEAD = 80;

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
export class IndexCache implements StoreIndexCache {
  /** Every item in slots: recency order, sizes, kinds, series entries by block number and ref. */
  private readonly slots = new CacheSlots();
  /** Slots of postings and expanded postings by key. */
  private readonly entries = new Map<string, number>();
  /** The key of each postings and expanded postings slot (a few per query, unlike series). */
  private readonly listKeys = new Map<number, string>();
  private count = 0;
  /**
   * A number per block for item keys (a ULID in each of a hundred thousand keys would cost more
   * than the series bytes); never reused, so a dropped block's keys cannot collide.
   */
  private readonly blockNums = new Map<string, number>();
  private nextBlockNum = 0;
  private bytes = 0;
  /** Request and hit counters per item type, resolved once (a hit is counted per lookup). */
  private lookups?: Record<CacheItemType, { requests: CounterChild; hits: CounterChild }>;
  /** Store, eviction, item and size metrics per item type, resolved once. */
  private typeMetrics?: Record<
    CacheItemType,
    { added: CounterChild; evicted: CounterChild; items: GaugeChild; size: GaugeChild }
  >;
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
      for (const t of ["Postings", "Series", "ExpandedPostings"]) {
        this.metrics.items.set({ item_type: t }, 0);
        this.metrics.size.set({ item_type: t }, 0);
      }
      const m = this.metrics;
      const lookup = (t: CacheItemType) => ({
        requests: m.requests.labels(t),
        hits: m.hits.labels(t),
      });
      this.lookups = {
        Postings: lookup("Postings"),
        Series: lookup("Series"),
        ExpandedPostings: lookup("ExpandedPostings"),
      };
      const children = (t: CacheItemType) => ({
        added: m.added.labels(t),
        evicted: m.evicted.labels(t),
        items: m.items.labels(t),
        size: m.size.labels(t),
      });
      this.typeMetrics = {
        Postings: children("Postings"),
        Series: children("Series"),
        ExpandedPostings: children("ExpandedPostings"),
      };
    }
  }

  private blockNum(block: string): number {
    let n = this.blockNums.get(block);
    if (n === undefined) this.blockNums.set(block, n = this.nextBlockNum++);
    return n;
  }

  /** Bytes currently held (estimated). */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** Number of items held. */
  get itemCount(): number {
    return this.count;
  }

  private on(type: CacheItemType): boolean {
    return this.maxBytes > 0 && (this.enabled === undefined || this.enabled.has(type));
  }

  private get<T extends Uint32Array | string>(
    type: CacheItemType,
    key: string,
  ): T | undefined {
    if (!this.on(type)) return undefined;
    const counts = this.lookups?.[type];
    counts?.requests.inc();
    const s = this.entries.get(key);
    if (s === undefined) return undefined;
    this.slots.touch(s);
    counts?.hits.inc();
    return this.slots.values[s] as T;
  }

  /** Size an item of `size` bytes is counted with, or -1 when it may not be cached. */
  private admit(type: CacheItemType, size: number, keyBytes: number): number {
    if (!this.on(type)) return -1;
    const total = size + INDEX_CACHE_ENTRY_OVERHEAD + keyBytes;
    return total > this.maxItemBytes || total > MAX_SLOT_SIZE ? -1 : total;
  }

  /** Evicts the least recently used items until `total` more bytes fit the bound. */
  private makeRoom(total: number): void {
    while (this.bytes + total > this.maxBytes && this.slots.oldest !== NO_SLOT) {
      this.remove(this.slots.oldest, true);
    }
  }

  /** Stores postings `value` of block number `block` under `key`, evicting past the bound. */
  private setList(type: CacheItemType, block: number, key: string, value: Uint32Array): void {
    const total = this.admit(type, value.byteLength, 2 * key.length);
    if (total < 0) return;
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(old, false);
    this.makeRoom(total);
    const s = this.slots.alloc(TYPES.indexOf(type), block, 0, value, "", total);
    this.entries.set(key, s);
    this.listKeys.set(s, key);
    this.added(type, total);
  }

  /**
   * Stores series entry `ref` of block number `block` as `value` (its {@link seriesString})
   * beside its ready labels `proto` ("" none), counted as `size` bytes, evicting past the bound.
   */
  private setSeriesItem(block: number, ref: number, value: string, proto: string, size: number) {
    const total = this.admit("Series", size, 8);
    if (total < 0) return;
    const old = this.slots.findSeries(block, ref);
    if (old !== NO_SLOT) this.remove(old, false);
    this.makeRoom(total);
    this.slots.indexSeries(this.slots.alloc(SERIES_KIND, block, ref, value, proto, total));
    this.added("Series", total);
  }

  private added(type: CacheItemType, total: number): void {
    this.count++;
    this.bytes += total;
    const m = this.typeMetrics?.[type];
    m?.added.inc();
    m?.items.inc();
    m?.size.inc(total);
  }

  private remove(s: number, evicted: boolean): void {
    const slots = this.slots;
    const kind = slots.kinds[s];
    if (kind === SERIES_KIND) slots.unindexSeries(s);
    else {
      this.entries.delete(this.listKeys.get(s)!);
      this.listKeys.delete(s);
    }
    const size = slots.sizes[s];
    slots.release(s);
    this.count--;
    this.bytes -= size;
    const m = this.typeMetrics?.[TYPES[kind]];
    if (evicted) m?.evicted.inc();
    m?.items.dec();
    m?.size.dec(size);
  }

  /** Cached postings of `block` for `key` (a matcher's canonical form). */
  getPostings(block: string, key: string): Uint32Array | undefined {
    return this.get<Uint32Array>("Postings", `P:${this.blockNum(block).toString(36)}:${key}`);
  }

  /** Caches postings of `block` for `key`. */
  setPostings(block: string, key: string, postings: Uint32Array): void {
    const n = this.blockNum(block);
    this.setList("Postings", n, `P:${n.toString(36)}:${key}`, postings);
  }

  /** Cached series entry `ref` of `block`. */
  getSeries(
    block: string,
    ref: number,
    decodeBody?: SeriesBodyDecoder,
  ): IndexSeries | undefined {
    return this.seriesOf(block, [ref], decodeBody)[0];
  }

  /**
   * Caches series entry `ref` of `block` as bytes, like Thanos's cache holds the entry's bytes:
   * `body` (the index's own entry, symbol references) when given, else {@link encodeSeries}. A
   * decoded entry costs several times that in JS objects (a boxed number per chunk time, arrays,
   * headers), and the cache's byte bound should be the memory it holds. With `labelsProto`,
   * beside it and counted in its size, the labels' `Series` fields ready for an answer
   * ({@link encodeLabelsProto}): a hit hands them over as `labelsProto`, and the encoder copies
   * them instead of measuring and encoding the label strings of each series on every call.
   */
  setSeries(
    block: string,
    ref: number,
    s: IndexSeries,
    body?: Uint8Array,
    labelsProto = false,
  ): void {
    if (!this.on("Series")) return;
    const v = body
      ? seriesString(BODY_TAG_CODE, body)
      : seriesString(ENCODED_TAG_CODE, encodeSeries(s));
    const n = this.blockNum(block);
    if (!labelsProto) {
      this.setSeriesItem(n, ref, v, "", v.length);
      return;
    }
    const proto = encodeLabelsProto(s.labels);
    // the value's header is in INDEX_CACHE_ENTRY_OVERHEAD, the second string's is not
    this.setSeriesItem(n, ref, v, proto, v.length + stringHeapBytes(proto.length));
  }

  fetchPostings(block: string, key: string): Promise<Uint32Array | undefined> {
    return Promise.resolve(this.getPostings(block, key));
  }

  storePostings(block: string, key: string, postings: Uint32Array): void {
    this.setPostings(block, key, postings);
  }

  fetchExpandedPostings(block: string, key: string): Promise<Uint32Array | undefined> {
    return Promise.resolve(
      this.get<Uint32Array>("ExpandedPostings", `E:${this.blockNum(block).toString(36)}:${key}`),
    );
  }

  storeExpandedPostings(block: string, key: string, postings: Uint32Array): void {
    const n = this.blockNum(block);
    this.setList("ExpandedPostings", n, `E:${n.toString(36)}:${key}`, postings);
  }

  fetchSeries(
    block: string,
    refs: ArrayLike<number>,
    decodeBody?: SeriesBodyDecoder,
  ): Promise<(IndexSeries | undefined)[]> {
    return Promise.resolve(this.seriesOf(block, refs, decodeBody));
  }

  /** Series entries `refs` of `block`, decoded; hits made recent, lookups counted once. */
  private seriesOf(
    block: string,
    refs: ArrayLike<number>,
    decodeBody?: SeriesBodyDecoder,
  ): (IndexSeries | undefined)[] {
    const out = new Array<IndexSeries | undefined>(refs.length).fill(undefined);
    if (!this.on("Series")) return out;
    const n = this.blockNums.get(block);
    const slots = this.slots;
    let hits = 0;
    if (n !== undefined) {
      for (let i = 0; i < refs.length; i++) {
        const s = slots.findSeries(n, refs[i]);
        if (s === NO_SLOT) continue;
        slots.touch(s);
        hits++;
        out[i] = decodeEntry(slots.values[s] as string, slots.labels[s], refs[i], decodeBody);
      }
    }
    // counted once per call: two counter updates per entry cost more than the map lookup
    const counts = this.lookups?.Series;
    counts?.requests.inc(refs.length);
    counts?.hits.inc(hits);
    return out;
  }

  storeSeries(
    block: string,
    series: readonly IndexSeries[],
    bodies?: ReadonlyMap<number, Uint8Array>,
    labelsProto = false,
  ): void {
    for (const s of series) this.setSeries(block, s.ref, s, bodies?.get(s.ref), labelsProto);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Drops every item of `block` (after the block was unloaded). */
  dropBlock(block: string): void {
    const n = this.blockNums.get(block);
    if (n === undefined) return;
    this.blockNums.delete(block);
    const slots = this.slots;
    for (let s = 0; s < slots.length; s++) {
      if (slots.blocks[s] === n && slots.kinds[s] !== FREE_KIND) this.remove(s, false);
    }
  }
}

// ---- remote backends (MEMCACHED, REDIS): Thanos's RemoteIndexCache
// (https://thanos.io/tip/components/store.md/#memcached-index-cache), over the cache/ clients.

/**
 * Postings as bytes: the uvarint count, then the first ref and the gaps between sorted refs as
 * uvarints (a dense list takes about one byte per series).
 */
export function encodePostings(p: Uint32Array): Uint8Array {
  const e = new Encbuf(8 + p.length * 2);
  e.putUvarint(p.length);
  let prev = 0;
  for (let i = 0; i < p.length; i++) {
    e.putUvarint(p[i] - prev);
    prev = p[i];
  }
  return e.bytes().slice();
}

/** Inverse of {@link encodePostings}; throws on malformed bytes. */
export function decodePostings(b: Uint8Array): Uint32Array {
  const d = new Decbuf(b, "postings cache item");
  const n = d.uvarint();
  if (n > b.length) d.fail("postings count exceeds item size");
  const out = new Uint32Array(n);
  let v = 0;
  for (let i = 0; i < n; i++) {
    v += d.uvarint();
    if (v > 0xffffffff) d.fail("postings ref out of range");
    out[i] = v;
  }
  if (d.remaining !== 0) d.fail("trailing bytes after postings");
  return out;
}

/**
 * A series entry as bytes: its ref, its label pairs as uvarint-prefixed strings, then its chunk
 * metas as gaps (minTime from the previous maxTime, maxTime from minTime, ref from the previous
 * ref), like the index's own series encoding.
 */
export function encodeSeries(s: IndexSeries): Uint8Array {
  const e = new Encbuf(32 + s.labels.length * 16 + s.chunks.length * 8);
  e.putUvarint(s.ref);
  e.putUvarint(s.labels.length);
  for (const l of s.labels) e.putUvarintStr(l);
  e.putUvarint(s.chunks.length);
  let t = 0;
  let ref = 0;
  for (const c of s.chunks) {
    e.putVarint(c.minTime - t);
    e.putUvarint(c.maxTime - c.minTime);
    e.putVarint(c.ref - ref);
    t = c.maxTime;
    ref = c.ref;
  }
  return e.bytes().slice();
}

/** Inverse of {@link encodeSeries} (with `labelsProto` set); throws on malformed bytes. */
export function decodeSeries(b: Uint8Array, labelsProto?: string): IndexSeries {
  const d = new Decbuf(b, "series cache item");
  const ref = d.uvarint();
  const nl = d.uvarint();
  if (nl > b.length) d.fail("label count exceeds item size");
  const labels: string[] = [];
  for (let i = 0; i < nl; i++) labels.push(d.uvarintStr());
  const nc = d.uvarint();
  if (nc > b.length) d.fail("chunk count exceeds item size");
  const chunks = [];
  let t = 0;
  let cref = 0;
  for (let i = 0; i < nc; i++) {
    const minTime = t + d.varint();
    const maxTime = minTime + d.uvarint();
    cref += d.varint();
    chunks.push({ minTime, maxTime, ref: cref });
    t = maxTime;
  }
  if (d.remaining !== 0) d.fail("trailing bytes after series");
  return labelsProto === undefined ? { ref, labels, chunks } : { ref, labels, chunks, labelsProto };
}

/** Options of {@link RemoteIndexCache}. */
export interface RemoteIndexCacheOptions {
  registry?: Registry;
  /** Item types cached (`enabled_items`); default all. */
  enabledItems?: readonly CacheItemType[];
  /** Expiration of stored items (`ttl`, 0: the backend's `expiration`, default 24h). */
  ttlMs?: number;
}

const textEncoder = new TextEncoder();

/**
 * The index cache over a remote {@link Cache} (memcached, redis): items encoded to bytes,
 * keyed per block ULID (`P:<ulid>:<sha256 of the matcher>`, `E:<ulid>:<sha256 of the matcher
 * set>`, `S:<ulid>:<ref>`). The backend
 * never throws; a failure or an undecodable item is a miss, so a query only ever gets slower.
 * Writes run in the background; {@link close} waits for them.
 */
export class RemoteIndexCache implements StoreIndexCache {
  private readonly enabled?: ReadonlySet<CacheItemType>;
  private readonly requests?: Counter;
  private readonly hits?: Counter;
  private readonly pending = new Set<Promise<void>>();
  private readonly ttlMs: number;

  constructor(readonly cache: Cache, opts: RemoteIndexCacheOptions = {}) {
    this.enabled = opts.enabledItems ? new Set(opts.enabledItems) : undefined;
    this.ttlMs = opts.ttlMs ?? 0;
    const reg = opts.registry;
    if (reg) {
      const lbl = ["item_type"];
      this.requests = reg.counter({
        name: "thanos_store_index_cache_requests_total",
        help: "Total number of items requests to the cache.",
        labelNames: lbl,
      });
      this.hits = reg.counter({
        name: "thanos_store_index_cache_hits_total",
        help: "Total number of items requests to the cache that were a hit.",
        labelNames: lbl,
      });
      for (const t of ["Postings", "Series", "ExpandedPostings"]) {
        this.requests.inc({ item_type: t }, 0);
        this.hits.inc({ item_type: t }, 0);
      }
    }
  }

  private on(type: CacheItemType): boolean {
    return !this.enabled || this.enabled.has(type);
  }

  private static async postingsKey(prefix: string, block: string, key: string): Promise<string> {
    // a matcher can be long and hold spaces: memcached keys are at most 250 bytes, no spaces
    const h = new Uint8Array(await crypto.subtle.digest("SHA-256", textEncoder.encode(key)));
    let hex = "";
    for (const x of h) hex += x.toString(16).padStart(2, "0");
    return `${prefix}:${block}:${hex}`;
  }

  private track(work: Promise<void>): void {
    const p = work.catch(() => {});
    this.pending.add(p);
    p.finally(() => this.pending.delete(p));
  }

  fetchPostings(block: string, key: string): Promise<Uint32Array | undefined> {
    return this.fetchList("Postings", "P", block, key);
  }

  storePostings(block: string, key: string, postings: Uint32Array): void {
    this.storeList("Postings", "P", block, key, postings);
  }

  fetchExpandedPostings(block: string, key: string): Promise<Uint32Array | undefined> {
    return this.fetchList("ExpandedPostings", "E", block, key);
  }

  storeExpandedPostings(block: string, key: string, postings: Uint32Array): void {
    this.storeList("ExpandedPostings", "E", block, key, postings);
  }

  private async fetchList(
    type: CacheItemType,
    prefix: string,
    block: string,
    key: string,
  ): Promise<Uint32Array | undefined> {
    if (!this.on(type)) return undefined;
    this.requests?.inc({ item_type: type });
    const k = await RemoteIndexCache.postingsKey(prefix, block, key);
    const b = (await this.cache.fetch([k])).get(k);
    if (b === undefined) return undefined;
    let p: Uint32Array;
    try {
      p = decodePostings(b);
    } catch {
      return undefined;
    }
    this.hits?.inc({ item_type: type });
    return p;
  }

  private storeList(
    type: CacheItemType,
    prefix: string,
    block: string,
    key: string,
    postings: Uint32Array,
  ): void {
    if (!this.on(type)) return;
    const bytes = encodePostings(postings);
    this.track(
      RemoteIndexCache.postingsKey(prefix, block, key).then((k) =>
        this.cache.store(new Map([[k, bytes]]), this.ttlMs)
      ),
    );
  }

  async fetchSeries(block: string, refs: ArrayLike<number>): Promise<(IndexSeries | undefined)[]> {
    const out = new Array<IndexSeries | undefined>(refs.length).fill(undefined);
    if (!this.on("Series") || refs.length === 0) return out;
    this.requests?.inc({ item_type: "Series" }, refs.length);
    const keys: string[] = [];
    for (let i = 0; i < refs.length; i++) keys.push(`S:${block}:${refs[i]}`);
    const got = await this.cache.fetch(keys);
    let n = 0;
    for (let i = 0; i < refs.length; i++) {
      const b = got.get(keys[i]);
      if (b === undefined) continue;
      try {
        const s = decodeSeries(b);
        if (s.ref !== refs[i]) continue;
        out[i] = s;
        n++;
      } catch {
        // an undecodable item is a miss; the entry is read from the bucket and stored again
      }
    }
    this.hits?.inc({ item_type: "Series" }, n);
    return out;
  }

  storeSeries(block: string, series: readonly IndexSeries[]): void {
    if (!this.on("Series") || series.length === 0) return;
    const m = new Map<string, Uint8Array>();
    for (const s of series) m.set(`S:${block}:${s.ref}`, encodeSeries(s));
    this.track(this.cache.store(m, this.ttlMs));
  }

  dropBlock(_block: string): void {
    // remote items expire with their TTL, as in Thanos
  }

  /** Resolves once the cache writes started so far are done (or dropped). */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  async close(): Promise<void> {
    await Promise.all([...this.pending]);
    this.cache.close();
  }
}

/** An index cache configuration as `--index-cache.config` gives it, for the IN-MEMORY type. */
export interface InMemoryIndexCacheConfig {
  maxBytes: number;
  maxItemBytes: number;
  /** Undefined: every item type. */
  enabledItems?: CacheItemType[];
}

/** An index cache configuration of type MEMCACHED or REDIS. */
export interface RemoteIndexCacheConfig {
  backend: Extract<CacheConfig, { type: "MEMCACHED" | "REDIS" }>;
  /** Undefined: every item type. */
  enabledItems?: CacheItemType[];
  /** Expiration of stored items; 0: the backend's `expiration` (default 24h). */
  ttlMs: number;
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
 * `ExpandedPostings`: the series of a whole matcher set), `ttl` (no effect, as in Thanos).
 * MEMCACHED and REDIS: the backend's `config` (cache/config.ts, Thanos's fields and defaults),
 * and beside it `enabled_items` and `ttl` (expiration of stored items).
 */
export function parseIndexCacheConfig(
  text: string,
): InMemoryIndexCacheConfig | RemoteIndexCacheConfig {
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
  const unknownTop = Object.keys(rest).filter((k) =>
    !(INDEX_CACHE_FIELDS as readonly string[]).includes(k)
  );
  if (unknownTop.length > 0) {
    throw new IndexCacheConfigError(`index cache config: unknown field ${unknownTop[0]}`);
  }
  const kind = String(type ?? "").toUpperCase();
  if (kind === "MEMCACHED" || kind === "REDIS") return parseRemote(text, rest);
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
  // Thanos reads enabled_items beside config; earlier builds read it inside config: take either
  const enabledItems = parseEnabledItems(c.enabled_items ?? rest.enabled_items);
  if (enabledItems) out.enabledItems = enabledItems;
  return out;
}

/** `enabled_items`: undefined for every type (unset or empty). */
function parseEnabledItems(items: unknown): CacheItemType[] | undefined {
  if (items === undefined || items === null) return undefined;
  if (!Array.isArray(items)) {
    throw new IndexCacheConfigError("index cache config: enabled_items must be a list");
  }
  if (items.length === 0) return undefined;
  const out: CacheItemType[] = [];
  for (const it of items) {
    if (it === "Postings" || it === "Series" || it === "ExpandedPostings") out.push(it);
    else {
      throw new IndexCacheConfigError(
        `index cache config: unsupported item type ${JSON.stringify(it)}: want Postings, ` +
          "Series or ExpandedPostings",
      );
    }
  }
  return out;
}

/** MEMCACHED or REDIS: `config` as the cache clients read it, `enabled_items` and `ttl` beside. */
function parseRemote(text: string, top: Record<string, unknown>): RemoteIndexCacheConfig {
  let backend: CacheConfig;
  try {
    backend = parseCacheConfig(text, INDEX_CACHE_FIELDS);
  } catch (e) {
    if (e instanceof CacheConfigError) {
      throw new IndexCacheConfigError(e.message.replace(/^cache config: /, "index cache config: "));
    }
    throw e;
  }
  if (backend.type === "IN-MEMORY") throw new IndexCacheConfigError("unreachable");
  const out: RemoteIndexCacheConfig = { backend, ttlMs: backend.ttlMs };
  const enabledItems = parseEnabledItems(top.enabled_items);
  if (enabledItems) out.enabledItems = enabledItems;
  return out;
}
