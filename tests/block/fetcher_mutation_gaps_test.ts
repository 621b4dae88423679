// Gaps found by the mutation check (scripts/mutations.ts): the time partition keeps blocks that
// straddle or touch --min-time/--max-time, and only blocks whose sources are wholly covered by
// another block's are duplicates
// (https://thanos.io/tip/components/store.md/#time-based-partitioning).

import { assertEquals } from "../helpers/assert.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import { findDuplicates, MetaSyncer } from "../../block/fetcher.ts";
import { type BlockMeta, encodeBlockMeta } from "../../tsdb/meta.ts";
import { newULID } from "../../tsdb/ulid.ts";

const H = 3600_000;
const NOW = Date.UTC(2025, 0, 10);

function meta(ulid: string, minTime: number, maxTime: number, sources?: string[]): BlockMeta {
  return {
    ulid,
    minTime,
    maxTime,
    stats: {},
    compaction: { level: 1, sources: sources ?? [ulid] },
    version: 1,
    thanos: { labels: { c: "1" }, downsample: { resolution: 0 }, source: "sidecar" },
  };
}

Deno.test("the time partition keeps blocks that straddle or touch its edges", async () => {
  const b = new MemoryBucket();
  const enc = new TextEncoder();
  const old = NOW - 10 * 24 * H;
  const blocks = {
    before: meta(newULID(old), 0, 9 * H),
    touchesMin: meta(newULID(old + 1), 8 * H, 10 * H),
    straddlesMin: meta(newULID(old + 2), 8 * H, 12 * H),
    inside: meta(newULID(old + 3), 12 * H, 14 * H),
    straddlesMax: meta(newULID(old + 4), 18 * H, 22 * H),
    touchesMax: meta(newULID(old + 5), 20 * H, 22 * H),
    after: meta(newULID(old + 6), 21 * H, 23 * H),
  };
  for (const m of Object.values(blocks)) {
    await b.upload(`${m.ulid}/index`, new Uint8Array(1));
    await b.upload(`${m.ulid}/meta.json`, enc.encode(encodeBlockMeta(m)));
  }
  const r = await new MetaSyncer(b, { now: () => NOW, minTime: 10 * H, maxTime: 20 * H }).sync();
  const kept = Object.entries(blocks).filter(([, m]) => r.metas.has(m.ulid)).map(([k]) => k);
  assertEquals(kept, ["touchesMin", "straddlesMin", "inside", "straddlesMax", "touchesMax"]);
  assertEquals(r.filtered.get(blocks.before.ulid), "time-excluded");
  assertEquals(r.filtered.get(blocks.after.ulid), "time-excluded");
});

Deno.test("a block sharing only some sources with a bigger block is not a duplicate", () => {
  const [a, b, c] = [1, 2, 3].map((i) => newULID(NOW - 1000 * H + i));
  const big = meta(newULID(NOW - 10 * H), 0, 4 * H, [a, b]);
  const overlapping = meta(newULID(NOW - 9 * H), 2 * H, 6 * H, [b, c]);
  const covered = meta(newULID(NOW - 8 * H), 0, 2 * H, [a]);
  const metas = new Map([big, overlapping, covered].map((m) => [m.ulid, m]));
  assertEquals(findDuplicates(metas), [covered.ulid]);
});
