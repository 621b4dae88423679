// Index format v2/v3 (and v1) reader over a ByteSource
// (https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/docs/format/index.md; v1 as
// https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/index/index.go still reads it).
// The source may be a bucket object where every read is a network request, so the reader reads
// the TOC, the symbol table and the postings offset table once each at open, and series and
// postings lists on demand, merging nearby byte ranges. In memory it keeps the raw symbol table
// with every 32nd symbol's offset, and per label name every 32nd value of the postings offset
// table (plus the last), as Prometheus does, instead of one JS string per symbol or entry.

import { crc32c } from "../crc32c.ts";
import { Decbuf, decodeUtf8, encodeUtf8 } from "../encoding.ts";
import { CorruptionError, InvalidInputError } from "../errors.ts";
import { compareStrings } from "../labels.ts";
import type { ByteSource } from "../bytesource.ts";
import type { Labels } from "../series.ts";
import { mergePostings } from "./postings.ts";
import {
  type ChunkMeta,
  INDEX_HEADER_LEN,
  INDEX_MAGIC,
  INDEX_TOC_LEN,
  SERIES_ALIGN,
} from "./writer.ts";

export type { ChunkMeta } from "./writer.ts";

/** Section offsets from the index TOC (0 = absent). */
export interface IndexTOC {
  symbols: number;
  series: number;
  labelIndices: number;
  labelIndicesTable: number;
  postings: number;
  postingsTable: number;
}

/** One decoded series entry. */
export interface IndexSeries {
  /** Series ref (offset / 16 in v2/v3, the offset in v1). */
  ref: number;
  /** Sorted flat name/value pairs. */
  labels: Labels;
  /** Chunk metas sorted by time. */
  chunks: ChunkMeta[];
  /**
   * The labels ready-encoded for a StoreAPI answer (the store's index cache keeps them per
   * entry: storeapi/codec.ts `encodeLabelsProto`); undefined when not at hand.
   */
  labelsProto?: string;
}

/** Options of {@link IndexReader.open}. */
export interface IndexReaderOptions {
  /**
   * Keep the postings offset table's raw bytes in memory (default true). When false only the
   * sampled values stay in memory and label value / postings lookups read the needed part of
   * the table from the source again (saves memory; costs a read per lookup).
   */
  keepPostingsTable?: boolean;
}

/** Options of {@link IndexReader.seriesMany}. */
export interface SeriesManyOptions {
  /** Two series entries closer than this many bytes are fetched in one read (default 64 KiB). */
  maxGapBytes?: number;
  /** Upper bound of one read (default 4 MiB), which also bounds the memory held per batch. */
  maxReadBytes?: number;
  /** Stops the iteration between batches. */
  signal?: AbortSignal;
  /**
   * Called with each entry's body (labels and chunk metas as symbol references, between its
   * length and its CRC; a view of the read buffer valid only during the call) before the
   * series is yielded: {@link IndexReader.decodeSeriesBody} decodes it again, so a cache can
   * keep these few bytes instead of the decoded objects.
   */
  onBody?: (ref: number, body: Uint8Array) => void;
}

/** Every this many symbols / values one offset is kept in memory (Prometheus uses 32 too). */
const SAMPLE_EVERY = 32;
/** Read size guess for one series entry; a longer entry costs a second read. */
const SERIES_READ_GUESS = 512;
/** Postings lists whose byte ranges are closer than this are fetched in one read. */
const POSTINGS_MAX_GAP = 64 * 1024;
/** Read size for a postings list whose end is unknown; a longer list costs a second read. */
const POSTINGS_READ_GUESS = 4096;
/** Bytes read past a table range so the next entry (the next list's offset) can be peeked. */
const TABLE_PEEK = 1024;
/** Largest merged postings read (a single larger list is read alone). */
const POSTINGS_MAX_READ = 16 * 1024 * 1024;
/** Bounds of the symbol lookup caches (cleared when full: cheap and good enough). */
const VALUE_CACHE_MAX = 16384;
const NAME_CACHE_MAX = 4096;
/**
 * Symbols decoded by any reader, shared: blocks repeat each other's symbols (360 two-hour blocks
 * of one job hold the same label names and values), so every reader's series labels are the
 * same string instances. Label comparisons across blocks (the store's k-way merge compares each
 * block's series with the others') then end at the pointer check instead of comparing bytes, and
 * the readers' caches hold one copy of a symbol instead of one per block. Cleared when full.
 */
const SHARED_SYMBOLS_MAX = 65536;
const sharedSymbols = new Map<string, string>();

/** The shared instance of symbol `s` (see {@link sharedSymbols}). */
function sharedSymbol(s: string): string {
  const got = sharedSymbols.get(s);
  if (got !== undefined) return got;
  if (sharedSymbols.size >= SHARED_SYMBOLS_MAX) sharedSymbols.clear();
  sharedSymbols.set(s, s);
  return s;
}

const EMPTY_POSTINGS = new Uint32Array(0);

/** Sampled postings offset table entries of one label name. */
interface NameEntries {
  /** Every 32nd value, starting with the first. */
  sampleValues: string[];
  /** Table offsets (relative to the table body) of the sampled entries. */
  sampleOffsets: Uint32Array;
  /** Number of values of this name. */
  count: number;
  /** Last value. */
  last: string;
  /** Table offset right after the last entry of this name. */
  end: number;
}

