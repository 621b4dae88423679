// A StoreAPI client and server of one process joined by an in-memory connection: a call takes the
// whole wire path (request encoding, HTTP/2 and gRPC framing on both ends, the server's Series
// encoder, the client's decoder and merge) with no socket. The store gateway's and the querier's
// start-up warm-ups (store/warmup.ts, query/warmup.ts) call through it, so the transport's
// per-call code is compiled before the first real call (issue 19: a call's HTTP/2 and gRPC work
// cost about twice its steady-state CPU during the first few hundred calls after a start).

import { StoreClient } from "./client.ts";
import { memoryConnPair } from "./memory_conn.ts";
import { type StoreBackend, StoreServer } from "./server.ts";

/** A client whose calls reach `backend` through a {@link StoreServer} in this process. */
export interface LoopbackStore {
  client: StoreClient;
  /** Closes the client and the server (calls still running are cancelled). */
  close(): Promise<void>;
}

/** Serves `backend` to a {@link StoreClient} over an in-memory connection. */
export function loopbackStore(backend: StoreBackend): LoopbackStore {
  const server = new StoreServer(backend, { serving: true });
  const client = new StoreClient("loopback:0", {
    dial: () => {
      const [ours, theirs] = memoryConnPair();
      server.grpc.serveConnection(theirs);
      return ours;
    },
  });
  return {
    client,
    close: async () => {
      client.close();
      await server.close();
    },
  };
}
