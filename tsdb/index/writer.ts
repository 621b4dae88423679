// Index format v2 writer
// (https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/docs/format/index.md):
// streams header, symbol table and series to the file through a buffered writer, keeps only
// compact label-occurrence triples in memory, and on close writes postings lists, the postings
// offset table and the TOC exactly as Prometheus 3.8+ does (no legacy label index sections; see
// `Writer` in https://github.com/prometheus/prometheus/blob/v3.8.0/tsdb/index/index.go).

import { crc32c, crc32cFinish, crc32cInit, crc32cUpdate } from "../crc32c.ts";
import { Encbuf } from "../encoding.ts";
import { InvalidInputError } from "../errors.ts";
import { compareLabels, compareStrings } from "../labels.ts";
import type { Labels } from "../series.ts";
import { utf8Length } from "../../strconv/utf8.ts";

/** Magic number at the start of every index file. */
export const INDEX_MAGIC = 0xbaaad700;
/** Index format version this writer emits. */
export const INDEX_VERSION_2 = 2;
/** Length of the header (magic + version byte). */
export const INDEX_HEADER_LEN = 5;
/** Length of the TOC at the end of the file: six BE64 offsets and a CRC. */
export const INDEX_TOC_LEN = 52;
/** Series entries start at multiples of this; a series ref is `offset / 16`. */
export const SERIES_ALIGN = 16;

/** Chunk metadata as stored in the index. `ref = segmentIndex * 2^32 + byteOffset`. */
export interface ChunkMeta {
  /** Timestamp (ms) of the first sample in the chunk. */
  minTime: number;
  /** Timestamp (ms) of the last sample in the chunk. */
  maxTime: number;
  /** Chunk reference: segment index × 2^32 + offset, below 2^53. */
  ref: number;
}

const TWO32 = 4294967296;
const MAX_CHUNK_REF = 2 ** 52;
const WRITE_BUFFER_SIZE = 1 << 20;

/**
 * A file written sequentially through a buffer, with positioned patches of earlier bytes.
 * `write` and `pad` return a promise only when the buffer must be flushed, so the per-series
 * path usually runs without awaiting.
 */
class BufferedFile {
  readonly buf = new Uint8Array(WRITE_BUFFER_SIZE);
  readonly view = new DataView(this.buf.buffer);
  used = 0;
  /** Logical file position: bytes written so far (flushed or not). */
  pos = 0;

  constructor(readonly file: Deno.FsFile, readonly path: string) {}

  write(b: Uint8Array): Promise<void> | undefined {
    if (this.used + b.length > this.buf.length) return this.writeSlow(b);
    this.buf.set(b, this.used);
    this.used += b.length;
    this.pos += b.length;
    return undefined;
  }

  private async writeSlow(b: Uint8Array): Promise<void> {
    await this.flush();
    if (b.length > this.buf.length) {
      if (this.hashing) this.crc = crc32cUpdate(this.crc, b);
      await this.writeAll(b);
    } else {
      this.buf.set(b, this.used);
      this.used += b.length;
    }
    this.pos += b.length;
  }

  /** Space left in the buffer for direct writes at `buf[used]` (then call `advance`). */
  get free(): number {
    return this.buf.length - this.used;
  }

  /** Accounts for `n` bytes written directly into `buf` at `used`. */
  advance(n: number): void {
    this.used += n;
    this.pos += n;
  }

  // Running CRC over everything written between beginCRC and endCRC (sections' bodies).
  private hashing = false;
  private crc = 0;
  private crcFrom = 0;

  /** Starts a CRC-32C over the bytes written from now on. */
  beginCRC(): void {
    this.hashing = true;
    this.crc = crc32cInit();
    this.crcFrom = this.used;
  }

  /** Ends the running CRC and returns it. */
  endCRC(): number {
    this.crc = crc32cUpdate(this.crc, this.buf, this.crcFrom, this.used);
    this.hashing = false;
    return crc32cFinish(this.crc);
  }

