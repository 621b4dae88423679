// Dashboard queries through our store gateway + querier against a real Prometheus 2.42 on the
// same blocks (issue 19), side by side in one run: instant, 6 h range and 24 h range queries,
// median of N, the ratio ours/Prometheus per query, whether the answers are identical, and the
// geometric mean, maximum and sum of the ratios per kind. Prints figures, never asserts a time.
//
//   deno run -A bench/instant_vs_prometheus.ts [--series=1000] [--hours=24] [--scrape=60]
//     [--runs=5] [--writer=promtool|ours] [--kinds=instant,6h,24h] [--only=<substring>]
//     [--keep=<dir>] [--baseline=<checkout dir>] [--querier-flags=<f1,f2>] [--warmup=0]
//
// The workload is `--series=10000 --scrape=15` (≈10k series × 24 h as twelve 2-hour
// blocks, ≈56 M samples; `--writer=ours` writes them without the multi-GB OpenMetrics file).
// The data set is scripts/dataset.ts (request counters, gauges, classic histograms, `up`) with
// its node-exporter-like families; promtool turns it into 2-hour blocks (the blocks Prometheus
// itself would write). Prometheus serves a copy of the blocks; `thanos store` reads the same
// blocks from a FILESYSTEM bucket and `thanos query` (separate processes, started the way a
// user starts them) reads the store. Answers are compared with results sorted by series, values
// as exact strings. `--baseline=<dir>` also starts the store gateway and querier of another
// checkout (`<dir>/main.ts`, e.g. `git worktree add /tmp/base main`) over the same bucket and
// times it in the same alternation: its column and the ratio ours/baseline show a change's effect
// side by side under the same load. `--querier-flags` adds flags to our querier (comma-separated).
// `--warmup=N` first sends every query of the selected kinds N times to each side, untimed
// (steady state: a long-running server's code compiled and its caches warm); without it each
// query gets one untimed run before its timed ones, so our JIT is still tiering up while the
// first queries are timed.

import { generateDataset, writeOpenMetricsFile } from "../scripts/dataset.ts";
import { createBlocksFromSeries } from "../tsdb/block_writer.ts";
import { startPrometheus } from "../tests/helpers/prometheus.ts";
import * as promtool from "../tests/helpers/promtool.ts";
import { TempDirs } from "../tests/helpers/tmp.ts";
import { startComponent, type ThanosProc } from "../tests/helpers/thanos.ts";
import { startQuerier } from "../tests/helpers/query_e2e.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const SERIES = Number(flag("series", "1000"));
const HOURS = Number(flag("hours", "24"));
const SCRAPE_MS = Number(flag("scrape", "60")) * 1000;
const RUNS = Number(flag("runs", "5"));
const WRITER = flag("writer", "promtool");
const KINDS = flag("kinds", "instant,6h,24h").split(",");
const ONLY = flag("only", "");
const KEEP = flag("keep", "");
const BASELINE = flag("baseline", "");
const WARMUP = Number(flag("warmup", "0"));
const QUERIER_FLAGS = flag("querier-flags", "").split(",").filter((x) => x !== "");
const H = 3_600_000;
/** 2023-11-14T00:00:00Z: a 2-hour boundary, so blocks are whole. */
const START = 1_699_920_000_000;
const END = START + HOURS * H;
/** Instant queries and range ends: a minute before the data ends, off the scrape grid. */
const EVAL = END - 61_000;

