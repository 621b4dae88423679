// The store gateway's chunk reads keep only the chunk records of a merged range (issue 19): the
// range streams through in pieces (`Bucket.streamRange`), each wanted record is checked and
// copied into a per-batch arena, and the gaps between records are never held, as Thanos reads a
// range through a small buffer.

import {
  checkChunkRecord,
  type ChunkRecord,
  chunkRecordSizeAt,
  type ChunkRecordSpan,
  parseChunkRecord,
} from "../tsdb/chunks/segment.ts";

/** First block of a {@link ChunkArena}; later blocks double up to {@link ARENA_MAX_BLOCK}. */
const ARENA_FIRST_BLOCK = 4096;
const ARENA_MAX_BLOCK = 1 << 20;

/**
 * Chunk bytes of one batch copied into a few shared blocks and handed out as views: an array
 * with its own buffer per chunk costs about a microsecond in Deno, a view a fraction of that.
 * A block is never written again where a view was handed out, so views stay valid for good.
 *
 * Given the number of records the batch will copy in (`records`), a new block is sized for the
 * records still to come at the average size of those copied so far (at most
 * {@link ARENA_MAX_BLOCK}): 170 records of 550 bytes took five blocks doubling from 4 KiB (124
 * KiB, each zeroed outside the V8 heap) and now take two of 4 and 90 KiB (issue 19).
 */
export class ChunkArena {
  private block = new Uint8Array(0);
  private used = 0;
  private next = ARENA_FIRST_BLOCK;
  /** Records and bytes copied in so far. */
  private copiedRecords = 0;
  private copiedBytes = 0;

  constructor(private readonly records = 0) {}

  /** A copy of `src` owned by the caller (a view of an arena block no one else writes). */
  copy(src: Uint8Array): Uint8Array {
    const { block, at } = this.place(src, 1);
    return block.subarray(at, at + src.length);
  }

  /**
   * Copies `src` (the bytes of `records` chunk records) into the arena; returns the block and
   * where in it the copy starts.
   */
  place(src: Uint8Array, records: number): { block: Uint8Array; at: number } {
    const at = this.reserve(src.length);
    this.block.set(src, at);
    this.copiedRecords += records;
    this.copiedBytes += src.length;
    return { block: this.block, at };
  }

  private reserve(n: number): number {
    if (n > this.block.length - this.used) {
      const left = this.records - this.copiedRecords;
      const expected = this.copiedRecords > 0 && left > 0
        ? Math.min(ARENA_MAX_BLOCK, Math.ceil(this.copiedBytes / this.copiedRecords * left))
        : 0;
      this.block = new Uint8Array(Math.max(n, this.next, expected));
      this.used = 0;
      this.next = Math.min(ARENA_MAX_BLOCK, this.next * 2);
    }
    const at = this.used;
    this.used = at + n;
    return at;
  }
}

const EMPTY = new Uint8Array(0);
/**
 * The records checked in the piece being cut, not copied yet: index, data start, data end and
 * encoding, four numbers each. One array for all cutters, grown as needed: a piece is cut and
 * copied out in one synchronous call, and an array per cutter grown from small was a twentieth
 * of the store's garbage on a 30-day query.
 */
let inPiece = new Float64Array(1024);
/** Records at most this far apart (CRC, next length field) are copied out together. */
const RUN_GAP = 16;

/**
 * Cuts the chunk records at `offsets` (ascending offsets into `object`) out of the range from
 * `start`, fed a piece at a time in order ({@link push}), each checked as `parseChunkRecord`
 * checks it and copied into `arena`. A record split between pieces is joined in a small carry
 * buffer of this cutter. {@link finish} returns what the whole range at once would have given.
 */
export class ChunkRangeCutter {
  /** Record data by index of `offsets`; null until cut. */
  private readonly datas: (Uint8Array | null)[];
  /** Record encodings by index of `offsets` (no object per record). */
  private readonly encodings: Uint8Array;
  /** Index of the first offset not cut yet. */
  private i = 0;
  /** Offset in the object of the next byte to arrive. */
  private pos: number;
  /** Bytes from `carryStart` (the first uncut record) on, when that record spans pieces. */
  private carry = EMPTY;
  private carryLen = 0;
  private carryStart = 0;
  /** The first error a record raised; later pieces are ignored. */
  private error: unknown;
  private readonly span: ChunkRecordSpan = { dataAt: 0, end: 0 };

  constructor(
    private readonly object: string,
    start: number,
    private readonly offsets: ArrayLike<number>,
    /** Where kept bytes are copied; null: pieces are the caller's for good, kept as views. */
    private readonly arena: ChunkArena | null,
  ) {
    this.pos = start;
    this.datas = new Array(offsets.length).fill(null);
    this.encodings = new Uint8Array(offsets.length);
  }

  /** Takes the next piece of the range (copies what it keeps). Never throws. */
  push(piece: Uint8Array): void {
    const pStart = this.pos;
    const pEnd = pStart + piece.length;
    this.pos = pEnd;
    if (this.error !== undefined) return;
    try {
      this.cut(piece, pStart, pEnd);
    } catch (e) {
      this.error = e;
    }
  }

