// The cache backends against real servers (memcached, redis-server) and in memory: multi-key
// fetch, TTL, oversized items, and a server killed mid-run (fetches become counted misses).

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import {
  type CacheServer,
  MEMCACHED,
  REDIS,
  startMemcached,
  startRedis,
} from "../helpers/cache_servers.ts";
import { freePort } from "../helpers/ports.ts";
import { makeCerts } from "../helpers/certs.ts";
import { Registry } from "../../metrics/registry.ts";
import { cachePermissions, parseCacheConfig } from "../../cache/config.ts";
import { newCache } from "../../cache/factory.ts";
import type { Cache } from "../../cache/cache.ts";
import { fnv64a, jumpHash } from "../../cache/memcached.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function entries(n: number, prefix = "k"): Map<string, Uint8Array> {
  const m = new Map<string, Uint8Array>();
  for (let i = 0; i < n; i++) m.set(`${prefix}${i}`, enc.encode(`value-${i}-${"x".repeat(i)}`));
  return m;
}

async function roundTrip(c: Cache): Promise<void> {
  const want = entries(50);
  // binary values with CR LF inside survive
  want.set("bin", new Uint8Array([0, 13, 10, 255, 13, 10]));
  await c.store(want, 60_000);
  const got = await c.fetch([...want.keys(), "absent1", "absent2"]);
  assertEquals(got.size, want.size);
  for (const [k, v] of want) assertEquals([...got.get(k)!], [...v], k);
  assert(!got.has("absent1"));
}

function metric(text: string, name: string, labels: string): number {
  for (const line of text.split("\n")) {
    if (line.startsWith(name + "{") && labels.split(",").every((l) => line.includes(l))) {
      return Number(line.split(" ").pop());
    }
  }
  return 0;
}

Deno.test("cache config: Thanos fields, defaults and errors", () => {
  const m = parseCacheConfig(`type: memcached
config:
  addresses: [127.0.0.1:11211, "dns+memcached:11211"]
  timeout: 250ms
  max_item_size: 2MiB
  expiration: 24h0m0s
`);
  assert(m.type === "MEMCACHED");
  assertEquals(m.config.timeoutMs, 250);
  assertEquals(m.config.maxItemSize, 2 * 1024 * 1024);
  assertEquals(m.config.maxIdleConnections, 100);
  assertEquals(m.config.expirationMs, 24 * 3600_000);
  const r = parseCacheConfig(`type: REDIS
config:
  addr: 127.0.0.1:6379
  db: 2
  read_timeout: 1s
`);
  assert(r.type === "REDIS");
  assertEquals(r.config.db, 2);
  assertEquals(r.config.readTimeoutMs, 1000);
  assertEquals(r.config.dialTimeoutMs, 5000);
  assertEquals(r.config.getMultiBatchSize, 100);
  const i = parseCacheConfig(`type: IN-MEMORY
config:
  max_size: 10MB
`);
  assert(i.type === "IN-MEMORY");
  assertEquals(i.config.maxSizeBytes, 10 * 1024 * 1024);
  const bad: [string, RegExp][] = [
    ["type: FOO", /unsupported cache type "FOO"/],
    ["type: MEMCACHED\nconfig:\n  addresses: []", /no memcached addresses/],
    ["type: MEMCACHED\nconfig:\n  addresses: [a:1]\n  timeut: 1s", /unknown field config.timeut/],
    [
      "type: REDIS\nconfig:\n  addr: x:1\n  dial_timeout: soon",
      /dial_timeout: expected a duration/,
    ],
    ["type: REDIS\nconfig:\n  addr: nohostport", /is not host:port/],
    ["type: IN-MEMORY\nconfig:\n  max_size: lots", /max_size: expected a byte size/],
    [
      "type: REDIS\nconfig:\n  addr: x:1\n  tls_config:\n    insecure_skip_verify: true",
      /insecure_skip_verify is not supported/,
    ],
  ];
  for (const [y, re] of bad) {
    let msg = "";
    try {
      parseCacheConfig(y);
    } catch (e) {
      msg = (e as Error).message;
    }
    assert(re.test(msg), `${y} → ${msg}`);
  }
});

