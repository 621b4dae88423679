// The in-memory index cache as Thanos's `--index-cache.config` configures it
// (https://thanos.io/tip/components/store.md/#in-memory-index-cache): the IN-MEMORY type with its
// defaults, sizes and item types; MEMCACHED and REDIS with the cache clients' fields.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  INDEX_CACHE_ENTRY_OVERHEAD,
  IndexCache,
  IndexCacheConfigError,
  parseIndexCacheConfig,
} from "../../store/index_cache.ts";

import { Registry } from "../../metrics/registry.ts";
import { encodeLabelsProto } from "../../storeapi/codec.ts";

const MIB = 1024 * 1024;

Deno.test("IN-MEMORY index cache config: Thanos's defaults, sizes and item types", () => {
  // the documented empty config: every field at Thanos's default
  assertEquals(
    parseIndexCacheConfig(
      "type: IN-MEMORY\nconfig:\n  max_size: 0\n  max_item_size: 0\n  enabled_items: []\n" +
        "  ttl: 0s\n",
    ),
    { maxBytes: 250 * MIB, maxItemBytes: 125 * MIB },
  );
  assertEquals(parseIndexCacheConfig("type: in-memory\n"), {
    maxBytes: 250 * MIB,
    maxItemBytes: 125 * MIB,
  });
  assertEquals(
    parseIndexCacheConfig(
      "type: IN-MEMORY\nconfig:\n  max_size: 1GB\n  max_item_size: 64MiB\n" +
        "  enabled_items: [Series, ExpandedPostings]\n",
    ),
    { maxBytes: 1024 ** 3, maxItemBytes: 64 * MIB, enabledItems: ["Series", "ExpandedPostings"] },
  );
  assertEquals(
    parseIndexCacheConfig(
      '{"type":"IN-MEMORY","config":{"max_size":1048576,"max_item_size":1024}}',
    ),
    { maxBytes: MIB, maxItemBytes: 1024 },
  );
  // as Thanos: the default item limit (125MiB) may not exceed a smaller max_size
  assertThrows(
    () => parseIndexCacheConfig("type: IN-MEMORY\nconfig:\n  max_size: 1MiB\n"),
    IndexCacheConfigError,
    "max_item_size (131072000) must not exceed max_size (1048576)",
  );
});

Deno.test("index cache config: MEMCACHED and REDIS with Thanos's fields; bad configs named", () => {
  const m = parseIndexCacheConfig(
    "type: memcached\nconfig:\n  addresses: [127.0.0.1:11211]\n  timeout: 1s\n" +
      "  max_item_size: 2MiB\n  max_get_multi_batch_size: 64\n" +
      "enabled_items: [Postings, ExpandedPostings]\nttl: 1h\n",
  );
  assert("backend" in m && m.backend.type === "MEMCACHED");
  assertEquals(m.backend.config.addresses, ["127.0.0.1:11211"]);
  assertEquals(m.backend.config.timeoutMs, 1000);
  assertEquals(m.backend.config.maxItemSize, 2 * MIB);
  assertEquals(m.backend.config.maxGetMultiBatchSize, 64);
  assertEquals(m.enabledItems, ["Postings", "ExpandedPostings"]);
  assertEquals(m.ttlMs, 3600_000);
  const r = parseIndexCacheConfig(
    "type: REDIS\nconfig:\n  addr: 127.0.0.1:6379\n  username: u\n  password: p\n  db: 2\n",
  );
  assert("backend" in r && r.backend.type === "REDIS");
  assertEquals(r.backend.config.addresses, ["127.0.0.1:6379"]);
  assertEquals([r.backend.config.username, r.backend.config.password], ["u", "p"]);
  assertEquals(r.backend.config.db, 2);
  assertEquals(r.enabledItems, undefined);
  for (
    const [text, want] of [
      ["type: MEMCACHED\nconfig:\n  addresses: []\n", "no memcached addresses"],
      ["type: REDIS\nconfig:\n  addr: 127.0.0.1:6379\n  nope: 1\n", "unknown field config.nope"],
      ["type: REDIS\nconfig:\n  addr: x:1\nenabled_items: [Chunks]\n", '"Chunks"'],
    ]
  ) {
    const e = assertThrows(() => parseIndexCacheConfig(text), IndexCacheConfigError, want);
    assert(!e.message.includes("\n"), e.message);
  }
  const bad: [string, string][] = [
    ["type: DISK\n", 'unsupported index cache type "DISK"'],
    ["type: IN-MEMORY\nconfig:\n  max_size: lots\n", "invalid max_size"],
    ["type: IN-MEMORY\nconfig:\n  max_size: 10MB\n  max_item_size: 20MB\n", "must not exceed"],
    ["type: IN-MEMORY\nconfig:\n  enabled_items: [Chunks]\n", 'unsupported item type "Chunks"'],
    ["type: IN-MEMORY\nconfig:\n  size: 1\n", "unknown field config.size"],
    ["type: IN-MEMORY\nextra: 1\n", "unknown field extra"],
    ["- a\n", "want a mapping"],
  ];
  for (const [text, want] of bad) assertThrows(() => parseIndexCacheConfig(text), Error, want);
});

