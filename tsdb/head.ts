// The TSDB head: recent samples of every active series kept in memory as encoded XOR chunks,
// made durable by the write-ahead log (tsdb/wal/) and queryable as the same sorted SeriesSet
// the block querier yields. Behaviour follows Prometheus 2.42's head
// (https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/head.go, head_append.go,
// head_read.go, head_wal.go):
// - an appender buffers samples; `append` validates against the committed state (out of
//   bounds, out of order, duplicate sample for timestamp; an exact duplicate is accepted and
//   ignored); `commit` writes a series record for the series it created, then one samples
//   record, then applies the samples to memory (re-checking order, silently dropping samples
//   that lost a race, as Prometheus does);
// - chunks are cut like Prometheus: a new chunk when the predicted end time (computed at 30
//   samples so that chunks hold ~120 samples) or the chunk-range boundary is reached, at the
//   latest after 240 samples;
// - replay on open reads the last checkpoint then the WAL segments after it; samples are
//   re-appended with the same in-order rule, samples below the min valid time are dropped;
// - truncation drops chunks before a time, garbage-collects empty series and checkpoints the
//   older two thirds of the WAL segments (head.go truncateWAL).
//
// Out-of-order ingestion (`oooWindowMs` > 0, Prometheus's `out_of_order_time_window`,
// https://prometheus.io/docs/prometheus/latest/configuration/configuration/#tsdb): a sample the
// in-order rules refuse (older than the series' newest sample, or below the min valid time) but
// not older than the head's max time minus the window goes to the series' out-of-order chunks
// (tsdb/ooo_head.ts); older ones are refused as `too old sample`. A sample is out of order when
// appended or, if a concurrent commit of a newer sample was applied first, at commit (as in
// Prometheus). Such samples are logged to the write-behind log `<dir>/wbl/` (same segment and
// record format as the WAL, series records stay in the WAL), replayed after the WAL. Queries merge in-order and out-of-order samples of a
// series into one chunk list; `startOooCompaction` / `oooSeriesForBlock` / `endOooCompaction`
// let the DB write them into separate out-of-order blocks (Prometheus's compactOOOHead) and
// drop the WBL segments those blocks cover.
//
// Durability (`FsyncPolicy`): Prometheus itself never fsyncs per commit — a record reaches the
// OS at the end of each Log call and segments are fsynced when they are closed — so it survives
// a process crash but may lose the last seconds on power loss. Here a commit resolves only
// after its records are written to the OS *and*, by default, fsynced ("per-commit"; concurrent
// commits share one fsync: group commit). "interval" fsyncs at most every `intervalMs` (or once
// `maxPending` commits wait) and still resolves each commit only after the fsync that covers
// it: the same guarantee with fewer fsyncs and up to `intervalMs` more latency. "none" is
// Prometheus's own behaviour (acknowledged = in the OS page cache: survives SIGKILL, not power
// loss). bench/head_bench.ts measures the cost of each.

import type { Logger } from "../logging/log.ts";
import { DEFAULT_BLOCK_DURATION_MS, type RawSeries } from "./block_writer.ts";
import { decodeXorSamples, SAMPLES_PER_CHUNK, XorAppender } from "./chunkenc/xor.ts";
import { chainMerge, encodeXorChunks, type SampleList } from "./chunkenc/samples.ts";
import { clip, DEFAULT_OOO_CAP_MAX, OooSeries } from "./ooo_head.ts";
import { mergePostings } from "./index/postings.ts";
import { postingsForMatchers, type PostingsReader } from "./index/postings_for_matchers.ts";
import { compareLabels, compareStrings, labelsEqual, labelsToString } from "./labels.ts";
import type { Matcher } from "./matchers.ts";
import { removeDeletedSamples } from "./querier.ts";
import {
  type Chunk,
  ChunkEncoding,
  type Labels,
  type Queryable,
  type SelectHints,
  type SeriesSet,
  type SeriesWithChunks,
} from "./series.ts";
import type { Interval } from "./tombstones.ts";
import { HI_WORD, LO_WORD, STALE_NAN_HI, STALE_NAN_LO } from "./value.ts";
import { checkpoint, lastCheckpoint } from "./wal/checkpoint.ts";
import {
  decodeSamples,
  decodeSeries,
  decodeTombstones,
  encodeSamples,
  encodeSeries,
  RecordType,
  recordType,
  type RefSeries,
} from "./wal/records.ts";
import { readRecords, repairWal, Wal, WalCorruptionError } from "./wal/wal.ts";

// ---------------------------------------------------------------------------------------------
// Errors (messages are Prometheus's: storage/interface.go, tsdb/head_append.go)

/** Why an append was rejected. */
export type AppendErrorKind =
  | "out_of_order"
  | "out_of_bounds"
  | "duplicate"
  | "too_old"
  | "invalid"
  | "closed"
  | "series_limit"
  | "sample_limit";

/** Base class of every rejection by {@link HeadAppender}; `kind` says which one. */
export class AppendError extends Error {
  override name = "AppendError";
  constructor(readonly kind: AppendErrorKind, message: string) {
    super(message);
  }
}

/** `out of order sample`: older than (or, with another value, equal to) the series' last. */
export class OutOfOrderSampleError extends AppendError {
  override name = "OutOfOrderSampleError";
  constructor() {
    super("out_of_order", "out of order sample");
  }
}

/** `out of bounds`: older than the head's min valid time. */
export class OutOfBoundsError extends AppendError {
  override name = "OutOfBoundsError";
  constructor() {
    super("out_of_bounds", "out of bounds");
  }
}

/** `too old sample`: out of order and older than the out-of-order window allows. */
export class TooOldSampleError extends AppendError {
  override name = "TooOldSampleError";
  constructor() {
    super("too_old", "too old sample");
  }
}

/** `duplicate sample for timestamp`: same timestamp as the last sample, different value bits. */
export class DuplicateSampleError extends AppendError {
  override name = "DuplicateSampleError";
  constructor() {
    super("duplicate", "duplicate sample for timestamp");
  }
}

/** `<detail>: invalid sample` (empty label set, repeated label name). */
export class InvalidSampleError extends AppendError {
  override name = "InvalidSampleError";
  constructor(detail: string) {
    super("invalid", `${detail}: invalid sample`);
  }
}

/** `appender closed`: commit/rollback/append after commit or rollback. */
export class AppenderClosedError extends AppendError {
  override name = "AppenderClosedError";
  constructor() {
    super("closed", "appender closed");
  }
}

/** A series or sample limit hook refused the append. */
export class LimitExceededError extends AppendError {
  override name = "LimitExceededError";
  constructor(kind: "series_limit" | "sample_limit", detail: string) {
    super(kind, detail);
  }
}

// ---------------------------------------------------------------------------------------------
// Options

/** When a commit's WAL records are fsynced (see the file comment). */
export type FsyncPolicy =
  | { mode: "per-commit" }
  | { mode: "interval"; intervalMs: number; maxPending?: number }
  | { mode: "none" };

/** Limit hooks a receiver installs; a `false` answer rejects with {@link LimitExceededError}. */
export interface HeadLimits {
  /** Max series in the head; creating one more is rejected (kind "series_limit"). */
  maxSeries?: number;
  /** Max samples one appender may hold before commit (kind "sample_limit"). */
  maxSamplesPerAppender?: number;
  /** Called before a series is created with the current number of series. */
  beforeSeriesCreate?: (labels: Labels, numSeries: number) => boolean;
  /** Called before a sample is buffered with the number the appender already holds. */
  beforeSample?: (labels: Labels, pending: number) => boolean;
}

/**
 * A caller's memo of the head series of one label set (receive/label_cache.ts keeps one per
 * cached label set). The head fills it when it first resolves the labels and afterwards finds
 * the series by `ref`, without hashing or comparing labels; a memo of another head, or of a
 * series since removed, is simply resolved again. Labels appended with a hint are kept by the
 * head as they are (not copied): the caller must never modify them.
 */
export interface SeriesHint {
  /** {@link Head.id} of the head that filled the memo (0: none). */
  headId: number;
  /** The series' ref in that head. */
  ref: number;
}

