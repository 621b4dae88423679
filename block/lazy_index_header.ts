// The lazy index-header reader of `--store.enable-index-header-lazy-reader` (Thanos's
// LazyBinaryReader and ReaderPool:
// https://github.com/thanos-io/thanos/blob/main/pkg/block/indexheader/lazy_binary_reader.go and
// reader_pool.go): a block's index-header is opened only when a query needs the block, and closed
// again once no query used it for the idle timeout (`--store.index-header-lazy-reader-idle-timeout`,
// 5m), so the store gateway's memory follows the blocks queries touch, not the bucket.
//
// Where Thanos holds a read lock around each call, a user here acquires the reader for as long as
// it reads the block (a Series call's whole stream of that block) and releases it after: a
// reference count. An unload skips a reader that is in use, so a block unloaded "while a query
// uses it" is only unloaded after the query let it go. A failed load is counted and retried at
// the next use (Thanos keeps the first error until the block is dropped).

import type { Counter, Histogram, Registry } from "../metrics/registry.ts";
import type { IndexReader } from "../tsdb/index/reader.ts";
import type { OpenedIndexHeader } from "./index_header.ts";

/** Thanos's default of the hidden `--store.index-header-lazy-reader-idle-timeout`. */
export const DEFAULT_LAZY_READER_IDLE_TIMEOUT_MS = 5 * 60_000;

/** Thanos's lazy reader metrics (prefix `thanos_bucket_store_`, as the store registers them). */
export interface LazyReaderMetrics {
  loads: Counter;
  loadFailures: Counter;
  unloads: Counter;
  unloadFailures: Counter;
  loadDuration: Histogram;
}

/** Registers Thanos's lazy index-header reader metrics. */
export function lazyReaderMetrics(reg: Registry): LazyReaderMetrics {
  return {
    loads: reg.counter({
      name: "thanos_bucket_store_indexheader_lazy_load_total",
      help: "Total number of index-header lazy load operations.",
    }),
    loadFailures: reg.counter({
      name: "thanos_bucket_store_indexheader_lazy_load_failed_total",
      help: "Total number of failed index-header lazy load operations.",
    }),
    unloads: reg.counter({
      name: "thanos_bucket_store_indexheader_lazy_unload_total",
      help: "Total number of index-header lazy unload operations.",
    }),
    unloadFailures: reg.counter({
      name: "thanos_bucket_store_indexheader_lazy_unload_failed_total",
      help: "Total number of failed index-header lazy unload operations.",
    }),
    loadDuration: reg.histogram({
      name: "thanos_bucket_store_indexheader_lazy_load_duration_seconds",
      help: "Duration of the index-header lazy loading in seconds.",
      buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 15, 30, 60, 90, 120, 300],
    }),
  };
}

/** A block's index as its users see it: acquired around each use, released after. */
export interface BlockIndexHandle {
  /** The index, opened if needed; each call must be paired with one {@link release}. */
  acquire(): Promise<IndexReader>;
  release(): void;
  /** The open index while some user holds it (or always, for an eager handle); else null. */
  readonly current: IndexReader | null;
  /** Closes the index (after its users released it, for a lazy handle). */
  close(): Promise<void>;
}

/** An index opened at block load and kept open until the block is dropped (the default). */
export class EagerIndexHandle implements BlockIndexHandle {
  constructor(readonly current: IndexReader) {}
  acquire(): Promise<IndexReader> {
    return Promise.resolve(this.current);
  }
  release(): void {}
  close(): Promise<void> {
    return this.current.close();
  }
}

/** Options of {@link LazyIndexHandle}. */
export interface LazyIndexHandleOptions {
  metrics?: LazyReaderMetrics;
  /** Milliseconds of a monotonic clock (tests inject one); `performance.now` by default. */
  now?: () => number;
}

/** An index-header opened on first use and unloaded by its {@link ReaderPool} when idle. */
export class LazyIndexHandle implements BlockIndexHandle {
  private index: IndexReader | null = null;
  private loading: Promise<IndexReader> | null = null;
  private refs = 0;
  private usedAt: number;
  private closed = false;
  private readonly now: () => number;
  /** Called by the pool when the handle closes, to stop tracking it. */
  onClosed?: (h: LazyIndexHandle) => void;

  constructor(
    private readonly open: () => Promise<OpenedIndexHeader>,
    private readonly opts: LazyIndexHandleOptions = {},
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.usedAt = this.now();
  }

  get current(): IndexReader | null {
    return this.index;
  }

  /** True while the index-header is open. */
  get loaded(): boolean {
    return this.index !== null;
  }

  /** Users holding the reader now. */
  get inUse(): number {
    return this.refs;
  }

