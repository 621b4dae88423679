// Where the wall time of one instant query goes across the client, the querier and the store
// gateway (issue 19, the querier–store hop), printed, never asserted:
//
//   deno run -A bench/hop_timeline.ts --data=<dir> [--query=absent(nonexistent_metric)]
//     [--n=60] [--pause=20] [--warmup=50] [--baseline=<checkout dir>] [--no-perf]
//
// `<dir>` is a data directory kept by `bench/instant_vs_prometheus.ts --keep=<dir>`. Starts
// `thanos store` over its bucket and `thanos query` on it (and the same pair of another checkout
// with `--baseline`), then sends `n` sequential queries from this process's main thread with
// `pause` ms between them (after a pause caches are cold, as when a benchmark alternates with
// Prometheus), the sides alternating. Two views, both from the kernel:
// - per thread of each process (launcher, role Worker, V8 platform, tokio blocking pool):
//   on-CPU time, run-queue wait and time slices per query, from /proc/<pid>/task/<tid>/schedstat
//   (exact nanoseconds, unlike the 10 ms ticks of /proc/<pid>/stat);
// - with `perf` (tracepoints sched:sched_switch, sched:sched_wakeup, raw_syscalls; needs
//   perf_event_paranoid ≤ 1 or root) the per-query stages of the first side: client send →
//   querier reads the HTTP request → writes the gRPC request → the store reads it → writes its
//   answer → the querier reads it → writes the HTTP response → the client reads it; the time the
//   role threads spent runnable but not running inside a query, by who ran instead; and the
//   on-CPU time of each thread inside and outside the queries. Sockets are told apart by their
//   inodes (/proc/<pid>/fd, /proc/net/tcp), syscalls by number (sendto 44, recvfrom 45, x86-64).

import type { ThanosProc } from "../tests/helpers/thanos.ts";
import { countedQueryWalk, startKeptDataPair } from "./kept_data.ts";
import { type Sched, threadSchedstats as threads } from "./cpu_profile.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const DATA = flag("data", "");
const QUERY = flag("query", "absent(nonexistent_metric)");
const N = Number(flag("n", "60"));
const PAUSE = Number(flag("pause", "20"));
const BASELINE = flag("baseline", "");
const PERF = !Deno.args.includes("--no-perf");
/** Queries per side before the timed ones (V8 tiers up functions called once per query late). */
const WARMUP = Number(flag("warmup", "50"));
/** Default: the evaluation time of bench/instant_vs_prometheus.ts at 24 h. */
const TIME = flag("time", "1700006339");
const SYS_SENDTO = 44;
const SYS_RECVFROM = 45;
if (DATA === "") {
  console.error("usage: bench/hop_timeline.ts --data=<dir kept by instant_vs_prometheus.ts>");
  Deno.exit(2);
}

interface Side {
  name: string;
  querier: ThanosProc;
  store: ThanosProc;
  wall: number[];
}

/** The role's Worker thread: the launcher runs each role in a Worker (components/worker.ts). */
function roleThread(pid: number): number {
  for (const [tid, t] of threads(pid)) if (t.comm === "worker-1") return tid;
  throw new Error(`no role Worker thread in process ${pid}`);
}

/** Thread classes as the kernel names them (Deno 2.9.6). */
function threadClass(pid: number, tid: number, comm: string): string {
  if (tid === pid) return "launcher main";
  if (comm.startsWith("worker-")) return `role Worker (${comm})`;
  if (comm.startsWith("V8 ")) return "V8 platform";
  if (comm.startsWith("tokio")) return "tokio blocking pool";
  return comm;
}

