// Downsampling end to end (issue 15, must-show 3): a raw block spanning 42h of a few hundred
// generated series (60 s scrapes, counters with resets, gauges, gaps) is uploaded to a
// FILESYSTEM bucket, downsampled to 5m by downsampleBucket (compact/downsample.ts) and the 5m
// block again to 1h; our store gateway serves all three and our querier answers PromQL with
// max_source_resolution=0 (raw), 5m and 1h. Downsampled answers are compared with the raw ones.
//
// Tolerances (why the answers are not all identical):
// - Evaluation times and ranges are multiples of the resolution and no raw sample lies on a
//   window boundary (samples at :20 s), so a range (t−R, t] holds exactly the windows whose
//   timestamps (their last ms) it holds, i.e. exactly the raw samples of those windows. Hence
//   min/max/count_over_time are exact and sum_over_time equal up to float rounding (1e-9 rel).
// - avg_over_time reads sum/count per window (Thanos's default aggregates) and averages the
//   window means: equal to the raw mean when all windows of the range hold the same number of
//   samples; with gaps it is a differently weighted mean of the same samples, so it must lie
//   within [min_over_time, max_over_time] of the raw samples. Full ranges are checked at 1e-9.
// - rate/increase read the counter aggregate: one point per window at the window's end with the
//   reset-corrected counter at the window's last raw sample. In a range the first downsampled
//   point comes up to one resolution step after the first raw sample, so the increase of at most
//   one window is extrapolated instead of measured: |Δincrease| ≤ 2·(largest raw increase over
//   one window in the range) and the same over R for rate. We bound it with the raw data as
//   2·max(increase over any window r)/R·R, computed from raw increase(x[r]) per window.

import { assert } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { writeBlock } from "../../tsdb/block_writer.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { uploadBlock } from "../../block/shipper.ts";
import { downloadBlock } from "../../block/download.ts";
import { downsampleBlock, downsampleBucket, RES_1H, RES_5M } from "../../compact/downsample.ts";
import { getJSON, startQuerier } from "../helpers/query_e2e.ts";
import { startComponent } from "../helpers/thanos.ts";

const HOUR = 3_600_000;
// hour-aligned start, samples 20 s past each minute (never on a window boundary)
const START = 1_699_999_200_000 + 20_000;
const END = START + 42 * HOUR;

type Matrix = { metric: Record<string, string>; values: [number, string][] }[];

function key(m: Record<string, string>): string {
  return JSON.stringify(Object.entries(m).sort());
}

function toMap(r: Matrix): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const s of r) out.set(key(s.metric), new Map(s.values.map(([t, v]) => [t, Number(v)])));
  return out;
}

