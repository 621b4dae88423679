// Write-ahead log in Prometheus 2.42's on-disk format, so Prometheus can replay what we write
// and we can replay what Prometheus writes.
// Format: https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/docs/format/wal.md
// Behaviour follows tsdb/wlog/wlog.go and reader.go of the same tag:
//   - segments `NNNNNNNN` (%08d) in the WAL dir, 128 MiB by default, written in 32 KiB pages;
//   - a record is split into fragments that never cross a page: full / first / middle / last,
//     each with a 7-byte header: type byte (bit 3 = snappy), big-endian uint16 length,
//     big-endian CRC32-Castagnoli of the fragment's data;
//   - when less than a header fits in a page, the rest of the page is zero padding (a zero type
//     byte also means "rest of page empty"); a segment that ends mid-page reads as zero-padded;
//   - a record never spans segments: when it does not fit in the rest of the segment, the
//     writer starts the next one (a record larger than a segment gets a segment of its own);
//   - snappy block compression per record, kept only when it makes the record smaller.
// `log` hands bytes to the OS (no fsync); `sync` makes them durable with fdatasync (the data and
// the file size: https://man7.org/linux/man-pages/man2/fdatasync.2.html — a WAL needs nothing
// else of the inode; the directory entry of a new segment is fsynced when it is created). The
// caller (the head) decides how often to sync. The bytes left at the end of a `log` call are
// written with a synchronous write (a page-cache copy: cheaper than an asynchronous file op,
// which costs a thread hand-off); writes in the middle of a large record stay asynchronous.
// Writes: by default up to 32 pages are buffered per write call (and whatever is buffered is
// written at the end of each `log`), so a record under 1 MiB usually reaches the file in one
// write. `pagesPerWrite: 1` writes each page as soon as it is full, as Prometheus's
// wlog.go does (`log` → `flushPage` whenever `page.full()`): a multi-page record then reaches
// the file page by page, and a process killed meanwhile leaves a torn last record — the case
// the crash test (tests/e2e/head_crash_test.ts) needs to hit reliably.

import * as snappyjs from "snappyjs";
import type { Logger } from "../../logging/log.ts";
import { syncDir } from "../../runutil/atomic_file.ts";
import { crc32c } from "../crc32c.ts";
import { WalCorruptionError } from "./errors.ts";

export { WalCorruptionError } from "./errors.ts";

/** Default segment size (Prometheus's wlog.DefaultSegmentSize). */
export const DEFAULT_SEGMENT_SIZE = 128 * 1024 * 1024;
/** Page size: fragments never cross a page boundary. */
export const PAGE_SIZE = 32 * 1024;
/** Fragment header: type, uint16 length, uint32 CRC. */
export const RECORD_HEADER_SIZE = 7;

const SNAPPY_MASK = 1 << 3;
const TYPE_MASK = SNAPPY_MASK - 1;
/** Fragment types (low 3 bits of the header's first byte). */
const enum Frag {
  PageTerm = 0,
  Full = 1,
  First = 2,
  Middle = 3,
  Last = 4,
}
/** Pages buffered before a write (the writer also writes at the end of each `log`). */
const WRITE_BUFFER_PAGES = 32;
/** Pages read per read call. */
const READ_BUFFER_PAGES = 32;
/** Upper bound of a decompressed record (snappy's length prefix is checked against it). */
const MAX_RECORD_BYTES = 1 << 30;

/** Options of {@link Wal.open}. */
export interface WalOptions {
  /** Segment size in bytes, a multiple of 32 KiB (default 128 MiB). */
  segmentSize?: number;
  /** Snappy-compress records (Prometheus's `--storage.tsdb.wal-compression`). */
  compress?: boolean;
  /**
   * Full pages buffered before a write call, 1…32 (default 32). 1 = Prometheus's page-by-page
   * writes.
   */
  pagesPerWrite?: number;
  /** Receives repair warnings. */
  logger?: Logger;
}

/** Path of segment `i` in `dir`. */
export function segmentName(dir: string, i: number): string {
  return `${dir}/${String(i).padStart(8, "0")}`;
}

/** Indexes of the segments in `dir`, ascending; throws when they are not sequential. */
export async function listSegments(dir: string): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (/^\d+$/.test(e.name) && !e.isDirectory) out.push(Number(e.name));
  }
  out.sort((a, b) => a - b);
  for (let i = 1; i < out.length; i++) {
    if (out[i] !== out[i - 1] + 1) {
      throw new Error(`${dir}: WAL segments are not sequential (${out[i - 1]} then ${out[i]})`);
    }
  }
  return out;
}

