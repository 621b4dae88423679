// Does our own gRPC transport + hand-written protobuf codec pay, against the design's
// @grpc/grpc-js + protobufjs (issue 19, goal 5)? Side by side in one run, on the SAME messages:
//   - Series streaming: N series (default 10,000) with Prometheus-like labels and 3 XOR chunks of
//     120 samples each, one SeriesResponse per series, as the store gateway sends them;
//   - unary latency: Info and LabelNames calls one after another (p50/p99).
// Every pair of client and server runs: ours↔ours, grpc-js↔grpc-js and the two mixed pairs (which
// also shows the wire is compatible: every pair must read exactly the series that were sent).
// Each server runs in its own process, so the CPU time of the server (read from the child) and of
// the client (this process) is reported separately, per MB streamed and per call. Each side starts
// from and ends in the product's data shape (`SeriesWithChunks`: flat label arrays, chunk bytes),
// so the grpc-js side pays for converting to and from protobufjs objects, as product code on it
// would. Ratios are printed; times are never asserted.
//   deno run -A bench/grpc_choice.ts [series=10000] [rounds=3] [unaryCalls=1000]

// deno-lint-ignore-file no-explicit-any
import process from "node:process";
import { Buffer } from "node:buffer";
import { XorAppender } from "../tsdb/chunkenc/xor.ts";
import { ChunkEncoding, type SeriesWithChunks } from "../tsdb/series.ts";
import { labelsEqual } from "../tsdb/labels.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import { encodeSeriesRequest, INT64_MAX, type SeriesRequest } from "../storeapi/codec.ts";
import { type SeriesItem, type StoreBackend, StoreServer } from "../storeapi/server.ts";
import { StoreClient } from "../storeapi/client.ts";
import { freePort } from "../tests/helpers/ports.ts";

// The versions the interop tests use (tests/storeapi/interop_test.ts), loaded through computed
// specifiers so protobufjs's @types/node stays out of type checking; deno.lock pins them.
const GRPC_JS = "npm:@grpc/grpc-js@1.14.7";
const PROTOBUFJS = "npm:protobufjs@7.6.6";
const grpc: any = await import(GRPC_JS);
const protobuf: any = (await import(PROTOBUFJS)).default;
const PROTO_DIR = new URL("../storeapi/proto/", import.meta.url).pathname;
const root: any = protobuf.loadSync(["rpc.proto", "info.proto"].map((f) => PROTO_DIR + f));
const T = {
  SeriesRequest: root.lookupType("thanos.SeriesRequest"),
  SeriesResponse: root.lookupType("thanos.SeriesResponse"),
  LabelNamesRequest: root.lookupType("thanos.LabelNamesRequest"),
  LabelNamesResponse: root.lookupType("thanos.LabelNamesResponse"),
  InfoResponse: root.lookupType("thanos.info.InfoResponse"),
};

const args = Deno.args[0] === "serve" ? [] : Deno.args;
const N = Number(args[0] ?? 10_000);
const ROUNDS = Number(args[1] ?? 3);
const UNARY = Number(args[2] ?? 1000);

// ---------------------------------------------------------------------------------------------
// The data set: deterministic, so the server processes and the client agree on what is sent.

function dataset(n: number): SeriesWithChunks[] {
  const out: SeriesWithChunks[] = [];
  const modes = ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"];
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < n; i++) {
    const labels = [
      "__name__",
      "node_cpu_seconds_total",
      "cluster",
      "eu-west-1",
      "cpu",
      String(i % 16),
      "instance",
      `node-${String(Math.floor(i / 128)).padStart(4, "0")}.example.internal:9100`,
      "job",
      "node-exporter",
      "mode",
      modes[i % 8],
      "namespace",
      "monitoring",
      "pod",
      `node-exporter-${(i * 7919 % 100000).toString(36)}`,
    ];
    const chunks = [];
    let v = Math.floor(rnd() * 1e6);
    const t0 = 1_700_000_000_000;
    for (let c = 0; c < 3; c++) {
      const app = new XorAppender();
      const mint = t0 + c * 120 * 15_000;
      for (let k = 0; k < 120; k++) {
        // a counter of whole increments, scraped every 15 s with a few ms of jitter
        v += Math.floor(rnd() * 40);
        app.append(mint + k * 15_000 + (rnd() < 0.2 ? Math.floor(rnd() * 5) : 0), v);
      }
      chunks.push({
        minTime: mint,
        maxTime: mint + 119 * 15_000,
        encoding: ChunkEncoding.XOR,
        data: app.bytes(),
      });
    }
    out.push({ labels, chunks });
  }
  return out;
}

