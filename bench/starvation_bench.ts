// Issue 20 (3): does a heavy query starve the role? A store gateway over generated blocks and a
// querier, then: (1) `/-/ready` and an `up` query, p50/p99 idle (before and after) and while a
// heavy query (≥ 30 s by default) runs, probing until it has answered, so its result's hand-over
// is covered too (NO_FULL=1 skips it); (1b) the same probes in alternating windows, 5 s with the
// heavy query running and 5 s idle, CYCLES=6 times, so a shared machine's drifting load weighs on
// both alike; ratios busy/idle; (2) range-query throughput, one at a time versus CLIENTS=4
// concurrent clients, THROUGHPUT_ROUNDS=5 alternating rounds of THROUGHPUT_QUERIES=36 queries each
// way, the median ratio (and that of the rounds no other process disturbed; QUIET_WAIT=<s> waits
// for the machine to be quiet before each), the CPU each querier thread spent per query and, per
// round, where the machine's cores went: querier (each evaluation Worker), store, this bench,
// other processes, idle (Linux /proc); (3) a heavy query with `timeout=5s`: when it returns, and when the store's in-flight
// Series gauge is back to 0; (4) `/-/ready` and `up` during heavy `/api/v1/series`,
// `label/idx/values` and `labels` calls over LABEL_SERIES=60000 series, in METADATA_ROUNDS=3
// windows of METADATA_CALLS=2 calls each alternating with idle windows as long, on the querier and
// on a second one with `--query.eval-workers=0` (raise both for more probes: p99 of few probes is
// their largest). Prints figures and ratios; never asserts. The machine is shared:
// compare ratios of one run, and run it several times. BASELINE=<checkout> (e.g. a `git archive`
// of main) starts that checkout's store gateway (same bucket) and queriers too: (1b) then alternates the
// heavy query's windows between ours and the baseline's, and (4) alternates its rounds over both,
// so both sides see the same machine, and (2) runs each round on both (BASE_EVAL_WORKERS=<n>:
// the baseline's `--query.eval-workers`). PARTS=1,1b,2,3,4 (default all) picks the parts to run.
// Usage: deno run -A bench/starvation_bench.ts [series=600] [heavyStep=5] [probes=300] [evalWorkers=2]

import { TempDirs } from "../tests/helpers/tmp.ts";
import { startComponent, type ThanosProc } from "../tests/helpers/thanos.ts";
import { labelsFromObject } from "../tsdb/labels.ts";
import {
  smallDataset,
  startQuerier,
  T0,
  withLabels,
  writeBlocks,
} from "../tests/helpers/query_e2e.ts";

const SERIES = Number(Deno.args[0] ?? 600);
const HEAVY_STEP = Number(Deno.args[1] ?? 5);
const PROBES = Number(Deno.args[2] ?? 300);
const EVAL_WORKERS = Number(Deno.args[3] ?? 2);
const S = T0 / 1000;
const END = S + 3 * 3600;
/** Pause between two probe pairs (ms). */
const PROBE_GAP_MS = 20;
/** Alternating busy/idle windows of (1b): how many, and how long each window is (ms). */
const CYCLES = Number(Deno.env.get("CYCLES") ?? 6);
const WINDOW_MS = 5000;
/** Rounds of (2), each N queries one at a time then N with CLIENTS clients. */
const THROUGHPUT_ROUNDS = Number(Deno.env.get("THROUGHPUT_ROUNDS") ?? 5);
/**
 * Queries of each of (2)'s phases. The concurrent phase's last queries run with fewer clients
 * (its tail): with 12, a third of a 1.2 s phase, and the ratio came out 5–10 % lower.
 */
const THROUGHPUT_QUERIES = Number(Deno.env.get("THROUGHPUT_QUERIES") ?? 36);
/** Concurrent clients of (2)'s concurrent phase. */
const CLIENTS = Number(Deno.env.get("CLIENTS") ?? 4);
/**
 * Most seconds (2) waits before each round for the machine to be quiet (other processes at most
 * 0.1 core over a second; Linux /proc), 0: no wait. Other sessions' processes share the cores
 * fairly with this one's whatever its thread count (the kernel's autogroups), so one busy
 * neighbour caps 4 clients at about one core.
 */