Deno.test("the cache honours max_item_size and enabled_items", () => {
  const series = new IndexCache(MIB, { enabledItems: ["Series"] });
  series.setPostings("b", "k", new Uint32Array(10));
  assertEquals(series.getPostings("b", "k"), undefined);
  const small = new IndexCache(MIB, { maxItemBytes: 1024 });
  small.setPostings("b", "big", new Uint32Array(1024));
  assertEquals(small.getPostings("b", "big"), undefined);
  small.setPostings("b", "small", new Uint32Array(8));
  assertEquals(small.getPostings("b", "small")?.length, 8);
  // the default item limit is half the cache
  const half = new IndexCache(16 * 1024);
  half.setPostings("b", "k", new Uint32Array(2048 + 16));
  assertEquals(half.getPostings("b", "k"), undefined);
});

Deno.test("series entries are kept as bytes: the index's body with its reader, else encoded", () => {
  const s = {
    ref: 77,
    labels: ["__name__", "up", "instance", "host-1:9100", "job", "node"],
    chunks: [
      { minTime: 1_700_000_000_000, maxTime: 1_700_000_119_000, ref: 8 },
      { minTime: 1_700_000_120_000, maxTime: 1_700_000_239_000, ref: 200 },
    ],
  };
  const c = new IndexCache(MIB);
  // a body (symbol references) is decoded by the block's reader, given to the lookup
  const body = Uint8Array.of(3, 1, 2, 3, 4, 5, 6, 2, 9, 9, 9);
  const seen: [number, number[]][] = [];
  const decode = (ref: number, b: Uint8Array) => {
    seen.push([ref, [...b]]);
    return s;
  };
  c.storeSeries("blockA", [s], new Map([[77, body]]));
  assertEquals(c.getSeries("blockA", 77), undefined, "a body without its reader is a miss");
  assertEquals(c.getSeries("blockA", 77, decode), s);
  assertEquals(seen, [[77, [...body]]]);
  // the bound counts the bytes kept: the body, not a decoded object
  assert(
    c.sizeBytes < body.length + INDEX_CACHE_ENTRY_OVERHEAD + 32,
    `${c.sizeBytes} bytes for an ${body.length}-byte body`,
  );
  // without a body the entry is encoded whole and needs no reader
  c.storeSeries("blockB", [s]);
  assertEquals(c.getSeries("blockB", 77), s);
  // dropping a block forgets only its items
  c.dropBlock("blockA");
  assertEquals(c.getSeries("blockA", 77, decode), undefined);
  assertEquals(c.getSeries("blockB", 77), s);
  assertEquals(c.itemCount, 1);
  // a dropped block that comes back does not see the old items
  c.storeSeries("blockA", [s], new Map([[77, body]]));
  assertEquals(c.itemCount, 2);
});

Deno.test("postings of blocks stay apart after a block is dropped and another one cached", () => {
  const c = new IndexCache(MIB);
  c.setPostings("blockA", "k", Uint32Array.of(1));
  c.setPostings("blockB", "k", Uint32Array.of(2));
  c.dropBlock("blockA");
  // a new block must not be given the key of a block still cached
  c.setPostings("blockC", "k", Uint32Array.of(3));
  assertEquals([...c.getPostings("blockB", "k") ?? []], [2]);
  assertEquals([...c.getPostings("blockC", "k") ?? []], [3]);
  assertEquals(c.getPostings("blockA", "k"), undefined);
});

Deno.test("the in-memory cache evicts the least recently used series past its byte bound", async () => {
  const c = new IndexCache(4096);
  const entry = (ref: number) => ({
    ref,
    labels: ["__name__", "m", "id", String(ref).padStart(6, "0")],
    chunks: [{ minTime: 0, maxTime: 7_199_000, ref: 8 + ref * 100 }],
  });
  for (let r = 0; r < 100; r++) c.storeSeries("b", [entry(r)]);
  assert(c.sizeBytes <= 4096, `${c.sizeBytes} bytes held`);
  assert(c.itemCount > 5 && c.itemCount < 100, `${c.itemCount} items held`);
  assertEquals(c.getSeries("b", 0), undefined, "the oldest was evicted");
  assertEquals(c.getSeries("b", 99), entry(99));
  // a hit makes an item recent: it survives the next evictions
  const kept = 100 - c.itemCount;
  assertEquals(c.getSeries("b", kept), entry(kept));
  for (let r = 100; r < 110; r++) c.storeSeries("b", [entry(r)]);
  assertEquals(c.getSeries("b", kept), entry(kept));
  assertEquals(c.getSeries("b", kept + 1), undefined);
  // a hit of a batch fetch (the bucket store's lookup) makes its items recent too
  const d = new IndexCache(4096);
  for (let r = 0; r < 100; r++) d.storeSeries("b", [entry(r)]);
  const oldest = 100 - d.itemCount;
  assertEquals(await d.fetchSeries("b", [oldest]), [entry(oldest)]);
  for (let r = 100; r < 110; r++) d.storeSeries("b", [entry(r)]);
  assertEquals(await d.fetchSeries("b", [oldest, oldest + 1]), [entry(oldest), undefined]);
});

