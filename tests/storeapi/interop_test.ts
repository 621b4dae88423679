// Interop with independent implementations: @grpc/grpc-js as gRPC peer and protobufjs compiling
// our storeapi/proto/*.proto files. Proves the transport speaks standard gRPC and that the .proto
// files, the hand-written codec and the server agree on every field.

// deno-lint-ignore-file no-explicit-any
import { Buffer } from "node:buffer";
import { assert, assertEquals } from "../helpers/assert.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";
import {
  decodeInfoResponse,
  decodeSeriesRequest,
  encodeInfoResponse,
  encodeSeriesRequest,
  INT64_MAX,
  type SeriesRequest,
} from "../../storeapi/codec.ts";
import { type SeriesItem, type StoreBackend, StoreServer } from "../../storeapi/server.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { withExternalLabels } from "../../storeapi/external_labels.ts";
import { GrpcChannel, GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";

// Loaded through computed specifiers so that the @types/node protobufjs depends on stays out of
// type checking: it replaces Deno's node types for every file checked in the same run.
const GRPC_JS = "npm:@grpc/grpc-js@1.14.7";
const PROTOBUFJS = "npm:protobufjs@7.6.6";
const grpc: any = await import(GRPC_JS);
const protobuf: any = (await import(PROTOBUFJS)).default;

const PROTO_DIR = new URL("../../storeapi/proto/", import.meta.url).pathname;
const root: any = protobuf.loadSync(
  ["rpc.proto", "info.proto", "hints.proto", "health.proto"].map((f) => PROTO_DIR + f),
);
const T = {
  SeriesRequest: root.lookupType("thanos.SeriesRequest"),
  SeriesResponse: root.lookupType("thanos.SeriesResponse"),
  InfoResponse: root.lookupType("thanos.info.InfoResponse"),
  HealthCheckResponse: root.lookupType("grpc.health.v1.HealthCheckResponse"),
};

const opts = { sanitizeOps: false, sanitizeResources: false };
const raw = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

const backend: StoreBackend = {
  info: () =>
    Promise.resolve({
      componentType: "receive",
      labelSets: [],
      minTime: -1000,
      maxTime: INT64_MAX,
      supportsSharding: false,
    }),
  async *series(req: SeriesRequest): AsyncIterable<SeriesItem> {
    yield { warning: "w1" };
    for (let i = 0; i < 3; i++) {
      yield {
        labels: ["__name__", "m", "i", String(i)],
        chunks: [{
          minTime: req.minTime + i,
          maxTime: req.minTime + 100,
          encoding: i === 2 ? ChunkEncoding.Histogram : ChunkEncoding.XOR,
          data: new Uint8Array([i, 1, 2, 3]),
        }],
      };
    }
  },
  labelNames: () => Promise.resolve({ names: ["__name__"], warnings: [] }),
  labelValues: () => Promise.resolve({ values: ["m"], warnings: [] }),
};

Deno.test("protobufjs compiling our .proto files agrees with the hand-written codec", () => {
  const req: SeriesRequest = {
    minTime: -5,
    maxTime: INT64_MAX,
    matchers: [new Matcher(MatchType.Regexp, "job", "a|b")],
    skipChunks: true,
    withoutReplicaLabels: ["replica"],
    limit: 7,
    queryHints: {
      stepMillis: 30,
      func: "rate",
      grouping: { by: true, labels: ["x"] },
      rangeMillis: 60,
    },
    shardInfo: { shardIndex: 1, totalShards: 2, by: false, labels: ["y"] },
  };
  const ours = encodeSeriesRequest(req);
  const obj = T.SeriesRequest.toObject(T.SeriesRequest.decode(ours), {
    longs: String,
    enums: String,
  });
  assertEquals(obj.minTime, "-5");
  assertEquals(obj.maxTime, "9223372036854775807");
  assertEquals(obj.matchers, [{ type: "RE", name: "job", value: "a|b" }]);
  assertEquals(obj.queryHints.func, { name: "rate" });
  assertEquals(obj.queryHints.grouping, { by: true, labels: ["x"] });
  assertEquals(obj.shardInfo.labels, ["y"]);
  // and back: protobufjs's encoding decodes to the same request
  const theirs = T.SeriesRequest.encode(T.SeriesRequest.fromObject(obj)).finish();
  const back = decodeSeriesRequest(theirs);
  assertEquals(back.maxTime, INT64_MAX);
  assertEquals(back.matchers.map(String), ['job=~"a|b"']);
  assertEquals(back.queryHints, req.queryHints);

  const info = encodeInfoResponse({
    componentType: "store",
    labelSets: [["a", "1"]],
    minTime: 1,
    maxTime: 2,
    supportsWithoutReplicaLabels: true,
    rules: true,
  });
  const io = T.InfoResponse.toObject(T.InfoResponse.decode(info), { longs: Number });
  assertEquals(io.ComponentType, "store");
  assertEquals(io.labelSets, [{ labels: [{ name: "a", value: "1" }] }]);
  assertEquals(io.store.supportsWithoutReplicaLabels, true);
  assert(io.rules !== undefined && io.targets === undefined);
  assertEquals(
    decodeInfoResponse(T.InfoResponse.encode(T.InfoResponse.fromObject(io)).finish()).rules,
    true,
  );
});

Deno.test(
  "a grpc-js client (gzip-compressed requests) reads Series, Info and health from our server",
  opts,
  async () => {
    const server = new StoreServer(withExternalLabels(backend, ["tenant", "t1"]), {
      serving: true,
    });
    const { port } = await server.listen("127.0.0.1", 0);
    const id = (b: Uint8Array) => raw(b);
    const def: Record<string, unknown> = {
      Series: {
        path: "/thanos.Store/Series",
        requestStream: false,
        responseStream: true,
        requestSerialize: id,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: id,
        responseDeserialize: (b: Buffer) => T.SeriesResponse.decode(b),
      },
      Info: {
        path: "/thanos.info.Info/Info",
        requestStream: false,
        responseStream: false,
        requestSerialize: id,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: id,
        responseDeserialize: (b: Buffer) => T.InfoResponse.decode(b),
      },
      Check: {
        path: "/grpc.health.v1.Health/Check",
        requestStream: false,
        responseStream: false,
        requestSerialize: id,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: id,
        responseDeserialize: (b: Buffer) => T.HealthCheckResponse.decode(b),
      },
    };
    const Client = grpc.makeGenericClientConstructor(def, "Store");
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      "grpc.default_compression_algorithm": 2, // gzip
    });
    try {
      const c = client as any;
      const req = encodeSeriesRequest({
        minTime: 10,
        maxTime: 20,
        matchers: [new Matcher(MatchType.Equal, "__name__", "m")],
      });
      const frames: any[] = [];
      const call = c.Series(req);
      for await (const f of call) {
        frames.push(
          T.SeriesResponse.toObject(f, { longs: Number, enums: String }),
        );
      }
      assertEquals(frames[0], { warning: "w1" });
      assertEquals(frames.length, 4);
      assertEquals(frames[1].series.labels.map((l: { name: string }) => l.name), [
        "__name__",
        "i",
        "tenant",
      ]);
      assertEquals(frames[3].series.chunks[0].raw.type, "HISTOGRAM");
      assertEquals(frames[2].series.chunks[0].minTime, 11);

      const info: any = await new Promise((res, rej) =>
        c.Info(new Uint8Array(0), (e: Error, r: unknown) => e ? rej(e) : res(r))
      );
      const io = T.InfoResponse.toObject(info, { longs: String });
      assertEquals(io.ComponentType, "receive");
      assertEquals(io.store.maxTime, "9223372036854775807");
      assertEquals(io.labelSets, [{ labels: [{ name: "tenant", value: "t1" }] }]);

      const health: any = await new Promise((res, rej) =>
        c.Check(new Uint8Array(0), (e: Error, r: unknown) => e ? rej(e) : res(r))
      );
      assertEquals(health.status, 1);

      // an error status reaches grpc-js with its code and message
      const bad = encodeSeriesRequest({
        minTime: 0,
        maxTime: 1,
        matchers: [new Matcher(MatchType.Equal, "tenant", "t1")],
      });
      const err = await new Promise<any>((res) => {
        const s = c.Series(bad);
        s.on("data", () => {});
        s.on("error", res);
      });
      assertEquals(err.code, grpc.status.INVALID_ARGUMENT);
      assertEquals(err.details, "no matchers specified (excluding external labels)");
    } finally {
      client.close();
      await server.close();
    }
  },
);

