// A V8 CPU profile of the whole store gateway process while a querier sends it instant queries
// (issue 19, goal 4: another series of a 1,000,000-series block each time), printed as the store's
// busy time per query and its top functions by self time, never asserted:
//
//   deno run -A bench/store_process_profile.ts --data=<dir with bucket.yml> --time=<unix s>
//     [--n=1000] [--top=40] [--save=<file.cpuprofile>] [query]
//
// The query is a PromQL instant query, or `big:<N>`: another series of the N-series block of
// `bench/store_memory_vs_prometheus.ts --big=<N>` each time (as bench/instant_cpu.ts's
// `big:<N>`; the warm-up queries every metric name first). The store's role runs in the main
// isolate of its child process (bench/cpu_profile.ts) under `--inspect`; the querier is an
// ordinary `thanos query` process. `--side=querier` profiles the querier that way instead, the
// store being an ordinary `thanos store` process. Profiler-inflated: compare profiles, not with wall times.

import {
  byFunction,
  Cdp,
  type Profile,
  runRoleInMainIsolate,
  spawnRoleUnderInspector,
  waitReady,
} from "./cpu_profile.ts";
import { freePort } from "../tests/helpers/ports.ts";
import { bigSeriesSelector } from "./kept_data.ts";
import { startComponent } from "../tests/helpers/thanos.ts";

if (Deno.args[0] === "--role-in-main-isolate") await runRoleInMainIsolate(1);

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const DATA = flag("data", "");
const TIME = flag("time", "1700006339");
const N = Number(flag("n", "1000"));
const TOP = Number(flag("top", "40"));
const SAVE = flag("save", "");
const QUERY = Deno.args.find((a) => !a.startsWith("--")) ?? "up";
/** Which process runs under the profiler: the store gateway, or (`--side=querier`) the querier. */
const SIDE = flag("side", "store");
if (SIDE !== "store" && SIDE !== "querier") {
  console.error("--side must be store or querier");
  Deno.exit(2);
}
if (DATA === "") {
  console.error("usage: bench/store_process_profile.ts --data=<dir with bucket.yml> [query]");
  Deno.exit(2);
}

let sent = 0;
/** The next query's text (`big:<N>`: the next series of the walk). */
function next(): string {
  if (!QUERY.startsWith("big:")) return QUERY;
  return bigSeriesSelector(Number(QUERY.slice(4)), sent++);
}

const http = `127.0.0.1:${freePort()}`;
const grpc = `127.0.0.1:${freePort()}`;
const inspect = `127.0.0.1:${freePort()}`;
const dataDir = await Deno.makeTempDir({ prefix: "store-process-profile-" });
const storeFlags = [
  "--log.level=warn",
  `--objstore.config=${await Deno.readTextFile(`${DATA}/bucket.yml`)}`,
  `--data-dir=${dataDir}`,
];
/** The profiled process: its role in the main isolate, listening on `http` (and `grpc`). */
function spawnProfiled(role: string, flags: string[]): Deno.ChildProcess {
  const script = new URL(import.meta.url).pathname;
  const args = [role, `--http-address=${http}`, `--grpc-address=${grpc}`, ...flags];
  return spawnRoleUnderInspector(script, inspect, args);
}
let profiled: Deno.ChildProcess | undefined;
let other: Awaited<ReturnType<typeof startComponent>> | undefined;
try {
  let queryUrl: string;
  if (SIDE === "store") {
    profiled = spawnProfiled("store", storeFlags);
    await waitReady(http, 3000);
    other = await startComponent("query", [`--store=${grpc}`, "--log.level=warn"]);
    queryUrl = other.http;
  } else {
    other = await startComponent("store", storeFlags, { timeoutMs: 600_000 });
    profiled = spawnProfiled("query", [`--store=${other.grpc}`, "--log.level=warn"]);
    await waitReady(http, 3000);
    queryUrl = `http://${http}`;
  }
  const get = async () => {
    const q = new URLSearchParams({ query: next(), time: TIME });
    const r = await fetch(`${queryUrl}/api/v1/query?${q}`);
    const t = await r.text();
    if (!t.includes('"success"')) throw new Error(`query failed: ${t.slice(0, 200)}`);
    return t;
  };
  // until the querier has the store, then the warm-up (every metric name of a `big:` walk)
  for (let i = 0; i < 300 && !(await get()).includes('"value"'); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  for (let i = 0; i < 200; i++) await get();
  const cdp = await Cdp.connectInspector(inspect);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 50 });
  await cdp.send("Profiler.start");
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await get();
  const wall = (performance.now() - t0) / N;
  const { profile } = await cdp.send<{ profile: Profile }>("Profiler.stop");
  cdp.close();
  if (SAVE) await Deno.writeTextFile(SAVE, JSON.stringify(profile));
  const fns = byFunction(profile);
  let busy = 0;
  for (const [fn, ms] of fns) if (!fn.startsWith("(idle)")) busy += ms;
  console.log(
    `# ${QUERY} at ${TIME}: ${N} queries, client wall ${wall.toFixed(3)} ms per query; ` +
      `${SIDE} busy ${(busy / N).toFixed(3)} ms per query (profiler attached: inflated); load ${
        Deno.loadavg().map((x) => x.toFixed(1)).join(" ")
      }\n\n| function (self time) | ms / query |\n| --- | ---: |`,
  );
  for (const [fn, ms] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    if (fn.startsWith("(idle)")) continue;
    console.log(`| ${fn} | ${(ms / N).toFixed(4)} |`);
  }
} finally {
  await other?.stop();
  if (profiled !== undefined) {
    profiled.kill("SIGTERM");
    await profiled.status;
  }
  await Deno.remove(dataDir, { recursive: true });
}
