// Memory and scale of the store gateway + querier against Prometheus 2.42 on the same blocks
// (issue 19, goals 3 and 4). Every figure comes from separate processes measured side by side in
// one run: RSS from /proc/<pid>/status (VmRSS idle after start, VmHWM peak after the suite), query
// latency as medians, answers compared with Prometheus's. Never asserts a time.
//
//   deno run -A bench/store_memory_vs_prometheus.ts [--series=2500] [--hours=24] [--scales=1,4]
//       [--repeats=1] [--big=0] [--days30=0]
//
// --series/--hours: the data set of scale 1 (scripts/dataset.ts: counters, gauges, classic
//   histograms at 15 s; the issue's workload is --series=9910 --hours=24). Scale k holds k times
//   the hours (k × blocks); the query suite always reads the last `hours`, so the store's
//   working set is the same at every scale and only the bucket grows.
// --big=N: a block of N series (1000000 for the issue's figure): bucket bytes read by a
//   one-series selector (thanos_objstore_bucket_operation_fetched_bytes_total), its latency
//   and each process's CPU per query, the same series every time (cached after the first),
//   another series each time (its postings and series entry read from the bucket; the first
//   100 queries also read their metric name's list) and another series each time after one
//   series of every metric name was queried (only the series' own postings and entry read).
// --days30=N: 360 two-hour blocks (30 days) of N series at 60 s: a 30-day range query, latency
//   and peak RSS against Prometheus.
// --variants="A|B": run each section once per variant, side by side in one run (alternating when
//   --rounds > 1). A variant is `name=value;...` settings of our two processes: `v8` (V8 flags
//   in DENO_V8_FLAGS, e.g. `v8=--max-semi-space-size=4`, deciding the flags they name; the rest
//   of the program's own flags, components/v8_flags.ts, still apply), `store` and
//   `querier` (extra role flags, space-separated), `root` (another checkout of this repository
//   whose main.ts runs our processes: code A/B, e.g. `git archive main | tar -x -C /tmp/base`),
//   `env` (environment variables of our two processes, space-separated `K=V`, e.g.
//   `env=MALLOC_ARENA_MAX=2`: what a systemd unit's `Environment=` would set).
//   "|" alone compares the defaults with themselves
//   (noise).

import { parseArgs } from "node:util";
import { generateDataset } from "../scripts/dataset.ts";
import { startPrometheus } from "../tests/helpers/prometheus.ts";
import { TempDirs } from "../tests/helpers/tmp.ts";
import { startQuerier, T0 } from "../tests/helpers/query_e2e.ts";
import { startComponent } from "../tests/helpers/thanos.ts";
import { fsConfig } from "../tests/helpers/compact_bucket.ts";
import { createBlocksFromSeries, type RawSeries, writeBlock } from "../tsdb/block_writer.ts";
import { cpuSeconds } from "./cpu_profile.ts";
import { compareLabels, labelsFromObject } from "../tsdb/labels.ts";
import { MEMORY_SUITE_EXPRS } from "./memory_suite.ts";

const H = 3_600_000;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    series: { type: "string", default: "2500" },
    hours: { type: "string", default: "24" },
    scales: { type: "string", default: "1,4" },
    repeats: { type: "string", default: "1" },
    big: { type: "string", default: "0" },
    days30: { type: "string", default: "0" },
    // extra flags (space-separated) for the two roles, to compare settings
    "store-flags": { type: "string", default: "" },
    "querier-flags": { type: "string", default: "" },
    // keep the written buckets under this directory and reuse them on the next run
    data: { type: "string", default: "" },
    // print each query's peak RSS per process (VmHWM reset through /proc/<pid>/clear_refs)
    "per-query": { type: "boolean", default: false },
    variants: { type: "string", default: "" },
    rounds: { type: "string", default: "1" },
  },
});
const SERIES = Number(values.series);
const HOURS = Number(values.hours);
const REPEATS = Number(values.repeats);

/** Highest VmHWM (MiB) of each process before {@link resetPeak} cleared it, by pid. */
const peakBeforeReset = new Map<number, number>();

