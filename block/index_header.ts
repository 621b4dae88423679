// The store gateway's index-header (our own format, docs/format/index-header-ranges.md; it plays
// the role of Thanos's https://thanos.io/tip/operating/binary-index-header.md/ but is not
// compatible with it): the parts of a block's index that find symbols and postings (header, TOC,
// symbol table, postings offset table) are downloaded once with range reads and kept in
// `<data-dir>/<ULID>/index-header.ranges`, so a restart opens the block without reading its index
// again. Everything else (postings lists, series) is read from the bucket on demand.
//
// File layout (all integers big-endian):
//   magic 0x54534948 ("TSIH") 4 B | version 1 (1 B) | 3 zero bytes
//   size of the bucket's index object (8 B) | range count n (4 B)
//   n × { offset in the index (8 B), length (8 B) }
//   CRC32-Castagnoli of everything above (4 B)
//   the bytes of the n ranges, concatenated in order
// The IndexReader CRC-checks the symbol and postings offset tables again when it opens, so a
// damaged file is noticed and rebuilt.

import { crc32c } from "../tsdb/crc32c.ts";
import { Decbuf, Encbuf } from "../tsdb/encoding.ts";
import { CorruptionError } from "../tsdb/errors.ts";
import { type ByteSource, FileByteSource, MemoryByteSource } from "../tsdb/bytesource.ts";
import { IndexReader } from "../tsdb/index/reader.ts";
import { writeFileAtomicWith } from "../runutil/atomic_file.ts";

/** Magic of an index-header ranges file. */
export const INDEX_HEADER_MAGIC = 0x54534948;
/** Name of the file inside `<data-dir>/<ULID>/`. */
export const INDEX_HEADER_FILE = "index-header.ranges";

const FIXED_HEADER = 20;

/** One range of the index object kept locally. */
export interface HeaderRange {
  /** Offset in the index object. */
  offset: number;
  length: number;
}

/**
 * A ByteSource over a block's index that serves reads inside the locally kept ranges from
 * `local` and every other read from `remote` (the bucket object).
 */
export class IndexHeaderSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  /** Start of each range's bytes in `local`. */
  private readonly localAt: number[];

  constructor(
    private readonly ranges: readonly HeaderRange[],
    private readonly local: ByteSource,
    /** Where the first range's bytes start in `local`. */
    dataStart: number,
    private readonly remote: ByteSource,
  ) {
    this.name = remote.name;
    this.size = remote.size;
    this.localAt = [];
    let at = dataStart;
    for (const r of ranges) {
      this.localAt.push(at);
      at += r.length;
    }
  }

  /** Bytes held locally. */
  get localBytes(): number {
    let n = 0;
    for (const r of this.ranges) n += r.length;
    return n;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(this.size, offset + length);
    // few ranges (4): a linear scan is fine
    for (let i = 0; i < this.ranges.length; i++) {
      const r = this.ranges[i];
      if (offset >= r.offset && end <= r.offset + r.length) {
        return this.local.read(this.localAt[i] + offset - r.offset, end - offset);
      }
    }
    return this.remote.read(offset, length);
  }

  async close(): Promise<void> {
    await this.local.close?.();
    await this.remote.close?.();
  }
}

/** Records the ranges read through it (used while the header is built from the bucket). */
class RecordingSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  readonly reads: { offset: number; bytes: Uint8Array }[] = [];
  constructor(private readonly inner: ByteSource) {
    this.name = inner.name;
    this.size = inner.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const b = await this.inner.read(offset, length);
    this.reads.push({ offset, bytes: b });
    return b;
  }
}

/** Merges recorded reads into sorted, non-overlapping ranges with their bytes. */
function mergeReads(
  reads: readonly { offset: number; bytes: Uint8Array }[],
): { range: HeaderRange; bytes: Uint8Array }[] {
  const sorted = reads.filter((r) => r.bytes.length > 0).sort((a, b) => a.offset - b.offset);
  const out: { range: HeaderRange; parts: { offset: number; bytes: Uint8Array }[] }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.offset <= last.range.offset + last.range.length) {
      const end = Math.max(last.range.offset + last.range.length, r.offset + r.bytes.length);
      last.range.length = end - last.range.offset;
      last.parts.push(r);
    } else {
      out.push({ range: { offset: r.offset, length: r.bytes.length }, parts: [r] });
    }
  }
  return out.map(({ range, parts }) => {
    const bytes = new Uint8Array(range.length);
    for (const p of parts) bytes.set(p.bytes, p.offset - range.offset);
    return { range, bytes };
  });
}

/**
 * The recorded reads as sorted, non-overlapping ranges, each with the pieces of the reads that
 * hold its bytes (views, in order, no overlap): what {@link mergeReads} copies into one buffer,
 * without the copy.
 */
