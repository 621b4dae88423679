// The store gateway's caches through the real CLI (`main.ts store` as a subprocess) against
// Debian's memcached and redis-server: with `--index-cache.config` and
// `--store.caching-bucket.config` (https://thanos.io/tip/components/store.md/#index-cache,
// …/#caching-bucket) a repeated query reads no bytes from the bucket (counted by the store's
// own `thanos_objstore_bucket_operation_fetched_bytes_total`), answers stay identical, killing
// the cache server mid-run keeps answers correct (failures counted as misses), and a restarted
// server fills again.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { startComponent, type ThanosProc } from "../helpers/thanos.ts";
import {
  type CacheServer,
  MEMCACHED,
  REDIS,
  startMemcached,
  startRedis,
} from "../helpers/cache_servers.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { writeBlock } from "../../tsdb/block_writer.ts";
import type { RawSeries } from "../../tsdb/block_writer.ts";
import { compareLabels, labelsFromObject, labelsToString } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

const H = 3_600_000;

function series(n: number): RawSeries[] {
  const out: RawSeries[] = [];
  for (let i = 0; i < n; i++) {
    const ts = new Float64Array(480);
    const vs = new Float64Array(480);
    for (let k = 0; k < ts.length; k++) {
      ts[k] = k * 15_000;
      vs[k] = (i * 13 + k * 7) % 997;
    }
    out.push({
      labels: labelsFromObject({
        __name__: `m${i % 10}`,
        id: String(i).padStart(6, "0"),
        job: i % 2 === 0 ? "api" : "db",
      }),
      ts,
      vs,
    });
  }
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}

const QUERIES: { name: string; matchers: Matcher[]; series: number }[] = [
  { name: "one series", matchers: [new Matcher(MatchType.Equal, "id", "000042")], series: 1 },
  {
    name: "200 series",
    matchers: [
      new Matcher(MatchType.Equal, "__name__", "m3"),
      new Matcher(MatchType.Regexp, "job", "api|db"),
    ],
    series: 200,
  },
];

/** One query's answer as text: labels and every chunk's time range and bytes. */
async function answer(grpc: string, matchers: Matcher[]): Promise<string[]> {
  const c = new StoreClient(grpc);
  try {
    const out: string[] = [];
    for await (
      const s of c.series({ minTime: 0, maxTime: 2 * H, matchers }, AbortSignal.timeout(60_000))
    ) {
      if ("warning" in s) throw new Error(`warning: ${s.warning}`);
      const chunks = s.chunks.map((ch) =>
        `${ch.minTime}-${ch.maxTime}:${
          Array.from(ch.data, (b) => b.toString(16).padStart(2, "0")).join("")
        }`
      );
      out.push(`${labelsToString(s.labels)} ${chunks.join(",")}`);
    }
    return out;
  } finally {
    c.close();
  }
}

async function metrics(p: ThanosProc): Promise<string> {
  const r = await fetch(`${p.http}/metrics`, { signal: AbortSignal.timeout(10_000) });
  return await r.text();
}

/** Sum of the samples of `name` whose labels include every `want` pair. */
function sum(text: string, name: string, want: Record<string, string> = {}): number {
  let n = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) continue;
    if (!Object.entries(want).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    n += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return n;
}

const bucketBytes = (t: string) => sum(t, "thanos_objstore_bucket_operation_fetched_bytes_total");