/** A postings list to fetch: file offset of its `len` field and an upper bound of its end. */
interface PostingsRange {
  start: number;
  /** Upper bound of the list's end (the next list's start), or -1 when not known. */
  end: number;
}

/** Reads index files of format v2 and v3 (and v1) through a {@link ByteSource}. */
export class IndexReader {
  /** Format version from the header (1, 2 or 3). */
  readonly version: number;
  /** Section offsets from the TOC. */
  readonly toc: IndexTOC;
  /** Number of symbols in the symbol table. */
  readonly symbolCount: number;

  private readonly valueCache = new Map<number, string>();
  /**
   * The cursor over cached series entries, reused (decoding is synchronous): a cursor and a file
   * name per entry were garbage per cache hit.
   */
  private cachedCursor: Decbuf | undefined;
  private readonly nameCache = new Map<number, string>();
  private readonly seriesEnd: number;
  private readonly postingsEnd: number;

  private constructor(
    private readonly src: ByteSource,
    version: number,
    toc: IndexTOC,
    /** Symbol table bytes from its `len` field to its CRC (inclusive). */
    private readonly symbolsRaw: Uint8Array,
    /** Offsets in `symbolsRaw` of every 32nd symbol. */
    private readonly symbolOffsets: Uint32Array,
    symbolCount: number,
    /** Postings offset table from its `len` field to its CRC, or null when not kept. */
    private table: Uint8Array | null,
    /** File offset of the table's `len` field (table offsets are relative to it). */
    private readonly tableBase: number,
    private readonly names: Map<string, NameEntries>,
    private readonly sortedNames: string[],
  ) {
    this.version = version;
    this.toc = toc;
    this.symbolCount = symbolCount;
    // ≤3.7 files have label indices between series and postings; 3.8+ point it at postings.
    this.seriesEnd = toc.labelIndices > toc.series ? toc.labelIndices : toc.postings;
    // ≤3.7 files have the label offset table between postings and the postings offset table.
    this.postingsEnd = toc.labelIndicesTable > toc.postings &&
        toc.labelIndicesTable < toc.postingsTable
      ? toc.labelIndicesTable
      : toc.postingsTable;
  }

  /**
   * Opens an index: checks the header (magic 0xBAAAD700, version 1, 2 or 3), reads the TOC, the
   * symbol table and the postings offset table (one read each, CRC-checked). Throws
   * {@link CorruptionError} naming `src.name` and the offset on a bad magic, truncation or a
   * CRC mismatch.
   */
  static async open(src: ByteSource, opts: IndexReaderOptions = {}): Promise<IndexReader> {
    const name = src.name;
    if (src.size < INDEX_HEADER_LEN + INDEX_TOC_LEN) {
      throw new CorruptionError(
        name,
        src.size,
        `truncated index: ${src.size} bytes is shorter than header and TOC (${
          INDEX_HEADER_LEN + INDEX_TOC_LEN
        } bytes)`,
      );
    }
    const header = await readExact(src, 0, INDEX_HEADER_LEN, "index header");
    const magic = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
    if (magic !== INDEX_MAGIC) {
      throw new CorruptionError(
        name,
        0,
        `bad magic 0x${magic.toString(16).padStart(8, "0")}, want 0xbaaad700: not an index file`,
      );
    }
    const version = header[4];
    if (version !== 1 && version !== 2 && version !== 3) {
      throw new CorruptionError(name, 4, `unknown index format version ${version}`);
    }

    const tocAt = src.size - INDEX_TOC_LEN;
    const toc = parseTOC(await readExact(src, tocAt, INDEX_TOC_LEN, "TOC"), name, tocAt);
    checkTOC(toc, name, tocAt);

    // Symbol table: in files written by Prometheus it ends where the series section starts,
    // so one read normally covers it.
    const sym = await readSection(src, toc.symbols, toc.series - toc.symbols, "symbol table");
    const { offsets, count } = sampleSymbols(sym, name, toc.symbols);

    const tbl = await readSection(
      src,
      toc.postingsTable,
      tocAt - toc.postingsTable,
      "postings offset table",
    );
    let table = tbl;
    if (version === 1) table = sortV1Table(tbl, name, toc.postingsTable);
    const { names, sortedNames } = samplePostingsTable(table, name, toc.postingsTable);

    const r = new IndexReader(
      src,
      version,
      toc,
      sym,
      offsets,
      count,
      opts.keepPostingsTable === false && version !== 1 ? null : table,
      toc.postingsTable,
      names,
      sortedNames,
    );
    return r;
  }

  /**
   * The symbol for reference `ref`: its index in v2/v3, its file offset in v1. Recently used
   * symbols are cached. Throws {@link CorruptionError} for a reference outside the table.
   */
  symbol(ref: number): string {
    const cached = this.valueCache.get(ref);
    if (cached !== undefined) return cached;
    const s = sharedSymbol(this.lookupSymbol(ref));
    if (this.valueCache.size >= VALUE_CACHE_MAX) this.valueCache.clear();
    this.valueCache.set(ref, s);
    return s;
  }

  private nameSymbol(ref: number): string {
    const cached = this.nameCache.get(ref);
    if (cached !== undefined) return cached;
    const s = sharedSymbol(this.lookupSymbol(ref));
    if (this.nameCache.size >= NAME_CACHE_MAX) this.nameCache.clear();
    this.nameCache.set(ref, s);
    return s;
  }

