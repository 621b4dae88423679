// Store gateway figures: series/s and chunk MB/s streamed over gRPC for a 100,000-series
// selector (cold and warm index cache), resident memory per loaded block, and the bucket
// requests and bytes of a one-series selector in a 1,000,000-series block.
//
//   deno run -A --v8-flags=--expose-gc bench/store_bench.ts [--series=100000] [--big=1000000] [--blocks=20]

import { parseArgs } from "node:util";
import { BucketStore } from "../store/bucket_store.ts";
import { MetaSyncer } from "../block/fetcher.ts";
import { Logger } from "../logging/log.ts";
import { Registry } from "../metrics/registry.ts";
import { createBucket } from "../objstore/config.ts";
import type { Bucket } from "../objstore/bucket.ts";
import { StoreServer } from "../storeapi/server.ts";
import { StoreClient } from "../storeapi/client.ts";
import { type RawSeries, writeBlock } from "../tsdb/block_writer.ts";
import { compareLabels, labelsFromObject } from "../tsdb/labels.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";

const H = 3_600_000;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    series: { type: "string", default: "100000" },
    big: { type: "string", default: "1000000" },
    blocks: { type: "string", default: "20" },
  },
});

function* genSeries(n: number, samples: number, tag: string): Generator<RawSeries> {
  const all: RawSeries["labels"][] = [];
  for (let i = 0; i < n; i++) {
    all.push(labelsFromObject({
      __name__: `bench_metric_${i % 100}`,
      id: String(i).padStart(7, "0"),
      job: tag,
    }));
  }
  all.sort(compareLabels);
  for (const labels of all) {
    const ts = new Float64Array(samples);
    const vs = new Float64Array(samples);
    const seed = Number(labels[3]);
    for (let k = 0; k < samples; k++) {
      ts[k] = k * 15_000;
      vs[k] = (seed * 31 + k * 7) % 1000;
    }
    yield { labels, ts, vs };
  }
}

async function fsBucket(dir: string, registry: Registry): Promise<Bucket> {
  return await createBucket(
    { type: "FILESYSTEM", config: { directory: dir }, prefix: "" } as Parameters<
      typeof createBucket
    >[0],
    { registry },
  );
}

function store(bucket: Bucket, registry: Registry, dataDir: string): BucketStore {
  return new BucketStore(bucket, {
    syncer: new MetaSyncer(bucket, { registry, cacheDir: `${dataDir}/meta-syncer` }),
    logger: new Logger("warn"),
    registry,
    dataDir,
  });
}

function metric(text: string, line: string): number {
  const m = text.split("\n").find((l) => l.startsWith(line + " "));
  return m ? Number(m.slice(line.length + 1)) : 0;
}