Deno.test("cache: jump hash spreads keys and moves few when a server is added", () => {
  const counts = [0, 0, 0];
  let moved = 0;
  for (let i = 0; i < 3000; i++) {
    const h = fnv64a(`key-${i}`);
    const b3 = jumpHash(h, 3);
    counts[b3]++;
    if (jumpHash(h, 4) !== b3) moved++;
  }
  for (const c of counts) assert(c > 800 && c < 1200, `uneven: ${counts}`);
  // about a quarter move to the new server, none between old ones
  assert(moved > 500 && moved < 1000, `moved ${moved}`);
});

Deno.test("cache: in-memory LRU by items and bytes, TTL and validity", async () => {
  const reg = new Registry();
  const c = newCache(parseCacheConfig("type: IN-MEMORY\nconfig:\n  max_size_items: 3"), {
    name: "t",
    registry: reg,
  });
  await c.store(entries(3), 0);
  await c.fetch(["k0"]); // k0 is now the most recent
  await c.store(new Map([["k9", enc.encode("nine")]]), 0);
  const got = await c.fetch(["k0", "k1", "k2", "k9"]);
  assertEquals([...got.keys()].sort(), ["k0", "k2", "k9"]);
  const text = await reg.expose();
  assertEquals(metric(text, "thanos_cache_inmemory_items_evicted_total", 'name="t"'), 1);

  const byBytes = newCache(parseCacheConfig("type: IN-MEMORY\nconfig:\n  max_size: 100"), {
    name: "b",
    registry: reg,
  });
  await byBytes.store(new Map([["big", new Uint8Array(200)]]), 0);
  assertEquals((await byBytes.fetch(["big"])).size, 0);
  assertEquals(
    metric(await reg.expose(), "thanos_cache_inmemory_items_overflowed_total", 'name="b"'),
    1,
  );
  await byBytes.store(new Map([["t", enc.encode("x")]]), 1);
  await new Promise((r) => setTimeout(r, 5));
  assertEquals((await byBytes.fetch(["t"])).size, 0, "expired by TTL");
});

e2eTest("cache: memcached round trip, batching, item size, server killed", {
  peers: [MEMCACHED],
}, async () => {
  const a = await startMemcached();
  const b = await startMemcached();
  const reg = new Registry();
  const c = newCache(
    parseCacheConfig(`type: MEMCACHED
config:
  addresses: [${a.address}, ${b.address}]
  timeout: 500ms
  max_get_multi_batch_size: 7
  max_item_size: 1000
`),
    { name: "mc", registry: reg },
  );
  try {
    await roundTrip(c);
    // oversized values are skipped, not sent
    await c.store(new Map([["huge", new Uint8Array(5000)]]), 0);
    assertEquals((await c.fetch(["huge"])).size, 0);
    // keys memcached cannot take are skipped
    assertEquals((await c.fetch(["has space"])).size, 0);
    let text = await reg.expose();
    assertEquals(
      metric(
        text,
        "thanos_memcached_operation_skipped_total",
        'operation="set",reason="max-item-size"',
      ),
      1,
    );
    assertEquals(metric(text, "thanos_cache_memcached_hits_total", 'name="mc"'), 51);
    // kill one server: keys on it become misses, the others still answer
    await a.stop();
    const got = await c.fetch([...entries(50).keys()]);
    assert(got.size > 0 && got.size < 50, `some keys survive on the live server: ${got.size}`);
    text = await reg.expose();
    assert(
      metric(text, "thanos_memcached_operation_failures_total", 'operation="getmulti"') >= 1,
      "failures counted",
    );
    await b.stop();
    assertEquals((await c.fetch(["k1", "k2"])).size, 0);
    await c.store(entries(2), 0); // no throw while down
  } finally {
    c.close();
    await a.stop();
    await b.stop();
  }
});