/** What a client must have read: series, chunk bytes and a checksum over labels and bytes. */
interface Digest {
  series: number;
  chunks: number;
  bytes: number;
  sum: number;
}

function digest(all: Iterable<SeriesWithChunks>): Digest {
  const d: Digest = { series: 0, chunks: 0, bytes: 0, sum: 0 };
  for (const s of all) add(d, s);
  return d;
}

function add(d: Digest, s: SeriesWithChunks): void {
  d.series++;
  let h = d.sum;
  for (const l of s.labels) h = (h * 31 + l.length + l.charCodeAt(l.length - 1 || 0)) >>> 0;
  for (const c of s.chunks) {
    d.chunks++;
    d.bytes += c.data.length;
    h = (h * 31 + c.minTime % 65536 + c.data[c.data.length - 1]) >>> 0;
  }
  d.sum = h;
}

const LABEL_NAMES = ["__name__", "cluster", "cpu", "instance", "job", "mode", "namespace", "pod"];
const INFO = {
  componentType: "store" as const,
  labelSets: [["cluster", "eu-west-1"]],
  minTime: 1_700_000_000_000,
  maxTime: INT64_MAX,
  supportsWithoutReplicaLabels: true,
};

// ---------------------------------------------------------------------------------------------
// Servers (each in its own process: `bench/grpc_choice.ts serve ours|grpcjs <port> <series>`)

async function serveOurs(port: number, data: SeriesWithChunks[]): Promise<void> {
  const backend: StoreBackend = {
    info: () => Promise.resolve(INFO),
    async *series(): AsyncIterable<SeriesItem> {
      for (const s of data) yield s;
    },
    labelNames: () => Promise.resolve({ names: LABEL_NAMES, warnings: [] }),
    labelValues: () => Promise.resolve({ values: [], warnings: [] }),
  };
  const server = new StoreServer(backend, { serving: true });
  await server.listen("127.0.0.1", port);
}

async function serveGrpcJs(port: number, data: SeriesWithChunks[]): Promise<void> {
  const server = new grpc.Server();
  const dec = (t: any) => (b: Buffer) => t.decode(b);
  const enc = (t: any) => (o: unknown) => t.encode(o).finish();
  const def = {
    Series: {
      path: "/thanos.Store/Series",
      requestStream: false,
      responseStream: true,
      requestDeserialize: dec(T.SeriesRequest),
      responseSerialize: enc(T.SeriesResponse),
    },
    LabelNames: {
      path: "/thanos.Store/LabelNames",
      requestStream: false,
      responseStream: false,
      requestDeserialize: dec(T.LabelNamesRequest),
      responseSerialize: enc(T.LabelNamesResponse),
    },
    Info: {
      path: "/thanos.info.Info/Info",
      requestStream: false,
      responseStream: false,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: enc(T.InfoResponse),
    },
  };
  server.addService(def, {
    Series: async (call: any) => {
      // from the product's shape to protobufjs objects, written with backpressure
      for (const s of data) {
        const labels = [];
        for (let i = 0; i < s.labels.length; i += 2) {
          labels.push({ name: s.labels[i], value: s.labels[i + 1] });
        }
        const chunks = s.chunks.map((c) => ({
          minTime: c.minTime,
          maxTime: c.maxTime,
          raw: { type: 0, data: c.data },
        }));
        if (!call.write({ series: { labels, chunks } })) {
          await new Promise((r) => call.once("drain", r));
        }
        if (call.cancelled) return;
      }
      call.end();
    },
    LabelNames: (_call: any, cb: any) => cb(null, { names: LABEL_NAMES }),
    Info: (_call: any, cb: any) =>
      cb(null, {
        ComponentType: "store",
        labelSets: [{ labels: [{ name: "cluster", value: "eu-west-1" }] }],
        store: {
          minTime: INFO.minTime,
          maxTime: "9223372036854775807",
          supportsWithoutReplicaLabels: true,
        },
      }),
  });
  await new Promise<void>((res, rej) =>
    server.bindAsync(
      `127.0.0.1:${port}`,
      grpc.ServerCredentials.createInsecure(),
      (e: Error | null) => e ? rej(e) : res(),
    )
  );
}

