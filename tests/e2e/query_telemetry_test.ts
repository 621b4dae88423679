// Query telemetry through the real CLI (`--query.telemetry.*`, query/telemetry.ts): the series,
// chunk and sample counts come back from the evaluation Workers with each answer, so
// `thanos_store_api_query_duration_seconds` on the querier's `/metrics` carries the buckets the
// flags define and the request's tenant header. The range query is past the querier's work bound
// for its own thread (query/api.ts INLINE_RANGE_WORK: 12 series × 10,001 steps > 100,000), so
// the counted answer is a Worker's. No duration is asserted, only counts and labels.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import type { Proc, ThanosProc } from "../helpers/thanos.ts";
import { startQuerier, startStore, T0, writeBlocks } from "../helpers/query_e2e.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import type { RawSeries } from "../../tsdb/block_writer.ts";

Deno.test({
  name: "thanos query: a query's duration by the series and samples buckets of the flags",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dirs = new TempDirs();
    const procs: (Proc | ThanosProc)[] = [];
    try {
      const root = await dirs.make();
      // 12 series of 41 samples (10 minutes at 15 s): one chunk each
      const series: RawSeries[] = Array.from({ length: 12 }, (_, i) => {
        const ts = new Float64Array(41);
        const vs = new Float64Array(41);
        for (let k = 0; k < 41; k++) {
          ts[k] = T0 + k * 15_000;
          vs[k] = k;
        }
        return { labels: labelsFromObject({ __name__: "m", i: String(i) }), ts, vs };
      });
      await writeBlocks(`${root}/blocks`, series);
      const store = await startStore(`${root}/blocks`, { site: "a" });
      procs.push(store);
      const q = await startQuerier([
        `--endpoint=127.0.0.1:${store.port}`,
        "--query.telemetry.request-duration-seconds-quantiles=1000",
        "--query.telemetry.request-series-seconds-quantiles=5",
        "--query.telemetry.request-series-seconds-quantiles=20",
        "--query.telemetry.request-samples-quantiles=200",
        "--query.telemetry.request-samples-quantiles=500",
      ]);
      procs.push(q);
      const r = await fetch(
        `${q.url}/api/v1/query_range?query=sum(m)&start=${T0 / 1000}&end=${
          T0 / 1000 + 600
        }&step=0.06`,
        { headers: { "THANOS-TENANT": "team-x" } },
      );
      const body = await r.json();
      assertEquals(r.status, 200, JSON.stringify(body));
      assertEquals(body.data.result.length, 1);
      const metrics = await (await fetch(`${q.url}/metrics`)).text();
      const lines = metrics.split("\n").filter((l) =>
        l.startsWith("thanos_store_api_query_duration_seconds")
      );
      // 12 series (≤ 20), 492 samples (≤ 500)
      assert(
        lines.includes(
          'thanos_store_api_query_duration_seconds_count{samples_le="500",series_le="20",tenant="team-x"} 1',
        ),
        lines.join("\n"),
      );
      assert(
        lines.includes(
          'thanos_store_api_query_duration_seconds_bucket{samples_le="500",series_le="20",tenant="team-x",le="1000"} 1',
        ),
        lines.join("\n"),
      );
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await dirs.cleanup();
    }
  },
});
