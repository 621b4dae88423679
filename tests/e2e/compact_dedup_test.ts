// Offline deduplication end to end (issue 15, must-show 2). Two Prometheus-like replicas of one
// source (external labels {cluster="eu", replica="A"|"B"}, B scraping 5 s after A, each missing its
// own spans) upload 2h blocks that overlap in time. Before compaction, our store gateway + querier
// with online dedup (`--query.replica-label=replica`) answer a PromQL corpus (range and instant).
// Then `thanos compact --compact.enable-vertical-compaction --deduplication.replica-label=replica`
// merges the replicas; a querier WITHOUT dedup over the compacted bucket must answer exactly the
// same, for both offline dedup functions:
// - `--deduplication.func=` (one-to-one merge: every distinct sample kept) against the querier's
//   `--deduplication.func=chain` (the same one-to-one merge online), and
// - `--deduplication.func=penalty` against the querier's default penalty dedup.
// The penalty algorithm picks a replica from the first samples it sees and switches only at gaps,
// so online and offline agree when the querier reads the series from the start of the data. The
// corpus is therefore range queries from the first sample and instant queries whose range
// selectors reach back to it; the one-to-one case also gets instant queries in the middle.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import {
  fsConfig,
  runCompactor,
  servedBlocks,
  uploadSeriesBlocks,
} from "../helpers/compact_bucket.ts";
import { getJSON, startQuerier } from "../helpers/query_e2e.ts";
import { startComponent } from "../helpers/thanos.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import type { RawSeries } from "../../tsdb/block_writer.ts";

const H = 3600_000;
const M = 60_000;
/** A multiple of 8h: the replicas' first four 2h blocks fill one 8h range. */
const T0 = 1_699_920_000_000 - (1_699_920_000_000 % (8 * H));
const END = T0 + 10 * H;

/** `series` without the samples in [from, to), timestamps shifted by `shiftMs`. */
function replica(
  series: RawSeries[],
  shiftMs: number,
  gaps: [number, number][],
): RawSeries[] {
  return series.map((s) => {
    const ts: number[] = [];
    const vs: number[] = [];
    for (let i = 0; i < s.ts.length; i++) {
      const t = s.ts[i] + shiftMs;
      if (t >= END || gaps.some(([a, b]) => t >= a && t < b)) continue;
      ts.push(t);
      vs.push(s.vs[i]);
    }
    return { labels: s.labels, ts: Float64Array.from(ts), vs: Float64Array.from(vs) };
  });
}

type Answer = { status: number; text: string };

/** The corpus: [name, URL path+query] pairs. `middle` adds instant queries inside the data. */
function corpus(middle: boolean): [string, string][] {
  const s = T0 / 1000;
  const e = END / 1000;
  const range = (q: string) =>
    `/api/v1/query_range?query=${encodeURIComponent(q)}&start=${s}&end=${e}&step=120`;
  const instant = (q: string, t: number) =>
    `/api/v1/query?query=${encodeURIComponent(q)}&time=${t / 1000}`;
  const out: [string, string][] = [];
  for (
    const q of [
      "http_requests_total",
      "node_temperature_celsius",
      "rate(http_requests_total[5m])",
      "sum by (code) (increase(http_requests_total[1h]))",
      "max_over_time(node_temperature_celsius[30m])",
      "count_over_time(process_resident_memory_bytes[20m])",
      "resets(http_requests_total[2h])",
      "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[10m])))",
      "up",
    ]
  ) out.push([`range ${q}`, range(q)]);
  for (
    const q of [
      "count_over_time(http_requests_total[11h])",
      "sum_over_time(node_temperature_celsius[11h])",
      "increase(http_requests_total[11h])",
      "resets(http_requests_total[11h])",
      "changes(process_resident_memory_bytes[11h])",
      "sum by (job) (count_over_time(http_requests_total[11h]))",
    ]
  ) out.push([`instant ${q}`, instant(q, END)]);
  if (middle) {
    for (const t of [T0 + 3 * H + 10 * M, T0 + 5 * H, T0 + 6 * H + 30 * M, T0 + 9 * H + 7 * M]) {
      for (
        const q of [
          "rate(http_requests_total[5m])",
          "node_temperature_celsius",
          "count_over_time(process_resident_memory_bytes[30m])",
        ]
      ) out.push([`instant ${q} @${(t - T0) / M}m`, instant(q, t)]);
    }
  }
  return out;
}

async function answers(url: string, queries: [string, string][]): Promise<Answer[]> {
  const out: Answer[] = [];
  for (const [, path] of queries) {
    const r = await getJSON(`${url}${path}`);
    out.push({ status: r.status, text: r.status === 200 ? JSON.stringify(r.body.data) : r.text });
  }
  return out;
}

/** Starts a store gateway over the bucket in `dir` plus a querier; returns both. */
async function storeAndQuerier(dirs: TempDirs, bucketDir: string, querierFlags: string[]) {
  const store = await startComponent("store", [
    `--objstore.config=${fsConfig(bucketDir)}`,
    `--data-dir=${await dirs.make()}`,
    "--log.level=warn",
  ]);
  try {
    const q = await startQuerier([`--store=${store.grpc}`, ...querierFlags]);
    return { store, q };
  } catch (e) {
    await store.stop();
    throw e;
  }
}

