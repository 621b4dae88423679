// Issue 14 must-show 6: remote-write ingestion of our receiver side by side with Prometheus 2.42,
// same machine, same run. Printed, never asserted:
//   deno run -A bench/receive_vs_prometheus.ts [series=10000] [seriesPerRequest=500]
//     [secondsPerLevel=15] [dataRoot=$TMPDIR]
// Servers: `thanos receive` from main.ts (IngestorOnly — no hashring flags — one tenant, the
// default one) and `/usr/bin/prometheus --web.enable-remote-write-receiver`
// (https://prometheus.io/docs/prometheus/2.42/feature_flags/ and
// https://prometheus.io/docs/concepts/remote_write_spec/), both listening on 127.0.0.1 only.
// Durability: the same on both sides — neither fsyncs its WAL per write (records reach the OS;
// segments are fsynced when complete): Prometheus's TSDB behaviour, which Thanos receive inherits
// and ours follows (receive/multitsdb.ts RECEIVE_FSYNC; until issue 14's tuning ours fsynced
// every commit).
// Load: requests are pre-encoded (receive/remote_write.ts encodeWriteRequest + storeapi/snappy.ts
// block compression) before each measured level, `seriesPerRequest` series with one sample each;
// a round sends every series once, rounds 15 s apart in sample time. Writer w of c sends the
// request chunks k with k mod c = w, round after round, so each series stays in order. Every
// level is bounded in time (`secondsPerLevel` per server) and in count (the pre-encoded rounds).
// Levels 1, 2 and 4 concurrent writers, with fresh sample timestamps per level; within a level
// the two servers take turns in slices (BENCH_SLICES, default 6 per server: ours, Prometheus,
// Prometheus, ours, …; never both at once), so that a machine shared with other work loads
// both alike.
// Measured per server and level (summed over its slices):
// - accepted samples/s: samples of 2xx answers / wall time of its slices;
// - CPU seconds per million accepted samples: utime+stime delta of the server process
//   (/proc/<pid>/stat; ours is the deno process, which runs the role in a Worker thread);
// - RSS per active series: (VmRSS after the level − VmRSS once ready) / series;
// - p99 request latency of the level.
// Environment: BENCH_ONLY_OURS=1 skips the Prometheus runs (its column repeats ours), and
// BENCH_DENO_FLAGS adds `deno run` flags to our receiver (e.g. `--v8-flags=--prof`); the
// per-stage CPU breakdown of a request is bench/receive_profile.ts.

import { encodeWriteRequest, type PromSeries } from "../receive/remote_write.ts";
import { snappyBlockCompress } from "../storeapi/snappy.ts";
import { labelsFromObject } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";
import { runMainArgs } from "../tests/helpers/thanos.ts";

const SERIES = Number(Deno.args[0] ?? 10_000);
const PER_REQUEST = Math.min(Number(Deno.args[1] ?? 500), SERIES);
const SECONDS = Number(Deno.args[2] ?? 15);
const DATA_ROOT = Deno.args[3];
const LEVELS = [1, 2, 4];
/** Slices per level and server, interleaved between the two servers. */
const SLICES = Math.max(1, Number(Deno.env.get("BENCH_SLICES") ?? 6));
const CHUNKS = Math.ceil(SERIES / PER_REQUEST);
/** Rounds pre-encoded per level: the count bound (at most this many requests per level). */
const ROUNDS = 240;
const PROMETHEUS = "/usr/bin/prometheus";
const CLK_TCK = 100;
const START_TIMEOUT_MS = 60_000;
/** BENCH_ONLY_OURS=1: skip the Prometheus runs (profiling; its column then repeats ours). */
const ONLY_OURS = Deno.env.get("BENCH_ONLY_OURS") === "1";

/** utime + stime of a process in seconds (fields 14 and 15 of /proc/<pid>/stat). */
function cpuSeconds(pid: number): number {
  const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status). */
function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) * 1024 : NaN;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function labelsOf(n: number): Labels[] {
  return Array.from({ length: n }, (_, i) =>
    labelsFromObject({
      __name__: `bench_metric_${i % 50}`,
      instance: `host-${i % 500}:9100`,
      job: "node",
      series: String(i),
    }));
}

/** bodies[round][chunk] for rounds starting at `t0` (ms), 15 s apart. */
function encodeLevel(labels: Labels[], t0: number): Uint8Array<ArrayBuffer>[][] {
  const out: Uint8Array<ArrayBuffer>[][] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const row: Uint8Array<ArrayBuffer>[] = [];
    for (let k = 0; k < CHUNKS; k++) {
      const series: PromSeries[] = [];
      for (let i = k * PER_REQUEST; i < Math.min(SERIES, (k + 1) * PER_REQUEST); i++) {
        series.push({
          labels: labels[i],
          timestamps: Float64Array.of(t0 + r * 15_000),
          values: Float64Array.of(r % 100 === 99 ? 0 : r * 3 + (i % 7)),
        });
      }
      row.push(snappyBlockCompress(encodeWriteRequest({ series })) as Uint8Array<ArrayBuffer>);
    }
    out.push(row);
  }
  return out;
}