Deno.test(
  "our StoreClient reads Series and errors from a grpc-js server encoding with protobufjs",
  opts,
  async () => {
    const server = new grpc.Server();
    const id = (b: Buffer) => b;
    const def: Record<string, unknown> = {
      Series: {
        path: "/thanos.Store/Series",
        requestStream: false,
        responseStream: true,
        requestSerialize: id,
        requestDeserialize: id,
        responseSerialize: id,
        responseDeserialize: id,
      },
    };
    server.addService(def, {
      Series: (call: any) => {
        const req = decodeSeriesRequest(new Uint8Array(call.request));
        if (req.matchers.length === 0) {
          call.emit("error", { code: grpc.status.RESOURCE_EXHAUSTED, details: "limit 5 violated" });
          return;
        }
        const frame = (o: Record<string, unknown>) =>
          raw(T.SeriesResponse.encode(T.SeriesResponse.fromObject(o)).finish());
        const s = (i: number, mint: number) => ({
          series: {
            labels: [{ name: "__name__", value: "x" }, { name: "i", value: String(i) }],
            chunks: [{
              minTime: mint,
              maxTime: mint + 9,
              raw: { type: "XOR", data: raw(new Uint8Array([i, mint])), hash: "12345" },
            }],
          },
        });
        call.write(frame(s(0, 0)));
        call.write(frame(s(0, 10))); // same labels: continues series 0
        call.write(frame({ warning: "partial" }));
        call.write(frame(s(1, 0)));
        call.end();
      },
    });
    const port = await new Promise<number>((res, rej) =>
      server.bindAsync(
        "127.0.0.1:0",
        grpc.ServerCredentials.createInsecure(),
        (e: Error | null, p: number) => e ? rej(e) : res(p),
      )
    );
    const client = new StoreClient(`127.0.0.1:${port}`, { timeoutMs: 5000 });
    try {
      const items: SeriesItem[] = [];
      for await (
        const x of client.series({
          minTime: 0,
          maxTime: 100,
          matchers: [new Matcher(MatchType.Equal, "__name__", "x")],
        })
      ) {
        items.push(x);
      }
      assertEquals(items.length, 3);
      assert("warning" in items[0]);
      assert("labels" in items[1] && "labels" in items[2]);
      assertEquals(items[1].chunks.map((c) => [c.minTime, c.encoding, ...c.data]), [[
        0,
        ChunkEncoding.XOR,
        0,
        0,
      ], [10, ChunkEncoding.XOR, 0, 10]]);
      assertEquals(items[2].labels, ["__name__", "x", "i", "1"]);
      let caught: unknown;
      try {
        for await (const _ of client.series({ minTime: 0, maxTime: 1, matchers: [] })) {
          /* none */
        }
      } catch (e) {
        caught = e;
      }
      assert(caught instanceof GrpcError, String(caught));
      assertEquals(caught.code, GrpcStatus.RESOURCE_EXHAUSTED);
      assertEquals(caught.details, "limit 5 violated");
    } finally {
      client.close();
      server.forceShutdown();
    }
  },
);

