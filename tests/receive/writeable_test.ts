// thanos.WriteableStore/RemoteWrite over real gRPC on 127.0.0.1: our client against our server
// (snappy, next to the StoreAPI on one StoreServer), error codes, deadlines, a dead peer, and
// interop with @grpc/grpc-js + protobufjs (a WriteRequest built from Thanos's field numbers by an
// independent protobuf implementation) in both directions.

// deno-lint-ignore-file no-explicit-any
import { Buffer } from "node:buffer";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { GrpcError, GrpcServer, GrpcStatus } from "../../storeapi/grpc.ts";
import { type StoreBackend, StoreServer } from "../../storeapi/server.ts";
import type { PromSeries } from "../../receive/remote_write.ts";
import {
  decodeForwardRequest,
  encodeForwardRequest,
  ReceiveWriteError,
  REMOTE_WRITE_METHOD,
  WriteableClient,
  writeableService,
} from "../../receive/writeable.ts";

const GRPC_JS = "npm:@grpc/grpc-js@1.14.7";
const PROTOBUFJS = "npm:protobufjs@7.6.6";
const grpc: any = await import(GRPC_JS);
const protobuf: any = (await import(PROTOBUFJS)).default;

// Thanos's pkg/store/storepb/rpc.proto WriteRequest and prompb TimeSeries, field numbers as upstream
const root: any = protobuf.parse(`
syntax = "proto3";
package thanos;
message Label { string name = 1; string value = 2; }
message Sample { double value = 1; int64 timestamp = 2; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }
message WriteRequest { repeated TimeSeries timeseries = 1; string tenant = 2; int64 replica = 3; }
message WriteResponse {}
`).root;
const PbWriteRequest = root.lookupType("thanos.WriteRequest");

const opts = { sanitizeOps: false, sanitizeResources: false };
const raw = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

const STALE_HI = 0x7ff00000, STALE_LO = 0x00000002; // Prometheus's stale marker NaN

function series(name: string, samples: [number, number][], stale = false): PromSeries {
  const s: PromSeries = {
    labels: ["__name__", name, "job", "x"],
    timestamps: new Float64Array(samples.map((x) => x[0])),
    values: new Float64Array(samples.map((x) => x[1])),
  };
  if (stale) {
    const w = new Uint32Array(s.values.buffer);
    w[w.length - 1] = STALE_HI; // little-endian: high word second
    w[w.length - 2] = STALE_LO;
  }
  return s;
}

function bits(s: PromSeries): number[] {
  return [...new Uint32Array(s.values.buffer, s.values.byteOffset, s.values.length * 2)];
}

const emptyBackend: StoreBackend = {
  info: () => Promise.resolve({ componentType: "receive", labelSets: [], minTime: 0, maxTime: 0 }),
  async *series() {},
  labelNames: () => Promise.resolve({ names: [], warnings: [] }),
  labelValues: () => Promise.resolve({ values: [], warnings: [] }),
};

Deno.test("WriteRequest encoding round-trips and matches protobufjs", () => {
  const req = {
    tenant: "team-ä",
    replica: 2,
    series: [series("a", [[1000, 1.5], [-2000, 0], [3000, 7]], true), series("b", [[5, -1]])],
  };
  const enc = encodeForwardRequest(req);
  const dec = decodeForwardRequest(enc);
  assertEquals(dec.tenant, req.tenant);
  assertEquals(dec.replica, 2);
  assertEquals(dec.series.map((s) => s.labels), req.series.map((s) => s.labels));
  assertEquals(dec.series.map((s) => [...s.timestamps]), [[1000, -2000, 3000], [5]]);
  assertEquals(dec.series.map(bits), req.series.map(bits));

  const pb = PbWriteRequest.toObject(PbWriteRequest.decode(enc), { longs: Number });
  assertEquals(pb.tenant, "team-ä");
  assertEquals(pb.replica, 2);
  assertEquals(pb.timeseries[0].labels, [
    { name: "__name__", value: "a" },
    { name: "job", value: "x" },
  ]);
  assertEquals(pb.timeseries[0].samples[1].timestamp, -2000);
  assertEquals(pb.timeseries[1].samples, [{ value: -1, timestamp: 5 }]);
});

