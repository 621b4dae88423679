// The gRPC Query API's handlers (query/grpc_api.ts) on this thread over an in-memory proxy: the
// request's replica labels win over the flag's, dedup is the request's, frames come in Thanos's
// order (warnings, series, stats), an instant query of a range vector streams no series, and bad
// requests answer InvalidArgument.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { QueryGrpcApi } from "../../query/grpc_api.ts";
import { type ProxyEndpoint, StoreProxy } from "../../storeapi/proxy.ts";
import {
  GrpcError,
  type GrpcServer,
  GrpcStatus,
  type ServerStreamHandler,
} from "../../storeapi/grpc.ts";
import {
  decodeQueryResponse,
  encodeQueryRangeRequest,
  encodeQueryRequest,
  type EngineType,
  QUERY_METHODS,
  type QueryRangeRequest,
  type QueryRequest,
  type QueryResponseFrame,
  unframe,
} from "../../storeapi/query.ts";
import { XorAppender } from "../../tsdb/chunkenc/xor.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";

/** A store of `x{id, replica}` series (value id + minute, one sample a minute over 1 h). */
function replicaStore(replica: string): ProxyEndpoint {
  return {
    name: `${replica}:10901`,
    info: { componentType: "store", labelSets: [], minTime: 0, maxTime: 10 ** 13 },
    client: {
      async *series() {
        for (let k = 0; k < 2; k++) {
          const app = new XorAppender();
          for (let i = 0; i <= 60; i++) app.append(i * 60_000, k + i);
          yield {
            labels: labelsFromObject({ __name__: "x", id: String(k), replica }),
            chunks: [{
              minTime: 0,
              maxTime: 60 * 60_000,
              encoding: ChunkEncoding.XOR,
              data: app.bytes().slice(),
            }],
          };
        }
      },
      labelNames: () => Promise.resolve({ names: [], warnings: [] }),
      labelValues: () => Promise.resolve({ values: [], warnings: [] }),
    },
  };
}

function failingStore(): ProxyEndpoint {
  const fail = () => Promise.reject(new Error("store exploded"));
  return {
    name: "bad:10901",
    info: { componentType: "store", labelSets: [], minTime: 0, maxTime: 10 ** 13 },
    client: {
      // deno-lint-ignore require-yield
      async *series() {
        throw new Error("store exploded");
      },
      labelNames: fail,
      labelValues: fail,
    },
  };
}

/** The API's two handlers, registered on a stand-in server. */
function handlers(endpoints: ProxyEndpoint[], replicaLabels: string[]) {
  const h = new Map<string, ServerStreamHandler>();
  const grpc = { serverStream: (p: string, fn: ServerStreamHandler) => h.set(p, fn) };
  new QueryGrpcApi({
    proxy: new StoreProxy({ endpoints: () => endpoints }),
    replicaLabels,
    dedupFunc: "penalty",
    queryTimeoutMs: 10_000,
    lookbackDeltaMs: 300_000,
    maxSamples: 1_000_000,
    maxConcurrentSelect: 4,
    defaultEvaluationIntervalMs: 60_000,
    gate: (fn) => fn(),
  }).register(grpc as unknown as GrpcServer);
  return h;
}

async function call(
  h: Map<string, ServerStreamHandler>,
  path: string,
  req: Uint8Array,
  compressed = false,
): Promise<QueryResponseFrame[]> {
  const out: QueryResponseFrame[] = [];
  await h.get(path)!(req, { signal: new AbortController().signal, metadata: {} }, {
    compressed,
    send: (m) => {
      out.push(decodeQueryResponse(m)!);
      return Promise.resolve();
    },
    sendFramed: (f) => {
      for (const m of unframe(f)) out.push(decodeQueryResponse(m)!);
      return Promise.resolve();
    },
  });
  return out;
}

const instant = (h: Map<string, ServerStreamHandler>, r: QueryRequest, compressed = false) =>
  call(h, QUERY_METHODS.query, encodeQueryRequest(r), compressed);
const range = (h: Map<string, ServerStreamHandler>, r: QueryRangeRequest) =>
  call(h, QUERY_METHODS.queryRange, encodeQueryRangeRequest(r));

function seriesOf(frames: QueryResponseFrame[]) {
  return frames.flatMap((f) => "series" in f ? f.series : []);
}

