// The wall-time floor of the querier → store gateway design (issue 19, goal 4): what an instant
// query costs a client when two processes do no query work at all, beside Prometheus answering
// real queries on the same machine in the same run. Prints figures, never asserts.
//
//   deno run -A bench/two_hop_floor.ts [--data=<dir>] [--query=big:1000000] [--time=<unix s>]
//     [--n=2000] [--warmup=20000] [--bytes=160]
//
// Starts two child processes of this script: a "front" that serves HTTP with Deno.serve (as the
// querier does) and a "back" that serves one gRPC server-streaming method with our own
// transport (storeapi/grpc.ts, as the store gateway does). The client (this process) times, in
// blocks of 20 turning order each block:
// - `http only`: GET on the front, which answers a fixed one-series JSON body (one process, one
//   HTTP round trip: the floor of any server, Prometheus included);
// - `http + grpc`: GET on the front, which first makes one Series-like call to the back
//   (`--bytes` of answer, about an instant query's one series) and then answers the same body:
//   the floor of two processes, with no parsing, index, chunks, engine or JSON work anywhere;
// - with `--data` (a directory kept by bench/instant_vs_prometheus.ts, or the 1,000,000-series
//   block's of bench/store_memory_vs_prometheus.ts --big --data), Prometheus 2.42 over its
//   blocks answering `--query` (`big:<N>` or `{i}` counters: another text each time, see
//   bench/kept_data.ts countedQuery) — everything included.
// `--warmup` untimed requests per side first (our two children are JIT-compiled code: the
// steady state of long-running servers). Each side's median wall and its processes' CPU per
// request (user + system, /proc/<pid>/stat) are printed.

import { GrpcChannel, GrpcServer, putFrameHeader } from "../storeapi/grpc.ts";
import { countedQuery, readIntoPageCache, startKeptDataPrometheus } from "./kept_data.ts";
import { cpuSeconds } from "./cpu_profile.ts";
import { startChildPeer } from "../tests/helpers/child_peer.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const ROLE = flag("role", "");
const BYTES = Number(flag("bytes", "160"));
const BODY = JSON.stringify({
  status: "success",
  data: {
    resultType: "vector",
    result: [{ metric: { __name__: "bench_metric_0", id: "0577000" }, value: [1, "1"] }],
  },
});

if (ROLE === "back") {
  const framed = new Uint8Array(5 + BYTES);
  putFrameHeader(framed, 0, false, BYTES);
  const server = new GrpcServer();
  server.serverStream("/thanos.Store/Series", async (_req, _ctx, out) => {
    await out.sendFramed(framed.slice());
  });
  const { port } = await server.listen("127.0.0.1", 0);
  console.log(`port ${port}`);
  await new Promise(() => {}); // until stopped
}

if (ROLE === "front") {
  const ch = new GrpcChannel(`127.0.0.1:${flag("back", "")}`);
  const request = new Uint8Array(64);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    if (req.url.endsWith("?hop=1")) {
      for await (const _ of ch.serverStreamBatches("/thanos.Store/Series", request)) {
        // the answer is dropped
      }
    }
    return new Response(BODY, { headers: { "content-type": "application/json" } });
  });
  console.log(`port ${server.addr.port}`);
  await new Promise(() => {}); // until stopped
}

const DATA = flag("data", "");
const QUERY = flag("query", "big:1000000");
const TIME = flag("time", "1700007140");
const N = Math.max(20, Math.round(Number(flag("n", "2000")) / 20) * 20);
const WARMUP = Number(flag("warmup", "20000"));

/** Starts this script in `role`, resolving with the child and the port it printed. */
async function child(role: string, args: string[] = []) {
  const peer = await startChildPeer({
    name: `two_hop_floor ${role}`,
    args: ["run", "-A", new URL(import.meta.url).pathname, `--role=${role}`, ...args],
    ready: (banner) => /port \d+\n/.test(banner),
    timeoutMs: 30_000,
  });
  return { pid: peer.pid, stop: peer.stop, port: Number(/port (\d+)/.exec(peer.banner)![1]) };
}

interface Side {
  name: string;
  url: (i: number) => string;
  pids: number[];
  sent: number;
  wall: number[];
  cpu: number;
}

const stops: (() => Promise<unknown>)[] = [];
try {
  const back = await child("back");
  stops.push(back.stop);
  const front = await child("front", [`--back=${back.port}`]);
  stops.push(front.stop);
  const base = `http://127.0.0.1:${front.port}/api/v1/query`;
  const sides: Side[] = [
    {
      name: "http only",
      url: () => `${base}?hop=0`,
      pids: [front.pid],
      sent: 0,
      wall: [],
      cpu: 0,
    },
    {
      name: "http + grpc",
      url: () => `${base}?hop=1`,
      pids: [front.pid, back.pid],
      sent: 0,
      wall: [],
      cpu: 0,
    },
  ];
  if (DATA !== "") {
    await readIntoPageCache(DATA);
    const prom = await startKeptDataPrometheus(DATA);
    stops.push(() => prom.stop());
    sides.push({
      name: `prometheus \`${QUERY}\``,
      url: (i) =>
        `${prom.url}/api/v1/query?${new URLSearchParams({
          query: countedQuery(QUERY, i),
          time: TIME,
        })}`,
      pids: [prom.pid],
      sent: 0,
      wall: [],
      cpu: 0,
    });
  }
  const get = async (s: Side) => {
    const t = performance.now();
    const r = await fetch(s.url(s.sent++));
    if (!r.ok) throw new Error(`${s.name}: HTTP ${r.status}: ${await r.text()}`);
    await r.text();
    return performance.now() - t;
  };
  for (const s of sides) for (let i = 0; i < WARMUP; i++) await get(s);
  for (let b = 0; b < N / 20; b++) {
    for (const s of b % 2 === 0 ? sides : [...sides].reverse()) {
      const c0 = s.pids.map(cpuSeconds);
      for (let i = 0; i < 20; i++) s.wall.push(await get(s));
      s.cpu += s.pids.reduce((a, pid, k) => a + cpuSeconds(pid) - c0[k], 0);
    }
  }
  const load = Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
  console.log(
    `load ${load}; ${N} requests per side after ${WARMUP} untimed; wall median and CPU per ` +
      `request (user + system of the side's processes, 10 ms ticks)\n`,
  );
  console.log(
    "| side | wall median ms | p10 | p90 | CPU ms |\n| --- | ---: | ---: | ---: | ---: |",
  );
  for (const s of sides) {
    const w = s.wall.sort((a, b) => a - b);
    const at = (q: number) => w[Math.floor(q * (w.length - 1))].toFixed(3);
    console.log(
      `| ${s.name} | ${at(0.5)} | ${at(0.1)} | ${at(0.9)} | ${(s.cpu * 1000 / N).toFixed(3)} |`,
    );
  }
} finally {
  for (const s of stops.reverse()) await s().catch(() => {});
}
