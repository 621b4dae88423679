// The WAL in Prometheus 2.42's on-disk format: record codecs, page/fragment layout, snappy,
// torn-tail repair, corruption errors, checkpoints and truncation.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { Logger } from "../../logging/log.ts";
import { crc32c } from "../../tsdb/crc32c.ts";
import { float64Words, isStaleAt, setStaleAt } from "../../tsdb/value.ts";
import {
  decodeSamples,
  decodeSeries,
  decodeTombstones,
  encodeSamples,
  encodeSeries,
  encodeTombstones,
  RecordType,
  recordType,
  type RefSeries,
  type RefTombstone,
  type SamplesBatch,
} from "../../tsdb/wal/records.ts";
import {
  PAGE_SIZE,
  readRecords,
  repairWal,
  segmentName,
  Wal,
  WalCorruptionError,
} from "../../tsdb/wal/wal.ts";
import { checkpoint, checkpointName, lastCheckpoint } from "../../tsdb/wal/checkpoint.ts";

const HDR = 7;

function batch(rows: [number, number, number][]): SamplesBatch {
  const n = rows.length;
  const b = { n, refs: new Float64Array(n), ts: new Float64Array(n), vs: new Float64Array(n) };
  rows.forEach(([r, t, v], i) => {
    b.refs[i] = r;
    b.ts[i] = t;
    b.vs[i] = v;
  });
  return b;
}

function wordsOf(vs: Float64Array): number[] {
  return Array.from(float64Words(vs));
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const r of it) out.push(r);
  return out;
}

/** Deterministic pseudo-random bytes (incompressible). */
function noise(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    b[i] = s & 0xff;
  }
  return b;
}

function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger("debug", "logfmt", {}, (l) => lines.push(l)), lines };
}

async function expectCorruption(p: Promise<unknown>): Promise<WalCorruptionError> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof WalCorruptionError, `expected WalCorruptionError, got ${e}`);
    return e;
  }
  throw new Error("expected a WalCorruptionError");
}

// ---------------------------------------------------------------------------------------------
// Record codecs

Deno.test("wal records: series round trip and byte layout", () => {
  const series: RefSeries[] = [
    { ref: 1, labels: ["__name__", "up", "job", "node"] },
    { ref: 2 ** 53 - 1, labels: [] },
    { ref: 77, labels: ["a", "x".repeat(300), "ü", "日本語🚀", "long", "é".repeat(50)] },
  ];
  const rec = encodeSeries(series);
  assertEquals(recordType(rec), RecordType.Series);
  assertEquals(decodeSeries(rec), series);
  assertEquals(decodeSeries(rec), series, "decoded again (interned strings)");
  // hand-encoded first series: type, be64 ref, uvarint count, (uvarint len, bytes)…
  const want = [1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 8, ...new TextEncoder().encode("__name__"), 2];
  assertEquals(Array.from(rec.subarray(0, want.length)), want);
  assertEquals(decodeSeries(encodeSeries([])), []);
});

Deno.test("wal records: samples round trip keeps stale NaN bits, negative deltas, big refs", () => {
  const rows: [number, number, number][] = [
    [1000, 1_700_000_000_000, 1.5],
    [5, 1_699_999_999_000, -2], // negative ref and ts deltas
    [2 ** 53 - 1, 1_700_000_000_001, 0],
    [1000, -5, Infinity], // negative timestamp
    [3, 1_700_000_000_000 + 2 ** 40, -Infinity],
    [4, 0, NaN],
    [6, 1, -0],
    [7, 2, 5e-324],
    [8, 3, 0], // becomes the stale marker below
  ];
  const b = batch(rows);
  setStaleAt(b.vs, 8);
  const rec = encodeSamples(b);
  assertEquals(recordType(rec), RecordType.Samples);
  const d = decodeSamples(rec);
  assertEquals(d.n, rows.length);
  assertEquals(Array.from(d.refs), Array.from(b.refs));
  assertEquals(Array.from(d.ts), Array.from(b.ts));
  assertEquals(wordsOf(d.vs), wordsOf(b.vs), "value bits");
  assert(isStaleAt(d.vs, 8), "stale marker survives");
  assert(!isStaleAt(d.vs, 5), "ordinary NaN is not stale");
  assert(Object.is(d.vs[6], -0));
  assertEquals(d.refs.length, d.n);

  // byte layout of a two-sample record, by hand from the format doc
  const r2 = encodeSamples(batch([[10, 1000, 1], [9, 1003, 2]]));
  const want = [
    2,
    ...[0, 0, 0, 0, 0, 0, 0, 10],
    ...[0, 0, 0, 0, 0, 0, 0x03, 0xe8],
    0,
    0,
    ...[0x3f, 0xf0, 0, 0, 0, 0, 0, 0],
    1, // ref delta -1 zig-zag
    6, // ts delta +3 zig-zag
    ...[0x40, 0, 0, 0, 0, 0, 0, 0],
  ];
  assertEquals(Array.from(r2), want);

  // a batch whose arrays are longer than n encodes only n samples
  const long = batch([[1, 1, 1], [2, 2, 2], [3, 3, 3]]);
  assertEquals(decodeSamples(encodeSamples({ ...long, n: 2 })).n, 2);
  const empty = decodeSamples(encodeSamples({ ...long, n: 0 }));
  assertEquals(empty.n, 0);
});