const QUIET_WAIT_S = Number(Deno.env.get("QUIET_WAIT") ?? 0);
/** Busy/idle window pairs of (4), per querier and API. */
const METADATA_ROUNDS = Number(Deno.env.get("METADATA_ROUNDS") ?? 3);
/** Calls back to back in each busy window of (4). */
const METADATA_CALLS = Number(Deno.env.get("METADATA_CALLS") ?? 2);
/** Series of the metric that `/api/v1/series` lists in (4): one sample each. */
const LABEL_SERIES = Number(Deno.env.get("LABEL_SERIES") ?? 60_000);
/** `--query.eval-workers` of the baseline's queriers (default: the same as ours). */
const BASE_EVAL_WORKERS = Number(Deno.env.get("BASE_EVAL_WORKERS") ?? EVAL_WORKERS);
/** Another checkout whose queriers run beside ours (same store), or "". */
const BASELINE = Deno.env.get("BASELINE") ?? "";
/** The parts to run. */
const PARTS = new Set((Deno.env.get("PARTS") ?? "1,1b,2,3,4").split(","));

/** The heavy query (a range query): a 3 h subquery at 1 s under a quantile, at every step. */
const HEAVY = `quantile_over_time(0.5, rate(http_requests_total[5m])[3h:1s])`;
/** The throughput query: a range query of about a second. */
const RANGE = `quantile_over_time(0.5, rate(http_requests_total[5m])[30m:10s])`;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

async function timed(
  url: string,
  init?: RequestInit,
): Promise<{ ms: number; status: number; body: string }> {
  const t = performance.now();
  const r = await fetch(url, init);
  const body = await r.text();
  return { ms: performance.now() - t, status: r.status, body };
}

/**
 * Like {@link timed}, but counts the body's bytes instead of decoding it: decoding a result of
 * megabytes would hold this process's event loop and show up in its own probes' latency.
 */
async function timedBytes(url: string): Promise<{ ms: number; status: number; bytes: number }> {
  const t = performance.now();
  const r = await fetch(url);
  let bytes = 0;
  for await (const chunk of r.body ?? []) bytes += chunk.length;
  return { ms: performance.now() - t, status: r.status, bytes };
}

interface Round {
  ready: number[];
  up: number[];
  /** When each probe pair started (ms, performance.now()). */
  at: number[];
}

/** Probe pairs (`/-/ready`, then `up`): `count` of them, or until `until()` (at most `max`). */
async function probeRound(
  q: string,
  count: number,
  until?: () => boolean,
  max = count,
): Promise<Round> {
  const r: Round = { ready: [], up: [], at: [] };
  for (let i = 0; i < max && (until ? !until() || i < count : i < count); i++) {
    r.at.push(performance.now());
    r.ready.push((await timed(`${q}/-/ready`)).ms);
    const u = await timed(`${q}/api/v1/query?query=up&time=${END}`);
    if (u.status !== 200) throw new Error(`up: ${u.status} ${u.body.slice(0, 200)}`);
    r.up.push(u.ms);
    await new Promise((res) => setTimeout(res, PROBE_GAP_MS));
  }
  return r;
}

async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  // a counter never incremented is not exposed yet: 0
  return line ? Number(line.slice(name.length + 1)) : 0;
}

/** CPU ms per thread of process `pid` (Linux /proc; empty elsewhere), by `name#tid`. */
function threadCpu(pid: number): Map<string, number> {
  const m = new Map<string, number>();
  try {
    for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        const comm = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/comm`).trim();
        const st = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/stat`);
        const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
        // utime + stime, in clock ticks (100 Hz on Linux)
        m.set(`${comm}#${e.name}`, (Number(f[11]) + Number(f[12])) * 10);
      } catch { /* thread gone */ }
    }
  } catch { /* no /proc */ }
  return m;
}

/**
 * The querier's CPU per query between two samples, by role: Deno names Web Worker threads
 * `worker-<n>` in start order; the launcher starts the role's Worker first and the evaluation
 * Workers on demand, later (components/eval_workers.ts).
 */