interface Server {
  name: string;
  url: string;
  proc: Deno.ChildProcess;
  log: () => string;
  baseRss: number;
}

async function waitReady(http: string, proc: Deno.ChildProcess, log: () => string) {
  let exited = false;
  proc.status.then(() => exited = true);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline && !exited) {
    try {
      const r = await fetch(`${http}/-/ready`);
      await r.body?.cancel();
      if (r.status === 200) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${http} not ready (exited: ${exited}):\n${log().slice(-2000)}`);
}

function spawn(cmd: string, args: string[]): { proc: Deno.ChildProcess; log: () => string } {
  const proc = new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .spawn();
  let text = "";
  const td = new TextDecoder();
  for (const s of [proc.stdout, proc.stderr]) {
    (async () => {
      for await (const b of s) text = (text + td.decode(b, { stream: true })).slice(-20_000);
    })().catch(() => {});
  }
  return { proc, log: () => text };
}

async function startOurs(dir: string): Promise<Server> {
  const http = `127.0.0.1:${freePort()}`;
  const rw = `127.0.0.1:${freePort()}`;
  const { proc, log } = spawn(Deno.execPath(), [
    ...runMainArgs((Deno.env.get("BENCH_DENO_FLAGS") ?? "").split(" ").filter((x) => x !== "")),
    "receive",
    `--http-address=${http}`,
    `--grpc-address=127.0.0.1:${freePort()}`,
    `--remote-write.address=${rw}`,
    `--tsdb.path=${dir}`,
    '--label=replica="bench"',
    "--http-grace-period=1s",
    "--grpc-grace-period=1s",
    "--log.level=warn",
  ]);
  await waitReady(`http://${http}`, proc, log);
  return {
    name: "ours",
    url: `http://${rw}/api/v1/receive`,
    proc,
    log,
    baseRss: rss(proc.pid),
  };
}

async function startPrometheus(dir: string): Promise<Server> {
  const addr = `127.0.0.1:${freePort()}`;
  const cfg = `${dir}.yml`;
  await Deno.writeTextFile(cfg, "global:\n  scrape_interval: 1m\n");
  const { proc, log } = spawn(PROMETHEUS, [
    `--config.file=${cfg}`,
    `--storage.tsdb.path=${dir}`,
    `--web.listen-address=${addr}`,
    "--web.enable-remote-write-receiver",
    "--log.level=warn",
  ]);
  await waitReady(`http://${addr}`, proc, log);
  return {
    name: "prometheus",
    url: `http://${addr}/api/v1/write`,
    proc,
    log,
    baseRss: rss(proc.pid),
  };
}

interface Result {
  samplesPerSec: number;
  cpuPerMillion: number;
  rssPerSeries: number;
  p99Ms: number;
  accepted: number;
  rejected: number;
  firstError: string;
}

/** A server's progress through one level's pre-encoded rounds and what it measured so far. */
interface LevelState {
  /** Next (round, chunk) of each writer. */
  cursor: { r: number; k: number }[];
  lat: number[];
  accepted: number;
  rejected: number;
  firstError: string;
  cpu: number;
  wall: number;
}

function newLevelState(writers: number): LevelState {
  return {
    cursor: Array.from({ length: writers }, (_, w) => ({ r: 0, k: w })),
    lat: [],
    accepted: 0,
    rejected: 0,
    firstError: "",
    cpu: 0,
    wall: 0,
  };
}

/**
 * One slice of a level: `writers` concurrent writers send the server's next requests for
 * `seconds` (or until the pre-encoded rounds are used up), adding to `st`.
 */
async function runSlice(
  s: Server,
  bodies: Uint8Array<ArrayBuffer>[][],
  writers: number,
  st: LevelState,
  seconds: number,
): Promise<void> {
  const headers = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
  };
  const cpu0 = cpuSeconds(s.proc.pid);
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const writer = async (w: number) => {
    const c = st.cursor[w];
    while (c.r < bodies.length) {
      if (performance.now() >= deadline) return;
      const k = c.k;
      const n = Math.min(SERIES, (k + 1) * PER_REQUEST) - k * PER_REQUEST;
      const b = performance.now();
      const res = await fetch(s.url, { method: "POST", headers, body: bodies[c.r][k] });
      const text = await res.text();
      st.lat.push(performance.now() - b);
      if (res.status >= 200 && res.status < 300) st.accepted += n;
      else {
        st.rejected += n;
        if (!st.firstError) st.firstError = `${res.status} ${text.slice(0, 200)}`;
      }
      c.k += writers;
      if (c.k >= CHUNKS) {
        c.k = w;
        c.r++;
      }
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
  st.wall += (performance.now() - t0) / 1000;
  st.cpu += cpuSeconds(s.proc.pid) - cpu0;
}

function result(s: Server, st: LevelState): Result {
  st.lat.sort((a, b) => a - b);
  const lat = st.lat;
  return {
    samplesPerSec: st.accepted / st.wall,
    cpuPerMillion: st.cpu / st.accepted * 1e6,
    rssPerSeries: (rss(s.proc.pid) - s.baseRss) / SERIES,
    p99Ms: lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))] : NaN,
    accepted: st.accepted,
    rejected: st.rejected,
    firstError: st.firstError,
  };
}