function rangePieces(
  reads: readonly { offset: number; bytes: Uint8Array }[],
): { ranges: HeaderRange[]; pieces: Uint8Array[] } {
  const sorted = reads.filter((r) => r.bytes.length > 0).sort((a, b) => a.offset - b.offset);
  const ranges: HeaderRange[] = [];
  const pieces: Uint8Array[] = [];
  for (const r of sorted) {
    const last = ranges[ranges.length - 1];
    const end = last ? last.offset + last.length : -1;
    const rEnd = r.offset + r.bytes.length;
    if (last && r.offset <= end) {
      // the bytes past the range's end (the overlap holds the same bytes of the same object)
      if (rEnd > end) {
        pieces.push(r.bytes.subarray(end - r.offset));
        last.length = rEnd - last.offset;
      }
    } else {
      ranges.push({ offset: r.offset, length: r.bytes.length });
      pieces.push(r.bytes);
    }
  }
  return { ranges, pieces };
}

/** The fixed part of a header file (magic, sizes, range table, CRC) for `ranges`. */
function encodeHeaderHead(indexSize: number, ranges: readonly HeaderRange[]): Uint8Array {
  const e = new Encbuf(FIXED_HEADER + 16 * ranges.length + 4);
  e.putBE32(INDEX_HEADER_MAGIC);
  e.putByte(1);
  e.putByte(0);
  e.putByte(0);
  e.putByte(0);
  e.putBE64(indexSize);
  e.putBE32(ranges.length);
  for (const r of ranges) {
    e.putBE64(r.offset);
    e.putBE64(r.length);
  }
  const head = e.bytes();
  const out = new Uint8Array(head.length + 4);
  out.set(head, 0);
  new DataView(out.buffer).setUint32(head.length, crc32c(head));
  return out;
}

/** Encodes the header file for `ranges` of an index object of `indexSize` bytes. */
export function encodeIndexHeader(
  indexSize: number,
  ranges: readonly { range: HeaderRange; bytes: Uint8Array }[],
): Uint8Array {
  const head = encodeHeaderHead(indexSize, ranges.map((r) => r.range));
  let total = head.length;
  for (const r of ranges) total += r.bytes.length;
  const out = new Uint8Array(total);
  out.set(head, 0);
  let at = head.length;
  for (const r of ranges) {
    out.set(r.bytes, at);
    at += r.bytes.length;
  }
  return out;
}

/**
 * Decodes the fixed part of a header file (`head` = its first bytes, at least the range
 * table). Returns the index size, the ranges and where their bytes start. Throws
 * {@link CorruptionError} naming `file`.
 */
export function decodeIndexHeader(
  head: Uint8Array,
  file: string,
  fileSize: number,
): { indexSize: number; ranges: HeaderRange[]; dataStart: number } {
  if (head.length < FIXED_HEADER + 4) {
    throw new CorruptionError(file, 0, `index-header of ${head.length} bytes is truncated`);
  }
  const d = new Decbuf(head, file, 0);
  const magic = d.be32();
  if (magic !== INDEX_HEADER_MAGIC) {
    throw new CorruptionError(file, 0, `bad index-header magic 0x${magic.toString(16)}`);
  }
  const version = d.byte();
  if (version !== 1) throw new CorruptionError(file, 4, `unknown index-header version ${version}`);
  d.skip(3);
  const indexSize = d.be64();
  const n = d.be32();
  const tableEnd = FIXED_HEADER + 16 * n;
  if (head.length < tableEnd + 4) {
    throw new CorruptionError(file, FIXED_HEADER, `range table of ${n} entries is truncated`);
  }
  const ranges: HeaderRange[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const offset = d.be64();
    const length = d.be64();
    if (offset + length > indexSize) {
      throw new CorruptionError(file, FIXED_HEADER + 16 * i, "range lies outside the index");
    }
    ranges.push({ offset, length });
    total += length;
  }
  const want = d.be32();
  const got = crc32c(head, 0, tableEnd);
  if (want !== got) {
    throw new CorruptionError(file, tableEnd, "index-header checksum mismatch");
  }
  const dataStart = tableEnd + 4;
  if (dataStart + total !== fileSize) {
    throw new CorruptionError(
      file,
      dataStart,
      `index-header is ${fileSize} bytes, want ${dataStart + total}`,
    );
  }
  return { indexSize, ranges, dataStart };
}

/** How an index-header was obtained. */
export type IndexHeaderOrigin = "disk" | "built";

/** An opened index through its header. */
export interface OpenedIndexHeader {
  index: IndexReader;
  source: IndexHeaderSource;
  origin: IndexHeaderOrigin;
}