Deno.test(
  "our client → our server (snappy), next to the StoreAPI; codes, deadlines, dead peer",
  opts,
  async () => {
    const got: { tenant: string; series: PromSeries[]; replica: number }[] = [];
    const server = new StoreServer(emptyBackend, { serving: true });
    writeableService((tenant, s, replica) => {
      const name = s[0]?.labels[1];
      if (name === "conflict") {
        return Promise.reject(
          new ReceiveWriteError("conflict", "add 1 samples: out of order sample"),
        );
      }
      if (name === "down") return Promise.reject(new ReceiveWriteError("unavailable", "x down"));
      if (name === "replica") {
        return Promise.reject(
          new ReceiveWriteError(
            "badReplica",
            "request replica exceeds receiver replication factor",
          ),
        );
      }
      if (name === "boom") return Promise.reject(new Error("disk on fire"));
      if (name === "slow") return new Promise((r) => setTimeout(r, 2000));
      got.push({ tenant, series: s, replica });
      return Promise.resolve();
    }).register(server.grpc);
    const { port } = await server.listen("127.0.0.1", 0);
    const client = new WriteableClient(`127.0.0.1:${port}`, { timeoutMs: 300 });
    try {
      const sent = [series("ok", [[1, 1], [2, 2]], true), series("ok2", [[3, 3]])];
      await client.remoteWrite("t1", sent, 3);
      assertEquals(got.length, 1);
      assertEquals(got[0].tenant, "t1");
      assertEquals(got[0].replica, 3);
      assertEquals(got[0].series.map(bits), sent.map(bits));

      const code = async (name: string) => {
        const e = await assertRejects(() => client.remoteWrite("t1", [series(name, [[1, 1]])], 1));
        assert(e instanceof GrpcError, String(e));
        return [e.code, e.details];
      };
      assertEquals(await code("conflict"), [
        GrpcStatus.ALREADY_EXISTS,
        "add 1 samples: out of order sample",
      ]);
      assertEquals(await code("down"), [GrpcStatus.UNAVAILABLE, "x down"]);
      assertEquals((await code("replica"))[0], GrpcStatus.INVALID_ARGUMENT);
      assertEquals(await code("boom"), [GrpcStatus.INTERNAL, "disk on fire"]);
      assertEquals((await code("slow"))[0], GrpcStatus.DEADLINE_EXCEEDED);

      // an undecodable request: Internal, as grpc-go answers
      const ch = (client as any).channel;
      const e = await assertRejects(() =>
        ch.unary(REMOTE_WRITE_METHOD, new Uint8Array([0x0a, 5, 1]))
      );
      assertEquals((e as GrpcError).code, GrpcStatus.INTERNAL);
    } finally {
      client.close();
      await server.close();
    }
    // nobody listens any more: Unavailable
    const dead = new WriteableClient(`127.0.0.1:${port}`, { timeoutMs: 1000 });
    try {
      const e = await assertRejects(() => dead.remoteWrite("t", [series("x", [[1, 1]])], 0));
      assertEquals((e as GrpcError).code, GrpcStatus.UNAVAILABLE);
    } finally {
      dead.close();
    }
  },
);

