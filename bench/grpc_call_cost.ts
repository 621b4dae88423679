// Per-call cost of our gRPC client reading one server-streaming answer (issue 19: an instant
// query's Series answer is one ~20–50 KB call), optionally against another checkout's client in
// the same process and the same alternation: one server (this checkout's GrpcServer) answers
// `messages` × `bytes` per call; rounds of `calls` calls per side, the order turning each round.
// Prints wall µs and this process's CPU µs per call (server included, the same for both sides),
// never asserts.
//
//   deno run -A bench/grpc_call_cost.ts [--bytes=44000] [--messages=1] [--calls=2000]
//     [--rounds=8] [--baseline=<checkout dir>]

import { GrpcChannel, GrpcServer, putFrameHeader } from "../storeapi/grpc.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const BYTES = Number(flag("bytes", "44000"));
const MESSAGES = Number(flag("messages", "1"));
const CALLS = Number(flag("calls", "2000"));
const ROUNDS = Number(flag("rounds", "8"));
const BASELINE = flag("baseline", "");

const framed = new Uint8Array(MESSAGES * (5 + BYTES));
for (let i = 0; i < MESSAGES; i++) putFrameHeader(framed, i * (5 + BYTES), false, BYTES);
const server = new GrpcServer();
server.serverStream("/t.Bench/Series", async (_req, _ctx, out) => {
  await out.sendFramed(framed.slice());
});
const { port } = await server.listen("127.0.0.1", 0);

/** The part of a GrpcChannel this bench calls (the baseline's may differ elsewhere). */
interface Channel {
  serverStreamBatches(path: string, request: Uint8Array): AsyncIterable<Uint8Array[]>;
  close(): void;
}
const sides: { name: string; ch: Channel; wall: number[]; cpu: number[] }[] = [
  { name: "this checkout", ch: new GrpcChannel(`127.0.0.1:${port}`), wall: [], cpu: [] },
];
if (BASELINE) {
  const mod = await import(`${BASELINE}/storeapi/grpc.ts`);
  sides.push({ name: "baseline", ch: new mod.GrpcChannel(`127.0.0.1:${port}`), wall: [], cpu: [] });
}

function cpuMs(): number {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function call(ch: Channel): Promise<void> {
  for await (const _ of ch.serverStreamBatches("/t.Bench/Series", new Uint8Array(0))) {
    // messages are dropped
  }
}

for (const s of sides) for (let i = 0; i < 500; i++) await call(s.ch);
for (let r = 0; r < ROUNDS; r++) {
  for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
    const c0 = cpuMs();
    const t0 = performance.now();
    for (let i = 0; i < CALLS; i++) await call(s.ch);
    s.wall.push((performance.now() - t0) / CALLS * 1000);
    s.cpu.push((cpuMs() - c0) / CALLS * 1000);
  }
}
const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];
console.log(
  `load ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}; ${MESSAGES} × ${BYTES} B per call, ` +
    `${CALLS} calls × ${ROUNDS} rounds per side\n`,
);
console.log("| client | wall µs / call (median of rounds) | CPU µs / call, server included |");
console.log("| --- | ---: | ---: |");
for (const s of sides) {
  console.log(`| ${s.name} | ${median(s.wall).toFixed(1)} | ${median(s.cpu).toFixed(0)} |`);
}
for (const s of sides) s.ch.close();
await server.close(0);
Deno.exit(0);