  private lookupSymbol(ref: number): string {
    const raw = this.symbolsRaw;
    // The table was fully scanned at open, so entries are well-formed up to its end.
    const end = raw.length - 4;
    let p: number;
    if (this.version === 1) {
      p = ref - this.toc.symbols;
      if (!(p >= 8 && p < end)) {
        throw new CorruptionError(
          this.src.name,
          this.toc.symbols,
          `symbol offset ${ref} lies outside the symbol table`,
        );
      }
    } else {
      if (!(ref >= 0 && ref < this.symbolCount)) {
        throw new CorruptionError(
          this.src.name,
          this.toc.symbols,
          `unknown symbol index ${ref}: the table has ${this.symbolCount} symbols`,
        );
      }
      p = this.symbolOffsets[Math.floor(ref / SAMPLE_EVERY)];
      for (let k = ref % SAMPLE_EVERY; k > 0; k--) {
        const len = uvarintAt(raw, p);
        p = uvarintEnd + len;
      }
    }
    const len = uvarintAt(raw, p);
    const start = uvarintEnd;
    if (start + len > end) {
      throw new CorruptionError(this.src.name, this.toc.symbols + p, "symbol runs past the table");
    }
    return decodeUtf8(raw.subarray(start, start + len));
  }

  /** All symbols in table order (sorted by UTF-8 bytes); e.g. to build a compacted index. */
  *symbols(): Generator<string> {
    const d = new Decbuf(this.symbolsRaw, this.src.name, this.toc.symbols, 8);
    for (let i = 0; i < this.symbolCount; i++) yield d.uvarintStr();
  }

  /** Label names, sorted, without the all-postings key "". */
  labelNames(): string[] {
    return this.sortedNames.slice();
  }

  /** All values of label `name`, sorted; empty when the name does not exist. */
  async labelValues(name: string): Promise<string[]> {
    const e = this.names.get(name);
    if (e === undefined) return [];
    const out: string[] = [];
    await this.scanName(e, (d, vStart, vLen) => {
      out.push(decodeUtf8(d.b.subarray(vStart, vStart + vLen)));
    });
    return out;
  }

  /** Postings (sorted series refs) of series with `name` equal to any of `values`, merged. */
  async postings(name: string, values: readonly string[]): Promise<Uint32Array> {
    return mergeFetched(await this.fetchPostingsLists(await this.rangesOf(name, values)));
  }

  /**
   * Size of the postings of `name` for `values` (or, with `pred`, for every value satisfying
   * it) from the postings offset table alone, nothing fetched: the number of values that exist
   * and the estimated number of refs in their lists (from each list's byte range, as Thanos's
   * lazy expanded postings estimate them). Null when a list's end is not known from the table.
   */
  async estimatePostings(
    name: string,
    values: readonly string[] | ((value: string) => boolean),
  ): Promise<{ keys: number; refs: number } | null> {
    const ranges = typeof values === "function"
      ? await this.rangesMatching(name, values)
      : await this.rangesOf(name, values);
    let refs = 0;
    for (const r of ranges) {
      // len (4 B), count (4 B), 4 B per ref, CRC (4 B)
      if (r.end <= r.start + 12) return null;
      refs += Math.floor((r.end - r.start - 12) / 4);
    }
    return { keys: ranges.length, refs };
  }

  /** Byte ranges of the postings lists of `name` for `values` (those that exist). */
  private async rangesOf(name: string, values: readonly string[]): Promise<PostingsRange[]> {
    const e = this.names.get(name);
    if (e === undefined || values.length === 0) return [];
    // one value (an equality matcher, the usual case) needs no de-duplication nor sorting
    const wanted = values.length === 1 ? values : Array.from(new Set(values)).sort(compareStrings);
    // Drop values outside [first, last]: they cannot match.
    let lo = 0;
    while (lo < wanted.length && compareStrings(wanted[lo], e.sampleValues[0]) < 0) lo++;
    let hi = wanted.length;
    while (hi > lo && compareStrings(wanted[hi - 1], e.last) > 0) hi--;
    if (lo >= hi) return [];

    const ranges: PostingsRange[] = [];
    // Group the wanted values by sample block; each group is one scan of the table.
    let i = lo;
    while (i < hi) {
      const block = this.sampleBlock(e, wanted[i]);
      const blockEnd = block + 1 < e.sampleOffsets.length ? e.sampleOffsets[block + 1] : e.end;
      // Values in the same block share the scan.
      let j = i + 1;
      while (
        j < hi && (block + 1 >= e.sampleValues.length ||
          compareStrings(wanted[j], e.sampleValues[block + 1]) < 0)
      ) j++;
      const targets = wanted.slice(i, j).map(tableTarget);
      let t = 0;
      const startOff = e.sampleOffsets[block];
      const part = await this.tableRange(startOff, blockEnd + TABLE_PEEK);
      const d = new Decbuf(part.bytes, this.src.name, this.tableBase + part.base);
      d.pos = startOff - part.base;
      const stop = blockEnd - part.base;
      while (t < targets.length && d.pos < stop) {
        const entry = readEntry(d);
        let c = compareTarget(d.b, entry.vStart, entry.vLen, targets[t]);
        while (c > 0 && t < targets.length - 1) {
          t++;
          c = compareTarget(d.b, entry.vStart, entry.vLen, targets[t]);
        }
        if (c === 0) {
          const start = entry.offset;
          ranges.push({ start, end: this.nextListStart(d) });
          t++;
        } else if (c > 0) break;
      }
      i = j;
    }
    return ranges;
  }

