// CPU per instant query of our querier and store gateway, and of Prometheus 2.42 over the same
// blocks (issue 19): on a loaded machine wall times swing with the scheduler, CPU time per query
// (user + system from /proc, all threads) much less. Optionally the same for another checkout's
// store + querier (`--baseline=<dir>`, e.g. a `git archive` of main), timed in the same
// alternation: blocks of 20 queries per side, the order of the sides turning every block.
// Prints wall-time medians and CPU ms per query, never asserts.
//
//   deno run -A bench/instant_cpu.ts --data=<dir> [--baseline=<checkout dir>] [--n=200]
//     [--time=<unix s>] [--range=<s> --step=<s>] [--schedstat [--threads]] [--warmup=N]
//     [query …]
//
// `<dir>` is a data directory kept by `bench/instant_vs_prometheus.ts --keep=<dir>` (blocks, the
// Prometheus copy and `bucket.yml`). /proc/<pid>/stat counts CPU in 10 ms ticks: use n ≥ 200, or
// `--schedstat`: every thread's exact on-CPU nanoseconds from /proc/<pid>/task/<tid>/schedstat
// (a thread started during a block counts whole, one that ended during it is lost). With
// `--range`, range queries over the `range` seconds before `time` at `step` instead. `--threads`
// (with `--schedstat`) also prints each process's CPU per query by thread name (the role's thread,
// V8's GC and compiler workers, Deno's blocking pool): which thread's work grows with the data.
// `<dir>` may also be any directory with a `bucket.yml` and a `prometheus` copy of its blocks
// (e.g. the 1,000,000-series block of bench/store_memory_vs_prometheus.ts --big --data).
// A query `big:<N>` asks for another series of that bench's N-series block each time, as its
// "another series each time" case (`bench_metric_<n % 100>{id="<n, 7 digits>"}`, n stepping by
// 7,919 from 0.577·N; each side walks the same series, and its warm-up queries every metric
// name once, so only the series' own postings list and entry are new).
// A query with `{i}` or `{i%M:W}` in it is another text each time on any data: the side's count
// of queries sent so far (modulo M, zero-padded to W digits), e.g.
// `node_load1{instance="host-{i%100:3}:9100"}` walks the instances of the 10,000-series data
// (each side the same walk), a parse-cache miss each time as a fleet of dashboards causes.
// The blocks (bucket and Prometheus's copy) are read into the page cache first. `--warmup=N`
// sends N untimed queries per side before each query's timed ones: V8 keeps compiling functions
// that run once per query for about the first 10,000 queries, so N in the tens of thousands
// measures a long-running server's steady state, the default (20; 100 for `big:<N>`) one just
// started.

import type { ThanosProc } from "../tests/helpers/thanos.ts";
import {
  countedQueryWalk,
  readIntoPageCache,
  startKeptDataPair,
  startKeptDataPrometheus,
} from "./kept_data.ts";
import { cpuSeconds, threadSchedstats } from "./cpu_profile.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const DATA = flag("data", "");
const BASELINE = flag("baseline", "");
const N = Math.max(20, Math.round(Number(flag("n", "200")) / 20) * 20);
/** Default: the evaluation time of bench/instant_vs_prometheus.ts at 24 h. */
const TIME = flag("time", "1700006339");
const RANGE = flag("range", "");
const STEP = flag("step", "15");
const SCHEDSTAT = Deno.args.includes("--schedstat");
const THREADS = SCHEDSTAT && Deno.args.includes("--threads");
/** Untimed queries per side before each query's timed ones (default 20, 100 for `big:<N>`). */
const WARMUP = Number(flag("warmup", "-1"));
const QUERIES = Deno.args.filter((a) => !a.startsWith("--"));
if (QUERIES.length === 0) {
  QUERIES.push(
    "vector(1)",
    "absent(nonexistent_metric)",
    "up",
    "sum by (job) (rate(http_requests_total[5m]))",
    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
  );
}
if (DATA === "") {
  console.error("usage: bench/instant_cpu.ts --data=<dir kept by instant_vs_prometheus.ts>");
  Deno.exit(2);
}

/** Per-thread on-CPU seconds of `pid`, by thread id (schedstat, exact). */
function threadCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const [tid, t] of threadSchedstats(pid)) out.set(tid, t.sched[0] / 1e9);
  return out;
}

/** CPU seconds per thread name summed over the blocks of a side, by process index. */
const byThreadName = new Map<string, Map<string, number>[]>();

/**
 * CPU seconds of `pid` between two calls: `begin()` snapshots and returns `end`, which returns the
 * difference — from /proc/<pid>/stat ticks, or with `--schedstat` summed over every thread.
 */
function cpuSpan(pid: number, names?: Map<string, number>): () => number {
  if (!SCHEDSTAT) {
    const c0 = cpuSeconds(pid);
    return () => cpuSeconds(pid) - c0;
  }
  const t0 = threadCpu(pid);
  return () => {
    let d = 0;
    for (const [tid, t] of threadSchedstats(pid)) {
      const s = t.sched[0] / 1e9 - (t0.get(tid) ?? 0);
      d += s;
      // thread names without their numbers ("worker-1", "V8 DefaultWorke"): one group each
      if (names) {
        const k = t.comm.replace(/-?[0-9]+$/, "").trim();
        names.set(k, (names.get(k) ?? 0) + s);
      }
    }
    return d;
  };
}

