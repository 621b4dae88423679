// Where the time of one instant query goes, stage by stage, in the store gateway and in the
// querier (issue 19), printed, never asserted:
//
//   deno run -A bench/instant_profile.ts --data=<dir> [--query=up] [--n=300]
//     [--time=<unix s>] [--top=15] [--save=<dir>] [--range=<s> --step=<s>] [--warmup=50]
//
// `<dir>` is a data directory kept by `bench/instant_vs_prometheus.ts --keep=<dir>` (its
// `bucket.yml` names a FILESYSTEM bucket). Starts `thanos store` over it and `thanos query`
// (evaluating on its own thread, `--query.eval-workers=0`) as child processes whose roles run in
// the main isolate under `--inspect` on 127.0.0.1, sends `n` sequential instant queries, records
// a V8 CPU profile of both over the Chrome DevTools protocol and prints each process's self time
// per stage (HTTP, API, PromQL parse, engine, JSON, proxy fan-out, gRPC + HTTP/2, protobuf,
// store postings/series, bucket reads, chunk decode, …) per query, with the client's wall time
// and the store's gRPC calls per query (its `grpc_server_started_total`). With `--range`, a range
// query over the `range` seconds before `time` at `step` instead (e.g. the 30-day query of
// bench/store_memory_vs_prometheus.ts --days30 over its kept bucket). `--heap` adds the sampled
// allocations per function; `--survivors` keeps only the allocations no young-generation GC
// collected (what is promoted to the old generation and brings full GCs closer), each with its
// last callers; `--path=<path>` times GET `<path>` on the querier instead of a query (a 404, a
// probe: the HTTP server's own share). `--pause=<ms>` sleeps that long after each timed query
// (caches go cold, as between the suite's alternating queries; the sleep is idle, not busy).
// A query `big:<N>` or with `{i}` / `{i%M:W}` in it is another text each time, as in
// bench/instant_cpu.ts (bench/kept_data.ts countedQuery).

import {
  breakdown,
  byFunction,
  Cdp,
  type Profile,
  runRoleInMainIsolate,
  spawnRoleUnderInspector,
  type Stage,
  waitReady,
} from "./cpu_profile.ts";
import { freePort } from "../tests/helpers/ports.ts";
import { countedQuery } from "./kept_data.ts";

if (Deno.args[0] === "--role-in-main-isolate") await runRoleInMainIsolate(1);

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const DATA = flag("data", "");
const QUERY = flag("query", "up");
const N = Number(flag("n", "300"));
/** Default: the evaluation time of bench/instant_vs_prometheus.ts at 24 h. */
const TIME = flag("time", "1700006339");
const TOP = Number(flag("top", "15"));
/**
 * Writes each process's profile to `<dir>/{querier,store}.cpuprofile` (Chrome DevTools), creating
 * `<dir>` when it does not exist.
 */
const SAVE = flag("save", "");
/** Also samples allocations (V8 sampling heap profiler) and prints the top allocating functions. */
const HEAP = Deno.args.includes("--heap") || Deno.args.includes("--survivors");
/**
 * With `--survivors`, the heap sampling keeps only what no scavenge collected: the allocations
 * that survive into the old generation (promotion, then full GCs), by allocating function.
 */
const SURVIVORS = Deno.args.includes("--survivors");
const PATH = flag("path", "");
const RANGE = Number(flag("range", "0"));
const STEP = flag("step", "60");
const WARMUP = Number(flag("warmup", "50"));
const PAUSE = Number(flag("pause", "0"));
if (DATA === "") {
  console.error("usage: bench/instant_profile.ts --data=<dir kept by instant_vs_prometheus.ts>");
  Deno.exit(2);
}

