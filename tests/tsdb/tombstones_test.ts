import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  addInterval,
  decodeTombstones,
  encodeTombstones,
  type Interval,
  isDeleted,
  readTombstones,
  writeTombstones,
} from "../../tsdb/tombstones.ts";
import { CorruptionError } from "../../tsdb/errors.ts";
import { Encbuf } from "../../tsdb/encoding.ts";
import { crc32c } from "../../tsdb/crc32c.ts";

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

Deno.test("an empty tombstones file is exactly the 9 bytes Prometheus writes", () => {
  assertEquals(hex(encodeTombstones(new Map())), "0130ba300100000000");
  assertEquals(decodeTombstones(encodeTombstones(new Map()), "t").size, 0);
});

Deno.test("tombstones round-trip, with intervals per ref sorted and merged", () => {
  const m = new Map<number, Interval[]>([
    [5, [{ mint: -100, maxt: 50 }, { mint: 1000, maxt: 2000 }]],
    [1, [{ mint: 0, maxt: 1700000000000 }]],
  ]);
  const b = encodeTombstones(m);
  const d = decodeTombstones(b, "blk/tombstones");
  assertEquals([...d.keys()].sort(), [1, 5]);
  assertEquals(d.get(5), m.get(5));
  assertEquals(d.get(1), m.get(1));

  // Several entries for one ref accumulate and merge (overlapping and adjacent).
  const e = new Encbuf();
  e.putBE32(0x0130ba30);
  e.putByte(1);
  const raw: [number, number, number][] = [[7, 10, 20], [7, 30, 40], [7, 21, 25], [7, 15, 22], [
    7,
    100,
    200,
  ]];
  for (const [ref, a, z] of raw) {
    e.putUvarint(ref);
    e.putVarint(a);
    e.putVarint(z);
  }
  e.putBE32(crc32c(e.bytes(), 5, e.len));
  assertEquals(decodeTombstones(e.bytes().slice(), "x").get(7), [
    { mint: 10, maxt: 25 },
    { mint: 30, maxt: 40 },
    { mint: 100, maxt: 200 },
  ]);
});

Deno.test("addInterval merges overlapping and adjacent intervals like Prometheus", () => {
  const ivs: Interval[] = [];
  addInterval(ivs, { mint: 10, maxt: 20 });
  addInterval(ivs, { mint: 30, maxt: 40 });
  assertEquals(ivs.length, 2);
  addInterval(ivs, { mint: 21, maxt: 29 }); // adjacent on both sides
  assertEquals(ivs, [{ mint: 10, maxt: 40 }]);
  addInterval(ivs, { mint: 0, maxt: 5 });
  addInterval(ivs, { mint: 50, maxt: 60 });
  addInterval(ivs, { mint: 3, maxt: 55 });
  assertEquals(ivs, [{ mint: 0, maxt: 60 }]);
});

Deno.test("bounds near ±2^63 (delete everything) are clamped to ±(2^53-1)", () => {
  // zig-zag of math.MinInt64 is 2^64-1: ten 0xff.. bytes
  const e = new Encbuf();
  e.putBE32(0x0130ba30);
  e.putByte(1);
  e.putUvarint(3);
  e.putBytes(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
  e.putBytes(new Uint8Array([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
  e.putBE32(crc32c(e.bytes(), 5, e.len));
  assertEquals(decodeTombstones(e.bytes().slice(), "x").get(3), [
    { mint: -Number.MAX_SAFE_INTEGER, maxt: Number.MAX_SAFE_INTEGER },
  ]);
});

Deno.test("bad magic, bad version, bad CRC and truncation are CorruptionErrors naming the file", () => {
  const good = encodeTombstones(new Map([[1, [{ mint: 1, maxt: 2 }]]]));
  const badMagic = good.slice();
  badMagic[0] = 0x02;
  let err = assertThrows(() => decodeTombstones(badMagic, "b1/tombstones"), CorruptionError);
  assert(err.message.includes("b1/tombstones") && err.message.includes("magic"), err.message);
  const badVersion = good.slice();
  badVersion[4] = 2;
  assertThrows(() => decodeTombstones(badVersion, "b1/tombstones"), CorruptionError, "version");
  const badCrc = good.slice();
  badCrc[6] ^= 1;
  err = assertThrows(() => decodeTombstones(badCrc, "b1/tombstones"), CorruptionError);
  assertEquals((err as CorruptionError).file, "b1/tombstones");
  assert(err.message.includes("checksum"));
  for (const n of [0, 3, 8, good.length - 1]) {
    assertThrows(() => decodeTombstones(good.subarray(0, n), "b1/tombstones"), CorruptionError);
  }
  // valid CRC over a truncated entry: the varint decoder reports it
  const e = new Encbuf();
  e.putBE32(0x0130ba30);
  e.putByte(1);
  e.putUvarint(9);
  e.putByte(0x80);
  e.putBE32(crc32c(e.bytes(), 5, e.len));
  assertThrows(() => decodeTombstones(e.bytes().slice(), "b2/tombstones"), CorruptionError);
});

Deno.test("readTombstones: missing file is empty; writeTombstones round-trips atomically", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tombstones_test_" });
  try {
    assertEquals((await readTombstones(dir)).size, 0);
    await writeTombstones(dir);
    assertEquals(hex(await Deno.readFile(`${dir}/tombstones`)), "0130ba300100000000");
    const m = new Map([[42, [{ mint: 5, maxt: 9 }]]]);
    await writeTombstones(dir, m);
    assertEquals(await readTombstones(dir), m);
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names, ["tombstones"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("isDeleted checks inclusive bounds for short and long interval lists", () => {
  const short = [{ mint: 10, maxt: 20 }, { mint: 30, maxt: 30 }];
  const long: Interval[] = [];
  for (let i = 0; i < 50; i++) long.push({ mint: i * 100, maxt: i * 100 + 9 });
  for (
    const [ivs, hits, misses] of [
      [short, [10, 15, 20, 30], [9, 21, 29, 31]],
      [long, [0, 9, 100, 4909, 4900], [-1, 10, 99, 4910, 99999]],
    ] as [Interval[], number[], number[]][]
  ) {
    for (const t of hits) assert(isDeleted(ivs, t), `${t} should be deleted`);
    for (const t of misses) assert(!isDeleted(ivs, t), `${t} should not be deleted`);
  }
  assert(!isDeleted([], 5));
});
