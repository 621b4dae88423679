// Query frontend dashboard benchmark (issue 17 must-show 2), printed, never asserted:
//   deno run -A bench/query_frontend_bench.ts [refreshes=20] [backend=IN-MEMORY|MEMCACHED|REDIS]
// A store and a querier over the PromQL corpus data set, a recording proxy counting what reaches
// the querier, and `thanos query-frontend` with a results cache. A 10-panel dashboard over 7 days
// (step 60s) is loaded once cold, then refreshed with the range sliding by one minute. Printed:
// per-refresh latency p50/p99 of the cold load vs the warm refreshes (panel latencies), their
// ratio, the same panels straight to the querier, and downstream requests per refresh.

import { TempDirs } from "../tests/helpers/tmp.ts";
import type { Proc } from "../tests/helpers/thanos.ts";
import {
  BACKENDS,
  cacheYaml,
  H,
  rangeUrl,
  S,
  startFrontend,
  startQuerierOverCorpusData,
  startRecordingProxy,
} from "../tests/helpers/frontend_e2e.ts";
import { type CacheServer, startMemcached, startRedis } from "../tests/helpers/cache_servers.ts";

const REFRESHES = Number(Deno.args[0] ?? 20);
const BACKEND = (Deno.args[1] ?? "IN-MEMORY") as typeof BACKENDS[number];

const PANELS = [
  "sum by (job) (rate(http_requests_total[5m]))",
  "sum by (method) (rate(http_requests_total[5m]))",
  'sum(rate(http_requests_total{code="500"}[5m]))',
  "avg by (sensor) (node_temperature_celsius)",
  "max(process_resident_memory_bytes) by (job)",
  "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
  "count(up == 1) by (job)",
  "sum(increase(http_requests_total[1h]))",
  "avg_over_time(node_temperature_celsius[10m])",
  "topk(3, sum by (instance) (rate(http_requests_total[5m])))",
];

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function timed(url: string): Promise<number> {
  const t0 = performance.now();
  const r = await fetch(url);
  await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`${url}: ${r.status}`);
  return performance.now() - t0;
}

const dirs = new TempDirs();
const procs: Proc[] = [];
let server: CacheServer | undefined;
try {
  const querier = await startQuerierOverCorpusData(dirs, procs);
  const px = startRecordingProxy(querier);
  if (BACKEND === "MEMCACHED") server = await startMemcached();
  if (BACKEND === "REDIS") server = await startRedis();
  const fe = await startFrontend([
    `--query-frontend.downstream-url=${px.url}`,
    `--query-range.response-cache-config=${cacheYaml(BACKEND, server)}`,
  ]);
  procs.push(fe);
  const step = 60_000;
  let end = S + 4 * H;
  const load = (base: string) =>
    Promise.all(PANELS.map((q) => timed(rangeUrl(base, q, end - 7 * 24 * H, end, step))));
  const seen0 = px.seen.length;
  const cold = await load(fe.http);
  const coldRequests = px.seen.length - seen0;
  const warm: number[] = [];
  const direct: number[] = [];
  const seen1 = px.seen.length;
  for (let i = 0; i < REFRESHES; i++) {
    end += step;
    warm.push(...await load(fe.http));
    direct.push(...await load(querier));
  }
  const warmRequests = (px.seen.length - seen1) / REFRESHES;
  const f = (x: number) => x.toFixed(1);
  console.log(`backend ${BACKEND}, ${PANELS.length} panels, 7d at 60s, ${REFRESHES} refreshes`);
  console.log(
    `cold load: p50 ${f(quantile(cold, 0.5))} ms, p99 ${f(quantile(cold, 0.99))} ms, ` +
      `${coldRequests} downstream requests`,
  );
  console.log(
    `warm refresh: p50 ${f(quantile(warm, 0.5))} ms, p99 ${f(quantile(warm, 0.99))} ms, ` +
      `${warmRequests.toFixed(1)} downstream requests per refresh`,
  );
  console.log(
    `querier direct: p50 ${f(quantile(direct, 0.5))} ms, p99 ${f(quantile(direct, 0.99))} ms`,
  );
  console.log(
    `ratio cold/warm: p50 ${(quantile(cold, 0.5) / quantile(warm, 0.5)).toFixed(1)}x, ` +
      `p99 ${(quantile(cold, 0.99) / quantile(warm, 0.99)).toFixed(1)}x; ` +
      `direct/warm p50 ${(quantile(direct, 0.5) / quantile(warm, 0.5)).toFixed(1)}x`,
  );
  await px.close();
} finally {
  for (const p of procs.reverse()) await p.stop();
  await server?.stop();
  await dirs.cleanup();
}
