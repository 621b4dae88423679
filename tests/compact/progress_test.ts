// compact/progress.ts: the work-left figures of `--compact.progress-interval`, checked against what
// the real compactor then does (compactions and blocks it takes), and the downsampling and
// retention counts against hand-built metas.

import { assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { servedBlocks, uploadSeriesBlocks } from "../helpers/compact_bucket.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import { Registry } from "../../metrics/registry.ts";
import { Logger } from "../../logging/log.ts";
import { BucketCompactor } from "../../compact/compactor.ts";
import { compactionProgress, computeProgress, retentionProgress } from "../../compact/progress.ts";
import { compactionRanges } from "../../compact/planner.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import type { BlockMeta } from "../../tsdb/meta.ts";
import type { RawSeries } from "../../tsdb/block_writer.ts";

const H = 3600_000;
const T0 = 1_699_920_000_000 - (1_699_920_000_000 % (48 * H)); // aligned to 2d

function series(hours: number): RawSeries[] {
  const ts: number[] = [];
  for (let t = T0; t < T0 + hours * H; t += 600_000) ts.push(t);
  return [0, 1].map((i) => ({
    labels: labelsFromObject({ __name__: "m", i: String(i) }),
    ts: Float64Array.from(ts),
    vs: Float64Array.from(ts.map((t) => (t - T0) / 1000 + i)),
  }));
}

Deno.test("progress: the planned compactions and blocks equal what the compactor then does", async () => {
  await using dirs = new TempDirs();
  const bucket = new MemoryBucket();
  // group a: 25 2h blocks (→ six 8h blocks → one 2d block, the newest left alone);
  // group b: 5 blocks (→ one 8h block)
  await uploadSeriesBlocks(bucket, await dirs.make(), series(50), { g: "a" });
  await uploadSeriesBlocks(bucket, await dirs.make(), series(10), { g: "b" });
  const before = await servedBlocks(bucket);
  const want = compactionProgress(before.values(), compactionRanges());
  const registry = new Registry();
  const lines: string[] = [];
  const c = new BucketCompactor({
    bucket,
    dataDir: await dirs.make(),
    logger: new Logger("info", "logfmt", {}, (l) => lines.push(l)),
    registry,
  });
  const res = await c.compact();
  assertEquals(want.compactions, res.compactions);
  assertEquals(want, { compactions: 6 + 1 + 1, blocks: 24 + 6 + 4 });
  const taken = lines.filter((l) => l.includes('msg="compacted blocks"'))
    .map((l) => /blocks=([^ ]+)/.exec(l)![1].split(",").length)
    .reduce((a, b) => a + b, 0);
  assertEquals(taken, want.blocks);
  // nothing left afterwards
  assertEquals(compactionProgress((await servedBlocks(bucket)).values(), compactionRanges()), {
    compactions: 0,
    blocks: 0,
  });
});

function meta(ulid: string, minH: number, maxH: number, res = 0, sources = [ulid]): BlockMeta {
  return {
    ulid,
    minTime: T0 + minH * H,
    maxTime: T0 + maxH * H,
    stats: { numSeries: 1, numSamples: 1, numChunks: 1 },
    compaction: { level: 1, sources },
    version: 1,
    thanos: { labels: { g: "a" }, downsample: { resolution: res }, source: "compactor" },
  };
}

Deno.test("progress: downsampling candidates and blocks past retention are counted", () => {
  const ids = [
    "01HAAAAAAAAAAAAAAAAAAAAAA1",
    "01HAAAAAAAAAAAAAAAAAAAAAA2",
    "01HAAAAAAAAAAAAAAAAAAAAAA3",
    "01HAAAAAAAAAAAAAAAAAAAAAA4",
  ];
  // a 48h raw block with a 5m copy, a second 48h raw block without, a short raw block
  const metas = new Map<string, BlockMeta>([
    [ids[0], meta(ids[0], 0, 48)],
    [ids[1], meta(ids[1], 0, 48, 300_000, [ids[0]])],
    [ids[2], meta(ids[2], 48, 96)],
    [ids[3], meta(ids[3], 96, 98)],
  ]);
  const now = T0 + 100 * H;
  const p = computeProgress(metas, {
    ranges: compactionRanges(),
    downsampling: true,
    retention: { raw: 3 * H, fiveMin: 0, oneHour: 0 },
    now,
  });
  assertEquals(p.downsampleBlocks, 1);
  // raw blocks ending before now − 3h: the two 48h raw blocks; the 5m block is kept forever
  assertEquals(p.deletionBlocks, 2);
  assertEquals(retentionProgress(metas.values(), { raw: 0, fiveMin: H, oneHour: 0 }, now), 1);
  assertEquals(
    computeProgress(metas, {
      ranges: compactionRanges(),
      downsampling: false,
      retention: { raw: 0, fiveMin: 0, oneHour: 0 },
      now,
    }).downsampleBlocks,
    0,
  );
});