/** Deletes the segments in `dir` with an index below `before`, oldest first. */
export async function deleteSegmentsBelow(dir: string, before: number): Promise<void> {
  for (const s of await listSegments(dir)) {
    if (s >= before) break;
    await Deno.remove(segmentName(dir, s));
  }
}

async function writeAll(f: Deno.FsFile, b: Uint8Array): Promise<void> {
  let o = 0;
  while (o < b.length) o += await f.write(b.subarray(o));
}

function writeAllSync(f: Deno.FsFile, b: Uint8Array): void {
  let o = 0;
  while (o < b.length) o += f.writeSync(b.subarray(o));
}

function normDir(dir: string): string {
  let d = dir.startsWith("/") ? dir : `${Deno.cwd()}/${dir}`;
  d = d.replace(/\/+/g, "/").replace(/\/(\.\/)+/g, "/").replace(/\/\.$/, "");
  return d.length > 1 ? d.replace(/\/$/, "") : d;
}

/** Open WALs by directory, so that {@link repairWal} can move an open writer to a live segment. */
const openWals = new Map<string, Wal>();

/** A write-ahead log writer over one directory of segments. */
export class Wal {
  private file: Deno.FsFile | null = null;
  private seg = -1;
  /** Write buffer: bytes [bufStart, bufStart + buf.length) of the active segment. */
  private buf = new Uint8Array(WRITE_BUFFER_PAGES * PAGE_SIZE);
  private bufStart = 0;
  /** Bytes of `buf` in use / already written to the file. */
  private alloc = 0;
  private flushed = 0;
  private lock: Promise<unknown> = Promise.resolve();
  private closed = false;
  private closing: Promise<void> | undefined;
  private background: Promise<void> = Promise.resolve();
  private backgroundError: Error | undefined;
  private readonly segmentSize: number;
  private readonly compress: boolean;
  /** Buffered bytes that trigger a write in the middle of a record. */
  private readonly writeBytes: number;
  private readonly logger?: Logger;

  private constructor(readonly dir: string, opts: WalOptions) {
    this.segmentSize = opts.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    this.compress = opts.compress ?? false;
    this.writeBytes = (opts.pagesPerWrite ?? WRITE_BUFFER_PAGES) * PAGE_SIZE;
    this.logger = opts.logger;
  }

  /**
   * Opens (creating it if needed) the WAL in `dir` — the `wal/` directory itself. A torn or
   * corrupt tail of the last segment is truncated at the last good record (logged as a
   * warning); writing starts in a new segment after the last one.
   */
  static async open(dir: string, opts: WalOptions = {}): Promise<Wal> {
    const size = opts.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    if (size <= 0 || size % PAGE_SIZE !== 0) {
      throw new Error(`invalid WAL segment size ${size}: must be a positive multiple of 32 KiB`);
    }
    const ppw = opts.pagesPerWrite ?? WRITE_BUFFER_PAGES;
    if (!Number.isInteger(ppw) || ppw < 1 || ppw > WRITE_BUFFER_PAGES) {
      throw new Error(`invalid WAL pagesPerWrite ${ppw}: must be 1…${WRITE_BUFFER_PAGES}`);
    }
    await Deno.mkdir(dir, { recursive: true });
    const key = normDir(dir);
    if (openWals.has(key)) throw new Error(`${dir}: WAL is already open`);
    const segs = await listSegments(dir);
    let next = 0;
    if (segs.length > 0) {
      const last = segs[segs.length - 1];
      try {
        for await (const _ of readSegment(dir, last, false)) { /* scan only */ }
      } catch (e) {
        if (!(e instanceof WalCorruptionError) || e.segment !== last) throw e;
        await repairWal(dir, e, opts.logger);
      }
      next = last + 1;
    } else {
      // every segment truncated away: continue after the newest checkpoint, so that a replay
      // (checkpoint N, then segments from N+1) reads what is written next
      for await (const e of Deno.readDir(dir)) {
        const m = /^checkpoint\.(\d+)$/.exec(e.name);
        if (m !== null && e.isDirectory) next = Math.max(next, Number(m[1]) + 1);
      }
    }
    const w = new Wal(dir, opts);
    await w.startSegment(next);
    openWals.set(key, w);
    return w;
  }