Deno.test("a series fetch decodes hits of every size and counts its requests and hits once", async () => {
  const registry = new Registry();
  const c = new IndexCache(MIB, { registry });
  // bodies from 2 bytes to past the 1 KiB scratch buffer, then small ones again after it grew
  const sizes = [2, 40, 700, 3000, 5, 40, 1500, 3];
  const bodies = new Map<number, Uint8Array>();
  sizes.forEach((n, ref) =>
    bodies.set(ref, Uint8Array.from({ length: n }, (_, i) => (i * 7 + ref) & 0xff))
  );
  const entry = (ref: number) => ({ ref, labels: ["i", `${ref}`], chunks: [] });
  c.storeSeries("b", [...bodies.keys()].map(entry), bodies);
  const seen: number[][] = [];
  const decode = (ref: number, b: Uint8Array) => {
    seen.push([...b]);
    return entry(ref);
  };
  // every entry, two misses in between, then each entry alone (the scratch is warm by then)
  const refs = [0, 1, 2, 3, 100, 4, 5, 6, 7, 101];
  const got = await c.fetchSeries("b", refs, decode);
  assertEquals(got, refs.map((r) => r < 100 ? entry(r) : undefined));
  for (const r of [7, 0, 3, 4]) assertEquals(await c.fetchSeries("b", [r], decode), [entry(r)]);
  assertEquals(seen, [0, 1, 2, 3, 4, 5, 6, 7, 7, 0, 3, 4].map((r) => [...bodies.get(r)!]));
  const text = await registry.expose();
  const count = (name: string) =>
    Number(new RegExp(`^${name}\\{item_type="Series"\\} (\\d+)$`, "m").exec(text)?.[1]);
  assertEquals(count("thanos_store_index_cache_requests_total"), refs.length + 4);
  assertEquals(count("thanos_store_index_cache_hits_total"), 8 + 4);
});

Deno.test("a series entry kept with its labels ready-encoded hands them to the body decoder and counts their bytes", async () => {
  const s = {
    ref: 77,
    labels: ["__name__", "up", "instance", "hôst-1:9100", "job", "node"],
    chunks: [{ minTime: 1_700_000_000_000, maxTime: 1_700_000_119_000, ref: 8 }],
  };
  const body = Uint8Array.of(3, 1, 2, 3, 4, 5, 6, 1, 9, 9, 9);
  const protos: (string | undefined)[] = [];
  const decode = (ref: number, _b: Uint8Array, labelsProto: string | undefined) => {
    protos.push(labelsProto);
    return { ...s, ref, labelsProto };
  };
  const plain = new IndexCache(MIB);
  plain.storeSeries("b", [s], new Map([[77, body]]));
  const ready = new IndexCache(MIB);
  ready.storeSeries("b", [s], new Map([[77, body]]), true);
  const proto = encodeLabelsProto(s.labels);
  assertEquals((await ready.fetchSeries("b", [77], decode))[0]?.labelsProto, proto);
  assertEquals((await plain.fetchSeries("b", [77], decode))[0]?.labelsProto, undefined);
  assertEquals(protos, [proto, undefined]);
  // its bytes and the string's 12-byte header, rounded up to V8's 4-byte alignment
  assertEquals(ready.sizeBytes - plain.sizeBytes, (16 + proto.length + 7) & ~7);
  // an entry without the index's body (encoded whole) carries them too
  ready.storeSeries("c", [s], undefined, true);
  assertEquals(ready.getSeries("c", 77), { ...s, labelsProto: proto });
  assertEquals(plain.getSeries("b", 77), undefined, "a body without its reader is a miss");
});