/** Waits (bounded) until no cache write is in flight: every started set has finished. */
async function settled(p: ThanosProc, backend: string): Promise<void> {
  let last = "";
  for (let i = 0; i < 100; i++) {
    const t = await metrics(p);
    const started = sum(t, `thanos_${backend}_operations_total`, { operation: "set" });
    const done = sum(t, `thanos_${backend}_operation_duration_seconds_count`, {
      operation: "set",
    });
    const now = `${started}/${done}`;
    if (started === done && now === last) return;
    last = now;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${backend} writes did not finish: ${last}`);
}

for (const backend of ["memcached", "redis"] as const) {
  e2eTest(
    `store gateway with ${backend} index cache and caching bucket: warm queries read no bucket bytes; a dead cache server only makes misses`,
    { peers: [backend === "memcached" ? MEMCACHED : REDIS] },
    async () => {
      await using dirs = new TempDirs();
      const root = await dirs.make();
      await Deno.mkdir(`${root}/bucket`);
      await writeBlock(`${root}/bucket`, series(2000), {
        minTime: 0,
        maxTime: 2 * H,
        thanos: { labels: { cluster: "c1" }, downsample: { resolution: 0 }, source: "test" },
      });
      let server: CacheServer = backend === "memcached"
        ? await startMemcached()
        : await startRedis();
      let store: ThanosProc | undefined;
      try {
        const conf = backend === "memcached"
          ? `type: MEMCACHED\nconfig:\n  addresses: [${server.address}]\n  timeout: 1s\n` +
            "  max_async_concurrency: 4\n"
          : `type: REDIS\nconfig:\n  addr: ${server.address}\n  dial_timeout: 1s\n` +
            "  read_timeout: 1s\n  write_timeout: 1s\n";
        await Deno.writeTextFile(`${root}/bucket-cache.yml`, conf + "chunk_subrange_size: 16000\n");
        store = await startComponent("store", [
          `--objstore.config=type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`,
          `--data-dir=${root}/data`,
          // memcached: per-matcher postings and series; redis: every item type (whole matcher
          // sets too)
          `--index-cache.config=${conf}` +
          (backend === "memcached" ? "enabled_items: [Postings, Series]\n" : ""),
          `--store.caching-bucket.config-file=${root}/bucket-cache.yml`,
        ], { timeoutMs: 60_000 });

        // cold: read from the bucket, stored in the cache
        const want: string[][] = [];
        for (const q of QUERIES) {
          const a = await answer(store.grpc, q.matchers);
          assertEquals(a.length, q.series, q.name);
          want.push(a);
        }
        await settled(store, backend);
        let t = await metrics(store);
        const cold = bucketBytes(t);
        assert(cold > 0);
        assert(sum(t, `thanos_${backend}_operations_total`, { name: "index-cache" }) > 0);
        assert(sum(t, `thanos_${backend}_operations_total`, { name: "caching-bucket" }) > 0);

        // warm: identical answers, not one byte from the bucket
        for (const [i, q] of QUERIES.entries()) {
          assertEquals(await answer(store.grpc, q.matchers), want[i], q.name);
        }
        t = await metrics(store);
        assertEquals(bucketBytes(t), cold, "a warm query read bytes from the bucket");
        const postingsItem = backend === "memcached" ? "Postings" : "ExpandedPostings";
        assert(sum(t, "thanos_store_index_cache_hits_total", { item_type: postingsItem }) > 0);
        assert(sum(t, "thanos_store_index_cache_hits_total", { item_type: "Series" }) >= 201);
        assert(
          sum(t, "thanos_store_bucket_cache_operation_hits_total", { operation: "get_range" }) > 0,
        );
        const failuresBefore = sum(t, `thanos_${backend}_operation_failures_total`);

        // the cache server dies during a query (wherever the kill lands, the answer is whole),
        // then stays down: same answers, from the bucket
        const [during] = await Promise.all([
          answer(store.grpc, QUERIES[1].matchers),
          server.stop(),
        ]);
        assertEquals(during, want[1], "query during the kill");
        for (const [i, q] of QUERIES.entries()) {
          assertEquals(await answer(store.grpc, q.matchers), want[i], `${q.name}, cache down`);
        }
        t = await metrics(store);
        assert(sum(t, `thanos_${backend}_operation_failures_total`) > failuresBefore);
        assert(bucketBytes(t) > cold, "with the cache down the bucket was not read");
        assert(store.alive);

        // a new server on the same port: the caches fill again and the next query is warm
        server = backend === "memcached"
          ? await startMemcached(server.port)
          : await startRedis(server.port);
        for (let round = 0; round < 2; round++) {
          for (const [i, q] of QUERIES.entries()) {
            assertEquals(await answer(store.grpc, q.matchers), want[i], `${q.name}, refill`);
          }
          await settled(store, backend);
        }
        const refilled = bucketBytes(await metrics(store));
        for (const [i, q] of QUERIES.entries()) {
          assertEquals(await answer(store.grpc, q.matchers), want[i], q.name);
        }
        assertEquals(bucketBytes(await metrics(store)), refilled, "warm again after restart");
      } finally {
        await store?.stop();
        await server.stop();
      }
    },
  );
}
