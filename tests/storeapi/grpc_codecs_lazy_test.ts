// The gRPC compressors (node:zlib, snappyjs) load when a call first needs one (storeapi/grpc.ts
// loadCodecs), so that an evaluation Worker starts without them. Each case runs its side in a
// fresh Worker (tests/helpers/grpc_codec_worker.ts: module instances of its own, compressors not
// yet loaded) and makes that side's first call a compressed one.

import { gzipSync } from "node:zlib";
import { assert, assertEquals } from "../helpers/assert.ts";
import { grpcMessage, RawH2, RawH2Server } from "../helpers/h2_raw.ts";
import { ECHO_PATH } from "../helpers/grpc_codec_worker.ts";
import { GrpcChannel, GrpcServer } from "../../storeapi/grpc.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const MESSAGE = new TextEncoder().encode("a message to compress ".repeat(40));

/** A fresh Worker running tests/helpers/grpc_codec_worker.ts; `ask` sends one message. */
function freshWorker() {
  const w = new Worker(new URL("../helpers/grpc_codec_worker.ts", import.meta.url), {
    type: "module",
  });
  const ask = (m: unknown) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      w.postMessage(m);
    });
  return { ask, close: () => w.terminate() };
}

async function withFreshServer(fn: (port: number) => Promise<void>) {
  const w = freshWorker();
  try {
    const started = await w.ask({ mode: "server" });
    assert(typeof started.port === "number", JSON.stringify(started));
    await fn(started.port);
    assertEquals(await w.ask({ stop: true }), { stopped: true });
  } finally {
    w.close();
  }
}

for (const compression of ["snappy", "gzip", "deflate"] as const) {
  Deno.test(
    `a server's first request, ${compression}-compressed, is read and answered`,
    opts,
    () =>
      withFreshServer(async (port) => {
        const ch = new GrpcChannel(`127.0.0.1:${port}`, { compression });
        try {
          const reply = await ch.unary(ECHO_PATH, MESSAGE, { timeoutMs: 10_000 });
          assertEquals(new Uint8Array(reply), MESSAGE);
        } finally {
          ch.close();
        }
      }),
  );
}

Deno.test(
  "a server's first request names gzip but comes uncompressed: answered gzip-compressed",
  opts,
  () =>
    withFreshServer(async (port) => {
      const c = await RawH2.connect(port);
      try {
        const id = await c.call(ECHO_PATH, grpcMessage(MESSAGE), {
          "grpc-encoding": "gzip",
          "grpc-accept-encoding": "gzip",
        });
        assert(await c.until(() => c.status(id) !== undefined), "no status");
        assertEquals(c.status(id)?.code, 0, c.status(id)?.message);
        assertEquals(c.streams.get(id)!.headers[0]["grpc-encoding"], "gzip");
        assert(c.streams.get(id)!.data > 5, "no answer");
      } finally {
        c.close();
      }
    }),
);

Deno.test("a client's first request is compressed (gzip) and its answer read", opts, async () => {
  const server = new GrpcServer().unary(ECHO_PATH, (req) => Promise.resolve(req));
  const { port } = await server.listen("127.0.0.1", 0);
  const w = freshWorker();
  try {
    assertEquals(await w.ask({ mode: "call", port, compression: "gzip", message: MESSAGE }), {
      reply: MESSAGE,
    });
  } finally {
    w.close();
    await server.close();
  }
});

Deno.test("a client's first answer comes gzip-compressed though it sent none", opts, async () => {
  // a server may compress its answer with any encoding the client accepts (the gRPC spec)
  const gz = gzipSync(MESSAGE);
  const srv = RawH2Server.listen(0, (c, st) => {
    c.headers(st.id, {
      ":status": "200",
      "content-type": "application/grpc",
      "grpc-encoding": "gzip",
    });
    c.data(st.id, grpcMessage(gz, gz.length, 1));
    c.trailers(st.id);
  });
  const w = freshWorker();
  try {
    const got = await w.ask({
      mode: "call",
      port: srv.port,
      compression: "none",
      message: MESSAGE,
    });
    assertEquals(got, { reply: MESSAGE });
  } finally {
    w.close();
    srv.close();
  }
});