let lastHeadId = 0;
let lastAppenderId = 0;

/** Options of {@link Head.open}. */
export interface HeadOptions {
  /** Chunk range = block range (default 2h). */
  chunkRangeMs?: number;
  /** Samples older than this are out of bounds (default: no bound; the DB passes the newest block's maxTime). */
  minValidTime?: number;
  /** Durability of commits (default per-commit fsync). */
  fsync?: FsyncPolicy;
  /** Snappy-compress WAL records (`--storage.tsdb.wal-compression`). */
  walCompression?: boolean;
  /** WAL segment size (default 128 MiB). */
  walSegmentSize?: number;
  /** Full WAL pages per write call (default 32; 1 = Prometheus's page-by-page writes). */
  walPagesPerWrite?: number;
  limits?: HeadLimits;
  logger?: Logger;
  /** Out-of-order window in ms (0 = out-of-order samples are refused; see the file comment). */
  oooWindowMs?: number;
  /** Samples per out-of-order chunk (≤ 0 or unset: Prometheus's 32). */
  oooCapMax?: number;
}

/** What a commit did. */
export interface CommitStats {
  /** Samples added to memory. */
  appended: number;
  /** Exact duplicates ignored, or samples that lost a race with a concurrent commit. */
  dropped: number;
  /** Of `appended`, samples added to the out-of-order chunks (absent when none). */
  outOfOrder?: number;
}

/** Replay figures of {@link Head.open}. */
export interface ReplayStats {
  series: number;
  samples: number;
  /** Samples of refs without a series record. */
  unknownRefs: number;
  /** Samples below the min valid time or not in order. */
  skipped: number;
  checkpoint: number;
  segments: number;
  /** Out-of-order samples replayed from the WBL. */
  oooSamples: number;
  durationMs: number;
  repaired: boolean;
}

const MIN = -Infinity;
const MAX = Infinity;

/** Go's `int64 / int64` (truncating). */
function goDiv(a: number, b: number): number {
  return Math.trunc(a / b);
}

/** Prometheus `rangeForTimestamp`: end of the chunk range holding `t`. */
export function rangeForTimestamp(t: number, width: number): number {
  return goDiv(t, width) * width + width;
}

/** Prometheus `computeChunkEndTime`. */
function computeChunkEndTime(start: number, cur: number, max: number): number {
  const n = goDiv(max - start, (cur - start + 1) * 4);
  if (n <= 1) return max;
  return start + goDiv(max - start, n);
}

// ---------------------------------------------------------------------------------------------
// Series

interface ClosedChunk {
  minTime: number;
  maxTime: number;
  data: Uint8Array;
}

/** One series of the head. */
class MemSeries {
  /** Closed chunks, oldest first. */
  chunks: ClosedChunk[] = [];
  /** Open chunk (null when none). */
  app: XorAppender | null = null;
  headMin = 0;
  headMax = MIN;
  nextAt = 0;
  /** Value bits of the last sample. */
  lastHi = 0;
  lastLo = 0;
  /** Samples buffered by open appenders (GC keeps the series while > 0). */
  pending = 0;
  /** Series record written to the WAL (or read from it). */
  logged = false;
  /** Out-of-order samples (null: none). */
  ooo: OooSeries | null = null;
  /** With a window: the appender that last buffered a sample for this series, and its newest. */
  pendingApp = 0;
  pendingMaxT = MIN;

  constructor(readonly ref: number, readonly labels: Labels, readonly hash: number) {}

  /** Last sample time, -Infinity when the series has none. */
  maxTime(): number {
    if (this.app !== null) return this.headMax;
    const n = this.chunks.length;
    return n > 0 ? this.chunks[n - 1].maxTime : MIN;
  }

  minTime(): number {
    if (this.chunks.length > 0) return this.chunks[0].minTime;
    return this.app !== null ? this.headMin : MAX;
  }

  hasSamples(): boolean {
    return this.app !== null || this.chunks.length > 0;
  }

  /** In-order or out-of-order samples (what GC keeps a series for). */
  hasAnySamples(): boolean {
    return this.app !== null || this.chunks.length > 0 ||
      (this.ooo !== null && !this.ooo.isEmpty());
  }

  /**
   * Prometheus `memSeries.appendable` with out-of-order ingestion disabled. Returns null when
   * the sample can be appended (an exact duplicate included).
   */
  appendable(t: number, hi: number, lo: number, minValidTime: number): AppendError | null {
    if (t >= minValidTime) {
      if (!this.hasSamples()) return null;
      const mx = this.maxTime();
      if (t > mx) return null;
      if (t === mx) {
        if (this.lastHi !== hi || this.lastLo !== lo) return new DuplicateSampleError();
        return null;
      }
    }
    if (t < minValidTime) return new OutOfBoundsError();
    return new OutOfOrderSampleError();
  }

  /**
   * Prometheus `memSeries.append` + `appendPreprocessor`: false when the sample is not after the
   * last one (dropped). Returns true when appended.
   */
  append(t: number, hi: number, lo: number, chunkRange: number): boolean {
    let app = this.app;
    if (app === null) {
      const n = this.chunks.length;
      if (n > 0 && this.chunks[n - 1].maxTime >= t) return false;
      app = this.cut(t, chunkRange);
    }
    if (this.headMax >= t) return false;
    const num = app.numSamples;
    if (num === SAMPLES_PER_CHUNK / 4) {
      this.nextAt = computeChunkEndTime(this.headMin, this.headMax, this.nextAt);
    }
    if (num > 0 && (t >= this.nextAt || num >= SAMPLES_PER_CHUNK * 2)) {
      app = this.cut(t, chunkRange);
    }
    app.appendBits(t, hi, lo);
    this.headMax = t;
    this.lastHi = hi;
    this.lastLo = lo;
    return true;
  }

  private cut(t: number, chunkRange: number): XorAppender {
    if (this.app !== null && this.app.numSamples > 0) {
      this.chunks.push({ minTime: this.headMin, maxTime: this.headMax, data: this.app.bytes() });
    }
    const app = new XorAppender();
    this.app = app;
    this.headMin = t;
    this.headMax = MIN;
    this.nextAt = rangeForTimestamp(t, chunkRange);
    return app;
  }

  /** Drops chunks that end before `mint`; returns how many were removed. */
  truncateBefore(mint: number): number {
    let k = 0;
    while (k < this.chunks.length && this.chunks[k].maxTime < mint) k++;
    if (k > 0) this.chunks = this.chunks.slice(k);
    if (this.app !== null && this.headMax < mint) {
      this.app = null;
      this.headMax = MIN;
      k++;
    }
    return k;
  }

  /** Encoded chunks overlapping [mint, maxt], the open one's current bytes included. */
  chunksIn(mint: number, maxt: number): Chunk[] {
    const out: Chunk[] = [];
    for (const c of this.chunks) {
      if (c.maxTime < mint || c.minTime > maxt) continue;
      out.push({
        minTime: c.minTime,
        maxTime: c.maxTime,
        encoding: ChunkEncoding.XOR,
        data: c.data,
      });
    }
    const app = this.app;
    if (app !== null && app.numSamples > 0 && !(this.headMax < mint || this.headMin > maxt)) {
      out.push({
        minTime: this.headMin,
        maxTime: this.headMax,
        encoding: ChunkEncoding.XOR,
        data: app.bytes(),
      });
    }
    return out;
  }

  /**
   * In-order and out-of-order samples in [mint, maxt] merged into non-overlapping XOR chunks
   * (an in-order sample wins over an out-of-order one with the same timestamp).
   */
  mergedChunksIn(mint: number, maxt: number): Chunk[] {
    const lists: SampleList[] = [];
    for (const c of this.chunksIn(mint, maxt)) {
      const d = decodeXorSamples(c.data);
      lists.push(clip({ ts: d.ts, vs: d.vs, n: d.ts.length }, mint, maxt));
    }
    lists.push(this.ooo!.samplesIn(mint, maxt));
    const merged = chainMerge(lists);
    return merged.n === 0 ? [] : encodeXorChunks(merged);
  }

