// The trigger of issue 20 (1) against the gRPC server: node:http2 clients (each its own process)
// make 13 Series calls of ~2 MB, sit idle, then close their sessions (GOAWAY). On node:http2 the
// server process aborted inside nghttp2 (find_stream_on_goaway_func assertion); on
// storeapi/h2server.ts it must live. `--root` runs the server of another checkout (to compare).
//   deno run -A bench/grpc_server_goaway_idle.ts [--clients=4] [--idle-ms=250000] [--root=DIR]

import http2 from "node:http2";
import { parseArgs } from "node:util";
import { grpcMessage } from "../tests/helpers/h2_raw.ts";
import { seriesRequest } from "../tests/helpers/grpc_chaos.ts";
import { freePort } from "../tests/helpers/ports.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    clients: { type: "string", default: "4" },
    "idle-ms": { type: "string", default: "250000" },
    root: { type: "string", default: new URL("..", import.meta.url).pathname },
    client: { type: "string", default: "" }, // internal: run as one client against this port
  },
});
const idleMs = Number(values["idle-ms"]);

if (values.client !== "") {
  const s = http2.connect(`http://127.0.0.1:${values.client}`);
  s.on("error", () => {});
  for (let i = 0; i < 13; i++) {
    await new Promise<void>((resolve) => {
      const r = s.request({
        ":method": "POST",
        ":path": "/thanos.Store/Series",
        "content-type": "application/grpc",
        te: "trailers",
      });
      r.on("error", () => resolve());
      r.on("data", () => {});
      r.on("close", () => resolve());
      r.end(grpcMessage(seriesRequest(480)));
    });
  }
  await new Promise((r) => setTimeout(r, idleMs));
  s.close();
  await new Promise((r) => setTimeout(r, 1000));
  Deno.exit(0);
}

const root = values.root.endsWith("/") ? values.root : values.root + "/";
const port = freePort();
const server = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    "--config",
    `${root}deno.json`,
    `${root}tests/helpers/grpc_chaos_server.ts`,
    String(port),
  ],
  stdout: "piped",
  stderr: "piped",
}).spawn();
const serverOut = (async () => {
  const [o, e] = await Promise.all([
    new Response(server.stdout).text(),
    new Response(server.stderr).text(),
  ]);
  return o + e;
})();
let exited: Deno.CommandStatus | undefined;
server.status.then((s) => exited = s);
await new Promise((r) => setTimeout(r, 5000));
const self = new URL(import.meta.url).pathname;
const clients = Array.from(
  { length: Number(values.clients) },
  () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", self, `--client=${port}`, `--idle-ms=${idleMs}`],
      stdout: "null",
      stderr: "null",
    }).output(),
);
const results = await Promise.all(clients);
await new Promise((r) => setTimeout(r, 1000));
const alive = exited === undefined;
if (alive) server.kill("SIGTERM");
const out = await serverOut;
console.log(JSON.stringify({
  root,
  clients: results.length,
  idleMs,
  clientExitCodes: results.map((r) => r.code),
  serverAlive: alive,
  serverExit: exited ? { code: exited.code, signal: exited.signal } : null,
  serverLogTail: out.slice(-300),
}));