Deno.test({
  name: "downsampled 5m and 1h data answer PromQL like raw data within stated tolerances",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dirs = new TempDirs();
    const procs: { stop(): Promise<void> }[] = [];
    try {
      const root = await dirs.make();
      const ds = generateDataset({
        series: 300,
        start: START,
        end: END,
        stepMs: 60_000,
        seed: 15,
        specialValues: false,
      });
      const thanos = {
        labels: { cluster: "e2e" },
        downsample: { resolution: 0 },
        source: "sidecar",
      };
      const raw = await writeBlock(`${root}/local`, ds.series, {
        minTime: START,
        maxTime: END,
        thanos,
      });
      const bucket = new FilesystemBucket(`${root}/bucket`);
      await uploadBlock(bucket, `${root}/local/${raw.ulid}`);
      const t0 = performance.now();
      const { created } = await downsampleBucket(bucket, { dir: `${root}/work` });
      const secs = (performance.now() - t0) / 1000;
      assert(created.length === 1 && created[0].thanos?.downsample.resolution === RES_5M);
      console.log(
        `downsampled ${ds.series.length} series, ${raw.stats.numSamples} samples to 5m in ` +
          `${secs.toFixed(2)} s (${Math.round((raw.stats.numSamples ?? 0) / secs)} samples/s)`,
      );
      // 1h from the 5m block (the 10-day span rule of downsampleBucket is unit-tested)
      await downloadBlock(bucket, created[0].ulid, `${root}/m5/${created[0].ulid}`);
      const h1 = await downsampleBlock(`${root}/m5/${created[0].ulid}`, `${root}/h1`, RES_1H);
      await uploadBlock(bucket, `${root}/h1/${h1.ulid}`);
      await bucket.close();

      await Deno.writeTextFile(
        `${root}/bucket.yml`,
        `type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`,
      );
      const store = await startComponent("store", [
        `--objstore.config-file=${root}/bucket.yml`,
        `--data-dir=${root}/store`,
        "--log.level=warn",
      ]);
      procs.push(store);
      const q = await startQuerier([`--store=${store.grpc}`]);
      procs.push(q);

      const range = async (expr: string, res: string, R: number, step: number) => {
        // evaluation times aligned to the resolution (and R): the first full range to the end
        const s = Math.ceil((START + R) / HOUR) * HOUR / 1000;
        const e = Math.floor(END / HOUR) * HOUR / 1000;
        const r = await getJSON(
          `${q.url}/api/v1/query_range?query=${encodeURIComponent(expr)}&start=${s}&end=${e}` +
            `&step=${step}&max_source_resolution=${res}`,
        );
        assert(r.status === 200, r.text.slice(0, 500));
        return toMap((r.body.data as { result: Matrix }).result);
      };

      const report: string[] = [];
      for (const [res, resMs, R] of [["5m", RES_5M, HOUR], ["1h", RES_1H, 6 * HOUR]] as const) {
        const Rs = `${R / 60_000}m`;
        const step = 3600;
        const rawOpts = ["0s", R, step] as const;
        const dsOpts = [res, R, step] as const;
        let compared = 0;
        // one metric name per query: functions drop __name__
        for (
          const [gauges, counters] of [
            ["process_resident_memory_bytes", "http_requests_total"],
            ["node_temperature_celsius", "http_request_duration_seconds_bucket"],
          ]
        ) {
          // exact: count/min/max; sum up to float rounding
          for (const f of ["count_over_time", "min_over_time", "max_over_time", "sum_over_time"]) {
            const expr = `${f}(${gauges}[${Rs}])`;
            const a = await range(expr, ...rawOpts);
            const b = await range(expr, ...dsOpts);
            assert(a.size > 3 && a.size === b.size, `${expr}: ${a.size} vs ${b.size} series`);
            for (const [k, pts] of a) {
              const other = b.get(k);
              assert(other, `${expr} ${res}: series ${k} missing`);
              for (const [t, v] of pts) {
                const w = other.get(t);
                assert(w !== undefined, `${expr} ${res}: ${k} @${t} missing`);
                const tol = f === "sum_over_time" ? 1e-9 * Math.max(1, Math.abs(v)) : 0;
                assert(Math.abs(v - w) <= tol, `${expr} ${res}: ${k} @${t}: raw ${v}, ${res} ${w}`);
                compared++;
              }
            }
          }
          // avg: within the raw range's [min, max]; equal when the range is full
          {
            const avgRaw = await range(`avg_over_time(${gauges}[${Rs}])`, ...rawOpts);
            const avgDs = await range(`avg_over_time(${gauges}[${Rs}])`, ...dsOpts);
            const mn = await range(`min_over_time(${gauges}[${Rs}])`, ...rawOpts);
            const mx = await range(`max_over_time(${gauges}[${Rs}])`, ...rawOpts);
            const cnt = await range(`count_over_time(${gauges}[${Rs}])`, ...rawOpts);
            let exactChecked = 0;
            for (const [k, pts] of avgRaw) {
              for (const [t, v] of pts) {
                const w = avgDs.get(k)?.get(t);
                assert(w !== undefined, `avg ${res}: ${k} @${t} missing`);
                const lo = mn.get(k)!.get(t)!;
                const hi = mx.get(k)!.get(t)!;
                const eps = 1e-9 * Math.max(1, Math.abs(lo), Math.abs(hi));
                assert(
                  w >= lo - eps && w <= hi + eps,
                  `avg ${res}: ${k} @${t}: ${w} ∉ [${lo}, ${hi}]`,
                );
                if (cnt.get(k)!.get(t)! === R / 60_000) {
                  assert(Math.abs(v - w) <= eps, `avg ${res} full range: ${k} @${t}: ${v} vs ${w}`);
                  exactChecked++;
                }
                compared++;
              }
            }
            assert(exactChecked > 0);
          }
          // rate / increase: bounded by two windows' worth of raw increase
          {
            const winInc = await range(
              `max_over_time(increase(${counters}[${resMs / 60_000}m])[${Rs}:${resMs / 60_000}m])`,
              ...rawOpts,
            );
            const rawCount = await range(`count_over_time(${counters}[${Rs}])`, ...rawOpts);
            for (const f of ["increase", "rate"]) {
              const expr = `${f}(${counters}[${Rs}])`;
              const a = await range(expr, ...rawOpts);
              const b = await range(expr, ...dsOpts);
              assert(a.size > 3, `${expr}: ${a.size} series`);
              let worst = 0;
              let missing = 0;
              const rel: number[] = [];
              for (const [k, pts] of a) {
                for (const [t, v] of pts) {
                  const w = b.get(k)?.get(t);
                  if (w === undefined) {
                    // one point per window: a range whose data (cut by a gap) falls in a single
                    // window has no downsampled rate; only allowed when the range has a gap
                    const n = rawCount.get(k)?.get(t) ?? 0;
                    assert(n < R / 60_000, `${expr} ${res}: ${k} @${t} missing (${n} samples)`);
                    missing++;
                    continue;
                  }
                  const win = winInc.get(k)?.get(t) ?? 0;
                  const bound = 2 * win * (f === "rate" ? 1 / (R / 1000) : 1) + 1e-9;
                  assert(
                    Math.abs(v - w) <= bound,
                    `${expr} ${res}: ${k} @${t}: raw ${v}, ${res} ${w}, bound ${bound}`,
                  );
                  if (v !== 0) {
                    worst = Math.max(worst, Math.abs(v - w) / Math.abs(v));
                    rel.push(Math.abs(v - w) / Math.abs(v));
                  }
                  compared++;
                }
              }
              report.push(
                `${f} ${res} (${counters}): median relative difference ` +
                  `${(rel.sort((x, y) => x - y)[rel.length >> 1] * 100).toFixed(2)}%, worst ` +
                  `${(worst * 100).toFixed(2)}%, ${missing} points without a downsampled ` +
                  `answer (ranges cut by gaps)`,
              );
              assert(missing <= 0.05 * compared);
            }
          }
        }
        report.push(`${res}: ${compared} points compared`);
      }
      console.log(report.join("\n"));
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await dirs.cleanup();
    }
  },
});
