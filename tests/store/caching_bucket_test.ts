// The store gateway's caching bucket (https://thanos.io/tip/components/store.md/#caching-bucket)
// and remote index cache, in process: config fields and defaults, chunk ranges served from
// aligned subranges (equal bytes, no second bucket read), the request bound, meta files and the
// root listing, and a cache that fails (nothing listening) degrading to counted misses.

import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { freePort } from "../helpers/ports.ts";
import { streamed } from "../helpers/bucket_conformance.ts";
import { Registry } from "../../metrics/registry.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import { InstrumentedBucket } from "../../objstore/instrumented.ts";
import { ObjectNotFoundError } from "../../objstore/bucket.ts";
import { InMemoryCache } from "../../cache/inmemory.ts";
import { newCache } from "../../cache/factory.ts";
import { parseCacheConfig } from "../../cache/config.ts";
import {
  CachingBucket,
  CachingBucketConfigError,
  parseCachingBucketConfig,
} from "../../store/caching_bucket.ts";
import {
  decodePostings,
  decodeSeries,
  encodePostings,
  encodeSeries,
  RemoteIndexCache,
} from "../../store/index_cache.ts";

const MIB = 1024 * 1024;
const CHUNKS = "01HZZZZZZZZZZZZZZZZZZZZZZZ/chunks/000001";

function counter(
  reg: Registry,
  name: string,
  labelNames: string[],
  labels: Record<string, string>,
) {
  return reg.counter({ name, help: "", labelNames }).get(labels);
}

/** Bytes the instrumented (real) bucket answered with get_range. */
function bucketRangeBytes(reg: Registry): number {
  return counter(reg, "thanos_objstore_bucket_operation_fetched_bytes_total", [
    "bucket",
    "operation",
  ], { bucket: "memory", operation: "get_range" });
}

function bucketOps(reg: Registry, operation: string): number {
  return counter(reg, "thanos_objstore_bucket_operations_total", ["bucket", "operation"], {
    bucket: "memory",
    operation,
  });
}

async function setup(cfgText = "type: IN-MEMORY\nchunk_subrange_size: 1000\n") {
  const reg = new Registry();
  const mem = new MemoryBucket();
  const data = new Uint8Array(10_500);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
  await mem.upload(CHUNKS, data);
  await mem.upload("01HZZZZZZZZZZZZZZZZZZZZZZZ/meta.json", new TextEncoder().encode('{"a":1}'));
  await mem.upload("01HZZZZZZZZZZZZZZZZZZZZZZZ/index", new Uint8Array(100));
  const inner = new InstrumentedBucket(mem, { registry: reg, maxRetries: 0 });
  const cfg = parseCachingBucketConfig(cfgText);
  const cache = newCache(cfg.backend, { name: "caching-bucket", registry: reg });
  const cb = new CachingBucket(inner, cache, cfg, { registry: reg, bucketId: "t" });
  return { reg, data, inner, cb, cfg };
}

