// Aggregated (downsampled) chunk format: encode/parse round trip, absent parts, corruption.

import { assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  type AggrPart,
  AggrType,
  encodeAggrChunk,
  parseAggrChunk,
} from "../../tsdb/chunkenc/aggr.ts";
import { XorAppender } from "../../tsdb/chunkenc/xor.ts";
import { CorruptionError, InvalidInputError } from "../../tsdb/errors.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";

function xorChunk(n: number, f: (i: number) => number): AggrPart {
  const app = new XorAppender();
  for (let i = 0; i < n; i++) app.append(i * 300_000, f(i));
  return { encoding: ChunkEncoding.XOR, data: app.bytes().slice() };
}

Deno.test("an aggregated chunk round-trips all five parts, including long ones", () => {
  const parts = [
    xorChunk(3, (i) => 10 + i),
    xorChunk(120, (i) => i * 1.5), // > 127 bytes: a two-byte length
    xorChunk(1, () => -1),
    xorChunk(2, (i) => 1e9 + i),
    xorChunk(60, (i) => i * i),
  ];
  const enc = encodeAggrChunk(parts);
  const got = parseAggrChunk(enc);
  assertEquals(got.length, 5);
  for (let i = 0; i < 5; i++) {
    assertEquals(got[i]!.encoding, ChunkEncoding.XOR);
    assertEquals(Array.from(got[i]!.data), Array.from(parts[i].data), `part ${i}`);
  }
  assertEquals(Array.from(got[AggrType.Sum]!.data), Array.from(parts[1].data));
});

Deno.test("absent aggregates are a zero length and read back as null", () => {
  const sum = xorChunk(4, (i) => i);
  const counter = xorChunk(4, (i) => 2 * i);
  const parts: (AggrPart | null)[] = [];
  parts[AggrType.Sum] = sum;
  parts[AggrType.Counter] = counter;
  const enc = encodeAggrChunk(parts);
  // count, min, max: one zero byte each
  assertEquals(enc.length, 3 + 2 * 2 + sum.data.length + counter.data.length);
  assertEquals(enc[0], 0);
  const got = parseAggrChunk(enc);
  assertEquals(got[AggrType.Count], null);
  assertEquals(got[AggrType.Min], null);
  assertEquals(got[AggrType.Max], null);
  assertEquals(Array.from(got[AggrType.Sum]!.data), Array.from(sum.data));
  assertEquals(Array.from(got[AggrType.Counter]!.data), Array.from(counter.data));
  assertEquals(parseAggrChunk(encodeAggrChunk([])), [null, null, null, null, null]);
});

Deno.test("a truncated aggregated chunk is a CorruptionError naming object and offset", () => {
  const enc = encodeAggrChunk([xorChunk(3, (i) => i), null, null, null, xorChunk(3, (i) => i)]);
  for (const cut of [0, 1, 5, enc.length - 1]) {
    const err = assertThrows(
      () => parseAggrChunk(enc.subarray(0, cut), "b/chunks/000001", 42),
      CorruptionError,
      "truncated",
    ) as CorruptionError;
    assertEquals(err.file, "b/chunks/000001");
    assertEquals(err.offset, 42);
  }
});

Deno.test("encodeAggrChunk rejects parts it cannot represent", () => {
  assertThrows(
    () => encodeAggrChunk([{ encoding: ChunkEncoding.XOR, data: new Uint8Array(0) }]),
    InvalidInputError,
  );
  const p = xorChunk(1, () => 1);
  assertThrows(() => encodeAggrChunk([p, p, p, p, p, p]), InvalidInputError);
});
