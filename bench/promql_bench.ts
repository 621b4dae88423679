// PromQL engine vs Prometheus 2.42 over the same blocks: a fixed query set (selectors,
// rate + sum by, histogram_quantile, topk, binary joins, subqueries) against 10,000 series × 24h.
// Prints per-query latency (median of runs), the ratio ours/Prometheus, and peak memory.
//
//   deno run -A bench/promql_bench.ts [--series=10000] [--hours=24] [--scrape=60] [--runs=3]
//
// Prometheus is timed through its HTTP API (what a user sees); our engine is timed evaluating
// and rendering the same API JSON. Peak memory is each process's peak RSS during the query
// (VmHWM after resetting it through /proc/<pid>/clear_refs), plus our peak V8 heap.

import { createBlocksFromSeries } from "../tsdb/block_writer.ts";
import { openBlocks } from "../tsdb/block.ts";
import { BlocksQuerier } from "../tsdb/querier.ts";
import { generateDataset } from "../scripts/dataset.ts";
import { Engine } from "../promql/engine.ts";
import { resultToJSONText } from "../promql/value.ts";
import { startPrometheus } from "../tests/helpers/prometheus.ts";

function flag(name: string, def: number): number {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : def;
}

const SERIES = flag("series", 10_000);
const HOURS = flag("hours", 24);
const SCRAPE_MS = flag("scrape", 60) * 1000;
const RUNS = flag("runs", 3);
const START = 1_699_999_200_000;
const END = START + HOURS * 3_600_000;

interface BenchQuery {
  name: string;
  query: string;
  /** Range query step (ms); 0 = instant query at the end. */
  step: number;
}

const QUERIES: BenchQuery[] = [
  { name: "selector (instant)", query: "http_requests_total", step: 0 },
  { name: "selector (range, 5m)", query: 'http_requests_total{job="api"}', step: 300_000 },
  { name: "rate + sum by", query: "sum by (job) (rate(http_requests_total[5m]))", step: 300_000 },
  { name: "rate all series", query: "rate(http_requests_total[5m])", step: 900_000 },
  {
    name: "histogram_quantile",
    query:
      "histogram_quantile(0.9, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))",
    step: 300_000,
  },
  { name: "topk (instant)", query: "topk(10, rate(http_requests_total[5m]))", step: 0 },
  { name: "topk (range)", query: "topk(5, rate(http_requests_total[5m]))", step: 900_000 },
  {
    name: "binary join group_left",
    query: "rate(http_requests_total[5m]) / on(job, instance) group_left up",
    step: 900_000,
  },
  {
    name: "binary one-to-one",
    query: "process_resident_memory_bytes / process_resident_memory_bytes offset 1h",
    step: 300_000,
  },
  {
    name: "subquery",
    query: "max_over_time(sum by (job) (rate(http_requests_total[5m]))[1h:1m])",
    step: 900_000,
  },
];

