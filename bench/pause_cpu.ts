// CPU per instant query against the pause between queries, for Prometheus 2.42 and for our
// querier + store gateway over the same blocks (issue 19), printed, never asserted:
//
//   deno run -A bench/pause_cpu.ts --data=<dir> [--n=200] [--pauses=0,5,20] [query …]
//
// `<dir>` is a data directory kept by `bench/instant_vs_prometheus.ts --keep=<dir>` (blocks, the
// Prometheus copy and `bucket.yml`; Prometheus opens its copy for writing: use a copy of a shared
// directory). Our CPU per query grows when queries are spaced out (caches and branch predictors
// go cold, threads park and wake); this tells how much of that growth the machine gives any
// process (Prometheus's growth) and how much is our own footprint. Per query and pause, `n`
// queries per side in blocks of 20, the order of the sides turning every block, `pause` ms after
// each query; CPU from every thread's /proc schedstat (exact ns; see threadSchedstats).

import { startKeptDataPair, startKeptDataPrometheus } from "./kept_data.ts";
import { threadSchedstats } from "./cpu_profile.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const DATA = flag("data", "");
const N = Math.max(20, Math.round(Number(flag("n", "200")) / 20) * 20);
const PAUSES = flag("pauses", "0,5,20").split(",").map(Number);
/** Default: the evaluation time of bench/instant_vs_prometheus.ts at 24 h. */
const TIME = flag("time", "1700006339");
const QUERIES = Deno.args.filter((a) => !a.startsWith("--"));
if (QUERIES.length === 0) {
  QUERIES.push(
    "absent(nonexistent_metric)",
    "up",
    '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))',
  );
}
if (DATA === "") {
  console.error("usage: bench/pause_cpu.ts --data=<dir kept by instant_vs_prometheus.ts>");
  Deno.exit(2);
}

/** On-CPU nanoseconds of all live threads of `pid`, by thread id. */
function onCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const [tid, t] of threadSchedstats(pid)) out.set(tid, t.sched[0]);
  return out;
}

/** CPU ns spent by `pid`'s threads between two {@link onCpu} readings (new threads count whole). */
function spent(before: Map<number, number>, after: Map<number, number>): number {
  let ns = 0;
  for (const [tid, v] of after) ns += v - (before.get(tid) ?? 0);
  return ns;
}

async function get(base: string, query: string): Promise<void> {
  const r = await fetch(`${base}/api/v1/query?${new URLSearchParams({ query, time: TIME })}`);
  await r.text();
}

interface Side {
  name: string;
  url: string;
  pids: number[];
}

const procs: { stop(): Promise<unknown> }[] = [];
try {
  const prom = await startKeptDataPrometheus(DATA);
  procs.push(prom);
  const { querier, store } = await startKeptDataPair(DATA, "pause", TIME);
  procs.push(querier, store);
  const sides: Side[] = [
    {
      name: "ours (querier + store)",
      url: querier.http,
      pids: [querier.child.pid, store.child.pid],
    },
    { name: "prometheus", url: prom.url, pids: [prom.pid] },
  ];
  console.log(`${N} queries per side and pause; CPU ms per query (all threads, schedstat)\n`);
  console.log("| query | pause ms | side | CPU ms | × CPU at pause 0 | load |");
  console.log("| --- | ---: | --- | ---: | ---: | --- |");
  for (const query of QUERIES) {
    for (let i = 0; i < 30; i++) for (const s of sides) await get(s.url, query); // warm-up
    const atZero = new Map<string, number>();
    for (const pause of PAUSES) {
      const ns = new Map<string, number>(sides.map((s) => [s.name, 0]));
      for (let b = 0; b < N / 20; b++) {
        for (const s of b % 2 === 0 ? sides : [...sides].reverse()) {
          const c0 = s.pids.map(onCpu);
          for (let i = 0; i < 20; i++) {
            await get(s.url, query);
            if (pause > 0) await new Promise((r) => setTimeout(r, pause));
          }
          const c1 = s.pids.map(onCpu);
          ns.set(s.name, ns.get(s.name)! + s.pids.reduce((t, _, k) => t + spent(c0[k], c1[k]), 0));
        }
      }
      const load = Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
      for (const s of sides) {
        const ms = ns.get(s.name)! / 1e6 / N;
        if (!atZero.has(s.name)) atZero.set(s.name, ms);
        console.log(
          `| \`${query.replaceAll("|", "\\|")}\` | ${pause} | ${s.name} | ${ms.toFixed(3)} | ${
            (ms / atZero.get(s.name)!).toFixed(2)
          } | ${load} |`,
        );
      }
    }
  }
} finally {
  for (const p of procs.reverse()) await p.stop();
}
