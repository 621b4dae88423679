// FILESYSTEM bucket: objects are files under one directory. Uploads write a temporary file in the
// target directory and rename it into place, so a crash never leaves a half-written object under
// its final name (temporary files are invisible to listings).
//
// The bucket never reaches outside its root: object names with `..` are refused, and a symlink
// (to a file or a directory) whose target resolves outside the root is neither read, written
// through nor listed — its object does not exist. Deno's permissions check the path as written,
// so a link inside a granted directory would otherwise expose whatever it points to.

import {
  type Bucket,
  checkObjectName,
  InvalidObjectNameError,
  type IterOptions,
  type ObjectAttributes,
  ObjectNotFoundError,
  type RangePieceSink,
} from "./bucket.ts";
import { writeFileAtomic, writeFileAtomicWith } from "../runutil/atomic_file.ts";
import { CountLru } from "../runutil/lru.ts";

/** Marker inside temporary upload file names; listings skip names containing it. */
const TMP_MARKER = ".thanos-upload-tmp-";

function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound ||
    (e instanceof Error && "code" in e && (e as { code?: string }).code === "ENOENT");
}

function isDirError(e: unknown): boolean {
  return e instanceof Deno.errors.IsADirectory ||
    (e instanceof Error && /EISDIR|Is a directory/.test(e.message));
}

function joinPath(a: string, b: string): string {
  return a.endsWith("/") ? a + b : `${a}/${b}`;
}

