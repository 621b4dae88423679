// Series-style streaming throughput of our gRPC client (GrpcChannel on storeapi/h2client.ts)
// against a node:http2 client reading the same stream (the transport the client used before
// issue 20), side by side in one run: the same server (our GrpcServer) streams the same
// messages (~4 KiB, the size of one series frame with a chunk) to each, alternating rounds.
//   deno run -A bench/grpc_client_throughput.ts [messages=20000] [rounds=5]

import http2 from "node:http2";
import { GrpcChannel, GrpcServer, putFrameHeader } from "../storeapi/grpc.ts";

const MESSAGES = Number(Deno.args[0] ?? 20_000);
const ROUNDS = Number(Deno.args[1] ?? 5);
const SIZE = 4150;
const BATCH = 64;
const framed = new Uint8Array(BATCH * (5 + SIZE));
for (let i = 0; i < BATCH; i++) putFrameHeader(framed, i * (5 + SIZE), false, SIZE);

const server = new GrpcServer();
server.serverStream("/t.Bench/Series", async (_req, _ctx, out) => {
  for (let sent = 0; sent < MESSAGES; sent += BATCH) await out.sendFramed(framed.slice());
});
const { port } = await server.listen("127.0.0.1", 0);
const total = Math.ceil(MESSAGES / BATCH) * BATCH;

async function ours(ch: GrpcChannel): Promise<number> {
  let n = 0;
  for await (const _ of ch.serverStream("/t.Bench/Series", new Uint8Array(0))) n++;
  return n;
}

/** node:http2: the same call, messages split out of the data events by their 5-byte prefix. */
function node(session: http2.ClientHttp2Session): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ":method": "POST",
      ":path": "/t.Bench/Series",
      "content-type": "application/grpc",
      te: "trailers",
    });
    req.end(new Uint8Array(5));
    let n = 0;
    let need = 5;
    let inHeader = true;
    const hdr = new Uint8Array(5);
    let hfill = 0;
    req.on("data", (c: Uint8Array) => {
      let p = 0;
      while (p < c.length) {
        if (inHeader) {
          while (hfill < 5 && p < c.length) hdr[hfill++] = c[p++];
          if (hfill === 5) {
            need = ((hdr[1] << 24) | (hdr[2] << 16) | (hdr[3] << 8) | hdr[4]) >>> 0;
            inHeader = false;
            hfill = 0;
            if (need === 0) {
              n++;
              inHeader = true;
            }
          }
        } else {
          const k = Math.min(need, c.length - p);
          // a message spanning chunks is assembled, as a client must
          if (k < need || p + k > c.length) c.slice(p, p + k);
          need -= k;
          p += k;
          if (need === 0) {
            n++;
            inHeader = true;
          }
        }
      }
    });
    req.on("end", () => resolve(n));
    req.on("error", reject);
  });
}

const ch = new GrpcChannel(`127.0.0.1:${port}`);
const session = http2.connect(`http://127.0.0.1:${port}`);
session.on("error", () => {});
const results: { ours: number[]; node: number[] } = { ours: [], node: [] };
// one warm-up call each
await ours(ch);
await node(session);
for (let r = 0; r < ROUNDS; r++) {
  let t = performance.now();
  const a = await ours(ch);
  results.ours.push(performance.now() - t);
  t = performance.now();
  const b = await node(session);
  results.node.push(performance.now() - t);
  if (a !== total || b !== total) throw new Error(`message counts ${a}, ${b} (want ${total})`);
}
const median = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
const mb = total * (SIZE + 5) / 1e6;
const o = median(results.ours);
const n = median(results.node);
console.log(
  `${total} messages of ${SIZE} B (${mb.toFixed(1)} MB) per call, ${ROUNDS} rounds, median: ` +
    `h2client ${o.toFixed(0)} ms (${(mb / o * 1000).toFixed(0)} MB/s), node:http2 ` +
    `${n.toFixed(0)} ms (${(mb / n * 1000).toFixed(0)} MB/s), ratio h2client/node ` +
    `${(n / o).toFixed(2)}x throughput`,
);
ch.close();
session.destroy();
await server.close(100);
Deno.exit(0);
