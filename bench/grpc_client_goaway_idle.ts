// The querier side of issue 20 (1), still open: our gRPC server (storeapi/h2server.ts, no
// nghttp2) streams 13 answers of 2 MB to our client (GrpcChannel on node:http2), the connection
// sits idle, then the server shuts down gracefully (GOAWAY). The client process can die inside
// the runtime's nghttp2 (SIGSEGV / find_stream_on_goaway_func abort), as in
// bench/deno_http2_goaway_crash.ts. Run several in parallel (mostly idle):
//   deno run -A bench/grpc_client_goaway_idle.ts [idleMs=250000]
// Prints "survived" when the client process lives through the GOAWAY.

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
console.log("survived");
Deno.exit(0);