  /** Appends a uvarint (direct into the buffer unless it is full). */
  putUvarint(v: number): Promise<void> | undefined {
    if (this.free < 10) return this.flush().then(() => this.putUvarint(v));
    this.advance(uvarintInto(this.buf, this.used, v) - this.used);
    return undefined;
  }

  /** Appends a uvarint byte length and the UTF-8 bytes of `s`, without a temporary array. */
  putUvarintStr(s: string): Promise<void> | undefined {
    const n = utf8Length(s);
    if (n + 10 > this.free) return this.putUvarintStrSlow(s, n);
    let at = uvarintInto(this.buf, this.used, n);
    if (n === s.length) {
      // ASCII: one byte per code unit.
      const b = this.buf;
      for (let i = 0; i < n; i++) b[at++] = s.charCodeAt(i);
    } else {
      TEXT_ENCODER.encodeInto(s, this.buf.subarray(at, at + n));
      at += n;
    }
    this.advance(at - this.used);
    return undefined;
  }

  private async putUvarintStrSlow(s: string, n: number): Promise<void> {
    await this.flush();
    if (n + 10 <= this.free) {
      this.putUvarintStr(s);
      return;
    }
    // Longer than the whole buffer: encode separately.
    await this.putUvarint(n);
    await this.write(TEXT_ENCODER.encode(s));
  }

  /** Appends zero bytes until `pos` is a multiple of `align`. */
  pad(align: number): Promise<void> | undefined {
    const rem = this.pos % align;
    if (rem === 0) return undefined;
    const n = align - rem;
    if (this.used + n > this.buf.length) return this.writeSlow(new Uint8Array(n));
    this.buf.fill(0, this.used, this.used + n);
    this.advance(n);
    return undefined;
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    const n = this.used;
    if (this.hashing) {
      this.crc = crc32cUpdate(this.crc, this.buf, this.crcFrom, n);
      this.crcFrom = 0;
    }
    this.used = 0;
    await this.writeAll(this.buf.subarray(0, n));
  }

  private async writeAll(b: Uint8Array): Promise<void> {
    let off = 0;
    while (off < b.length) off += await this.file.write(b.subarray(off));
  }

  /** Overwrites bytes at an earlier position (flushes first; the file position is restored). */
  async patch(at: number, b: Uint8Array): Promise<void> {
    await this.flush();
    await this.file.seek(at, Deno.SeekMode.Start);
    await this.writeAll(b);
    await this.file.seek(this.pos, Deno.SeekMode.Start);
  }
}

/** Growable Uint32Array used for postings and label-occurrence columns. */
class U32Column {
  data: Uint32Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Uint32Array(capacity);
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const nd = new Uint32Array(this.data.length * 2);
      nd.set(this.data);
      this.data = nd;
    }
    this.data[this.length++] = v;
  }
  view(): Uint32Array {
    return this.data.subarray(0, this.length);
  }
}

const TEXT_ENCODER = new TextEncoder();

/**
 * Writes an index file in format v2, byte-identical to what Prometheus 3.8+ writes for the
 * same symbols and series. Usage: `create` → `addSeries` (sorted) → `close`.
 */
export class IndexWriter {
  private readonly symbolIndex: Map<string, number>;
  private readonly symbolList: string[];
  private lastLabels: Labels | null = null;
  private readonly seriesBuf = new Encbuf(4096);
  private readonly headBuf = new Encbuf(16);
  /** Symbol indexes of the series being added (reused). */
  private labelIdx: number[] = [];
  // Label occurrences in series order: (name symbol, value symbol, series ref) columns. Sorted
  // by (name, value) on close with two stable counting sorts; refs stay ascending per pair.
  private readonly occNames = new U32Column(1 << 16);
  private readonly occValues = new U32Column(1 << 16);
  private readonly occRefs = new U32Column(1 << 16);
  private readonly allRefs = new U32Column(1 << 14);
  private readonly toc = {
    symbols: 0,
    series: 0,
    labelIndices: 0,
    labelIndicesTable: 0,
    postings: 0,
    postingsTable: 0,
  };
  private closed = false;

