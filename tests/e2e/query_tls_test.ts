// gRPC over mutual TLS through the real CLI: a store serving with `--grpc-server-tls-cert/-key/
// -client-ca` and a querier reaching it with `--grpc-client-tls-secure/-cert/-key/-ca` and
// `--grpc-client-server-name` (both sides on our own HTTP/2 over node:tls, issue 20). The store's
// block answers through the querier; a client without a certificate is refused.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { smallDataset, T0, writeBlocks } from "../helpers/query_e2e.ts";
import { eventually } from "../helpers/sidecar_lab.ts";
import { type Proc, startComponent } from "../helpers/thanos.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";

const CERTS = new URL("../storeapi/testdata/", import.meta.url).pathname;

Deno.test({
  name: "query → store over mutual TLS through the CLI flags",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dirs = new TempDirs();
    const procs: Proc[] = [];
    try {
      const root = await dirs.make();
      await writeBlocks(`${root}/bucket`, smallDataset(1, 5).series);
      const store = await startComponent("store", [
        `--objstore.config=type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`,
        `--data-dir=${root}/store`,
        "--log.level=warn",
        `--grpc-server-tls-cert=${CERTS}server.crt`,
        `--grpc-server-tls-key=${CERTS}server.key`,
        `--grpc-server-tls-client-ca=${CERTS}ca.crt`,
      ], { timeoutMs: 60_000 });
      procs.push(store);
      const query = await startComponent("query", [
        `--endpoint=${store.grpc}`,
        "--log.level=warn",
        "--grpc-client-tls-secure",
        `--grpc-client-tls-cert=${CERTS}client.crt`,
        `--grpc-client-tls-key=${CERTS}client.key`,
        `--grpc-client-tls-ca=${CERTS}ca.crt`,
        "--grpc-client-server-name=localhost",
      ], { name: "querier" });
      procs.push(query);
      await eventually("the store's series through the querier", async () => {
        const u = `${query.http}/api/v1/query?query=${
          encodeURIComponent('count({__name__=~".+"})')
        }&time=${(T0 + 3600_000) / 1000}`;
        const r = await fetch(u, { signal: AbortSignal.timeout(10_000) });
        const body = await r.json();
        assertEquals(r.status, 200, JSON.stringify(body));
        return body.data.result.length === 1;
      });
      // without a client certificate the handshake fails: the call is Unavailable. The server's
      // refusal (an alert right after the handshake) must never surface as an unhandled error
      // event in the client process: ten fresh connections.
      for (let i = 0; i < 10; i++) {
        const anonymous = new StoreClient(store.grpc, {
          timeoutMs: 5000,
          tls: { caFile: `${CERTS}ca.crt`, serverName: "localhost" },
        });
        try {
          const err = await assertRejects(() => anonymous.info());
          assert(err instanceof GrpcError && err.code === GrpcStatus.UNAVAILABLE, String(err));
        } finally {
          anonymous.close();
        }
      }
      // the refused handshakes cost the store nothing
      assert(store.alive, `the store died:\n${store.logs()}`);
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await dirs.cleanup();
    }
  },
});