e2eTest("cache: redis round trip, db, prefix, password, server killed", {
  peers: [REDIS],
}, async () => {
  const s = await startRedis(undefined, ["--requirepass", "sekret"]);
  const reg = new Registry();
  const mk = (extra: string) =>
    newCache(
      parseCacheConfig(`type: REDIS
config:
  addr: ${s.address}
  password: sekret
  db: 3
  get_multi_batch_size: 7
  set_multi_batch_size: 5
${extra}`),
      { name: "rd", registry: reg },
    );
  const c = mk(`  prefix: "p1:"`);
  const other = mk(`  prefix: "p2:"`);
  const wrongPass = newCache(
    parseCacheConfig(`type: REDIS\nconfig:\n  addr: ${s.address}\n  password: nope`),
    { name: "bad", registry: reg },
  );
  try {
    await roundTrip(c);
    assertEquals((await other.fetch(["k1"])).size, 0, "prefix separates keys");
    assertEquals((await wrongPass.fetch(["k1"])).size, 0, "auth failure is a miss");
    // TTL honoured by the server
    await c.store(new Map([["short", enc.encode("s")]]), 50);
    await new Promise((r) => setTimeout(r, 150));
    assertEquals((await c.fetch(["short"])).size, 0);
    assertEquals(dec.decode((await c.fetch(["k3"])).get("k3")!), "value-3-xxx");
    await s.stop();
    assertEquals((await c.fetch(["k1", "k2"])).size, 0);
    await c.store(entries(2), 0);
    const text = await reg.expose();
    assert(
      metric(text, "thanos_redis_operation_failures_total", 'name="rd",operation="getmulti"') >= 1,
    );
    assert(metric(text, "thanos_redis_operation_failures_total", 'name="bad"') >= 1);
  } finally {
    c.close();
    other.close();
    wrongPass.close();
    await s.stop();
  }
});

e2eTest("cache: redis over TLS (tls_enabled, tls_config.ca_file)", {
  peers: [REDIS, "openssl"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "thanos-ts-redis-tls-" });
  const port = freePort();
  let s: CacheServer | undefined;
  const reg = new Registry();
  let c: Cache | undefined;
  let plain: Cache | undefined;
  let untrusted: Cache | undefined;
  try {
    await makeCerts(dir);
    s = await startRedis(port, [
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--tls-cert-file",
      `${dir}/server.pem`,
      "--tls-key-file",
      `${dir}/server.key`,
      "--tls-ca-cert-file",
      `${dir}/ca.pem`,
      "--tls-auth-clients",
      "no",
    ]);
    c = newCache(
      parseCacheConfig(`type: REDIS
config:
  addr: 127.0.0.1:${port}
  tls_enabled: true
  tls_config:
    ca_file: ${dir}/ca.pem
`),
      { name: "tls", registry: reg },
    );
    await roundTrip(c);
    // without TLS the server answers nothing usable: misses, counted
    plain = newCache(
      parseCacheConfig(`type: REDIS\nconfig:\n  addr: 127.0.0.1:${port}\n  read_timeout: 300ms\n`),
      { name: "plain", registry: reg },
    );
    assertEquals((await plain.fetch(["k1"])).size, 0);
    // the server's certificate is verified: without the CA it is not trusted
    untrusted = newCache(
      parseCacheConfig(`type: REDIS\nconfig:\n  addr: 127.0.0.1:${port}\n  tls_enabled: true\n`),
      { name: "untrusted", registry: reg },
    );
    assertEquals((await untrusted.fetch(["k1"])).size, 0);
    assert(
      metric(await reg.expose(), "thanos_redis_operation_failures_total", 'name="untrusted"') >= 1,
    );
    assert(
      metric(await reg.expose(), "thanos_redis_operation_failures_total", 'name="plain"') >= 1,
    );
  } finally {
    c?.close();
    plain?.close();
    untrusted?.close();
    await s?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("cache permissions of the store's cache configs: servers for remote types, none in memory", () => {
  // the store's in-memory fields (max_item_size) are its own parser's business, in any YAML form
  for (
    const text of [
      "type: IN-MEMORY\nconfig:\n  max_size: 1GB\n  max_item_size: 1MB\nenabled_items: [Series]\n",
      '{"type": "in-memory", "config": {"max_item_size": 1024}, "chunk_subrange_size": 8000}',
    ]
  ) assertEquals(cachePermissions(text), { net: [], read: [] });
  // the caching bucket's and the index cache's fields beside config
  assertEquals(
    cachePermissions(
      "type: MEMCACHED\nconfig:\n  addresses: [mc-1:11211, dns+mc-2:11211]\n" +
        "chunk_subrange_size: 16000\nmax_chunks_get_range_requests: 3\nblocks_iter_ttl: 5m\n",
    ).net,
    ["mc-1:11211", "mc-2:11211"],
  );
  assertEquals(
    cachePermissions("type: REDIS\nconfig:\n  addr: r:6379\nenabled_items: [Postings]\nttl: 1h\n")
      .net,
    ["r:6379"],
  );
});
