// Which threads run per small instant query, and what each costs, in our querier + store gateway
// and in Prometheus 2.42 over the same blocks (issue 19: the fixed cost of a small query after a
// pause), printed, never asserted:
//
//   deno run -A bench/thread_wakeups.ts --data=<dir> [--baseline=<checkout dir>] [--n=100]
//     [--pauses=0,5,20] [query …]
//
// `<dir>` is a data directory kept by `bench/instant_vs_prometheus.ts --keep=<dir>` (its
// `bucket.yml` and Prometheus copy; Prometheus opens its copy for writing: use a private copy).
// `--baseline` adds another checkout's querier + store (its own V8 flags, see startComponent) for
// a same-run A/B. Per query and pause, `n` queries per side in blocks of 20, the order of the
// sides rotating every block, `pause` ms after each query. Around each block every thread's
// /proc schedstat is read (exact ns, outside the timed queries): per query and thread class,
// on-CPU ms, run-queue wait ms (runnable, not running) and time slices (≈ wake-ups: a thread
// that runs once per query has 1), and how many distinct threads ran at all. Deno 2.9.6 names
// its threads: the launcher (main thread, comm `deno`), the role's Worker (`worker-N`), V8's
// platform workers (`V8 DefaultWorke`: parallel scavenge, concurrent marking and compilation),
// tokio's blocking pool (`tokio-runtime-w`: fs and dns ops). Prometheus's threads are Go's Ms
// (all `prometheus`): its rows are by thread, busiest first.

import { startKeptDataPair, startKeptDataPrometheus } from "./kept_data.ts";
import { type Sched, threadSchedstats } from "./cpu_profile.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const DATA = flag("data", "");
const BASELINE = flag("baseline", "");
const BLOCK = 20;
const N = Math.max(BLOCK, Math.round(Number(flag("n", "100")) / BLOCK) * BLOCK);
const PAUSES = flag("pauses", "0,5,20").split(",").map(Number);
/** Default: the evaluation time of bench/instant_vs_prometheus.ts at 24 h. */
const TIME = flag("time", "1700006339");
const QUERIES = Deno.args.filter((a) => !a.startsWith("--"));
if (QUERIES.length === 0) QUERIES.push("absent(nonexistent_metric)", "up");
if (DATA === "") {
  console.error("usage: bench/thread_wakeups.ts --data=<dir kept by instant_vs_prometheus.ts>");
  Deno.exit(2);
}

interface Proc {
  role: string;
  pid: number;
}

interface Side {
  name: string;
  url: string;
  procs: Proc[];
}

/** Per-thread schedstat sums of one side over the timed blocks, by process role and thread id. */
type Acc = Map<string, Map<number, { comm: string; sched: Sched }>>;

/** A thread's class as the kernel names it (see the header). */
function threadClass(pid: number, tid: number, comm: string): string {
  if (comm === "prometheus") return `thread ${tid === pid ? "main" : tid}`;
  if (tid === pid) return "launcher main";
  if (comm.startsWith("worker-")) return `Worker (${comm})`;
  if (comm.startsWith("V8 ")) return "V8 platform";
  if (comm.startsWith("tokio")) return "tokio blocking pool";
  return comm;
}

function snapshot(side: Side): Map<number, Map<number, { comm: string; sched: Sched }>> {
  return new Map(side.procs.map((p) => [p.pid, threadSchedstats(p.pid)]));
}

function accumulate(
  acc: Acc,
  side: Side,
  before: Map<number, Map<number, { comm: string; sched: Sched }>>,
  after: Map<number, Map<number, { comm: string; sched: Sched }>>,
): void {
  for (const p of side.procs) {
    const byTid = acc.get(p.role) ?? new Map();
    acc.set(p.role, byTid);
    for (const [tid, t] of after.get(p.pid)!) {
      const b = before.get(p.pid)!.get(tid)?.sched ?? [0, 0, 0]; // a new thread counts whole
      const cur = byTid.get(tid) ?? { comm: threadClass(p.pid, tid, t.comm), sched: [0, 0, 0] };
      for (let i = 0; i < 3; i++) cur.sched[i] += t.sched[i] - b[i];
      byTid.set(tid, cur);
    }
  }
}

async function get(base: string, query: string): Promise<number> {
  const t = performance.now();
  const r = await fetch(`${base}/api/v1/query?${new URLSearchParams({ query, time: TIME })}`);
  await r.text();
  return performance.now() - t;
}

const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1] ?? NaN;
const f3 = (x: number) => x.toFixed(3);
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");

