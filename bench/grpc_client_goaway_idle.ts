// The querier side of issue 20 (1): our gRPC server (storeapi/h2server.ts) streams 13 answers of
// 2 MB to our client (GrpcChannel), the connection sits idle, then the server shuts down
// gracefully (GOAWAY). On node:http2 the client process could die inside the runtime's nghttp2
// (SIGSEGV / find_stream_on_goaway_func abort, as in bench/deno_http2_goaway_crash.ts; 4 of 9
// runs); the client now runs on storeapi/h2client.ts. Run several in parallel (mostly idle):
//   deno run -A bench/grpc_client_goaway_idle.ts [idleMs=250000]
// Prints "survived" when the client process lives through the GOAWAY, and checks that a call
// after it reconnects.

import { GrpcChannel, GrpcServer, putFrameHeader } from "../storeapi/grpc.ts";

const IDLE_MS = Number(Deno.args[0] ?? 250_000);
const ANSWER = new Uint8Array(5 + 2_000_000);
putFrameHeader(ANSWER, 0, false, 2_000_000);

const server = new GrpcServer();
server.serverStream("/t.Test/Big", async (_req, _ctx, out) => {
  await out.sendFramed(ANSWER.slice());
});
const { port } = await server.listen("127.0.0.1", 0);
const channel = new GrpcChannel(`127.0.0.1:${port}`);
for (let i = 0; i < 13; i++) {
  for await (const _ of channel.serverStream("/t.Test/Big", new Uint8Array(0))) {
    // drain
  }
}
await new Promise((r) => setTimeout(r, IDLE_MS));
await server.close(500);
await new Promise((r) => setTimeout(r, 1000));
// a new server on the same port: the channel dials a new connection after the GOAWAY
const again = new GrpcServer();
again.serverStream("/t.Test/Big", async (_req, _ctx, out) => {
  await out.sendFramed(ANSWER.slice());
});
await again.listen("127.0.0.1", port);
let bytes = 0;
for await (const m of channel.serverStream("/t.Test/Big", new Uint8Array(0))) bytes += m.length;
await again.close(500);
console.log(`survived (after the GOAWAY: ${bytes} bytes on a new connection)`);
Deno.exit(0);