function dirname(p: string): string {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

/** An object whose path resolves outside the bucket root (a symlink): treated as absent. */
export class ObjectOutsideRootError extends ObjectNotFoundError {
  override name = "ObjectOutsideRootError";
  constructor(bucket: string, object: string) {
    super(
      `object ${JSON.stringify(object)} resolves outside the root of bucket ${bucket} (a ` +
        "symlink); not followed",
    );
  }
}

function abortIf(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new DOMException("aborted", "AbortError");
}

/** A bucket backed by a local directory (`type: FILESYSTEM`, `directory: ...`). */
/** getRange reads up to this many bytes with synchronous calls (see there). */
const SYNC_READ_MAX = 1 << 20;
/** Files remembered as inside the root at most (see confineOpened). */
const MAX_INSIDE_FILES = 16384;
/** Largest piece streamRange hands over (the size of the buffer it reads into). */
const STREAM_PIECE = 128 * 1024;
/**
 * streamRange reads up to this many bytes with synchronous calls (issue 19): each asynchronous
 * 128 KiB read still took about 60 µs of the store gateway's thread in a V8 profile, and made
 * garbage, where a synchronous megabyte takes about 75 µs; a Series call over the 1,360 series of
 * one metric (two merged ranges of about 1.4 MB) took 3.2–3.7 ms of CPU against 5.0–5.5 ms. The
 * store's merged chunk ranges of one metric are a few MiB (at most 16); read from the page cache,
 * 4 MiB hold the thread for about 0.3 ms besides what the sink does with the pieces.
 */
const SYNC_STREAM_MAX = 4 << 20;
/**
 * Files kept open for range reads at most, by default (see openRangeSync). A 30-day range query
 * over two-hour blocks reads the index and a chunk segment of each of 360 blocks, 720 files, in
 * the same order for every batch of series: under a smaller bound a least-recently-used set
 * misses on every read (64 kept files cost such a query's store ~15 % more CPU, issue 19). Deno
 * raises the soft limit on open files to the hard one at start; where even that is low, a refused
 * open (EMFILE) closes the kept files and halves the bound (see openFile).
 */
const MAX_OPEN_FILES = 1024;
/** The bound never goes below this after refused opens. */
const MIN_OPEN_FILES = 16;
/** How often kept files are checked: closed when unused since the last check or removed. */
const OPEN_FILES_SWEEP_MS = 10_000;

/** A file opened for synchronous range reads, kept open in the bucket or for one read. */
interface RangeFile {
  readonly file: Deno.FsFile;
  /** The object's path, opened and found inside the root. */
  readonly path: string;
  /** The opened file's device and inode: what the path must still lead to for a read. */
  readonly dev: number;
  readonly ino: number;
  /** Kept open by the bucket (closed when dropped), or opened for one read (closed after it). */
  kept: boolean;
  /** A read is using it: a nested read of the same object opens the file again. */
  busy: boolean;
  /** Read since the last sweep. */
  used: boolean;
}

export class FilesystemBucket implements Bucket {
  readonly name: string;
  /** Absolute root directory. */
  readonly root: string;

  /** The root with symlinks resolved, once it exists. */
  private realRoot?: string;
  /** Paths read by range whose file resolved inside the root → that file's `dev:ino`. */
  private readonly insideFiles = new Map<string, string>();
  /** streamRange's read buffer, and whether a streamRange is using it. */
  private pieceBuf?: Uint8Array;
  private pieceBufBusy = false;
  /** Files kept open for range reads by object name (the least recently used closed first). */
  private openFiles: CountLru<string, RangeFile>;
  private sweepTimer?: ReturnType<typeof setInterval>;
  private closed = false;

  /**
   * `maxOpenFiles`: files kept open for range reads at most (default {@link MAX_OPEN_FILES});
   * halved, down to {@link MIN_OPEN_FILES}, each time the process runs out of file descriptors.
   */
  constructor(directory: string, opts: { maxOpenFiles?: number } = {}) {
    this.openFiles = this.keptFiles(opts.maxOpenFiles ?? MAX_OPEN_FILES);
    let root = directory.startsWith("/") ? directory : joinPath(Deno.cwd(), directory);
    root = root.replace(/\/+$/, "") || "/";
    this.root = root;
    this.name = `fs: ${root}`;
  }

  /** The resolved root, or undefined while it does not exist. */
  private async resolvedRoot(): Promise<string | undefined> {
    if (this.realRoot !== undefined) return this.realRoot;
    try {
      this.realRoot = await Deno.realPath(this.root);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    return this.realRoot;
  }

  /** True when `real` (a resolved path) is the root or below it. */
  private inside(real: string, root: string): boolean {
    return real === root || real.startsWith(root === "/" ? "/" : root + "/");
  }

  /**
   * Checks that the existing path `p` (of object `name`) resolves inside the root; a missing
   * path passes (reading it fails as not found, creating it is checked by its directory).
   */
  private async confine(p: string, name: string): Promise<void> {
    let real: string;
    try {
      real = await Deno.realPath(p);
    } catch (e) {
      if (isNotFound(e) || e instanceof Deno.errors.NotADirectory) return;
      throw e;
    }
    this.checkInside(real, await this.resolvedRoot(), name);
  }

  /** Throws unless `real` (a resolved path of object `name`) is inside the resolved root. */
  private checkInside(real: string, root: string | undefined, name: string): void {
    if (root === undefined || !this.inside(real, root)) {
      throw new ObjectOutsideRootError(this.name, name);
    }
  }

  /**
   * {@link confine} for a file opened at `p` (`st` its stat), without leaving the thread (see
   * getRange). Resolving the path is the dearest call of a range read (one readlink per path
   * component, and as many again for the sandbox's check of the resolved path: 33 µs of the
   * store gateway's CPU per instant query); so a file found inside the root is remembered by
   * its device and inode, and a later open of the same path that yields the same file skips the
   * resolution (issue 19). A path swapped for a symlink, or for another file, opens another
   * inode and is resolved again.
   */
  private confineOpened(p: string, name: string, st: Deno.FileInfo): void {
    const id = st.ino === null ? undefined : `${st.dev}:${st.ino}`;
    if (id !== undefined && this.insideFiles.get(p) === id) return;
    let real: string;
    try {
      real = Deno.realPathSync(p);
    } catch (e) {
      // removed or replaced since it was opened: as if it had not been there
      if (isNotFound(e) || e instanceof Deno.errors.NotADirectory) {
        throw new ObjectNotFoundError(this.name, name);
      }
      throw e;
    }
    if (this.realRoot === undefined) this.realRoot = Deno.realPathSync(this.root);
    this.checkInside(real, this.realRoot, name);
    if (id === undefined) return;
    // remembered only when the resolved file is the one opened (not swapped in between)
    const rs = Deno.statSync(real);
    if (`${rs.dev}:${rs.ino}` !== id) return;
    if (this.insideFiles.size >= MAX_INSIDE_FILES) this.insideFiles.clear();
    this.insideFiles.set(p, id);
  }

  private path(name: string): string {
    checkObjectName(name);
    if (name.startsWith("/")) throw new InvalidObjectNameError(name, "must not start with /");
    if (name.includes("\0")) throw new InvalidObjectNameError(name, "contains a NUL byte");
    for (const seg of name.split("/")) {
      if (seg === "..") throw new InvalidObjectNameError(name, "must not contain '..'");
    }
    return joinPath(this.root, name);
  }

  async get(name: string, signal?: AbortSignal): Promise<Uint8Array> {
    const p = this.path(name);
    abortIf(signal);
    await this.confine(p, name);
    try {
      return await Deno.readFile(p, { signal });
    } catch (e) {
      if (isNotFound(e) || isDirError(e)) throw new ObjectNotFoundError(this.name, name);
      throw e;
    }
  }

  /**
   * A range of an object, read with synchronous calls: the store gateway reads many small
   * ranges per query (postings, series, chunks), and each asynchronous file call (resolve,
   * open, stat, seek, read, close) is a hop to Deno's blocking thread pool and back — six per
   * range, which cost more than the reads themselves from the page cache and add a thread
   * wake-up each on a loaded machine (issue 19). A local filesystem answers these in
   * microseconds; an object store, not a filesystem, is what a slow remote bucket should be.
   * Reads longer than {@link SYNC_READ_MAX} (or to the end) stay asynchronous, but the file is
   * opened and checked as here (a kept file, no path resolution): resolving and opening it
   * with asynchronous calls took a dozen readlinks and four hops per range (issue 19).
   */
  getRange(
    name: string,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    // big reads (whole files, large chunk ranges) stay off the thread
    if (length < 0 || length > SYNC_READ_MAX) {
      return this.readRangeAsync(name, offset, length, signal);
    }
    try {
      return Promise.resolve(this.readRangeSync(name, offset, length, signal));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** {@link getRange} when it reads on this thread (up to {@link SYNC_READ_MAX}), else null. */
  getRangeNow(name: string, offset: number, length: number): Uint8Array | null {
    if (length < 0 || length > SYNC_READ_MAX) return null;
    return this.readRangeSync(name, offset, length);
  }

  /** {@link streamRange} when it reads on this thread (up to {@link SYNC_STREAM_MAX}), else null. */
  streamRangeNow(
    name: string,
    offset: number,
    length: number,
    sink: RangePieceSink,
  ): number | null {
    if (length < 0 || length > SYNC_STREAM_MAX) return null;
    return this.streamRangeSync(name, offset, length, sink);
  }

  private readRangeSync(
    name: string,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ): Uint8Array {
    const { rf, n } = this.openRangeSync(name, offset, length, signal);
    try {
      const out = new Uint8Array(n);
      if (n === 0) return out;
      const f = rf.file;
      f.seekSync(offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < n) {
        const r = f.readSync(out.subarray(got));
        if (r === null) break;
        got += r;
      }
      return got === n ? out : out.subarray(0, got);
    } finally {
      this.release(rf);
    }
  }

  /**
   * The object's file opened for a range read, checked (a file, inside the root) without
   * leaving the thread, and the range's length clamped to the file (`n`). The caller hands `rf`
   * back to {@link release}.
   *
   * Files stay open between reads (up to {@link MAX_OPEN_FILES}, least recently used closed
   * first): opening one (and its fstat, which the sandbox checks by resolving the file's path
   * with a readlink per component) was most of a small read's cost (issue 19). A kept file is
   * used only while an lstat of the path (a third of an fstat's cost in the sandbox) finds the
   * same device and inode: an object deleted or replaced (an upload renames a new file over
   * it), or a path swapped for a symlink, is opened and checked anew, so a replaced object reads
   * its new bytes and a link out of the root is refused. An inode cannot be reused while the
   * kept file holds it open. An asynchronous read holds `rf` (busy) across its awaits: reads
   * meanwhile open files of their own.
   */
  private openRangeSync(
    name: string,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ): { rf: RangeFile; n: number } {
    if (offset < 0) throw new RangeError(`getRange ${name}: negative offset ${offset}`);
    abortIf(signal);
    // kept by object name: a kept name was checked when its file was opened
    const kept = this.openFiles.peek(name);
    if (kept !== undefined && !kept.busy) {
      let st: Deno.FileInfo | undefined;
      try {
        st = Deno.lstatSync(kept.path);
      } catch {
        st = undefined; // gone or unreadable: opened anew below (and failing there)
      }
      if (st !== undefined && st.isFile && st.ino === kept.ino && st.dev === kept.dev) {
        this.openFiles.get(name); // now the most recently used
        kept.busy = true;
        kept.used = true;
        return { rf: kept, n: rangeLength(st.size, offset, length) };
      }
      this.dropOpenFile(name, kept);
    }
    const p = this.path(name);
    let f: Deno.FsFile;
    try {
      f = this.openFile(p);
    } catch (e) {
      if (isNotFound(e) || e instanceof Deno.errors.NotADirectory) {
        throw new ObjectNotFoundError(this.name, name);
      }
      throw e;
    }
    let st: Deno.FileInfo;
    try {
      st = f.statSync();
      if (!st.isFile) throw new ObjectNotFoundError(this.name, name);
      this.confineOpened(p, name, st);
    } catch (e) {
      f.close();
      throw e;
    }
    // a nested read of a kept file (busy) reads through a file of its own, closed after it
    const keep = kept?.busy !== true && st.ino !== null && !this.closed;
    const rf: RangeFile = {
      file: f,
      path: p,
      dev: st.dev,
      ino: st.ino ?? 0,
      kept: keep,
      busy: true,
      used: true,
    };
    if (keep) this.keepOpenFile(name, rf);
    return { rf, n: rangeLength(st.size, offset, length) };
  }

  /** The LRU of kept files, bounded by `max`. */
  private keptFiles(max: number): CountLru<string, RangeFile> {
    return new CountLru<string, RangeFile>(max, (name, rf) => this.dropOpenFile(name, rf));
  }

  /**
   * Opens `p` for reading. When the process is out of file descriptors (EMFILE) and files are
   * kept open, they are closed (those in use once their reads end), the bound is halved, and the
   * open is tried once more: kept files must never starve the process's other files and sockets.
   */
  private openFile(p: string): Deno.FsFile {
    try {
      return Deno.openSync(p, { read: true });
    } catch (e) {
      if ((e as { code?: string }).code !== "EMFILE" || this.openFiles.size === 0) throw e;
      const max = Math.max(MIN_OPEN_FILES, Math.min(this.openFiles.max, this.openFiles.size) >> 1);
      this.dropOpenFiles();
      this.openFiles = this.keptFiles(max);
      return Deno.openSync(p, { read: true });
    }
  }

  /** Ends a read's use of `rf` (from openRangeSync): a file not kept is closed. */
  private release(rf: RangeFile): void {
    rf.busy = false;
    if (!rf.kept) rf.file.close();
  }

  private keepOpenFile(name: string, rf: RangeFile): void {
    this.openFiles.set(name, rf); // the least recently used beyond the bound is dropped
    if (this.sweepTimer === undefined) {
      this.sweepTimer = setInterval(() => this.sweepOpenFiles(), OPEN_FILES_SWEEP_MS);
      Deno.unrefTimer(this.sweepTimer);
    }
  }

  /** Stops keeping any file open (each closed now, or by its read's release when busy). */
  private dropOpenFiles(): void {
    for (const [name, rf] of this.openFiles.entries()) this.dropOpenFile(name, rf);
  }

  /** Files kept open for range reads at most (lowered when the process ran out of them). */
  get maxOpenFiles(): number {
    return this.openFiles.max;
  }

  /** Stops keeping `rf` open (closed now, or by its read's release when busy). */
  private dropOpenFile(name: string, rf: RangeFile): void {
    if (this.openFiles.peek(name) === rf) this.openFiles.delete(name);
    rf.kept = false;
    if (!rf.busy) rf.file.close();
    if (this.openFiles.size === 0 && this.sweepTimer !== undefined) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
  }

  /**
   * Closes the kept files not read since the last sweep and those whose object is gone (an
   * open file holds a deleted file's disk space: a compacted-away block must not stay pinned).
   * Runs every {@link OPEN_FILES_SWEEP_MS}; returns how many files it closed.
   */
  sweepOpenFiles(): number {
    let closed = 0;
    for (const [name, rf] of this.openFiles.entries()) {
      let gone = !rf.used;
      if (!gone) {
        try {
          gone = rf.file.statSync().nlink === 0;
        } catch {
          gone = true;
        }
      }
      rf.used = false;
      if (gone) {
        this.dropOpenFile(name, rf);
        closed++;
      }
    }
    return closed;
  }

  /**
   * A range handed to `sink` in pieces of at most {@link STREAM_PIECE} bytes, read into one
   * buffer the bucket keeps (synchronously up to {@link SYNC_STREAM_MAX}; longer ranges
   * asynchronously, into the same buffer unless a read holds it): the store gateway's merged chunk ranges are mostly
   * gaps between the chunks it keeps, and a fresh array for each whole range cost more than
   * reading it (issue 19).
   */
  streamRange(
    name: string,
    offset: number,
    length: number,
    sink: RangePieceSink,
    signal?: AbortSignal,
  ): Promise<number> {
    if (length < 0 || length > SYNC_STREAM_MAX) {
      return this.streamRangeAsync(name, offset, length, sink, signal);
    }
    try {
      return Promise.resolve(this.streamRangeSync(name, offset, length, sink, signal));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private streamRangeSync(
    name: string,
    offset: number,
    length: number,
    sink: RangePieceSink,
    signal?: AbortSignal,
  ): number {
    const { rf, n } = this.openRangeSync(name, offset, length, signal);
    if (n === 0) {
      this.release(rf);
      return 0;
    }
    const f = rf.file;
    // a sink that reads this bucket again before returning gets a buffer of its own
    const own = !this.pieceBufBusy;
    const buf = own
      ? (this.pieceBuf ??= new Uint8Array(STREAM_PIECE))
      : new Uint8Array(Math.min(n, STREAM_PIECE));
    if (own) this.pieceBufBusy = true;
    try {
      f.seekSync(offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < n) {
        const r = f.readSync(buf.subarray(0, Math.min(buf.length, n - got)));
        if (r === null) break;
        got += r;
        sink(buf.subarray(0, r));
      }
      return got;
    } finally {
      if (own) this.pieceBufBusy = false;
      this.release(rf);
    }
  }

  private async streamRangeAsync(
    name: string,
    offset: number,
    length: number,
    sink: RangePieceSink,
    signal?: AbortSignal,
  ): Promise<number> {
    const { rf, n } = this.openRangeSync(name, offset, length, signal);
    // the bucket's piece buffer, as the synchronous path (a read meanwhile gets one of its
    // own): pieces that stay in the CPU's cache while the sink cuts them cost less than larger
    // reads with fewer hops (1 MiB pieces took 5 % more of the store gateway's CPU per query)
    const own = n > 0 && !this.pieceBufBusy;
    try {
      if (n === 0) return 0;
      const f = rf.file;
      const buf = own
        ? (this.pieceBuf ??= new Uint8Array(STREAM_PIECE))
        : new Uint8Array(Math.min(n, STREAM_PIECE));
      if (own) this.pieceBufBusy = true;
      // the seek is a cheap call: only the reads go to the blocking pool
      f.seekSync(offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < n) {
        abortIf(signal);
        const r = await f.read(buf.subarray(0, Math.min(buf.length, n - got)));
        if (r === null) break;
        got += r;
        sink(buf.subarray(0, r));
      }
      return got;
    } finally {
      if (own) this.pieceBufBusy = false;
      this.release(rf);
    }
  }

  private async readRangeAsync(
    name: string,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const { rf, n } = this.openRangeSync(name, offset, length, signal);
    try {
      const out = new Uint8Array(n);
      if (n === 0) return out;
      const f = rf.file;
      f.seekSync(offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < n) {
        const r = await f.read(out.subarray(got));
        if (r === null) break;
        got += r;
      }
      return got === n ? out : out.subarray(0, got);
    } finally {
      this.release(rf);
    }
  }

  // The object's path, with its directory created (the atomic write needs the parent).
  private async prepare(name: string, signal?: AbortSignal): Promise<string> {
    const p = this.path(name);
    abortIf(signal);
    // a symlinked directory on the way must not lead the write (or mkdir) outside the root
    await this.confineDir(dirname(p), name);
    await Deno.mkdir(dirname(p), { recursive: true });
    await this.confine(dirname(p), name);
    return p;
  }

  async upload(
    name: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<void> {
    const p = await this.prepare(name, signal);
    await writeFileAtomic(p, data, { signal, tmpMarker: TMP_MARKER });
  }

  async uploadFile(name: string, path: string, signal?: AbortSignal): Promise<void> {
    const p = await this.prepare(name, signal);
    // copyFile writes into the open temporary file's inode, so its fsync covers the copy
    await writeFileAtomicWith(p, (_f, tmp) => Deno.copyFile(path, tmp), {
      signal,
      tmpMarker: TMP_MARKER,
    });
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    const p = this.path(name);
    abortIf(signal);
    await this.confine(p, name);
    const kept = this.openFiles.peek(name);
    if (kept !== undefined) this.dropOpenFile(name, kept);
    try {
      const st = await Deno.stat(p);
      if (!st.isFile) throw new ObjectNotFoundError(this.name, name);
      await Deno.remove(p);
    } catch (e) {
      if (isNotFound(e)) throw new ObjectNotFoundError(this.name, name);
      throw e;
    }
    // Like Thanos: remove parent directories left empty, so listings do not show them.
    let d = dirname(p);
    while (d.length > this.root.length && d.startsWith(this.root)) {
      try {
        await Deno.remove(d);
      } catch {
        break; // not empty (or gone): stop climbing
      }
      d = dirname(d);
    }
  }

  async exists(name: string, signal?: AbortSignal): Promise<boolean> {
    const p = this.path(name);
    abortIf(signal);
    try {
      await this.confine(p, name);
    } catch (e) {
      if (e instanceof ObjectOutsideRootError) return false;
      throw e;
    }
    try {
      return (await Deno.stat(p)).isFile;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async attributes(name: string, signal?: AbortSignal): Promise<ObjectAttributes> {
    const p = this.path(name);
    abortIf(signal);
    await this.confine(p, name);
    try {
      const st = await Deno.stat(p);
      if (!st.isFile) throw new ObjectNotFoundError(this.name, name);
      return { size: st.size, lastModified: st.mtime ?? new Date(0) };
    } catch (e) {
      if (isNotFound(e)) throw new ObjectNotFoundError(this.name, name);
      throw e;
    }
  }

  async *iter(dir: string, opts?: IterOptions): AsyncIterable<string> {
    const d = dir.replace(/\/+$/, "");
    if (d.startsWith("/") || d.split("/").includes("..")) {
      throw new InvalidObjectNameError(dir, "directory must be relative and must not contain '..'");
    }
    yield* this.walk(d === "" ? "" : d + "/", opts?.recursive ?? false, opts?.signal);
  }

  private async *walk(
    prefix: string,
    recursive: boolean,
    signal?: AbortSignal,
  ): AsyncIterable<string> {
    abortIf(signal);
    const abs = prefix === "" ? this.root : joinPath(this.root, prefix.slice(0, -1));
    // a directory reached through a symlink that leads outside the root lists nothing
    if (prefix !== "" && !(await this.resolvesInside(abs))) return;
    const entries: { name: string; dir: boolean }[] = [];
    try {
      for await (const e of Deno.readDir(abs)) {
        if (e.name.includes(TMP_MARKER)) continue;
        let isDir = e.isDirectory;
        if (e.isSymlink) {
          // listed only when its target is inside the root
          if (!(await this.resolvesInside(joinPath(abs, e.name)))) continue;
          const st = await Deno.stat(joinPath(abs, e.name)).catch(() => null);
          if (st === null) continue;
          isDir = st.isDirectory;
        }
        entries.push({ name: e.name, dir: isDir });
      }
    } catch (e) {
      if (isNotFound(e) || e instanceof Deno.errors.NotADirectory) return;
      throw e;
    }
    // Sort like object stores do: directories compare as "name/".
    const keyOf = (e: { name: string; dir: boolean }) => e.dir ? e.name + "/" : e.name;
    entries.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
    for (const e of entries) {
      if (e.dir) {
        if (recursive) {
          yield* this.walk(prefix + e.name + "/", true, signal);
        } else if (!(await this.isEmptyDir(joinPath(abs, e.name)))) {
          yield prefix + e.name + "/";
        }
      } else {
        yield prefix + e.name;
      }
    }
  }

  /** True when the existing path `p` resolves inside the root. */
  private async resolvesInside(p: string): Promise<boolean> {
    const root = await this.resolvedRoot();
    if (root === undefined) return false;
    try {
      return this.inside(await Deno.realPath(p), root);
    } catch {
      return false;
    }
  }

  /** Checks the deepest existing ancestor of directory `d` resolves inside the root. */
  private async confineDir(d: string, name: string): Promise<void> {
    let cur = d;
    for (let i = 0; i < 4096 && cur.length >= this.root.length; i++) {
      try {
        await Deno.lstat(cur);
      } catch (e) {
        if (isNotFound(e)) {
          cur = dirname(cur);
          continue;
        }
        throw e;
      }
      if (cur.length < this.root.length) return;
      await this.confine(cur, name);
      return;
    }
  }

  private async isEmptyDir(p: string): Promise<boolean> {
    try {
      for await (const e of Deno.readDir(p)) {
        if (!e.name.includes(TMP_MARKER)) return false;
      }
    } catch (e) {
      if (isNotFound(e)) return true;
      throw e;
    }
    return true;
  }

  /** Closes the files kept open for range reads; later reads open and close their own. */
  close(): Promise<void> {
    this.closed = true;
    this.dropOpenFiles();
    return Promise.resolve();
  }
}

/** A range's length within a file of `size` bytes (`length` -1: to the end). */
function rangeLength(size: number, offset: number, length: number): number {
  const end = length < 0 ? size : Math.min(size, offset + length);
  return Math.max(0, end - offset);
}
