// Standalone reproducer of the runtime fault behind issue 20 (1): Deno 2.9.6's node:http2 aborts
// the whole process inside nghttp2 when a GOAWAY arrives on a session that carried a few large
// streams and then sat idle:
//   nghttp2_session.c: find_stream_on_goaway_func: Assertion `stream->closed_next == NULL' failed
// (exit 134), or SIGSEGV (exit 139). No JavaScript can catch it. It matches the open Deno issue
// https://github.com/denoland/deno/issues/36788. node:http2 only, client and server in one
// process:
//   deno run -A bench/deno_http2_goaway_crash.ts [calls=13] [idleMs=250000] [bytes=2000000]
// Prints "survived" when the process lives through the GOAWAY.

import http2 from "node:http2";

const CALLS = Number(Deno.args[0] ?? 13);
const IDLE_MS = Number(Deno.args[1] ?? 250_000);
const BYTES = Number(Deno.args[2] ?? 2_000_000);

const server = http2.createServer();
const sessions = new Set<http2.ServerHttp2Session>();
server.on("session", (s) => {
  sessions.add(s);
  s.on("error", () => {});
});
server.on("stream", (stream) => {
  stream.on("error", () => {});
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.end(new Uint8Array(BYTES));
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
const port = (server.address() as { port: number }).port;

const client = http2.connect(`http://127.0.0.1:${port}`);
client.on("error", () => {});
for (let i = 0; i < CALLS; i++) {
  await new Promise<void>((resolve) => {
    const req = client.request({ ":method": "POST", ":path": "/x", te: "trailers" });
    req.on("error", () => resolve());
    req.on("data", () => {});
    req.on("close", () => resolve());
    req.end(new Uint8Array(5));
  });
}
await new Promise((r) => setTimeout(r, IDLE_MS));
for (const s of sessions) s.goaway(0, 225); // NO_ERROR, a last stream id above all used ones
await new Promise((r) => setTimeout(r, 1000));
console.log("survived");
Deno.exit(0);