/** The lines of a byte stream. */
async function* lines(r: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  const td = new TextDecoder();
  for await (const b of r) {
    buf += td.decode(b, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
}

/** Child mode: serve, print READY, answer "cpu" lines with this process's CPU microseconds. */
async function child(kind: string, port: number, n: number): Promise<void> {
  const data = dataset(n);
  if (kind === "ours") await serveOurs(port, data);
  else await serveGrpcJs(port, data);
  console.log("READY");
  for await (const l of lines(Deno.stdin.readable)) {
    if (l === "cpu") {
      const u = process.cpuUsage();
      console.log(`CPU ${u.user + u.system}`);
    }
  }
  Deno.exit(0); // stdin closed: the parent is done
}

/** A server child process and a line reader of its stdout. */
class ServerProc {
  private readonly proc: Deno.ChildProcess;
  private readonly lines: AsyncIterator<string>;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly port = freePort();

  constructor(readonly kind: "ours" | "grpcjs", n: number) {
    this.proc = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        "serve",
        kind,
        String(this.port),
        String(n),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.lines = lines(this.proc.stdout)[Symbol.asyncIterator]();
    this.writer = this.proc.stdin.getWriter();
  }

  async ready(): Promise<void> {
    const l = await this.lines.next();
    if (l.value !== "READY") throw new Error(`${this.kind} server did not start: ${l.value}`);
  }

  /** The child's CPU time so far (ms). */
  async cpuMs(): Promise<number> {
    await this.writer.write(new TextEncoder().encode("cpu\n"));
    const l = await this.lines.next();
    return Number(String(l.value).slice(4)) / 1000;
  }

  /** Whether the child still answers (false once it died). */
  async alive(): Promise<boolean> {
    try {
      await this.writer.write(new TextEncoder().encode("cpu\n"));
      return !(await this.lines.next()).done;
    } catch {
      return false;
    }
  }

  /** Ends the child; says how it ended. */
  async stop(): Promise<string> {
    await this.writer.close().catch(() => {});
    const st = await this.proc.status;
    return st.signal !== null ? `killed by ${st.signal}` : `exit code ${st.code}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Clients

interface BenchClient {
  series(req: SeriesRequest, d: Digest): Promise<void>;
  info(): Promise<void>;
  labelNames(): Promise<void>;
  close(): void;
}

function ourClient(port: number): BenchClient {
  const c = new StoreClient(`127.0.0.1:${port}`);
  return {
    async series(req, d) {
      for await (const x of c.series(req)) if ("labels" in x) add(d, x);
    },
    async info() {
      const i = await c.info();
      if (i.labelSets.length !== 1) throw new Error("bad info");
    },
    async labelNames() {
      const r = await c.labelNames({ start: 0, end: 1, matchers: [] });
      if (r.names.length !== LABEL_NAMES.length) throw new Error("bad label names");
    },
    close: () => c.close(),
  };
}

const toNum = (v: any): number => typeof v === "number" ? v : Number(v.toString());

function grpcJsClient(port: number): BenchClient {
  const dec = (t: any) => (b: Buffer) => t.decode(b);
  const raw = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const def = {
    Series: {
      path: "/thanos.Store/Series",
      requestStream: false,
      responseStream: true,
      requestSerialize: (o: unknown) => T.SeriesRequest.encode(o).finish(),
      responseDeserialize: dec(T.SeriesResponse),
    },
    LabelNames: {
      path: "/thanos.Store/LabelNames",
      requestStream: false,
      responseStream: false,
      requestSerialize: (o: unknown) => T.LabelNamesRequest.encode(o).finish(),
      responseDeserialize: dec(T.LabelNamesResponse),
    },
    Info: {
      path: "/thanos.info.Info/Info",
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Uint8Array) => raw(b),
      responseDeserialize: dec(T.InfoResponse),
    },
  };
  const Client = grpc.makeGenericClientConstructor(def, "Store");
  const c: any = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
  });
  const unary = (m: string, req: unknown) =>
    new Promise<any>((res, rej) => c[m](req, (e: Error, r: unknown) => e ? rej(e) : res(r)));
  return {
    async series(_req, d) {
      const call = c.Series({
        minTime: 0,
        maxTime: "9223372036854775807",
        matchers: [{ type: 0, name: "__name__", value: "node_cpu_seconds_total" }],
      });
      // to the product's shape; frames repeating the previous labels continue that series
      let pending: SeriesWithChunks | null = null;
      for await (const m of call) {
        if (!m.series) continue;
        const labels: string[] = [];
        for (const l of m.series.labels) labels.push(l.name, l.value);
        const chunks = m.series.chunks.map((ch: any) => ({
          minTime: toNum(ch.minTime),
          maxTime: toNum(ch.maxTime),
          encoding: ChunkEncoding.XOR,
          data: ch.raw.data as Uint8Array,
        }));
        if (pending !== null && labelsEqual(pending.labels, labels)) {
          pending.chunks.push(...chunks);
          continue;
        }
        if (pending !== null) add(d, pending);
        pending = { labels, chunks };
      }
      if (pending !== null) add(d, pending);
    },
    async info() {
      const i = await unary("Info", new Uint8Array(0));
      if (i.labelSets.length !== 1) throw new Error("bad info");
    },
    async labelNames() {
      const r = await unary("LabelNames", { start: 0, end: 1 });
      if (r.names.length !== LABEL_NAMES.length) throw new Error("bad label names");
    },
    close: () => c.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// The run

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

interface PairResult {
  wallMs: number[];
  clientCpu: number[];
  serverCpu: number[];
  ok: boolean;
  unary: Record<string, { lat: number[]; clientCpu: number; serverCpu: number }>;
}

async function main(): Promise<void> {
  const data = dataset(N);
  const expected = digest(data);
  // what goes over the wire: the SeriesResponse messages (both encoders produce the same bytes)
  let wireBytes = 0;
  for (const s of data) {
    const labels = [];
    for (let i = 0; i < s.labels.length; i += 2) {
      labels.push({ name: s.labels[i], value: s.labels[i + 1] });
    }
    const chunks = s.chunks.map((c) => ({
      minTime: c.minTime,
      maxTime: c.maxTime,
      raw: { data: c.data },
    }));
    wireBytes += T.SeriesResponse.encode({ series: { labels, chunks } }).finish().length + 5;
  }
  const mb = wireBytes / (1 << 20);
  console.log(
    `data: ${N} series × 3 XOR chunks × 120 samples; ${expected.bytes} chunk bytes; ` +
      `${mb.toFixed(1)} MiB of SeriesResponse messages (${Math.round(wireBytes / N)} B each)`,
  );
  const servers = {
    ours: new ServerProc("ours", N),
    grpcjs: new ServerProc("grpcjs", N),
  };
  await Promise.all(Object.values(servers).map((s) => s.ready()));
  const pairs: [string, "ours" | "grpcjs", "ours" | "grpcjs"][] = [
    ["ours↔ours", "ours", "ours"],
    ["grpc-js↔grpc-js", "grpcjs", "grpcjs"],
    ["grpc-js client↔our server", "grpcjs", "ours"],
    ["our client↔grpc-js server", "ours", "grpcjs"],
  ];
  const req: SeriesRequest = {
    minTime: 0,
    maxTime: INT64_MAX,
    matchers: [new Matcher(MatchType.Equal, "__name__", "node_cpu_seconds_total")],
  };
  encodeSeriesRequest(req); // validates the request once
  const results = new Map<string, PairResult>();
  const clients = new Map<string, BenchClient>();
  for (const [name, cl, sv] of pairs) {
    const port = servers[sv].port;
    clients.set(name, cl === "ours" ? ourClient(port) : grpcJsClient(port));
    results.set(name, { wallMs: [], clientCpu: [], serverCpu: [], ok: true, unary: {} });
  }
  try {
    // warm-up: one call per pair (JIT, connections)
    for (const [name] of pairs) {
      const d = digest([]);
      await clients.get(name)!.series(req, d);
      await clients.get(name)!.info();
      await clients.get(name)!.labelNames();
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, , sv] of pairs) {
        const r = results.get(name)!;
        const d = digest([]);
        const s0 = await servers[sv].cpuMs();
        const c0 = cpuMs();
        const t0 = performance.now();
        await clients.get(name)!.series(req, d);
        r.wallMs.push(performance.now() - t0);
        r.clientCpu.push(cpuMs() - c0);
        r.serverCpu.push((await servers[sv].cpuMs()) - s0);
        if (JSON.stringify(d) !== JSON.stringify(expected)) {
          r.ok = false;
          console.log(`  ${name}: read ${JSON.stringify(d)}, sent ${JSON.stringify(expected)}`);
        }
      }
    }
    for (const [name, , sv] of pairs) {
      const r = results.get(name)!;
      const c = clients.get(name)!;
      for (const m of ["info", "labelNames"] as const) {
        const lat: number[] = [];
        const s0 = await servers[sv].cpuMs();
        const c0 = cpuMs();
        for (let i = 0; i < UNARY; i++) {
          const t0 = performance.now();
          await c[m]();
          lat.push(performance.now() - t0);
        }
        r.unary[m] = {
          lat,
          clientCpu: (cpuMs() - c0) / UNARY,
          serverCpu: ((await servers[sv].cpuMs()) - s0) / UNARY,
        };
      }
    }
  } finally {
    for (const c of clients.values()) c.close();
    // the clients closed their connections (GOAWAY): do the servers survive it?
    await new Promise((r) => setTimeout(r, 1000));
    for (const s of Object.values(servers)) {
      const alive = await s.alive();
      const end = await s.stop();
      if (!alive) Deno.exitCode = 1;
      console.log(
        `${s.kind} server process: ${alive ? "alive" : "DIED"} after the clients closed (${end})`,
      );
    }
  }

  console.log(
    `\nSeries streaming (median of ${ROUNDS}; CPU per MiB of messages; server in its own process)`,
  );
  console.log(
    "pair".padEnd(28) + "MiB/s".padStart(8) + "series/s".padStart(10) +
      "client ms/MiB".padStart(15) + "server ms/MiB".padStart(15) + "  read all?",
  );
  const summary: Record<string, { mbs: number; ccpu: number; scpu: number }> = {};
  for (const [name] of pairs) {
    const r = results.get(name)!;
    const w = median(r.wallMs) / 1000;
    const s = {
      mbs: mb / w,
      ccpu: median(r.clientCpu) / mb,
      scpu: median(r.serverCpu) / mb,
    };
    summary[name] = s;
    console.log(
      name.padEnd(28) + s.mbs.toFixed(1).padStart(8) + Math.round(N / w).toString().padStart(10) +
        s.ccpu.toFixed(1).padStart(15) + s.scpu.toFixed(1).padStart(15) +
        (r.ok ? "  yes" : "  NO"),
    );
  }
  console.log(`\nUnary calls (${UNARY} sequential calls each; latency ms, CPU ms per call)`);
  console.log(
    "pair".padEnd(28) + "call".padEnd(12) + "p50".padStart(8) + "p99".padStart(8) +
      "client".padStart(9) + "server".padStart(9),
  );
  for (const [name] of pairs) {
    for (const [m, u] of Object.entries(results.get(name)!.unary)) {
      console.log(
        name.padEnd(28) + m.padEnd(12) + pct(u.lat, 0.5).toFixed(3).padStart(8) +
          pct(u.lat, 0.99).toFixed(3).padStart(8) + u.clientCpu.toFixed(3).padStart(9) +
          u.serverCpu.toFixed(3).padStart(9),
      );
    }
  }
  const o = summary["ours↔ours"];
  const g = summary["grpc-js↔grpc-js"];
  const uo = results.get("ours↔ours")!.unary;
  const ug = results.get("grpc-js↔grpc-js")!.unary;
  console.log(
    "\nRatios, ours ÷ grpc-js+protobufjs (throughput: >1 = ours faster; others: <1 = ours cheaper)",
  );
  console.log(`  Series throughput (MiB/s):   ${(o.mbs / g.mbs).toFixed(2)}×`);
  console.log(`  client CPU per MiB:          ${(o.ccpu / g.ccpu).toFixed(2)}×`);
  console.log(`  server CPU per MiB:          ${(o.scpu / g.scpu).toFixed(2)}×`);
  for (const m of ["info", "labelNames"]) {
    console.log(
      `  ${m} p50 / p99 latency: ${(pct(uo[m].lat, 0.5) / pct(ug[m].lat, 0.5)).toFixed(2)}× / ` +
        `${(pct(uo[m].lat, 0.99) / pct(ug[m].lat, 0.99)).toFixed(2)}×; ` +
        `CPU per call client ${(uo[m].clientCpu / ug[m].clientCpu).toFixed(2)}×, ` +
        `server ${(uo[m].serverCpu / ug[m].serverCpu).toFixed(2)}×`,
    );
  }
  const allOk = [...results.values()].every((r) => r.ok);
  console.log(`\nwire compatible (every pair read exactly what was sent): ${allOk ? "yes" : "NO"}`);
  if (!allOk) Deno.exitCode = 1;
}

if (Deno.args[0] === "serve") {
  await child(Deno.args[1], Number(Deno.args[2]), Number(Deno.args[3]));
} else {
  await main();
}
