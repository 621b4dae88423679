// `deno task demo`: a one-command Thanos-TS demo. Writes a FILESYSTEM bucket once (two regions,
// each an HA pair of replicas A and B, several hours of realistic metrics ending now), starts
// `thanos store` over it and `thanos query --query.replica-label=replica` as child processes on
// 127.0.0.1, prints the URL and example queries, and runs until Ctrl-C. Re-running reuses the data.
//
// Flags: --dir=<path> (default .demo/), --free-ports (pick free ports instead of 10901-10906),
// --regenerate (rewrite the data), --hours=<n> (data span, default 6), --series=<n> (per region).

import { generateDataset } from "./dataset.ts";
import { createBlocksFromSeries, type RawSeries } from "../tsdb/block_writer.ts";
import { v8FlagsArgsFromEnv } from "../components/v8_flags.ts";

const REPO = new URL("../", import.meta.url).pathname;
const HOUR = 3600_000;
const MIN = 60_000;

/** Options of {@link writeRegionPair}. */
export interface RegionPairOptions {
  /** End of the data (exclusive, ms). */
  endMs: number;
  /** Span of the data in hours. */
  hours: number;
  /** Minimum number of series per replica. */
  series: number;
  /** Data set seed: regions with different seeds look different. */
  seed: number;
}

/**
 * Writes one region's HA pair into the bucket directory `bucketDir` (blocks in the bucket root):
 * replicas A and B scrape the same targets, B 5 s later; each replica misses its own 20 minutes
 * (A at a quarter of the span, B at 60 %), so the querier's dedup visibly fills the gaps. Block
 * meta.json `thanos.labels` carry `region` and `replica`.
 */
export async function writeRegionPair(
  bucketDir: string,
  region: string,
  opts: RegionPairOptions,
): Promise<void> {
  const start = opts.endMs - opts.hours * HOUR;
  const ds = generateDataset({
    series: opts.series,
    start,
    end: opts.endMs,
    stepMs: 15_000,
    seed: opts.seed,
    jitterMs: 200,
    gapProbability: 0.05,
    specialValues: false,
  });
  const span = opts.endMs - start;
  const replicas: { name: string; gapFrom: number; shiftMs: number }[] = [
    { name: "A", gapFrom: start + span * 0.25, shiftMs: 0 },
    { name: "B", gapFrom: start + span * 0.6, shiftMs: 5000 },
  ];
  for (const r of replicas) {
    const gapTo = r.gapFrom + 20 * MIN;
    const series: RawSeries[] = ds.series.map((s) => {
      const keep: number[] = [];
      for (let i = 0; i < s.ts.length; i++) {
        const t = s.ts[i] + r.shiftMs;
        if ((t < r.gapFrom || t >= gapTo) && t < opts.endMs) keep.push(i);
      }
      return {
        labels: s.labels,
        ts: Float64Array.from(keep, (i) => s.ts[i] + r.shiftMs),
        vs: Float64Array.from(keep, (i) => s.vs[i]),
      };
    });
    await createBlocksFromSeries(bucketDir, series, {
      thanos: {
        labels: { region, replica: r.name },
        downsample: { resolution: 0 },
        source: "sidecar",
      },
    });
  }
}

/** What `<dir>/demo.json` records about the generated data. */
interface DemoData {
  createdAt: string;
  startMs: number;
  endMs: number;
  seriesPerRegion: number;
}

interface DemoFlags {
  dir: string;
  freePorts: boolean;
  regenerate: boolean;
  hours: number;
  series: number;
}

function parseFlags(args: string[]): DemoFlags {
  const f: DemoFlags = {
    dir: `${REPO}.demo`,
    freePorts: false,
    regenerate: false,
    hours: 6,
    series: 250,
  };
  for (const a of args) {
    const [k, v] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [
      a,
      "",
    ];
    if (k === "--dir" && v !== "") f.dir = v;
    else if (k === "--free-ports") f.freePorts = true;
    else if (k === "--regenerate") f.regenerate = true;
    else if (k === "--hours" && Number(v) > 0) f.hours = Number(v);
    else if (k === "--series" && Number(v) > 0) f.series = Math.floor(Number(v));
    else {
      throw new Error(
        `demo: unknown or invalid argument ${JSON.stringify(a)}; accepted: --dir=<path> ` +
          `--free-ports --regenerate --hours=<n> --series=<n>`,
      );
    }
  }
  f.dir = f.dir.replace(/\/+$/, "");
  return f;
}