  /** Runs `fn` after every earlier operation, one at a time. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.lock.then(() => {
      if (this.closed) throw new Error(`${this.dir}: WAL is closed`);
      return fn();
    });
    this.lock = p.catch(() => {});
    return p;
  }

  /** Internal: serialises a repair with this writer (used by {@link repairWal}). */
  _exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.exclusive(fn);
  }

  /** Internal: after a repair deleted segments, continue in a fresh segment `i`. */
  async _restartAt(i: number): Promise<void> {
    try {
      this.file?.close();
    } catch { /* already closed */ }
    this.file = null;
    await this.startSegment(i);
  }

  private async startSegment(i: number): Promise<void> {
    const path = segmentName(this.dir, i);
    const f = await Deno.open(path, { write: true, create: true, append: true });
    let size = (await f.stat()).size;
    if (size % PAGE_SIZE !== 0) {
      // torn last page of an existing file: fill it with zeros (Prometheus's OpenWriteSegment)
      await writeAll(f, new Uint8Array(PAGE_SIZE - (size % PAGE_SIZE)));
      size += PAGE_SIZE - (size % PAGE_SIZE);
    }
    if (size === 0) await syncDir(this.dir); // the new segment's directory entry
    this.file = f;
    this.seg = i;
    this.bufStart = size;
    this.alloc = 0;
    this.flushed = 0;
    this.buf.fill(0);
  }

  /** Index of the segment being written. */
  get currentSegment(): number {
    return this.seg;
  }

  /** Appends records in order, each as one WAL record. Data reaches the OS, not the disk. */
  log(...records: Uint8Array[]): Promise<void> {
    return this.exclusive(async () => {
      for (const r of records) await this.writeRecord(r);
      this.flushBufferedSync();
    });
  }

  /** fsyncs the active segment (after the finished ones, which are fsynced in the background). */
  sync(): Promise<void> {
    return this.exclusive(async () => {
      await this.awaitBackground();
      await this.file!.syncData();
    });
  }

  /** Closes the active segment (padded to a page, fsynced) and starts the next; returns its index. */
  nextSegment(): Promise<number> {
    return this.exclusive(() => this.nextSegmentLocked());
  }

  /** First and last segment index, -1/-1 when there is none. */
  async segmentRange(): Promise<{ first: number; last: number }> {
    const s = await listSegments(this.dir);
    return s.length === 0 ? { first: -1, last: -1 } : { first: s[0], last: s[s.length - 1] };
  }

  /** Deletes the segments with an index below `before` (never the active one). */
  truncate(before: number): Promise<void> {
    return this.exclusive(() => deleteSegmentsBelow(this.dir, Math.min(before, this.seg)));
  }

  /** Pads and writes the last page, fsyncs and closes the segment. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.exclusive(async () => {
      this.closed = true;
      openWals.delete(normDir(this.dir));
      const f = this.file!;
      try {
        if (this.alloc % PAGE_SIZE !== 0) this.alloc = roundUp(this.alloc);
        await this.flushBuffered();
        await f.sync();
        await this.awaitBackground();
      } finally {
        this.file = null;
        f.close();
      }
    });
    return this.closing;
  }

  private async nextSegmentLocked(): Promise<number> {
    if (this.alloc % PAGE_SIZE !== 0) this.alloc = roundUp(this.alloc);
    await this.flushBuffered();
    const prev = this.file!;
    const prevSeg = this.seg;
    this.file = null;
    // like Prometheus, the finished segment is fsynced and closed in the background; sync()
    // and close() wait for it
    this.background = this.background.then(async () => {
      try {
        await prev.sync();
      } catch (e) {
        this.logger?.error("fsync of previous WAL segment failed", { segment: prevSeg, err: e });
        this.backgroundError ??= e as Error;
      } finally {
        prev.close();
      }
    });
    await this.startSegment(this.seg + 1);
    return this.seg;
  }

  /** Waits for the background fsync of finished segments; rethrows its failure once. */
  private async awaitBackground(): Promise<void> {
    await this.background;
    const e = this.backgroundError;
    this.backgroundError = undefined;
    if (e !== undefined) throw e;
  }

  /** Writes the buffered bytes not yet written; recycles the buffer when it is full. */
  private async flushBuffered(): Promise<void> {
    if (this.alloc > this.flushed) {
      await writeAll(this.file!, this.buf.subarray(this.flushed, this.alloc));
      this.flushed = this.alloc;
    }
    this.recycle();
  }

  /** {@link flushBuffered} with a synchronous write. */
  private flushBufferedSync(): void {
    if (this.alloc > this.flushed) {
      writeAllSync(this.file!, this.buf.subarray(this.flushed, this.alloc));
      this.flushed = this.alloc;
    }
    this.recycle();
  }

  private recycle(): void {
    if (this.alloc === this.buf.length) {
      this.buf.fill(0);
      this.bufStart += this.alloc;
      this.alloc = 0;
      this.flushed = 0;
    }
  }

  private async writeRecord(rec: Uint8Array): Promise<void> {
    const H = RECORD_HEADER_SIZE;
    // a page with no room for a header is complete: the rest stays zero
    if (PAGE_SIZE - (this.alloc % PAGE_SIZE) < H) {
      this.alloc = roundUp(this.alloc);
      if (this.alloc === this.buf.length) await this.flushBuffered();
    }

    let compressed = false;
    if (this.compress && rec.length > 0) {
      const c = snappyjs.compress(rec) as Uint8Array;
      if (c.length < rec.length) {
        rec = c;
        compressed = true;
      }
    }

    const pos = this.bufStart + this.alloc;
    const donePages = Math.floor(pos / PAGE_SIZE);
    const pageOff = pos % PAGE_SIZE;
    const pagesPerSegment = this.segmentSize / PAGE_SIZE;
    const left = (PAGE_SIZE - pageOff - H) + (PAGE_SIZE - H) * (pagesPerSegment - donePages - 1);
    if (rec.length > left && pos > 0) await this.nextSegmentLocked();

    const flag = compressed ? SNAPPY_MASK : 0;
    let off = 0;
    for (let i = 0; i === 0 || off < rec.length; i++) {
      const buf = this.buf;
      const at = this.alloc;
      const l = Math.min(rec.length - off, PAGE_SIZE - (at % PAGE_SIZE) - H);
      const end = off + l;
      const typ = i === 0
        ? (end === rec.length ? Frag.Full : Frag.First)
        : (end === rec.length ? Frag.Last : Frag.Middle);
      const crc = crc32c(rec, off, end);
      buf[at] = typ | flag;
      buf[at + 1] = l >>> 8;
      buf[at + 2] = l & 0xff;
      buf[at + 3] = crc >>> 24;
      buf[at + 4] = (crc >>> 16) & 0xff;
      buf[at + 5] = (crc >>> 8) & 0xff;
      buf[at + 6] = crc & 0xff;
      buf.set(rec.subarray(off, end), at + H);
      this.alloc = at + H + l;
      off = end;
      if (PAGE_SIZE - (this.alloc % PAGE_SIZE) < H) this.alloc = roundUp(this.alloc);
      if (this.alloc === buf.length || this.alloc - this.flushed >= this.writeBytes) {
        await this.flushBuffered();
      }
    }
  }
}