  overlaps(mint: number, maxt: number): boolean {
    if (this.ooo !== null && this.ooo.overlaps(mint, maxt)) return true;
    for (const c of this.chunks) if (!(c.maxTime < mint || c.minTime > maxt)) return true;
    return this.app !== null && this.app.numSamples > 0 &&
      !(this.headMax < mint || this.headMin > maxt);
  }
}

/** FNV-1a over the label strings (with separators), 32 bits. */
function hashLabels(ls: Labels): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < ls.length; i++) {
    const s = ls[i];
    for (let j = 0; j < s.length; j++) {
      h ^= s.charCodeAt(j);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0xff;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Labels as Prometheus stores them: empty values dropped, sorted by name. Throws
 * InvalidSampleError for an empty set or a repeated name.
 */
function normalizeLabels(ls: Labels): Labels {
  let ok = ls.length % 2 === 0;
  for (let i = 1; ok && i < ls.length; i += 2) if (ls[i] === "") ok = false;
  for (let i = 2; ok && i < ls.length; i += 2) {
    if (compareStrings(ls[i - 2], ls[i]) >= 0) ok = false;
  }
  let out = ls;
  if (!ok) {
    const pairs: [string, string][] = [];
    for (let i = 0; i + 1 < ls.length; i += 2) if (ls[i + 1] !== "") pairs.push([ls[i], ls[i + 1]]);
    pairs.sort((a, b) => compareStrings(a[0], b[0]));
    for (let i = 1; i < pairs.length; i++) {
      if (pairs[i][0] === pairs[i - 1][0]) {
        throw new InvalidSampleError(`label name "${pairs[i][0]}" is not unique`);
      }
    }
    out = pairs.flat();
  }
  if (out.length === 0) throw new InvalidSampleError("empty labelset");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Commit pipeline

interface PendingCommit {
  records: Uint8Array[];
  /** Write-behind log records (out-of-order samples), or null. */
  wblRecords: Uint8Array[] | null;
  /** Applies the commit to memory; may return a WBL record to log before it is acknowledged. */
  apply: () => Uint8Array | null | void;
  resolve: () => void;
  reject: (e: unknown) => void;
}

const scratchF64 = new Float64Array(1);
const scratchU32 = new Uint32Array(scratchF64.buffer);

// ---------------------------------------------------------------------------------------------
// Head

/** In-memory head of a TSDB with an optional WAL. */
export class Head {
  /** Unique per head of this process (the key of {@link SeriesHint} memos). */
  readonly id = ++lastHeadId;
  readonly chunkRange: number;
  private readonly byRef = new Map<number, MemSeries>();
  private readonly byHash = new Map<number, MemSeries | MemSeries[]>();
  /** name → value → refs (ascending). */
  private readonly postings = new Map<string, Map<string, number[]>>();
  /** Deleted intervals per series ref (from tombstone records). */
  private readonly tombstones = new Map<number, Interval[]>();
  /** Refs of GC'd series → WAL segment that was last when they were deleted. */
  private readonly deleted = new Map<number, number>();
  private lastSeriesID = 0;
  private _minTime = MAX;
  private _maxTime = MIN;
  private minValidTime: number;
  private lastWalTruncation = MIN;
  private readonly queue: PendingCommit[] = [];
  /** Commits logged but waiting for the next fsync ("interval" policy). */
  private readonly unsynced: PendingCommit[] = [];
  private writing = false;
  /** {@link exclusively} holds the commit pipeline. */
  private paused = false;
  private pausedDone: Promise<void> = Promise.resolve();
  private wakeWriter: (() => void) | null = null;
  private lastSync = 0;
  private closed = false;
  readonly limits: HeadLimits;
  readonly fsync: FsyncPolicy;
  readonly logger?: Logger;
  /** Figures of the replay done by {@link Head.open}. */
  replayStats: ReplayStats | null = null;
  /** Number of fsyncs issued (for benchmarks). */
  fsyncs = 0;
  /** Out-of-order window (ms; 0 = off). */
  readonly oooWindow: number;
  /** Samples per out-of-order chunk. */
  readonly oooCapMax: number;
  /** Oldest and newest out-of-order sample held (Infinity/-Infinity when none). */
  private _oooMinTime = MAX;
  private _oooMaxTime = MIN;
  /** The write-behind log of out-of-order samples (`<dir>/wbl`), when one is open. */
  wbl: Wal | null = null;

  private constructor(readonly wal: Wal | null, opts: HeadOptions) {
    this.oooWindow = Math.max(0, opts.oooWindowMs ?? 0);
    this.oooCapMax = (opts.oooCapMax ?? 0) > 0 ? opts.oooCapMax! : DEFAULT_OOO_CAP_MAX;
    this.chunkRange = opts.chunkRangeMs ?? DEFAULT_BLOCK_DURATION_MS;
    this.minValidTime = opts.minValidTime ?? MIN;
    this.limits = opts.limits ?? {};
    this.fsync = opts.fsync ?? { mode: "per-commit" };
    this.logger = opts.logger;
  }

  /**
   * Opens a head. With `dir` (a TSDB data dir) the WAL is `<dir>/wal`: its torn tail is
   * repaired, the last checkpoint and the segments after it are replayed. Without `dir` the
   * head lives in memory only.
   */
  static async open(dir: string | null, opts: HeadOptions = {}): Promise<Head> {
    if (dir === null) return new Head(null, opts);
    const walDir = `${dir}/wal`;
    const wal = await Wal.open(walDir, {
      compress: opts.walCompression,
      segmentSize: opts.walSegmentSize,
      pagesPerWrite: opts.walPagesPerWrite,
      logger: opts.logger,
    });
    const head = new Head(wal, opts);
    try {
      // Prometheus replays a WBL left by an earlier run with out-of-order ingestion too
      const wblDir = `${dir}/wbl`;
      if (head.oooWindow > 0 || await dirExists(wblDir)) {
        head.wbl = await Wal.open(wblDir, {
          compress: opts.walCompression,
          segmentSize: opts.walSegmentSize,
          pagesPerWrite: opts.walPagesPerWrite,
          logger: opts.logger,
        });
      }
      await head.replay(walDir);
    } catch (e) {
      await wal.close().catch(() => {});
      await head.wbl?.close().catch(() => {});
      throw e;
    }
    return head;
  }

  /** Lowest timestamp the head holds (Infinity when empty). */
  get minTime(): number {
    return this._minTime;
  }

  /** Oldest out-of-order sample the head holds (Infinity when none). */
  get oooMinTime(): number {
    return this._oooMinTime;
  }

  /** Newest out-of-order sample the head holds (-Infinity when none). */
  get oooMaxTime(): number {
    return this._oooMaxTime;
  }

  /** Highest timestamp the head holds (-Infinity when empty). */
  get maxTime(): number {
    return this._maxTime;
  }

  get numSeries(): number {
    return this.byRef.size;
  }

  /** Appends must be at or after this (Prometheus `appendableMinValidTime`). */
  appendableMinValidTime(): number {
    return Math.max(this._maxTime - this.chunkRange / 2, this.minValidTime);
  }

  /** True when the head spans more than 1.5 chunk ranges (Prometheus `compactable`). */
  compactable(): boolean {
    return this._maxTime - this._minTime > (this.chunkRange / 2) * 3;
  }

  /**
   * A new appender (Prometheus `Head.Appender`); `capacity`: samples expected (sizes its
   * buffers, no limit).
   */
  appender(capacity?: number): HeadAppender {
    return new HeadAppender(
      this,
      this._minTime === MAX ? null : this.appendableMinValidTime(),
      capacity,
    );
  }

  /** A Queryable over the head, optionally clamped to [mint, maxt]. */
  querier(mint = MIN, maxt = MAX): HeadQuerier {
    return new HeadQuerier(this, mint, maxt);
  }

  // ---- series

  /** @internal */
  getByRef(ref: number): MemSeries | undefined {
    return this.byRef.get(ref);
  }

  /** Whether the head has the series `ls` (Prometheus's appender `GetRef` finding it). */
  hasSeries(ls: Labels): boolean {
    return this.getByLabels(ls, hashLabels(ls)) !== undefined ||
      this.getByLabels(normalizeLabels(ls), hashLabels(normalizeLabels(ls))) !== undefined;
  }

  private getByLabels(ls: Labels, hash: number): MemSeries | undefined {
    const e = this.byHash.get(hash);
    if (e === undefined) return undefined;
    if (!Array.isArray(e)) return labelsEqual(e.labels, ls) ? e : undefined;
    for (const s of e) if (labelsEqual(s.labels, ls)) return s;
    return undefined;
  }

  /**
   * @internal Finds or creates the series of `ls`; `created` tells whether it is new.
   * Applies the series limit hooks.
   */
  getOrCreate(ls: Labels, shared = false): { s: MemSeries; created: boolean } {
    let hash = hashLabels(ls);
    let s = this.getByLabels(ls, hash);
    if (s !== undefined) return { s, created: false };
    const norm = normalizeLabels(ls);
    if (norm !== ls) {
      hash = hashLabels(norm);
      s = this.getByLabels(norm, hash);
      if (s !== undefined) return { s, created: false };
    }
    const lim = this.limits;
    if (lim.maxSeries !== undefined && this.byRef.size >= lim.maxSeries) {
      throw new LimitExceededError(
        "series_limit",
        `series limit of ${lim.maxSeries} reached: not creating ${labelsToString(norm)}`,
      );
    }
    if (lim.beforeSeriesCreate && !lim.beforeSeriesCreate(norm, this.byRef.size)) {
      throw new LimitExceededError(
        "series_limit",
        `series limit hook refused ${labelsToString(norm)}`,
      );
    }
    s = this.create(++this.lastSeriesID, norm, hash, shared && norm === ls);
    return { s, created: true };
  }

  /** `shared`: `ls` is immutable (a {@link SeriesHint}'s labels) and kept as it is. */
  private create(ref: number, ls: Labels, hash: number, shared = false): MemSeries {
    // copy so that callers' arrays are never shared (unless they promise never to modify them)
    const s = new MemSeries(ref, shared ? ls : ls.slice(), hash);
    this.byRef.set(ref, s);
    const e = this.byHash.get(hash);
    if (e === undefined) this.byHash.set(hash, s);
    else if (Array.isArray(e)) e.push(s);
    else this.byHash.set(hash, [e, s]);
    for (let i = 0; i < ls.length; i += 2) {
      let vals = this.postings.get(ls[i]);
      if (vals === undefined) this.postings.set(ls[i], vals = new Map());
      const refs = vals.get(ls[i + 1]);
      if (refs === undefined) vals.set(ls[i + 1], [ref]);
      else if (refs[refs.length - 1] < ref) refs.push(ref);
      else {
        // replay may create refs out of order: keep the list sorted
        let j = refs.length;
        while (j > 0 && refs[j - 1] > ref) j--;
        refs.splice(j, 0, ref);
      }
    }
    return s;
  }

  /** @internal Widens the head's time bounds. */
  updateMinMax(mint: number, maxt: number): void {
    if (mint < this._minTime) this._minTime = mint;
    if (maxt > this._maxTime) this._maxTime = maxt;
  }

  /** @internal Widens the out-of-order time bounds. */
  updateOooMinMax(t: number): void {
    if (t < this._oooMinTime) this._oooMinTime = t;
    if (t > this._oooMaxTime) this._oooMaxTime = t;
  }

  /** Prometheus `initTime`: the first sample of a fresh head sets its bounds. */
  /** @internal */
  initTime(t: number): void {
    if (this._minTime !== MAX) return;
    this._minTime = t;
    if (this._maxTime === MIN) this._maxTime = t;
  }

  // ---- commit pipeline

  /**
   * @internal Queues WAL records and the in-memory apply step of one commit; resolves once
   * the records are logged (and fsynced per the policy) and applied. Commits are applied in
   * WAL order.
   */
  submit(
    records: Uint8Array[],
    apply: () => Uint8Array | null | void,
    wblRecords: Uint8Array[] | null = null,
  ): Promise<void> {
    if (this.closed) return Promise.reject(new Error("head is closed"));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, wblRecords, apply, resolve, reject });
      if (this.wakeWriter) {
        const p = this.fsync;
        const waiting = this.queue.length + this.unsynced.length;
        if (p.mode !== "interval" || waiting >= (p.maxPending ?? Infinity)) this.wakeWriter();
      }
      if (!this.writing && !this.paused) void this.writeLoop();
    });
  }

  /**
   * Runs `fn` while no commit is being logged or applied: queued commits wait and go on after
   * it (used to cut the WBL and the in-memory out-of-order chunks at the same point).
   */
  private async exclusively<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writing || this.paused || this.queue.length > 0) {
      if (this.paused) await this.pausedDone;
      else await this.flush();
    }
    this.paused = true;
    let done!: () => void;
    this.pausedDone = new Promise<void>((r) => done = r);
    try {
      return await fn();
    } finally {
      this.paused = false;
      done();
      if (this.queue.length > 0 && !this.writing) void this.writeLoop();
    }
  }

  private async writeLoop(): Promise<void> {
    this.writing = true;
    const unsynced = this.unsynced;
    try {
      while (this.queue.length > 0 || unsynced.length > 0) {
        const batch = this.queue.splice(0);
        if (this.wal !== null && batch.length > 0) {
          const recs: Uint8Array[] = [];
          let wrecs: Uint8Array[] | null = null;
          for (const b of batch) {
            for (const r of b.records) recs.push(r);
            if (b.wblRecords !== null) (wrecs ??= []).push(...b.wblRecords);
          }
          try {
            if (recs.length > 0) await this.wal.log(...recs);
            // Prometheus logs a commit's out-of-order samples after its WAL records
            if (wrecs !== null && this.wbl !== null) await this.wbl.log(...wrecs);
          } catch (e) {
            for (const b of batch) b.reject(e);
            continue;
          }
        }
        const policy = this.fsync;
        if (this.wal === null || policy.mode === "none") {
          await this.finish(batch);
          continue;
        }
        for (const b of batch) unsynced.push(b);
        if (policy.mode === "interval") {
          const due = this.lastSync + policy.intervalMs;
          const full = unsynced.length >= (policy.maxPending ?? Infinity);
          if (!full && Date.now() < due && !this.closed) {
            // wait for the interval (or enough commits), then loop to log what arrived
            await new Promise<void>((r) => {
              const timer = setTimeout(() => {
                this.wakeWriter = null;
                r();
              }, due - Date.now());
              this.wakeWriter = () => {
                clearTimeout(timer);
                this.wakeWriter = null;
                r();
              };
            });
            if (this.queue.length > 0) continue;
          }
        }
        const done = unsynced.splice(0);
        try {
          await this.wal.sync();
          if (this.wbl !== null) await this.wbl.sync();
          this.fsyncs++;
          this.lastSync = Date.now();
        } catch (e) {
          for (const b of done) b.reject(e);
          continue;
        }
        await this.finish(done);
      }
    } finally {
      this.writing = false;
    }
  }

  /**
   * Applies logged commits in order; WBL records an apply returns (samples that turned out of
   * order only then) are logged, and fsynced unless the policy is "none", before the commits
   * are acknowledged.
   */
  private async finish(batch: PendingCommit[]): Promise<void> {
    const ok: PendingCommit[] = [];
    let late: Uint8Array[] | null = null;
    for (const b of batch) {
      try {
        const r = b.apply();
        if (r) (late ??= []).push(r);
        ok.push(b);
      } catch (e) {
        b.reject(e);
      }
    }
    if (late !== null && this.wbl !== null) {
      try {
        await this.wbl.log(...late);
        if (this.fsync.mode !== "none") await this.wbl.sync();
      } catch (e) {
        for (const b of ok) b.reject(e);
        return;
      }
    }
    for (const b of ok) b.resolve();
  }

  /** Resolves when every queued commit is done. */
  async flush(): Promise<void> {
    await this.submit([], () => {});
  }

  // ---- replay

  private async replay(walDir: string): Promise<void> {
    const start = performance.now();
    const st: ReplayStats = {
      series: 0,
      samples: 0,
      unknownRefs: 0,
      skipped: 0,
      checkpoint: -1,
      segments: 0,
      oooSamples: 0,
      durationMs: 0,
      repaired: false,
    };
    /** WAL ref → series (a duplicate series record maps to the existing one). */
    const multiRef = new Map<number, MemSeries>();
    let mint = MAX;
    let maxt = MIN;
    const onRecord = (rec: Uint8Array) => {
      switch (recordType(rec)) {
        case RecordType.Series:
          for (const rs of decodeSeries(rec)) {
            const hash = hashLabels(rs.labels);
            let s = this.getByLabels(rs.labels, hash);
            if (s === undefined) {
              s = this.byRef.get(rs.ref);
              if (s === undefined) {
                s = this.create(rs.ref, rs.labels, hash);
                st.series++;
              }
            } else if (s.ref !== rs.ref) {
              multiRef.set(rs.ref, s);
            }
            s.logged = true;
            if (rs.ref > this.lastSeriesID) this.lastSeriesID = rs.ref;
          }
          break;
        case RecordType.Samples: {
          const b = decodeSamples(rec);
          const words = new Uint32Array(b.vs.buffer, b.vs.byteOffset, b.n * 2);
          const mvt = this.minValidTime;
          const cr = this.chunkRange;
          for (let i = 0; i < b.n; i++) {
            const t = b.ts[i];
            if (t < mvt) {
              st.skipped++;
              continue;
            }
            const ref = b.refs[i];
            const s = this.byRef.get(ref) ?? multiRef.get(ref);
            if (s === undefined) {
              st.unknownRefs++;
              continue;
            }
            if (s.append(t, words[2 * i + HI_WORD], words[2 * i + LO_WORD], cr)) {
              st.samples++;
              if (t < mint) mint = t;
              if (t > maxt) maxt = t;
            } else {
              st.skipped++;
            }
          }
          break;
        }
        case RecordType.Tombstones:
          for (const ts of decodeTombstones(rec)) {
            const s = this.byRef.get(ts.ref) ?? multiRef.get(ts.ref);
            if (s === undefined) continue;
            const list = this.tombstones.get(s.ref) ?? [];
            for (const iv of ts.intervals) list.push({ mint: iv.mint, maxt: iv.maxt });
            this.tombstones.set(s.ref, list);
          }
          break;
        default:
          // metadata, exemplars, histograms: not supported by this head
      }
    };

    const cp = await lastCheckpoint(walDir);
    let from = 0;
    if (cp !== null) {
      // a corrupt checkpoint is a hard error, as in Prometheus
      for await (const rec of readRecords(cp.dir)) onRecord(rec);
      st.checkpoint = cp.index;
      from = cp.index + 1;
    }
    try {
      // the segment the writer just opened is empty: stop before it
      const end = this.wal!.currentSegment - 1;
      if (end >= from) {
        for await (const rec of readRecords(walDir, from, end)) onRecord(rec);
        st.segments = end - from + 1;
      }
    } catch (e) {
      if (!(e instanceof WalCorruptionError)) throw e;
      // Prometheus: "Encountered WAL read error, attempting repair"; what was read is kept
      this.logger?.warn("Encountered WAL read error, attempting repair", { err: e.message });
      await repairWal(walDir, e, this.logger);
      st.repaired = true;
    }
    if (this.wbl !== null) await this.replayWbl(this.wbl, multiRef, st);
    if (mint !== MAX) this.updateMinMax(mint, maxt);
    // Prometheus Init: the head never starts below the min valid time
    if (this._minTime < this.minValidTime && this._minTime !== MAX) {
      this._minTime = this.minValidTime;
    }
    // drop the series that ended up without samples (Init's deferred gc)
    if (this.byRef.size > 0) await this.gc();
    st.durationMs = performance.now() - start;
    this.replayStats = st;
    this.logger?.info("WAL replay completed", {
      checkpoint: st.checkpoint,
      segments: st.segments,
      series: this.byRef.size,
      samples: st.samples,
      unknown_refs: st.unknownRefs,
      duration_ms: Math.round(st.durationMs),
    });
  }

  /**
   * Replays the write-behind log after the WAL (Prometheus `loadWBL`): its samples records go
   * to the series' out-of-order chunks; series come from the WAL (`multiRef`: its duplicate
   * refs). A torn tail is repaired like the WAL's.
   */
  private async replayWbl(
    wbl: Wal,
    multiRef: Map<number, MemSeries>,
    st: ReplayStats,
  ): Promise<void> {
    const cap = this.oooCapMax;
    const onRecord = (rec: Uint8Array) => {
      if (recordType(rec) !== RecordType.Samples) return; // m-map markers etc.: not used here
      const b = decodeSamples(rec);
      const words = new Uint32Array(b.vs.buffer, b.vs.byteOffset, b.n * 2);
      for (let i = 0; i < b.n; i++) {
        const ref = b.refs[i];
        const s = this.byRef.get(ref) ?? multiRef.get(ref);
        if (s === undefined) {
          st.unknownRefs++;
          continue;
        }
        const t = b.ts[i];
        s.ooo ??= new OooSeries(cap);
        if (s.ooo.insert(t, words[2 * i + HI_WORD], words[2 * i + LO_WORD])) {
          st.oooSamples++;
          this.updateOooMinMax(t);
        } else st.skipped++;
      }
    };
    const range = await wbl.segmentRange();
    const end = wbl.currentSegment - 1;
    if (range.first < 0 || end < range.first) return;
    try {
      for await (const rec of readRecords(wbl.dir, range.first, end)) onRecord(rec);
    } catch (e) {
      if (!(e instanceof WalCorruptionError)) throw e;
      this.logger?.warn("Encountered WBL read error, attempting repair", { err: e.message });
      await repairWal(wbl.dir, e, this.logger);
      st.repaired = true;
    }
  }

  // ---- out-of-order compaction

  /**
   * Starts writing the out-of-order samples into blocks (Prometheus `NewOOOCompactionHead`):
   * with no commit in flight, the WBL moves to a new segment and every series' out-of-order
   * chunks are handed to the compaction (still readable). Returns the time range they cover and
   * the last WBL segment they come from, or null when there is nothing to write.
   */
  startOooCompaction(): Promise<{ mint: number; maxt: number; lastWblSegment: number } | null> {
    return this.exclusively(async () => {
      let mint = MAX;
      let maxt = MIN;
      for (const s of this.byRef.values()) {
        const o = s.ooo;
        if (o === null || o.isEmpty()) continue;
        o.startCompaction();
        const a = o.minTime();
        const b = o.maxTime();
        if (a < mint) mint = a;
        if (b > maxt) maxt = b;
      }
      if (mint === MAX) return null;
      const lastWblSegment = this.wbl !== null ? (await this.wbl.nextSegment()) - 1 : -1;
      return { mint, maxt, lastWblSegment };
    });
  }

  /**
   * The out-of-order samples handed to the running compaction in [mint, maxt), by series
   * sorted by labels (one sample per timestamp): the input of an out-of-order block.
   */
  async *oooSeriesForBlock(mint: number, maxt: number): AsyncGenerator<RawSeries> {
    for (const s of await this.matching([])) {
      const o = s.ooo;
      if (o === null || o.compacting.length === 0) continue;
      let l = o.compactingSamplesIn(mint, maxt - 1);
      const dels = this.tombstones.get(s.ref);
      if (dels && l.n > 0) {
        const chunks = encodeXorChunks(l).map((c) => removeDeletedSamples(c, dels))
          .filter((c) => c !== null);
        const parts: SampleList[] = chunks.map((c) => {
          const d = decodeXorSamples(c.data);
          return { ts: d.ts, vs: d.vs, n: d.ts.length };
        });
        l = parts.length === 0
          ? { ts: new Float64Array(0), vs: new Float64Array(0), n: 0 }
          : chainMerge(parts);
      }
      if (l.n === 0) continue;
      yield { labels: s.labels, ts: l.ts.subarray(0, l.n), vs: l.vs.subarray(0, l.n) };
    }
  }

  /**
   * The compaction's blocks are loaded: drops the chunks it took from memory and the WBL
   * segments up to `lastWblSegment` (Prometheus `truncateOOO`). `failed`: no block was kept,
   * the chunks go back to the series.
   */
  async endOooCompaction(lastWblSegment: number, failed = false): Promise<void> {
    let m = MAX;
    let mx = MIN;
    for (const s of this.byRef.values()) {
      const o = s.ooo;
      if (o === null) continue;
      o.endCompaction(failed);
      if (o.isEmpty()) s.ooo = null;
      else {
        m = Math.min(m, o.minTime());
        mx = Math.max(mx, o.maxTime());
      }
    }
    this._oooMinTime = m;
    this._oooMaxTime = mx;
    if (this.wbl !== null && lastWblSegment >= 0) await this.wbl.truncate(lastWblSegment + 1);
  }

  // ---- truncation

  /**
   * Prometheus `truncateMemory`: the head's min time (and min valid time) becomes `mint`,
   * chunks ending before it are dropped and series left without samples are deleted.
   */
  async truncateMemory(mint: number): Promise<void> {
    const initialize = this._minTime === MAX;
    if (this._minTime >= mint && !initialize) return;
    this._minTime = mint;
    this.minValidTime = mint;
    if (this._maxTime < mint) this._maxTime = mint;
    if (initialize) return;
    await this.gc();
  }

  /** Sets the min valid time (the DB passes the newest block's maxTime). */
  setMinValidTime(t: number): void {
    if (t > this.minValidTime) this.minValidTime = t;
  }

  /** Prometheus `Head.gc` + the min-time adjustment of truncateSeriesAndChunkDiskMapper. */
  private async gc(): Promise<{ removedSeries: number; removedChunks: number }> {
    const lastSeg = this.wal ? (await this.wal.segmentRange()).last : -1;
    const mint = this._minTime;
    let actualMint = MAX;
    let removedChunks = 0;
    const dead: MemSeries[] = [];
    for (const s of this.byRef.values()) {
      removedChunks += s.truncateBefore(mint);
      if (s.hasAnySamples() || s.pending > 0) {
        if (!s.hasSamples()) continue; // out-of-order samples only
        const m = s.minTime();
        if (m < actualMint) actualMint = m;
        continue;
      }
      dead.push(s);
    }
    if (dead.length > 0) this.deleteSeries(dead, lastSeg);
    if (actualMint !== MAX && actualMint > this._minTime) {
      const amvt = this.appendableMinValidTime();
      const m = actualMint < amvt ? actualMint : amvt;
      this._minTime = m;
      this.minValidTime = m;
    }
    for (const [ref, ivs] of this.tombstones) {
      if (!this.byRef.has(ref)) {
        this.tombstones.delete(ref);
        continue;
      }
      const kept = ivs.filter((iv) => iv.maxt >= mint);
      if (kept.length === 0) this.tombstones.delete(ref);
      else this.tombstones.set(ref, kept);
    }
    return { removedSeries: dead.length, removedChunks };
  }

  private deleteSeries(dead: MemSeries[], lastSeg: number): void {
    const touched = new Map<string, Set<string>>();
    const gone = new Set<number>();
    for (const s of dead) {
      gone.add(s.ref);
      this.byRef.delete(s.ref);
      const e = this.byHash.get(s.hash);
      if (e === s) this.byHash.delete(s.hash);
      else if (Array.isArray(e)) {
        const rest = e.filter((x) => x !== s);
        if (rest.length === 1) this.byHash.set(s.hash, rest[0]);
        else this.byHash.set(s.hash, rest);
      }
      this.deleted.set(s.ref, lastSeg);
      const ls = s.labels;
      for (let i = 0; i < ls.length; i += 2) {
        let vs = touched.get(ls[i]);
        if (vs === undefined) touched.set(ls[i], vs = new Set());
        vs.add(ls[i + 1]);
      }
    }
    for (const [name, values] of touched) {
      const vm = this.postings.get(name)!;
      for (const v of values) {
        const kept = vm.get(v)!.filter((r) => !gone.has(r));
        if (kept.length === 0) vm.delete(v);
        else vm.set(v, kept);
      }
      if (vm.size === 0) this.postings.delete(name);
    }
  }

  /**
   * Prometheus `truncateWAL`: starts a new segment, then checkpoints the older two thirds of
   * the segments (never the last one) keeping live (and recently deleted) series and samples at
   * or after `mint`, deletes those segments and older checkpoints. Returns the checkpoint
   * written, if any.
   */
  async truncateWal(mint: number): Promise<{ dir: string; first: number; last: number } | null> {
    const wal = this.wal;
    if (wal === null || mint <= this.lastWalTruncation) return null;
    this.lastWalTruncation = mint;
    await this.flush();
    const range = await wal.segmentRange();
    const first = range.first;
    await wal.nextSegment();
    let last = range.last - 1;
    if (last < 0) return null;
    last = first + goDiv((last - first) * 2, 3);
    if (last <= first) return null;
    const keep = (ref: number) => this.byRef.has(ref) || this.deleted.has(ref);
    const t0 = performance.now();
    const cp = await checkpoint(wal.dir, first, last, keep, mint);
    await wal.truncate(last + 1);
    for (const [ref, seg] of this.deleted) if (seg < first) this.deleted.delete(ref);
    this.logger?.info("WAL checkpoint complete", {
      first,
      last,
      dropped_series: cp.droppedSeries,
      dropped_samples: cp.droppedSamples,
      duration_ms: Math.round(performance.now() - t0),
    });
    return { dir: cp.dir, first, last };
  }

  // ---- reading

  /** @internal PostingsReader over the head's inverted index. */
  readonly postingsReader: PostingsReader = {
    postings: (name, values) => {
      const vm = this.postings.get(name);
      if (vm === undefined) return Promise.resolve(new Uint32Array(0));
      const lists: Uint32Array[] = [];
      for (const v of values) {
        const r = vm.get(v);
        if (r !== undefined) lists.push(Uint32Array.from(r));
      }
      return Promise.resolve(lists.length === 1 ? lists[0] : mergePostings(lists));
    },
    postingsForLabelMatching: (name, pred) => {
      const vm = this.postings.get(name);
      if (vm === undefined) return Promise.resolve(new Uint32Array(0));
      const lists: Uint32Array[] = [];
      for (const [v, r] of vm) if (pred(v)) lists.push(Uint32Array.from(r));
      return Promise.resolve(lists.length === 1 ? lists[0] : mergePostings(lists));
    },
    allPostings: () => {
      const a = new Uint32Array(this.byRef.size);
      let i = 0;
      for (const ref of this.byRef.keys()) a[i++] = ref;
      return Promise.resolve(a.sort());
    },
  };

  /** @internal Series (sorted by labels) matching `matchers`. */
  async matching(matchers: Matcher[]): Promise<MemSeries[]> {
    const refs = matchers.length === 0
      ? await this.postingsReader.allPostings()
      : await postingsForMatchers(this.postingsReader, matchers);
    const out: MemSeries[] = [];
    for (const r of refs) {
      const s = this.byRef.get(r);
      if (s !== undefined) out.push(s);
    }
    out.sort((a, b) => compareLabels(a.labels, b.labels));
    return out;
  }

  /** @internal Deleted intervals of a series. */
  deletedIntervals(ref: number): Interval[] | undefined {
    return this.tombstones.get(ref);
  }

  /** @internal All label names (sorted). */
  allLabelNames(): string[] {
    return [...this.postings.keys()].sort(compareStrings);
  }

  /** @internal All values of `name` (sorted). */
  allLabelValues(name: string): string[] {
    const vm = this.postings.get(name);
    return vm === undefined ? [] : [...vm.keys()].sort(compareStrings);
  }

  /**
   * Decoded samples of every series in [mint, maxt) sorted by labels (deleted intervals
   * removed): the input of `writeBlock` when the head is cut.
   */
  async *seriesForBlock(mint: number, maxt: number): AsyncGenerator<RawSeries> {
    for (const s of await this.matching([])) {
      let chunks = s.chunksIn(mint, maxt - 1);
      const dels = this.tombstones.get(s.ref);
      if (dels) {
        chunks = chunks.map((c) => removeDeletedSamples(c, dels)).filter((c) => c !== null);
      }
      if (chunks.length === 0) continue;
      let n = 0;
      const parts = chunks.map((c) => {
        const d = decodeXorSamples(c.data);
        n += d.ts.length;
        return d;
      });
      const ts = new Float64Array(n);
      const vs = new Float64Array(n);
      let k = 0;
      for (const p of parts) {
        let a = 0;
        while (a < p.ts.length && p.ts[a] < mint) a++;
        let b = p.ts.length;
        while (b > a && p.ts[b - 1] >= maxt) b--;
        ts.set(p.ts.subarray(a, b), k);
        // copy value words, not numbers: stale-marker bits survive
        new Uint32Array(vs.buffer, k * 8, (b - a) * 2).set(
          new Uint32Array(p.vs.buffer, p.vs.byteOffset + a * 8, (b - a) * 2),
        );
        k += b - a;
      }
      if (k === 0) continue;
      yield { labels: s.labels, ts: ts.subarray(0, k), vs: vs.subarray(0, k) };
    }
  }

  /** Waits for queued commits, then closes the WAL (fsynced). */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush().catch(() => {});
    this.closed = true;
    if (this.wakeWriter) this.wakeWriter();
    await this.wal?.close();
    await this.wbl?.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Appender

