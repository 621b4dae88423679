// Chunk segment files of a block (`<block>/chunks/000001`…,
// https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/docs/format/chunks.md): writer
// with Prometheus's segment cutting (`Writer` in
// https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/chunks/chunks.go), and a reader by
// chunk reference over ByteSources so the same code serves local files and bucket objects.

import { type ByteSource, FileByteSource } from "../bytesource.ts";
import { crc32c, crc32cFinish, crc32cUpdate } from "../crc32c.ts";
import { CorruptionError, InvalidInputError, MissingFileError } from "../errors.ts";

/** Magic number at the start of every chunk segment file. */
export const MAGIC_CHUNKS = 0x85bd40dd;
/** Size of the segment header: magic, version byte, 3 padding bytes. */
export const SEGMENT_HEADER_SIZE = 8;
/** Default maximum segment file size (512 MiB). */
export const DEFAULT_MAX_SEGMENT_SIZE = 512 * 1024 * 1024;
/** Bytes Prometheus assumes for a record's length field when deciding to cut a segment. */
const MAX_LENGTH_FIELD_SIZE = 5;
/** Size of a record without its data: the encoding byte and the CRC. */
const RECORD_OVERHEAD = 1 + 4;
const TWO32 = 4294967296;
/** Flush the write buffer once it holds this much. */
const WRITE_BUFFER_SIZE = 1 << 20;
const HEADER = new Uint8Array([0x85, 0xbd, 0x40, 0xdd, 0x01, 0x00, 0x00, 0x00]);

/** File name of the 1-based segment `seq` (six digits). */
export function segmentFileName(seq: number): string {
  return String(seq).padStart(6, "0");
}

/** Packs a segment index (0-based position in the sorted file list) and offset into a ref. */
export function chunkRef(segmentIndex: number, offset: number): number {
  return segmentIndex * TWO32 + offset;
}

/** Splits a chunk ref into its 0-based segment index and byte offset. */
export function unpackChunkRef(ref: number): { segment: number; offset: number } {
  const segment = Math.floor(ref / TWO32);
  return { segment, offset: ref - segment * TWO32 };
}

/** A chunk to write: the encoding byte and the payload. */
export interface ChunkToWrite {
  encoding: number;
  data: Uint8Array;
}

/** Options of {@link ChunkSegmentWriter.create}. */
export interface ChunkSegmentWriterOptions {
  /** Maximum size of a segment file in bytes (default 512 MiB). */
  maxSegmentSize?: number;
}

function uvarintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/**
 * Writes chunk records into numbered segment files, cutting a new file before a chunk would
 * exceed the maximum size (a chunk is never split). The first file is created with the first
 * chunk, as Prometheus does, so a block without chunks has an empty `chunks/` directory.
 */
export class ChunkSegmentWriter {
  private file: Deno.FsFile | null = null;
  /** Bytes in the current segment file, including buffered ones. */
  private n = 0;
  /** Number of segment files opened by this writer. */
  private segments = 0;
  private buf = new Uint8Array(WRITE_BUFFER_SIZE);
  private bufLen = 0;
  private closed = false;

  private constructor(
    /** Directory the segment files are written to. */
    readonly dir: string,
    private readonly maxSegmentSize: number,
    /** Sequence number of the first file this writer creates. */
    private readonly firstSeq: number,
  ) {}

  /**
   * Creates `chunksDir` (with parents) and returns a writer that starts after the highest
   * numbered segment already there. Throws InvalidInputError on a bad max size.
   */
  static async create(
    chunksDir: string,
    opts: ChunkSegmentWriterOptions = {},
  ): Promise<ChunkSegmentWriter> {
    const max = opts.maxSegmentSize ?? DEFAULT_MAX_SEGMENT_SIZE;
    if (!Number.isSafeInteger(max) || max <= SEGMENT_HEADER_SIZE || max > TWO32) {
      throw new InvalidInputError(
        `chunk segment size ${max} must be an integer in (${SEGMENT_HEADER_SIZE}, 2^32]`,
      );
    }
    await Deno.mkdir(chunksDir, { recursive: true });
    let last = 0;
    for await (const e of Deno.readDir(chunksDir)) {
      if (e.isFile && /^\d+$/.test(e.name)) last = Math.max(last, Number(e.name));
    }
    return new ChunkSegmentWriter(chunksDir, max, last + 1);
  }