  private constructor(
    private readonly out: BufferedFile,
    symbols: string[],
  ) {
    this.symbolList = symbols;
    this.symbolIndex = new Map();
    for (let i = 0; i < symbols.length; i++) this.symbolIndex.set(symbols[i], i);
  }

  /**
   * Creates (truncating) `path` and writes the header and the symbol table. `symbols` are every
   * label name and value used, in any order, duplicates allowed; they are sorted by UTF-8 bytes
   * and deduplicated. The empty string is always added as symbol 0: Prometheus's head adds the
   * all-postings key ("", "") to its symbols, so every block it writes carries it, and a file
   * only matches Prometheus's byte for byte with it.
   */
  static async create(path: string, symbols: Iterable<string>): Promise<IndexWriter> {
    const all = Array.from(symbols);
    all.push("");
    const sorted = sortUniqueByUtf8(all);
    const file = await Deno.open(path, { write: true, create: true, truncate: true });
    const out = new BufferedFile(file, path);
    const w = new IndexWriter(out, sorted);
    try {
      await w.writeHeaderAndSymbols();
    } catch (e) {
      file.close();
      throw e;
    }
    return w;
  }

  private async writeHeaderAndSymbols(): Promise<void> {
    const out = this.out;
    const head = new Uint8Array(INDEX_HEADER_LEN);
    new DataView(head.buffer).setUint32(0, INDEX_MAGIC);
    head[4] = INDEX_VERSION_2;
    await out.write(head);

    this.toc.symbols = out.pos;
    // The length is patched once the symbol bytes are known; the CRC covers count + entries.
    const lenPos = out.pos;
    await out.write(new Uint8Array(4));
    out.beginCRC();
    const count = new Uint8Array(4);
    new DataView(count.buffer).setUint32(0, this.symbolList.length);
    await out.write(count);
    for (const sym of this.symbolList) {
      const p = out.putUvarintStr(sym);
      if (p) await p;
    }
    await this.finishSection(lenPos, "symbol table");
    this.toc.series = out.pos;
  }

