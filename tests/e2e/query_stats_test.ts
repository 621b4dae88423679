// The `stats` query parameter against a real Prometheus 2.42 on the same blocks: our querier
// (store fixture over promtool's blocks) and Prometheus answer the same instant and range queries
// with `stats=all`; totalQueryableSamples and peakSamples must be equal, timings present as
// numbers.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { type Proc } from "../helpers/thanos.ts";
import { startQuerier, startStore } from "../helpers/query_e2e.ts";
import { DEFAULT_DATASET, setupDiffEnvironment } from "./promql_diff_harness.ts";

const S = DEFAULT_DATASET.start;
const H = 3_600_000;

/** Selectors, range functions, aggregations, subqueries, `@` (step-invariant operands). */
const CORPUS = [
  "up",
  "http_requests_total",
  "http_requests_total offset 10m",
  "timestamp(up)",
  "rate(http_requests_total[5m])",
  "increase(http_requests_total[15m])",
  "sum(rate(http_requests_total[5m]))",
  "sum by (job) (up)",
  "avg_over_time(node_temperature_celsius[30m])",
  "max_over_time(node_temperature_celsius[10m] offset 5m)",
  "count_over_time(up[1h])",
  "topk(3, node_temperature_celsius)",
  "max_over_time(rate(http_requests_total[5m])[20m:1m])",
  "sum_over_time(up[10m:2m])",
  "avg_over_time((up @ 1700003000)[10m:1m])",
  "up @ 1700003000",
  "rate(http_requests_total[5m] @ 1700003000)",
  "sum by (job) (up) + on(job) count by (job) (node_temperature_celsius)",
  "scalar(sum(up)) * up",
  "up * 2",
  "up + on(instance, job) up",
  "rate(http_requests_total[5m]) / 2",
  "2 * sum(up)",
  "up > 0",
  "-up",
  "abs(up)",
  "clamp_min(node_temperature_celsius, 20)",
  'label_replace(up, "x", "$1", "job", "(.*)")',
  'label_join(up, "x", "-", "job", "instance")',
  "sort_desc(up)",
  "vector(1)",
  'absent(nonexistent{job="x"})',
  "absent(up)",
  "time()",
  "round(up, 0.5)",
  "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[10m])))",
];

/** Instant queries of range vectors (Prometheus counts their points or inner samples). */
const INSTANT_ONLY = [
  "http_requests_total[5m]",
  "up[10m:1m]",
  "rate(http_requests_total[5m])[10m:2m]",
];

interface Stats {
  timings: Record<string, unknown>;
  samples: { totalQueryableSamples: number; peakSamples: number };
}

async function statsOf(url: string): Promise<{ keys: string[]; stats: Stats }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  const text = await r.text();
  assertEquals(r.status, 200, `${url}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as { data: Record<string, unknown> };
  return { keys: Object.keys(body.data), stats: body.data.stats as Stats };
}

const TIMINGS = [
  "evalTotalTime",
  "resultSortTime",
  "queryPreparationTime",
  "innerEvalTime",
  "execQueueTime",
  "execTotalTime",
];

e2eTest(
  "stats=all: totalQueryableSamples and peakSamples equal to Prometheus 2.42's on the same blocks, instant and range",
  { peers: ["prometheus", "promtool"] },
  async () => {
    const env = await setupDiffEnvironment({
      dataset: { ...DEFAULT_DATASET, series: 120 },
      staleMarkers: false,
    });
    const procs: Proc[] = [];
    try {
      const store = await startStore(env.blocksDir, {});
      procs.push(store);
      const q = await startQuerier([`--endpoint=127.0.0.1:${store.port}`]);
      procs.push(q);
      const cases: { query: string; params: string }[] = [];
      for (const query of [...CORPUS, ...INSTANT_ONLY]) {
        for (const t of [S + 3 * H, S + 4 * H + 7_500]) {
          cases.push({ query, params: `/api/v1/query?time=${t / 1000}` });
        }
      }
      for (const query of CORPUS) {
        cases.push({
          query,
          params: `/api/v1/query_range?start=${(S + 2 * H) / 1000}&end=${
            (S + 2 * H + 1_800_000) / 1000
          }&step=60`,
        });
        cases.push({
          query,
          params: `/api/v1/query_range?start=${(S + 5 * H + 7_000) / 1000}&end=${
            (S + 6 * H + 600_000) / 1000
          }&step=97`,
        });
      }
      // without the parameter there is no stats member (Prometheus neither)
      const plain = await fetch(`${q.url}/api/v1/query?query=up&time=${(S + 3 * H) / 1000}`);
      assertEquals(Object.keys((await plain.json()).data), ["resultType", "result"]);
      const totalDiffs: string[] = [];
      const peakDiffs: string[] = [];
      let nonZero = 0;
      for (const c of cases) {
        const suffix = `${c.params}&query=${encodeURIComponent(c.query)}&stats=all`;
        const ours = await statsOf(q.url + suffix);
        const theirs = await statsOf(env.prometheus.url + suffix);
        assertEquals(ours.keys, ["resultType", "result", "stats"], suffix);
        assertEquals(Object.keys(ours.stats.timings), TIMINGS);
        for (const k of TIMINGS) assertEquals(typeof ours.stats.timings[k], "number", k);
        assertEquals(Object.keys(ours.stats.samples), Object.keys(theirs.stats.samples));
        const o = ours.stats.samples;
        const p = theirs.stats.samples;
        if (p.totalQueryableSamples > 0) nonZero++;
        if (o.totalQueryableSamples !== p.totalQueryableSamples) {
          totalDiffs.push(
            `${suffix}: ours ${o.totalQueryableSamples}, Prometheus ${p.totalQueryableSamples}`,
          );
        }
        if (o.peakSamples !== p.peakSamples) {
          peakDiffs.push(
            `${c.query} ${c.params}: ours ${o.peakSamples}, Prometheus ${p.peakSamples}`,
          );
        }
      }
      console.log(
        `${cases.length} queries, ${nonZero} with samples; peakSamples differs on ${peakDiffs.length}`,
      );
      for (const d of peakDiffs) console.log(`  peak: ${d}`);
      assertEquals(totalDiffs, [], totalDiffs.join("\n"));
      assert(nonZero > cases.length / 2, "the corpus reads samples");
      assertEquals(peakDiffs, [], peakDiffs.join("\n"));
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await env.cleanup();
    }
  },
);