Deno.test("wal records: tombstones round trip incl. int64 bounds", () => {
  const t: RefTombstone[] = [
    { ref: 1, intervals: [{ mint: 0, maxt: 100 }, { mint: 200, maxt: 300 }] },
    { ref: 2 ** 52, intervals: [{ mint: -9223372036854775808, maxt: 9223372036854775807 }] },
    { ref: 3, intervals: [{ mint: -1_700_000_000_000, maxt: -5 }] },
  ];
  const rec = encodeTombstones(t);
  assertEquals(recordType(rec), RecordType.Tombstones);
  assertEquals(decodeTombstones(rec), t);
  // one entry per interval: MinInt64 zig-zags to 2^64-1 (ten bytes)
  const one = encodeTombstones([{ ref: 9, intervals: [{ mint: -9223372036854775808, maxt: 0 }] }]);
  assertEquals(Array.from(one.subarray(9)), [...new Array(9).fill(0xff), 0x01, 0]);
});

Deno.test("wal records: unknown types and corrupt records", () => {
  assertEquals(recordType(new Uint8Array([])), 0);
  assertEquals(recordType(new Uint8Array([4, 1, 2])), 0); // exemplars: skipped
  assertEquals(recordType(new Uint8Array([9])), 0);
  const s = encodeSamples(batch([[1, 2, 3], [4, 5, 6]]));
  for (const cut of [3, 16, 18, 19, s.length - 1]) {
    let err: unknown;
    try {
      decodeSamples(s.subarray(0, cut));
    } catch (e) {
      err = e;
    }
    assert(err instanceof WalCorruptionError, `cut ${cut}: ${err}`);
  }
  const ser = encodeSeries([{ ref: 1, labels: ["a", "b"] }]);
  let err: unknown;
  try {
    decodeSeries(ser.subarray(0, ser.length - 1));
  } catch (e) {
    err = e;
  }
  assert(err instanceof WalCorruptionError);
  try {
    decodeSeries(s);
    throw new Error("type mismatch not detected");
  } catch (e) {
    assert(e instanceof WalCorruptionError);
  }
});

// ---------------------------------------------------------------------------------------------
// Segments, pages, fragments

/** Parses the fragment headers of one segment file: [offset, type byte, length]. */
function fragments(seg: Uint8Array): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let page = 0; page < seg.length; page += PAGE_SIZE) {
    let p = 0;
    while (p + HDR <= PAGE_SIZE && page + p < seg.length && seg[page + p] !== 0) {
      const at = page + p;
      const len = (seg[at + 1] << 8) | seg[at + 2];
      const crc = new DataView(seg.buffer, seg.byteOffset).getUint32(at + 3);
      assertEquals(crc32c(seg, at + HDR, at + HDR + len), crc, `crc at ${at}`);
      out.push([at, seg[at], len]);
      p += HDR + len;
    }
  }
  return out;
}