  /**
   * Postings of every value of `name` that satisfies `pred` (for `!=`, `=~`, `!~` matchers),
   * merged. The predicate sees each value once, in sorted order.
   */
  async postingsForLabelMatching(
    name: string,
    pred: (value: string) => boolean,
  ): Promise<Uint32Array> {
    return mergeFetched(await this.fetchPostingsLists(await this.rangesMatching(name, pred)));
  }

  /** Byte ranges of the postings lists of the values of `name` that satisfy `pred`. */
  private async rangesMatching(
    name: string,
    pred: (value: string) => boolean,
  ): Promise<PostingsRange[]> {
    const e = this.names.get(name);
    if (e === undefined) return [];
    const ranges: PostingsRange[] = [];
    await this.scanName(e, (d, vStart, vLen, offset) => {
      if (pred(decodeUtf8(d.b.subarray(vStart, vStart + vLen)))) {
        ranges.push({ start: offset, end: this.nextListStart(d) });
      }
    });
    return ranges;
  }

  /** Refs of all series in the index (the postings list of the key `("", "")`). */
  allPostings(): Promise<Uint32Array> {
    return this.postings("", [""]);
  }

  /** Decodes series `ref` (CRC-checked): its labels and chunk metas. */
  async series(ref: number): Promise<IndexSeries> {
    const off = this.seriesOffset(ref);
    const guess = Math.min(SERIES_READ_GUESS, this.seriesEnd - off);
    const b = await this.src.read(off, guess);
    return this.decodeSeriesAt(ref, b, off, 0) ?? await this.readSeriesExact(ref, off);
  }

  /**
   * Decodes many series with few reads: `refs` must be sorted ascending (as postings are);
   * entries closer than `maxGapBytes` are fetched in one range read of at most
   * `maxReadBytes`. Yields the series in `refs` order; memory stays bounded by one batch.
   */
  async *seriesMany(
    refs: Uint32Array | readonly number[],
    opts: SeriesManyOptions = {},
  ): AsyncGenerator<IndexSeries> {
    const maxGap = opts.maxGapBytes ?? 64 * 1024;
    const maxRead = opts.maxReadBytes ?? 4 * 1024 * 1024;
    for (let k = 1; k < refs.length; k++) {
      if (refs[k] <= refs[k - 1]) {
        throw new InvalidInputError(
          `seriesMany on ${this.src.name}: refs must be strictly ascending, got ${
            refs[k - 1]
          } before ${refs[k]}`,
        );
      }
    }
    let i = 0;
    while (i < refs.length) {
      opts.signal?.throwIfAborted();
      const start = this.seriesOffset(refs[i]);
      let j = i + 1;
      let prev = start;
      while (j < refs.length) {
        const o = this.seriesOffset(refs[j]);
        if (o - prev > maxGap || o + SERIES_READ_GUESS - start > maxRead) break;
        prev = o;
        j++;
      }
      const end = Math.min(this.seriesEnd, prev + SERIES_READ_GUESS);
      const buf = await this.src.read(start, end - start);
      for (let k = i; k < j; k++) {
        const ref = refs[k];
        const off = this.seriesOffset(ref);
        yield this.decodeSeriesAt(ref, buf, start, off - start, opts.onBody) ??
          await this.readSeriesExact(ref, off, opts.onBody);
      }
      i = j;
    }
  }

  /** Releases the in-memory tables and closes the source (the reader owns it). */
  async close(): Promise<void> {
    this.table = null;
    this.valueCache.clear();
    this.nameCache.clear();
    await this.src.close?.();
  }

  // ---- internals ----

  private seriesOffset(ref: number): number {
    const off = this.version === 1 ? ref : ref * SERIES_ALIGN;
    if (!(off >= this.toc.series && off < this.seriesEnd)) {
      throw new CorruptionError(
        this.src.name,
        off,
        `series ref ${ref} points outside the series section [${this.toc.series}, ${this.seriesEnd})`,
      );
    }
    return off;
  }

  private async readSeriesExact(
    ref: number,
    off: number,
    onBody?: (ref: number, body: Uint8Array) => void,
  ): Promise<IndexSeries> {
    const head = await this.src.read(off, Math.min(10, this.seriesEnd - off));
    const d = new Decbuf(head, this.src.name, off);
    const len = d.uvarint();
    const total = d.pos + len + 4;
    const b = await readExact(this.src, off, total, `series ${ref}`);
    const s = this.decodeSeriesAt(ref, b, off, 0, onBody);
    if (s === null) throw new CorruptionError(this.src.name, off, `truncated series ${ref}`);
    return s;
  }