  /** Ends a `len | body | CRC` section whose body started at `lenPos + 4`: CRC, then len. */
  private async finishSection(lenPos: number, what: string): Promise<void> {
    const out = this.out;
    const bodyLen = out.pos - lenPos - 4;
    if (bodyLen > 0xffffffff) {
      throw new InvalidInputError(
        `${out.path}: ${what} is ${bodyLen} bytes, over the 4 GiB limit of index v2`,
      );
    }
    const b = new Uint8Array(4);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, out.endCRC());
    await out.write(b.slice());
    dv.setUint32(0, bodyLen);
    await out.patch(lenPos, b);
  }

  /**
   * Adds a series. Label sets must be strictly increasing (`compareLabels`), names sorted and
   * every string present in the symbol table; chunks sorted by time, each with
   * `minTime <= maxTime`, `minTime` above the previous chunk's `maxTime`, and refs
   * non-decreasing. Violations throw {@link InvalidInputError} and leave the writer usable.
   * Returns the series ref (file offset / 16) that postings refer to. Await each call before
   * the next: calls must not overlap.
   */
  async addSeries(labels: Labels, chunks: readonly ChunkMeta[]): Promise<number> {
    if (this.closed) throw new InvalidInputError(`${this.out.path}: index writer is closed`);
    this.validateLabels(labels);
    validateChunks(labels, chunks);

    const body = this.seriesBuf;
    body.reset();
    const nLabels = labels.length >>> 1;
    body.putUvarint(nLabels);
    for (let i = 0; i < labels.length; i++) {
      const idx = this.symbolIndex.get(labels[i]);
      if (idx === undefined) {
        throw new InvalidInputError(
          `${this.out.path}: label ${i % 2 === 0 ? "name" : "value"} ${
            JSON.stringify(labels[i])
          } of series ${JSON.stringify(labels)} is not in the symbol table passed to create()`,
        );
      }
      body.putUvarint(idx);
      this.labelIdx[i] = idx;
    }
    body.putUvarint(chunks.length);
    if (chunks.length > 0) {
      let c = chunks[0];
      body.putVarint(c.minTime);
      body.putUvarint(c.maxTime - c.minTime);
      body.putUvarint(c.ref);
      let prevMax = c.maxTime;
      let prevRef = c.ref;
      for (let i = 1; i < chunks.length; i++) {
        c = chunks[i];
        body.putUvarint(c.minTime - prevMax);
        body.putUvarint(c.maxTime - c.minTime);
        body.putVarint(c.ref - prevRef);
        prevMax = c.maxTime;
        prevRef = c.ref;
      }
    }

    const padding = this.out.pad(SERIES_ALIGN);
    if (padding) await padding;
    const ref = this.out.pos / SERIES_ALIGN;
    if (ref >= TWO32) {
      throw new InvalidInputError(
        `${this.out.path}: index exceeds 64 GiB, series refs no longer fit in 32 bits`,
      );
    }
    const head = this.headBuf;
    head.reset();
    head.putUvarint(body.len);
    const bodyBytes = body.bytes();
    const crc = crc32c(bodyBytes);
    body.putBE32(crc);
    const w1 = this.out.write(head.bytes());
    if (w1) await w1;
    const w2 = this.out.write(body.bytes());
    if (w2) await w2;

    for (let i = 0; i < labels.length; i += 2) {
      this.occNames.push(this.labelIdx[i]);
      this.occValues.push(this.labelIdx[i + 1]);
      this.occRefs.push(ref);
    }
    this.allRefs.push(ref);
    this.lastLabels = labels;
    return ref;
  }

  private validateLabels(labels: Labels): void {
    if (labels.length % 2 !== 0) {
      throw new InvalidInputError(
        `${this.out.path}: labels ${JSON.stringify(labels)} are not name/value pairs`,
      );
    }
    for (let i = 2; i < labels.length; i += 2) {
      if (compareStrings(labels[i - 2], labels[i]) >= 0) {
        throw new InvalidInputError(
          `${this.out.path}: label names of ${JSON.stringify(labels)} are not strictly sorted (${
            JSON.stringify(labels[i - 2])
          } before ${JSON.stringify(labels[i])})`,
        );
      }
    }
    if (this.lastLabels !== null && compareLabels(labels, this.lastLabels) <= 0) {
      throw new InvalidInputError(
        `${this.out.path}: out-of-order series ${JSON.stringify(labels)} added after ${
          JSON.stringify(this.lastLabels)
        }; series must be added in strictly increasing label order`,
      );
    }
  }

  /**
   * Writes the postings lists, the postings offset table and the TOC, fsyncs and closes the
   * file. The writer cannot be used afterwards.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      // 3.8+ layout: no label index sections, so both legacy offsets point at the next section.
      this.toc.labelIndices = this.out.pos;
      this.toc.postings = this.out.pos;
      await this.out.pad(4);
      const table = await this.writePostings();
      this.toc.labelIndicesTable = this.out.pos;
      this.toc.postingsTable = this.out.pos;
      await this.writePostingsTable(table);
      await this.writeTOC();
      await this.out.flush();
      await this.out.file.sync();
    } finally {
      this.out.file.close();
    }
  }

  /** Closes the file without finishing it and removes it (after a failed write). */
  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.out.file.close();
    }
    await Deno.remove(this.out.path).catch(() => undefined);
  }

  /**
   * Writes all postings lists in table order and returns, per list, the name and value symbol
   * indexes (-1 for the all-postings key) and the list's file offset.
   */
  private async writePostings(): Promise<PostingsTableEntries> {
    const n = this.occRefs.length;
    const names = this.occNames.view();
    const values = this.occValues.view();
    const refs = this.occRefs.view();
    // Stable LSD counting sort by value symbol, then by name symbol: the result is ordered
    // by (name, value) and, within a pair, by series ref (insertion order), and symbol index
    // order is string order, so this is the table order.
    const order1 = countingSortOrder(values, null, this.symbolList.length);
    const order = countingSortOrder(names, order1, this.symbolList.length);

    const entries: PostingsTableEntries = {
      names: new Int32Array(16),
      values: new Int32Array(16),
      offsets: new Float64Array(16),
      count: 0,
    };
    const scratch = new Uint32Array(Math.max(1, this.allRefs.length));

    await this.writePostingsList(entries, -1, -1, this.allRefs.view());
    let i = 0;
    while (i < n) {
      const first = order[i];
      const nm = names[first];
      const val = values[first];
      let k = 0;
      while (i < n && names[order[i]] === nm && values[order[i]] === val) {
        scratch[k++] = refs[order[i]];
        i++;
      }
      await this.writePostingsList(entries, nm, val, scratch.subarray(0, k));
    }
    return entries;
  }

  private async writePostingsList(
    entries: PostingsTableEntries,
    name: number,
    value: number,
    refs: Uint32Array,
  ): Promise<void> {
    // Lists start 4-aligned; the writer is 4-aligned here since every list is 12+4n bytes.
    const padding = this.out.pad(4);
    if (padding) await padding;
    pushEntry(entries, name, value, this.out.pos);
    const size = 12 + 4 * refs.length;
    const out = this.out;
    if (size <= out.free) {
      // Encode straight into the write buffer: most lists are short and this runs per list.
      encodePostingsList(out.buf, out.view, out.used, refs);
      out.advance(size);
      return;
    }
    const bytes = new Uint8Array(size);
    encodePostingsList(bytes, new DataView(bytes.buffer), 0, refs);
    await out.write(bytes);
  }

  private async writePostingsTable(t: PostingsTableEntries): Promise<void> {
    const out = this.out;
    const lenPos = out.pos;
    await out.write(new Uint8Array(4));
    out.beginCRC();
    const count = new Uint8Array(4);
    new DataView(count.buffer).setUint32(0, t.count);
    await out.write(count);
    const sym = this.symbolList;
    for (let i = 0; i < t.count; i++) {
      let p = out.putUvarint(2);
      if (p) await p;
      p = out.putUvarintStr(t.names[i] < 0 ? "" : sym[t.names[i]]);
      if (p) await p;
      p = out.putUvarintStr(t.values[i] < 0 ? "" : sym[t.values[i]]);
      if (p) await p;
      p = out.putUvarint(t.offsets[i]);
      if (p) await p;
    }
    await this.finishSection(lenPos, "postings offset table");
  }

  private async writeTOC(): Promise<void> {
    const e = new Encbuf(INDEX_TOC_LEN);
    e.putBE64(this.toc.symbols);
    e.putBE64(this.toc.series);
    e.putBE64(this.toc.labelIndices);
    e.putBE64(this.toc.labelIndicesTable);
    e.putBE64(this.toc.postings);
    e.putBE64(this.toc.postingsTable);
    e.putBE32(crc32c(e.bytes()));
    await this.out.write(e.bytes());
  }
}