/** Buffers samples until commit (Prometheus `headAppender`). Not reusable after commit/rollback. */
export class HeadAppender {
  private n = 0;
  private refs: Float64Array;
  private ts: Float64Array;
  private vs: Float64Array;
  private words: Uint32Array;
  private series: MemSeries[] = [];
  private created: MemSeries[] = [];
  private closed = false;
  /** Unique per appender (the key of {@link MemSeries.pendingApp}). */
  private readonly id = ++lastAppenderId;
  /** Per buffered sample: 1 when it goes to the out-of-order chunks (null until one does). */
  private ooo: Uint8Array | null = null;

  /**
   * `minValidTime` null: fresh head, set by the first sample (Prometheus initAppender);
   * `capacity`: samples expected (initial buffer size, they grow beyond it).
   */
  constructor(
    private readonly head: Head,
    private minValidTime: number | null,
    capacity = 64,
  ) {
    const cap = Math.max(1, Math.min(Math.floor(capacity) || 64, 1 << 20));
    this.refs = new Float64Array(cap);
    this.ts = new Float64Array(cap);
    this.vs = new Float64Array(cap);
    this.words = new Uint32Array(this.vs.buffer);
  }

  /** Samples buffered. */
  get pending(): number {
    return this.n;
  }

  /**
   * Adds a sample (`v`'s bits are read through a Float64Array; use {@link appendStale} or
   * {@link appendBits} for stale markers coming from typed arrays). Returns the series ref.
   * Throws an {@link AppendError} when the sample is rejected.
   */
  append(labels: Labels, t: number, v: number, ref = 0, hint?: SeriesHint): number {
    scratchF64[0] = v;
    return this.appendBits(labels, t, scratchU32[HI_WORD], scratchU32[LO_WORD], ref, hint);
  }