  private cut(piece: Uint8Array, pStart: number, pEnd: number): void {
    const offsets = this.offsets;
    /** Numbers of {@link inPiece} filled by this piece. */
    let n = 0;
    /** Bytes of `piece` already appended to the carry. */
    let appended = 0;
    while (this.i < offsets.length) {
      const off = offsets[this.i];
      if (this.carryLen > 0 && off >= pStart) this.carryLen = 0; // the piece holds it whole
      if (this.carryLen > 0) {
        // the record began in an earlier piece: join it in the carry
        const carry = this.carry.subarray(0, this.carryLen);
        const at = off - this.carryStart;
        const rec = parseChunkRecord(carry, at, false, this.object, off);
        if (rec !== null) {
          this.keep(rec);
          continue;
        }
        if (appended === piece.length) return;
        const size = chunkRecordSizeAt(carry, at, this.object, off);
        const want = size === null ? 16 : at + size - this.carryLen;
        const take = Math.min(piece.length - appended, Math.max(1, want));
        this.append(piece.subarray(appended, appended + take));
        appended += take;
        continue;
      }
      if (off >= pEnd) break;
      const span = this.span;
      if (!checkChunkRecord(piece, off - pStart, false, this.object, off, span)) {
        // runs past this piece: keep its start for the next one
        this.carryStart = off;
        this.carryLen = 0;
        this.append(piece.subarray(off - pStart));
        break;
      }
      if (n === inPiece.length) {
        const grown = new Float64Array(inPiece.length * 2);
        grown.set(inPiece);
        inPiece = grown;
      }
      inPiece[n] = this.i++;
      inPiece[n + 1] = span.dataAt;
      inPiece[n + 2] = span.end;
      inPiece[n + 3] = piece[span.dataAt - 1];
      n += 4;
    }
    if (n > 0) this.copyOut(piece, n);
  }

  /**
   * Copies the `n / 4` records cut from `piece` (in {@link inPiece}, still views of the piece)
   * into the arena: records close together in one copy each run, since a copy per record cost a
   * fifth more than the whole read of a dense range.
   */
  private copyOut(piece: Uint8Array, n: number): void {
    const q = inPiece;
    let a = 0;
    while (a < n) {
      const from = q[a + 1];
      let to = q[a + 2];
      let b = a + 4;
      for (; b < n; b += 4) {
        const s = q[b + 1];
        if (s < to || s - to > RUN_GAP) break;
        to = q[b + 2];
      }
      const { block, at } = this.arena === null
        ? { block: piece, at: from }
        : this.arena.place(piece.subarray(from, to), (b - a) / 4);
      for (let k = a; k < b; k += 4) {
        const s = q[k + 1] - from + at;
        this.encodings[q[k]] = q[k + 3];
        this.datas[q[k]] = block.subarray(s, s + q[k + 2] - q[k + 1]);
      }
      a = b;
    }
  }

  private keep(rec: ChunkRecord): void {
    this.keepAt(this.i++, rec);
  }

  /** Keeps the parse's own record, its data now a copy (the carry is reused). */
  private keepAt(j: number, rec: ChunkRecord): void {
    this.datas[j] = this.arena === null ? rec.data.slice() : this.arena.copy(rec.data);
    this.encodings[j] = rec.encoding;
  }

  private append(bytes: Uint8Array): void {
    const need = this.carryLen + bytes.length;
    if (need > this.carry.length) {
      const grown = new Uint8Array(Math.max(need, this.carry.length * 2, 256));
      grown.set(this.carry.subarray(0, this.carryLen));
      this.carry = grown;
    }
    this.carry.set(bytes, this.carryLen);
    this.carryLen = need;
  }

  /**
   * After the last piece: cuts what is left, so that {@link data} and {@link encoding} give each
   * offset's record, data null where the range ended before the record did and the object goes
   * on (`eof` false: read it on its own). Throws the CorruptionError of the first bad record, or
   * of a record cut short by the end of the object (`eof`).
   */
  finish(eof: boolean): void {
    if (this.error !== undefined) throw this.error;
    const carry = this.carry.subarray(0, this.carryLen);
    for (let j = this.i; j < this.offsets.length; j++) {
      const off = this.offsets[j];
      // an uncut record starts in the carry, which then holds the range's rest, or at its end
      const rec = this.carryLen > 0
        ? parseChunkRecord(carry, off - this.carryStart, eof, this.object, off)
        : parseChunkRecord(EMPTY, 0, eof, this.object, off);
      if (rec !== null) this.keepAt(j, rec);
    }
  }

  /** The data of the record at `offsets[j]` after {@link finish}; null: not in the range. */
  data(j: number): Uint8Array | null {
    return this.datas[j];
  }

  /** The encoding of the record at `offsets[j]` whose {@link data} is not null. */
  encoding(j: number): number {
    return this.encodings[j];
  }
}