/** Writes `len | n | refs | CRC` of a postings list at `b[at]`. */
function encodePostingsList(b: Uint8Array, dv: DataView, at: number, refs: Uint32Array): void {
  const n = refs.length;
  dv.setUint32(at, 4 + 4 * n);
  dv.setUint32(at + 4, n);
  for (let j = 0; j < n; j++) dv.setUint32(at + 8 + 4 * j, refs[j]);
  dv.setUint32(at + 8 + 4 * n, crc32c(b, at + 4, at + 8 + 4 * n));
}

interface PostingsTableEntries {
  names: Int32Array;
  values: Int32Array;
  offsets: Float64Array;
  count: number;
}

function pushEntry(t: PostingsTableEntries, name: number, value: number, offset: number): void {
  if (t.count === t.names.length) {
    const cap = t.count * 2;
    const nn = new Int32Array(cap);
    nn.set(t.names);
    t.names = nn;
    const nv = new Int32Array(cap);
    nv.set(t.values);
    t.values = nv;
    const no = new Float64Array(cap);
    no.set(t.offsets);
    t.offsets = no;
  }
  t.names[t.count] = name;
  t.values[t.count] = value;
  t.offsets[t.count] = offset;
  t.count++;
}

/**
 * Sorts strings by UTF-8 bytes. The native sort (UTF-16 code units) is several times faster
 * than a comparator and gives the same order unless a string holds a surrogate (code point
 * ≥ U+10000), so the comparator runs only then.
 */
