// `thanos compact` (`main.ts compact …`, one iteration) against a FILESYSTEM bucket: the flags
// that limit what a run touches — `--selector.relabel-config`, `--min-time`/`--max-time`,
// `--debug.max-compaction-level` — and `--retention.resolution-1h`, each checked on the bucket
// afterwards (blocks served, levels, parents); and `--compact.cleanup-interval` under `--wait`.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import {
  fsConfig,
  runCompactor,
  servedBlocks,
  spawnCompactor,
  uploadSeriesBlocks,
} from "../helpers/compact_bucket.ts";
import { answers200 } from "../helpers/thanos.ts";
import { markForDeletion } from "../../block/markers.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import type { RawSeries } from "../../tsdb/block_writer.ts";
import { encodeBlockMeta } from "../../tsdb/meta.ts";

const H = 3600_000;
const T0 = 1_699_920_000_000 - (1_699_920_000_000 % (48 * H));

Deno.test({
  name: "compact: --selector.relabel-config, --min-time/--max-time, --debug.max-compaction-level " +
    "and --retention.resolution-1h limit what a run touches",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const ds = generateDataset({
      series: 20,
      start: T0,
      end: T0 + 10 * H,
      stepMs: 300_000,
      seed: 5,
      specialValues: false,
    });
    const series: RawSeries[] = ds.series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
    const bucketDir = await dirs.make();
    const bucket = new FilesystemBucket(bucketDir);
    const a = await uploadSeriesBlocks(bucket, await dirs.make(), series, { c: "a" });
    const b = await uploadSeriesBlocks(bucket, await dirs.make(), series, { c: "b" });
    assertEquals([a.length, b.length], [5, 5]);
    // blocks of the 1h resolution (metas patched), older than one day
    const h1 = await uploadSeriesBlocks(bucket, await dirs.make(), series.slice(0, 3), { c: "h1" });
    for (const m of h1) {
      const patched = { ...m, thanos: { ...m.thanos!, downsample: { resolution: 3_600_000 } } };
      await bucket.upload(
        `${m.ulid}/meta.json`,
        new TextEncoder().encode(encodeBlockMeta(patched)),
      );
    }
    const cfg = fsConfig(bucketDir);
    const ids = async () => new Set((await servedBlocks(bucket)).keys());
    const level2 = async (c: string) =>
      [...(await servedBlocks(bucket)).values()].filter((m) =>
        m.thanos?.labels.c === c && m.compaction.level === 2
      );
    const all0 = await ids();

    // 1. the selector keeps group a only: a's first four 2h blocks become one 8h block
    const r1 = await runCompactor(cfg, await dirs.make(), [
      "--selector.relabel-config=- action: keep\n  source_labels: [c]\n  regex: a\n",
    ]);
    assertEquals(r1.code, 0, r1.logs.slice(-3000));
    const [a8] = await level2("a");
    assert(a8, r1.logs.slice(-3000));
    assertEquals(a8.compaction.parents?.map((p) => p.ulid), a.slice(0, 4).map((m) => m.ulid));
    assertEquals([a8.minTime, a8.maxTime], [T0, T0 + 8 * H]);
    const after1 = await ids();
    for (const m of [...b, ...h1]) assert(after1.has(m.ulid), `${m.ulid} touched`);

    // 2. --max-time before b's third block: two 2h blocks cannot fill an 8h range
    // 3. --debug.max-compaction-level=1: only the 2h range, nothing to compact
    for (
      const extra of [
        [`--max-time=${new Date(T0 + 3 * H).toISOString()}`],
        ["--debug.max-compaction-level=1"],
      ]
    ) {
      const r = await runCompactor(cfg, await dirs.make(), [
        "--selector.relabel-config=- action: keep\n  source_labels: [c]\n  regex: b\n",
        ...extra,
      ]);
      assertEquals(r.code, 0, r.logs.slice(-3000));
      assertEquals(await level2("b"), [], extra.join(" "));
      const now = await ids();
      for (const m of b) assert(now.has(m.ulid), `${extra}: ${m.ulid} touched`);
    }

    // 4. the 1h-resolution block is past --retention.resolution-1h=1d; raw blocks are kept
    // (raw retention 0d), and without the selector b is compacted now
    const r4 = await runCompactor(cfg, await dirs.make(), ["--retention.resolution-1h=1d"]);
    assertEquals(r4.code, 0, r4.logs.slice(-3000));
    const after4 = await ids();
    for (const m of h1) assert(!after4.has(m.ulid), "1h block not deleted by retention");
    assert(await level2("b").then((l) => l.length === 1), r4.logs.slice(-3000));
    assert(after4.has(a8.ulid) && after4.has(a[4].ulid) && after4.has(b[4].ulid));
    assertEquals(all0.size, 15);
  },
});

Deno.test({
  name: "compact --wait: --compact.cleanup-interval deletes blocks marked while it waits",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const ds = generateDataset({
      series: 5,
      start: T0,
      end: T0 + 4 * H,
      stepMs: 600_000,
      seed: 2,
      specialValues: false,
    });
    const series: RawSeries[] = ds.series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
    const bucketDir = await dirs.make();
    const bucket = new FilesystemBucket(bucketDir);
    const [b1, b2] = await uploadSeriesBlocks(bucket, await dirs.make(), series, { c: "a" });
    const p = spawnCompactor(fsConfig(bucketDir), await dirs.make(), [
      "--wait",
      "--wait-interval=1h",
      "--compact.cleanup-interval=1s",
    ]);
    try {
      await p.waitFor(() => answers200(`http://127.0.0.1:${p.port}/-/ready`), "ready");
      // the first iteration (its own cleanup included) is over: then mark a block while it waits
      await p.waitFor(async () => {
        const r = await fetch(`http://127.0.0.1:${p.port}/metrics`);
        return /\nthanos_compact_iterations_total 1\n/.test(await r.text());
      }, "first iteration");
      await markForDeletion(bucket, b1.ulid, "test");
      let gone = false;
      for (let i = 0; i < 100 && !gone; i++) {
        gone = !(await bucket.exists(`${b1.ulid}/meta.json`));
        if (!gone) await new Promise((r) => setTimeout(r, 100));
      }
      assert(gone, `marked block not deleted by the cleanup loop; logs:\n${p.logs().slice(-3000)}`);
      assert(await bucket.exists(`${b2.ulid}/meta.json`));
      assert(p.alive, "the compactor exited");
    } finally {
      await p.stop();
    }
  },
});