/** Lets background cache writes finish. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

Deno.test("caching bucket config: Thanos's defaults, fields and clear errors", () => {
  const d = parseCachingBucketConfig("type: MEMCACHED\nconfig:\n  addresses: [127.0.0.1:11211]\n");
  assertEquals(d.backend.type, "MEMCACHED");
  const { backend: _b, ...rest } = d;
  assertEquals(rest, {
    maxItemSize: 0,
    chunkSubrangeSize: 16000,
    maxChunksGetRangeRequests: 3,
    chunkObjectAttrsTtlMs: 24 * 3600_000,
    chunkSubrangeTtlMs: 24 * 3600_000,
    blocksIterTtlMs: 5 * 60_000,
    metafileExistsTtlMs: 2 * 3600_000,
    metafileDoesntExistTtlMs: 15 * 60_000,
    metafileContentTtlMs: 24 * 3600_000,
    metafileMaxSize: MIB,
  });
  const r = parseCachingBucketConfig(
    "type: redis\nconfig:\n  addr: 127.0.0.1:6379\n  db: 1\nchunk_subrange_size: 8000\n" +
      "max_chunks_get_range_requests: 0\nchunk_subrange_ttl: 1h\nblocks_iter_ttl: 10s\n" +
      "metafile_max_size: 64KiB\n",
  );
  assertEquals(r.backend.type, "REDIS");
  assertEquals(
    [r.chunkSubrangeSize, r.maxChunksGetRangeRequests, r.chunkSubrangeTtlMs, r.blocksIterTtlMs],
    [8000, 0, 3600_000, 10_000],
  );
  assertEquals(r.metafileMaxSize, 64 * 1024);
  const m = parseCachingBucketConfig(
    "type: IN-MEMORY\nconfig:\n  max_size: 64MiB\n  max_item_size: 1MiB\n",
  );
  assertEquals(m.backend, {
    type: "IN-MEMORY",
    ttlMs: 0,
    config: { maxSizeBytes: 64 * MIB, maxSizeItems: 0, validityMs: 0 },
  });
  assertEquals(m.maxItemSize, MIB);
  const bad: [string, string][] = [
    ["type: GROUPCACHE\n", "GROUPCACHE is not in this build"],
    ["type: DISK\n", 'unsupported type "DISK"'],
    ["type: IN-MEMORY\nchunk_subrange_size: -1\n", "chunk_subrange_size"],
    ["type: IN-MEMORY\nchunk_subrange_size: 0\n", "chunk_subrange_size must be > 0"],
    ["type: IN-MEMORY\nblocks_iter_ttl: soon\n", "blocks_iter_ttl"],
    ["type: IN-MEMORY\nconfig:\n  validity: 1s\n", "unknown field config.validity"],
    ["type: IN-MEMORY\nconfig:\n  max_size: 1MiB\n", "must not exceed config.max_size"],
    ["type: IN-MEMORY\nextra: 1\n", "unknown field extra"],
    ["type: MEMCACHED\nconfig:\n  addresses: []\n", "no memcached addresses"],
    ["- a\n", "want a mapping"],
  ];
  for (const [text, want] of bad) {
    const e = assertThrows(() => parseCachingBucketConfig(text), CachingBucketConfigError, want);
    assert(!e.message.includes("\n"), e.message);
  }
});

Deno.test("caching bucket: chunk ranges equal the object's bytes and are read from the bucket once", async () => {
  const { reg, data, cb } = await setup();
  // odd offsets and lengths, across subrange borders, up to and past the end, and to the end
  const ranges: [number, number][] = [
    [0, 10],
    [999, 2],
    [1500, 3000],
    [10_400, 500],
    [10_499, 1],
    [7000, -1],
    [10_500, 10],
    [12_000, 5],
    [3, 0],
  ];
  const want = (o: number, l: number) =>
    data.slice(Math.min(o, data.length), l < 0 ? data.length : Math.min(data.length, o + l));
  for (const [o, l] of ranges) assertEquals(await cb.getRange(CHUNKS, o, l), want(o, l));
  await settle();
  const cold = bucketRangeBytes(reg);
  assert(cold > 0);
  const attrsCold = bucketOps(reg, "attributes");
  for (const [o, l] of ranges) assertEquals(await cb.getRange(CHUNKS, o, l), want(o, l));
  assertEquals(bucketRangeBytes(reg), cold, "a warm read fetched bytes from the bucket");
  assertEquals(bucketOps(reg, "attributes"), attrsCold, "the object size was not cached");
  const hits = counter(reg, "thanos_store_bucket_cache_operation_hits_total", [
    "operation",
    "config",
  ], { operation: "get_range", config: "chunks" });
  assert(hits >= ranges.length - 3, `hits ${hits}`);
  // the index is not a chunk file: passed through every time
  const before = bucketRangeBytes(reg);
  await cb.getRange("01HZZZZZZZZZZZZZZZZZZZZZZZ/index", 0, 50);
  await cb.getRange("01HZZZZZZZZZZZZZZZZZZZZZZZ/index", 0, 50);
  assertEquals(bucketRangeBytes(reg), before + 100);
  await cb.close();
});

Deno.test("caching bucket: streamed chunk ranges are getRange's bytes, by subrange, cached once", async () => {
  const { reg, cb } = await setup();
  const ranges: [number, number][] = [
    [0, 10],
    [999, 2],
    [1500, 3000],
    [10_400, 500],
    [7000, -1],
    [10_500, 10],
    [12_000, 5],
    [3, 0],
  ];
  for (let pass = 0; pass < 2; pass++) {
    if (pass === 1) await settle();
    const cold = bucketRangeBytes(reg);
    for (const [o, l] of ranges) {
      const got = await streamed(cb, CHUNKS, o, l);
      assertEquals(got.bytes, await cb.getRange(CHUNKS, o, l), `${o}+${l}`);
      assertEquals(got.count, got.bytes.length);
      // one piece per subrange touched, none copied into a whole-range array
      if (got.count > 0) {
        assertEquals(got.pieces, Math.floor((o + got.count - 1) / 1000) - Math.floor(o / 1000) + 1);
      }
    }
    if (pass === 1) assertEquals(bucketRangeBytes(reg), cold, "a warm stream read the bucket");
  }
  // not a chunk file: streamed from the bucket every time
  const before = bucketRangeBytes(reg);
  assertEquals((await streamed(cb, "01HZZZZZZZZZZZZZZZZZZZZZZZ/index", 0, 50)).count, 50);
  assertEquals(bucketRangeBytes(reg), before + 50);
  await cb.close();
});

Deno.test("caching bucket: missing subranges are fetched in at most max_chunks_get_range_requests requests", async () => {
  const { reg, data, cb } = await setup(
    "type: IN-MEMORY\nchunk_subrange_size: 1000\nmax_chunks_get_range_requests: 2\n",
  );
  // cache subranges 1, 3, 5 and 7: the misses of 0..8 form 5 runs
  for (const s of [1, 3, 5, 7]) await cb.getRange(CHUNKS, s * 1000, 1000);
  await settle();
  const ops = bucketOps(reg, "get_range");
  assertEquals(await cb.getRange(CHUNKS, 0, 9000), data.slice(0, 9000));
  assertEquals(bucketOps(reg, "get_range") - ops, 2);
  const refetched = counter(reg, "thanos_store_bucket_cache_getrange_refetched_bytes_total", [
    "origin",
    "config",
  ], { origin: "cache", config: "chunks" });
  assert(refetched > 0, "merging runs re-reads cached subranges, counted as refetched");
  await cb.close();
});

Deno.test("caching bucket: meta files (content, existence, absence) and the root listing", async () => {
  const { reg, cb } = await setup();
  const meta = "01HZZZZZZZZZZZZZZZZZZZZZZZ/meta.json";
  const gone = "01HYYYYYYYYYYYYYYYYYYYYYYY/meta.json";
  assertEquals(new TextDecoder().decode(await cb.get(meta)), '{"a":1}');
  assertEquals(await cb.exists(gone), false);
  await assertRejects(
    () => cb.get("01HXXXXXXXXXXXXXXXXXXXXXXX/deletion-mark.json"),
    ObjectNotFoundError,
  );
  const list = async () => {
    const out: string[] = [];
    for await (const n of cb.iter("")) out.push(n);
    return out;
  };
  const names = await list();
  assertEquals(names, ["01HZZZZZZZZZZZZZZZZZZZZZZZ/"]);
  await settle();
  const ops = ["get", "exists", "iter"].map((o) => bucketOps(reg, o));
  assertEquals(new TextDecoder().decode(await cb.get(meta)), '{"a":1}');
  assertEquals(await cb.exists(meta), true);
  assertEquals(await cb.exists(gone), false);
  await assertRejects(
    () => cb.get("01HXXXXXXXXXXXXXXXXXXXXXXX/deletion-mark.json"),
    ObjectNotFoundError,
  );
  assertEquals(await list(), names);
  assertEquals(["get", "exists", "iter"].map((o) => bucketOps(reg, o)), ops);
  await cb.close();
});

Deno.test("caching bucket and remote index cache: a cache nobody answers is a counted miss, never an error", async () => {
  // a port nothing listens on: every cache operation fails (connection refused)
  const dead = `127.0.0.1:${freePort()}`;
  const { reg, data, cb } = await setup(
    `type: MEMCACHED\nconfig:\n  addresses: [${dead}]\n  timeout: 200ms\n` +
      "chunk_subrange_size: 1000\n",
  );
  for (let i = 0; i < 2; i++) {
    assertEquals(await cb.getRange(CHUNKS, 1234, 5000), data.slice(1234, 6234));
    assertEquals((await cb.attributes(CHUNKS)).size, data.length);
  }
  await settle();
  const failures = reg.counter({
    name: "thanos_memcached_operation_failures_total",
    help: "",
    labelNames: ["name", "operation", "reason"],
  });
  const getFailures = ["network-error", "timeout", "other", "server-error", "malformed"]
    .reduce(
      (n, reason) => n + failures.get({ name: "caching-bucket", operation: "getmulti", reason }),
      0,
    );
  assert(getFailures >= 4, `failed fetches counted: ${getFailures}`);
  await cb.close();

  const ic = new RemoteIndexCache(
    newCache(parseCacheConfig(`type: REDIS\nconfig:\n  addr: ${dead}\n  dial_timeout: 200ms\n`), {
      name: "index-cache",
      registry: reg,
    }),
    { registry: reg },
  );
  ic.storePostings("b", 'pos:job="a"', new Uint32Array([1, 2, 3]));
  assertEquals(await ic.fetchPostings("b", 'pos:job="a"'), undefined);
  assertEquals(await ic.fetchSeries("b", [1, 2]), [undefined, undefined]);
  const requests = reg.counter({
    name: "thanos_store_index_cache_requests_total",
    help: "",
    labelNames: ["item_type"],
  });
  assertEquals(requests.get({ item_type: "Postings" }), 1);
  assertEquals(requests.get({ item_type: "Series" }), 2);
  await ic.close();
});

Deno.test("remote index cache: items round-trip through their byte encoding, keyed per block", async () => {
  const reg = new Registry();
  const cache = new InMemoryCache({
    name: "index-cache",
    config: { maxSizeBytes: MIB, maxSizeItems: 0, validityMs: 0 },
    registry: reg,
  });
  const ic = new RemoteIndexCache(cache, { registry: reg });
  const p = new Uint32Array([0, 1, 2, 300, 70000, 4294967295]);
  assertEquals(decodePostings(encodePostings(p)), p);
  assertEquals(encodePostings(new Uint32Array(1000).map((_, i) => i * 16)).length < 1010, true);
  const s = {
    ref: 123456,
    labels: ["__name__", "up", "instance", "a:9090", "ü", "日本"],
    chunks: [
      { minTime: -5000, maxTime: 1000, ref: 8 },
      { minTime: 1001, maxTime: 1_700_000_000_000, ref: 2 ** 32 + 77 },
    ],
  };
  assertEquals(decodeSeries(encodeSeries(s)), s);
  assertThrows(() => decodeSeries(encodeSeries(s).subarray(0, 10)));
  ic.storePostings("blockA", 'pos:job="x y"', p);
  ic.storeSeries("blockA", [s]);
  await settle();
  assertEquals(await ic.fetchPostings("blockA", 'pos:job="x y"'), p);
  assertEquals(await ic.fetchPostings("blockB", 'pos:job="x y"'), undefined);
  // a whole matcher set is its own item
  assertEquals(await ic.fetchExpandedPostings("blockA", 'pos:job="x y"'), undefined);
  ic.storeExpandedPostings("blockA", "[[job,=,x]]", p.subarray(0, 2));
  await settle();
  assertEquals(await ic.fetchExpandedPostings("blockA", "[[job,=,x]]"), p.subarray(0, 2));
  assertEquals(await ic.fetchSeries("blockA", [123456, 5]), [s, undefined]);
  assertEquals(await ic.fetchSeries("blockB", [123456]), [undefined]);
  // an undecodable item is a miss
  await cache.store(new Map([["S:blockA:5", new Uint8Array([1, 2, 3])]]), 0);
  assertEquals(await ic.fetchSeries("blockA", [5]), [undefined]);
  const hits = reg.counter({
    name: "thanos_store_index_cache_hits_total",
    help: "",
    labelNames: ["item_type"],
  });
  assertEquals([hits.get({ item_type: "Postings" }), hits.get({ item_type: "Series" })], [1, 1]);
  await ic.close();
});