Deno.test({
  name:
    "compact: offline dedup of two replicas equals the querier's online dedup (func= and penalty)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const ds = generateDataset({
      series: 40,
      start: T0,
      end: END,
      stepMs: 15_000,
      seed: 21,
      gapProbability: 0,
      specialValues: false,
    });
    const series: RawSeries[] = ds.series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
    const a = replica(series, 0, [[T0 + 3 * H, T0 + 3 * H + 20 * M], [
      T0 + 8 * H,
      T0 + 8 * H + 9 * M,
    ]]);
    const b = replica(series, 5_000, [[T0 + H, T0 + H + 15 * M], [
      T0 + 6 * H + 10 * M,
      T0 + 6 * H + 40 * M,
    ]]);
    const bucketFunc = await dirs.make();
    const bucketPenalty = await dirs.make();
    for (const dir of [bucketFunc, bucketPenalty]) {
      const bkt = new FilesystemBucket(dir);
      const ma = await uploadSeriesBlocks(bkt, await dirs.make(), a, {
        cluster: "eu",
        replica: "A",
      });
      const mb = await uploadSeriesBlocks(bkt, await dirs.make(), b, {
        cluster: "eu",
        replica: "B",
      });
      assertEquals([ma.length, mb.length], [5, 5]);
      await bkt.close();
    }

    // before: online dedup (chain = one-to-one, penalty), and no dedup as a sanity reference
    const full = corpus(true);
    const fromStart = corpus(false);
    const before = await storeAndQuerier(dirs, bucketFunc, []);
    let chainBefore: Answer[], penaltyBefore: Answer[], rawBefore: Answer[];
    try {
      rawBefore = await answers(before.q.url, full);
      const chain = await startQuerier([
        `--store=${before.store.grpc}`,
        "--query.replica-label=replica",
        "--deduplication.func=chain",
      ]);
      try {
        chainBefore = await answers(chain.url, full);
      } finally {
        await chain.stop();
      }
      const penalty = await startQuerier([
        `--store=${before.store.grpc}`,
        "--query.replica-label=replica",
      ]);
      try {
        penaltyBefore = await answers(penalty.url, fromStart);
      } finally {
        await penalty.stop();
      }
    } finally {
      await before.q.stop();
      await before.store.stop();
    }
    for (const [i, ans] of chainBefore.entries()) {
      assertEquals(ans.status, 200, `${full[i][0]}: ${ans.text.slice(0, 300)}`);
      assert(ans.text.includes('"metric"'), `${full[i][0]}: empty answer`);
    }
    // the replicas are really different series before dedup (aggregations over the one-to-one
    // merge may equal the raw ones: sums of counts of distinct samples)
    const changed = chainBefore.filter((ans, i) => rawBefore[i].text !== ans.text).length;
    assert(changed * 2 > full.length, `dedup changed only ${changed} of ${full.length} answers`);
    assert(
      rawBefore[0].text.includes('"replica":"A"') && rawBefore[0].text.includes('"replica":"B"'),
    );

    // compact both buckets, one per dedup function
    for (
      const [dir, func] of [[bucketFunc, ""], [bucketPenalty, "penalty"]] as const
    ) {
      const run = await runCompactor(fsConfig(dir), await dirs.make(), [
        "--compact.enable-vertical-compaction",
        "--deduplication.replica-label=replica",
        `--deduplication.func=${func}`,
      ]);
      assertEquals(run.code, 0, run.logs.slice(-3000));
      assert(
        /thanos_compact_group_vertical_compactions_total\{resolution="0"\} [1-9]/.test(run.metrics),
        run.metrics,
      );
      const served = [...(await servedBlocks(new FilesystemBucket(dir))).values()].sort((x, y) =>
        x.minTime - y.minTime
      );
      // no replica label left, no overlap, every source covered once
      for (const m of served) assertEquals(m.thanos?.labels, { cluster: "eu" }, func);
      for (let i = 1; i < served.length; i++) {
        assert(served[i].minTime >= served[i - 1].maxTime, `${func}: served blocks overlap`);
      }
      assertEquals(served.flatMap((m) => m.compaction.sources).length, 10, func);
      assertEquals([served[0].minTime, served[0].maxTime], [T0, T0 + 8 * H], func);
    }

    // after: no dedup at the querier
    for (
      const [dir, want, qs, name] of [
        [bucketFunc, chainBefore, full, "func="],
        [bucketPenalty, penaltyBefore, fromStart, "penalty"],
      ] as const
    ) {
      const after = await storeAndQuerier(dirs, dir, []);
      try {
        const got = await answers(after.q.url, qs);
        for (const [i, ans] of got.entries()) {
          assertEquals(ans.status, 200, `${name} ${qs[i][0]}`);
          assert(ans.text === want[i].text, `${name} ${qs[i][0]}: differs from online dedup`);
        }
        console.log(`offline dedup ${name}: ${qs.length} queries equal to online dedup`);
      } finally {
        await after.q.stop();
        await after.store.stop();
      }
    }
  },
});