function readStatusKb(pid: number | "self", key: string): number {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(s);
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

function resetPeak(pid: number | "self"): void {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch { /* not permitted: peak is then the process lifetime's */ }
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

/** Writes the data set's blocks into `dir` (run in a child process, so its memory is not ours). */
async function generateBlocks(dir: string): Promise<void> {
  const ds = generateDataset({
    series: SERIES,
    start: START,
    end: END,
    stepMs: SCRAPE_MS,
    seed: 7,
    specialValues: false,
  });
  await createBlocksFromSeries(dir, ds.series);
  let nSamples = 0;
  for (const s of ds.series) nSamples += s.ts.length;
  console.log(
    `data: ${ds.series.length} series, ${nSamples} samples, ${HOURS}h at ${SCRAPE_MS / 1000}s`,
  );
}

const generateInto = Deno.args.find((x) => x.startsWith("--generate="));
if (generateInto) {
  await generateBlocks(generateInto.slice("--generate=".length));
  Deno.exit(0);
}

const root = await Deno.makeTempDir({ prefix: "thanos-ts-promql-bench-" });
let prom: Awaited<ReturnType<typeof startPrometheus>> | undefined;
try {
  let t0 = performance.now();
  const blocksDir = `${root}/blocks`;
  const gen = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, `--generate=${blocksDir}`, ...Deno.args],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!gen.success) throw new Error("generating the data set failed");
  console.log(`blocks written in ${Math.round(performance.now() - t0)} ms`);
  await copyDir(blocksDir, `${root}/prometheus`);
  prom = await startPrometheus({
    dataDir: `${root}/prometheus`,
    config: "global:\n  scrape_interval: 1m\n",
    extraFlags: ["--storage.tsdb.retention.time=100y", "--log.level=warn"],
    readyTimeoutMs: 120_000,
  });
  const promPid = prom.pid;
  const blocks = await openBlocks(blocksDir);
  const querier = new BlocksQuerier(blocks);
  const engine = new Engine();

  const rows: string[][] = [[
    "query",
    "kind",
    "series",
    "prometheus ms",
    "ours ms",
    "ratio",
    "prom peak RSS MB",
    "our peak RSS MB",
    "our heap peak MB",
  ]];
  for (const bq of QUERIES) {
    const promTimes: number[] = [];
    const ourTimes: number[] = [];
    let promPeak = 0;
    let ourPeak = 0;
    let heapPeak = 0;
    let resultSeries = 0;
    const form = new URLSearchParams({ query: bq.query });
    const path = bq.step === 0 ? "/api/v1/query" : "/api/v1/query_range";
    const rangeStart = START + 3_600_000;
    if (bq.step === 0) form.set("time", String(END / 1000));
    else {
      form.set("start", String(rangeStart / 1000));
      form.set("end", String(END / 1000));
      form.set("step", String(bq.step / 1000));
    }
    for (let r = 0; r < RUNS; r++) {
      if (promPid > 0) resetPeak(promPid);
      t0 = performance.now();
      const res = await fetch(prom.url + path, { method: "POST", body: form });
      const body = await res.text();
      promTimes.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`prometheus: ${bq.query}: ${body.slice(0, 500)}`);
      if (promPid > 0) promPeak = Math.max(promPeak, readStatusKb(promPid, "VmHWM") / 1024);

      resetPeak("self");
      let heap = Deno.memoryUsage().heapUsed;
      const sampler = setInterval(() => {
        heap = Math.max(heap, Deno.memoryUsage().heapUsed);
      }, 5);
      t0 = performance.now();
      const out = bq.step === 0
        ? await engine.instantQuery(querier, bq.query, END)
        : await engine.rangeQuery(querier, bq.query, rangeStart, END, bq.step);
      const text = resultToJSONText(out.value);
      ourTimes.push(performance.now() - t0);
      clearInterval(sampler);
      heap = Math.max(heap, Deno.memoryUsage().heapUsed);
      heapPeak = Math.max(heapPeak, heap / 1048576);
      ourPeak = Math.max(ourPeak, readStatusKb("self", "VmHWM") / 1024);
      const v = out.value;
      resultSeries = v.type === "vector"
        ? v.samples.length
        : v.type === "matrix"
        ? v.series.length
        : 1;
      if (text.length === 0) throw new Error("empty result");
    }
    const pm = median(promTimes);
    const om = median(ourTimes);
    rows.push([
      bq.name,
      bq.step === 0 ? "instant" : `range ${bq.step / 1000}s`,
      String(resultSeries),
      pm.toFixed(1),
      om.toFixed(1),
      (om / pm).toFixed(2),
      promPeak.toFixed(0),
      ourPeak.toFixed(0),
      heapPeak.toFixed(0),
    ]);
    console.log(rows[rows.length - 1].join(" | "));
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  console.log("");
  for (const r of rows) console.log("| " + r.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |");
  for (const b of blocks) await b.close();
} finally {
  await prom?.stop();
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
