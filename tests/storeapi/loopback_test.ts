// The in-memory StoreAPI path of the start-up warm-ups: memoryConnPair (storeapi/memory_conn.ts)
// is an ordered byte stream whose writes resolve once read, with EOF and failed writes after
// close, and loopbackStore
// (storeapi/loopback.ts) answers a StoreClient's calls from a backend through a StoreServer in
// the same process, with the same series, errors and warnings as over a socket, leaving nothing
// running after close.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { memoryConnPair } from "../../storeapi/memory_conn.ts";
import { loopbackStore } from "../../storeapi/loopback.ts";
import { ChunkEncoding, type SeriesWithChunks } from "../../tsdb/series.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import type { SeriesRequest, StoreInfo } from "../../storeapi/codec.ts";
import type { SeriesItem, StoreBackend } from "../../storeapi/server.ts";
import { GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";

Deno.test("memory connection: bytes arrive in order, split to the reader's room", async () => {
  const [a, b] = memoryConnPair();
  const w1 = a.write(new Uint8Array([1, 2, 3]));
  const w2 = a.write(new Uint8Array([4, 5]));
  const p = new Uint8Array(2);
  const got: number[] = [];
  while (got.length < 5) {
    const n = await b.read(p);
    assert(n !== null && n > 0 && n <= 2, `read ${n}`);
    got.push(...p.subarray(0, n));
  }
  assertEquals(got, [1, 2, 3, 4, 5]);
  assertEquals([await w1, await w2], [3, 2]);
  // a read waits for the next write; the other direction works the same way
  const pending = a.read(new Uint8Array(8));
  const w3 = b.write(new Uint8Array([9]));
  assertEquals(await pending, 1);
  assertEquals(await w3, 1);
  a.close();
  b.close();
});

Deno.test("memory connection: a write resolves once the peer read all of it", async () => {
  const [a, b] = memoryConnPair();
  const buf = new Uint8Array([7, 7, 7]);
  let written = false;
  const w = a.write(buf).then((n) => {
    written = true;
    return n;
  });
  const p = new Uint8Array(2);
  assertEquals(await b.read(p), 2);
  await Promise.resolve();
  assertEquals(written, false); // one byte not read yet: the writer may not reuse its buffer
  assertEquals(await b.read(p), 1);
  assertEquals(await w, 3);
  assertEquals(written, true);
  a.close();
});

Deno.test("memory connection: close fails unread writes and ends reads on both ends", async () => {
  const [a, b] = memoryConnPair();
  const unread = a.write(new Uint8Array([1, 2]));
  const blocked = a.read(new Uint8Array(4));
  b.close();
  await assertRejects(() => unread, Error, "connection closed");
  assertEquals(await blocked, null);
  assertEquals(await b.read(new Uint8Array(4)), null);
  await assertRejects(() => a.write(new Uint8Array([1])), Error, "connection closed");
  await assertRejects(() => b.write(new Uint8Array([1])), Error, "connection closed");
});

function fixture(n: number): SeriesWithChunks[] {
  const out: SeriesWithChunks[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      labels: ["__name__", "m", "i", String(i).padStart(4, "0")],
      chunks: [{
        minTime: i,
        maxTime: i + 10,
        encoding: ChunkEncoding.XOR,
        data: new Uint8Array(40).fill(i & 0xff),
      }],
    });
  }
  return out;
}

class Backend implements StoreBackend {
  calls = 0;
  constructor(private readonly all: SeriesWithChunks[]) {}
  info(): Promise<StoreInfo> {
    return Promise.resolve({ componentType: "store", labelSets: [], minTime: 0, maxTime: 100 });
  }
  async *series(req: SeriesRequest): AsyncIterable<SeriesItem> {
    this.calls++;
    if (req.matchers.some((m) => m.value === "fail")) {
      throw new GrpcError(GrpcStatus.RESOURCE_EXHAUSTED, "too many series");
    }
    yield { warning: "a warning" };
    for (const s of this.all) yield s;
    await Promise.resolve();
  }
  labelNames() {
    return Promise.resolve({ names: ["__name__", "i"], warnings: [] });
  }
  labelValues() {
    return Promise.resolve({ values: ["m"], warnings: [] });
  }
}

Deno.test("loopback store: calls reach the backend through the wire path and back", async () => {
  const all = fixture(300);
  const backend = new Backend(all);
  const lb = loopbackStore(backend);
  try {
    const req = {
      minTime: 0,
      maxTime: 100,
      matchers: [new Matcher(MatchType.Equal, "__name__", "m")],
      responseBatchSize: 64,
    };
    for (let round = 0; round < 3; round++) {
      const got: SeriesItem[] = [];
      for await (const items of lb.client.seriesBatches(req)) got.push(...items);
      assertEquals(got[0], { warning: "a warning" });
      const series = got.slice(1) as SeriesWithChunks[];
      assertEquals(series.length, 300);
      assertEquals(series.map((s) => s.labels), all.map((s) => s.labels));
      assertEquals(series[299].chunks[0].data, all[299].chunks[0].data);
    }
    assertEquals(backend.calls, 3);
    assertEquals((await lb.client.info()).componentType, "store");
    assertEquals(
      (await lb.client.labelNames({ start: 0, end: 100, matchers: [] })).names,
      ["__name__", "i"],
    );
    // the backend's error reaches the client as its gRPC status
    const failing = { ...req, matchers: [new Matcher(MatchType.Equal, "i", "fail")] };
    const e = await assertRejects(async () => {
      for await (const _ of lb.client.seriesBatches(failing)) { /* drained */ }
    }, GrpcError);
    assertEquals((e as GrpcError).code, GrpcStatus.RESOURCE_EXHAUSTED);
  } finally {
    await lb.close();
  }
  // closed: a call fails instead of hanging
  await assertRejects(async () => {
    for await (const _ of lb.client.series({ minTime: 0, maxTime: 1, matchers: [] })) { /* */ }
  }, GrpcError);
});