Deno.test("the in-memory cache agrees with a plain LRU model over random stores, fetches, hits and dropped blocks", async () => {
  // a small xorshift generator: the same sequence every run
  let x = 0x2545f491;
  const rand = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const bodyOf = (ref: number, n: number) =>
    Uint8Array.from({ length: n }, (_, i) => (ref * 31 + i * 7) & 0xff);
  const labelsOf = (ref: number) => ["__name__", "m", "id", String(ref)];
  // [bytes, refs per block, operations, drops of a block per 200 operations]
  for (
    const [maxBytes, refSpace, ops, drops] of [[4000, 40, 6000, 20], [200_000, 3000, 12_000, 1]]
  ) {
    const registry = new Registry();
    const c = new IndexCache(maxBytes, { registry });
    // the model: items by "block/ref" in recency order (a Map iterates oldest first)
    const model = new Map<string, { body: Uint8Array; proto: string | undefined; size: number }>();
    let modelBytes = 0;
    let evicted = 0;
    const blocks = ["b0", "b1", "b2", "b3", "b4"];
    const decode = (ref: number, b: Uint8Array, proto: string | undefined) => ({
      ref,
      labels: [...b].map(String),
      chunks: [],
      ...(proto === undefined ? {} : { labelsProto: proto }),
    });
    for (let op = 0; op < ops; op++) {
      const block = blocks[rand(blocks.length)];
      const r = rand(200);
      if (r < 100) {
        // store a batch: new entries and replaced ones, some with their labels ready
        const ready = rand(2) === 0;
        const series = [];
        const bodies = new Map<number, Uint8Array>();
        for (let i = rand(4) + 1; i > 0; i--) {
          const ref = 16 * (rand(refSpace) + 1);
          if (bodies.has(ref)) continue;
          series.push({ ref, labels: labelsOf(ref), chunks: [] });
          bodies.set(ref, bodyOf(ref, 1 + rand(60)));
        }
        c.storeSeries(block, series, bodies, ready);
        for (const s of series) {
          const body = bodies.get(s.ref)!;
          const proto = ready ? encodeLabelsProto(s.labels) : undefined;
          const labelsBytes = proto === undefined ? 0 : (16 + proto.length + 7) & ~7;
          const size = 1 + body.length + labelsBytes + INDEX_CACHE_ENTRY_OVERHEAD + 8;
          const k = `${block}/${s.ref}`;
          const old = model.get(k);
          if (old) {
            modelBytes -= old.size;
            model.delete(k);
          }
          while (modelBytes + size > maxBytes && model.size > 0) {
            const [ok, ov] = model.entries().next().value!;
            model.delete(ok);
            modelBytes -= ov.size;
            evicted++;
          }
          model.set(k, { body, proto, size });
          modelBytes += size;
        }
      } else if (r < 200 - drops) {
        const refs = Array.from({ length: rand(6) + 1 }, () => 16 * (rand(refSpace) + 1));
        const got = await c.fetchSeries(block, refs, decode);
        refs.forEach((ref, i) => {
          const k = `${block}/${ref}`;
          const m = model.get(k);
          if (m) {
            // a hit is the most recent item
            model.delete(k);
            model.set(k, m);
          }
          assertEquals(
            got[i],
            m ? decode(ref, m.body, m.proto) : undefined,
            `op ${op}: ${k}`,
          );
        });
      } else {
        c.dropBlock(block);
        for (const [k, v] of [...model]) {
          if (k.startsWith(`${block}/`)) {
            model.delete(k);
            modelBytes -= v.size;
          }
        }
      }
      assertEquals([c.itemCount, c.sizeBytes], [model.size, modelBytes], `after op ${op}`);
    }
    const text = await registry.expose();
    const metric = (name: string) =>
      Number(new RegExp(`^${name}\\{item_type="Series"\\} (\\d+)$`, "m").exec(text)?.[1]);
    assertEquals(metric("thanos_store_index_cache_items_evicted_total"), evicted);
    assertEquals(metric("thanos_store_index_cache_items"), model.size);
    assertEquals(metric("thanos_store_index_cache_total_size_bytes"), modelBytes);
    assert(evicted > 100, `${evicted} evictions`);
  }
});

Deno.test("a series entry longer than one string chunk keeps its body and ready labels whole", () => {
  const c = new IndexCache(MIB);
  const labels = ["__name__", "m", "long", "v".repeat(5000)];
  const body = Uint8Array.from({ length: 6000 }, (_, i) => (i * 13) & 0xff);
  c.storeSeries("b", [{ ref: 32, labels, chunks: [] }], new Map([[32, body]]), true);
  let seen: [number[], string | undefined] | undefined;
  c.getSeries("b", 32, (ref, b, proto) => {
    seen = [[...b], proto];
    return { ref, labels, chunks: [] };
  });
  assertEquals(seen, [[...body], encodeLabelsProto(labels)]);
  const labelsBytes = (16 + seen![1]!.length + 7) & ~7;
  assertEquals(c.sizeBytes, 1 + body.length + labelsBytes + INDEX_CACHE_ENTRY_OVERHEAD + 8);
});