Deno.test("wal: page and fragment boundaries", async () => {
  await using dirs = new TempDirs();
  const dir = `${await dirs.make()}/wal`;
  const P = PAGE_SIZE;
  const w = await Wal.open(dir, { segmentSize: 8 * P });
  const recs = [
    new Uint8Array(0), // 0 B: one full fragment of length 0
    noise(P - 2 * HDR, 1), // fills the rest of page 0 exactly
    noise(P - HDR - 3, 2), // leaves 3 bytes in page 1: padded
    noise(2 * P + 100, 3), // first, middle, last over pages 2..4
    noise(4 * P, 4), // does not fit in the rest of segment 0 → segment 1
    noise(9 * P, 5), // larger than a segment: a segment of its own
    noise(20, 6), // segment 2 is over size: segment 3
  ];
  await w.log(recs[0], recs[1]);
  await w.log(recs[2]);
  await w.log(recs[3]);
  assertEquals(w.currentSegment, 0);
  await w.log(recs[4]);
  assertEquals(w.currentSegment, 1);
  await w.log(recs[5], recs[6]);
  assertEquals(w.currentSegment, 3);
  await w.close();

  const got = await collect(readRecords(dir));
  assertEquals(got.length, recs.length);
  got.forEach((r, i) => assertEquals(r, recs[i], `record ${i}`));

  const s0 = await Deno.readFile(segmentName(dir, 0));
  assertEquals(fragments(s0), [
    [0, 1, 0],
    [HDR, 1, P - 2 * HDR],
    [P, 1, P - HDR - 3],
    [2 * P, 2, P - HDR],
    [3 * P, 3, P - HDR],
    [4 * P, 4, 2 * P + 100 - 2 * (P - HDR)],
  ]);
  assertEquals(Array.from(s0.subarray(2 * P - 3, 2 * P)), [0, 0, 0], "padding");
  assertEquals(s0.length, 5 * P, "a segment left for the next one ends page-aligned");
  const s1 = await Deno.readFile(segmentName(dir, 1));
  assertEquals(fragments(s1), [
    [0, 2, P - HDR],
    [P, 3, P - HDR],
    [2 * P, 3, P - HDR],
    [3 * P, 3, P - HDR],
    [4 * P, 4, 4 * HDR],
  ]);
  const f2 = fragments(await Deno.readFile(segmentName(dir, 2)));
  assertEquals(f2.map((f) => f[1]), [2, 3, 3, 3, 3, 3, 3, 3, 3, 4]);
  assertEquals(f2[9][2], 9 * HDR);
  const s3 = await Deno.readFile(segmentName(dir, 3));
  assertEquals(fragments(s3), [[0, 1, 20]]);
  assertEquals(s3.length, P, "close pads the last page");
});

Deno.test("wal: records crossing the segment size move to the next segment", async () => {
  await using dirs = new TempDirs();
  const dir = await dirs.make();
  const w = await Wal.open(dir, { segmentSize: 2 * PAGE_SIZE });
  const recs: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) recs.push(noise(3000 + i * 997, i + 10));
  for (const r of recs) await w.log(r);
  const range = await w.segmentRange();
  await w.close();
  assert(range.last >= 10, `several segments: ${JSON.stringify(range)}`);
  assertEquals(range.first, 0);
  const perSegment: Uint8Array[] = [];
  for (let s = range.first; s <= range.last; s++) {
    const b = await Deno.readFile(segmentName(dir, s));
    assert(b.length <= 2 * PAGE_SIZE, `segment ${s} within size`);
    const f = fragments(b);
    assert(f.length > 0 && (f[0][1] === 1 || f[0][1] === 2), `segment ${s} starts a record`);
    const t = f[f.length - 1][1];
    assert(t === 1 || t === 4, `segment ${s} ends a record`);
    perSegment.push(...await collect(readRecords(dir, s, s)));
  }
  assertEquals(perSegment, recs);
  assertEquals(await collect(readRecords(dir)), recs);
  const before3 = (await collect(readRecords(dir, 0, 2))).length;
  assertEquals(await collect(readRecords(dir, 3)), recs.slice(before3));
});