Deno.test("a grpc-js client sends a protobufjs WriteRequest to our server", opts, async () => {
  const server = new GrpcServer();
  const got: { tenant: string; series: PromSeries[]; replica: number }[] = [];
  writeableService((tenant, s, replica) => {
    if (tenant === "bad") return Promise.reject(new ReceiveWriteError("conflict", "dup"));
    got.push({ tenant, series: s, replica });
    return Promise.resolve();
  }).register(server);
  const { port } = await server.listen("127.0.0.1", 0);
  const id = (b: Uint8Array) => raw(b);
  const Client = grpc.makeGenericClientConstructor({
    RemoteWrite: {
      path: REMOTE_WRITE_METHOD,
      requestStream: false,
      responseStream: false,
      requestSerialize: id,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: id,
      responseDeserialize: (b: Buffer) => b,
    },
  }, "WriteableStore");
  const client: any = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.default_compression_algorithm": 2, // gzip
  });
  const call = (tenant: string) =>
    new Promise<any>((res) => {
      const msg = PbWriteRequest.encode(PbWriteRequest.fromObject({
        tenant,
        replica: 1,
        timeseries: [{
          labels: [{ name: "__name__", value: "up" }, { name: "job", value: "p" }],
          samples: [{ value: 1, timestamp: 1700000000000 }, { value: 0, timestamp: 1700000015000 }],
        }],
      })).finish();
      client.RemoteWrite(msg, (e: any, r: any) => res(e ?? r));
    });
  try {
    const ok = await call("t");
    assertEquals(ok.length, 0); // WriteResponse {}
    assertEquals(got.length, 1);
    assertEquals(got[0].tenant, "t");
    assertEquals(got[0].replica, 1);
    assertEquals(got[0].series[0].labels, ["__name__", "up", "job", "p"]);
    assertEquals([...got[0].series[0].timestamps], [1700000000000, 1700000015000]);
    assertEquals([...got[0].series[0].values], [1, 0]);
    const err = await call("bad");
    assertEquals(err.code, grpc.status.ALREADY_EXISTS);
    assertEquals(err.details, "dup");
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test(
  "our client (gzip) writes to a grpc-js server decoding with protobufjs",
  opts,
  async () => {
    const server = new grpc.Server();
    const got: any[] = [];
    const id = (b: Buffer) => b;
    server.addService({
      RemoteWrite: {
        path: REMOTE_WRITE_METHOD,
        requestStream: false,
        responseStream: false,
        requestSerialize: id,
        requestDeserialize: id,
        responseSerialize: id,
        responseDeserialize: id,
      },
    }, {
      RemoteWrite: (call: any, cb: any) => {
        const req = PbWriteRequest.toObject(PbWriteRequest.decode(call.request), { longs: Number });
        if (req.tenant === "conflict") {
          cb({ code: grpc.status.ALREADY_EXISTS, details: "out of order sample" });
          return;
        }
        got.push(req);
        cb(null, Buffer.alloc(0));
      },
    });
    const port = await new Promise<number>((res, rej) =>
      server.bindAsync(
        "127.0.0.1:0",
        grpc.ServerCredentials.createInsecure(),
        (e: Error | null, p: number) => e ? rej(e) : res(p),
      )
    );
    // grpc-js has no snappy compressor (Go receivers do): gzip here
    const client = new WriteableClient(`127.0.0.1:${port}`, {
      compression: "gzip",
      timeoutMs: 5000,
    });
    try {
      await client.remoteWrite("tenant-1", [series("m", [[10, 2.5], [20, -3]])], 2);
      assertEquals(got.length, 1);
      assertEquals(got[0].tenant, "tenant-1");
      assertEquals(got[0].replica, 2);
      assertEquals(got[0].timeseries[0].labels, [
        { name: "__name__", value: "m" },
        { name: "job", value: "x" },
      ]);
      assertEquals(got[0].timeseries[0].samples, [
        { value: 2.5, timestamp: 10 },
        { value: -3, timestamp: 20 },
      ]);
      const e = await assertRejects(() =>
        client.remoteWrite("conflict", [series("m", [[1, 1]])], 1)
      );
      assertEquals((e as GrpcError).code, GrpcStatus.ALREADY_EXISTS);
      assertEquals((e as GrpcError).details, "out of order sample");
    } finally {
      client.close();
      server.forceShutdown();
    }
  },
);