/**
 * VmRSS and peak RSS of a process in MiB: the peak since it started, also across --per-query's
 * resets of VmHWM.
 */
function rss(pid: number): { now: number; peak: number } {
  const s = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return {
    now: kib("VmRSS") / 1024,
    peak: Math.max(kib("VmHWM") / 1024, peakBeforeReset.get(pid) ?? 0),
  };
}
/**
 * Resets a process's VmHWM to its current RSS (Linux: "5" > /proc/<pid>/clear_refs), keeping the
 * peak so far for {@link rss}.
 */
function resetPeak(pid: number): void {
  peakBeforeReset.set(pid, rss(pid).peak);
  Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
}
/** VmHWM alone (MiB): the peak since the last {@link resetPeak}. */
function peakSinceReset(pid: number): number {
  const s = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? NaN) / 1024;
}
const f0 = (n: number) => n.toFixed(0);
const f2 = (n: number) => n.toFixed(2);

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) n += await dirBytes(p);
    else if (e.isFile) n += (await Deno.stat(p)).size;
  }
  return n;
}

/**
 * A bucket directory named `name`: under --data (kept; reused when `write` ran there before,
 * marked by a `.done` file), else a temporary one. `write` fills it.
 */
async function bucketDir(name: string, write: (dir: string) => Promise<void>): Promise<string> {
  if (!values.data) {
    const dir = await dirs.make();
    await write(dir);
    return dir;
  }
  const dir = `${values.data}/${name}`;
  try {
    await Deno.stat(`${dir}.done`);
    return dir;
  } catch { /* not written yet */ }
  await Deno.remove(dir, { recursive: true }).catch(() => undefined);
  await Deno.mkdir(dir, { recursive: true });
  await write(dir);
  await Deno.writeTextFile(`${dir}.done`, "");
  return dir;
}

/** Answer with result rows sorted, so two engines' answers compare as text. */
function canonical(text: string): string {
  const j = JSON.parse(text);
  const r = j?.data?.result;
  if (Array.isArray(r)) {
    r.sort((a: { metric: unknown }, b: { metric: unknown }) =>
      JSON.stringify(a.metric) < JSON.stringify(b.metric) ? -1 : 1
    );
  }
  return JSON.stringify({ status: j.status, data: j.data });
}

/**
 * Median time of `--repeats` sequential requests of `url` (or of `url(i)` for the i-th), and
 * the answers (the last one, or all of them concatenated when `url` is a function).
 */
async function timed(url: string | ((i: number) => string)): Promise<{ ms: number; body: string }> {
  const times: number[] = [];
  let body = "";
  for (let i = 0; i < REPEATS; i++) {
    const t = performance.now();
    const r = await fetch(typeof url === "string" ? url : url(i));
    const text = await r.text();
    times.push(performance.now() - t);
    body = typeof url === "string" ? text : `${body}${canonical(text)}\n`;
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], body };
}

/** Metric value of `line` (name plus labels as exposed) on a /metrics page; 0 when absent. */
async function metricSum(url: string, prefix: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const l of text.split("\n")) if (l.startsWith(prefix)) n += Number(l.split(" ").pop());
  return n;
}

interface Side {
  name: string;
  pid: number;
  url: string;
}

/** Settings of our two processes in one A/B variant (--variants). */
interface Variant {
  label: string;
  v8?: string;
  /** Environment variables of our two processes (`K=V`, space-separated). */
  env: [string, string][];
  root?: string;
  store: string[];
  querier: string[];
}

function parseVariants(text: string): Variant[] {
  const words = (t: string | undefined) => (t ?? "").split(" ").filter(Boolean);
  const base = { store: words(values["store-flags"]), querier: words(values["querier-flags"]) };
  if (text === "") return [{ label: "", env: [], ...base }];
  return text.split("|").map((v, i) => {
    const kv = new Map(
      v.split(";").filter(Boolean).map((
        p,
      ) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]),
    );
    return {
      label: `[${String.fromCharCode(65 + i)}${v ? ` ${v}` : " defaults"}] `,
      v8: kv.get("v8"),
      env: words(kv.get("env")).map((
        w,
      ) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)]),
      root: kv.get("root"),
      store: [...base.store, ...words(kv.get("store"))],
      querier: [...base.querier, ...words(kv.get("querier"))],
    };
  });
}
const VARIANTS = parseVariants(values.variants);

