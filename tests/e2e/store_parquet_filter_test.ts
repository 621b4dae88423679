// `thanos store --objstore-parquet.config`: TSDB blocks a parquet gateway fully converted (named by
// `meta.pb` files in its bucket, whole UTC days only) are not loaded; the rest are, and the
// metric names the reason (Thanos v0.42's `IgnoreParquetConvertedBlocksFilter`). Real process,
// FILESYSTEM buckets, the store's loaded-blocks view as the witness.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { refreshedBlocks, startWeb } from "../helpers/bucket_web.ts";
import { fsConfig, uploadSeriesBlocks } from "../helpers/compact_bucket.ts";
import { freePort } from "../helpers/ports.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { generateDataset } from "../../scripts/dataset.ts";

const H = 3600_000;
const DAY = 24 * H;

/** A `meta.pb` naming `ids` in field 6 (what the parquet converter writes there). */
function metaPb(ids: string[]): Uint8Array {
  const enc = new TextEncoder();
  const out: number[] = [];
  for (const id of ids) out.push(6 << 3 | 2, 26, ...enc.encode(id));
  return new Uint8Array(out);
}

Deno.test({
  name: "store leaves out blocks of fully converted days named by the parquet bucket",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    const pdir = await dirs.make();
    const bucket = new FilesystemBucket(dir);
    // a whole UTC day of 2h blocks, plus 2 hours of the next day
    const day = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;
    const series = generateDataset({
      series: 6,
      start: day,
      end: day + DAY + 2 * H - 60_000,
      stepMs: 60_000,
      seed: 7,
    }).series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
    const metas = await uploadSeriesBlocks(bucket, await dirs.make(), series, { site: "a" });
    assertEquals(metas.length, 13);
    const dayBlocks = metas.filter((m) => m.maxTime <= day + DAY);
    const next = metas.filter((m) => m.minTime >= day + DAY);
    assertEquals([dayBlocks.length, next.length], [12, 1]);
    // the converter wrote one meta.pb per day; the next day is only partly converted
    const pq = new FilesystemBucket(pdir);
    await pq.upload("day0/meta.pb", metaPb(dayBlocks.map((m) => m.ulid)));
    await pq.upload("day1/meta.pb", metaPb(next.map((m) => m.ulid)));

    const { p, url } = await startWeb([
      "store",
      `--objstore.config=${fsConfig(dir)}`,
      `--objstore-parquet.config=${fsConfig(pdir)}`,
      `--data-dir=${await dirs.make()}`,
      `--grpc-address=127.0.0.1:${freePort()}`,
    ], "store-parquet");
    try {
      const loaded = await refreshedBlocks(url, "loaded");
      assertEquals(loaded.blocks.map((m) => m.ulid), next.map((m) => m.ulid));
      const text = await (await fetch(`${url}/metrics`)).text();
      assert(/thanos_blocks_meta_synced\{state="parquet-converted"\} 12\n/.test(text), text);
      assert(/thanos_blocks_meta_synced\{state="loaded"\} 1\n/.test(text), text);
    } finally {
      await p.stop();
    }
  },
});