  /** Writes one chunk record and returns its ref (`segmentIndex * 2^32 + offset`). */
  async writeChunk(encoding: number, data: Uint8Array): Promise<number> {
    const refs = await this.writeChunks([{ encoding, data }]);
    return refs[0];
  }

  /**
   * Writes the chunks of one series, returning their refs. Segment cutting follows
   * Prometheus's `WriteChunks` batch rule (sizes estimated with a 5-byte length field), so
   * a block written series by series gets Prometheus's file boundaries.
   */
  async writeChunks(chunks: readonly ChunkToWrite[]): Promise<number[]> {
    if (this.closed) throw new InvalidInputError(`chunk writer for ${this.dir} is closed`);
    // Split into batches exactly as Prometheus does.
    const cutBefore: boolean[] = new Array(chunks.length).fill(false);
    let batchSize = 0;
    let firstBatch = true;
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i];
      if (!(c.encoding >= 0 && c.encoding <= 255 && Number.isInteger(c.encoding))) {
        throw new InvalidInputError(`chunk encoding ${c.encoding} is not a byte`);
      }
      const size = MAX_LENGTH_FIELD_SIZE + RECORD_OVERHEAD + c.data.length;
      batchSize += size;
      let cut = i !== 0 && batchSize + SEGMENT_HEADER_SIZE > this.maxSegmentSize;
      if (firstBatch && this.n > SEGMENT_HEADER_SIZE) {
        cut = batchSize + this.n > this.maxSegmentSize;
        if (cut) firstBatch = false;
      }
      if (cut) {
        cutBefore[i] = true;
        batchSize = size;
      }
    }
    if (this.n === 0 && chunks.length > 0) await this.cut();
    const refs: number[] = new Array(chunks.length);
    for (let i = 0; i < chunks.length; i++) {
      if (cutBefore[i]) await this.cut();
      refs[i] = await this.writeRecord(chunks[i]);
    }
    return refs;
  }

  private async writeRecord(c: ChunkToWrite): Promise<number> {
    const len = c.data.length;
    const size = uvarintSize(len) + RECORD_OVERHEAD + len;
    const ref = chunkRef(this.segments - 1, this.n);
    if (this.n + size > TWO32) {
      throw new InvalidInputError(
        `chunk of ${len} bytes does not fit in a segment: offsets must stay below 2^32`,
      );
    }
    if (this.bufLen + size > this.buf.length) await this.flush();
    if (size > this.buf.length) {
      // A huge chunk: write it straight through.
      await this.writeAll(this.encodeRecord(c, new Uint8Array(size), 0));
    } else {
      this.encodeRecord(c, this.buf, this.bufLen);
      this.bufLen += size;
    }
    this.n += size;
    return ref;
  }

  private encodeRecord(c: ChunkToWrite, out: Uint8Array, at: number): Uint8Array {
    let v = c.data.length;
    let p = at;
    while (v >= 0x80) {
      out[p++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    out[p++] = v;
    const encAt = p;
    out[p++] = c.encoding;
    out.set(c.data, p);
    p += c.data.length;
    // CRC32C over the encoding byte and the data, not the length.
    const crc = crc32cFinish(crc32cUpdate(0xffffffff, out, encAt, p));
    out[p++] = crc >>> 24;
    out[p++] = (crc >>> 16) & 0xff;
    out[p++] = (crc >>> 8) & 0xff;
    out[p++] = crc & 0xff;
    return out.subarray(at, p);
  }

  private async writeAll(b: Uint8Array): Promise<void> {
    const f = this.file!;
    let off = 0;
    while (off < b.length) off += await f.write(b.subarray(off));
  }

  private async flush(): Promise<void> {
    if (this.bufLen > 0 && this.file) {
      await this.writeAll(this.buf.subarray(0, this.bufLen));
    }
    this.bufLen = 0;
  }

  private async finishFile(): Promise<void> {
    if (!this.file) return;
    await this.flush();
    await this.file.sync();
    this.file.close();
    this.file = null;
  }

  /** Closes the current segment and starts the next one with its header. */
  private async cut(): Promise<void> {
    await this.finishFile();
    const seq = this.firstSeq + this.segments;
    this.file = await Deno.open(`${this.dir}/${segmentFileName(seq)}`, {
      write: true,
      create: true,
      truncate: true,
    });
    this.segments++;
    this.buf.set(HEADER, 0);
    this.bufLen = SEGMENT_HEADER_SIZE;
    this.n = SEGMENT_HEADER_SIZE;
  }

  /** Number of segment files written so far. */
  get segmentCount(): number {
    return this.segments;
  }

  /** Flushes, fsyncs and closes the current segment. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.finishFile();
    this.buf = new Uint8Array(0);
  }
}

/** A chunk read back from a segment file. */
export interface ChunkRecord {
  encoding: number;
  /** The payload; a view into a buffer owned by the caller from now on. */
  data: Uint8Array;
}

/**
 * Decodes the data length of the chunk record at `buf[p]` into `span`: the data starts at
 * `buf[span.dataAt]`, after the encoding byte, and ends at `span.end` (an out-parameter, not a
 * returned object: the store checks every chunk record it serves this way). Returns false when
 * `buf` ends inside the length field and `eof` is false; throws CorruptionError naming `object`
 * and `offset` otherwise.
 */
function recordDataLength(
  buf: Uint8Array,
  p: number,
  eof: boolean,
  object: string,
  offset: number,
  span: ChunkRecordSpan,
): boolean {
  let len = 0;
  let mul = 1;
  let q = p;
  for (;;) {
    if (q - p >= MAX_LENGTH_FIELD_SIZE) {
      throw new CorruptionError(object, offset, "chunk length field is not a valid uvarint");
    }
    if (q >= buf.length) {
      if (!eof) return false;
      throw new CorruptionError(object, offset, "chunk record runs past the end of the segment");
    }
    const c = buf[q++];
    len += (c & 0x7f) * mul;
    mul *= 128;
    if (c < 0x80) break;
  }
  span.dataAt = q + 1;
  span.end = q + 1 + len;
  return true;
}

/** The span of the length-only reads below (filled and read within one synchronous call). */
const LENGTH_SPAN: ChunkRecordSpan = { dataAt: 0, end: 0 };

/**
 * Total size in bytes (length field, encoding byte, data, CRC) of the chunk record whose first
 * bytes are `head`. Throws CorruptionError naming `object` and `offset` when `head` does not
 * hold a valid length field.
 */
export function chunkRecordLength(head: Uint8Array, object: string, offset: number): number {
  recordDataLength(head, 0, true, object, offset, LENGTH_SPAN);
  return LENGTH_SPAN.end + 4;
}

/**
 * Total size of the chunk record at `buf[p]` once `buf` holds its whole length field, else null.
 * Throws CorruptionError naming `object` and `offset` when the length field is not a uvarint.
 */
export function chunkRecordSizeAt(
  buf: Uint8Array,
  p: number,
  object: string,
  offset: number,
): number | null {
  if (!recordDataLength(buf, p, false, object, offset, LENGTH_SPAN)) return null;
  return LENGTH_SPAN.end - p + 4;
}

/** Where a checked chunk record's data lies in its buffer (see {@link checkChunkRecord}). */
export interface ChunkRecordSpan {
  /** First data byte; the encoding byte is just before it. */
  dataAt: number;
  /** End of the data (the CRC follows). */
  end: number;
}

/**
 * Checks the chunk record at `buf[p]` as {@link parseChunkRecord} does and fills `span` with
 * where its data lies in `buf`, without a view of it. Returns false when `buf` ends before the
 * record does and more bytes exist (`eof` false); throws CorruptionError naming `object` and
 * `offset` otherwise.
 */
export function checkChunkRecord(
  buf: Uint8Array,
  p: number,
  eof: boolean,
  object: string,
  offset: number,
  span: ChunkRecordSpan,
): boolean {
  if (!recordDataLength(buf, p, eof, object, offset, span)) return false;
  const dataAt = span.dataAt;
  const end = span.end;
  const len = end - dataAt;
  const encAt = dataAt - 1;
  if (end + 4 > buf.length) {
    if (!eof) return false;
    throw new CorruptionError(
      object,
      offset,
      `chunk of ${len} bytes runs past the end of the segment`,
    );
  }
  const want = ((buf[end] << 24) | (buf[end + 1] << 16) | (buf[end + 2] << 8) | buf[end + 3]) >>>
    0;
  const got = crc32c(buf, encAt, end);
  if (want !== got) {
    throw new CorruptionError(
      object,
      offset,
      `chunk checksum mismatch: stored 0x${want.toString(16).padStart(8, "0")}, computed 0x${
        got.toString(16).padStart(8, "0")
      }`,
    );
  }
  return true;
}

/** parseChunkRecord's span (filled and read within one call). */
const PARSE_SPAN: ChunkRecordSpan = { dataAt: 0, end: 0 };

/**
 * Parses the chunk record at `buf[p]` (uvarint data length, encoding byte, data, big-endian
 * CRC32-Castagnoli of encoding byte and data) and checks its CRC; `offset` is the record's
 * offset in `object`, for errors. Returns null when `buf` ends before the record does and more
 * bytes exist (`eof` false); throws CorruptionError naming `object` and `offset` otherwise.
 * The returned data is a view into `buf`.
 */
export function parseChunkRecord(
  buf: Uint8Array,
  p: number,
  eof: boolean,
  object: string,
  offset: number,
): ChunkRecord | null {
  if (!checkChunkRecord(buf, p, eof, object, offset, PARSE_SPAN)) return null;
  const { dataAt, end } = PARSE_SPAN;
  return { encoding: buf[dataAt - 1], data: buf.subarray(dataAt, end) };
}

/** How many bytes to read beyond the length field on the first try (covers most chunks). */
const FIRST_READ_GUESS = 512;

/** Reads chunk records by ref from a block's segment files. */
export class ChunkReader {
  /** Header check result per segment: undefined = not checked yet. */
  private readonly checked: (Promise<void> | undefined)[];

  private constructor(
    private readonly sources: ByteSource[],
    private readonly ownsSources: boolean,
  ) {
    this.checked = new Array(sources.length);
  }

  /**
   * Opens the segment files of `chunksDir`. Throws MissingFileError if the directory is
   * missing or the numbering has a gap (naming the missing file).
   */
  static async open(chunksDir: string): Promise<ChunkReader> {
    const seqs: number[] = [];
    try {
      for await (const e of Deno.readDir(chunksDir)) {
        if (e.isFile && /^\d+$/.test(e.name)) seqs.push(Number(e.name));
      }
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new MissingFileError(chunksDir, "chunks directory is missing");
      }
      throw err;
    }
    seqs.sort((a, b) => a - b);
    for (let i = 0; i < seqs.length; i++) {
      // Refs address segments by position, so a hole would silently shift every later one.
      if (seqs[i] !== i + 1) {
        throw new MissingFileError(
          `${chunksDir}/${segmentFileName(i + 1)}`,
          "chunk segment file is missing: segment numbering must be contiguous from 000001",
        );
      }
    }
    const sources: ByteSource[] = [];
    try {
      for (const s of seqs) {
        sources.push(await FileByteSource.open(`${chunksDir}/${segmentFileName(s)}`));
      }
    } catch (err) {
      for (const s of sources) await s.close?.();
      throw err;
    }
    return new ChunkReader(sources, true);
  }

  /** A reader over already-open sources (segment index i = `sources[i]`), e.g. bucket objects. */
  static fromSources(sources: ByteSource[]): ChunkReader {
    return new ChunkReader(sources.slice(), false);
  }

  /** Number of segment files. */
  get segmentCount(): number {
    return this.sources.length;
  }

  private checkHeader(i: number): Promise<void> {
    let p = this.checked[i];
    if (!p) {
      const src = this.sources[i];
      p = (async () => {
        if (src.size < SEGMENT_HEADER_SIZE) {
          throw new CorruptionError(src.name, 0, `segment of ${src.size} bytes has no header`);
        }
        const h = await src.read(0, SEGMENT_HEADER_SIZE);
        const magic = ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
        if (magic !== MAGIC_CHUNKS) {
          throw new CorruptionError(
            src.name,
            0,
            `bad chunk segment magic 0x${magic.toString(16).padStart(8, "0")}, want 0x85bd40dd`,
          );
        }
        if (h[4] !== 1) {
          throw new CorruptionError(src.name, 4, `unsupported chunk segment version ${h[4]}`);
        }
      })();
      this.checked[i] = p;
    }
    return p;
  }

  /**
   * Reads the chunk at `ref`. Throws MissingFileError if its segment does not exist and
   * CorruptionError (file + offset) on bad header, out-of-bounds record or CRC mismatch.
   */
  async chunk(ref: number): Promise<ChunkRecord> {
    const { segment, offset } = unpackChunkRef(ref);
    if (!Number.isSafeInteger(ref) || ref < 0 || segment >= this.sources.length) {
      throw new MissingFileError(
        `chunks/${segmentFileName(segment + 1)}`,
        `chunk ref ${ref} points to segment ${
          segment + 1
        } but the block has ${this.sources.length}`,
      );
    }
    await this.checkHeader(segment);
    const src = this.sources[segment];
    if (offset < SEGMENT_HEADER_SIZE || offset + MAX_LENGTH_FIELD_SIZE > src.size) {
      // Prometheus reads a full 5-byte length field; a ref closer to the end is corrupt too.
      throw new CorruptionError(
        src.name,
        offset,
        `chunk ref ${ref}: offset ${offset} is outside the segment (size ${src.size})`,
      );
    }
    const first = Math.min(
      src.size - offset,
      MAX_LENGTH_FIELD_SIZE + RECORD_OVERHEAD + FIRST_READ_GUESS,
    );
    let b = await src.read(offset, first);
    recordDataLength(b, 0, true, src.name, offset, LENGTH_SPAN);
    const dataAt = LENGTH_SPAN.dataAt;
    const len = LENGTH_SPAN.end - dataAt;
    const total = dataAt + len + 4;
    if (offset + total > src.size) {
      throw new CorruptionError(
        src.name,
        offset,
        `chunk of ${len} bytes runs past the end of the segment (size ${src.size})`,
      );
    }
    if (b.length < total) {
      const rest = await src.read(offset + b.length, total - b.length);
      if (b.length + rest.length < total) {
        throw new CorruptionError(src.name, offset, "short read of chunk record");
      }
      const all = new Uint8Array(total);
      all.set(b, 0);
      all.set(rest, b.length);
      b = all;
    }
    return parseChunkRecord(b, 0, true, src.name, offset)!;
  }

  /** Closes the files this reader opened (sources passed to fromSources stay open). */
  async close(): Promise<void> {
    if (!this.ownsSources) return;
    for (const s of this.sources) await s.close?.();
  }
}