Deno.test(
  "our client reads Info from a grpc-js server, and its keepalive PINGs keep a slow call alive",
  opts,
  async () => {
    const server = new grpc.Server();
    const id = (b: Buffer) => b;
    const unary = (path: string) => ({
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: id,
      requestDeserialize: id,
      responseSerialize: id,
      responseDeserialize: id,
    });
    server.addService({ Info: unary("/thanos.info.Info/Info"), Slow: unary("/t.T/Slow") }, {
      Info: (_call: any, cb: any) =>
        cb(
          null,
          raw(
            T.InfoResponse.encode(T.InfoResponse.fromObject({
              ComponentType: "sidecar",
              labelSets: [{ labels: [{ name: "replica", value: "a" }] }],
              store: { minTime: -7, maxTime: "9223372036854775807" },
              rules: {},
            })).finish(),
          ),
        ),
      // silent for many keepalive periods of the client below: only its PINGs are answered
      Slow: (call: any, cb: any) => setTimeout(() => cb(null, call.request), 700),
    });
    const port = await new Promise<number>((res, rej) =>
      server.bindAsync(
        "127.0.0.1:0",
        grpc.ServerCredentials.createInsecure(),
        (e: Error | null, p: number) => e ? rej(e) : res(p),
      )
    );
    const client = new StoreClient(`127.0.0.1:${port}`, { timeoutMs: 5000 });
    const ch = new GrpcChannel(`127.0.0.1:${port}`, {
      keepalive: { timeMs: 100, timeoutMs: 300 },
    });
    try {
      const info = await client.info();
      assertEquals(info.componentType, "sidecar");
      assertEquals(info.labelSets, [["replica", "a"]]);
      assertEquals([info.minTime, info.maxTime], [-7, INT64_MAX]);
      assertEquals(info.rules, true);
      const res = await ch.unary("/t.T/Slow", new Uint8Array([1, 2, 3]), { timeoutMs: 10_000 });
      assertEquals([...res], [1, 2, 3]);
    } finally {
      ch.close();
      client.close();
      server.forceShutdown();
    }
  },
);
