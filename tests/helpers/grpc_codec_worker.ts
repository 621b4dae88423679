// A Worker with module instances of its own, so that storeapi/grpc.ts starts with its
// compressors unloaded, as in an evaluation Worker (tests/storeapi/grpc_codecs_lazy_test.ts).
// {mode: "server"}: serves an echo unary at ECHO_PATH and answers {port}; {stop: true} closes it.
// {mode: "call", port, compression}: one echo call, answered with {reply} or {error}.

import { type Compression, GrpcChannel, GrpcServer } from "../../storeapi/grpc.ts";

/** The echo method both sides use. */
export const ECHO_PATH = "/t.Test/Echo";

interface Scope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(m: unknown): void;
}
const scope = globalThis as unknown as Scope;
let server: GrpcServer | undefined;

scope.onmessage = async (e: MessageEvent) => {
  const m = e.data as {
    mode?: "server" | "call";
    stop?: boolean;
    port?: number;
    compression?: "none" | Compression;
    message?: Uint8Array;
  };
  try {
    if (m.stop) {
      await server?.close();
      scope.postMessage({ stopped: true });
    } else if (m.mode === "server") {
      server = new GrpcServer().unary(ECHO_PATH, (req) => Promise.resolve(req));
      const { port } = await server.listen("127.0.0.1", 0);
      scope.postMessage({ port });
    } else if (m.mode === "call") {
      const ch = new GrpcChannel(`127.0.0.1:${m.port}`, { compression: m.compression });
      try {
        const reply = await ch.unary(ECHO_PATH, m.message!, { timeoutMs: 10_000 });
        scope.postMessage({ reply });
      } finally {
        ch.close();
      }
    }
  } catch (err) {
    scope.postMessage({ error: String(err) });
  }
};