  /** Adds a stale marker (exact bits 0x7FF0000000000002). */
  appendStale(labels: Labels, t: number, ref = 0): number {
    return this.appendBits(labels, t, STALE_NAN_HI, STALE_NAN_LO, ref);
  }

  /**
   * Adds a sample whose value is given as the high/low words of its IEEE-754 bits. `ref`: the
   * series' ref when known (0: look the labels up); `hint`: the caller's memo of the series of
   * `labels` (see {@link SeriesHint}; the labels are then kept unmodified, never copied).
   */
  appendBits(
    labels: Labels,
    t: number,
    hi: number,
    lo: number,
    ref = 0,
    hint?: SeriesHint,
  ): number {
    if (this.closed) throw new AppenderClosedError();
    if (!Number.isSafeInteger(t)) {
      throw new InvalidSampleError(`timestamp ${t} is not an integer number of ms`);
    }
    const head = this.head;
    if (this.minValidTime === null) {
      head.initTime(t);
      this.minValidTime = head.appendableMinValidTime();
    }
    // with an out-of-order window the bound is checked per series below (Prometheus)
    if (t < this.minValidTime && head.oooWindow === 0) throw new OutOfBoundsError();
    let s = ref !== 0 ? head.getByRef(ref) : undefined;
    if (s === undefined && hint !== undefined && hint.headId === head.id) {
      s = head.getByRef(hint.ref);
    }
    if (s === undefined) {
      const r = head.getOrCreate(labels, hint !== undefined);
      s = r.s;
      if (r.created) this.created.push(s);
      if (hint !== undefined) {
        hint.headId = head.id;
        hint.ref = s.ref;
      }
    }
    hi >>>= 0;
    lo >>>= 0;
    const err = s.appendable(t, hi, lo, this.minValidTime);
    let ooo = false;
    if (err !== null) {
      if (head.oooWindow === 0 || err.kind === "duplicate") throw err;
      if (t < head.maxTime - head.oooWindow) throw new TooOldSampleError();
      ooo = true;
    } else if (head.oooWindow > 0) {
      // older than a newer sample this appender already holds: it will be out of order once that
      // one is applied (Prometheus decides at commit; we must know it to log it to the WBL)
      if (s.pendingApp === this.id && t < s.pendingMaxT) {
        if (t < Math.max(head.maxTime, s.pendingMaxT) - head.oooWindow) {
          throw new TooOldSampleError();
        }
        ooo = true;
      } else {
        s.pendingApp = this.id;
        s.pendingMaxT = t;
      }
    }
    const lim = head.limits;
    if (lim.maxSamplesPerAppender !== undefined && this.n >= lim.maxSamplesPerAppender) {
      throw new LimitExceededError(
        "sample_limit",
        `sample limit of ${lim.maxSamplesPerAppender} per commit reached`,
      );
    }
    if (lim.beforeSample && !lim.beforeSample(s.labels, this.n)) {
      throw new LimitExceededError("sample_limit", "sample limit hook refused the sample");
    }
    const n = this.n;
    if (n === this.ts.length) this.grow();
    this.refs[n] = s.ref;
    this.ts[n] = t;
    this.words[2 * n + HI_WORD] = hi;
    this.words[2 * n + LO_WORD] = lo;
    if (ooo) (this.ooo ??= new Uint8Array(this.ts.length))[n] = 1;
    else if (this.ooo !== null) this.ooo[n] = 0;
    this.series.push(s);
    s.pending++;
    this.n = n + 1;
    return s.ref;
  }

