// Retention by resolution (compact/retention.ts): deletion marks in Thanos's format for blocks
// whose maxTime is older than now − retention of their resolution; 0 keeps forever.

import { assert, assertEquals } from "../helpers/assert.ts";
import { applyRetention } from "../../compact/retention.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import { Registry } from "../../metrics/registry.ts";
import type { BlockMeta } from "../../tsdb/meta.ts";

const DAY = 86_400_000;
const NOW = 1_700_000_000_000;

function meta(ulid: string, maxTime: number, res: number): BlockMeta {
  return {
    ulid,
    minTime: maxTime - DAY,
    maxTime,
    stats: {},
    compaction: { level: 1, sources: [ulid] },
    version: 1,
    thanos: { labels: { a: "1" }, downsample: { resolution: res }, source: "compactor" },
  };
}

Deno.test("applyRetention marks blocks older than their resolution's retention", async () => {
  const bucket = new MemoryBucket();
  const ids = [
    "01ARZ3NDEKTSV4RRFFQ69G5FA1", // raw, 10d old → marked (raw 7d)
    "01ARZ3NDEKTSV4RRFFQ69G5FA2", // raw, 6d old → kept
    "01ARZ3NDEKTSV4RRFFQ69G5FA3", // 5m, 10d old → kept (5m 30d)
    "01ARZ3NDEKTSV4RRFFQ69G5FA4", // 5m, 31d old → marked
    "01ARZ3NDEKTSV4RRFFQ69G5FA5", // 1h, 1000d old → kept (0 = forever)
    "01ARZ3NDEKTSV4RRFFQ69G5FA6", // raw, exactly 7d old → kept (must be strictly older)
  ];
  const metas = new Map<string, BlockMeta>([
    [ids[0], meta(ids[0], NOW - 10 * DAY, 0)],
    [ids[1], meta(ids[1], NOW - 6 * DAY, 0)],
    [ids[2], meta(ids[2], NOW - 10 * DAY, 300_000)],
    [ids[3], meta(ids[3], NOW - 31 * DAY, 300_000)],
    [ids[4], meta(ids[4], NOW - 1000 * DAY, 3_600_000)],
    [ids[5], meta(ids[5], NOW - 7 * DAY, 0)],
  ]);
  const reg = new Registry();
  const retention = { raw: 7 * DAY, fiveMin: 30 * DAY, oneHour: 0 };
  const marked = await applyRetention(bucket, metas, retention, { registry: reg, now: () => NOW });
  assertEquals(marked.sort(), [ids[0], ids[3]]);
  // Thanos's DeletionMark JSON (json.Marshal: compact, struct field order)
  const text = new TextDecoder().decode(await bucket.get(`${ids[0]}/deletion-mark.json`));
  assertEquals(
    text,
    `{"id":"${ids[0]}","version":1,"details":"block exceeding retention of 168h0m0s",` +
      `"deletion_time":${NOW / 1000}}`,
  );
  assert(!(await bucket.exists(`${ids[1]}/deletion-mark.json`)));
  assert(!(await bucket.exists(`${ids[4]}/deletion-mark.json`)));
  const exposed = await reg.expose();
  assert(
    exposed.includes(
      'thanos_compact_blocks_marked_total{marker="deletion-mark.json",reason=""} 2',
    ),
    exposed,
  );
  // a second run finds the markers and writes nothing new
  assertEquals(
    await applyRetention(bucket, metas, retention, { registry: reg, now: () => NOW }),
    [],
  );
  assert((await reg.expose()).includes('reason=""} 2'));
  // all zero: keep everything
  assertEquals(
    await applyRetention(new MemoryBucket(), metas, { raw: 0, fiveMin: 0, oneHour: 0 }),
    [],
  );
});