const file = (u: string, ...ends: string[]) => ends.some((e) => u.endsWith(e));
const dir = (u: string, ...dirs: string[]) => dirs.some((d) => u.includes(`/${d}/`));
/** Stages, first match wins; unmatched builtins count for their caller's stage. */
const STAGES: Stage[] = [
  ["(idle)", (fn) => fn === "(idle)"],
  ["GC", (fn) => fn === "(garbage collector)"],
  ["HTTP server", (_f, u) => file(u, "server/http.ts") || u.startsWith("ext:deno_http")],
  ["query API (params, handler)", (_f, u) => file(u, "query/api.ts")],
  ["PromQL parse", (_f, u) => file(u, "promql/lexer.ts", "promql/parser.ts")],
  ["JSON encoding", (_f, u) => file(u, "promql/value.ts") || dir(u, "strconv")],
  ["chunk decode", (_f, u) => dir(u, "chunkenc")],
  ["engine", (_f, u) => dir(u, "promql")],
  [
    "proxy fan-out, merge, dedup",
    (_f, u) => file(u, "storeapi/proxy.ts", "storeapi/dedup.ts", "query/queryable.ts", "heap.ts"),
  ],
  ["protobuf encode/decode", (_f, u) => file(u, "storeapi/codec.ts", "storeapi/wire.ts")],
  [
    "gRPC + HTTP/2",
    (_f, u) =>
      file(
        u,
        "storeapi/grpc.ts",
        "storeapi/client.ts",
        "storeapi/server.ts",
        "storeapi/h2client.ts",
        "storeapi/h2server.ts",
        "storeapi/h2frame.ts",
        "storeapi/hpack.ts",
      ),
  ],
  ["store: index cache", (_f, u) => file(u, "store/index_cache.ts")],
  [
    "store: postings",
    (_f, u) => file(u, "postings.ts", "postings_for_matchers.ts", "block/index_header.ts"),
  ],
  [
    "store: series, chunk refs",
    (_f, u) => file(u, "store/bucket_store.ts", "tsdb/index/reader.ts"),
  ],
  [
    "store: bucket reads",
    (_f, u) => dir(u, "objstore") || file(u, "bytesource.ts", "store/caching_bucket.ts"),
  ],
  ["labels, matchers", (_f, u) => file(u, "tsdb/labels.ts", "tsdb/matchers.ts") || dir(u, "re2")],
  ["tracing", (_f, u) => dir(u, "tracing")],
  ["metrics", (_f, u) => dir(u, "metrics")],
  ["runutil (gates, loop clock)", (_f, u) => dir(u, "runutil")],
  ["sockets, streams (Deno)", (_f, u) => u.startsWith("ext:")],
  ["(program: native, unattributed)", (fn) => fn === "(program)"],
];

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

interface Child {
  child: Deno.ChildProcess;
  inspect: string;
  http: string;
  grpc: string;
}

function start(role: string, flags: string[]): Child {
  const http = `127.0.0.1:${freePort()}`;
  const grpc = `127.0.0.1:${freePort()}`;
  const inspect = `127.0.0.1:${freePort()}`;
  const child = spawnRoleUnderInspector(new URL(import.meta.url).pathname, inspect, [
    role,
    `--http-address=${http}`,
    `--grpc-address=${grpc}`,
    "--log.level=warn",
    ...flags,
  ], "inherit");
  return { child, inspect, http, grpc };
}

async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    try {
      if (await probe()) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: gave up`);
}

async function grpcCalls(http: string): Promise<number> {
  const t = await (await fetch(`http://${http}/metrics`)).text();
  let n = 0;
  for (const l of t.split("\n")) {
    if (l.startsWith("grpc_server_started_total{")) n += Number(l.slice(l.lastIndexOf(" ") + 1));
  }
  return n;
}