  private grow(): void {
    const cap = this.ts.length * 2;
    const refs = new Float64Array(cap);
    refs.set(this.refs);
    const ts = new Float64Array(cap);
    ts.set(this.ts);
    const vs = new Float64Array(cap);
    // copy the words (a Float64Array copy may canonicalise NaNs on some paths)
    const words = new Uint32Array(vs.buffer);
    words.set(this.words);
    this.refs = refs;
    this.ts = ts;
    this.vs = vs;
    this.words = words;
    if (this.ooo !== null) {
      const o = new Uint8Array(cap);
      o.set(this.ooo);
      this.ooo = o;
    }
  }

  /**
   * The samples records of the WAL (in-order samples) and of the WBL (out-of-order samples)
   * when some sample is out of order.
   */
  private splitSamples(): { wal: Uint8Array | null; wbl: Uint8Array } {
    const flags = this.ooo!;
    const n = this.n;
    let k = 0;
    for (let i = 0; i < n; i++) k += flags[i];
    const part = (want: number, size: number) => {
      const refs = new Float64Array(size);
      const ts = new Float64Array(size);
      const vs = new Float64Array(size);
      const w = new Uint32Array(vs.buffer);
      let j = 0;
      for (let i = 0; i < n; i++) {
        if (flags[i] !== want) continue;
        refs[j] = this.refs[i];
        ts[j] = this.ts[i];
        w[2 * j] = this.words[2 * i];
        w[2 * j + 1] = this.words[2 * i + 1];
        j++;
      }
      return encodeSamples({ n: size, refs, ts, vs });
    };
    return { wal: k < n ? part(0, n - k) : null, wbl: part(1, k) };
  }