/** Socket inode → fd of `pid`. */
function socketFds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`));
      if (m) out.set(Number(m[1]), Number(e.name));
    } catch { /* closed meanwhile */ }
  }
  return out;
}

/** Inodes of established IPv4 TCP sockets whose remote port is `port`. */
function inodesTo(port: number): Set<number> {
  const out = new Set<number>();
  for (const line of Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    if (parseInt(f[2].split(":")[1], 16) === port && f[3] === "01") out.add(Number(f[9]));
  }
  return out;
}

/** The fd `pid` holds on a connection to 127.0.0.1:`port`. */
function fdTo(pid: number, port: number): number {
  const fds = socketFds(pid);
  for (const ino of inodesTo(port)) {
    const fd = fds.get(ino);
    if (fd !== undefined) return fd;
  }
  throw new Error(`process ${pid} holds no connection to port ${port}`);
}

/** The next text of the query per side (URL): a counted query is another text each time. */
const queryText = countedQueryWalk();

async function get(base: string): Promise<number> {
  const q = queryText(base, QUERY);
  const t = performance.now();
  const r = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}&time=${TIME}`);
  await r.text();
  return performance.now() - t;
}

async function startSide(name: string, main?: string): Promise<Side> {
  // its own store cache: bench/instant_cpu.ts may run over the same directory meanwhile
  const { querier, store } = await startKeptDataPair(DATA, `hop-${name}`, TIME, main);
  return { name, querier, store, wall: [] };
}

const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1] ?? NaN;
const pct = (x: number[], p: number) =>
  [...x].sort((a, b) => a - b)[Math.min(x.length - 1, Math.floor(x.length * p))] ?? NaN;
const ms = (x: number) => x.toFixed(3);

// ------------------------------------------------------------------------------ perf trace

interface Ev {
  t: number; // ms
  tid: number;
  cpu: number;
  name: string;
  rest: string;
}

function parsePerf(text: string): Ev[] {
  const rx = /^\s*.+?\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$/;
  const out: Ev[] = [];
  for (const line of text.split("\n")) {
    const m = rx.exec(line);
    if (m) {
      out.push({
        t: Number(m[3]) * 1000,
        tid: Number(m[1]),
        cpu: Number(m[2]),
        name: m[4],
        rest: m[5],
      });
    }
  }
  return out;
}

interface Stages {
  cSend?: number;
  httpIn?: number;
  grpcOut?: number;
  storeIn?: number;
  storeOut?: number;
  qIn?: number;
  httpOut?: number;
  cRecv?: number;
  /** the querier's thread sleeps after writing the gRPC request (sched_switch, state S) */
  qBlock?: number;
  /** the store's thread sleeps after writing its answer */
  sBlock?: number;
}

/** Who ran, and what: sched_switch fields. */
function switchOf(rest: string) {
  const prev = Number(/prev_pid=(\d+)/.exec(rest)![1]);
  const state = /prev_state=(\S+)/.exec(rest)![1];
  const next = Number(/next_pid=(\d+)/.exec(rest)![1]);
  return { prev, state, next };
}