Deno.test("wal: snappy compression on and off", async () => {
  await using dirs = new TempDirs();
  const base = await dirs.make();
  const recs: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) {
    const b = new Float64Array(1000);
    for (let j = 0; j < b.length; j++) b[j] = i;
    const rb = { n: 1000, refs: b.map((_, j) => j + 1), ts: b.map((_, j) => 1000 * j), vs: b };
    recs.push(encodeSamples(rb));
  }
  recs.push(noise(5000, 7)); // incompressible: stored as is even with compression on
  recs.push(new Uint8Array(0));
  const sizes: number[] = [];
  for (const compress of [false, true]) {
    const dir = `${base}/${compress}`;
    const w = await Wal.open(dir, { compress });
    await w.log(...recs);
    await w.close();
    assertEquals(await collect(readRecords(dir)), recs);
    const seg = await Deno.readFile(segmentName(dir, 0));
    sizes.push(seg.length);
    const types = fragments(seg).map((f) => f[1]);
    assertEquals(types[0] & 8, compress ? 8 : 0, "snappy flag of the first record");
    assertEquals(types[types.length - 1] & 8, 0, "empty record never compressed");
  }
  assert(sizes[1] < sizes[0] * 0.7, `compressed ${sizes[1]} vs ${sizes[0]}`);
  // a WAL may mix compressed and uncompressed segments
  const dir = `${base}/true`;
  const w = await Wal.open(dir, { compress: false });
  await w.log(recs[0]);
  await w.close();
  assertEquals((await collect(readRecords(dir))).length, recs.length + 1);
});

Deno.test("wal: concurrent log calls are serialised in call order", async () => {
  await using dirs = new TempDirs();
  const dir = await dirs.make();
  const w = await Wal.open(dir, { segmentSize: 2 * PAGE_SIZE });
  const recs = Array.from({ length: 100 }, (_, i) => noise(100 + i * 131, i + 1));
  await Promise.all(recs.map((r) => w.log(r)));
  await w.sync();
  await w.close();
  await w.close(); // twice is fine
  assertEquals(await collect(readRecords(dir)), recs);
});

// ---------------------------------------------------------------------------------------------
// Repair and corruption

async function writeWal(dir: string, recs: Uint8Array[], segmentSize = 4 * PAGE_SIZE) {
  const w = await Wal.open(dir, { segmentSize });
  for (const r of recs) await w.log(r);
  await w.close();
}

Deno.test("wal: torn tail of the last segment is repaired with a log line", async () => {
  await using dirs = new TempDirs();
  const dir = await dirs.make();
  const recs = [noise(100, 1), noise(200, 2), noise(2 * PAGE_SIZE, 3)];
  const w = await Wal.open(dir);
  await w.log(recs[0], recs[1], recs[2]);
  await w.close();
  // a crash in the middle of the last record: the file ends inside its middle fragment
  const seg0 = segmentName(dir, 0);
  const full = (await Deno.stat(seg0)).size;
  const recStart = HDR + 100 + HDR + 200;
  await Deno.truncate(seg0, PAGE_SIZE + 50);

  const { logger, lines } = captureLogger();
  const err = await expectCorruption(collect(readRecords(dir)));
  assertEquals(err.segment, 0);
  assertEquals(err.offset, recStart);
  const w2 = await Wal.open(dir, { logger });
  assertEquals(lines.length, 1, lines.join("\n"));
  const line = lines[0];
  assert(line.includes("level=warn"), line);
  assert(line.includes("segment=0"), line);
  assert(line.includes(`offset=${recStart}`), line);
  assert(line.includes(`bytes_dropped=${PAGE_SIZE + 50 - recStart}`), line);
  console.log(`repair log line: ${line}`);
  assert(full > PAGE_SIZE + 50);
  await w2.log(noise(10, 9));
  await w2.close();
  assertEquals(await collect(readRecords(dir)), [recs[0], recs[1], noise(10, 9)]);
});

