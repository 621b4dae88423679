// Issue 20 (3): does a heavy query starve the role? A store gateway over generated blocks and a
// querier, then: (1) `/-/ready` and an `up` query, p50/p99 idle and while a heavy query runs;
// (2) range-query throughput, one at a time versus 4 concurrent; (3) a heavy query with
// `timeout=5s`: when it returns, and when the store's in-flight Series gauge is back to 0.
// Prints figures and ratios; never asserts. The machine is shared: compare ratios of one run.
// Usage: deno run -A bench/starvation_bench.ts [series=600] [heavyStep=15] [probes=60] [evalWorkers=2]

import { TempDirs } from "../tests/helpers/tmp.ts";
import { startComponent, type ThanosProc } from "../tests/helpers/thanos.ts";
import {
  smallDataset,
  startQuerier,
  T0,
  withLabels,
  writeBlocks,
} from "../tests/helpers/query_e2e.ts";

const SERIES = Number(Deno.args[0] ?? 600);
const HEAVY_STEP = Number(Deno.args[1] ?? 15);
const PROBES = Number(Deno.args[2] ?? 60);
const EVAL_WORKERS = Number(Deno.args[3] ?? 2);
const S = T0 / 1000;
const END = S + 3 * 3600;

/** The heavy query (a range query): a 3 h subquery at 1 s under a quantile, at every step. */
const HEAVY = `quantile_over_time(0.5, rate(http_requests_total[5m])[3h:1s])`;
/** The throughput query: a range query of about a second. */
const RANGE = `quantile_over_time(0.5, rate(http_requests_total[5m])[30m:10s])`;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

async function timed(url: string): Promise<{ ms: number; status: number; body: string }> {
  const t = performance.now();
  const r = await fetch(url);
  const body = await r.text();
  return { ms: performance.now() - t, status: r.status, body };
}

async function probeRound(q: string): Promise<{ ready: number[]; up: number[] }> {
  const ready: number[] = [];
  const up: number[] = [];
  for (let i = 0; i < PROBES; i++) {
    ready.push((await timed(`${q}/-/ready`)).ms);
    const r = await timed(`${q}/api/v1/query?query=up&time=${END}`);
    if (r.status !== 200) throw new Error(`up: ${r.status} ${r.body.slice(0, 200)}`);
    up.push(r.ms);
    await new Promise((res) => setTimeout(res, 50));
  }
  return { ready, up };
}

async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  // a counter never incremented is not exposed yet: 0
  return line ? Number(line.slice(name.length + 1)) : 0;
}

const fmt = (x: number) => x.toFixed(1);

const dirs = new TempDirs();
const procs: ThanosProc[] = [];
try {
  const root = await dirs.make();
  await writeBlocks(`${root}/bucket`, withLabels(smallDataset(7, SERIES), { region: "east" }));
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
  const q = await startQuerier([
    `--store=${store.grpc}`,
    "--query.timeout=10m",
    `--query.eval-workers=${EVAL_WORKERS}`,
  ]);
  console.log(`querier --query.eval-workers=${EVAL_WORKERS}, ${SERIES} generated series`);
  procs.push(q);
  const heavyUrl = `${q.url}/api/v1/query_range?query=${
    encodeURIComponent(HEAVY)
  }&start=${S}&end=${END}&step=${HEAVY_STEP}`;
  const rangeUrl = `${q.url}/api/v1/query_range?query=${
    encodeURIComponent(RANGE)
  }&start=${S}&end=${END}&step=60`;
  await timed(rangeUrl); // warm caches

  // (1) probes idle, then during the heavy query
  const idle = await probeRound(q.url);
  const t0 = performance.now();
  let heavyMs = NaN;
  let heavyStatus = 0;
  const heavy = timed(heavyUrl).then((r) => {
    heavyMs = r.ms;
    heavyStatus = r.status;
  });
  await new Promise((r) => setTimeout(r, 500));
  const busy = await probeRound(q.url);
  const stillRunning = Number.isNaN(heavyMs);
  if (Deno.env.get("DEBUG")) {
    const top = (xs: number[]) =>
      xs.map((x, i) => [i, Math.round(x)]).sort((a, b) => b[1] - a[1]).slice(0, 5);
    console.log("slowest ready", top(busy.ready), "slowest up", top(busy.up));
  }
  await heavy;
  console.log(
    `heavy range query ${HEAVY} step ${HEAVY_STEP}s: ${
      fmt(heavyMs / 1000)
    } s (status ${heavyStatus})`,
  );
  console.log(
    `probes during it (${PROBES} each, heavy still running at the end: ${stillRunning}; ` +
      `probing took ${fmt((performance.now() - t0) / 1000)} s)`,
  );
  for (const k of ["ready", "up"] as const) {
    const i99 = pct(idle[k], 0.99);
    const b99 = pct(busy[k], 0.99);
    console.log(
      `  ${k.padEnd(5)} idle p50 ${fmt(pct(idle[k], 0.5))} p99 ${fmt(i99)} ms | busy p50 ${
        fmt(pct(busy[k], 0.5))
      } p99 ${fmt(b99)} ms | p99 ratio ${(b99 / i99).toFixed(2)}`,
    );
  }

  // (2) throughput: N range queries one at a time versus 4 concurrent clients
  const N = 12;
  let t = performance.now();
  for (let i = 0; i < N; i++) await timed(rangeUrl);
  const seqRate = N / ((performance.now() - t) / 1000);
  t = performance.now();
  const next = { i: 0 };
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next.i++ < N) await timed(rangeUrl);
    }),
  );
  const parRate = N / ((performance.now() - t) / 1000);
  console.log(
    `range throughput (${RANGE}, 3h step 60s, ${N} queries): sequential ${
      seqRate.toFixed(2)
    } q/s, 4 clients ${parRate.toFixed(2)} q/s, ratio ${(parRate / seqRate).toFixed(2)}`,
  );

  // (3) timeout=5s: when it answers, and when the store stops working for it. The query reads
  // its series lazily, so the store's Series call is still open when the timeout strikes.
  const lazyUrl = `${q.url}/api/v1/query_range?query=${
    encodeURIComponent("quantile_over_time(0.5, http_requests_total[3h])")
  }&start=${S}&end=${END}&step=1`;
  const canceledBefore = await gauge(store.http, "thanos_bucket_store_series_canceled_total");
  t = performance.now();
  const to = await timed(`${lazyUrl}&timeout=5s`);
  const answered = performance.now() - t;
  let storeIdle = NaN;
  for (let i = 0; i < 200; i++) {
    if (await gauge(store.http, "thanos_bucket_store_series_gate_queries_in_flight") === 0) {
      storeIdle = performance.now() - t;
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log(
    `timeout=5s: answered ${to.status} after ${fmt(answered / 1000)} s; store in-flight 0 after ${
      fmt(storeIdle / 1000)
    } s; store Series calls cancelled: ${
      (await gauge(store.http, "thanos_bucket_store_series_canceled_total")) -
      canceledBefore
    }`,
  );
} finally {
  for (const p of procs.reverse()) await p.stop();
  await dirs.cleanup();
}