/** ~28 dashboard-style queries (Grafana node-exporter and API dashboards). */
const QUERIES: string[] = [
  "up",
  "absent(nonexistent_metric)",
  "node_memory_MemAvailable_bytes",
  'node_load1{job="api"}',
  "count(up)",
  "count by (job) (up == 1)",
  "sum by (job) (rate(http_requests_total[5m]))",
  'sum without (instance, method) (rate(http_requests_total{code=~"5.."}[5m]))',
  "irate(node_network_receive_bytes_total[5m])",
  'increase(http_requests_total{job="api",code="200"}[1h])',
  "topk(5, sum by (instance) (rate(http_requests_total[5m])))",
  'sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))',
  '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))',
  "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
  "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
  "histogram_quantile(0.9, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))",
  "sum by (job) (rate(http_request_duration_seconds_sum[5m])) / sum by (job) (rate(http_request_duration_seconds_count[5m]))",
  "rate(http_requests_total[5m]) * on (job, instance) group_left up",
  "node_filesystem_avail_bytes / on (job, instance) group_left node_memory_MemTotal_bytes",
  "max_over_time(node_load1[1h])",
  "avg_over_time(node_memory_MemAvailable_bytes[30m])",
  'quantile_over_time(0.9, node_load1{job="db"}[1h])',
  "max_over_time(sum by (job) (rate(http_requests_total[5m]))[1h:1m])",
  "deriv(node_filesystem_avail_bytes[1h])",
  'label_replace(up, "host", "$1", "instance", "(.*):.*")',
  'absent(up{job="nonexistent"})',
  "count(count by (instance) (node_cpu_seconds_total))",
  "sort_desc(sum by (mountpoint) (node_filesystem_avail_bytes))",
];

interface Kind {
  name: string;
  path: string;
  params: (q: string) => Record<string, string>;
}

const rangeKind = (name: string, hours: number, stepS: number): Kind => ({
  name,
  path: "/api/v1/query_range",
  params: (query) => ({
    query,
    start: String((EVAL - Math.min(hours, HOURS) * H) / 1000),
    end: String(EVAL / 1000),
    step: String(stepS),
  }),
});

const ALL_KINDS: Kind[] = [
  {
    name: "instant",
    path: "/api/v1/query",
    params: (query) => ({ query, time: String(EVAL / 1000) }),
  },
  rangeKind("6h", 6, 60),
  rangeKind("24h", 24, 240),
];

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function geomean(xs: number[]): number {
  return Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
}

function peakRssMiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** The answer as comparable text: status, result type, results sorted by series. */
function canonical(text: string): string {
  const b = JSON.parse(text) as {
    status: string;
    errorType?: string;
    data?: { resultType: string; result: unknown };
  };
  if (b.status !== "success") return `${b.status} ${b.errorType}`;
  const r = b.data!.result;
  const rows = Array.isArray(r) ? r.map((x) => JSON.stringify(x)).sort() : [JSON.stringify(r)];
  return `${b.data!.resultType}\n${rows.join("\n")}`;
}