function sortUniqueByUtf8(a: string[]): string[] {
  let surrogates = false;
  for (let i = 0; i < a.length && !surrogates; i++) surrogates = /[\uD800-\uDFFF]/.test(a[i]);
  if (surrogates) a.sort(compareStrings);
  else a.sort();
  // Deduplicate in place (cheaper than a Set, which hashes every fresh string).
  let n = 0;
  for (let i = 0; i < a.length; i++) if (n === 0 || a[i] !== a[n - 1]) a[n++] = a[i];
  a.length = n;
  return a;
}

/** Writes `v` as a uvarint at `b[at]`; returns the position after it. */
function uvarintInto(b: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    b[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  b[at++] = v;
  return at;
}

/**
 * Stable counting sort of positions by `keys[pos]` (keys < `range`). `prev` is the order to
 * refine (identity when null); returns the new order.
 */
function countingSortOrder(
  keys: Uint32Array,
  prev: Uint32Array | null,
  range: number,
): Uint32Array {
  const n = keys.length;
  const counts = new Uint32Array(range + 1);
  for (let i = 0; i < n; i++) counts[keys[i] + 1]++;
  for (let k = 1; k <= range; k++) counts[k] += counts[k - 1];
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const pos = prev === null ? i : prev[i];
    out[counts[keys[pos]]++] = pos;
  }
  return out;
}

function validateChunks(labels: Labels, chunks: readonly ChunkMeta[]): void {
  let prevMax = 0;
  let prevRef = 0;
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i];
    const where = () => `chunk ${i} of series ${JSON.stringify(labels)}`;
    if (
      !Number.isInteger(c.minTime) || !Number.isInteger(c.maxTime) ||
      Math.abs(c.minTime) >= MAX_CHUNK_REF || Math.abs(c.maxTime) >= MAX_CHUNK_REF
    ) {
      throw new InvalidInputError(
        `${where()}: minTime ${c.minTime} / maxTime ${c.maxTime} must be integers (ms) within ±2^52`,
      );
    }
    // Refs are delta-encoded as zig-zag varints; below 2^52 the zig-zag value stays exact.
    if (!Number.isInteger(c.ref) || c.ref < 0 || c.ref >= MAX_CHUNK_REF) {
      throw new InvalidInputError(`${where()}: ref ${c.ref} must be an integer in [0, 2^52)`);
    }
    if (c.maxTime < c.minTime) {
      throw new InvalidInputError(`${where()}: maxTime ${c.maxTime} is below minTime ${c.minTime}`);
    }
    if (i > 0) {
      if (c.minTime <= prevMax) {
        throw new InvalidInputError(
          `${where()}: minTime ${c.minTime} is not above the previous chunk's maxTime ${prevMax}`,
        );
      }
      if (c.ref < prevRef) {
        throw new InvalidInputError(
          `${where()}: ref ${c.ref} is below the previous chunk's ref ${prevRef}`,
        );
      }
    }
    prevMax = c.maxTime;
    prevRef = c.ref;
  }
}
