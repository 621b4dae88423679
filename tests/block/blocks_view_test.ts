// block/blocks_view.ts on an in-memory bucket: one listing per refresh, meta.json and markers
// fetched once and kept (an unchanged bucket costs no per-block request), new blocks, marks,
// removed markers and deleted blocks seen on the next refresh; the JSON in Thanos's shape; a
// failed refresh keeps the last view and reports its error.

import { assert, assertEquals } from "../helpers/assert.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import { Logger } from "../../logging/log.ts";
import { GlobalBlocksView, goTimeJSON } from "../../block/blocks_view.ts";
import { type BlockMeta, encodeBlockMeta } from "../../tsdb/meta.ts";
import { newULID } from "../../tsdb/ulid.ts";
import { markForDeletion, markForNoCompact } from "../../block/markers.ts";

function meta(ulid: string, minTime: number, labels: Record<string, string>): BlockMeta {
  return {
    ulid,
    minTime,
    maxTime: minTime + 7_200_000,
    stats: { numSamples: 10, numSeries: 1, numChunks: 1 },
    compaction: { level: 1, sources: [ulid] },
    version: 1,
    thanos: { labels, downsample: { resolution: 0 }, source: "sidecar" },
  };
}

async function put(bucket: MemoryBucket, m: BlockMeta): Promise<void> {
  await bucket.upload(`${m.ulid}/index`, new Uint8Array([1, 2, 3]));
  await bucket.upload(`${m.ulid}/meta.json`, new TextEncoder().encode(encodeBlockMeta(m)));
}

const logger = new Logger("error", "logfmt", {}, () => {});

Deno.test("blocks view: cached metas and marks, changes seen on the next refresh", async () => {
  const bucket = new MemoryBucket();
  const a = meta(newULID(), 0, { c: "x" });
  const b = meta(newULID(), 7_200_000, { c: "x" });
  await put(bucket, a);
  await put(bucket, b);
  await bucket.upload(`${newULID()}/index`, new Uint8Array([1])); // partial upload: no meta
  await markForNoCompact(bucket, b.ulid, "manual", "keep");
  let now = 1_700_000_000_123;
  const view = new GlobalBlocksView(bucket, { label: "c", logger, now: () => now });
  const before = JSON.parse(view.infoJSON());
  assertEquals(before, { label: "c", blocks: [], refreshedAt: "0001-01-01T00:00:00Z", err: null });
  assert(await view.refresh());
  assertEquals(view.lastRefreshFetches, 3); // two metas, one marker
  const info = JSON.parse(view.infoJSON());
  assertEquals(info.blocks.map((m: BlockMeta) => m.ulid), [a.ulid, b.ulid]);
  assertEquals(info.blocks[0], JSON.parse(encodeBlockMeta(a)));
  assertEquals(info.refreshedAt, "2023-11-14T22:13:20.123Z");
  assertEquals(Object.keys(JSON.parse(view.marksJSON())), [b.ulid]);

  // unchanged bucket: the listing only
  assert(await view.refresh());
  assertEquals(view.lastRefreshFetches, 0);

  // a new block, a new mark, a removed marker, a deleted block
  const c = meta(newULID(), 14_400_000, { c: "y" });
  await put(bucket, c);
  await markForDeletion(bucket, a.ulid, "gone soon");
  await bucket.delete(`${b.ulid}/no-compact-mark.json`);
  now += 1000;
  assert(await view.refresh());
  assertEquals(view.lastRefreshFetches, 2); // c's meta, a's deletion mark
  const marks = JSON.parse(view.marksJSON());
  assertEquals(Object.keys(marks), [a.ulid]);
  assertEquals(marks[a.ulid].deletion.details, "gone soon");
  await bucket.delete(`${a.ulid}/meta.json`);
  assert(await view.refresh());
  assertEquals(
    JSON.parse(view.infoJSON()).blocks.map((m: BlockMeta) => m.ulid),
    [b.ulid, c.ulid],
  );
  assertEquals(view.marksJSON(), "{}");
});

Deno.test("blocks view: a failed refresh keeps the last blocks and reports the error", async () => {
  const bucket = new MemoryBucket();
  const a = meta(newULID(), 0, { c: "x" });
  await put(bucket, a);
  let fail = false;
  const flaky = Object.assign(Object.create(bucket), {
    iter(prefix: string, o?: { recursive?: boolean; signal?: AbortSignal }) {
      if (fail) throw new Error("bucket unreachable");
      return bucket.iter(prefix, o);
    },
  }) as MemoryBucket;
  const view = new GlobalBlocksView(flaky, { label: "", logger });
  assert(await view.refresh());
  fail = true;
  assertEquals(await view.refresh(), false);
  const info = JSON.parse(view.infoJSON());
  assertEquals(info.blocks.length, 1);
  assertEquals(info.err, "bucket unreachable");
});

Deno.test("blocks view: time range and duplicates filtered as tools bucket web does", async () => {
  const bucket = new MemoryBucket();
  const a = meta(newULID(), 0, { c: "x" });
  const b = meta(newULID(), 7_200_000, { c: "x" });
  const merged: BlockMeta = {
    ...meta(newULID(), 0, { c: "x" }),
    maxTime: 14_400_000,
    compaction: { level: 2, sources: [a.ulid, b.ulid] },
  };
  for (const m of [a, b, merged]) await put(bucket, m);
  const all = new GlobalBlocksView(bucket, { label: "", logger });
  await all.refresh();
  assertEquals(JSON.parse(all.infoJSON()).blocks.length, 3);
  const dedup = new GlobalBlocksView(bucket, { label: "", logger, filterDuplicates: true });
  await dedup.refresh();
  assertEquals(JSON.parse(dedup.infoJSON()).blocks.map((m: BlockMeta) => m.ulid), [merged.ulid]);
  const late = new GlobalBlocksView(bucket, { label: "", logger, minTime: 10_000_000 });
  await late.refresh();
  assertEquals(
    JSON.parse(late.infoJSON()).blocks.map((m: BlockMeta) => m.ulid).sort(),
    [b.ulid, merged.ulid].sort(),
  );
});

Deno.test("Go time JSON trims trailing zeros of the fraction", () => {
  assertEquals(goTimeJSON(null), '"0001-01-01T00:00:00Z"');
  assertEquals(goTimeJSON(1_700_000_000_000), '"2023-11-14T22:13:20Z"');
  assertEquals(goTimeJSON(1_700_000_000_500), '"2023-11-14T22:13:20.5Z"');
});