/** JS heap plus ArrayBuffer memory (index-header tables live in typed arrays). */
const mem = (m: Deno.MemoryUsage) => m.heapUsed + m.external;
const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
const root = await Deno.makeTempDir({ prefix: "thanos-store-bench-" });
try {
  // ---- 1. streaming a 100k-series selector over gRPC
  {
    const n = Number(values.series);
    const registry = new Registry();
    const bucketDir = `${root}/stream`;
    await Deno.mkdir(bucketDir, { recursive: true });
    let t0 = performance.now();
    await writeBlock(bucketDir, genSeries(n, 120, "stream"), {
      minTime: 0,
      maxTime: 2 * H,
      thanos: { labels: { cluster: "bench" }, downsample: { resolution: 0 }, source: "test" },
    });
    console.log(`built ${n}-series block in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    const bucket = await fsBucket(bucketDir, registry);
    const s = store(bucket, registry, `${root}/stream-data`);
    await s.syncBlocks();
    const server = new StoreServer(s, { serving: true });
    const addr = await server.listen("127.0.0.1", 0);
    const client = new StoreClient(`127.0.0.1:${addr.port}`);
    for (const pass of ["cold", "warm"]) {
      t0 = performance.now();
      let series = 0;
      let bytes = 0;
      for await (
        const it of client.series({
          minTime: 0,
          maxTime: 2 * H,
          matchers: [new Matcher(MatchType.Equal, "job", "stream")],
        })
      ) {
        if ("warning" in it) continue;
        series++;
        for (const c of it.chunks) bytes += c.data.length;
      }
      const sec = (performance.now() - t0) / 1000;
      console.log(
        `Series ${series} series (${pass} index cache): ${sec.toFixed(2)}s, ` +
          `${Math.round(series / sec)} series/s, ${
            (bytes / 1024 / 1024 / sec).toFixed(1)
          } chunk MB/s ` +
          `(${mb(bytes)} MB of chunks)`,
      );
    }
    client.close();
    await server.close();
    await s.close();
    await bucket.close();
  }

  // ---- 2. resident memory per loaded block
  {
    const nBlocks = Number(values.blocks);
    const registry = new Registry();
    const bucketDir = `${root}/many`;
    await Deno.mkdir(bucketDir, { recursive: true });
    for (let b = 0; b < nBlocks; b++) {
      await writeBlock(bucketDir, genSeries(10_000, 4, `b${b}`), {
        minTime: 0,
        maxTime: 2 * H,
        thanos: { labels: { block: String(b) }, downsample: { resolution: 0 }, source: "test" },
      });
    }
    const bucket = await fsBucket(bucketDir, registry);
    // first start builds the headers; measure a second (warm) start, as a restarted store runs
    const warmup = store(bucket, registry, `${root}/many-data`);
    await warmup.syncBlocks();
    await warmup.close();
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) console.log("(run with --v8-flags=--expose-gc for stable memory figures)");
    for (let i = 0; i < 3; i++) {
      gc?.();
      await new Promise((r) => setTimeout(r, 50));
    }
    const before = Deno.memoryUsage();
    const s = store(bucket, new Registry(), `${root}/many-data`);
    await s.syncBlocks();
    for (let i = 0; i < 3; i++) {
      gc?.();
      await new Promise((r) => setTimeout(r, 50));
    }
    const after = Deno.memoryUsage();
    console.log(
      `memory: ${nBlocks} blocks of 10000 series loaded: RSS +${mb(after.rss - before.rss)} MB (${
        ((after.rss - before.rss) / nBlocks / 1024).toFixed(0)
      } KiB/block), heap+external +${mb(mem(after) - mem(before))} MB (${
        ((mem(after) - mem(before)) / nBlocks / 1024).toFixed(0)
      } KiB/block)`,
    );
    await s.close();
    await bucket.close();
  }

  // ---- 3. one series out of a 1M-series block
  {
    const n = Number(values.big);
    const registry = new Registry();
    const bucketDir = `${root}/big`;
    await Deno.mkdir(bucketDir, { recursive: true });
    let t0 = performance.now();
    await writeBlock(bucketDir, genSeries(n, 4, "big"), {
      minTime: 0,
      maxTime: 2 * H,
      thanos: { labels: { cluster: "big" }, downsample: { resolution: 0 }, source: "test" },
    });
    console.log(`built ${n}-series block in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    const bucket = await fsBucket(bucketDir, registry);
    const s = store(bucket, registry, `${root}/big-data`);
    t0 = performance.now();
    await s.syncBlocks();
    const loaded = await registry.expose();
    console.log(
      `index-header of the ${n}-series block: ${
        mb(metric(loaded, 'thanos_bucket_store_data_fetched_bytes_total{data_type="index-header"}'))
      } MB in ${
        metric(loaded, 'thanos_bucket_store_data_fetched_requests_total{data_type="index-header"}')
      } requests, ${((performance.now() - t0) / 1000).toFixed(2)}s`,
    );
    const id = String(Math.floor(n * 0.6123)).padStart(7, "0");
    t0 = performance.now();
    let got = 0;
    for await (
      const it of s.series({
        minTime: 0,
        maxTime: 2 * H,
        matchers: [
          new Matcher(MatchType.Equal, "__name__", `bench_metric_${Number(id) % 100}`),
          new Matcher(MatchType.Equal, "id", id),
        ],
      }, new AbortController().signal)
    ) if (!("warning" in it)) got++;
    const ms = performance.now() - t0;
    const after = await registry.expose();
    let bytes = 0;
    let reqs = 0;
    for (const t of ["postings", "series", "chunks"]) {
      bytes += metric(after, `thanos_bucket_store_data_fetched_bytes_total{data_type="${t}"}`);
      reqs += metric(after, `thanos_bucket_store_data_fetched_requests_total{data_type="${t}"}`);
    }
    console.log(
      `one-series selector (${got} series) in the ${n}-series block: ${reqs} range requests, ` +
        `${bytes} bytes (${(bytes / 1024).toFixed(1)} KiB), ${ms.toFixed(1)} ms`,
    );
    await s.close();
    await bucket.close();
  }
} finally {
  await Deno.remove(root, { recursive: true });
}
