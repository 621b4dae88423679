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

const CHILD = Deno.args[0] === "--role-in-main-isolate";

if (CHILD) {
  // the child: the receive role in this isolate, stopped on SIGTERM
  const { RUN_TABLE } = await import("../components/run_table.ts");
  const { findCommand } = await import("../components/commands.ts");
  const { Flags, parseFlags } = await import("../components/flags.ts");
  const { Logger } = await import("../logging/log.ts");
  const argv = Deno.args.slice(1);
  const spec = findCommand(["receive"])!;
  const raw = parseFlags(spec, argv);
  const ac = new AbortController();
  Deno.addSignalListener("SIGTERM", () => ac.abort(new Error("stop")));
  const code = await RUN_TABLE["receive"](new Flags(spec, raw), {
    signal: ac.signal,
    logger: new Logger("warn"),
    stdout: (t: string) => void Deno.stdout.writeSync(new TextEncoder().encode(t)),
    onReload: () => {},
    evalPorts: [],
  });
  Deno.exit(code);
}

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

/** A minimal CDP client over the inspector's WebSocket. */
class Cdp {
  private id = 0;
  private readonly waiting = new Map<number, (r: unknown) => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data as string) as { id?: number; result?: unknown; error?: unknown };
      if (m.id !== undefined) {
        this.waiting.get(m.id)?.(m.error ? Promise.reject(m.error) : m.result);
        this.waiting.delete(m.id);
      }
    };
  }
  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    await new Promise((r, j) => {
      ws.onopen = r;
      ws.onerror = j;
    });
    return new Cdp(ws);
  }
  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.id;
    return new Promise<T>((r) => {
      this.waiting.set(id, r as (x: unknown) => void);
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }
  close(): void {
    this.ws.close();
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Stage of a profile node from its function and file (first match wins). */
const STAGES: [string, (fn: string, url: string) => boolean][] = [
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

/** Self time per function (`name file:line`), for the top list. */
function byFunction(p: Profile): Map<string, number> {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const out = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const { functionName: fn, url, lineNumber } = byId.get(p.samples[i])!.callFrame;
    const k = `${fn || "(anonymous)"} ${
      url.replace(/^.*\/rxperf\//, "").replace(/^file:\/\/.*?\/(?=[a-z]+\/[a-z_0-9]+\.ts$)/, "")
    }:${lineNumber + 1}`;
    out.set(k, (out.get(k) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  return out;
}

function breakdown(p: Profile): Map<string, number> {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stageOf = new Map<number, string>();
  const resolve = (id: number): string => {
    const hit = stageOf.get(id);
    if (hit !== undefined) return hit;
    const n = byId.get(id)!;
    const { functionName: fn, url } = n.callFrame;
    let s = STAGES.find(([, f]) => f(fn, url))?.[0];
    // builtins and native frames count for the stage of their nearest attributed caller
    if (s === undefined) {
      const up = parent.get(id);
      s = up === undefined ? "other" : resolve(up);
      if (s === "(idle)" || s === "GC" || s.startsWith("(program")) s = "other";
    }
    stageOf.set(id, s);
    return s;
  };
  const out = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const s = resolve(p.samples[i]);
    out.set(s, (out.get(s) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  return out;
}

function cpuSeconds(pid: number): number {
  const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

const tmp = await Deno.makeTempDir({ dir: DATA_ROOT, prefix: "receive-profile-" });
const http = `127.0.0.1:${freePort()}`;
const rw = `127.0.0.1:${freePort()}`;
const inspect = `127.0.0.1:${freePort()}`;
const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    `--inspect=${inspect}`,
    new URL(import.meta.url).pathname,
    "--role-in-main-isolate",
    `--http-address=${http}`,
    `--grpc-address=127.0.0.1:${freePort()}`,
    `--remote-write.address=${rw}`,
    `--tsdb.path=${tmp}/data`,
    '--label=replica="bench"',
    "--log.level=warn",
  ],
  stdin: "null",
  stdout: "null",
  stderr: "null",
}).spawn();
const watchdog = setTimeout(() => {
  console.error("profile timed out");
  child.kill("SIGKILL");
  Deno.exit(2);
}, 5 * 60_000);
try {
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(`http://${http}/-/ready`);
      await r.body?.cancel();
      if (r.status === 200) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  const list = await (await fetch(`http://${inspect}/json/list`)).json() as {
    webSocketDebuggerUrl: string;
  }[];
  const cdp = await Cdp.connect(list[0].webSocketDebuggerUrl);
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
  const stages = breakdown(profile);
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