  async acquire(): Promise<IndexReader> {
    if (this.closed) throw new Error("index-header reader is closed");
    // counted before any await: an unload never closes what a pending user is about to read
    this.refs++;
    this.usedAt = this.now();
    if (this.index) return this.index;
    try {
      this.loading ??= this.load().finally(() => this.loading = null);
      return await this.loading;
    } catch (e) {
      this.refs--;
      throw e;
    }
  }

  release(): void {
    if (this.refs <= 0) throw new Error("index-header reader released more often than acquired");
    this.refs--;
    this.usedAt = this.now();
    // a failed close is counted in the unload failures metric; nothing else can act on it
    if (this.refs === 0 && this.closed) this.unload().catch(() => undefined);
  }

  private async load(): Promise<IndexReader> {
    const m = this.opts.metrics;
    m?.loads.inc();
    const began = performance.now();
    let opened: OpenedIndexHeader;
    try {
      opened = await this.open();
    } catch (e) {
      m?.loadFailures.inc();
      throw new Error(`lazy load index-header: ${(e as Error).message}`, { cause: e });
    }
    m?.loadDuration.observe((performance.now() - began) / 1000);
    if (this.closed && this.refs === 0) {
      await opened.index.close();
      throw new Error("index-header reader is closed");
    }
    this.index = opened.index;
    return opened.index;
  }

  /**
   * Closes the index-header if it is open, not in use and was last used at or before `ts` (of
   * the handle's clock); `ts` undefined: whenever it is not in use. Returns whether it unloaded.
   */
  async unloadIfIdleSince(ts?: number): Promise<boolean> {
    const ix = this.index;
    if (ix === null || this.refs > 0 || this.loading) return false;
    if (ts !== undefined && this.usedAt > ts) return false;
    this.index = null;
    return await this.closeReader(ix);
  }

  private unload(): Promise<boolean> {
    return this.unloadIfIdleSince(undefined);
  }

  private async closeReader(ix: IndexReader): Promise<boolean> {
    this.opts.metrics?.unloads.inc();
    try {
      await ix.close();
      return true;
    } catch (e) {
      this.opts.metrics?.unloadFailures.inc();
      throw e;
    }
  }

  /** True when open and unused since `ts`. */
  isIdleSince(ts: number): boolean {
    return this.index !== null && this.refs === 0 && this.usedAt <= ts;
  }

  /** Unloads now, or as soon as the last user releases it; no load happens after. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClosed?.(this);
    await this.loading?.catch(() => undefined);
    if (this.refs === 0) await this.unload();
  }
}

/** Options of {@link ReaderPool}. */
export interface ReaderPoolOptions {
  /** Unload index-headers unused this long; 0 keeps them loaded once loaded. */
  idleTimeoutMs: number;
  metrics?: LazyReaderMetrics;
  /** The clock of the handles and of the idle check (tests inject one). */
  now?: () => number;
  /** Called when an idle unload fails (the reader stays closed). */
  onUnloadError?: (err: Error) => void;
}

/**
 * Creates lazy handles and unloads the idle ones, checking every tenth of the idle timeout as
 * Thanos's ReaderPool does ({@link start}); {@link closeIdle} runs one check.
 */
export class ReaderPool {
  private readonly handles = new Set<LazyIndexHandle>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: ReaderPoolOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** A lazy handle over `open`, tracked (for idle unloads) until it closes. */
  newHandle(open: () => Promise<OpenedIndexHeader>): LazyIndexHandle {
    const h = new LazyIndexHandle(open, { metrics: this.opts.metrics, now: this.now });
    h.onClosed = (x) => this.handles.delete(x);
    this.handles.add(h);
    return h;
  }

  /** Handles whose index-header is open now. */
  loadedCount(): number {
    let n = 0;
    for (const h of this.handles) if (h.loaded) n++;
    return n;
  }

  /** Unloads every handle idle for the timeout; returns how many it unloaded. */
  async closeIdle(): Promise<number> {
    if (this.opts.idleTimeoutMs <= 0) return 0;
    const ts = this.now() - this.opts.idleTimeoutMs;
    let n = 0;
    for (const h of [...this.handles]) {
      if (!h.isIdleSince(ts)) continue;
      try {
        if (await h.unloadIfIdleSince(ts)) n++;
      } catch (e) {
        this.opts.onUnloadError?.(e as Error);
      }
    }
    return n;
  }

  /** Starts the periodic idle check (every idle timeout / 10). */
  start(): void {
    if (this.opts.idleTimeoutMs <= 0 || this.timer !== undefined) return;
    const every = Math.max(1, Math.floor(this.opts.idleTimeoutMs / 10));
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      this.closeIdle().finally(() => running = false);
    }, every);
    Deno.unrefTimer(timer);
    this.timer = timer;
  }

  /** Stops the periodic check (the handles are closed by their blocks). */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
