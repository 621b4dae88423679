// Chunk records cut out of a range fed in pieces: the same records, checks and errors as parsing
// the whole range at once (`parseChunkRecord`), whatever the piece boundaries, and copies that
// do not change when the provider reuses its buffer.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { ChunkArena, ChunkRangeCutter } from "../../store/chunk_cutter.ts";
import { parseChunkRecord } from "../../tsdb/chunks/segment.ts";
import { crc32c } from "../../tsdb/crc32c.ts";
import { CorruptionError } from "../../tsdb/errors.ts";

const OBJECT = "01HZZZZZZZZZZZZZZZZZZZZZZZ/chunks/000001";

/** One chunk record: uvarint length, encoding byte, data, big-endian CRC32C of both. */
function record(encoding: number, data: Uint8Array): Uint8Array {
  const head: number[] = [];
  let v = data.length;
  while (v >= 0x80) {
    head.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  head.push(v);
  const out = new Uint8Array(head.length + 1 + data.length + 4);
  out.set(head, 0);
  out[head.length] = encoding;
  out.set(data, head.length + 1);
  const crc = crc32c(out, head.length, head.length + 1 + data.length);
  new DataView(out.buffer).setUint32(head.length + 1 + data.length, crc);
  return out;
}

/** A segment-like buffer: 8 header bytes, records of the given sizes with gaps between some. */
function segment(sizes: number[]): { buf: Uint8Array; offsets: number[] } {
  const parts: Uint8Array[] = [new Uint8Array(8).fill(0xee)];
  const offsets: number[] = [];
  let at = 8;
  sizes.forEach((n, i) => {
    const data = new Uint8Array(n);
    for (let k = 0; k < n; k++) data[k] = (i * 131 + k * 7) & 0xff;
    const r = record(1 + (i % 2), data);
    offsets.push(at);
    parts.push(r);
    at += r.length;
    if (i % 3 === 2) {
      // a gap the cutter must skip (another series' chunks)
      parts.push(new Uint8Array(37).fill(0xab));
      at += 37;
    }
  });
  const buf = new Uint8Array(at);
  let o = 0;
  for (const p of parts) {
    buf.set(p, o);
    o += p.length;
  }
  return { buf, offsets };
}

/** Feeds `buf[start..]` in pieces of `size` through one reused buffer; returns the records. */
function cutInPieces(
  buf: Uint8Array,
  start: number,
  offsets: number[],
  size: number,
  eof: boolean,
) {
  const cutter = new ChunkRangeCutter(OBJECT, start, offsets, new ChunkArena());
  const scratch = new Uint8Array(size);
  for (let p = start; p < buf.length; p += size) {
    const n = Math.min(size, buf.length - p);
    scratch.set(buf.subarray(p, p + n));
    cutter.push(scratch.subarray(0, n));
    scratch.fill(0x5a); // the provider reuses its buffer
  }
  return finished(cutter, eof, offsets.length);
}

/** The `n` records a cutter holds after its last piece, in `offsets` order (null: not cut). */
function finished(cutter: ChunkRangeCutter, eof: boolean, n: number) {
  cutter.finish(eof);
  const out: ({ encoding: number; data: Uint8Array } | null)[] = [];
  for (let j = 0; j < n; j++) {
    const data = cutter.data(j);
    out.push(data === null ? null : { encoding: cutter.encoding(j), data });
  }
  return out;
}

/** What parsing the whole range at once gives (null or the error). */
function whole(buf: Uint8Array, start: number, offsets: number[], eof: boolean) {
  return offsets.map((off) => parseChunkRecord(buf.subarray(start), off - start, eof, OBJECT, off));
}

function plain(recs: ({ encoding: number; data: Uint8Array } | null)[]) {
  // a short digest: a failure's diff stays small
  return recs.map((r) =>
    r === null ? null : `${r.encoding}/${r.data.length}/${crc32c(r.data).toString(16)}`
  );
}

Deno.test("records cut from pieces equal the whole-range parse at every piece size", () => {
  const { buf, offsets } = segment([1, 120, 3, 700, 0, 129, 16, 2000, 5, 300, 128, 64]);
  const want = plain(whole(buf, 8, offsets, true));
  for (const size of [1, 2, 3, 5, 7, 16, 100, 257, 1000, 4096, buf.length]) {
    assertEquals(plain(cutInPieces(buf, 8, offsets, size, true)), want, `pieces of ${size}`);
  }
});

Deno.test("a sparse subset of records, starting mid-range, is cut the same", () => {
  const { buf, offsets } = segment([50, 900, 12, 3000, 40, 1, 77, 600]);
  const some = [offsets[1], offsets[3], offsets[4], offsets[7]];
  const start = offsets[1] - 3; // the range starts in a gap before the first record
  const want = plain(whole(buf, start, some, true));
  for (const size of [1, 4, 33, 512, 5000]) {
    assertEquals(plain(cutInPieces(buf, start, some, size, true)), want, `pieces of ${size}`);
  }
});

Deno.test("kept chunk bytes are copies: reusing or clearing the pieces changes nothing", () => {
  const { buf, offsets } = segment([10, 300, 20]);
  const cutter = new ChunkRangeCutter(OBJECT, 0, offsets, new ChunkArena());
  const piece = buf.slice();
  cutter.push(piece);
  piece.fill(0);
  const got = finished(cutter, true, offsets.length);
  assertEquals(plain(got), plain(whole(buf, 0, offsets, true)));
  for (const r of got) assert(r!.data.buffer !== piece.buffer);
});

Deno.test("a record running past a range that is not the object's end is left for an exact read", () => {
  const { buf, offsets } = segment([100, 200, 5000]);
  // the range ends inside the last record, and the object goes on (eof false)
  const cut = buf.subarray(0, offsets[2] + 700);
  for (const size of [64, 1000, cut.length]) {
    const got = cutInPieces(cut, 0, offsets, size, false);
    assertEquals(plain(got.slice(0, 2)), plain(whole(buf, 0, offsets.slice(0, 2), true)));
    assertEquals(got[2], null, `pieces of ${size}`);
  }
  // the header itself cut short, and a record starting past the range's end: also exact reads
  const short = buf.subarray(0, offsets[2] + 1);
  assertEquals(cutInPieces(short, 0, offsets, 50, false)[2], null);
  assertEquals(cutInPieces(buf.subarray(0, offsets[2]), 0, offsets, 50, false)[2], null);
});

Deno.test("a record cut short by the object's end is corruption, as in the whole-range parse", () => {
  const { buf, offsets } = segment([100, 200, 5000]);
  const short = buf.subarray(0, offsets[2] + 700);
  const msg = (f: () => unknown) => assertThrows(f, CorruptionError).message;
  const want = msg(() => whole(short, 0, offsets, true));
  for (const size of [64, 1000, short.length]) {
    assertEquals(msg(() => cutInPieces(short, 0, offsets, size, true)), want);
  }
  // nothing at all where a record should start
  const atEnd = buf.subarray(0, offsets[2]);
  assertEquals(
    msg(() => cutInPieces(atEnd, 0, offsets, 64, true)),
    msg(() => whole(atEnd, 0, offsets, true)),
  );
});

Deno.test("a checksum mismatch fails at finish, naming the object and offset, never in push", () => {
  const { buf, offsets } = segment([100, 400, 30]);
  const bad = buf.slice();
  bad[offsets[1] + 50] ^= 0xff;
  const want = assertThrows(() => whole(bad, 0, offsets, true), CorruptionError).message;
  assert(want.includes(OBJECT) && want.includes(String(offsets[1])), want);
  for (const size of [7, 128, bad.length]) {
    const cutter = new ChunkRangeCutter(OBJECT, 0, offsets, new ChunkArena());
    for (let p = 0; p < bad.length; p += size) cutter.push(bad.subarray(p, p + size));
    assertEquals(
      assertThrows(() => finished(cutter, true, offsets.length), CorruptionError).message,
      want,
    );
  }
});

Deno.test("one arena serves many ranges; chunks larger than its blocks get their own", () => {
  const arena = new ChunkArena();
  const a = segment([3000, 3000, 9000]);
  const b = segment([10, 20, 30]);
  const ca = new ChunkRangeCutter(OBJECT, 0, a.offsets, arena);
  const cb = new ChunkRangeCutter(OBJECT, 0, b.offsets, arena);
  // interleaved pieces of two ranges, as concurrent range reads deliver them
  for (let p = 0; p < a.buf.length; p += 500) {
    ca.push(a.buf.subarray(p, p + 500));
    if (p < b.buf.length) cb.push(b.buf.subarray(p, p + 500));
  }
  assertEquals(
    plain(finished(ca, true, a.offsets.length)),
    plain(whole(a.buf, 0, a.offsets, true)),
  );
  assertEquals(
    plain(finished(cb, true, b.offsets.length)),
    plain(whole(b.buf, 0, b.offsets, true)),
  );
});

Deno.test("an arena told the batch's record count sizes its next block for the records left", () => {
  const sizes = new Array(170).fill(550);
  const { buf, offsets } = segment(sizes);
  const blocks = (arena: ChunkArena) => {
    const cutter = new ChunkRangeCutter(OBJECT, 0, offsets, arena);
    for (let p = 0; p < buf.length; p += 4096) cutter.push(buf.subarray(p, p + 4096));
    const got = finished(cutter, true, offsets.length);
    assertEquals(plain(got), plain(whole(buf, 0, offsets, true)));
    return new Set(got.map((r) => r!.data.buffer)).size;
  };
  // a first block of 4 KiB, then one for the other 163 records (doubling took five)
  assertEquals(blocks(new ChunkArena(offsets.length)), 2);
  assertEquals(blocks(new ChunkArena()), 5);
});