  /**
   * Decodes the series entry at `b[at]` (file offset `base + at`). Returns null when `b` does
   * not hold the whole entry, so the caller can read it exactly.
   */
  private decodeSeriesAt(
    ref: number,
    b: Uint8Array,
    base: number,
    at: number,
    onBody?: (ref: number, body: Uint8Array) => void,
  ): IndexSeries | null {
    const name = this.src.name;
    // The length uvarint may itself be cut off by a short read.
    let p = at;
    let len = 0;
    let mul = 1;
    for (;;) {
      if (p >= b.length) {
        if (p - at >= 10 || base + p >= this.seriesEnd) {
          throw new CorruptionError(name, base + at, `bad length of series ${ref}`);
        }
        return null;
      }
      const c = b[p++];
      len += (c & 0x7f) * mul;
      if (c < 0x80) break;
      mul *= 128;
      if (p - at >= 10) throw new CorruptionError(name, base + at, `bad length of series ${ref}`);
    }
    const bodyStart = p;
    const bodyEnd = bodyStart + len;
    if (base + bodyEnd + 4 > this.seriesEnd) {
      throw new CorruptionError(
        name,
        base + at,
        `series ${ref} of ${len} bytes runs past the end of the series section`,
      );
    }
    if (bodyEnd + 4 > b.length) return null;
    const want = ((b[bodyEnd] << 24) | (b[bodyEnd + 1] << 16) | (b[bodyEnd + 2] << 8) |
      b[bodyEnd + 3]) >>> 0;
    const got = crc32c(b, bodyStart, bodyEnd);
    if (want !== got) {
      throw new CorruptionError(
        name,
        base + at,
        `CRC mismatch in series ${ref}: stored 0x${hex32(want)}, computed 0x${hex32(got)}`,
      );
    }
    onBody?.(ref, b.subarray(bodyStart, bodyEnd));
    return this.decodeBody(ref, new Decbuf(b.subarray(0, bodyEnd), name, base, bodyStart));
  }

  /**
   * Decodes a series entry's body as {@link SeriesManyOptions.onBody} gave it (no CRC: the
   * bytes were checked when read), with only the chunk metas overlapping [`mint`, `maxt`] (all
   * by default: a query reads a few of a block's chunks, and the others would be garbage).
   * Throws {@link CorruptionError} on malformed bytes.
   */
  decodeSeriesBody(
    ref: number,
    body: Uint8Array,
    mint = -Infinity,
    maxt = Infinity,
    labelsProto?: string,
  ): IndexSeries {
    const d = this.cachedCursor ??= new Decbuf(body, `${this.src.name} (cached series entry)`);
    d.reset(body);
    return this.decodeBody(ref, d, mint, maxt, labelsProto);
  }

  private decodeBody(
    ref: number,
    d: Decbuf,
    mint = -Infinity,
    maxt = Infinity,
    labelsProto: string | undefined = undefined,
  ): IndexSeries {
    const nLabels = d.uvarint();
    if (nLabels * 2 > d.remaining) d.fail(`series ${ref} claims ${nLabels} labels`);
    const labels: string[] = new Array(nLabels * 2);
    for (let k = 0; k < nLabels; k++) {
      labels[2 * k] = this.nameSymbol(d.uvarint());
      labels[2 * k + 1] = this.symbol(d.uvarint());
    }
    const nChunks = d.uvarint();
    if (nChunks * 3 > d.remaining) d.fail(`series ${ref} claims ${nChunks} chunks`);
    const all = mint === -Infinity && maxt === Infinity;
    // sized on the first kept meta: a query keeps one or two of an entry's chunks, and an empty
    // array grown by a push holds room for 17
    let chunks: ChunkMeta[] | null = all ? new Array(nChunks) : null;
    let minTime = 0;
    let maxTime = 0;
    let cref = 0;
    for (let k = 0; k < nChunks; k++) {
      if (k === 0) {
        minTime = d.varint();
        maxTime = minTime + d.uvarint();
        cref = d.uvarint();
      } else {
        minTime = maxTime + d.uvarint();
        maxTime = minTime + d.uvarint();
        cref += d.varint();
      }
      if (all) chunks![k] = { minTime, maxTime, ref: cref };
      else if (maxTime >= mint && minTime <= maxt) {
        const meta = { minTime, maxTime, ref: cref };
        if (chunks === null) chunks = [meta];
        else chunks.push(meta);
      }
    }
    if (d.remaining !== 0) d.fail(`${d.remaining} unexpected bytes at the end of series ${ref}`);
    const kept = chunks ?? [];
    return labelsProto === undefined
      ? { ref, labels, chunks: kept }
      : { ref, labels, chunks: kept, labelsProto };
  }