Deno.test("wal: corrupt CRC of the last record and garbage in padding are repaired", async () => {
  await using dirs = new TempDirs();
  for (const kind of ["crc", "garbage", "torn-header", "lost-last-fragment"]) {
    const dir = await dirs.make();
    const recs = [noise(1000, 1), noise(1000, 2), noise(PAGE_SIZE + 10, 3)];
    await writeWal(dir, [noise(50, 4)], PAGE_SIZE * 8); // segment 0, intact
    await writeWal(dir, recs, PAGE_SIZE * 8); // segment 1
    const path = segmentName(dir, 1);
    const b = await Deno.readFile(path);
    const third = 2 * (HDR + 1000);
    const fr = fragments(b);
    assertEquals(fr.map((f) => f[1]), [1, 1, 2, 4]);
    const end = fr[3][0] + HDR + fr[3][2]; // end of the last record
    let keep = recs.slice(0, 3);
    let cut = b.length;
    let wantOffset = end;
    if (kind === "crc") {
      b[third + HDR + 500] ^= 0xff; // data of record 3's first fragment
      keep = recs.slice(0, 2);
      wantOffset = third;
    } else if (kind === "garbage") {
      b[end + 3] = 0x42; // in the padding after the last record
    } else if (kind === "torn-header") {
      b[end] = 1; // a header cut short by the end of the file
      cut = end + 3;
    } else {
      b.fill(0, PAGE_SIZE); // the last fragment never made it
      keep = recs.slice(0, 2);
      wantOffset = third;
    }
    await Deno.writeFile(path, b.subarray(0, cut));
    const err = await expectCorruption(collect(readRecords(dir)));
    assertEquals(err.segment, 1, kind);
    assertEquals(err.offset, wantOffset, kind);
    const { logger, lines } = captureLogger();
    const w = await Wal.open(dir, { logger });
    await w.close();
    assertEquals(lines.length, 1, `${kind}: ${lines}`);
    assert(lines[0].includes("segment=1"), lines[0]);
    assertEquals(await collect(readRecords(dir)), [noise(50, 4), ...keep], kind);
  }
});

Deno.test("wal: corruption in a middle segment names segment and offset", async () => {
  await using dirs = new TempDirs();
  const dir = await dirs.make();
  const recs = Array.from({ length: 12 }, (_, i) => noise(20_000, i + 1));
  await writeWal(dir, recs, 2 * PAGE_SIZE); // a few records per segment
  const s1 = await Deno.readFile(segmentName(dir, 1));
  const frags = fragments(s1);
  const second = frags.findIndex((f) => f[1] === 2); // a record split over two pages
  assert(second >= 0);
  const [at, , len] = frags[second + 1]; // its last fragment
  s1[at + HDR + len - 1] ^= 1;
  await Deno.writeFile(segmentName(dir, 1), s1);

  const err = await expectCorruption(collect(readRecords(dir)));
  assertEquals(err.segment, 1);
  assertEquals(err.offset, frags[second][0], "offset of the damaged record's start");
  assert(err.message.includes(segmentName(dir, 1)), err.message);
  assert(err.message.includes(`offset ${frags[second][0]}`), err.message);
  assert(err.message.includes("checksum"), err.message);
  // segments before the damage still read
  const ok = await collect(readRecords(dir, 0, 0));
  assert(ok.length >= 1);
  // opening repairs only the last segment; the head repairs the middle one explicitly
  const { logger, lines } = captureLogger();
  const w = await Wal.open(dir, { logger });
  assertEquals(lines.length, 0);
  await repairWal(dir, err, logger);
  assertEquals(lines.length, 1);
  assert(lines[0].includes("later_segments_deleted="), lines[0]);
  // the open writer moved to the segment after the repaired one and keeps working
  assertEquals(w.currentSegment, 2);
  await w.log(noise(33, 99));
  await w.close();
  const after = await collect(readRecords(dir));
  assertEquals(after[after.length - 1], noise(33, 99));
  assertEquals(after.slice(0, -1), recs.slice(0, after.length - 1));
});

// ---------------------------------------------------------------------------------------------
// Checkpoints and truncation