const children: Child[] = [];
const watchdog = setTimeout(() => {
  console.error("profile timed out");
  for (const c of children) c.child.kill("SIGKILL");
  Deno.exit(2);
}, 10 * 60_000);
try {
  const store = start("store", [
    // the launcher reads config files; the role in the main isolate takes the text
    `--objstore.config=${await Deno.readTextFile(`${DATA}/bucket.yml`)}`,
    `--data-dir=${DATA}/store-data`,
  ]);
  children.push(store);
  await waitReady(store.http);
  const query = start("query", [`--store=${store.grpc}`, "--query.eval-workers=0"]);
  children.push(query);
  let sent = 0;
  /** The next query's URL: a counted query (`big:<N>`, `{i}`) is another text each time. */
  const url = (): string => {
    if (PATH !== "") return `http://${query.http}${PATH}`;
    const q = countedQuery(QUERY, sent++);
    return RANGE > 0
      ? `http://${query.http}/api/v1/query_range?${new URLSearchParams({
        query: q,
        start: String(Number(TIME) - RANGE),
        end: TIME,
        step: STEP,
      })}`
      : `http://${query.http}/api/v1/query?${new URLSearchParams({ query: q, time: TIME })}`;
  };
  // the querier has the store once it knows a label name (any data set, not only `up`)
  await until("querier sees the store", async () => {
    const r = await (await fetch(`http://${query.http}/api/v1/labels`)).json();
    return r.data?.length > 0;
  });
  for (let i = 0; i < WARMUP; i++) await (await fetch(url())).text();
  const cdps = await Promise.all(children.map((c) => Cdp.connectInspector(c.inspect)));
  for (const c of cdps) {
    await c.send("Profiler.enable");
    await c.send("Profiler.setSamplingInterval", { interval: 100 });
    await c.send("Profiler.start");
    if (HEAP) {
      await c.send("HeapProfiler.startSampling", {
        samplingInterval: 1024,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: !SURVIVORS,
      });
    }
  }
  const calls0 = await grpcCalls(store.http);
  const wall: number[] = [];
  let bytes = 0;
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    bytes = (await (await fetch(url())).text()).length;
    wall.push(performance.now() - t);
    if (PAUSE > 0) await new Promise((r) => setTimeout(r, PAUSE));
  }
  const calls = (await grpcCalls(store.http)) - calls0 - 1;
  const profiles = await Promise.all(
    cdps.map(async (c) => (await c.send<{ profile: Profile }>("Profiler.stop")).profile),
  );
  const heaps = HEAP
    ? await Promise.all(
      cdps.map(async (c) =>
        (await c.send<{ profile: { head: HeapNode } }>("HeapProfiler.stopSampling")).profile
      ),
    )
    : [];
  for (const c of cdps) c.close();
  wall.sort((a, b) => a - b);
  console.log(
    `# ${QUERY} at ${TIME}: ${N} queries, ${bytes} bytes each; client wall median ` +
      `${wall[N >> 1].toFixed(2)} ms (p10 ${wall[Math.floor(N / 10)].toFixed(2)}); store gRPC ` +
      `calls per query ${(calls / N).toFixed(2)} (profiler attached: times are inflated)`,
  );
  if (SAVE !== "") {
    await Deno.mkdir(SAVE, { recursive: true });
    await Deno.writeTextFile(`${SAVE}/querier.cpuprofile`, JSON.stringify(profiles[1]));
    await Deno.writeTextFile(`${SAVE}/store.cpuprofile`, JSON.stringify(profiles[0]));
  }
  for (const [name, h] of [["querier", heaps[1]], ["store gateway", heaps[0]]] as const) {
    if (!h) continue;
    // allocated bytes by function (self), per query: what the garbage collector later sweeps
    const by = new Map<string, number>();
    // survivors: the allocating function and its callers (who keeps them is not sampled, where
    // they come from narrows it down)
    const depth = SURVIVORS ? 5 : 1;
    const walk = (n: HeapNode, callers: string[]) => {
      const cf = n.callFrame;
      const fn = `${cf.functionName || "(anonymous)"} ${cf.url.split("/").slice(-2).join("/")}:${
        cf.lineNumber + 1
      }`;
      const chain = [...callers, fn]; // at most `depth` frames, the function last
      const k = chain.toReversed().join(" < ");
      by.set(k, (by.get(k) ?? 0) + n.selfSize);
      const mine = depth > 1 ? chain.slice(1 - depth) : [];
      for (const c of n.children) walk(c, mine);
    };
    walk(h.head, []);
    const top = [...by].sort((a, b) => b[1] - a[1]).slice(0, TOP || 15);
    const total = [...by.values()].reduce((a, b) => a + b, 0);
    console.log(
      `\n## ${name}: sampled ${SURVIVORS ? "surviving " : ""}allocations ${
        (total / N / 1024).toFixed(1)
      } KiB per query\n`,
    );
    console.log(
      `| function (self)${SURVIVORS ? " < its callers" : ""} | KiB / query |\n| --- | ---: |`,
    );
    for (const [k, v] of top) console.log(`| ${k} | ${(v / N / 1024).toFixed(2)} |`);
  }
  for (const [name, p] of [["querier", profiles[1]], ["store gateway", profiles[0]]] as const) {
    const stages = breakdown(p, STAGES);
    const busy = [...stages].filter(([k]) => k !== "(idle)").reduce((a, [, v]) => a + v, 0);
    console.log(`\n## ${name}: busy ${(busy / N).toFixed(3)} ms per query\n`);
    console.log("| stage | ms / query | share of busy |");
    console.log("| --- | ---: | ---: |");
    for (const [k, v] of [...stages].sort((a, b) => b[1] - a[1])) {
      if (k === "(idle)") continue;
      console.log(`| ${k} | ${(v / N).toFixed(3)} | ${(v / busy * 100).toFixed(1)}% |`);
    }
    if (TOP > 0) {
      const top = [...byFunction(p)].filter(([k]) => !k.startsWith("(idle)"));
      top.sort((a, b) => b[1] - a[1]);
      console.log("\n| function (self time) | ms / query |\n| --- | ---: |");
      for (const [k, v] of top.slice(0, TOP)) console.log(`| ${k} | ${(v / N).toFixed(4)} |`);
    }
  }
} finally {
  clearTimeout(watchdog);
  for (const c of children.reverse()) {
    try {
      c.child.kill("SIGTERM");
    } catch { /* gone */ }
    const t = setTimeout(() => c.child.kill("SIGKILL"), 10_000);
    await c.child.status;
    clearTimeout(t);
  }
}