  /** Index of the last sample of `e` that is ≤ `value` (0 when `value` precedes all). */
  private sampleBlock(e: NameEntries, value: string): number {
    let lo = 0;
    let hi = e.sampleValues.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (compareStrings(e.sampleValues[mid], value) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Bytes of the postings offset table covering table offsets [start, end) (relative to the
   * table's `len` field), from memory or read from the source. `end` may be past the table.
   */
  private async tableRange(
    start: number,
    end: number,
  ): Promise<{ bytes: Uint8Array; base: number }> {
    const tableLen = this.src.size - INDEX_TOC_LEN - this.tableBase;
    const e = Math.min(end, tableLen - 4);
    if (this.table !== null) return { bytes: this.table.subarray(0, e), base: 0 };
    const bytes = await this.src.read(this.tableBase + start, e - start);
    return { bytes, base: start };
  }

  /** Calls `fn` for every entry of `e` with the value's position in `d.b`. */
  private async scanName(
    e: NameEntries,
    fn: (d: Decbuf, vStart: number, vLen: number, offset: number) => void,
  ): Promise<void> {
    const start = e.sampleOffsets[0];
    const part = await this.tableRange(start, e.end + TABLE_PEEK);
    const d = new Decbuf(part.bytes, this.src.name, this.tableBase + part.base);
    d.pos = start - part.base;
    const stop = e.end - part.base;
    while (d.pos < stop) {
      const entry = readEntry(d);
      fn(d, entry.vStart, entry.vLen, entry.offset);
    }
  }

  /**
   * Upper bound of the end of the postings list of the entry just read: the next entry's
   * list offset (lists are written in table order), or the end of the postings section.
   */
  private nextListStart(d: Decbuf): number {
    const save = d.pos;
    const tableEnd = this.src.size - INDEX_TOC_LEN - 4 - this.tableBase;
    // After the table's last entry comes the end of the postings section.
    if (d.base - this.tableBase + d.pos >= tableEnd) return this.postingsEnd;
    // The next entry may lie beyond the bytes at hand (table kept on the source); then the
    // end is unknown and the list's own length field decides.
    let next = -1;
    if (d.pos < d.b.length) {
      try {
        const e = readEntry(d);
        next = e.offset;
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
      }
    }
    d.pos = save;
    return next;
  }

  /** Reads and decodes postings lists, merging nearby ranges into single reads. */
  private async fetchPostingsLists(ranges: PostingsRange[]): Promise<Uint32Array[]> {
    const out: Uint32Array[] = [];
    if (ranges.length === 0) return out;
    ranges.sort((a, b) => a.start - b.start);
    let i = 0;
    while (i < ranges.length) {
      const start = ranges[i].start;
      let end = this.listEnd(ranges[i]);
      let j = i + 1;
      while (j < ranges.length) {
        const nextEnd = this.listEnd(ranges[j]);
        if (ranges[j].start - end > POSTINGS_MAX_GAP || nextEnd - start > POSTINGS_MAX_READ) break;
        end = Math.max(end, nextEnd);
        j++;
      }
      const buf = await this.src.read(start, end - start);
      for (let k = i; k < j; k++) {
        out.push(await this.decodePostingsAt(buf, start, ranges[k].start));
      }
      i = j;
    }
    return out;
  }

  private listEnd(r: PostingsRange): number {
    // A bound that is unknown or implausible becomes a guess; a too-short one is re-read.
    if (r.end > r.start + 8 && r.end <= this.postingsEnd) return r.end;
    return Math.min(r.start + POSTINGS_READ_GUESS, this.postingsEnd);
  }

  /** Decodes the postings list at file offset `off` from `buf` (file offset `base`). */
  private async decodePostingsAt(buf: Uint8Array, base: number, off: number): Promise<Uint32Array> {
    const name = this.src.name;
    if (off < this.toc.postings || off + 12 > this.postingsEnd) {
      throw new CorruptionError(
        name,
        off,
        `postings list offset ${off} lies outside the postings section`,
      );
    }
    let b = buf;
    let at = off - base;
    if (at + 4 > b.length) {
      b = await readExact(this.src, off, 4, "postings list length");
      at = 0;
    }
    const len = ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
    if (len < 4 || len % 4 !== 0 || off + 8 + len > this.postingsEnd) {
      throw new CorruptionError(name, off, `bad postings list length ${len}`);
    }
    if (at + 8 + len > b.length) {
      b = await readExact(this.src, off, 8 + len, "postings list");
      at = 0;
    }
    const want = ((b[at + 4 + len] << 24) | (b[at + 5 + len] << 16) | (b[at + 6 + len] << 8) |
      b[at + 7 + len]) >>> 0;
    const got = crc32c(b, at + 4, at + 4 + len);
    if (want !== got) {
      throw new CorruptionError(
        name,
        off,
        `CRC mismatch in postings list: stored 0x${hex32(want)}, computed 0x${hex32(got)}`,
      );
    }
    const n = ((b[at + 4] << 24) | (b[at + 5] << 16) | (b[at + 6] << 8) | b[at + 7]) >>> 0;
    if (4 + 4 * n !== len) {
      throw new CorruptionError(name, off, `postings list of ${len} bytes claims ${n} entries`);
    }
    return decodeBigEndianRefs(b, at + 8, n);
  }
}

// ---- helpers ----

/** Union of freshly decoded lists; a single list is already sorted, unique and ours. */
function mergeFetched(lists: Uint32Array[]): Uint32Array {
  if (lists.length === 0) return EMPTY_POSTINGS;
  return lists.length === 1 ? lists[0] : mergePostings(lists);
}

/** Whether this host stores a uint32 least significant byte first (x86-64 and ARM do). */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * The `n` big-endian uint32s at `b[at]` (a postings list's refs) in a new array. On a
 * little-endian host the bytes are copied and reversed, which leaves the words in reverse order
 * with their bytes right, and the words reversed back: two native passes. A JavaScript loop over
 * the refs costs 0.4–6 ms on its first lists, until the engine optimizes it, and a store gateway
 * decodes each metric name's list once (10,000 refs in a 1,000,000-series block).
 */
function decodeBigEndianRefs(b: Uint8Array, at: number, n: number): Uint32Array {
  const bytes = b.slice(at, at + 4 * n);
  if (!LITTLE_ENDIAN) return new Uint32Array(bytes.buffer, 0, n);
  bytes.reverse();
  return new Uint32Array(bytes.buffer, 0, n).reverse();
}

/** Position after the uvarint decoded by the last {@link uvarintAt} call. */
let uvarintEnd = 0;

/** Decodes a uvarint at `b[p]` without allocating; sets {@link uvarintEnd}. */
function uvarintAt(b: Uint8Array, p: number): number {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10 && p < b.length; i++) {
    const c = b[p++];
    v += (c & 0x7f) * mul;
    if (c < 0x80) break;
    mul *= 128;
  }
  uvarintEnd = p;
  return v;
}

function hex32(v: number): string {
  return v.toString(16).padStart(8, "0");
}

async function readExact(
  src: ByteSource,
  offset: number,
  length: number,
  what: string,
): Promise<Uint8Array> {
  if (offset < 0 || offset + length > src.size) {
    throw new CorruptionError(
      src.name,
      offset,
      `${what} of ${length} bytes runs past the end of the file (${src.size} bytes): truncated?`,
    );
  }
  const b = await src.read(offset, length);
  if (b.length < length) {
    throw new CorruptionError(src.name, offset, `truncated ${what}: got ${b.length} of ${length}`);
  }
  return b;
}

/**
 * Reads a `BE32 len | body | CRC` section at `offset`, trying `guess` bytes first, and checks
 * its CRC. Returns the bytes from the `len` field through the CRC.
 */
async function readSection(
  src: ByteSource,
  offset: number,
  guess: number,
  what: string,
): Promise<Uint8Array> {
  let b = guess >= 8 && offset + guess <= src.size
    ? await src.read(offset, guess)
    : await readExact(src, offset, 8, what);
  if (b.length < 4) throw new CorruptionError(src.name, offset, `truncated ${what}`);
  const len = new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  const total = 4 + len + 4;
  // Every section ends before the TOC.
  if (offset + total > src.size - INDEX_TOC_LEN) {
    throw new CorruptionError(
      src.name,
      offset,
      `${what} length ${len} runs past the end of the file: truncated or corrupt`,
    );
  }
  if (b.length < total) b = await readExact(src, offset, total, what);
  else if (b.length > total) b = b.subarray(0, total);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const want = dv.getUint32(4 + len);
  const got = crc32c(b, 4, 4 + len);
  if (want !== got) {
    throw new CorruptionError(
      src.name,
      offset,
      `CRC mismatch in ${what}: stored 0x${hex32(want)}, computed 0x${hex32(got)}`,
    );
  }
  return b;
}

function parseTOC(b: Uint8Array, name: string, at: number): IndexTOC {
  const want = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(48);
  const got = crc32c(b, 0, 48);
  if (want !== got) {
    throw new CorruptionError(
      name,
      at,
      `CRC mismatch in TOC: stored 0x${hex32(want)}, computed 0x${hex32(got)} ` +
        `(truncated or damaged index)`,
    );
  }
  const d = new Decbuf(b, name, at);
  return {
    symbols: d.be64(),
    series: d.be64(),
    labelIndices: d.be64(),
    labelIndicesTable: d.be64(),
    postings: d.be64(),
    postingsTable: d.be64(),
  };
}

function checkTOC(toc: IndexTOC, name: string, tocAt: number): void {
  const inFile = (v: number) => v >= INDEX_HEADER_LEN && v <= tocAt;
  if (!inFile(toc.symbols) || !inFile(toc.postingsTable) || !inFile(toc.series)) {
    throw new CorruptionError(
      name,
      tocAt,
      `TOC offsets out of range (symbols ${toc.symbols}, series ${toc.series}, postings table ${toc.postingsTable}, TOC at ${tocAt})`,
    );
  }
  if (toc.postings !== 0 && !inFile(toc.postings)) {
    throw new CorruptionError(name, tocAt, `TOC postings offset ${toc.postings} out of range`);
  }
}

/** Scans the symbol table once, keeping the offset of every 32nd symbol. */
function sampleSymbols(
  raw: Uint8Array,
  name: string,
  base: number,
): { offsets: Uint32Array; count: number } {
  const end = raw.length - 4;
  const d = new Decbuf(raw.subarray(0, end), name, base, 4);
  const count = d.be32();
  const offsets = new Uint32Array(Math.ceil(count / SAMPLE_EVERY));
  for (let i = 0; i < count; i++) {
    if (i % SAMPLE_EVERY === 0) offsets[i / SAMPLE_EVERY] = d.pos;
    d.skip(d.uvarint());
  }
  if (d.remaining !== 0) d.fail(`${d.remaining} bytes after the last of ${count} symbols`);
  return { offsets, count };
}

/** One postings offset table entry: value position in the buffer and the list's file offset. */
interface TableEntry {
  nStart: number;
  nLen: number;
  vStart: number;
  vLen: number;
  offset: number;
}

const ENTRY: TableEntry = { nStart: 0, nLen: 0, vStart: 0, vLen: 0, offset: 0 };

/** Parses one table entry at `d.pos`; returns a shared object (valid until the next call). */
function readEntry(d: Decbuf): TableEntry {
  const at = d.pos;
  const keys = d.uvarint();
  if (keys !== 2) d.fail(`postings offset table entry has ${keys} keys, want 2`, at);
  const nLen = d.uvarint();
  ENTRY.nStart = d.pos;
  ENTRY.nLen = nLen;
  d.skip(nLen);
  const vLen = d.uvarint();
  ENTRY.vStart = d.pos;
  ENTRY.vLen = vLen;
  d.skip(vLen);
  ENTRY.offset = d.uvarint();
  return ENTRY;
}

/**
 * A wanted value as {@link compareTarget} takes it: an ASCII string as it is (its UTF-8 bytes
 * are its char codes), any other encoded. A new label value (another series each time) was
 * encoded by a TextEncoder call per lookup (issue 19).
 */
function tableTarget(v: string): string | Uint8Array {
  for (let i = 0; i < v.length; i++) {
    if (v.charCodeAt(i) >= 0x80) return encodeUtf8(v);
  }
  return v;
}

/** {@link compareRaw} of `b[start, start+len)` with a target of {@link tableTarget}. */
function compareTarget(b: Uint8Array, start: number, len: number, t: string | Uint8Array): number {
  if (typeof t !== "string") return compareRaw(b, start, len, t);
  // a byte ≥ 0x80 in `b` is greater than any ASCII char, as in Go's byte order
  const n = Math.min(len, t.length);
  for (let i = 0; i < n; i++) {
    const x = b[start + i];
    const y = t.charCodeAt(i);
    if (x !== y) return x - y;
  }
  return len - t.length;
}

/** Byte-wise compare of `b[start, start+len)` with `t` (Go string order). */
function compareRaw(b: Uint8Array, start: number, len: number, t: Uint8Array): number {
  const n = Math.min(len, t.length);
  for (let i = 0; i < n; i++) {
    const x = b[start + i];
    const y = t[i];
    if (x !== y) return x - y;
  }
  return len - t.length;
}

function compareRanges(b: Uint8Array, s1: number, l1: number, s2: number, l2: number): number {
  const n = Math.min(l1, l2);
  for (let i = 0; i < n; i++) {
    const x = b[s1 + i];
    const y = b[s2 + i];
    if (x !== y) return x - y;
  }
  return l1 - l2;
}

/**
 * Scans the whole (CRC-checked) postings offset table once and keeps, per label name, every
 * 32nd value with its table offset, the last value, the value count and where the name's
 * entries end. Checks the entries are sorted (binary search over the samples relies on it).
 */
function samplePostingsTable(
  table: Uint8Array,
  file: string,
  base: number,
): { names: Map<string, NameEntries>; sortedNames: string[] } {
  const d = new Decbuf(table.subarray(0, table.length - 4), file, base, 4);
  const count = d.be32();
  const names = new Map<string, NameEntries>();
  const sortedNames: string[] = [];
  let cur: NameEntries | null = null;
  let curValues: string[] = [];
  let curOffsets: number[] = [];
  let prevNStart = -1;
  let prevNLen = 0;
  let prevVStart = 0;
  let prevVLen = 0;
  let idx = 0;
  const finish = (end: number) => {
    if (cur === null) return;
    cur.sampleValues = curValues;
    cur.sampleOffsets = Uint32Array.from(curOffsets);
    cur.count = idx;
    cur.last = decodeUtf8(table.subarray(prevVStart, prevVStart + prevVLen));
    cur.end = end;
  };
  for (let i = 0; i < count; i++) {
    const at = d.pos;
    const e = readEntry(d);
    const sameName = prevNStart >= 0 &&
      compareRanges(table, e.nStart, e.nLen, prevNStart, prevNLen) === 0;
    if (!sameName) {
      if (prevNStart >= 0 && compareRanges(table, e.nStart, e.nLen, prevNStart, prevNLen) < 0) {
        d.fail("postings offset table is not sorted by label name", at);
      }
      finish(at);
      const n = decodeUtf8(table.subarray(e.nStart, e.nStart + e.nLen));
      if (names.has(n)) d.fail(`label name ${JSON.stringify(n)} appears twice`, at);
      cur = { sampleValues: [], sampleOffsets: EMPTY_POSTINGS, count: 0, last: "", end: 0 };
      names.set(n, cur);
      if (n !== "") sortedNames.push(n);
      curValues = [];
      curOffsets = [];
      idx = 0;
    } else if (compareRanges(table, e.vStart, e.vLen, prevVStart, prevVLen) <= 0) {
      d.fail("postings offset table values are not strictly sorted", at);
    }
    if (idx % SAMPLE_EVERY === 0) {
      curValues.push(decodeUtf8(table.subarray(e.vStart, e.vStart + e.vLen)));
      curOffsets.push(at);
    }
    idx++;
    prevNStart = e.nStart;
    prevNLen = e.nLen;
    prevVStart = e.vStart;
    prevVLen = e.vLen;
  }
  finish(d.pos);
  if (d.remaining !== 0) d.fail(`${d.remaining} bytes after the last of ${count} entries`);
  return { names, sortedNames };
}

/**
 * v1 tables are not sorted: re-encode the entries sorted by (name, value) so the v2 code
 * paths (sampling, binary search) apply. The result has the same framing and a valid CRC.
 */
function sortV1Table(table: Uint8Array, file: string, base: number): Uint8Array {
  const d = new Decbuf(table.subarray(0, table.length - 4), file, base, 4);
  const count = d.be32();
  const entries: { name: Uint8Array; value: Uint8Array; offset: number }[] = [];
  for (let i = 0; i < count; i++) {
    const e = readEntry(d);
    entries.push({
      name: table.subarray(e.nStart, e.nStart + e.nLen),
      value: table.subarray(e.vStart, e.vStart + e.vLen),
      offset: e.offset,
    });
  }
  const cmp = (a: Uint8Array, b: Uint8Array) => compareRaw(a, 0, a.length, b);
  entries.sort((a, b) => cmp(a.name, b.name) || cmp(a.value, b.value));
  const parts: number[] = [];
  const putUvarint = (v: number) => {
    while (v >= 0x80) {
      parts.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    parts.push(v);
  };
  for (const e of entries) {
    putUvarint(2);
    putUvarint(e.name.length);
    for (const x of e.name) parts.push(x);
    putUvarint(e.value.length);
    for (const x of e.value) parts.push(x);
    putUvarint(e.offset);
  }
  const len = 4 + parts.length;
  const out = new Uint8Array(4 + len + 4);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, len);
  dv.setUint32(4, count);
  out.set(parts, 8);
  dv.setUint32(4 + len, crc32c(out, 4, 4 + len));
  return out;
}