function analyse(
  evs: Ev[],
  ids: { client: number; q: number; s: number; qGrpcFd: number; qHttpFd: number },
  classOf: (tid: number) => string,
): void {
  const { client, q, s, qGrpcFd, qHttpFd } = ids;
  const queries: Stages[] = [];
  let cur: Stages | undefined;
  const pending = new Map<number, { nr: number; fd: number; t: number }>();
  let cSend: number | undefined;
  for (const e of evs) {
    if (e.tid !== client && e.tid !== q && e.tid !== s) continue;
    if (e.name === "sched:sched_switch" && cur) {
      // how long a side stays on (or waits for) its CPU after its write wakes the other side
      const { prev, state } = switchOf(e.rest);
      if (!state.startsWith("S")) continue;
      if (prev === q && cur.grpcOut !== undefined && cur.qBlock === undefined) cur.qBlock = e.t;
      if (prev === s && cur.storeOut !== undefined && cur.sBlock === undefined) cur.sBlock = e.t;
      continue;
    }
    if (e.name === "raw_syscalls:sys_enter") {
      const m = /NR (\d+) \((\w+)/.exec(e.rest);
      if (m) pending.set(e.tid, { nr: Number(m[1]), fd: parseInt(m[2], 16), t: e.t });
      continue;
    }
    if (e.name !== "raw_syscalls:sys_exit") continue;
    const p = pending.get(e.tid);
    pending.delete(e.tid);
    if (!p) continue;
    const ret = Number(e.rest.split("=")[1]);
    if (e.tid === client) {
      if (p.nr === SYS_SENDTO) cSend = p.t;
      else if (p.nr === SYS_RECVFROM && ret > 0 && cur === undefined) {
        const last = queries[queries.length - 1];
        if (last && last.cRecv === undefined) last.cRecv = e.t;
      }
      continue;
    }
    if (e.tid === q && p.nr === SYS_RECVFROM && p.fd === qHttpFd && ret > 0 && !cur) {
      cur = { cSend, httpIn: e.t };
    } else if (!cur) continue;
    else if (e.tid === q && p.nr === SYS_SENDTO && p.fd === qGrpcFd && cur.grpcOut === undefined) {
      cur.grpcOut = p.t;
    } else if (e.tid === s && p.nr === SYS_RECVFROM && cur.grpcOut !== undefined && !cur.storeIn) {
      cur.storeIn = e.t;
    } else if (e.tid === s && p.nr === SYS_SENDTO && cur.storeIn !== undefined && !cur.storeOut) {
      cur.storeOut = p.t;
    } else if (
      e.tid === q && p.nr === SYS_RECVFROM && p.fd === qGrpcFd && cur.storeOut !== undefined &&
      cur.qIn === undefined
    ) {
      cur.qIn = e.t;
    } else if (e.tid === q && p.nr === SYS_SENDTO && p.fd === qHttpFd) {
      cur.httpOut = p.t;
      queries.push(cur);
      cur = undefined;
    }
  }
  const local = queries.filter((x) => x.grpcOut === undefined && x.cRecv !== undefined);
  if (local.length > 0) {
    // a query the querier answers without the store (`vector(1)`): the floor of the others
    const xs = local.map((x) => x.httpOut! - x.httpIn!);
    console.log(
      `\n${local.length} queries without a store call: querier request read → response ` +
        `written ${ms(median(xs))} ms (p10 ${ms(pct(xs, 0.1))}, p90 ${ms(pct(xs, 0.9))})`,
    );
  }
  const full = queries.filter((x) => x.qIn !== undefined && x.cRecv !== undefined);
  if (full.length === 0) return;
  console.log(`\nper-query stages (perf trace, first side), ${full.length} queries, ms:\n`);
  console.log("| stage | median | p10 | p90 |");
  console.log("| --- | ---: | ---: | ---: |");
  const rows: [keyof Stages, keyof Stages, string][] = [
    ["cSend", "httpIn", "client send → querier reads the request"],
    ["httpIn", "grpcOut", "querier: request read → gRPC request written"],
    ["grpcOut", "storeIn", "hop: gRPC request written → store reads it"],
    ["storeIn", "storeOut", "store: request read → answer written"],
    ["storeOut", "qIn", "hop: answer written → querier reads it"],
    ["qIn", "httpOut", "querier: answer read → HTTP response written"],
    ["httpOut", "cRecv", "querier writes → client reads the response"],
    ["grpcOut", "qBlock", "querier: gRPC request written → its thread sleeps"],
    ["storeOut", "sBlock", "store: answer written → its thread sleeps"],
    ["cSend", "cRecv", "client send → client read (total)"],
  ];
  for (const [a, b, label] of rows) {
    const xs = full.filter((x) => x[a] !== undefined && x[b] !== undefined)
      .map((x) => x[b]! - x[a]!);
    console.log(`| ${label} | ${ms(median(xs))} | ${ms(pct(xs, 0.1))} | ${ms(pct(xs, 0.9))} |`);
  }
  const windows = full.map((x) => [x.cSend ?? x.httpIn!, x.cRecv!] as const);
  const inside = (a: number, b: number) => {
    let t = 0;
    for (const [w0, w1] of windows) t += Math.max(0, Math.min(b, w1) - Math.max(a, w0));
    return t;
  };
  // who ran on each CPU, and when our role threads were runnable but not running
  const last = new Map<number, { t: number; tid: number }>();
  const runs: { cpu: number; t0: number; t1: number; tid: number }[] = [];
  const preemptedAt = new Map<number, { t: number }>();
  const preempted: { tid: number; cpu: number; t0: number; t1: number }[] = [];
  const outCpu = new Map<number, number>();
  for (const e of evs) {
    if (e.name !== "sched:sched_switch") continue;
    const { prev, state, next } = switchOf(e.rest);
    const l = last.get(e.cpu);
    if (l) runs.push({ cpu: e.cpu, t0: l.t, t1: e.t, tid: prev });
    last.set(e.cpu, { t: e.t, tid: next });
    if ((prev === q || prev === s) && state.startsWith("R")) {
      preemptedAt.set(prev, { t: e.t });
      outCpu.set(prev, e.cpu);
    }
    const pa = preemptedAt.get(next);
    if (pa) {
      preempted.push({ tid: next, cpu: outCpu.get(next)!, t0: pa.t, t1: e.t });
      preemptedAt.delete(next);
    }
  }
  const by = new Map<string, number>();
  for (const p of preempted) {
    if (inside(p.t0, p.t1) <= 0) continue;
    for (const r of runs) {
      if (r.cpu !== p.cpu) continue;
      const a = Math.max(p.t0, r.t0), b = Math.min(p.t1, r.t1);
      if (b <= a) continue;
      const key = `${p.tid === q ? "querier" : "store"} ← ${classOf(r.tid)}`;
      by.set(key, (by.get(key) ?? 0) + inside(a, b));
    }
  }
  console.log(
    "\nrole threads runnable but not running inside queries, by who ran instead (ms per query):\n",
  );
  console.log("| waiting ← running | ms / query |");
  console.log("| --- | ---: |");
  for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 10)) {
    console.log(`| ${k} | ${ms(v / full.length)} |`);
  }
  const onIn = new Map<string, number>(), onOut = new Map<string, number>();
  for (const r of runs) {
    const c = classOf(r.tid);
    if (c === "other") continue;
    const i = inside(r.t0, r.t1);
    onIn.set(c, (onIn.get(c) ?? 0) + i);
    onOut.set(c, (onOut.get(c) ?? 0) + (r.t1 - r.t0 - i));
  }
  console.log("\non-CPU time per query inside / outside the queries (perf trace, ms):\n");
  console.log("| thread | inside | outside |");
  console.log("| --- | ---: | ---: |");
  for (const [c, v] of [...onIn].sort((a, b) => b[1] - a[1])) {
    console.log(`| ${c} | ${ms(v / full.length)} | ${ms((onOut.get(c) ?? 0) / full.length)} |`);
  }
}

