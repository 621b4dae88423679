// The planner's level ranges (2h → 8h → 2d → 14d), the newest-block window, overlaps first,
// no-compact marks, and grouping by external labels (replica labels removed) + resolution.

import { assertEquals } from "../helpers/assert.ts";
import type { BlockMeta } from "../../tsdb/meta.ts";
import { DEFAULT_RANGES, plan, splitByRange } from "../../compact/planner.ts";
import { groupBlocks } from "../../compact/group.ts";

const H = 3600_000;
let seq = 0;

function meta(
  minH: number,
  maxH: number,
  labels: Record<string, string> = { a: "1" },
  resolution = 0,
): BlockMeta {
  const id = `01H${String(seq++).padStart(23, "0")}`;
  return {
    ulid: id,
    minTime: minH * H,
    maxTime: maxH * H,
    stats: {},
    compaction: { level: 1, sources: [id] },
    version: 1,
    thanos: { labels, downsample: { resolution }, source: "sidecar" },
  };
}

const ids = (ms: BlockMeta[]) => ms.map((m) => m.ulid);

Deno.test("Thanos's default level ranges are 2h, 8h, 2d, 14d", () => {
  assertEquals(DEFAULT_RANGES, [2 * H, 8 * H, 48 * H, 14 * 24 * H]);
});

Deno.test("four 2h blocks of one 8h range are compacted once a newer block exists", () => {
  const bs = [meta(0, 2), meta(2, 4), meta(4, 6), meta(6, 8)];
  // the newest block is never part of a plan: 3 blocks do not fill the 8h range yet
  assertEquals(plan(DEFAULT_RANGES, bs), []);
  const withNext = [...bs, meta(8, 10)];
  assertEquals(ids(plan(DEFAULT_RANGES, withNext)), ids(bs));
});

Deno.test("six 8h blocks make a 2d block; a gap is allowed inside a full range", () => {
  const bs = [meta(0, 8), meta(8, 16), meta(16, 24), meta(24, 32), meta(40, 48)];
  assertEquals(ids(plan(DEFAULT_RANGES, [...bs, meta(48, 50)])), ids(bs));
});

Deno.test("overlapping blocks are planned first (vertical compaction)", () => {
  const a = meta(0, 2);
  const b = meta(1, 3);
  const c = meta(4, 6);
  assertEquals(ids(plan(DEFAULT_RANGES, [a, b, c])), ids([a, b]));
});

Deno.test("no-compact marks exclude blocks without creating gaps", () => {
  const bs = [meta(0, 2), meta(2, 4), meta(4, 6), meta(6, 8), meta(8, 10)];
  assertEquals(ids(plan(DEFAULT_RANGES, bs, new Set([bs[1].ulid]))), ids(bs.slice(2, 4)));
  // marked overlapping blocks are not planned for vertical compaction
  const a = meta(0, 2);
  const b = meta(1, 3);
  assertEquals(plan(DEFAULT_RANGES, [a, b, meta(4, 6)], new Set([b.ulid])), []);
});

Deno.test("splitByRange skips blocks crossing the aligned window", () => {
  const bs = [meta(0, 2), meta(2, 4), meta(6, 10), meta(10, 12)];
  assertEquals(splitByRange(bs, 8 * H).map(ids), [ids(bs.slice(0, 2)), [bs[3].ulid]]);
});

Deno.test("groups: external labels without replica labels, and resolution", () => {
  const a = meta(0, 2, { cluster: "eu", replica: "A" });
  const b = meta(0, 2, { cluster: "eu", replica: "B" });
  const c = meta(0, 2, { cluster: "us", replica: "A" });
  const d = meta(0, 2, { cluster: "eu", replica: "A" }, 300_000);
  const noDedup = groupBlocks([a, b, c, d]);
  assertEquals(noDedup.length, 4);
  const dedup = groupBlocks([a, b, c, d], ["replica"]);
  assertEquals(dedup.length, 3);
  const eu = dedup.find((g) => g.labels.cluster === "eu" && g.resolution === 0)!;
  assertEquals(eu.labels, { cluster: "eu" });
  assertEquals(ids(eu.metas).sort(), [a.ulid, b.ulid].sort());
  assertEquals(eu.key.startsWith("0@"), true);
});
