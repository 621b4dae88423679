import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { crc32c, crc32cFinish, crc32cInit, crc32cUpdate } from "../../tsdb/crc32c.ts";
import { Decbuf, Encbuf } from "../../tsdb/encoding.ts";
import { CorruptionError } from "../../tsdb/errors.ts";
import { float64Words, isStaleAt, isStaleWord, setStaleAt } from "../../tsdb/value.ts";
import {
  compareLabels,
  labelsFromObject,
  labelsKey,
  labelsToString,
  unionSorted,
} from "../../tsdb/labels.ts";

Deno.test("crc32c matches the Castagnoli check value and a known record checksum", () => {
  assertEquals(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assertEquals(crc32c(new Uint8Array(0)), 0);
  const rec = new Uint8Array([0x01, 0x00, 0x01, 0x02, 0x40, 0, 0, 0, 0, 0, 0, 0, 0]);
  assertEquals(crc32c(rec), 0x597ad276);
});

/** CRC-32C one bit at a time: the definition the sliced tables must agree with. */
function crc32cBitwise(data: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) {
    c ^= data[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

Deno.test("crc32c agrees with the bitwise definition at every length, offset and split", () => {
  const data = new Uint8Array(300);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 13;
  data.fill(0xff, 100, 140); // high bytes in the 16-byte loop (table entries above 2^31)
  for (let start = 0; start < 20; start++) {
    for (let end = start; end <= data.length; end += 7) {
      assertEquals(crc32c(data, start, end), crc32cBitwise(data, start, end), `[${start}, ${end})`);
    }
  }
  for (const cut of [0, 1, 15, 16, 17, 33, 150, 300]) {
    const st = crc32cUpdate(crc32cUpdate(crc32cInit(), data, 0, cut), data, cut, data.length);
    assertEquals(crc32cFinish(st), crc32cBitwise(data, 0, data.length), `split at ${cut}`);
  }
});

Deno.test("uvarint and BE64 round-trip up to 2^53, varint up to ±2^52", () => {
  const e = new Encbuf(4);
  const vals = [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER];
  for (const v of vals) e.putUvarint(v);
  const signed = [0, -1, 1, -64, 64, -(2 ** 40), 2 ** 52 - 1, -(2 ** 52)];
  for (const v of signed) e.putVarint(v);
  for (const v of vals) e.putBE64(v);
  const d = new Decbuf(e.bytes().slice());
  for (const v of vals) assertEquals(d.uvarint(), v);
  for (const v of signed) assertEquals(d.varint(), v);
  for (const v of vals) assertEquals(d.be64(), v);
  assertEquals(d.remaining, 0);
});

Deno.test("uvarint and varint decode every byte length, around each power of two", () => {
  // one byte, up to four in 32-bit integers, then doubles: each step's edges
  const vals: number[] = [];
  for (let k = 0; k <= 53; k++) {
    for (const v of [2 ** k - 1, 2 ** k, 2 ** k + 1]) {
      if (v <= Number.MAX_SAFE_INTEGER) vals.push(v);
    }
  }
  const signed = vals.flatMap((v) => v > 0 ? [v, -v, -v - 1] : [v, -1])
    .filter((v) => v >= -(2 ** 52) && v < 2 ** 52);
  const e = new Encbuf(4);
  for (const v of vals) e.putUvarint(v);
  for (const v of signed) e.putVarint(v);
  const bytes = e.bytes().slice();
  const d = new Decbuf(bytes);
  for (const v of vals) assertEquals(d.uvarint(), v, `uvarint ${v}`);
  for (const v of signed) assertEquals(d.varint(), v, `varint ${v}`);
  assertEquals(d.remaining, 0);
  // cut short after every continuation byte: an error at the end, not a value
  for (let n = 1; n < 10; n++) {
    const cut = new Uint8Array(n).fill(0x81);
    const err = assertThrows(() => new Decbuf(cut, "f", 10).uvarint(), CorruptionError);
    assert((err as CorruptionError).message.includes(`at offset ${10 + n}`), `${n} bytes`);
  }
  // 2^53 and beyond
  const big = new Decbuf(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]));
  assertThrows(() => big.uvarint(), CorruptionError, "exceeds 2^53");
});

Deno.test("reading past the end throws a CorruptionError naming file and offset", () => {
  const d = new Decbuf(new Uint8Array([0x80]), "blk/index", 100);
  const err = assertThrows(() => d.uvarint(), CorruptionError) as CorruptionError;
  assertEquals(err.file, "blk/index");
  assert(err.message.includes("blk/index at offset 101"));
});

Deno.test("stale marker bits are written and tested as raw words of a Float64Array", () => {
  const a = new Float64Array(3);
  setStaleAt(a, 0);
  a[1] = NaN;
  a[2] = 1;
  assert(isStaleAt(a, 0));
  assert(Number.isNaN(a[0]));
  const w = float64Words(a);
  assert(!isStaleWord(w, 1));
  assert(!isStaleWord(w, 2));
});

Deno.test("labels sort and print like Prometheus", () => {
  const a = labelsFromObject({ job: "api", __name__: "up", instance: 'a"b' });
  assertEquals(labelsToString(a), 'up{instance="a\\"b", job="api"}');
  assert(compareLabels(["a", "1"], ["a", "1", "b", "2"]) < 0);
  assert(compareLabels(["a", "2"], ["a", "10"]) > 0);
});

Deno.test("unionSorted merges sorted lists, returns a single one as it is, sorts others", () => {
  const one = ["a", "b", "c"];
  assert(unionSorted([[], one, []]) === one, "a single non-empty list is the answer itself");
  assertEquals(unionSorted([]), []);
  assertEquals(unionSorted([[], []]), []);
  // duplicates across lists once; three lists (an odd one out of the pairwise merge)
  assertEquals(
    unionSorted([["a", "c", "e"], ["b", "c", "f", "g"], ["d", "e", "h"]]),
    ["a", "b", "c", "d", "e", "f", "g", "h"],
  );
  // the rest of the longer list after the other ran out
  assertEquals(unionSorted([["x"], ["a", "y", "z"]]), ["a", "x", "y", "z"]);
  assertEquals(unionSorted([["a", "y", "z"], ["x"]]), ["a", "x", "y", "z"]);
  // a list out of order, or with a duplicate, is sorted and made unique
  assertEquals(unionSorted([["b", "a", "b"]]), ["a", "b"]);
  assertEquals(unionSorted([["a", "a"], ["b"]]), ["a", "b"]);
  // byte order, as Prometheus sorts: "B" before "a", shorter first
  assertEquals(unionSorted([["a", "ab"], ["B", "a"]]), ["B", "a", "ab"]);
});

Deno.test("labelsKey keeps the plain join for label sets without U+00FF", () => {
  assertEquals(labelsKey([]), "");
  assertEquals(labelsKey(["__name__", "up", "job", "api"]), "__name__\xffup\xffjob\xffapi");
  assertEquals(labelsKey(["a", ""]), "a\xff");
});

Deno.test("labelsKey tells apart label sets whose plain joins coincide", () => {
  const pairs: [string[], string[]][] = [
    [["a", "x\xffb\xffy"], ["a", "x", "b", "y"]],
    [["a", "1\xffx"], ["a\xff1", "x"]],
    [["a", "p", "b", "q\xff"], ["a", "p\xffb", "b", "q\xff"]],
    [["a", "\xff"], ["a", "", "", ""]],
  ];
  for (const [x, y] of pairs) assert(labelsKey(x) !== labelsKey(y), JSON.stringify([x, y]));
});

Deno.test("labelsKey is one-to-one over label sets built from separator-like characters", () => {
  // every label set of one or two pairs over an alphabet of the characters the keys are made of:
  // distinct sets must give distinct keys (a collision would merge two series in a map)
  const alphabet = ["", "a", "\xff", "\x00", "\x01", "\x02", "a\xff", "\xff\x00", "\xff\x01"];
  const sets: string[][] = [];
  for (const n of alphabet) {
    for (const v of alphabet) {
      sets.push([n, v]);
      for (const n2 of alphabet) for (const v2 of alphabet) sets.push([n, v, n2, v2]);
    }
  }
  const seen = new Map<string, string[]>();
  for (const ls of sets) {
    const k = labelsKey(ls);
    const other = seen.get(k);
    assert(other === undefined, `${JSON.stringify(ls)} and ${JSON.stringify(other)} share a key`);
    seen.set(k, ls);
  }
  assertEquals(seen.size, sets.length);
});