function querierCpu(before: Map<string, number>, after: Map<string, number>, n: number): string {
  const workers = [...after.keys()].filter((k) => k.startsWith("worker-"))
    .sort((a, b) => Number(a.split(/[-#]/)[1]) - Number(b.split(/[-#]/)[1]));
  const sum = { role: 0, eval: 0, v8: 0, other: 0 };
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    const i = workers.indexOf(k);
    if (i === 0) sum.role += d;
    else if (i > 0) sum.eval += d;
    else if (k.startsWith("V8 ")) sum.v8 += d;
    else sum.other += d;
  }
  if (after.size === 0) return "(no /proc)";
  const f = (x: number) => (x / n).toFixed(0);
  return `role thread ${f(sum.role)} ms, eval workers ${f(sum.eval)} ms, V8 helpers ${
    f(sum.v8)
  } ms, other ${f(sum.other)} ms`;
}

/** The machine's CPU time (ms) since boot, busy and idle (Linux /proc/stat; zeros elsewhere). */
function machineCpu(): { busy: number; idle: number } {
  try {
    const f = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1)
      .map(Number);
    // user nice system idle iowait irq softirq steal, in clock ticks (100 Hz)
    const idle = (f[3] + f[4]) * 10;
    return { busy: f.slice(0, 8).reduce((a, b) => a + b, 0) * 10 - idle, idle };
  } catch {
    return { busy: 0, idle: 0 };
  }
}

function cpuTotal(before: Map<string, number>, after: Map<string, number>): number {
  let t = 0;
  for (const [k, v] of after) t += v - (before.get(k) ?? 0);
  return t;
}

const fmt = (x: number) => x.toFixed(1);

const dirs = new TempDirs();
const procs: ThanosProc[] = [];
try {
  const root = await dirs.make();
  await writeBlocks(`${root}/bucket`, withLabels(smallDataset(7, SERIES), { region: "east" }));
  await writeBlocks(
    `${root}/bucket`,
    Array.from({ length: LABEL_SERIES }, (_, i) => ({
      labels: labelsFromObject({
        __name__: "many_series",
        idx: String(i).padStart(6, "0"),
        pad: `padding-${"x".repeat(40)}-${i % 1000}`,
      }),
      ts: Float64Array.of(T0 + 60_000),
      vs: Float64Array.of(i),
    })),
  );
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
  const load = () => Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
  console.log(
    `querier --query.eval-workers=${EVAL_WORKERS}, ${SERIES} generated series, ` +
      `${navigator.hardwareConcurrency} cores, load average ${load()}`,
  );
  procs.push(q);
  const heavyOf = (url: string) =>
    `${url}/api/v1/query_range?query=${
      encodeURIComponent(HEAVY)
    }&start=${S}&end=${END}&step=${HEAVY_STEP}`;
  const heavyUrl = heavyOf(q.url);
  /** The baseline checkout's store gateway and querier with the same flags (BASELINE). */
  const baseStore = BASELINE
    ? await startComponent("store", [
      `--objstore.config-file=${root}/bucket.yml`,
      `--data-dir=${root}/base-store`,
      "--log.level=warn",
    ], { name: "baseline store", main: `${BASELINE}/main.ts` })
    : undefined;
  if (baseStore) procs.push(baseStore);
  const base = baseStore
    ? await startComponent("query", [
      "--log.level=warn",
      `--store=${baseStore.grpc}`,
      "--query.timeout=10m",
      `--query.eval-workers=${BASE_EVAL_WORKERS}`,
    ], { name: "baseline querier", main: `${BASELINE}/main.ts` })
    : undefined;
  if (base) procs.push(base);
  const rangeUrl = `${q.url}/api/v1/query_range?query=${
    encodeURIComponent(RANGE)
  }&start=${S}&end=${END}&step=60`;
  await timed(rangeUrl); // warm caches
  if (base) await timed(rangeUrl.replace(q.url, base.http));

  // (1) probes idle, during the heavy query (until it answered), idle again (NO_FULL=1: skip)
  const full = !Deno.env.get("NO_FULL");
  if (PARTS.has("1")) {
    const idleBefore = await probeRound(q.url, full ? PROBES : 1);
    const t0 = performance.now();
    let heavyMs = NaN;
    let heavyStatus = 0;
    let heavyBytes = 0;
    const heavy = (full ? timedBytes(heavyUrl) : Promise.resolve({ ms: 0, status: 0, bytes: 0 }))
      .then((r) => {
        heavyMs = r.ms;
        heavyStatus = r.status;
        heavyBytes = r.bytes;
      });
    await new Promise((r) => setTimeout(r, 500));
    const busy = await probeRound(q.url, PROBES, () => !Number.isNaN(heavyMs), 20 * PROBES);
    await heavy;
    const idleAfter = await probeRound(q.url, full ? PROBES : 1);
    console.log(
      `heavy range query ${HEAVY} step ${HEAVY_STEP}s: ${
        fmt(heavyMs / 1000)
      } s (status ${heavyStatus}, ${(heavyBytes / 1e6).toFixed(1)} MB)${
        heavyMs < 30_000 ? " — under 30 s" : ""
      }`,
    );
    if (Deno.env.get("DEBUG")) {
      const top = (r: Round, k: "ready" | "up") =>
        r[k].map((x, i) => `${Math.round(x)}ms@${fmt((r.at[i] - t0) / 1000)}s`)
          .sort((a, b) => parseInt(b) - parseInt(a)).slice(0, 6).join(" ");
      console.log(
        `  slowest busy ready: ${top(busy, "ready")}\n  slowest busy up: ${top(busy, "up")}`,
      );
    }
    console.log(
      `probes: ${PROBES} pairs idle before, ${busy.ready.length} during the heavy query, ${PROBES} idle after (load average ${load()})`,
    );
    for (const k of ["ready", "up"] as const) {
      const idle = [...idleBefore[k], ...idleAfter[k]];
      const [i50, i99, b50, b99] = [
        pct(idle, 0.5),
        pct(idle, 0.99),
        pct(busy[k], 0.5),
        pct(busy[k], 0.99),
      ];
      console.log(
        `  ${k.padEnd(5)} idle p50 ${fmt(i50)} p99 ${fmt(i99)} ms (before p99 ${
          fmt(pct(idleBefore[k], 0.99))
        }, after p99 ${fmt(pct(idleAfter[k], 0.99))}) | busy p50 ${fmt(b50)} p99 ${
          fmt(b99)
        } ms | ratio p50 ${(b50 / i50).toFixed(2)} p99 ${(b99 / i99).toFixed(2)}`,
      );
    }
  }

  // (1b) the same probes in alternating windows, so other load on a shared machine weighs on
  // idle and busy alike: the heavy query runs for WINDOW_MS (then its client disconnects, which
  // cancels it), the querier idles for WINDOW_MS; CYCLES times
  if (PARTS.has("1b")) {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const merge = (into: Round, r: Round) => {
      into.ready.push(...r.ready);
      into.up.push(...r.up);
    };
    const window = async (url: string) => {
      const end = performance.now() + WINDOW_MS;
      return await probeRound(url, 1, () => performance.now() >= end, 20 * PROBES);
    };
    const targets = [{ name: "ours", url: q.url }];
    if (base) targets.push({ name: `baseline ${BASELINE}`, url: base.http });
    const rounds = targets.map(() => ({
      busy: { ready: [], up: [], at: [] } as Round,
      idle: { ready: [], up: [], at: [] } as Round,
    }));
    for (let c = 0; c < CYCLES; c++) {
      for (const [t, { url }] of targets.entries()) {
        const ac = new AbortController();
        const h = fetch(heavyOf(url), { signal: ac.signal }).then((r) => r.text()).catch(() => "");
        await sleep(500);
        merge(rounds[t].busy, await window(url));
        ac.abort();
        await h;
        await sleep(1000); // the cancel reaches the worker and the store
        merge(rounds[t].idle, await window(url));
      }
    }
    for (const [t, { name }] of targets.entries()) {
      const { busy: altBusy, idle: altIdle } = rounds[t];
      console.log(
        `alternating ${CYCLES} × (${WINDOW_MS / 1000} s with the heavy query running, ${
          WINDOW_MS / 1000
        } s idle), ${name}: ${altBusy.ready.length} busy and ${altIdle.ready.length} idle probe pairs (load average ${load()})`,
      );
      for (const k of ["ready", "up"] as const) {
        const [i50, i99, b50, b99] = [
          pct(altIdle[k], 0.5),
          pct(altIdle[k], 0.99),
          pct(altBusy[k], 0.5),
          pct(altBusy[k], 0.99),
        ];
        console.log(
          `  ${k.padEnd(5)} idle p50 ${fmt(i50)} p99 ${fmt(i99)} ms | busy p50 ${fmt(b50)} p99 ${
            fmt(b99)
          } ms | ratio p50 ${(b50 / i50).toFixed(2)} p99 ${(b99 / i99).toFixed(2)}`,
        );
      }
    }
  }

  // (2) throughput: N range queries one at a time versus CLIENTS concurrent clients, in
  // THROUGHPUT_ROUNDS alternating rounds (a shared machine's drifting load weighs on both alike);
  // the median ratio, and the median of the rounds other processes left alone (BASELINE: each
  // round runs on ours, then on the baseline's querier and store)
  if (PARTS.has("2")) {
    const N = THROUGHPUT_QUERIES;
    type Cpu = { q: Map<string, number>; s: number; wall: number };
    const addCpu = (
      into: Cpu,
      qa: Map<string, number>,
      qb: Map<string, number>,
      sa: Map<string, number>,
      sb: Map<string, number>,
      wall: number,
    ) => {
      for (const [k, v] of qb) into.q.set(k, (into.q.get(k) ?? 0) + v - (qa.get(k) ?? 0));
      into.s += cpuTotal(sa, sb);
      into.wall += wall;
    };
    /** A querier and its store under test, with what (2) measured of it. */
    interface Side {
      name: string;
      querier: ThanosProc;
      store: ThanosProc;
      url: string;
      seq: Cpu;
      par: Cpu;
      ratios: number[];
      /** Ratios of rounds where other processes took at most 0.1 core in either phase. */
      quiet: number[];
      rates: string[];
    }
    const side = (name: string, querier: ThanosProc, st: ThanosProc): Side => ({
      name,
      querier,
      store: st,
      url: rangeUrl.replace(q.url, querier.http),
      seq: { q: new Map(), s: 0, wall: 0 },
      par: { q: new Map(), s: 0, wall: 0 },
      ratios: [],
      quiet: [],
      rates: [],
    });
    const sides = [side("this version", q, store)];
    if (base && baseStore) sides.push(side("baseline", base, baseStore));
    /**
     * Runs N queries with `clients` clients; adds the querier's and store's CPU to `into`;
     * resolves with the rate, where the machine's cores went meanwhile (cores busy: querier /
     * store / this bench / other processes, and idle; each evaluation Worker's share, to show
     * their balance) and the cores other processes took.
     */
    const phase = async (
      sd: Side,
      clients: number,
      into: Cpu,
    ): Promise<[number, string, number]> => {
      const qa = threadCpu(sd.querier.child.pid);
      const sa = threadCpu(sd.store.child.pid);
      const ba = cpuTotal(new Map(), threadCpu(Deno.pid));
      const ma = machineCpu();
      const t = performance.now();
      const next = { i: 0 };
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (next.i++ < N) await timed(sd.url);
        }),
      );
      const wall = performance.now() - t;
      const qb = threadCpu(sd.querier.child.pid);
      const sb = threadCpu(sd.store.child.pid);
      const bb = cpuTotal(new Map(), threadCpu(Deno.pid));
      const mb = machineCpu();
      addCpu(into, qa, qb, sa, sb, wall);
      const qc = cpuTotal(qa, qb), sc = cpuTotal(sa, sb), bc = bb - ba;
      const others = mb.busy - ma.busy - qc - sc - bc;
      const cores = (x: number) => (x / wall).toFixed(2);
      const evals = [...qb.keys()].filter((k) => k.startsWith("worker-"))
        .sort((a, b) => Number(a.split(/[-#]/)[1]) - Number(b.split(/[-#]/)[1])).slice(1)
        .map((k) => cores(qb.get(k)! - (qa.get(k) ?? 0)));
      return [
        N / (wall / 1000),
        `querier ${cores(qc)} (eval ${evals.join("+")}) store ${cores(sc)} bench ${
          cores(bc)
        } others ${cores(others)} idle ${cores(mb.idle - ma.idle)}`,
        others / wall,
      ];
    };
    // every evaluation Worker started (a Worker's start is not part of a round)
    for (const sd of sides) {
      await Promise.all(Array.from({ length: CLIENTS }, () => timed(sd.url)));
    }
    /** Waits up to QUIET_WAIT_S for a second in which other processes took at most 0.1 core. */
    const quiet = async () => {
      const until = performance.now() + QUIET_WAIT_S * 1000;
      while (performance.now() < until) {
        const ma = machineCpu();
        const ours = () =>
          [q, store, base, baseStore, { child: { pid: Deno.pid } }].reduce(
            (t, p) => t + (p ? cpuTotal(new Map(), threadCpu(p.child.pid)) : 0),
            0,
          );
        const oa = ours();
        await new Promise((r) => setTimeout(r, 1000));
        if (machineCpu().busy - ma.busy - (ours() - oa) <= 100) return;
      }
    };
    for (let round = 0; round < THROUGHPUT_ROUNDS; round++) {
      for (const sd of sides) {
        await quiet();
        const [seqRate, seqWhere, seqOthers] = await phase(sd, 1, sd.seq);
        const [parRate, parWhere, parOthers] = await phase(sd, CLIENTS, sd.par);
        const ratio = parRate / seqRate;
        sd.ratios.push(ratio);
        if (Math.max(seqOthers, parOthers) <= 0.1) sd.quiet.push(ratio);
        sd.rates.push(`${seqRate.toFixed(2)}/${parRate.toFixed(2)}`);
        console.log(
          `  ${sd.name} round ${round + 1}: ${
            ratio.toFixed(2)
          }; cores one at a time: ${seqWhere}; ` +
            `with ${CLIENTS} clients: ${parWhere} (load average ${load()})`,
        );
      }
    }
    const queries = N * THROUGHPUT_ROUNDS;
    for (const sd of sides) {
      for (
        const [what, c] of [["one at a time", sd.seq], [`with ${CLIENTS} clients`, sd.par]] as const
      ) {
        console.log(
          `  ${sd.name}: CPU per query ${what}: ${querierCpu(new Map(), c.q, queries)}; store ${
            fmt(c.s / queries)
          } ms; querier and store busy ${
            ((cpuTotal(new Map(), c.q) + c.s) / c.wall).toFixed(2)
          } cores`,
        );
      }
      console.log(
        `${sd.name}: range throughput (${RANGE}, 3h step 60s, ${THROUGHPUT_ROUNDS} rounds of ${N} queries one at a time then ${N} with ${CLIENTS} clients): q/s one at a time/concurrent ${
          sd.rates.join(", ")
        }; ratios ${sd.ratios.map((x) => x.toFixed(2)).join(", ")}; median ratio ${
          pct(sd.ratios, 0.5).toFixed(2)
        }; rounds with other processes at most 0.1 core: ${sd.quiet.length}${
          sd.quiet.length ? `, median ${pct(sd.quiet, 0.5).toFixed(2)}` : ""
        } (load average ${load()})`,
      );
    }
  }

  // (4) `/-/ready` and `up` (through the store) while heavy metadata calls run back to back
  // (METADATA_CALLS per window), alternating with idle windows as long, METADATA_ROUNDS times; on
  // this querier and on one evaluating on its HTTP thread (`--query.eval-workers=0`: the series
  // work is on the probed thread); with BASELINE the same on the baseline's, each round going over
  // every querier in turn
  if (PARTS.has("4")) {
    const inline = await startQuerier([
      `--store=${store.grpc}`,
      "--query.timeout=10m",
      "--query.eval-workers=0",
    ]);
    procs.push(inline);
    const targets = [
      { name: `eval-workers=${EVAL_WORKERS}`, url: q.url },
      { name: "eval-workers=0", url: inline.url },
    ];
    if (base && baseStore) {
      const baseInline = await startComponent("query", [
        "--log.level=warn",
        `--store=${baseStore.grpc}`,
        "--query.timeout=10m",
        "--query.eval-workers=0",
      ], { name: "baseline querier", main: `${BASELINE}/main.ts` });
      procs.push(baseInline);
      targets.splice(1, 0, { name: `baseline eval-workers=${EVAL_WORKERS}`, url: base.http });
      targets.push({ name: "baseline eval-workers=0", url: baseInline.http });
    }
    for (
      const path of [
        "/api/v1/series?match[]=many_series",
        "/api/v1/label/idx/values?match[]=many_series",
        "/api/v1/labels?match[]=many_series",
      ]
    ) {
      const stats = targets.map(() => ({
        calls: [] as number[],
        busy: { ready: [], up: [], at: [] } as Round,
        idle: { ready: [], up: [], at: [] } as Round,
        bytes: 0,
      }));
      for (const { url } of targets) await timedBytes(`${url}${path}`); // warm
      for (let round = 0; round < METADATA_ROUNDS; round++) {
        for (const [ti, { url }] of targets.entries()) {
          const st = stats[ti];
          // `/-/ready` and `up` probed by two loops, so an `up` held up by the store does not
          // thin out the `/-/ready` probes
          const probe = async (out: Round, until: () => boolean) => {
            const loop = async (path: string, into: number[]) => {
              while (!until()) {
                const r = await timed(`${url}${path}`);
                if (r.status !== 200) {
                  throw new Error(`${path}: ${r.status} ${r.body.slice(0, 200)}`);
                }
                into.push(r.ms);
                await new Promise((res) => setTimeout(res, PROBE_GAP_MS));
              }
            };
            await Promise.all([
              loop("/-/ready", out.ready),
              loop(`/api/v1/query?query=up&time=${END}`, out.up),
            ]);
          };
          let done = false;
          const t = performance.now();
          const caller = (async () => {
            for (let i = 0; i < METADATA_CALLS; i++) {
              const r = await timedBytes(`${url}${path}`);
              if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
              st.calls.push(r.ms);
              st.bytes = r.bytes;
            }
            done = true;
          })();
          await probe(st.busy, () => done);
          await caller;
          const end = performance.now() + Math.max(1000, performance.now() - t);
          await probe(st.idle, () => performance.now() >= end);
        }
      }
      for (const [ti, { name }] of targets.entries()) {
        const { calls, busy, idle, bytes } = stats[ti];
        const median = pct(calls, 0.5);
        console.log(
          `during ${path.slice(0, path.indexOf("?"))} (${LABEL_SERIES} series, ${
            (bytes / 1e6).toFixed(1)
          } MB) on ${name}: calls median ${Math.round(median)} ms (${
            calls.map((x) => fmt(x / 1000)).join(", ")
          } s) (load average ${load()})`,
        );
        for (const k of ["ready", "up"] as const) {
          const [b, i] = [busy[k], idle[k]];
          console.log(
            `  ${k.padEnd(5)} busy ${b.length} probes p50 ${fmt(pct(b, 0.5))} p99 ${
              fmt(pct(b, 0.99))
            } max ${fmt(pct(b, 1))} ms | idle ${i.length} probes p50 ${fmt(pct(i, 0.5))} p99 ${
              fmt(pct(i, 0.99))
            } ms | p99 ratio ${(pct(b, 0.99) / pct(i, 0.99)).toFixed(2)}`,
          );
        }
      }
    }
  }

  // (3) timeout=5s: when it answers, and when the store stops working for it. The query reads
  // its series lazily, so the store's Series call is still open when the timeout strikes.
  if (PARTS.has("3")) {
    const lazyUrl = `${q.url}/api/v1/query_range?query=${
      encodeURIComponent("quantile_over_time(0.5, http_requests_total[3h])")
    }&start=${S}&end=${END}&step=1`;
    const canceledBefore = await gauge(store.http, "thanos_bucket_store_series_canceled_total");
    const t = performance.now();
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
  }
} finally {
  for (const p of procs.reverse()) await p.stop();
  await dirs.cleanup();
}
