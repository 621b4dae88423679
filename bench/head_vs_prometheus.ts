// Issue 13 must-show 5: our head side by side with Prometheus 2.42, same machine, same run.
// Printed, never asserted:
//   deno run -A --v8-flags=--expose-gc bench/head_vs_prometheus.ts [series=10000] [samples=120]
// Workload: `series` series (4 labels, 50 metric names), `samples` rounds 15 s apart, one
// sample per series per round. Ours: one HeadAppender commit per round (a scrape), WAL
// snappy-compressed like Prometheus's default, fsync "none" (Prometheus's durability: the
// records reach the OS; a per-commit-fsync row is printed too). Prometheus: the same samples
// through its remote-write receiver (`--web.enable-remote-write-receiver`), pre-encoded
// requests of 2000 samples (snappy protobuf, https://prometheus.io/docs/concepts/remote_write_spec/),
// 4 in flight, loopback only — so its figure includes HTTP + protobuf decoding, which our
// in-process appender does not pay.
// - append throughput per core: samples / CPU seconds (ours: /proc/self/stat of this process
//   during the append loop; Prometheus: utime+stime of its pid from /proc/<pid>/stat);
// - memory per active series: ours = V8 heapUsed+external delta after GC (and RSS delta);
//   Prometheus = go_memstats_heap_inuse_bytes delta after a forced GC (its
//   /debug/pprof/heap?gc=1 runs runtime.GC first) and its RSS delta;
// - WAL bytes per sample: size of each wal/ directory / samples;
// - replay per million samples: ours = Head.open on the closed WAL; Prometheus = restart on
//   its data dir (SIGTERM, no memory snapshot), `total_replay_duration` of its log and
//   time-to-ready;
// - query latency over all series: ours = HeadQuerier select + decoding every sample;
//   Prometheus = `count_over_time({__name__=~"bench_.+"}[1h])` (reads every sample, small
//   answer) and the raw range vector `{__name__=~"bench_.+"}[1h]` (JSON of every sample).

import { encodeWriteRequest, type PromSeries } from "../receive/remote_write.ts";
import { snappyBlockCompress } from "../storeapi/snappy.ts";
import { decodeXorSamples } from "../tsdb/chunkenc/xor.ts";
import { Head } from "../tsdb/head.ts";
import { labelsFromObject } from "../tsdb/labels.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import type { Labels } from "../tsdb/series.ts";

const SERIES = Number(Deno.args[0] ?? 10_000);
const ROUNDS = Number(Deno.args[1] ?? 120);
const TOTAL = SERIES * ROUNDS;
const PER_REQUEST = 2000;
const IN_FLIGHT = 4;
const PROMETHEUS = "/usr/bin/prometheus";
const CLK_TCK = 100;
const TIMEOUT_MS = 120_000;

const gc = (globalThis as { gc?: () => void }).gc;
function heap(): number {
  gc?.();
  gc?.();
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

/** utime + stime of a process in seconds (fields 14 and 15 of /proc/<pid>/stat). */
function cpuSeconds(pid: number | "self"): number {
  const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status). */
function rss(pid: number | "self"): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) * 1024 : NaN;
}

async function dirSize(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    n += e.isDirectory ? await dirSize(p) : (await Deno.stat(p)).size;
  }
  return n;
}

function labelsOf(n: number): Labels[] {
  return Array.from({ length: n }, (_, i) =>
    labelsFromObject({
      __name__: `bench_metric_${i % 50}`,
      instance: `host-${i % 500}:9100`,
      job: "node",
      id: String(i),
    }));
}