async function readDemoData(dir: string): Promise<DemoData | null> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/demo.json`)) as DemoData;
  } catch {
    return null;
  }
}

/** Generates the bucket unless `<dir>/demo.json` says it is already there. */
async function ensureData(f: DemoFlags): Promise<DemoData> {
  const existing = f.regenerate ? null : await readDemoData(f.dir);
  if (existing) {
    console.log(`demo: reusing the data in ${f.dir}/bucket (--regenerate to rewrite it)`);
    return existing;
  }
  await Deno.remove(`${f.dir}/bucket`, { recursive: true }).catch(() => {});
  await Deno.remove(`${f.dir}/store`, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${f.dir}/bucket`, { recursive: true });
  const endMs = Math.floor(Date.now() / MIN) * MIN;
  const t0 = performance.now();
  console.log(
    `demo: writing ${f.hours}h of data for regions east and west, replicas A and B ` +
      `(${f.series} series each) into ${f.dir}/bucket …`,
  );
  await writeRegionPair(`${f.dir}/bucket`, "east", {
    endMs,
    hours: f.hours,
    series: f.series,
    seed: 101,
  });
  await writeRegionPair(`${f.dir}/bucket`, "west", {
    endMs,
    hours: f.hours,
    series: f.series,
    seed: 202,
  });
  const data: DemoData = {
    createdAt: new Date().toISOString(),
    startMs: endMs - f.hours * HOUR,
    endMs,
    seriesPerRegion: f.series,
  };
  // written last: its presence means the bucket is complete
  await Deno.writeTextFile(`${f.dir}/demo.json`, JSON.stringify(data, null, 2) + "\n");
  console.log(`demo: data written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return data;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A component started as `deno run -A main.ts …`, its output forwarded with a prefix. */
class Component {
  readonly child: Deno.ChildProcess;
  readonly status: Promise<Deno.CommandStatus>;
  private tail: string[] = [];
  exited = false;

  constructor(readonly name: string, args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...v8FlagsArgsFromEnv(), `${REPO}main.ts`, ...args],
      cwd: REPO,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.status = this.child.status.then((s) => {
      this.exited = true;
      return s;
    });
    this.forward(this.child.stdout).catch(() => {});
    this.forward(this.child.stderr).catch(() => {});
  }

  private async forward(s: ReadableStream<Uint8Array>): Promise<void> {
    const td = new TextDecoder();
    let buf = "";
    for await (const b of s) {
      buf += td.decode(b, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        // Deno 2.9 prints this notice once per server; it is not about the demo
        if (line.includes("Deno.serve: request.signal aborts")) continue;
        this.tail.push(line);
        if (this.tail.length > 40) this.tail.shift();
        console.log(`[${this.name}] ${line}`);
      }
    }
  }

  lastLines(): string {
    return this.tail.join("\n");
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.exited) {
      try {
        this.child.kill("SIGTERM");
      } catch { /* gone */ }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = await Promise.race([
        this.status.then(() => false),
        new Promise<boolean>((r) => timer = setTimeout(() => r(true), graceMs)),
      ]);
      clearTimeout(timer);
      if (late && !this.exited) {
        try {
          this.child.kill("SIGKILL");
        } catch { /* gone */ }
      }
    }
    await this.status;
  }
}

/** Polls `url` until it answers 200, at most `timeoutMs`; throws with the component's output. */
async function waitReady(c: Component, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && Date.now() < deadline && !c.exited; i++) {
    try {
      const r = await fetch(url);
      await r.body?.cancel();
      if (r.status === 200) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `demo: ${c.name} did not become ready at ${url} within ${timeoutMs / 1000} s` +
      (c.exited ? " (it exited)" : "") + `; last output:\n${c.lastLines()}`,
  );
}

function fmtUtc(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "");
}

const EXAMPLES = [
  "up",
  'sum by (region) (rate(http_requests_total{code="500"}[5m]))',
  "histogram_quantile(0.99, sum by (le, region) (rate(http_request_duration_seconds_bucket[5m])))",
  "avg by (region, sensor) (node_temperature_celsius)",
];

async function main(): Promise<number> {
  const f = parseFlags(Deno.args);
  const data = await ensureData(f);
  const stale = Date.now() - data.endMs > 30 * MIN;
  const port = (fixed: number) => f.freePorts ? freePort() : fixed;
  const storeGrpc = `127.0.0.1:${port(10905)}`;
  const storeHttp = `127.0.0.1:${port(10906)}`;
  const queryGrpc = `127.0.0.1:${port(10901)}`;
  const queryHttp = `127.0.0.1:${port(10902)}`;
  const objstore = JSON.stringify({ type: "FILESYSTEM", config: { directory: `${f.dir}/bucket` } });

  const components: Component[] = [];
  let stopped: Promise<void> | undefined;
  const stopAll = (): Promise<void> => {
    stopped ??= (async () => {
      for (const c of components.slice().reverse()) await c.stop();
    })();
    return stopped;
  };
  const onSignal = () => {
    if (stopped) return;
    console.log("\ndemo: stopping …");
    void stopAll();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  try {
    const store = new Component("store", [
      "store",
      `--objstore.config=${objstore}`,
      `--data-dir=${f.dir}/store`,
      `--http-address=${storeHttp}`,
      `--grpc-address=${storeGrpc}`,
      "--http-grace-period=2s",
      "--grpc-grace-period=2s",
      "--log.level=warn",
    ]);
    components.push(store);
    await waitReady(store, `http://${storeHttp}/-/ready`, 120_000);
    const query = new Component("query", [
      "query",
      `--store=${storeGrpc}`,
      "--query.replica-label=replica",
      `--http-address=${queryHttp}`,
      `--grpc-address=${queryGrpc}`,
      "--http-grace-period=2s",
      "--grpc-grace-period=2s",
      "--log.level=warn",
    ]);
    components.push(query);
    await waitReady(query, `http://${queryHttp}/-/ready`, 60_000);

    const base = `http://${queryHttp}`;
    const at = stale ? data.endMs - MIN : null;
    const link = (expr: string) => {
      const p = new URLSearchParams({
        "g0.expr": expr,
        "g0.tab": "0",
        "g0.range_input": `${Math.min(f.hours, 6)}h`,
      });
      if (at !== null) p.set("g0.end_input", fmtUtc(at));
      return `${base}/graph?${p}`;
    };
    const api = `${base}/api/v1/query?query=up${at !== null ? `&time=${at / 1000}` : ""}`;
    console.log(
      [
        "",
        "demo: Thanos-TS is running: a store gateway over the demo bucket and a querier",
        `      deduplicating on replica (data ${fmtUtc(data.startMs)} to ${
          fmtUtc(data.endMs)
        } UTC).`,
        "",
        `  Query UI:  ${base}/`,
        `  Stores:    ${base}/stores`,
        `  API:       curl '${api}'`,
        ...(stale
          ? [
            "",
            `  The data ends ${fmtUtc(data.endMs)} UTC; the links below show that time.`,
            "  Run with --regenerate for data ending now.",
          ]
          : []),
        "",
        "  Try (Graph tab):",
        ...EXAMPLES.map((e) => `    ${e}\n      ${link(e)}`),
        "",
        `demo: ready query=${base} store=${storeGrpc} pids=${
          components.map((c) => c.child.pid).join(",")
        }`,
        "Press Ctrl-C to stop.",
      ].join("\n"),
    );
    // run until a signal stops everything, or a component dies on its own
    const first = await Promise.race(components.map((c) => c.status.then(() => c)));
    if (!stopped) {
      console.error(`demo: ${first.name} exited unexpectedly; last output:\n${first.lastLines()}`);
      await stopAll();
      return 1;
    }
    await stopped;
    console.log("demo: stopped");
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    await stopAll();
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main());
}