async function stop(s: Server | undefined): Promise<void> {
  if (!s) return;
  try {
    s.proc.kill("SIGTERM");
  } catch { /* gone */ }
  const t = setTimeout(() => {
    try {
      s.proc.kill("SIGKILL");
    } catch { /* gone */ }
  }, 10_000);
  await s.proc.status;
  clearTimeout(t);
}

const fmt = (x: number, d = 0) => Number.isFinite(x) ? x.toFixed(d) : "n/a";
const ratio = (a: number, b: number) => Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : "n/a";

const tmp = await Deno.makeTempDir({ dir: DATA_ROOT, prefix: "receive-vs-prom-" });
let ours: Server | undefined;
let prom: Server | undefined;
const watchdog = setTimeout(async () => {
  console.error("bench timed out");
  await Promise.all([stop(ours), stop(prom)]);
  Deno.exit(2);
}, 10 * 60_000);
try {
  const labels = labelsOf(SERIES);
  // sample time: every level gets its own ROUNDS×15 s, the last one ending a minute ago
  const base = Math.floor((Date.now() - LEVELS.length * ROUNDS * 15_000 - 60_000) / 1000) *
    1000;
  [ours, prom] = await Promise.all([startOurs(`${tmp}/ours`), startPrometheus(`${tmp}/prom`)]);
  console.log(
    `# ${SERIES} series, ${PER_REQUEST} series/request (${CHUNKS} requests/round), ` +
      `≤${SECONDS}s and ≤${ROUNDS} rounds per level; data under ${tmp}; ` +
      `${navigator.hardwareConcurrency} CPUs`,
  );
  const rows: string[][] = [];
  for (const [li, c] of LEVELS.entries()) {
    const bodies = encodeLevel(labels, base + li * ROUNDS * 15_000);
    // the level in SLICES slices per server, alternating (ours, prom, prom, ours, …), so that
    // both see the same load of the (shared) machine
    const so = newLevelState(c);
    const sp = newLevelState(c);
    for (let i = 0; i < SLICES; i++) {
      const order = ONLY_OURS
        ? [[ours, so]] as const
        : i % 2 === 0
        ? [[ours, so], [prom, sp]] as const
        : [[prom, sp], [ours, so]] as const;
      for (const [srv, st] of order) await runSlice(srv, bodies, c, st, SECONDS / SLICES);
    }
    const o = result(ours, so);
    const p = ONLY_OURS ? o : result(prom, sp);
    for (const [n, r] of [["ours", o], ["prometheus", p]] as const) {
      if (r.rejected) console.log(`# ${n} c=${c}: ${r.rejected} samples rejected: ${r.firstError}`);
    }
    rows.push(
      [
        `${c}`,
        "samples/s",
        fmt(o.samplesPerSec),
        fmt(p.samplesPerSec),
        ratio(o.samplesPerSec, p.samplesPerSec),
      ],
      [
        `${c}`,
        "CPU s / 1M samples",
        fmt(o.cpuPerMillion, 2),
        fmt(p.cpuPerMillion, 2),
        ratio(o.cpuPerMillion, p.cpuPerMillion) + " (lower better)",
      ],
      [
        `${c}`,
        "samples/s per core",
        fmt(1e6 / o.cpuPerMillion),
        fmt(1e6 / p.cpuPerMillion),
        ratio(p.cpuPerMillion, o.cpuPerMillion),
      ],
      [
        `${c}`,
        "RSS B / active series",
        fmt(o.rssPerSeries),
        fmt(p.rssPerSeries),
        ratio(o.rssPerSeries, p.rssPerSeries) + " (lower better)",
      ],
      [
        `${c}`,
        "p99 latency ms",
        fmt(o.p99Ms, 1),
        fmt(p.p99Ms, 1),
        ratio(o.p99Ms, p.p99Ms) + " (lower better)",
      ],
    );
  }
  const head = ["writers", "metric", "ours", "prometheus", "ours/prometheus"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((x, i) => x.padEnd(w[i])).join(" | ")} |`;
  console.log(line(head));
  console.log(`|${w.map((n) => "-".repeat(n + 2)).join("|")}|`);
  for (const r of rows) console.log(line(r));
} finally {
  await Promise.all([stop(ours), stop(prom)]);
  clearTimeout(watchdog);
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
