// Store gateway caches: bytes read from the bucket per query, cold (first run) and warm (the same
// query again), for a one-series and a 1,000-series selector on one block of `--series` series
// (default 100,000). Configurations: the default in-memory index cache alone, and the memcached
// and redis index cache plus caching bucket (https://thanos.io/tip/components/store.md/#caching-bucket)
// against Debian's servers started here on free ports. Bytes do not depend on machine load.
//
//   deno run -A bench/store_cache_bench.ts [--series=100000] [--samples=120]

import { parseArgs } from "node:util";
import { BucketStore } from "../store/bucket_store.ts";
import { CachingBucket, parseCachingBucketConfig } from "../store/caching_bucket.ts";
import { parseIndexCacheConfig, RemoteIndexCache } from "../store/index_cache.ts";
import { newCache } from "../cache/factory.ts";
import { MetaSyncer } from "../block/fetcher.ts";
import { Logger } from "../logging/log.ts";
import { Registry } from "../metrics/registry.ts";
import { createBucket } from "../objstore/config.ts";
import type { Bucket } from "../objstore/bucket.ts";
import { type RawSeries, writeBlock } from "../tsdb/block_writer.ts";
import { compareLabels, labelsFromObject } from "../tsdb/labels.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import { type CacheServer, startMemcached, startRedis } from "../tests/helpers/cache_servers.ts";
import { peerMissing } from "../tests/helpers/peers.ts";

const H = 3_600_000;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    series: { type: "string", default: "100000" },
    samples: { type: "string", default: "120" },
  },
});
const N = Number(values.series);
const SAMPLES = Number(values.samples);
if (!(N >= 1000) || !(SAMPLES >= 1)) throw new Error("--series must be >= 1000, --samples >= 1");

function* genSeries(n: number): Generator<RawSeries> {
  const all: RawSeries["labels"][] = [];
  for (let i = 0; i < n; i++) {
    all.push(labelsFromObject({
      // 1,000 series per metric name when n is 100,000
      __name__: `bench_metric_${i % Math.max(1, Math.floor(n / 1000))}`,
      id: String(i).padStart(7, "0"),
      job: "bench",
    }));
  }
  all.sort(compareLabels);
  for (const labels of all) {
    const ts = new Float64Array(SAMPLES);
    const vs = new Float64Array(SAMPLES);
    const seed = Number(labels[3]);
    for (let k = 0; k < SAMPLES; k++) {
      ts[k] = k * 15_000;
      vs[k] = (seed * 31 + k * 7) % 1000;
    }
    yield { labels, ts, vs };
  }
}

const SELECTORS: { name: string; matchers: Matcher[] }[] = [
  { name: "1 series", matchers: [new Matcher(MatchType.Equal, "id", "0000042")] },
  {
    name: "1k series",
    matchers: [
      new Matcher(MatchType.Equal, "__name__", "bench_metric_0"),
      new Matcher(MatchType.Equal, "job", "bench"),
    ],
  },
];

/** Bytes the bucket answered get and get_range with (the store's objstore metric). */
async function bucketBytes(reg: Registry): Promise<number> {
  let n = 0;
  for (const line of (await reg.expose()).split("\n")) {
    if (line.startsWith("thanos_objstore_bucket_operation_fetched_bytes_total{")) {
      n += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return n;
}

const root = await Deno.makeTempDir({ prefix: "thanos-store-cache-bench-" });
const servers: CacheServer[] = [];
try {
  const meta = await writeBlock(`${root}/bucket`, genSeries(N), {
    minTime: 0,
    maxTime: 2 * H,
    thanos: { labels: { cluster: "bench" }, downsample: { resolution: 0 }, source: "bench" },
  });
  const indexSize = (await Deno.stat(`${root}/bucket/${meta.ulid}/index`)).size;
  const chunkSize = (await Deno.stat(`${root}/bucket/${meta.ulid}/chunks/000001`)).size;
  console.log(
    `block: ${N} series x ${SAMPLES} samples; index ${indexSize} B, chunks ${chunkSize} B`,
  );

  const configs: { name: string; backend?: string; conf?: (addr: string) => string }[] = [
    { name: "in-memory index cache (default), no caching bucket" },
  ];
  if (peerMissing("memcached") === null) {
    configs.push({
      name: "memcached index cache + caching bucket",
      backend: "memcached",
      conf: (a) => `type: MEMCACHED\nconfig:\n  addresses: [${a}]\n  max_item_size: 1MiB\n`,
    });
  } else console.log("memcached not found: skipped");
  if (peerMissing("redis-server") === null) {
    configs.push({
      name: "redis index cache + caching bucket",
      backend: "redis",
      conf: (a) => `type: REDIS\nconfig:\n  addr: ${a}\n`,
    });
  } else console.log("redis-server not found: skipped");

  const rows: string[] = [];
  for (const cfg of configs) {
    const registry = new Registry();
    const dataDir = `${root}/data-${cfg.backend ?? "inmem"}`;
    let bucket: Bucket = await createBucket(
      { type: "FILESYSTEM", config: { directory: `${root}/bucket` }, prefix: "" } as Parameters<
        typeof createBucket
      >[0],
      { registry },
    );
    let remote: RemoteIndexCache | undefined;
    let caching: CachingBucket | undefined;
    if (cfg.backend && cfg.conf) {
      const server = cfg.backend === "memcached" ? await startMemcached() : await startRedis();
      servers.push(server);
      const text = cfg.conf(server.address);
      const cb = parseCachingBucketConfig(text);
      caching = new CachingBucket(
        bucket,
        newCache(cb.backend, { name: "caching-bucket", registry }),
        cb,
        { registry },
      );
      bucket = caching;
      const ic = parseIndexCacheConfig(text);
      if (!("backend" in ic)) throw new Error("unreachable");
      remote = new RemoteIndexCache(newCache(ic.backend, { name: "index-cache", registry }), {
        registry,
      });
    }
    const store = new BucketStore(bucket, {
      syncer: new MetaSyncer(bucket, { registry, cacheDir: `${dataDir}/meta-syncer` }),
      logger: new Logger("warn"),
      registry,
      dataDir,
      remoteIndexCache: remote,
    });
    try {
      await store.syncBlocks();
      for (const sel of SELECTORS) {
        const bytes: number[] = [];
        let count = 0;
        for (let run = 0; run < 2; run++) {
          const before = await bucketBytes(registry);
          count = 0;
          for await (
            const s of store.series(
              { minTime: 0, maxTime: 2 * H, matchers: sel.matchers },
              AbortSignal.timeout(300_000),
            )
          ) if (!("warning" in s)) count++;
          bytes.push(await bucketBytes(registry) - before);
          await remote?.flush();
          await caching?.flush();
        }
        rows.push(
          `| ${cfg.name} | ${sel.name} (${count}) | ${bytes[0]} | ${bytes[1]} | ${
            bytes[1] === 0 ? "warm: none from the bucket" : (bytes[0] / bytes[1]).toFixed(1) + "x"
          } |`,
        );
      }
    } finally {
      await store.close();
      await bucket.close();
    }
  }
  console.log(
    "\n| configuration | selector (series) | cold bucket bytes | warm bucket bytes | ratio |",
  );
  console.log("|---|---|---|---|---|");
  for (const r of rows) console.log(r);
} finally {
  for (const s of servers) await s.stop();
  await Deno.remove(root, { recursive: true });
}