async function get(base: string, kind: Kind, q: string): Promise<{ ms: number; text: string }> {
  const u = `${base}${kind.path}?${new URLSearchParams(kind.params(q))}`;
  const t = performance.now();
  const r = await fetch(u);
  const text = await r.text();
  return { ms: performance.now() - t, text };
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

/** Writes the blocks into `dir` (in a child process, so the data set's memory is not ours). */
async function generate(dir: string, root: string): Promise<void> {
  const ds = generateDataset({
    series: SERIES,
    start: START,
    end: END,
    stepMs: SCRAPE_MS,
    seed: 19,
    specialValues: false,
    nodeExporter: true,
  });
  let samples = 0;
  for (const s of ds.series) samples += s.ts.length;
  if (WRITER === "ours") {
    await createBlocksFromSeries(dir, ds.series);
  } else {
    await writeOpenMetricsFile(ds, `${root}/data.om`);
    await promtool.createBlocksFromOpenMetrics(`${root}/data.om`, dir, { quiet: true });
    await Deno.remove(`${root}/data.om`);
  }
  console.log(
    `data: ${ds.series.length} series, ${samples} samples, ${HOURS} h at ${SCRAPE_MS / 1000} s ` +
      `(blocks by ${WRITER === "ours" ? "tsdb/block_writer.ts" : "promtool"})`,
  );
}

const generateInto = flag("generate", "");
if (generateInto) {
  const [dir, root] = generateInto.split(",");
  await generate(dir, root);
  Deno.exit(0);
}

const dirs = new TempDirs();
const procs: { stop(): Promise<unknown> }[] = [];
try {
  const root = KEEP || await dirs.make("thanos-ts-instant-bench-");
  await Deno.mkdir(root, { recursive: true });
  const blocks = `${root}/blocks`;
  let t0 = performance.now();
  try {
    await Deno.stat(`${blocks}/.done`);
    console.log(`reusing blocks in ${blocks}`);
  } catch {
    const gen = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        `--generate=${blocks},${root}`,
        ...Deno.args,
      ],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!gen.success) throw new Error("generating the data set failed");
    await Deno.writeTextFile(`${blocks}/.done`, "");
    console.log(`blocks written in ${Math.round(performance.now() - t0)} ms`);
  }
  // Prometheus gets its own copy; the bucket gets the blocks with Thanos's meta section
  const promDir = `${root}/prometheus`;
  const bucket = `${root}/bucket`;
  for (const d of [promDir, bucket]) {
    await Deno.remove(d, { recursive: true }).catch(() => {});
  }
  await Deno.mkdir(bucket, { recursive: true });
  for await (const e of Deno.readDir(blocks)) {
    if (!e.isDirectory || !/^[0-9A-Z]{26}$/.test(e.name)) continue;
    await copyDir(`${blocks}/${e.name}`, `${promDir}/${e.name}`);
    await copyDir(`${blocks}/${e.name}`, `${bucket}/${e.name}`);
    const metaPath = `${bucket}/${e.name}/meta.json`;
    const meta = JSON.parse(await Deno.readTextFile(metaPath));
    meta.thanos = { labels: {}, downsample: { resolution: 0 }, source: "bench" };
    await Deno.writeTextFile(metaPath, JSON.stringify(meta, null, "\t") + "\n");
  }
  await Deno.writeTextFile(
    `${root}/bucket.yml`,
    `type: FILESYSTEM\nconfig:\n  directory: ${bucket}\n`,
  );

  t0 = performance.now();
  const prom = await startPrometheus({
    dataDir: promDir,
    config: "global:\n  scrape_interval: 1h\n",
    extraFlags: ["--storage.tsdb.retention.time=100y", "--log.level=warn"],
    readyTimeoutMs: 300_000,
  });
  procs.push(prom);
  const store: ThanosProc = await startComponent("store", [
    `--objstore.config-file=${root}/bucket.yml`,
    `--data-dir=${root}/store-data`,
    "--log.level=warn",
  ], { timeoutMs: 300_000 });
  procs.push(store);
  const q = await startQuerier([`--store=${store.grpc}`, ...QUERIER_FLAGS]);
  procs.push(q);
  let base: ThanosProc | undefined;
  if (BASELINE !== "") {
    const main = `${BASELINE}/main.ts`;
    const bstore = await startComponent("store", [
      `--objstore.config-file=${root}/bucket.yml`,
      `--data-dir=${root}/store-data-baseline`,
      "--log.level=warn",
    ], { main, name: "baseline store", timeoutMs: 300_000 });
    procs.push(bstore);
    base = await startComponent("query", [`--store=${bstore.grpc}`, "--log.level=warn"], {
      main,
      name: "baseline querier",
    });
    procs.push(base);
  }
  // the querier answers once it has the store's Info
  for (const url of base ? [q.url, base.http] : [q.url]) {
    for (let i = 0; i < 300; i++) {
      const r = await get(url, ALL_KINDS[0], "count(up)");
      if (canonical(r.text) === canonical((await get(prom.url, ALL_KINDS[0], "count(up)")).text)) {
        break;
      }
      if (i === 299) throw new Error(`querier never saw the store: ${r.text}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  console.log(`servers ready in ${Math.round(performance.now() - t0)} ms`);
  console.log(
    `machine: ${navigator.hardwareConcurrency} cores, load ${
      Deno.loadavg().map((x) => x.toFixed(2)).join(" ")
    } (figures are side by side in one run; a loaded machine adds noise to both)`,
  );

  // untimed passes over the whole suite first (steady state: a long-running server's code is
  // compiled and its caches warm), the same for every side
  for (let w = 0; w < WARMUP; w++) {
    for (const kind of ALL_KINDS.filter((k) => KINDS.includes(k.name))) {
      for (const query of QUERIES.filter((x) => x.includes(ONLY))) {
        for (const url of base ? [q.url, base.http, prom.url] : [q.url, prom.url]) {
          await get(url, kind, query);
        }
      }
    }
  }
  const summary: string[] = [];
  let identical = 0;
  let total = 0;
  for (const kind of ALL_KINDS.filter((k) => KINDS.includes(k.name))) {
    console.log(`\n## ${kind.name} (median of ${RUNS})\n`);
    if (base) {
      console.log(
        "| query | ours ms | baseline ms | prometheus ms | ratio | baseline ratio | " +
          "ours/baseline | identical |",
      );
      console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    } else {
      console.log("| query | ours ms | prometheus ms | ratio | identical |");
      console.log("| --- | ---: | ---: | ---: | --- |");
    }
    const ratios: number[] = [];
    const baseRatios: number[] = [];
    let sumBase = 0;
    let sumOurs = 0;
    let sumProm = 0;
    for (const query of QUERIES.filter((x) => x.includes(ONLY))) {
      // one untimed run each (connections, caches), then alternate
      const a0 = await get(q.url, kind, query);
      const b0 = await get(prom.url, kind, query);
      const same = canonical(a0.text) === canonical(b0.text);
      const ours: number[] = [];
      const theirs: number[] = [];
      const baseline: number[] = [];
      if (base) await get(base.http, kind, query);
      for (let r = 0; r < RUNS; r++) {
        // the order rotates, so neither side always runs right after Prometheus
        if (base && r % 2 === 1) baseline.push((await get(base.http, kind, query)).ms);
        ours.push((await get(q.url, kind, query)).ms);
        if (base && r % 2 === 0) baseline.push((await get(base.http, kind, query)).ms);
        theirs.push((await get(prom.url, kind, query)).ms);
      }
      const a = median(ours);
      const b = median(theirs);
      ratios.push(a / b);
      sumOurs += a;
      sumProm += b;
      total++;
      if (same) identical++;
      const name = `\`${query.replaceAll("|", "\\|")}\``;
      if (base) {
        const c = median(baseline);
        baseRatios.push(c / b);
        sumBase += c;
        console.log(
          `| ${name} | ${a.toFixed(1)} | ${c.toFixed(1)} | ${b.toFixed(1)} | ${
            (a / b).toFixed(2)
          } | ${(c / b).toFixed(2)} | ${(a / c).toFixed(2)} | ${same ? "yes" : "NO"} |`,
        );
      } else {
        console.log(
          `| ${name} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(2)} | ${
            same ? "yes" : "NO"
          } |`,
        );
      }
      if (!same) {
        console.log(`  ours: ${a0.text.slice(0, 300)}\n  prom: ${b0.text.slice(0, 300)}`);
      }
    }
    summary.push(
      `| ${kind.name} | ${geomean(ratios).toFixed(2)} | ${Math.max(...ratios).toFixed(2)} | ` +
        `${sumOurs.toFixed(0)} | ${sumProm.toFixed(0)} | ${(sumOurs / sumProm).toFixed(2)} |`,
    );
    if (base) {
      summary.push(
        `| ${kind.name} (baseline) | ${geomean(baseRatios).toFixed(2)} | ${
          Math.max(...baseRatios).toFixed(2)
        } | ${sumBase.toFixed(0)} | ${sumProm.toFixed(0)} | ${(sumBase / sumProm).toFixed(2)} |`,
      );
    }
  }
  console.log(
    "\n| kind | geomean ratio | max ratio | sum ours ms | sum prometheus ms | sum ratio |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const s of summary) console.log(s);
  console.log(`\nidentical answers: ${identical}/${total}`);
  console.log(
    `peak RSS: store ${peakRssMiB(store.child.pid).toFixed(0)} MiB, querier ${
      peakRssMiB(q.child.pid).toFixed(0)
    } MiB, prometheus ${peakRssMiB(prom.pid).toFixed(0)} MiB`,
  );
} finally {
  for (const p of procs.reverse()) await p.stop();
  await dirs.cleanup();
}