Deno.test("wal: checkpoint keeps and drops as specified, replaces older ones; truncate", async () => {
  await using dirs = new TempDirs();
  const dir = `${await dirs.make()}/wal`;
  const w = await Wal.open(dir, { segmentSize: 2 * PAGE_SIZE });
  const series: RefSeries[] = [];
  for (let r = 1; r <= 10; r++) series.push({ ref: r, labels: ["__name__", `m${r}`] });
  await w.log(encodeSeries(series));
  const stale = batch([[2, 150, 0]]);
  setStaleAt(stale.vs, 0);
  for (let seg = 0; seg < 4; seg++) {
    const rows: [number, number, number][] = [];
    for (let r = 1; r <= 10; r++) rows.push([r, seg * 100 + r, seg + r / 10]);
    await w.log(encodeSamples(batch(rows)));
    if (seg === 1) {
      await w.log(encodeSamples(stale));
      await w.log(encodeTombstones([
        { ref: 3, intervals: [{ mint: 0, maxt: 50 }] }, // ends before mint: dropped
        { ref: 4, intervals: [{ mint: 0, maxt: 500 }] }, // kept
        { ref: 5, intervals: [{ mint: 0, maxt: 500 }] }, // series dropped
      ]));
      await w.log(new Uint8Array([4, 0, 0])); // an exemplar-type record: not carried over
    }
    await w.nextSegment();
  }
  const keep = (ref: number) => ref % 5 !== 0; // drops refs 5 and 10
  const mint = 100;
  const r1 = await checkpoint(dir, 0, 1, keep, mint);
  assertEquals(r1.dir, checkpointName(dir, 1));
  assertEquals(r1.droppedSeries, 2);
  // segment 0: 10 samples at t<100 dropped; segment 1: refs 5 and 10 dropped
  assertEquals(r1.droppedSamples, 12);
  assertEquals(await lastCheckpoint(dir), { dir: r1.dir, index: 1 });

  const recs = await collect(readRecords(r1.dir));
  const gotSeries = recs.filter((r) => recordType(r) === RecordType.Series).flatMap(decodeSeries);
  assertEquals(gotSeries.map((s) => s.ref), [1, 2, 3, 4, 6, 7, 8, 9]);
  const gotSamples = recs.filter((r) => recordType(r) === RecordType.Samples).map(decodeSamples);
  const flat: [number, number][] = [];
  let staleSeen = false;
  for (const b of gotSamples) {
    for (let i = 0; i < b.n; i++) {
      flat.push([b.refs[i], b.ts[i]]);
      if (isStaleAt(b.vs, i)) staleSeen = b.refs[i] === 2 && b.ts[i] === 150;
    }
  }
  assertEquals(flat, [...[1, 2, 3, 4, 6, 7, 8, 9].map((r) => [r, 100 + r]), [2, 150]]);
  assert(staleSeen, "stale marker kept bit-exactly");
  const ts = recs.filter((r) => recordType(r) === RecordType.Tombstones).flatMap(decodeTombstones);
  assertEquals(ts, [{ ref: 4, intervals: [{ mint: 0, maxt: 500 }] }]);
  assertEquals(recs.some((r) => r[0] === 4), false);

  await w.truncate(2);
  assertEquals((await w.segmentRange()).first, 2);

  // the next checkpoint folds in the previous one and deletes it
  const r2 = await checkpoint(dir, 2, 3, (ref) => ref !== 1, 250);
  assertEquals(r2.droppedSeries, 1);
  const names = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  assert(!names.includes("checkpoint.00000001"), names.join(","));
  assert(!names.some((n) => n.endsWith(".tmp")), names.join(","));
  assert(names.includes("checkpoint.00000003"));
  const recs2 = await collect(readRecords(r2.dir));
  const s2 = recs2.filter((r) => recordType(r) === RecordType.Series).flatMap(decodeSeries);
  assertEquals(s2.map((s) => s.ref), [2, 3, 4, 6, 7, 8, 9]);
  const t2: number[] = [];
  for (const b of recs2.filter((r) => recordType(r) === RecordType.Samples).map(decodeSamples)) {
    for (let i = 0; i < b.n; i++) t2.push(b.ts[i]);
  }
  assertEquals(t2, [302, 303, 304, 305, 306, 307, 308, 309, 310]);
  // a gap to the last checkpoint is refused
  let gapErr: unknown;
  try {
    await checkpoint(dir, 5, 6, () => true, 0);
  } catch (e) {
    gapErr = e;
  }
  assert(gapErr instanceof Error && /gap/.test(gapErr.message), String(gapErr));
  await w.truncate(4);
  assertEquals(await w.segmentRange(), { first: 4, last: 4 });
  await w.close();
  // with every segment gone, writing resumes after the newest checkpoint
  await Deno.remove(segmentName(dir, 4));
  const w2 = await Wal.open(dir);
  assertEquals(w2.currentSegment, 4);
  await w2.close();
});