  /** Series records for series of this appender not yet in the WAL (marked logged now). */
  private seriesRecord(): Uint8Array | null {
    const out: RefSeries[] = [];
    for (const s of this.created) {
      if (!s.logged) {
        s.logged = true;
        out.push({ ref: s.ref, labels: s.labels });
      }
    }
    // a series created by a concurrent appender that has not committed yet: its record must
    // precede our samples (written once: Prometheus resets a series on a repeated record)
    for (const s of this.series) {
      if (!s.logged) {
        s.logged = true;
        out.push({ ref: s.ref, labels: s.labels });
      }
    }
    return out.length > 0 ? encodeSeries(out) : null;
  }

  /**
   * Writes the series record (new series) and the samples record to the WAL, fsyncs per the
   * head's policy, then adds the samples to memory. Resolves when acknowledged (see
   * {@link FsyncPolicy}); rejects with the WAL's error (nothing applied then).
   */
  async commit(): Promise<CommitStats> {
    if (this.closed) throw new AppenderClosedError();
    this.closed = true;
    const head = this.head;
    const records: Uint8Array[] = [];
    const sr = this.seriesRecord();
    if (sr !== null) records.push(sr);
    const n = this.n;
    const oooFlags = this.ooo;
    let wblRecords: Uint8Array[] | null = null;
    if (oooFlags !== null) {
      const split = this.splitSamples();
      if (split.wal !== null) records.push(split.wal);
      wblRecords = [split.wbl];
    } else if (n > 0) {
      records.push(encodeSamples({ n, refs: this.refs, ts: this.ts, vs: this.vs }));
    }
    const stats: CommitStats = { appended: 0, dropped: 0 };
    const series = this.series;
    const ts = this.ts;
    const words = this.words;
    const mvt = this.minValidTime ?? MIN;
    if (records.length === 0 && wblRecords === null) return stats;
    let applied = false;
    try {
      await head.submit(records, () => {
        applied = true;
        let late: number[] | null = null;
        let mint = MAX;
        let maxt = MIN;
        const cr = head.chunkRange;
        for (let i = 0; i < n; i++) {
          const s = series[i];
          s.pending--;
          const t = ts[i];
          const hi = words[2 * i + HI_WORD];
          const lo = words[2 * i + LO_WORD];
          if (oooFlags !== null && oooFlags[i] === 1) {
            // logged to the WBL: into the out-of-order chunks (an exact timestamp already in the
            // open out-of-order chunk is dropped, as in Prometheus)
            s.ooo ??= new OooSeries(head.oooCapMax);
            if (s.ooo.insert(t, hi, lo)) {
              stats.appended++;
              stats.outOfOrder = (stats.outOfOrder ?? 0) + 1;
              head.updateOooMinMax(t);
            } else stats.dropped++;
            continue;
          }
          const err = s.appendable(t, hi, lo, mvt);
          if (err === null) {
            if (!s.append(t, hi, lo, cr)) {
              stats.dropped++;
              continue;
            }
            stats.appended++;
            if (t < mint) mint = t;
            if (t > maxt) maxt = t;
            continue;
          }
          // out of order only now (a concurrent commit of a newer sample was applied first):
          // Prometheus decides at commit too; the WBL gets it before the commit is acknowledged
          if (
            head.oooWindow > 0 && err.kind !== "duplicate" && t >= head.maxTime - head.oooWindow &&
            (s.ooo ??= new OooSeries(head.oooCapMax)).insert(t, hi, lo)
          ) {
            (late ??= []).push(i);
            stats.appended++;
            stats.outOfOrder = (stats.outOfOrder ?? 0) + 1;
            head.updateOooMinMax(t);
            continue;
          }
          stats.dropped++;
        }
        if (mint !== MAX) head.updateMinMax(mint, maxt);
        if (late === null) return null;
        const k = late.length;
        const refs = new Float64Array(k);
        const lts = new Float64Array(k);
        const lvs = new Float64Array(k);
        const lw = new Uint32Array(lvs.buffer);
        for (let j = 0; j < k; j++) {
          const i = late[j];
          refs[j] = series[i].ref;
          lts[j] = ts[i];
          lw[2 * j] = words[2 * i];
          lw[2 * j + 1] = words[2 * i + 1];
        }
        return encodeSamples({ n: k, refs, ts: lts, vs: lvs });
      }, wblRecords);
    } catch (e) {
      // a WAL failure: nothing was applied (Prometheus rolls back)
      if (!applied) { for (let i = 0; i < n; i++) series[i].pending--; }
      throw e;
    }
    return stats;
  }