function roundUp(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}

/**
 * Records of segments [from, to] of `dir` in order (to = -1: through the last segment).
 * Throws a {@link WalCorruptionError} naming the segment and the offset of the damaged record
 * (bad CRC, torn or misplaced fragment, garbage in page padding, bad snappy data).
 */
export async function* readRecords(
  dir: string,
  from = -1,
  to = -1,
): AsyncIterable<Uint8Array> {
  for (const s of await listSegments(dir)) {
    if (from >= 0 && s < from) continue;
    if (to >= 0 && s > to) break;
    yield* readSegment(dir, s, true);
  }
}

/** Reads `n` bytes or up to EOF; returns how many were read. */
async function readFull(f: Deno.FsFile, b: Uint8Array): Promise<number> {
  let o = 0;
  while (o < b.length) {
    const n = await f.read(b.subarray(o));
    if (n === null) break;
    o += n;
  }
  return o;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Records of one segment; with `decode` false the records are checked but not decompressed. */
async function* readSegment(dir: string, seg: number, decode: boolean): AsyncIterable<Uint8Array> {
  const path = segmentName(dir, seg);
  const f = await Deno.open(path, { read: true });
  const H = RECORD_HEADER_SIZE;
  try {
    const chunk = new Uint8Array(READ_BUFFER_PAGES * PAGE_SIZE);
    let chunkBase = 0; // segment offset of chunk[0]
    let parts: Uint8Array[] = [];
    let inRecord = false;
    let recStart = 0;
    let compressed = false;
    const fail = (at: number, detail: string): never => {
      throw new WalCorruptionError(seg, at, detail, path);
    };
    for (;;) {
      const got = await readFull(f, chunk);
      if (got === 0) break;
      for (let page = 0; page < got; page += PAGE_SIZE) {
        // bytes of this page present in the file; a short last page reads as zero-padded
        const avail = Math.min(PAGE_SIZE, got - page);
        const base = chunkBase + page;
        let p = 0;
        while (p < PAGE_SIZE) {
          if (p >= avail) break;
          const at = page + p;
          if (PAGE_SIZE - p < H || (chunk[at] & TYPE_MASK) === Frag.PageTerm) {
            // rest of the page is padding and must be zero
            for (let i = at; i < page + avail; i++) {
              if (chunk[i] !== 0) {
                fail(
                  inRecord ? recStart : base + p,
                  `unexpected non-zero byte in padded page at ${chunkBase + i}`,
                );
              }
            }
            break;
          }
          const hdr = chunk[at];
          const typ = hdr & TYPE_MASK;
          if (p + H > avail) {
            fail(inRecord ? recStart : base + p, "torn fragment header at end of segment");
          }
          const len = (chunk[at + 1] << 8) | chunk[at + 2];
          const crc = ((chunk[at + 3] << 24) | (chunk[at + 4] << 16) | (chunk[at + 5] << 8) |
            chunk[at + 6]) >>> 0;
          if (typ > Frag.Last) fail(inRecord ? recStart : base + p, `invalid fragment type ${typ}`);
          if (p + H + len > PAGE_SIZE) {
            fail(inRecord ? recStart : base + p, `invalid fragment size ${len} at ${base + p}`);
          }
          if (p + H + len > avail) {
            fail(
              inRecord ? recStart : base + p,
              `torn fragment at ${base + p}: ${len} bytes announced, ${avail - p - H} present`,
            );
          }
          const got2 = crc32c(chunk, at + H, at + H + len);
          if (got2 !== crc) {
            fail(
              inRecord ? recStart : base + p,
              `unexpected checksum ${got2.toString(16)}, expected ${
                crc.toString(16)
              } in fragment at ${base + p}`,
            );
          }
          if (typ === Frag.Full || typ === Frag.First) {
            if (inRecord) {
              fail(
                recStart,
                `record torn: new ${typ === Frag.Full ? "full" : "first"} fragment at ${
                  base + p
                } before its last fragment`,
              );
            }
            inRecord = true;
            recStart = base + p;
            compressed = (hdr & SNAPPY_MASK) !== 0;
            parts = [];
          } else if (!inRecord) {
            fail(
              base + p,
              `unexpected ${
                typ === Frag.Middle ? "middle" : "last"
              } fragment with no first fragment`,
            );
          }
          parts.push(chunk.slice(at + H, at + H + len));
          p += H + len;
          if (typ === Frag.Full || typ === Frag.Last) {
            inRecord = false;
            let rec = concat(parts);
            parts = [];
            if (decode && compressed && rec.length > 0) {
              try {
                rec = snappyjs.uncompress(rec, MAX_RECORD_BYTES) as Uint8Array;
              } catch (e) {
                fail(recStart, `snappy: ${(e as Error).message}`);
              }
            }
            yield rec;
          }
        }
      }
      chunkBase += got;
      if (got < chunk.length) break;
    }
    if (inRecord) fail(recStart, "last record is torn: segment ends before its last fragment");
  } finally {
    f.close();
  }
}

/**
 * Repairs the WAL in `dir` after `err`: truncates segment `err.segment` at `err.offset` (the
 * start of the damaged record; the rest of that page is zero-filled), deletes every later
 * segment and logs what was dropped. An open {@link Wal} on `dir` continues in a fresh segment
 * after the repaired one.
 */
export async function repairWal(
  dir: string,
  err: WalCorruptionError,
  logger?: Logger,
): Promise<void> {
  if (err.segment < 0) {
    throw new Error("WAL corruption error does not name a segment", { cause: err });
  }
  const open = openWals.get(normDir(dir));
  if (open) {
    await open._exclusive(async () => {
      await repairFiles(dir, err, logger);
      await open._restartAt(err.segment + 1);
    });
  } else {
    await repairFiles(dir, err, logger);
  }
}

async function repairFiles(dir: string, err: WalCorruptionError, logger?: Logger): Promise<void> {
  const path = segmentName(dir, err.segment);
  const size = (await Deno.stat(path)).size;
  const offset = Math.min(err.offset, size);
  let laterBytes = 0;
  const deleted: number[] = [];
  for (const s of await listSegments(dir)) {
    if (s <= err.segment) continue;
    const p = segmentName(dir, s);
    laterBytes += (await Deno.stat(p)).size;
    await Deno.remove(p);
    deleted.push(s);
  }
  await Deno.truncate(path, offset);
  if (offset % PAGE_SIZE !== 0) await Deno.truncate(path, roundUp(offset));
  const f = await Deno.open(path, { write: true });
  try {
    await f.sync();
  } finally {
    f.close();
  }
  logger?.warn("WAL corruption repaired: truncated segment at the last good record", {
    dir,
    segment: err.segment,
    offset,
    bytes_dropped: size - offset,
    later_segments_deleted: deleted.length,
    later_bytes_dropped: laterBytes,
    err: err.detail,
  });
}