/** The next text of a query per side (URL): `big:<N>` takes the next series of the walk. */
const queryText = countedQueryWalk();

async function get(base: string, q: string): Promise<number> {
  const query = queryText(base, q);
  const t = performance.now();
  const params = RANGE === "" ? new URLSearchParams({ query, time: TIME }) : new URLSearchParams({
    query,
    start: String(Number(TIME) - Number(RANGE)),
    end: TIME,
    step: STEP,
  });
  const r = await fetch(`${base}/api/v1/${RANGE === "" ? "query" : "query_range"}?${params}`);
  await r.text();
  return performance.now() - t;
}

async function thanos(main: string | undefined, name: string): Promise<ThanosProc[]> {
  const { querier, store } = await startKeptDataPair(DATA, name, TIME, main);
  return [querier, store];
}

interface Side {
  name: string;
  url: string;
  pids: number[];
  wall: number[];
  cpu: number[];
}

const procs: { stop(): Promise<unknown> }[] = [];
try {
  // both sides' blocks in the page cache: neither pays the disk more than the other
  const cached = await readIntoPageCache(DATA);
  console.error(`read ${(cached / 2 ** 20).toFixed(0)} MiB of blocks into the page cache`);
  const prom = await startKeptDataPrometheus(DATA);
  procs.push(prom);
  const ours = await thanos(undefined, "ours");
  procs.push(...ours);
  const base = BASELINE ? await thanos(`${BASELINE}/main.ts`, "baseline") : [];
  procs.push(...base);
  console.log(
    `load ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")}, ${N} ${
      RANGE === "" ? "instant" : `range (${RANGE} s at ${STEP} s)`
    } queries per side; wall ` +
      `median ms, CPU ms per query (querier + store gateway; Prometheus: its process; ${
        SCHEDSTAT ? "schedstat, every thread" : "/proc/<pid>/stat ticks"
      })\n`,
  );
  const head = base.length > 0
    ? "| query | ours wall | baseline wall | prometheus wall | ours CPU | baseline CPU | " +
      "prometheus CPU |"
    : "| query | ours wall | prometheus wall | ours CPU | prometheus CPU |";
  console.log(head);
  console.log(head.replace(/[^|]+/g, " --- "));
  for (const query of QUERIES) {
    const sides: Side[] = [
      { name: "ours", url: ours[0].http, pids: ours.map((p) => p.child.pid), wall: [], cpu: [] },
      ...(base.length > 0
        ? [{
          name: "baseline",
          url: base[0].http,
          pids: base.map((p) => p.child.pid),
          wall: [],
          cpu: [],
        }]
        : []),
      { name: "prometheus", url: prom.url, pids: [prom.pid], wall: [], cpu: [] },
    ];
    for (const s of sides) s.cpu = s.pids.map(() => 0);
    // warm-up (`big:<N>`: every metric name once), or `--warmup` queries per side
    const warm = WARMUP >= 0 ? WARMUP : query.startsWith("big:") ? 100 : 20;
    for (let i = 0; i < warm; i++) for (const s of sides) await get(s.url, query);
    for (let b = 0; b < N / 20; b++) {
      for (const s of b % 2 === 0 ? sides : [...sides].reverse()) {
        const names = byThreadName.get(s.name) ??
          byThreadName.set(s.name, s.pids.map(() => new Map())).get(s.name)!;
        const spans = s.pids.map((pid, k) => cpuSpan(pid, THREADS ? names[k] : undefined));
        for (let i = 0; i < 20; i++) s.wall.push(await get(s.url, query));
        spans.forEach((end, k) => s.cpu[k] += end());
      }
    }
    const med = (x: number[]) => x.sort((a, b) => a - b)[x.length >> 1].toFixed(2);
    const cpu = (s: Side) => s.cpu.map((c) => (c * 1000 / N).toFixed(2)).join(" + ");
    console.log(
      `| \`${query.replaceAll("|", "\\|")}\` | ${sides.map((s) => med(s.wall)).join(" | ")} | ${
        sides.map(cpu).join(" | ")
      } |`,
    );
    if (THREADS) {
      for (const s of sides) {
        const names = byThreadName.get(s.name) ?? [];
        names.forEach((m, k) => {
          const parts = [...m].filter(([, v]) => v * 1000 / N >= 0.005).sort((a, b) => b[1] - a[1])
            .map(([n, v]) => `${n} ${(v * 1000 / N).toFixed(3)}`);
          const proc = s.name === "prometheus" ? "" : k === 0 ? " querier" : " store";
          console.log(`|   ${s.name}${proc} by thread: ${parts.join(", ")} |`);
        });
      }
      byThreadName.clear();
    }
  }
} finally {
  for (const p of procs.reverse()) await p.stop();
}
