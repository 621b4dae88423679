// `thanos compact` end to end against a FILESYSTEM bucket, started as a user would
// (`main.ts compact …`, one iteration without --wait):
// 1. 25 two-hour blocks (5k series, counters with resets, gaps) compacted to a 2d block: promtool's
//    dump of the result equals the dump of the sources, promtool analyze accepts the new block, and
//    Prometheus 2.42 on the compacted blocks answers a query corpus exactly like on the sources.
// 2. A group with overlapping non-replica blocks and a group with a corrupt index do not stop the
//    healthy group; the log names the blocks and /metrics the groups.

import { assert, assertEquals } from "../helpers/assert.ts";
import { copyDir, TempDirs } from "../helpers/tmp.ts";
import {
  downloadBlocks,
  fsConfig,
  runCompactor,
  servedBlocks,
  uploadSeriesBlocks,
} from "../helpers/compact_bucket.ts";
import { analyze, dumpToFile } from "../helpers/promtool.ts";
import { queryRange, startPrometheus } from "../helpers/prometheus.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import type { RawSeries } from "../../tsdb/block_writer.ts";
import { readMarker } from "../../block/markers.ts";

const H = 3600_000;
/** Start of the data: a multiple of 2d, so 24 blocks fill one 2d range. */
const T0 = 1_699_920_000_000 - (1_699_920_000_000 % (48 * H));

async function sha256File(path: string): Promise<string> {
  const { createHash } = await import("node:crypto");
  const h = createHash("sha256");
  const f = await Deno.open(path);
  for await (const b of f.readable) h.update(b);
  return h.digest("hex");
}

Deno.test({
  name: "compact: 25×2h blocks of 5k series → 2d block with identical dump and query answers",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const began = performance.now();
    const ds = generateDataset({
      series: 5000,
      start: T0,
      end: T0 + 50 * H,
      stepMs: 600_000,
      seed: 11,
      specialValues: false,
    });
    assert(ds.series.length >= 5000);
    const series: RawSeries[] = ds.series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
    const bucketDir = await dirs.make();
    const src = await dirs.make();
    const bucket = new FilesystemBucket(bucketDir);
    const sources = await uploadSeriesBlocks(bucket, src, series, { cluster: "eu", replica: "0" });
    assertEquals(sources.length, 25);
    const genSecs = (performance.now() - began) / 1000;

    const t1 = performance.now();
    const run = await runCompactor(fsConfig(bucketDir), await dirs.make());
    const compactSecs = (performance.now() - t1) / 1000;
    assertEquals(run.code, 0, run.logs.slice(-3000));
    assert(
      run.metrics.includes('thanos_compact_group_compactions_total{resolution="0"} 7'),
      run.metrics,
    );
    assert(run.logs.includes('msg="compaction iterations done"'), run.logs.slice(-2000));
    assert(run.logs.includes('msg="compacted blocks"'), run.logs.slice(-2000));

    const served = [...(await servedBlocks(bucket)).values()].sort((a, b) => a.minTime - b.minTime);
    assertEquals(served.length, 2);
    const big = served[0];
    assertEquals([big.minTime, big.maxTime], [T0, T0 + 48 * H]);
    assertEquals(big.compaction.level, 3);
    assertEquals(big.compaction.sources, sources.slice(0, 24).map((m) => m.ulid).sort());
    assertEquals(big.thanos?.source, "compactor");
    assertEquals(big.thanos?.labels, { cluster: "eu", replica: "0" });
    assertEquals(served[1].ulid, sources[24].ulid);
    // sources deleted (delete-delay 0): only the two served blocks are left in the bucket
    const left: string[] = [];
    for await (const n of bucket.iter("")) left.push(n.replace(/\/$/, ""));
    assertEquals(left.sort(), served.map((m) => m.ulid).sort());

    // promtool: dump equality and analyze
    const out = await dirs.make();
    await downloadBlocks(bucket, served.map((m) => m.ulid), out);
    const dumps = await dirs.make();
    await dumpToFile(src, `${dumps}/src.txt`);
    await dumpToFile(out, `${dumps}/out.txt`);
    const srcSize = (await Deno.stat(`${dumps}/src.txt`)).size;
    assertEquals(await sha256File(`${dumps}/out.txt`), await sha256File(`${dumps}/src.txt`));
    const report = await analyze(`${out}/${big.ulid}`);
    assert(
      report.includes(`Block ID: ${big.ulid}`) && report.includes(`Series: ${ds.series.length}`),
      report,
    );

    // Prometheus 2.42 on the source and on the compacted blocks (no compaction of its own)
    const promFlags = [
      "--storage.tsdb.retention.time=100000d",
      "--storage.tsdb.min-block-duration=2h",
      "--storage.tsdb.max-block-duration=2h",
    ];
    const pa = await dirs.make();
    const pb = await dirs.make();
    await Deno.remove(pa);
    await Deno.remove(pb);
    await copyDir(src, pa);
    await copyDir(out, pb);
    const cfg = "global:\n  scrape_interval: 1h\n";
    const [promA, promB] = await Promise.all([
      startPrometheus({ dataDir: pa, config: cfg, extraFlags: promFlags }),
      startPrometheus({ dataDir: pb, config: cfg, extraFlags: promFlags }),
    ]);
    const corpus = [
      'count({__name__=~".+"})',
      'count by (__name__) ({__name__=~".+"})',
      "sum by (code) (rate(http_requests_total[1h]))",
      "increase(http_requests_total[3h])",
      "resets(http_requests_total[6h])",
      "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[2h])))",
      "max_over_time(node_temperature_celsius[2h])",
      "avg_over_time(process_resident_memory_bytes[90m])",
      "sum(count_over_time(up[6h]))",
      "node_temperature_celsius",
    ];
    try {
      for (const q of corpus) {
        const [a, b] = await Promise.all([
          queryRange(promA.url, q, T0 / 1000, (T0 + 50 * H) / 1000, 1800),
          queryRange(promB.url, q, T0 / 1000, (T0 + 50 * H) / 1000, 1800),
        ]);
        assertEquals(a.status, "success");
        assert(a.data.result.length > 0, `no result for ${q}`);
        assertEquals(b.data, a.data, q);
      }
    } finally {
      await Promise.all([promA.stop(), promB.stop()]);
    }
    console.log(
      `compact e2e: ${ds.series.length} series, ${sources.length} blocks, ` +
        `${sources.reduce((n, m) => n + (m.stats.numSamples ?? 0), 0)} samples; generate ` +
        `${genSecs.toFixed(1)}s, compactor run ${compactSecs.toFixed(1)}s, dump ${srcSize} bytes ` +
        `equal; ${corpus.length} queries equal; total ${
          ((performance.now() - began) / 1000).toFixed(1)
        }s`,
    );
  },
});