Deno.test("gRPC Query: the request's replica labels and dedup decide, the flag's are the default", async () => {
  const h = handlers([replicaStore("a"), replicaStore("b")], ["other"]);
  const base = { query: "x", timeSeconds: 1800 };
  assertEquals(seriesOf(await instant(h, base)).length, 4, "dedup off by default (proto3)");
  assertEquals(seriesOf(await instant(h, { ...base, enableDedup: true })).length, 4);
  const dedup = seriesOf(
    await instant(h, { ...base, enableDedup: true, replicaLabels: ["replica"] }),
  );
  assertEquals(dedup.map((s) => s.labels), [
    ["__name__", "x", "id", "0"],
    ["__name__", "x", "id", "1"],
  ]);
  assertEquals(dedup.map((s) => [s.ts, s.vs]), [[[1_800_000], [30]], [[1_800_000], [31]]]);
  const flag = handlers([replicaStore("a"), replicaStore("b")], ["replica"]);
  assertEquals(seriesOf(await instant(flag, { ...base, enableDedup: true })).length, 2);
});

Deno.test("gRPC Query: warnings first, then series, then stats; compressed streams frame by frame", async () => {
  const h = handlers([replicaStore("a"), failingStore()], []);
  for (const compressed of [false, true]) {
    const frames = await instant(h, {
      query: "sum(x)",
      timeSeconds: 600,
      enablePartialResponse: true,
      responseBatchSize: 10,
    }, compressed);
    assertEquals(frames.length, 3, JSON.stringify(frames));
    assert("warnings" in frames[0] && frames[0].warnings.includes("store exploded"));
    assertEquals(frames[1], { series: [{ labels: [], ts: [600_000], vs: [21] }] });
    assertEquals(frames[2], { stats: { samplesTotal: 0, peakSamples: 0 } });
  }
  // an evaluation error: a warnings frame under partial response (instant queries), else Aborted
  const many = handlers([replicaStore("a")], []);
  const q = { query: "x * on() group_left x", timeSeconds: 600 };
  const warned = await instant(many, { ...q, enablePartialResponse: true });
  assertEquals(warned.length, 1);
  assert(
    "warnings" in warned[0] && warned[0].warnings.includes("many-to-many"),
    JSON.stringify(warned[0]),
  );
  const exec = await assertRejects(() => instant(many, q), GrpcError);
  assertEquals((exec as GrpcError).code, GrpcStatus.ABORTED);
  // without partial response the store's failure aborts the query
  const e = await assertRejects(() => instant(h, { query: "sum(x)", timeSeconds: 600 }), GrpcError);
  assertEquals((e as GrpcError).code, GrpcStatus.ABORTED);
});

Deno.test("gRPC QueryRange: a matrix in batches; an instant range vector streams no series", async () => {
  const h = handlers([replicaStore("a")], []);
  const frames = await range(h, {
    query: "x",
    startTimeSeconds: 0,
    endTimeSeconds: 600,
    intervalSeconds: 300,
    responseBatchSize: 64,
  });
  assertEquals(frames.length, 2);
  assertEquals(seriesOf(frames).map((s) => [s.ts, s.vs]), [
    [[0, 300_000, 600_000], [0, 5, 10]],
    [[0, 300_000, 600_000], [1, 6, 11]],
  ]);
  const m = await instant(h, { query: "x[5m]", timeSeconds: 600 });
  assertEquals(m, [{ stats: { samplesTotal: 0, peakSamples: 0 } }]);
  const s = await instant(h, { query: "1 + 1", timeSeconds: 600 });
  assertEquals(seriesOf(s), [{ labels: [], ts: [600_000], vs: [2] }]);
});

Deno.test("gRPC Query: bad requests are InvalidArgument, bad queries Unknown", async () => {
  const h = handlers([replicaStore("a")], []);
  const badBytes = await assertRejects(
    () => call(h, QUERY_METHODS.query, new Uint8Array([0x0a, 0x05, 0x41])),
    GrpcError,
  );
  assertEquals((badBytes as GrpcError).code, GrpcStatus.INVALID_ARGUMENT);
  const badEngine = await assertRejects(
    () => instant(h, { query: "x", engine: 7 as EngineType }),
    GrpcError,
  );
  assertEquals((badEngine as GrpcError).code, GrpcStatus.INVALID_ARGUMENT);
  assertEquals((badEngine as GrpcError).details, "invalid engine parameter");
  const parse = await assertRejects(() => instant(h, { query: "x{" }), GrpcError);
  assertEquals((parse as GrpcError).code, GrpcStatus.UNKNOWN);
  const step = await assertRejects(
    () => range(h, { query: "x", startTimeSeconds: 0, endTimeSeconds: 60, intervalSeconds: 0 }),
    GrpcError,
  );
  assertEquals((step as GrpcError).code, GrpcStatus.UNKNOWN);
  for (
    const r of [{ startTimeSeconds: 60, endTimeSeconds: 0 }, {
      startTimeSeconds: 0,
      endTimeSeconds: 10 ** 9,
    }]
  ) {
    const e = await assertRejects(
      () => range(h, { query: "x", ...r, intervalSeconds: 1 }),
      GrpcError,
    );
    assertEquals((e as GrpcError).code, GrpcStatus.UNKNOWN);
  }
});
