// Where the CPU of one remote-write request goes (issue 14, must-show 6), printed, never asserted:
//   deno run -A bench/receive_profile.ts [series=10000] [seriesPerRequest=500] [seconds=10]
//     [writers=2] [dataRoot=$TMPDIR]
// Starts `thanos receive` (IngestorOnly, one tenant) in a child process whose role runs in the
// main isolate (not the launcher's Worker) under `--inspect` on 127.0.0.1, drives it with
// pre-encoded requests shaped as bench/receive_vs_prometheus.ts's (loopback, bounded in time and
// count), records a V8 CPU profile over the Chrome DevTools protocol
// (https://chromedevtools.github.io/devtools-protocol/tot/Profiler/) and prints the self time of
// each stage of the write path: HTTP, snappy decode, protobuf decode, validation, routing, series
// lookup, head append, WAL encode, WAL write (+ the fsync issued from JS), GC and the rest.
// Stages are assigned from the function and file of each profile node (see STAGES below).
// The child is the same CLI (`main.ts receive …`) minus the Worker: `--role-in-main-isolate` is a
// private argument of this script, never a flag of the product.

import { encodeWriteRequest, type PromSeries } from "../receive/remote_write.ts";
import { snappyBlockCompress } from "../storeapi/snappy.ts";
import { labelsFromObject } from "../tsdb/labels.ts";
import {
  breakdown,
  byFunction,
  Cdp,
  cpuSeconds,
  type Profile,
  runRoleInMainIsolate,
  spawnRoleUnderInspector,
  type Stage,
  waitReady,
} from "./cpu_profile.ts";

const CHILD = Deno.args[0] === "--role-in-main-isolate";

if (CHILD) await runRoleInMainIsolate(1);

const SERIES = Number(Deno.args[0] ?? 10_000);
const PER_REQUEST = Math.min(Number(Deno.args[1] ?? 500), SERIES);
const SECONDS = Number(Deno.args[2] ?? 10);
const WRITERS = Number(Deno.args[3] ?? 2);
const DATA_ROOT = Deno.args[4];
const ROUNDS = 240;
const CHUNKS = Math.ceil(SERIES / PER_REQUEST);

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function bodies(t0: number): Uint8Array<ArrayBuffer>[][] {
  const labels = Array.from({ length: SERIES }, (_, i) =>
    labelsFromObject({
      __name__: `bench_metric_${i % 50}`,
      instance: `host-${i % 500}:9100`,
      job: "node",
      series: String(i),
    }));
  const out: Uint8Array<ArrayBuffer>[][] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const row: Uint8Array<ArrayBuffer>[] = [];
    for (let k = 0; k < CHUNKS; k++) {
      const series: PromSeries[] = [];
      for (let i = k * PER_REQUEST; i < Math.min(SERIES, (k + 1) * PER_REQUEST); i++) {
        series.push({
          labels: labels[i],
          timestamps: Float64Array.of(t0 + r * 15_000),
          values: Float64Array.of(r * 3 + (i % 7)),
        });
      }
      row.push(snappyBlockCompress(encodeWriteRequest({ series })) as Uint8Array<ArrayBuffer>);
    }
    out.push(row);
  }
  return out;
}

/** Stage of a profile node from its function and file (first match wins). */
const STAGES: Stage[] = [
  ["(idle)", (fn) => fn === "(idle)"],
  ["GC", (fn) => fn === "(garbage collector)"],
  ["snappy decode", (fn, u) => u.endsWith("receive/remote_write.ts") && fn === "snappyDecode"],
  ["validation", (fn, u) => u.endsWith("receive/remote_write.ts") && fn === "validateSeries"],
  [
    "protobuf decode",
    (_fn, u) => u.endsWith("receive/remote_write.ts") || u.endsWith("storeapi/wire.ts"),
  ],
  [
    "routing (hashring, fan-out)",
    (_fn, u) => u.endsWith("receive/hashring.ts") || u.endsWith("receive/handler.ts"),
  ],
  [
    "series lookup",
    (fn, u) =>
      u.endsWith("tsdb/head.ts") &&
      /^(getOrCreate|getByLabels|hashLabels|labelsEqual|normalizeLabels|create|getByRef)$/.test(
        fn,
      ),
  ],
  ["WAL encode", (_fn, u) => u.endsWith("tsdb/wal/records.ts")],
  [
    "WAL write (+ compress, crc, fsync)",
    (_fn, u) =>
      u.endsWith("tsdb/wal/wal.ts") || u.endsWith("tsdb/crc32c.ts") ||
      u.endsWith("storeapi/snappy.ts"),
  ],
  [
    "head append",
    (_fn, u) =>
      u.endsWith("tsdb/head.ts") || u.includes("tsdb/chunkenc/") ||
      u.endsWith("receive/multitsdb.ts") || u.endsWith("tsdb/db.ts"),
  ],
  [
    "HTTP (server, body read, response)",
    (_fn, u) =>
      u.endsWith("server/http.ts") || u.startsWith("ext:deno_http") ||
      u.startsWith("ext:deno_fetch") || u.startsWith("ext:deno_web") ||
      u.startsWith("ext:deno_net"),
  ],
  ["metrics", (_fn, u) => u.endsWith("metrics/registry.ts")],
  ["(program: native, unattributed)", (fn) => fn === "(program)"],
];