Deno.test({
  name:
    "compact: a bad group (overlap, corrupt index) does not stop the others; log and metrics name it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const ds = generateDataset({
      series: 50,
      start: T0,
      end: T0 + 12 * H,
      stepMs: 300_000,
      seed: 3,
      specialValues: false,
    });
    const series: RawSeries[] = ds.series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
    const bucketDir = await dirs.make();
    const bucket = new FilesystemBucket(bucketDir);
    const good = await uploadSeriesBlocks(bucket, await dirs.make(), series, { c: "good" });
    const o1 = await uploadSeriesBlocks(bucket, await dirs.make(), series, { c: "overlap" });
    const o2 = await uploadSeriesBlocks(bucket, await dirs.make(), series.slice(0, 10), {
      c: "overlap",
    });
    const bad = await uploadSeriesBlocks(bucket, await dirs.make(), series, { c: "corrupt" });
    const idx = await bucket.get(`${bad[0].ulid}/index`);
    for (let i = 5; i < 200; i++) idx[i] ^= 0x5a;
    await bucket.upload(`${bad[0].ulid}/index`, idx);

    const run = await runCompactor(fsConfig(bucketDir), await dirs.make());
    assertEquals(run.code, 0, run.logs.slice(-3000));
    const problems = run.logs.split("\n").filter((l) =>
      l.includes("compaction group has a problem")
    );
    assert(problems.some((l) => l.includes(o1[0].ulid) && l.includes(o2[0].ulid)), run.logs);
    assert(problems.some((l) => l.includes(bad[0].ulid) && l.includes("corrupt-block")), run.logs);
    assert(run.metrics.includes('labels="{c=\\"overlap\\"}"} 1'), run.metrics);
    assert(run.metrics.includes('labels="{c=\\"corrupt\\"}"} 1'), run.metrics);
    assert(
      /thanos_compact_group_compactions_failures_total\{resolution="0"\} [1-9]/.test(run.metrics),
    );
    // the healthy group compacted all the way (2h → 8h), the bad blocks are marked no-compact
    const served = [...(await servedBlocks(bucket)).values()];
    assert(served.some((m) => m.thanos?.labels.c === "good" && m.compaction.level === 2));
    assert(good.length >= 5);
    assertEquals(
      (await readMarker(bucket, bad[0].ulid, "no-compact-mark.json"))?.reason,
      "corrupt-block",
    );
    assertEquals(
      (await readMarker(bucket, o1[0].ulid, "no-compact-mark.json"))?.reason,
      "overlapping-blocks",
    );
  },
});