function value(k: number, i: number): number {
  return k % 100 === 99 ? 0 : k * 3 + i; // counters with a reset
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const fmt = (x: number, d = 0) => Number.isFinite(x) ? x.toFixed(d) : "n/a";

const base = Math.floor((Date.now() - ROUNDS * 15_000 - 60_000) / 1000) * 1000;
const end = base + (ROUNDS - 1) * 15_000;
const labels = labelsOf(SERIES);
const all = [new Matcher(MatchType.Regexp, "__name__", "bench_.+")];
const tmp = await Deno.makeTempDir({ prefix: "head-vs-prom-" });
const rows: [string, string, string, string][] = [];
const row = (what: string, ours: number, theirs: number, unit: string, d = 0, higher = true) => {
  const ratio = ours / theirs;
  rows.push([
    `${what} (${unit})`,
    fmt(ours, d),
    fmt(theirs, d),
    Number.isFinite(ratio) ? `${ratio.toFixed(2)}×${higher ? "" : " (lower is better)"}` : "n/a",
  ]);
};

let prom: Deno.ChildProcess | undefined;
let promLog = "";
const watchdog = setTimeout(() => {
  console.error("bench timed out");
  try {
    prom?.kill("SIGKILL");
  } catch { /* gone */ }
  Deno.exit(2);
}, 10 * 60_000);

async function startProm(dataDir: string): Promise<{ url: string; pid: number; readyMs: number }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const cfg = `${tmp}/prometheus.yml`;
  await Deno.writeTextFile(cfg, "global:\n  scrape_interval: 1m\n");
  const t0 = performance.now();
  promLog = "";
  prom = new Deno.Command(PROMETHEUS, {
    args: [
      `--config.file=${cfg}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--web.enable-remote-write-receiver",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const td = new TextDecoder();
  (async () => {
    for await (const b of prom!.stderr) promLog += td.decode(b, { stream: true });
  })().catch(() => {});
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${url}/-/ready`);
      await r.body?.cancel();
      if (r.status === 200) return { url, pid: prom.pid, readyMs: performance.now() - t0 };
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`prometheus not ready:\n${promLog.slice(-2000)}`);
}

async function stopProm(): Promise<void> {
  if (!prom) return;
  try {
    prom.kill("SIGTERM");
  } catch { /* gone */ }
  await prom.status;
  prom = undefined;
}

/** go_memstats_heap_inuse_bytes after a forced GC. */
async function promHeap(url: string): Promise<number> {
  const g = await fetch(`${url}/debug/pprof/heap?gc=1`);
  await g.body?.cancel();
  const m = await (await fetch(`${url}/metrics`)).text();
  const x = /^go_memstats_heap_inuse_bytes (\S+)$/m.exec(m);
  return x ? Number(x[1]) : NaN;
}

try {
  console.log(
    `series=${SERIES} rounds=${ROUNDS} samples=${TOTAL}; Prometheus ${PROMETHEUS}` +
      `${gc ? "" : " (run with --v8-flags=--expose-gc for exact heap figures)"}`,
  );
  // ---------------------------------------------------------------- ours
  // warm-up (JIT) on an in-memory head, dropped before the memory baseline
  {
    const w = await Head.open(null);
    for (let k = 0; k < 30; k++) {
      const app = w.appender();
      for (let i = 0; i < Math.min(SERIES, 5000); i++) app.append(labels[i], k * 1000, value(k, i));
      await app.commit();
    }
    for await (const s of w.querier().select(all, { start: 0, end: Infinity })) {
      for (const c of s.chunks) decodeXorSamples(c.data);
    }
    await w.close();
  }
  const ourDir = `${tmp}/ours`;
  const h0 = heap();
  const r0 = rss("self");
  const head = await Head.open(ourDir, { walCompression: true, fsync: { mode: "none" } });
  const c0 = cpuSeconds("self");
  const w0 = performance.now();
  for (let k = 0; k < ROUNDS; k++) {
    const app = head.appender();
    const t = base + k * 15_000;
    for (let i = 0; i < SERIES; i++) app.append(labels[i], t, value(k, i));
    await app.commit();
  }
  const ourWall = (performance.now() - w0) / 1000;
  const ourCpu = cpuSeconds("self") - c0;
  const ourHeap = heap() - h0;
  const ourRss = rss("self") - r0;
  const ourQuery: number[] = [];
  let ourSeen = 0;
  for (let rep = 0; rep < 5; rep++) {
    const q0 = performance.now();
    let n = 0;
    for await (const s of head.querier().select(all, { start: base, end })) {
      for (const c of s.chunks) n += decodeXorSamples(c.data).ts.length;
    }
    ourQuery.push(performance.now() - q0);
    ourSeen = n;
  }
  await head.close();
  const ourWal = await dirSize(`${ourDir}/wal`);
  const rp0 = performance.now();
  const h2 = await Head.open(ourDir, { walCompression: true });
  const ourReplay = performance.now() - rp0;
  const replayed = h2.replayStats?.samples ?? TOTAL;
  await h2.close();
  // per-commit fsync (our default durability), throughput only
  const fsDir = `${tmp}/ours-fsync`;
  const hf = await Head.open(fsDir, { walCompression: true });
  const cf0 = cpuSeconds("self");
  const wf0 = performance.now();
  for (let k = 0; k < ROUNDS; k++) {
    const app = hf.appender();
    const t = base + k * 15_000;
    for (let i = 0; i < SERIES; i++) app.append(labels[i], t, value(k, i));
    await app.commit();
  }
  const fsWall = (performance.now() - wf0) / 1000;
  const fsCpu = cpuSeconds("self") - cf0;
  await hf.close();
  await Deno.remove(fsDir, { recursive: true });

  // ---------------------------------------------------------------- Prometheus
  // pre-encoded requests: round-major, PER_REQUEST series of one round each
  const bodies: Uint8Array[] = [];
  for (let k = 0; k < ROUNDS; k++) {
    for (let i0 = 0; i0 < SERIES; i0 += PER_REQUEST) {
      const series: PromSeries[] = [];
      for (let i = i0; i < Math.min(SERIES, i0 + PER_REQUEST); i++) {
        series.push({
          labels: labels[i],
          timestamps: Float64Array.of(base + k * 15_000),
          values: Float64Array.of(value(k, i)),
        });
      }
      bodies.push(snappyBlockCompress(encodeWriteRequest({ series })));
    }
  }
  const bodyBytes = bodies.reduce((n, b) => n + b.length, 0);
  const promDir = `${tmp}/prom`;
  let p = await startProm(promDir);
  await new Promise((r) => setTimeout(r, 1000)); // let start-up settle
  const ph0 = await promHeap(p.url);
  const pr0 = rss(p.pid);
  const pc0 = cpuSeconds(p.pid);
  const pw0 = performance.now();
  let next = 0;
  let failed = 0;
  // requests of one round must land before the next round's (in-order samples): a round's
  // requests go out concurrently, rounds one after the other
  const perRound = Math.ceil(SERIES / PER_REQUEST);
  for (let k = 0; k < ROUNDS; k++) {
    next = k * perRound;
    const stop = next + perRound;
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (next < stop) {
        const body = bodies[next++];
        const res = await fetch(`${p.url}/api/v1/write`, {
          method: "POST",
          headers: {
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
          },
          body: body as Uint8Array<ArrayBuffer>,
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        await res.body?.cancel();
        if (res.status !== 204 && res.status !== 200) failed++;
      }
    }));
  }
  const promWall = (performance.now() - pw0) / 1000;
  const promCpu = cpuSeconds(p.pid) - pc0;
  await new Promise((r) => setTimeout(r, 500));
  const promHeapDelta = (await promHeap(p.url)) - ph0;
  const promRss = rss(p.pid) - pr0;
  const promQuery: number[] = [];
  const promRaw: number[] = [];
  let promSeen = 0;
  for (let rep = 0; rep < 5; rep++) {
    const u = new URL(`${p.url}/api/v1/query`);
    u.searchParams.set("query", `count_over_time({__name__=~"bench_.+"}[1h])`);
    u.searchParams.set("time", String(end / 1000));
    const q0 = performance.now();
    const j = await (await fetch(u)).json() as { data: { result: { value: [number, string] }[] } };
    promQuery.push(performance.now() - q0);
    promSeen = j.data.result.reduce((n, s) => n + Number(s.value[1]), 0);
  }
  for (let rep = 0; rep < 3; rep++) {
    const u = new URL(`${p.url}/api/v1/query`);
    u.searchParams.set("query", `{__name__=~"bench_.+"}[1h]`);
    u.searchParams.set("time", String(end / 1000));
    const q0 = performance.now();
    await (await fetch(u)).arrayBuffer();
    promRaw.push(performance.now() - q0);
  }
  await stopProm();
  const promWal = await dirSize(`${promDir}/wal`);
  p = await startProm(promDir);
  const m = /WAL replay completed.*total_replay_duration=(\S+)/.exec(promLog);
  const dur = m ? m[1] : "";
  const promReplay = dur.endsWith("ms")
    ? Number(dur.slice(0, -2))
    : dur.endsWith("µs")
    ? Number(dur.slice(0, -2)) / 1000
    : dur.endsWith("s")
    ? Number(dur.slice(0, -1)) * 1000
    : NaN;
  const promReady = p.readyMs;
  await stopProm();

  // ---------------------------------------------------------------- table
  const M = TOTAL / 1e6;
  console.log(
    `ours: ${fmt(ourWall, 2)} s wall, ${fmt(ourCpu, 2)} CPU s for ${TOTAL} samples ` +
      `(${ourSeen} read back); per-commit fsync: ${fmt(fsWall, 2)} s wall, ${fmt(fsCpu, 2)} CPU s`,
  );
  console.log(
    `prometheus: ${bodies.length} requests (${(bodyBytes / 1e6).toFixed(1)} MB snappy), ` +
      `${failed} failed, ${fmt(promWall, 2)} s wall, ${fmt(promCpu, 2)} CPU s; ` +
      `count_over_time saw ${promSeen} samples; replay log duration "${dur}", ` +
      `ready after restart in ${fmt(promReady)} ms`,
  );
  row("append throughput per core, fsync none", TOTAL / ourCpu, TOTAL / promCpu, "samples/CPU s");
  row(
    "append throughput per core, ours fsync per commit",
    TOTAL / fsCpu,
    TOTAL / promCpu,
    "samples/CPU s",
  );
  row("append throughput wall clock", TOTAL / ourWall, TOTAL / promWall, "samples/s");
  row(
    "memory per active series, heap",
    ourHeap / SERIES,
    promHeapDelta / SERIES,
    "bytes",
    0,
    false,
  );
  row("memory per active series, RSS", ourRss / SERIES, promRss / SERIES, "bytes", 0, false);
  row("WAL bytes per sample", ourWal / TOTAL, promWal / TOTAL, "bytes", 2, false);
  row("replay per million samples", ourReplay / (replayed / 1e6), promReplay / M, "ms", 0, false);
  row("query all series, every sample", median(ourQuery), median(promQuery), "ms, p50", 1, false);
  row(
    "  vs Prometheus raw range vector (JSON)",
    median(ourQuery),
    median(promRaw),
    "ms, p50",
    1,
    false,
  );
  const widths = [0, 1, 2, 3].map((c) =>
    Math.max(
      ...[["figure", "ours", "Prometheus 2.42", "ours / Prometheus"], ...rows].map((r) =>
        r[c].length
      ),
    )
  );
  const line = (r: string[]) => `| ${r.map((x, c) => x.padEnd(widths[c])).join(" | ")} |`;
  console.log(line(["figure", "ours", "Prometheus 2.42", "ours / Prometheus"]));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows) console.log(line(r));
} finally {
  clearTimeout(watchdog);
  await stopProm();
  await Deno.remove(tmp, { recursive: true });
}