const tmp = await Deno.makeTempDir({ dir: DATA_ROOT, prefix: "receive-profile-" });
const http = `127.0.0.1:${freePort()}`;
const rw = `127.0.0.1:${freePort()}`;
const inspect = `127.0.0.1:${freePort()}`;
const child = spawnRoleUnderInspector(new URL(import.meta.url).pathname, inspect, [
  "receive",
  `--http-address=${http}`,
  `--grpc-address=127.0.0.1:${freePort()}`,
  `--remote-write.address=${rw}`,
  `--tsdb.path=${tmp}/data`,
  '--label=replica="bench"',
  "--log.level=warn",
]);
const watchdog = setTimeout(() => {
  console.error("profile timed out");
  child.kill("SIGKILL");
  Deno.exit(2);
}, 5 * 60_000);
try {
  await waitReady(http, 600);
  const cdp = await Cdp.connectInspector(inspect);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  const reqs = bodies(Math.floor((Date.now() - ROUNDS * 15_000 - 60_000) / 1000) * 1000);
  const headers = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
  };
  // warm-up: the first 10 rounds create the series (not profiled)
  let round = 0;
  for (; round < 10; round++) {
    for (const b of reqs[round]) {
      const r = await fetch(`http://${rw}/api/v1/receive`, { method: "POST", headers, body: b });
      await r.body?.cancel();
    }
  }
  await cdp.send("Profiler.start");
  const cpu0 = cpuSeconds(child.pid);
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  let requests = 0;
  let failed = 0;
  let samples = 0;
  const first = round;
  await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
    for (let r = first; r < ROUNDS; r++) {
      for (let k = w; k < CHUNKS; k += WRITERS) {
        if (performance.now() >= deadline) return;
        const res = await fetch(`http://${rw}/api/v1/receive`, {
          method: "POST",
          headers,
          body: reqs[r][k],
        });
        await res.body?.cancel();
        requests++;
        if (res.status === 200) {
          samples += Math.min(SERIES, (k + 1) * PER_REQUEST) - k * PER_REQUEST;
        } else failed++;
      }
    }
  }));
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(child.pid) - cpu0;
  const { profile } = await cdp.send<{ profile: Profile }>("Profiler.stop");
  cdp.close();
  const stages = breakdown(profile, STAGES);
  const busy = [...stages].filter(([k]) => k !== "(idle)").reduce((a, [, v]) => a + v, 0);
  console.log(
    `# ${requests} requests (${failed} failed) × ${PER_REQUEST} series, ${WRITERS} writers, ` +
      `${wall.toFixed(1)} s: ${(samples / wall).toFixed(0)} samples/s, process CPU ` +
      `${(cpu / samples * 1e6).toFixed(2)} s per 1M samples; profiled JS-thread busy time ` +
      `${(busy / requests).toFixed(3)} ms per request (process CPU ` +
      `${(cpu * 1000 / requests).toFixed(3)} ms per request includes other threads and the ` +
      `inspector)`,
  );
  console.log("| stage | ms / request | share of busy |");
  console.log("|---|---|---|");
  for (const [k, v] of [...stages].sort((a, b) => b[1] - a[1])) {
    if (k === "(idle)") continue;
    console.log(`| ${k} | ${(v / requests).toFixed(3)} | ${(v / busy * 100).toFixed(1)}% |`);
  }
  if (Deno.env.get("PROFILE_TOP")) {
    const top = [...byFunction(profile)].filter(([k]) => !k.startsWith("(idle)"));
    top.sort((a, b) => b[1] - a[1]);
    console.log("\n| function (self time) | ms / request |\n|---|---|");
    for (const [k, v] of top.slice(0, Number(Deno.env.get("PROFILE_TOP")))) {
      console.log(`| ${k} | ${(v / requests).toFixed(4)} |`);
    }
  }
} finally {
  clearTimeout(watchdog);
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await child.status;
  clearTimeout(t);
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