const procs: { stop(): Promise<unknown> }[] = [];
try {
  const prom = await startKeptDataPrometheus(DATA);
  procs.push(prom);
  const sides: Side[] = [];
  const pairs: [string, string | undefined][] = [["ours", undefined]];
  if (BASELINE) pairs.push(["baseline", `${BASELINE}/main.ts`]);
  for (const [name, main] of pairs) {
    const { querier, store } = await startKeptDataPair(DATA, `threads-${name}`, TIME, main);
    procs.push(querier, store);
    sides.push({
      name,
      url: querier.http,
      procs: [{ role: "querier", pid: querier.child.pid }, {
        role: "store",
        pid: store.child.pid,
      }],
    });
  }
  sides.push({ name: "prometheus", url: prom.url, procs: [{ role: "prometheus", pid: prom.pid }] });
  for (const sd of sides) {
    for (const p of sd.procs) {
      const args = Deno.readTextFileSync(`/proc/${p.pid}/cmdline`).split("\0");
      const v8 = args.find((a) => a.startsWith("--v8-flags=")) ?? "no --v8-flags";
      console.log(`${sd.name} ${p.role}: pid ${p.pid}, ${v8}`);
    }
  }
  console.log(`${N} queries per side and pause, blocks of ${BLOCK}, order rotating per block\n`);
  for (const query of QUERIES) {
    for (const sd of sides) for (let i = 0; i < 30; i++) await get(sd.url, query); // warm-up
    for (const pause of PAUSES) {
      const acc = new Map<string, Acc>(sides.map((sd) => [sd.name, new Map()]));
      const wall = new Map<string, number[]>(sides.map((sd) => [sd.name, []]));
      for (let b = 0; b < N / BLOCK; b++) {
        const order = sides.map((_, i) => sides[(i + b) % sides.length]);
        for (const sd of order) {
          const before = snapshot(sd);
          for (let i = 0; i < BLOCK; i++) {
            wall.get(sd.name)!.push(await get(sd.url, query));
            if (pause > 0) await new Promise((r) => setTimeout(r, pause));
          }
          accumulate(acc.get(sd.name)!, sd, before, snapshot(sd));
        }
      }
      console.log(`## \`${query}\`, pause ${pause} ms (load ${load()})\n`);
      console.log(
        "| side | client wall median ms | CPU ms / query | wait ms / query | slices / query | " +
          "threads that ran |",
      );
      console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
      for (const sd of sides) {
        let cpu = 0, wait = 0, slices = 0, ran = 0;
        for (const byTid of acc.get(sd.name)!.values()) {
          for (const t of byTid.values()) {
            cpu += t.sched[0];
            wait += t.sched[1];
            slices += t.sched[2];
            if (t.sched[2] > 0) ran++;
          }
        }
        console.log(
          `| ${sd.name} | ${f3(median(wall.get(sd.name)!))} | ${f3(cpu / 1e6 / N)} | ${
            f3(wait / 1e6 / N)
          } | ${(slices / N).toFixed(2)} | ${ran} |`,
        );
      }
      console.log(
        "\n| side | process | thread | CPU ms / query | wait ms / query | slices / query |",
      );
      console.log("| --- | --- | --- | ---: | ---: | ---: |");
      for (const sd of sides) {
        for (const [role, byTid] of acc.get(sd.name)!) {
          // Deno's threads summed by class; Go's threads one by one, busiest first, top 6
          const rows = new Map<string, { sched: Sched; threads: number }>();
          for (const t of byTid.values()) {
            if (t.sched[2] === 0) continue;
            const r = rows.get(t.comm) ?? { sched: [0, 0, 0], threads: 0 };
            for (let i = 0; i < 3; i++) r.sched[i] += t.sched[i];
            r.threads++;
            rows.set(t.comm, r);
          }
          const sorted = [...rows].sort((a, b) => b[1].sched[0] - a[1].sched[0]);
          const shown = role === "prometheus" ? sorted.slice(0, 6) : sorted;
          for (const [c, r] of shown) {
            const name = r.threads > 1 ? `${c} (${r.threads} threads)` : c;
            console.log(
              `| ${sd.name} | ${role} | ${name} | ${f3(r.sched[0] / 1e6 / N)} | ${
                f3(r.sched[1] / 1e6 / N)
              } | ${(r.sched[2] / N).toFixed(2)} |`,
            );
          }
          if (shown.length < sorted.length) {
            const rest = sorted.slice(shown.length);
            const s = (i: number) => rest.reduce((x, [, r]) => x + r.sched[i], 0);
            console.log(
              `| ${sd.name} | ${role} | ${rest.length} other threads | ${f3(s(0) / 1e6 / N)} | ${
                f3(s(1) / 1e6 / N)
              } | ${(s(2) / N).toFixed(2)} |`,
            );
          }
        }
      }
      console.log();
    }
  }
} finally {
  for (const p of procs.reverse()) await p.stop();
}
