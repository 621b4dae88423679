// Issue 20: clients that cancel, reset, send GOAWAY, close the socket, stop reading or cut a frame
// in half at random points of random streams never take the gRPC server down (it runs as its own
// process: a death is seen, not hidden by the test runner), streams they do not touch still
// complete, and our client survives a server that goes away and comes back. Bounded: a few dozen
// small rounds (bench/grpc_chaos.ts runs thousands of 20 MB ones).

import { assert, assertEquals } from "../helpers/assert.ts";
import {
  ACTIONS,
  chaosRound,
  readAll,
  restartRound,
  rng,
  startChaosServer,
} from "../helpers/grpc_chaos.ts";

Deno.test({
  name: "random cancels, resets, GOAWAYs and socket closes never take the gRPC server down",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await startChaosServer();
    try {
      const rnd = rng(20);
      const seen = new Set<string>();
      let incomplete = 0;
      for (let i = 0; i < 48; i++) {
        const r = await chaosRound(server.grpcPort, rnd, 200);
        seen.add(r.action);
        incomplete += r.incomplete;
        assert(server.alive, `server died in round ${i} (${r.action}):\n${server.logs()}`);
      }
      assertEquals(incomplete, 0, "streams untouched by the chaos did not complete");
      // every kind of abuse was exercised at least once
      assertEquals([...seen].sort(), [...ACTIONS].sort());
      // and the server still answers in full
      assertEquals(await readAll(server.grpcPort, 300), 300);
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "our client survives a server that goes away (GOAWAY or a dropped socket) and reconnects",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let server = await startChaosServer();
    try {
      const rnd = rng(7);
      for (let i = 0; i < 4; i++) {
        const r = await restartRound(server, rnd, 2000);
        server = r.server;
        assertEquals(r.after, 100, `round ${i}: no full answer after the restart`);
      }
    } finally {
      await server.stop();
    }
  },
});