/**
 * Runs `body` on a fresh stack per variant, `--rounds` times alternating, so variants compare
 * side by side on the same (loaded) machine.
 */
async function eachVariant(bucket: string, body: (s: Stack, v: Variant) => Promise<void>) {
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const v of VARIANTS) {
      const s = await startStack(dirs, bucket, v);
      try {
        await body(s, v);
      } finally {
        await s.stop();
      }
    }
  }
}

interface Stack {
  prom: Side;
  store: Side & { stop(): Promise<void> };
  querier: Side;
  stop(): Promise<void>;
}

/** Prometheus over a copy of `bucketDir`, and store gateway + querier over the bucket itself. */
async function startStack(dirs: TempDirs, bucketDir: string, v: Variant): Promise<Stack> {
  // another variant's variables are not this one's (nor Prometheus's)
  for (const other of VARIANTS) for (const [k] of other.env) Deno.env.delete(k);
  const promDir = await dirs.make();
  await new Deno.Command("cp", { args: ["-r", `${bucketDir}/.`, promDir] }).output();
  const prom = await startPrometheus({
    dataDir: promDir,
    config: "global:\n  scrape_interval: 1h\n",
    // 2h min = max block duration: no compaction of the copied blocks (as under a sidecar)
    extraFlags: [
      "--storage.tsdb.retention.time=100y",
      "--storage.tsdb.min-block-duration=2h",
      "--storage.tsdb.max-block-duration=2h",
      "--query.max-samples=500000000",
      "--log.level=warn",
    ],
    readyTimeoutMs: 300_000,
  });
  // our processes inherit the environment: DENO_V8_FLAGS decides the V8 flags it names
  if (v.v8 !== undefined) Deno.env.set("DENO_V8_FLAGS", v.v8);
  else Deno.env.delete("DENO_V8_FLAGS");
  for (const [k, val] of v.env) Deno.env.set(k, val);
  // another checkout's helpers start its own main.ts
  const helpers = v.root === undefined ? { startComponent, startQuerier } : {
    startComponent: (await import(`${v.root}/tests/helpers/thanos.ts`)).startComponent,
    startQuerier: (await import(`${v.root}/tests/helpers/query_e2e.ts`)).startQuerier,
  } as { startComponent: typeof startComponent; startQuerier: typeof startQuerier };
  const store = await helpers.startComponent("store", [
    `--objstore.config=${fsConfig(bucketDir)}`,
    `--data-dir=${await dirs.make()}`,
    "--log.level=warn",
    ...v.store,
  ], { timeoutMs: 600_000 });
  const querier = await helpers.startQuerier([`--store=${store.grpc}`, ...v.querier]);
  // the querier has the store once a selector answers with data
  for (let i = 0; i < 300; i++) {
    const r = await (await fetch(`${querier.url}/api/v1/labels`)).json();
    if (r.data?.length) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const promPid = Number(
    new TextDecoder().decode(
      (await new Deno.Command("pgrep", {
        args: ["-f", `web.listen-address=127.0.0.1:${prom.port}`],
        stdout: "piped",
      }).output()).stdout,
    ).trim().split("\n")[0],
  );
  return {
    prom: { name: "prometheus", pid: promPid, url: prom.url },
    store: { name: "store", pid: store.child.pid, url: store.http, stop: () => store.stop() },
    querier: { name: "querier", pid: querier.child.pid, url: querier.url },
    stop: async () => {
      await querier.stop();
      await store.stop();
      await prom.stop();
    },
  };
}

/** The dashboard-style suite at `end` (s): instant, `range`-second range queries. */
function suite(end: number, rangeHours: number[]): { name: string; path: string }[] {
  const exprs = MEMORY_SUITE_EXPRS;
  const out: { name: string; path: string }[] = [];
  const q = encodeURIComponent;
  for (const e of exprs) {
    out.push({ name: `instant ${e}`, path: `query?query=${q(e)}&time=${end}` });
  }
  for (const h of rangeHours) {
    const step = Math.max(15, Math.round(h * 3600 / 720));
    for (const e of exprs) {
      out.push({
        name: `range ${h}h ${e}`,
        path: `query_range?query=${q(e)}&start=${end - h * 3600}&end=${end}&step=${step}`,
      });
    }
  }
  return out;
}

/** Runs `queries` on both sides; returns sums and the number of differing answers. */
async function runSuite(s: Stack, queries: { name: string; path: string }[], verbose: boolean) {
  let ours = 0;
  let theirs = 0;
  let diffs = 0;
  const perQuery = values["per-query"];
  for (const { name, path } of queries) {
    if (perQuery) { for (const p of [s.store, s.querier, s.prom]) resetPeak(p.pid); }
    // CPU (user + system, /proc) of each process over its side's requests
    const cpu0 = [s.store, s.querier, s.prom].map((p) => cpuSeconds(p.pid));
    const a = await timed(`${s.querier.url}/api/v1/${path}`);
    const cpu1 = [s.store, s.querier, s.prom].map((p) => cpuSeconds(p.pid));
    const b = await timed(`${s.prom.url}/api/v1/${path}`);
    const cpuMs = [s.store, s.querier, s.prom].map((p, i) =>
      f0(((i < 2 ? cpu1[i] : cpuSeconds(p.pid)) - (i < 2 ? cpu0[i] : cpu1[i])) * 1000 / REPEATS)
    );
    if (perQuery) {
      const [st, q, p] = [s.store, s.querier, s.prom].map((x) => peakSinceReset(x.pid));
      console.log(
        `  peak MiB store ${f0(st)} querier ${f0(q)} prometheus ${f0(p)}: ${name.slice(0, 80)}`,
      );
    }
    ours += a.ms;
    theirs += b.ms;
    const same = canonical(a.body) === canonical(b.body);
    if (!same) diffs++;
    if (verbose || !same) {
      console.log(
        `  ${name.slice(0, 90).padEnd(90)} ${f0(a.ms).padStart(6)} ms ${f0(b.ms).padStart(6)} ms ${
          f2(a.ms / b.ms)
        }×${same ? "" : "  DIFFERENT"} (CPU ms store ${cpuMs[0]} querier ${cpuMs[1]} prom ${
          cpuMs[2]
        })`,
      );
      if (!same) {
        console.log(`    ours: ${a.body.slice(0, 300)}\n    prom: ${b.body.slice(0, 300)}`);
      }
    }
  }
  return { ours, theirs, diffs };
}

function printRss(label: string, s: Stack) {
  const st = rss(s.store.pid);
  const q = rss(s.querier.pid);
  const p = rss(s.prom.pid);
  console.log(
    `  ${label}: store ${f0(st.now)} MiB (peak ${f0(st.peak)}), querier ${f0(q.now)} MiB (peak ${
      f0(q.peak)
    }), store+querier ${f0(st.now + q.now)} (peak ${f0(st.peak + q.peak)}) | prometheus ${
      f0(p.now)
    } MiB (peak ${f0(p.peak)}) | peak ratio ${f2((st.peak + q.peak) / p.peak)}×`,
  );
  return { store: st, querier: q, prom: p };
}

/** One timed case of the big block (--big): a fixed path, or one per query index. */
interface BigCase {
  name: string;
  path: string | ((i: number) => string);
  /** Query one series of every metric name on both sides first, untimed. */
  warmMetricNames?: boolean;
}

const BLOCK_META = { labels: {}, downsample: { resolution: 0 }, source: "test" };

const dirs = new TempDirs();
try {
  // ---- goal 3: the suite over scale 1 and scale k buckets
  for (const scale of values.scales.split(",").filter(Boolean).map(Number)) {
    const t0 = performance.now();
    const bucket = await bucketDir(`scale${scale}-${SERIES}x${HOURS}h`, async (bucket) => {
      // one data set per `hours` window, oldest first; the suite reads the newest window
      for (let k = scale - 1; k >= 0; k--) {
        const start = T0 - k * HOURS * H;
        const ds = generateDataset({
          series: SERIES,
          start,
          end: start + HOURS * H,
          stepMs: 15_000,
          seed: 1,
          specialValues: false,
        });
        await createBlocksFromSeries(bucket, ds.series, { thanos: BLOCK_META });
      }
    });
    const size = await dirBytes(bucket);
    console.log(
      `\nscale ${scale}: ${SERIES} series × ${scale * HOURS} h, bucket ${
        f0(size / 1048576)
      } MiB, written in ${f0((performance.now() - t0) / 1000)} s`,
    );
    await eachVariant(bucket, async (s, v) => {
      await new Promise((r) => setTimeout(r, 2000));
      printRss(`${v.label}idle`, s);
      const end = (T0 + HOURS * H) / 1000 - 60;
      const res = await runSuite(s, suite(end, [6, HOURS]), scale === 1 && REPEATS > 1);
      console.log(
        `  ${v.label}suite: ${f0(res.ours)} ms vs prometheus ${f0(res.theirs)} ms (${
          f2(res.ours / res.theirs)
        }×), ${res.diffs} answers differ`,
      );
      printRss(`${v.label}after suite`, s);
    });
  }

  // ---- goal 4a: one series out of a big block
  const big = Number(values.big);
  if (big > 0) {
    const t0 = performance.now();
    const bucket = await bucketDir(`big-${big}`, async (bucket) => {
      await writeBlock(bucket, bigSeries(big), {
        minTime: T0,
        maxTime: T0 + 2 * H,
        thanos: BLOCK_META,
      });
    });
    console.log(
      `\nbig block: ${big} series, ${f0((await dirBytes(bucket)) / 1048576)} MiB, written in ${
        f0((performance.now() - t0) / 1000)
      } s`,
    );
    await eachVariant(bucket, async (s, v) => {
      printRss(`${v.label}idle`, s);
      const selOf = (n: number) => {
        const id = String(n).padStart(7, "0");
        return encodeURIComponent(`bench_metric_${n % 100}{id="${id}"}`);
      };
      const sel = selOf(Math.floor(big * 0.6123));
      const end = (T0 + 2 * H) / 1000 - 60;
      const objBytes = "thanos_objstore_bucket_operation_fetched_bytes_total";
      const cases: BigCase[] = [
        { name: "instant", path: `query?query=${sel}&time=${end}` },
        {
          name: "range 2h",
          path: `query_range?query=${sel}&start=${T0 / 1000}&end=${end}&step=60`,
        },
        // another series each time: its postings and series entry are not cached yet (nor, in
        // the first 100 queries, its metric name's postings list of big / 100 refs)
        {
          name: "instant, another series each time",
          path: (i: number) =>
            `query?query=${selOf((Math.floor(big * 0.377) + i * 7919) % big)}&time=${end}`,
        },
        // the same, every metric name queried before: only the series' own postings list and
        // entry are read from the bucket (the per-series cost of goal 4a)
        {
          name: "instant, another series each time, its metric name queried before",
          path: (i: number) =>
            `query?query=${selOf((Math.floor(big * 0.577) + i * 7919) % big)}&time=${end}`,
          warmMetricNames: true,
        },
      ];
      for (const { name, path, warmMetricNames } of cases) {
        if (warmMetricNames) {
          // one series of each metric name, on both sides, untimed
          for (let k = 0; k < 100; k++) {
            for (const base of [s.querier.url, s.prom.url]) {
              await (await fetch(`${base}/api/v1/query?query=${selOf(k)}&time=${end}`)).text();
            }
          }
        }
        const url = (base: string) =>
          typeof path === "string"
            ? `${base}/api/v1/${path}`
            : (i: number) => `${base}/api/v1/${path(i)}`;
        const before = await metricSum(s.store.url, objBytes);
        // CPU (user + system, /proc) per query of each process over its side's requests
        const cpu0 = [s.store, s.querier].map((p) => cpuSeconds(p.pid));
        const a = await timed(url(s.querier.url));
        const cpu1 = [s.store, s.querier].map((p) => cpuSeconds(p.pid));
        const read = (await metricSum(s.store.url, objBytes)) - before;
        const p0 = cpuSeconds(s.prom.pid);
        const b = await timed(url(s.prom.url));
        const cpuMs = (d: number) => f2(d * 1000 / REPEATS);
        // a function's answers come already canonical, one per line
        const same = typeof path === "string"
          ? canonical(a.body) === canonical(b.body)
          : a.body === b.body;
        console.log(
          `  ${v.label}one-series selector ${name}: bucket bytes ${read} (${
            (read / 1024).toFixed(1)
          } KiB, first query and ${REPEATS - 1} more), ${f2(a.ms)} ms vs prometheus ${
            f2(b.ms)
          } ms (${f2(a.ms / b.ms)}×, medians of ${REPEATS}); CPU ms per query store ${
            cpuMs(cpu1[0] - cpu0[0])
          } + querier ${cpuMs(cpu1[1] - cpu0[1])} vs prometheus ${
            cpuMs(cpuSeconds(s.prom.pid) - p0)
          }; answers ${same ? "identical" : "DIFFERENT"}`,
        );
      }
      printRss(`${v.label}after`, s);
    });
  }

  // ---- goal 4b: 30 days of two-hour blocks
  const n30 = Number(values.days30);
  if (n30 > 0) {
    const t0 = performance.now();
    // days start on a 2-hour boundary: 12 whole blocks a day, 360 in all
    const base = Math.floor(T0 / (2 * H)) * 2 * H;
    const bucket = await bucketDir(`days30-${n30}-aligned`, async (bucket) => {
      for (let d = 29; d >= 0; d--) {
        const start = base - d * 24 * H;
        const ds = generateDataset({
          series: n30,
          start,
          end: start + 24 * H,
          stepMs: 60_000,
          seed: 1,
          specialValues: false,
        });
        await createBlocksFromSeries(bucket, ds.series, { thanos: BLOCK_META });
      }
    });
    let blocks = 0;
    for await (const _ of Deno.readDir(bucket)) blocks++;
    console.log(
      `\n30 days: ${n30} series, ${blocks} blocks, ${
        f0((await dirBytes(bucket)) / 1048576)
      } MiB, written in ${f0((performance.now() - t0) / 1000)} s`,
    );
    await eachVariant(bucket, async (s, v) => {
      printRss(`${v.label}idle`, s);
      const end = (base + 24 * H) / 1000 - 60;
      const start = end - 30 * 24 * 3600 + 120;
      const res = await runSuite(
        s,
        [
          "sum by (job) (rate(http_requests_total[1h]))",
          "max_over_time(process_resident_memory_bytes[1h])",
          "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1h])))",
        ].map((e) => ({
          name: `30d range ${e}`,
          path: `query_range?query=${encodeURIComponent(e)}&start=${start}&end=${end}&step=3600`,
        })),
        true,
      );
      console.log(
        `  ${v.label}30-day suite: ${f0(res.ours)} ms vs prometheus ${f0(res.theirs)} ms (${
          f2(res.ours / res.theirs)
        }×), ${res.diffs} answers differ`,
      );
      printRss(`${v.label}after`, s);
    });
  }
} finally {
  await dirs.cleanup();
}

/** `n` series of 120 samples (60 s) sorted by labels, generated as they are written. */
function* bigSeries(n: number): Generator<RawSeries> {
  const all = [];
  for (let i = 0; i < n; i++) {
    all.push(labelsFromObject({
      __name__: `bench_metric_${i % 100}`,
      id: String(i).padStart(7, "0"),
      job: "big",
    }));
  }
  all.sort(compareLabels);
  for (const labels of all) {
    const ts = new Float64Array(120);
    const vs = new Float64Array(120);
    const seed = Number(labels[3]);
    for (let k = 0; k < 120; k++) {
      ts[k] = T0 + k * 60_000;
      vs[k] = (seed * 31 + k * 7) % 1000;
    }
    yield { labels, ts, vs };
  }
}
