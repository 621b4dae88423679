// Query latency and peak memory through the querier (two stores) against one Prometheus 2.42 on
// the same data, for a fixed query set; prints per-query medians and ratios. Never asserts.
// Usage: deno run -A bench/query_bench.ts [series=400] [repeats=5]

import { startPrometheus } from "../tests/helpers/prometheus.ts";
import { TempDirs } from "../tests/helpers/tmp.ts";
import {
  smallDataset,
  startQuerier,
  startStore,
  T0,
  withLabels,
  writeBlocks,
} from "../tests/helpers/query_e2e.ts";

const SERIES = Number(Deno.args[0] ?? 400);
const REPEATS = Number(Deno.args[1] ?? 5);
const S = T0 / 1000;
const QUERIES: [string, string][] = [
  ["instant sum by region", `query?query=sum by (region) (http_requests_total)&time=${S + 7200}`],
  [
    "range rate 3h/60s",
    `query_range?query=sum by (region, job) (rate(http_requests_total[5m]))&start=${S}&end=${
      S + 3 * 3600
    }&step=60`,
  ],
  [
    "range histogram_quantile",
    `query_range?query=histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))&start=${S}&end=${
      S + 3 * 3600
    }&step=120`,
  ],
  ["series", `series?match[]=up&start=${S}&end=${S + 3 * 3600}`],
];

function peakRssKiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

async function median(url: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const t = performance.now();
    const r = await fetch(url);
    await r.text();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const dirs = new TempDirs();
const procs: { stop(): Promise<void> }[] = [];
try {
  const east = smallDataset(1, SERIES);
  const west = smallDataset(2, SERIES);
  const [de, dw, dp] = [await dirs.make(), await dirs.make(), await dirs.make()];
  await writeBlocks(de, withLabels(east, {}));
  await writeBlocks(dw, withLabels(west, {}));
  await writeBlocks(dp, [
    ...withLabels(east, { region: "east" }),
    ...withLabels(west, { region: "west" }),
  ]);
  const se = await startStore(de, { region: "east" });
  const sw = await startStore(dw, { region: "west" });
  const prom = await startPrometheus({
    dataDir: dp,
    config: "global:\n  scrape_interval: 1h\n",
    extraFlags: ["--storage.tsdb.retention.time=100y", "--log.level=warn"],
  });
  const q = await startQuerier([`--store=127.0.0.1:${se.port}`, `--store=127.0.0.1:${sw.port}`]);
  procs.push(q, se, sw, prom);
  console.log(`data: ${east.series.length + west.series.length} series, 3h at 15s`);
  console.log("query | thanos-ts ms | prometheus ms | ratio");
  for (const [name, path] of QUERIES) {
    const a = await median(`${q.url}/api/v1/${path}`);
    const b = await median(`${prom.url}/api/v1/${path}`);
    console.log(`${name} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(2)}`);
  }
  const qRss = peakRssKiB(q.child.pid);
  const promPid = Number(
    new TextDecoder().decode(
      (await new Deno.Command("pgrep", {
        args: ["-f", `web.listen-address=127.0.0.1:${prom.port}`],
        stdout: "piped",
      }).output()).stdout,
    ).trim().split("\n")[0],
  );
  const pRss = peakRssKiB(promPid);
  console.log(
    `peak RSS: querier ${(qRss / 1024).toFixed(0)} MiB (stores separate), prometheus ${
      (pRss / 1024).toFixed(0)
    } MiB, ratio ${(qRss / pRss).toFixed(2)}`,
  );
} finally {
  for (const p of procs) await p.stop();
  await dirs.cleanup();
}
