// Test peer for gRPC chaos runs: a StoreServer (our gRPC server) as its own process, so a test
// can tell a dead server from a failed call. Series answers `maxTime` series (at most 100,000),
// each with one 4 KiB chunk: a request picks its response size (5,000 series ≈ 20 MB).
//   deno run -A tests/helpers/grpc_chaos_server.ts <port> [stallTimeoutMs]
// Prints "READY <port>" once serving.

import { StoreServer } from "../../storeapi/server.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";

const CHUNK = new Uint8Array(4096).map((_, i) => (i * 31) & 0xff);

if (import.meta.main) {
  const port = Number(Deno.args[0] ?? 0);
  const stallTimeoutMs = Deno.args[1] ? Number(Deno.args[1]) : undefined;
  const server = new StoreServer({
    info: () =>
      Promise.resolve({
        componentType: "store",
        labelSets: [],
        minTime: 0,
        maxTime: 1e12,
        storeApi: true,
      }),
    async *series(req, signal) {
      const n = Math.min(100_000, Math.max(0, req.maxTime));
      for (let i = 0; i < n; i++) {
        if (signal.aborted) throw signal.reason;
        yield {
          labels: labelsFromObject({ __name__: "chaos", i: String(i).padStart(6, "0") }),
          chunks: [{ minTime: i, maxTime: i + 1, encoding: ChunkEncoding.XOR, data: CHUNK }],
        };
      }
    },
    labelNames: () => Promise.resolve({ names: ["__name__", "i"], warnings: [] }),
    labelValues: () => Promise.resolve({ values: [], warnings: [] }),
  }, { serving: true, stallTimeoutMs });
  const addr = await server.listen("127.0.0.1", port);
  console.log(`READY ${addr.port}`);
  const stop = () => server.close(1000).then(() => Deno.exit(0));
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