// ------------------------------------------------------------------------------ main

const sides: Side[] = [];
let perfProc: Deno.ChildProcess | undefined;
const tmp = await Deno.makeTempDir({ prefix: "hop_timeline_" });
try {
  sides.push(await startSide("ours"));
  if (BASELINE) sides.push(await startSide("baseline", `${BASELINE}/main.ts`));
  // warm-up
  for (const sd of sides) for (let i = 0; i < WARMUP; i++) await get(sd.querier.http);
  const pids = sides.flatMap((sd) => [sd.querier.child.pid, sd.store.child.pid]);
  const first = sides[0];
  const q = roleThread(first.querier.child.pid);
  const s = roleThread(first.store.child.pid);
  const qGrpcFd = fdTo(first.querier.child.pid, Number(first.store.grpc.split(":")[1]));
  let perfData: string | undefined;
  if (PERF) {
    perfData = `${tmp}/perf.data`;
    const filter = `common_pid == ${q} || common_pid == ${s} || common_pid == ${Deno.pid}`;
    try {
      perfProc = new Deno.Command("perf", {
        args: [
          "record",
          "-a",
          "-q",
          "-o",
          perfData,
          "-e",
          "sched:sched_switch",
          "-e",
          "sched:sched_wakeup",
          "-e",
          "raw_syscalls:sys_enter",
          "--filter",
          filter,
          "-e",
          "raw_syscalls:sys_exit",
          "--filter",
          filter,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await new Promise((r) => setTimeout(r, 1500)); // perf attaches its tracepoints
    } catch (e) {
      console.log(`perf not started (${(e as Error).message}): schedstat only`);
      perfProc = undefined;
    }
  }
  const before = new Map(pids.map((p) => [p, threads(p)]));
  for (let i = 0; i < N; i++) {
    for (const sd of i % 2 === 0 ? sides : [...sides].reverse()) {
      sd.wall.push(await get(sd.querier.http));
      await new Promise((r) => setTimeout(r, PAUSE));
    }
  }
  const after = new Map(pids.map((p) => [p, threads(p)]));
  // the HTTP connection the client used: the querier's socket to our fetch's local port
  let qHttpFd = -1;
  if (perfProc) {
    const qfds = socketFds(first.querier.child.pid);
    const httpPort = Number(new URL(first.querier.http).port);
    for (const line of Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || parseInt(f[1].split(":")[1], 16) !== httpPort || f[3] !== "01") continue;
      const fd = qfds.get(Number(f[9]));
      if (fd !== undefined) qHttpFd = fd;
    }
    perfProc.kill("SIGINT");
    // perf record ends on SIGINT with status 130 once its file is written
    const st = await perfProc.status;
    const size = (() => {
      try {
        return Deno.statSync(perfData!).size;
      } catch {
        return 0;
      }
    })();
    if (size === 0 || qHttpFd < 0) {
      console.log(`perf trace unusable (perf exit ${st.code}, HTTP socket ${qHttpFd})`);
      perfProc = undefined;
    }
  }
  console.log(
    `# ${QUERY}: ${N} queries per side, ${PAUSE} ms pause, load ${
      Deno.loadavg().map((x) => x.toFixed(2)).join(" ")
    }\n`,
  );
  console.log("| side | client wall median ms | p10 | p90 |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const sd of sides) {
    console.log(
      `| ${sd.name} | ${ms(median(sd.wall))} | ${ms(pct(sd.wall, 0.1))} | ${
        ms(pct(sd.wall, 0.9))
      } |`,
    );
  }
  console.log("\nper thread, per query (schedstat): on-CPU ms, run-queue wait ms, time slices\n");
  console.log("| side | process | thread | CPU ms | wait ms | slices |");
  console.log("| --- | --- | --- | ---: | ---: | ---: |");
  for (const sd of sides) {
    for (const [role, proc] of [["querier", sd.querier], ["store", sd.store]] as const) {
      const pid = proc.child.pid;
      const sum = new Map<string, Sched>();
      for (const [tid, t] of after.get(pid)!) {
        const b = before.get(pid)!.get(tid)?.sched ?? [0, 0, 0];
        const c = threadClass(pid, tid, t.comm);
        const acc = sum.get(c) ?? [0, 0, 0];
        for (let i = 0; i < 3; i++) acc[i] += t.sched[i] - b[i];
        sum.set(c, acc);
      }
      for (const [c, [run, wait, slices]] of sum) {
        if (run === 0 && slices === 0) continue;
        console.log(
          `| ${sd.name} | ${role} | ${c} | ${ms(run / 1e6 / N)} | ${ms(wait / 1e6 / N)} | ${
            (slices / N).toFixed(2)
          } |`,
        );
      }
    }
  }
  if (perfProc && perfData && qHttpFd >= 0) {
    const script = await new Deno.Command("perf", {
      args: ["script", "-i", perfData, "-F", "comm,tid,cpu,time,event,trace"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const qPid = first.querier.child.pid, sPid = first.store.child.pid;
    const qThreads = threads(qPid), sThreads = threads(sPid);
    const classOf = (tid: number) => {
      if (tid === Deno.pid) return "client";
      const qt = qThreads.get(tid);
      if (qt) return `querier ${threadClass(qPid, tid, qt.comm)}`;
      const st = sThreads.get(tid);
      if (st) return `store ${threadClass(sPid, tid, st.comm)}`;
      return tid === 0 ? "idle" : "other";
    };
    analyse(
      parsePerf(new TextDecoder().decode(script.stdout)),
      { client: Deno.pid, q, s, qGrpcFd, qHttpFd },
      classOf,
    );
  }
} finally {
  try {
    perfProc?.kill("SIGINT");
  } catch { /* ended */ }
  await perfProc?.status;
  for (const sd of sides) {
    await sd.querier.stop();
    await sd.store.stop();
  }
  await Deno.remove(tmp, { recursive: true });
}
