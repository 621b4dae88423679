// compact/repair.ts: the chunk rules of Thanos's index repair (complete and near outsiders
// dropped, exact duplicates dropped, unequal overlaps refused) and the choice of duplicated
// compaction copies (same range, level, sources and stats; the oldest ULID kept).

import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { duplicatedCopies, RepairError, sanitizeChunks } from "../../compact/repair.ts";
import { type Chunk, ChunkEncoding } from "../../tsdb/series.ts";
import type { BlockMeta } from "../../tsdb/meta.ts";

function chunk(minTime: number, maxTime: number, byte = 1): Chunk {
  return { minTime, maxTime, encoding: ChunkEncoding.XOR, data: new Uint8Array([0, 1, byte]) };
}

Deno.test("repair keeps in-range chunks in order, drops outsiders and exact duplicates", () => {
  const kept = sanitizeChunks(
    [
      chunk(50, 60),
      chunk(0, 10),
      chunk(0, 10), // exact copy
      chunk(100, 120), // starts at maxt: near outsider (prometheus/tsdb#347)
      chunk(130, 140), // complete outsider after
      chunk(-30, -20), // complete outsider before
      chunk(20, 30),
    ],
    0,
    100,
  );
  assertEquals(kept.map((c) => [c.minTime, c.maxTime]), [[0, 10], [20, 30], [50, 60]]);
});

Deno.test("repair refuses overlapping chunks that are not copies", () => {
  assertThrows(() => sanitizeChunks([chunk(0, 10), chunk(5, 15)], 0, 100), RepairError);
  assertThrows(() => sanitizeChunks([chunk(0, 10, 1), chunk(0, 10, 2)], 0, 100), RepairError);
});

function meta(ulid: string, patch: Partial<BlockMeta> = {}): BlockMeta {
  return {
    ulid,
    minTime: 0,
    maxTime: 7_200_000,
    stats: { numSamples: 10, numSeries: 1, numChunks: 1 },
    compaction: { level: 2, sources: ["S1", "S2"] },
    version: 1,
    thanos: { labels: { a: "1" }, downsample: { resolution: 0 }, source: "compactor" },
    ...patch,
  };
}

Deno.test("duplicated compaction copies: same range, level, sources and stats; oldest kept", () => {
  const ids = [
    "01HB000000000000000000000C",
    "01HB000000000000000000000A",
    "01HB000000000000000000000B",
  ];
  assertEquals(duplicatedCopies(ids.map((id) => meta(id))), [ids[2], ids[0]].sort());
  // differing stats, level, range or group: not copies
  assertEquals(
    duplicatedCopies([
      meta(ids[0]),
      meta(ids[1], { stats: { numSamples: 11, numSeries: 1, numChunks: 1 } }),
      meta(ids[2], { compaction: { level: 3, sources: ["S1", "S2"] } }),
    ]),
    [],
  );
  assertEquals(
    duplicatedCopies([
      meta(ids[0]),
      meta(ids[1], {
        thanos: { labels: { a: "2" }, downsample: { resolution: 0 }, source: "compactor" },
      }),
    ]),
    [],
  );
});
