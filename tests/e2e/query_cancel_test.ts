// A client that goes away cancels the querier's store streams: a store whose Series stream
// stays open until cancelled sees the cancellation, and its gRPC metrics count the call as
// Canceled, as Thanos's grpc_server_handled_total does.

import { assert } from "../helpers/assert.ts";
import { startQuerier } from "../helpers/query_e2e.ts";
import { Registry } from "../../metrics/registry.ts";
import { type SeriesItem, type StoreBackend, StoreServer } from "../../storeapi/server.ts";
import type { StoreInfo } from "../../storeapi/codec.ts";
import { XorAppender } from "../../tsdb/chunkenc/xor.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";

const T0 = 1_700_000_000_000;

/** A store that sends one series, then holds the stream open until the call is cancelled. */
class HangingStore implements StoreBackend {
  cancelled = 0;
  streamsOpen = 0;
  info(): Promise<StoreInfo> {
    return Promise.resolve({
      componentType: "store",
      labelSets: [labelsFromObject({ region: "east" })],
      minTime: T0,
      maxTime: T0 + 3600_000,
      storeApi: true,
    });
  }
  async *series(_req: unknown, signal: AbortSignal): AsyncIterable<SeriesItem> {
    const app = new XorAppender();
    for (let i = 0; i < 10; i++) app.append(T0 + i * 15_000, i);
    yield {
      labels: labelsFromObject({ __name__: "slow_metric", job: "a" }),
      chunks: [{
        minTime: T0,
        maxTime: T0 + 135_000,
        encoding: ChunkEncoding.XOR,
        data: app.bytes(),
      }],
    };
    this.streamsOpen++;
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    this.cancelled++;
  }
  labelNames() {
    return Promise.resolve({ names: [], warnings: [] });
  }
  labelValues() {
    return Promise.resolve({ values: [], warnings: [] });
  }
}

Deno.test({
  name: "a client disconnect cancels the store streams (grpc_server_handled_total Canceled)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const backend = new HangingStore();
    const registry = new Registry();
    const server = new StoreServer(backend, { registry, serving: true });
    const addr = await server.listen("127.0.0.1", 0);
    const querier = await startQuerier([`--store=127.0.0.1:${addr.port}`, "--query.timeout=2m"]);
    try {
      const ac = new AbortController();
      const pending = fetch(
        `${querier.url}/api/v1/query?query=sum(slow_metric)&time=${(T0 + 60_000) / 1000}`,
        { signal: ac.signal },
      ).catch((e) => e);
      for (let i = 0; i < 200 && backend.streamsOpen === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert(backend.streamsOpen === 1, "the querier never opened the store stream");
      ac.abort();
      await pending;
      for (let i = 0; i < 200 && backend.cancelled === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert(backend.cancelled === 1, "the store stream was not cancelled after the disconnect");
      let metrics = "";
      for (let i = 0; i < 100; i++) {
        metrics = await registry.expose();
        if (metrics.includes('grpc_code="Canceled"')) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      assert(
        /grpc_server_handled_total\{grpc_code="Canceled",grpc_method="Series",grpc_service="thanos.Store",grpc_type="server_stream"\} 1/
          .test(metrics),
        metrics,
      );
    } finally {
      await querier.stop();
      await server.close(0);
    }
  },
});