/** Options of {@link openIndexHeader}. */
export interface OpenIndexHeaderOptions {
  /**
   * Directory of this block's local files (`<data-dir>/<ULID>`); when absent the header is kept
   * in memory only (`--cache-index-header=false`).
   */
  blockDir?: string;
  /** Called when a local header is unusable and gets rebuilt. */
  onRebuild?: (file: string, err: Error) => void;
}

async function openFromFile(path: string, remote: ByteSource): Promise<OpenedIndexHeader> {
  const file = await FileByteSource.open(path);
  try {
    const probe = await file.read(0, Math.min(file.size, 64 * 1024));
    let parsed;
    try {
      parsed = decodeIndexHeader(probe, path, file.size);
    } catch (e) {
      // a range table larger than the probe: read exactly
      if (!(e instanceof CorruptionError) || file.size <= probe.length) throw e;
      parsed = decodeIndexHeader(await file.read(0, file.size), path, file.size);
    }
    if (parsed.indexSize !== remote.size) {
      throw new CorruptionError(
        path,
        8,
        `index-header is for an index of ${parsed.indexSize} bytes, the bucket has ${remote.size}`,
      );
    }
    const source = new IndexHeaderSource(parsed.ranges, file, parsed.dataStart, remote);
    const index = await IndexReader.open(source, { keepPostingsTable: false });
    return { index, source, origin: "disk" };
  } catch (e) {
    file.close();
    throw e;
  }
}

/**
 * Opens a block's index through its index-header: from `<blockDir>/index-header.ranges` when
 * present and valid, otherwise built by range-reading the index object `remote` (and written
 * there for the next start). Throws CorruptionError when the bucket's index is damaged.
 */
export async function openIndexHeader(
  remote: ByteSource,
  opts: OpenIndexHeaderOptions = {},
): Promise<OpenedIndexHeader> {
  const path = opts.blockDir ? `${opts.blockDir}/${INDEX_HEADER_FILE}` : undefined;
  if (path) {
    try {
      return await openFromFile(path, remote);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        opts.onRebuild?.(path, e as Error);
        await Deno.remove(path).catch(() => undefined);
      }
    }
  }
  if (path) {
    await buildHeaderFile(remote, opts.blockDir!, path);
    // reopened over the file, so the tables the build read are not held twice
    return { ...(await openFromFile(path, remote)), origin: "built" };
  }
  const rec = new RecordingSource(remote);
  // Opening reads exactly the header, TOC, symbol table and postings offset table.
  const probe = await IndexReader.open(rec, { keepPostingsTable: false });
  const bytes = encodeIndexHeader(remote.size, mergeReads(rec.reads));
  await probe.close();
  const mem = new MemoryByteSource(bytes, "<index-header>");
  const parsed = decodeIndexHeader(bytes, "<index-header>", bytes.length);
  const source = new IndexHeaderSource(parsed.ranges, mem, parsed.dataStart, remote);
  const index = await IndexReader.open(source, { keepPostingsTable: false });
  return { index, source, origin: "built" };
}

/** Builds `<blockDir>/index-header.ranges` by range-reading the index object `remote`. */
async function buildHeaderFile(remote: ByteSource, blockDir: string, path: string): Promise<void> {
  const rec = new RecordingSource(remote);
  // Opening reads exactly the header, TOC, symbol table and postings offset table.
  const probe = await IndexReader.open(rec, { keepPostingsTable: false });
  // written piece by piece from the reads: no merged or encoded copy of a header that is tens
  // of MiB for a block of millions of series
  const { ranges, pieces } = rangePieces(rec.reads);
  await Deno.mkdir(blockDir, { recursive: true });
  await writeFileAtomicWith(path, async (f) => {
    for (const b of [encodeHeaderHead(remote.size, ranges), ...pieces]) {
      for (let off = 0; off < b.length;) off += await f.write(b.subarray(off));
    }
  });
  rec.reads.length = 0;
  await probe.close();
}

/**
 * Makes sure `<blockDir>/index-header.ranges` exists, building it from the bucket when it does
 * not, without opening it: the lazy reader's eager download strategy (Thanos's
 * NewLazyBinaryReader checks only that the file exists; a damaged one is rebuilt at open).
 * Returns "disk" when the file was there, "built" when it was written now.
 */
export async function ensureIndexHeaderFile(
  remote: ByteSource,
  blockDir: string,
): Promise<IndexHeaderOrigin> {
  const path = `${blockDir}/${INDEX_HEADER_FILE}`;
  try {
    await Deno.stat(path);
    return "disk";
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await buildHeaderFile(remote, blockDir, path);
  return "built";
}