  /** Drops the buffered samples; series created meanwhile are still logged (Prometheus). */
  async rollback(): Promise<void> {
    if (this.closed) throw new AppenderClosedError();
    this.closed = true;
    for (let i = 0; i < this.n; i++) this.series[i].pending--;
    this.series = this.series.slice(0, 0);
    const sr = this.seriesRecord();
    if (sr !== null) await this.head.submit([sr], () => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Querier

/** Reads the head through the {@link Queryable} interface, clamped to [mint, maxt]. */
export class HeadQuerier implements Queryable {
  constructor(
    readonly head: Head,
    readonly mint = MIN,
    readonly maxt = MAX,
  ) {}

  private range(start: number, end: number): [number, number] | null {
    const mint = Math.max(start, this.mint, Math.min(this.head.minTime, this.head.oooMinTime));
    const maxt = Math.min(end, this.maxt, Math.max(this.head.maxTime, this.head.oooMaxTime));
    return mint > maxt ? null : [mint, maxt];
  }

  /**
   * Series matching `matchers` with a chunk overlapping [hints.start, hints.end] (inclusive),
   * sorted by labels, chunks whole and still encoded (the open chunk's current bytes
   * included). Deleted intervals (tombstone records) are removed.
   */
  select(matchers: Matcher[], hints: SelectHints, signal?: AbortSignal): SeriesSet {
    return this.selectGen(matchers, hints, signal);
  }

  private async *selectGen(
    matchers: Matcher[],
    hints: SelectHints,
    signal?: AbortSignal,
  ): AsyncGenerator<SeriesWithChunks> {
    const r = this.range(hints.start, hints.end);
    if (r === null) return;
    const [mint, maxt] = r;
    const list = await this.head.matching(matchers);
    let k = 0;
    for (const s of list) {
      if ((++k & 255) === 0) signal?.throwIfAborted();
      if (hints.skipChunks) {
        if (s.overlaps(mint, maxt)) yield { labels: s.labels, chunks: [] };
        continue;
      }
      let chunks = s.ooo !== null && s.ooo.overlaps(mint, maxt)
        ? s.mergedChunksIn(mint, maxt)
        : s.chunksIn(mint, maxt);
      const dels = this.head.deletedIntervals(s.ref);
      if (dels && chunks.length > 0) {
        chunks = chunks.map((c) => removeDeletedSamples(c, dels)).filter((c) => c !== null);
      }
      if (chunks.length === 0) continue;
      yield { labels: s.labels, chunks };
    }
  }

  async labelNames(matchers: Matcher[], start: number, end: number): Promise<string[]> {
    if (this.range(start, end) === null) return [];
    if (matchers.length === 0) return this.head.allLabelNames();
    const names = new Set<string>();
    for (const s of await this.head.matching(matchers)) {
      for (let i = 0; i < s.labels.length; i += 2) names.add(s.labels[i]);
    }
    return [...names].sort(compareStrings);
  }

  async labelValues(
    name: string,
    matchers: Matcher[],
    start: number,
    end: number,
  ): Promise<string[]> {
    if (this.range(start, end) === null) return [];
    if (matchers.length === 0) return this.head.allLabelValues(name);
    const values = new Set<string>();
    for (const s of await this.head.matching(matchers)) {
      for (let i = 0; i < s.labels.length; i += 2) {
        if (s.labels[i] === name) values.add(s.labels[i + 1]);
      }
    }
    return [...values].sort(compareStrings);
  }
}

/** True when `path` is an existing directory. */
async function dirExists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
