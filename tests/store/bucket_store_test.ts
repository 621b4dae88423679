// The store gateway's backend over a real (filesystem) bucket: answers equal the local block
// querier's, index-headers are reused from --data-dir, a one-series selector in a big block
// reads little, faults (unreachable bucket, corrupt block, limits) behave like Thanos.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { BucketStore, seriesBatchSize } from "../../store/bucket_store.ts";
import { INDEX_CACHE_ENTRY_OVERHEAD, IndexCache } from "../../store/index_cache.ts";
import { MetaSyncer } from "../../block/fetcher.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";
import { createBucket } from "../../objstore/config.ts";
import type { Bucket } from "../../objstore/bucket.ts";
import { TransientBucketError } from "../../objstore/bucket.ts";
import { writeBlock } from "../../tsdb/block_writer.ts";
import { Block } from "../../tsdb/block.ts";
import { BlocksQuerier } from "../../tsdb/querier.ts";
import { compareLabels, labelsFromObject, labelsToString } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import type { Labels, SeriesWithChunks } from "../../tsdb/series.ts";
import type { RawSeries } from "../../tsdb/block_writer.ts";
import { StoreServer } from "../../storeapi/server.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";
import type { SeriesItem } from "../../storeapi/server.ts";
import {
  encodeLabelsProto,
  encodeSeriesResponseBatch,
  type SeriesWithLabelsProto,
} from "../../storeapi/codec.ts";

const H = 3_600_000;

/** Series `{__name__="m<i%groups>", id="<i>", ...}` with `samples` samples each. */
function makeSeries(n: number, opts: { groups?: number; samples?: number; start?: number } = {}) {
  const groups = opts.groups ?? 10;
  const samples = opts.samples ?? 240;
  const start = opts.start ?? 0;
  const out: RawSeries[] = [];
  for (let i = 0; i < n; i++) {
    const ts = new Float64Array(samples);
    const vs = new Float64Array(samples);
    for (let k = 0; k < samples; k++) {
      ts[k] = start + k * 15_000;
      vs[k] = (i * 7 + k * 3) % 1000 + k / 10;
    }
    out.push({
      labels: labelsFromObject({
        __name__: `m${i % groups}`,
        id: String(i).padStart(7, "0"),
        job: i % 3 === 0 ? "api" : "db",
      }),
      ts,
      vs,
    });
  }
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}

function thanos(labels: Record<string, string>) {
  return { labels, downsample: { resolution: 0 }, source: "test" };
}

interface Fixture {
  dirs: TempDirs;
  bucketDir: string;
  dataDir: string;
  bucket: Bucket;
  registry: Registry;
  logLines: string[];
  open(bucket?: Bucket): BucketStore;
}

async function fixture(): Promise<Fixture> {
  const dirs = new TempDirs();
  const root = await dirs.make();
  const bucketDir = `${root}/bucket`;
  const dataDir = `${root}/data`;
  await Deno.mkdir(bucketDir);
  const registry = new Registry();
  const bucket = await createBucket(
    {
      type: "FILESYSTEM",
      config: { directory: bucketDir },
      prefix: "",
    } as Parameters<typeof createBucket>[0],
    { registry, maxRetries: 0 },
  );
  const logLines: string[] = [];
  const f: Fixture = {
    dirs,
    bucketDir,
    dataDir,
    bucket,
    registry,
    logLines,
    open(b = bucket) {
      const logger = new Logger("debug", "logfmt", {}, (l) => logLines.push(l));
      return new BucketStore(b, {
        syncer: new MetaSyncer(b, { registry, cacheDir: `${dataDir}/meta-syncer` }),
        logger,
        registry,
        dataDir,
      });
    },
  };
  return f;
}

async function collect(it: AsyncIterable<SeriesItem>): Promise<SeriesWithChunks[]> {
  const out: SeriesWithChunks[] = [];
  for await (const s of it) if (!("warning" in s)) out.push(s);
  return out;
}

function metric(reg: Registry, text: string, line: string): number {
  const m = text.split("\n").find((l) => l.startsWith(line + " "));
  void reg;
  return m ? Number(m.slice(line.length + 1)) : 0;
}

/** Samples of a series set as text lines, chunks trimmed to [mint, maxt]. */
async function samplesText(
  series: SeriesWithChunks[],
  mint: number,
  maxt: number,
): Promise<string[]> {
  const { decodeXorSamples } = await import("../../tsdb/chunkenc/xor.ts");
  const out: string[] = [];
  for (const s of series) {
    for (const c of s.chunks) {
      const { ts, vs } = decodeXorSamples(c.data);
      for (let i = 0; i < ts.length; i++) {
        if (ts[i] < mint || ts[i] > maxt) continue;
        out.push(`${labelsToString(s.labels)} ${vs[i]} ${ts[i]}`);
      }
    }
  }
  return out;
}

function withExt(ls: Labels, ext: Record<string, string>): Labels {
  const o: Record<string, string> = {};
  for (let i = 0; i < ls.length; i += 2) o[ls[i]] = ls[i + 1];
  return labelsFromObject({ ...o, ...ext });
}

Deno.test("store gateway returns what the local block querier reads, with external labels", async () => {
  const f = await fixture();
  try {
    const a = makeSeries(300, { start: 0 });
    const b = makeSeries(300, { start: 2 * H });
    const ext1 = { cluster: "eu1" };
    const ext2 = { cluster: "us1" };
    const localDir = await f.dirs.make();
    const metas = [];
    for (const [series, ext, min] of [[a, ext1, 0], [b, ext1, 2 * H], [a, ext2, 0]] as const) {
      const m = await writeBlock(f.bucketDir, series, {
        minTime: min,
        maxTime: min + 2 * H,
        thanos: thanos(ext),
      });
      metas.push({ meta: m, ext });
      // same block locally for the reference querier
      await Deno.mkdir(`${localDir}/${m.ulid}/chunks`, { recursive: true });
      for (const file of ["index", "meta.json", "chunks/000001"]) {
        await Deno.copyFile(`${f.bucketDir}/${m.ulid}/${file}`, `${localDir}/${m.ulid}/${file}`);
      }
    }
    const store = f.open();
    try {
      await store.syncBlocks();
      assertEquals(store.loadedBlocks().length, 3);
      const info = await store.info();
      assertEquals(info.labelSets, [labelsFromObject(ext1), labelsFromObject(ext2)]);
      assertEquals(info.minTime, 0);
      assertEquals(info.maxTime, 4 * H);

      const cases: { matchers: Matcher[]; mint: number; maxt: number }[] = [
        { matchers: [new Matcher(MatchType.Equal, "__name__", "m3")], mint: 0, maxt: 4 * H },
        { matchers: [new Matcher(MatchType.Regexp, "id", "00000(1|2).")], mint: H, maxt: 3 * H },
        {
          // nested repetition (ReDoS shape): served by the RE2 automaton, on series and on
          // external labels
          matchers: [
            new Matcher(MatchType.Regexp, "id", "(0+)+1[0-4]"),
            new Matcher(MatchType.Regexp, "cluster", "(e|eu)+1"),
          ],
          mint: 0,
          maxt: 4 * H,
        },
        {
          matchers: [
            new Matcher(MatchType.Equal, "job", "api"),
            new Matcher(MatchType.NotEqual, "__name__", "m1"),
            new Matcher(MatchType.Equal, "cluster", "eu1"),
          ],
          mint: 2 * H + 1000,
          maxt: 2 * H + 600_000,
        },
      ];
      for (const c of cases) {
        const got = await collect(
          store.series(
            { minTime: c.mint, maxTime: c.maxt, matchers: c.matchers },
            new AbortController().signal,
          ),
        );
        // reference: each external label set's blocks read locally, labels extended, merged
        const want: SeriesWithChunks[] = [];
        for (const ext of [ext1, ext2]) {
          const rest = c.matchers.filter((m) => !(m.name in ext));
          if (c.matchers.some((m) => m.name in ext && !m.matches(ext[m.name as "cluster"]))) {
            continue;
          }
          const blocks = [];
          for (const m of metas.filter((x) => x.ext === ext)) {
            blocks.push(await Block.open(`${localDir}/${m.meta.ulid}`));
          }
          const q = new BlocksQuerier(blocks);
          for await (const s of q.select(rest, { start: c.mint, end: c.maxt })) {
            want.push({ labels: withExt(s.labels, ext), chunks: s.chunks });
          }
          for (const bl of blocks) await bl.close();
        }
        want.sort((x, y) => compareLabels(x.labels, y.labels));
        assertEquals(
          got.map((s) => labelsToString(s.labels)),
          want.map((s) => labelsToString(s.labels)),
        );
        assertEquals(
          await samplesText(got, c.mint, c.maxt),
          await samplesText(want, c.mint, c.maxt),
        );
        assert(got.length > 0, "case selects something");
      }

      const signal = new AbortController().signal;
      const names = await store.labelNames({ start: 0, end: 4 * H, matchers: [] }, signal);
      assertEquals(names.names, ["__name__", "cluster", "id", "job"]);
      const vals = await store.labelValues({
        label: "__name__",
        start: 0,
        end: 4 * H,
        matchers: [new Matcher(MatchType.Equal, "cluster", "us1")],
      }, signal);
      assertEquals(vals.values, ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]);
      const jobs = await store.labelValues({
        label: "job",
        start: 0,
        end: 4 * H,
        matchers: [new Matcher(MatchType.Equal, "id", "0000003")],
      }, signal);
      assertEquals(jobs.values, ["api"]);
      const clusters = await store.labelValues({
        label: "cluster",
        start: 0,
        end: 4 * H,
        matchers: [],
      }, signal);
      assertEquals(clusters.values, ["eu1", "us1"]);
    } finally {
      await store.close();
    }
  } finally {
    await f.dirs.cleanup();
  }
});

Deno.test("restart with a warm data dir opens blocks without reading index headers again", async () => {
  const f = await fixture();
  try {
    await writeBlock(f.bucketDir, makeSeries(2000, { samples: 20 }), {
      minTime: 0,
      maxTime: 2 * H,
      thanos: thanos({ cluster: "eu1" }),
    });
    const first = f.open();
    await first.syncBlocks();
    await first.close();
    let text = await f.registry.expose();
    const headerBytes = metric(
      f.registry,
      text,
      'thanos_bucket_store_data_fetched_bytes_total{data_type="index-header"}',
    );
    assert(headerBytes > 0, "first start builds the header from the bucket");

    const second = f.open();
    try {
      await second.syncBlocks();
      const got = await collect(second.series({
        minTime: 0,
        maxTime: 2 * H,
        matchers: [new Matcher(MatchType.Equal, "id", "0000042")],
      }, new AbortController().signal));
      assertEquals(got.length, 1);
      text = await f.registry.expose();
      assertEquals(
        metric(
          f.registry,
          text,
          'thanos_bucket_store_data_fetched_bytes_total{data_type="index-header"}',
        ),
        headerBytes,
        "no index-header bytes read on restart",
      );
      assertEquals(
        metric(f.registry, text, 'thanos_bucket_store_index_header_opens_total{origin="disk"}'),
        1,
      );
    } finally {
      await second.close();
    }
  } finally {
    await f.dirs.cleanup();
  }
});

Deno.test("a damaged local index-header is rebuilt from the bucket", async () => {
  const f = await fixture();
  try {
    const meta = await writeBlock(f.bucketDir, makeSeries(100, { samples: 10 }), {
      minTime: 0,
      maxTime: 2 * H,
      thanos: thanos({ a: "b" }),
    });
    const s1 = f.open();
    await s1.syncBlocks();
    await s1.close();
    const path = `${f.dataDir}/${meta.ulid}/index-header.ranges`;
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 10] ^= 0xff;
    await Deno.writeFile(path, bytes);
    const s2 = f.open();
    try {
      await s2.syncBlocks();
      assertEquals(s2.loadedBlocks().length, 1);
      assert(f.logLines.some((l) => l.includes("rebuilding")), f.logLines.join("\n"));
      const got = await collect(s2.series({
        minTime: 0,
        maxTime: 2 * H,
        matchers: [new Matcher(MatchType.Equal, "__name__", "m1")],
      }, new AbortController().signal));
      assertEquals(got.length, 10);
    } finally {
      await s2.close();
    }
  } finally {
    await f.dirs.cleanup();
  }
});

Deno.test("a one-series selector in a 200k-series block fetches little from the bucket", async () => {
  const f = await fixture();
  try {
    await writeBlock(f.bucketDir, makeSeries(200_000, { groups: 1000, samples: 4 }), {
      minTime: 0,
      maxTime: 2 * H,
      thanos: thanos({ cluster: "eu1" }),
    });
    const store = f.open();
    try {
      await store.syncBlocks();
      const before = await f.registry.expose();
      const got = await collect(store.series({
        minTime: 0,
        maxTime: 2 * H,
        matchers: [
          new Matcher(MatchType.Equal, "__name__", "m123"),
          new Matcher(MatchType.Equal, "id", "0123123"),
        ],
      }, new AbortController().signal));
      assertEquals(got.length, 1);
      const after = await f.registry.expose();
      let bytes = 0;
      let requests = 0;
      for (const t of ["postings", "series", "chunks"]) {
        const k = `{data_type="${t}"}`;
        bytes += metric(f.registry, after, `thanos_bucket_store_data_fetched_bytes_total${k}`) -
          metric(f.registry, before, `thanos_bucket_store_data_fetched_bytes_total${k}`);
        requests +=
          metric(f.registry, after, `thanos_bucket_store_data_fetched_requests_total${k}`) -
          metric(f.registry, before, `thanos_bucket_store_data_fetched_requests_total${k}`);
      }
      console.log(`one-series query on 200k series: ${requests} requests, ${bytes} bytes`);
      assert(bytes < 1 << 20, `fetched ${bytes} bytes`);
      assert(requests <= 5, `sent ${requests} requests`);
    } finally {
      await store.close();
    }
  } finally {
    await f.dirs.cleanup();
  }
});

Deno.test("postings looked up once are served from the index cache", async () => {
  const f = await fixture();
  try {
    await writeBlock(f.bucketDir, makeSeries(3000, { groups: 30, samples: 4 }), {
      minTime: 0,
      maxTime: 2 * H,
      thanos: thanos({ cluster: "eu1" }),
    });
    const store = f.open();
    try {
      await store.syncBlocks();
      const postingsBytes = async () =>
        metric(
          f.registry,
          await f.registry.expose(),
          `thanos_bucket_store_data_fetched_bytes_total{data_type="postings"}`,
        );
      const cases = [
        [
          new Matcher(MatchType.Regexp, "__name__", "m3|m4"),
          new Matcher(MatchType.NotEqual, "job", "db"),
        ],
        [
          new Matcher(MatchType.Regexp, "id", "00001.*"),
          new Matcher(MatchType.Equal, "nolabel", ""),
        ],
      ];
      for (const matchers of cases) {
        const req = { minTime: 0, maxTime: 2 * H, matchers, skipChunks: true };
        const b0 = await postingsBytes();
        const first = await collect(store.series(req, new AbortController().signal));
        const b1 = await postingsBytes();
        assert(b1 > b0, `first {${matchers.join(",")}} reads postings`);
        assert(first.length > 0);
        const again = await collect(store.series(req, new AbortController().signal));
        assertEquals(await postingsBytes(), b1, `second {${matchers.join(",")}} reads none`);
        assertEquals(
          again.map((s) => labelsToString(s.labels)),
          first.map((s) => labelsToString(s.labels)),
        );
      }
      let text = await f.registry.expose();
      // a repeated matcher set is served whole (Thanos's ExpandedPostings item)
      assert(
        metric(
          f.registry,
          text,
          `thanos_store_index_cache_hits_total{item_type="ExpandedPostings"}`,
        ) >=
          2,
      );
      // a new set sharing a matcher reads only the other matcher's postings
      const shared = [
        new Matcher(MatchType.Regexp, "__name__", "m3|m4"),
        new Matcher(MatchType.Equal, "job", "api"),
      ];
      const hits0 = metric(
        f.registry,
        text,
        `thanos_store_index_cache_hits_total{item_type="Postings"}`,
      );
      const got = await collect(
        store.series(
          { minTime: 0, maxTime: 2 * H, matchers: shared, skipChunks: true },
          new AbortController().signal,
        ),
      );
      assert(got.length > 0);
      text = await f.registry.expose();
      assert(
        metric(f.registry, text, `thanos_store_index_cache_hits_total{item_type="Postings"}`) >=
          hits0 + 1,
      );
    } finally {
      await store.close();
    }
  } finally {
    await f.dirs.cleanup();
  }
});

Deno.test("series entries served from the index cache give the same answer without series reads", async () => {
  const f = await fixture();
  try {
    await writeBlock(f.bucketDir, makeSeries(2000, { groups: 20, samples: 60 }), {
      minTime: 0,
      maxTime: 2 * H,
      thanos: thanos({ cluster: "eu1" }),
    });
    const store = f.open();
    try {
      await store.syncBlocks();
      const seriesBytes = async () =>
        metric(
          f.registry,
          await f.registry.expose(),
          `thanos_bucket_store_data_fetched_bytes_total{data_type="series"}`,
        );
      const req = {
        minTime: 0,
        maxTime: 2 * H,
        matchers: [new Matcher(MatchType.Regexp, "__name__", "m1|m2|m3")],
      };
      const b0 = await seriesBytes();
      const cold = await collect(store.series(req, new AbortController().signal));
      const b1 = await seriesBytes();
      assert(b1 > b0 && cold.length === 300, `${cold.length} series, ${b1 - b0} series bytes`);
      const warm = await collect(store.series(req, new AbortController().signal));
      assertEquals(await seriesBytes(), b1, "the second call reads no series entries");
      // the same series; from the cache with their labels ready-encoded (external ones merged)
      assertEquals(warm.map((s) => ({ labels: s.labels, chunks: s.chunks })), cold);
      // the cache holds the entries' index bytes and the labels' ready fields: about a hundred
      // bytes each, not decoded objects
      const perItem = store.cache instanceof IndexCache
        ? store.cache.sizeBytes / store.cache.itemCount - INDEX_CACHE_ENTRY_OVERHEAD
        : NaN;
      // (these series: ≈ 38 B as the index's bodies, ≈ 58 B re-encoded whole, ≈ 60 B of label
      // fields as a string)
      assert(perItem < 112, `${perItem} bytes per cached item besides the fixed overhead`);
    } finally {
      await store.close();
    }
  } finally {
    await f.dirs.cleanup();
  }
});

Deno.test("cached series entries carry their labels ready-encoded, external labels merged in: the same answer bytes", async () => {
  const f = await fixture();
  try {
    // labels of every length class: non-ASCII, a value past 127 bytes (2-byte lengths), many
    const labelled = (start: number): RawSeries[] =>
      makeSeries(300, { groups: 3, samples: 30, start }).map((s, i) => ({
        ...s,
        labels: labelsFromObject({
          ...Object.fromEntries(Array.from({ length: s.labels.length / 2 }, (_, k) => [
            s.labels[2 * k],
            s.labels[2 * k + 1],
          ])),
          ...(i % 3 === 1 ? { zone: "zürich-日本" } : {}),
          ...(i % 7 === 2 ? { long: "v".repeat(100 + i) } : {}),
        }),
      })).sort((a, b) => compareLabels(a.labels, b.labels));
    await writeBlock(f.bucketDir, labelled(0), { minTime: 0, maxTime: 2 * H, thanos: thanos({}) });
    await writeBlock(f.bucketDir, labelled(2 * H), {
      minTime: 2 * H,
      maxTime: 4 * H,
      thanos: thanos({ cluster: "eu1" }),
    });
    const store = f.open();
    try {
      await store.syncBlocks();
      const call = async (minTime: number, maxTime: number) => {
        const out: SeriesWithLabelsProto[][] = [];
        const req = {
          minTime,
          maxTime,
          matchers: [new Matcher(MatchType.Regexp, "__name__", "m0|m2")],
        };
        for await (const b of store.seriesBatches(req, new AbortController().signal)) {
          out.push(b as SeriesWithLabelsProto[]);
        }
        return out;
      };
      const bytes = (batches: SeriesWithLabelsProto[][]) =>
        batches.map((b) => [...encodeSeriesResponseBatch(b)]);
      // without external labels: read from the index first, then from the cache, ready-encoded
      const cold = await call(0, H);
      assertEquals(cold.flat().filter((s) => s.labelsProto !== undefined).length, 0);
      const warm = await call(0, H);
      assertEquals(warm.flat().length, 200);
      for (const s of warm.flat()) assertEquals(s.labelsProto, encodeLabelsProto(s.labels));
      assertEquals(bytes(warm), bytes(cold));
      // the same answer without any ready-encoded labels
      const plain = warm.map((b) => b.map((s) => ({ labels: s.labels, chunks: s.chunks })));
      assertEquals(bytes(plain), bytes(warm));
      // through the gRPC server, in batch frames (as the querier asks) and one series a frame
      const server = new StoreServer(store, { serving: true });
      const addr = await server.listen("127.0.0.1", 0);
      const client = new StoreClient(`127.0.0.1:${addr.port}`);
      try {
        const text = (ss: SeriesWithChunks[]) =>
          ss.map((s) => `${labelsToString(s.labels)} ${s.chunks.map((c) => [...c.data]).join()}`);
        for (const responseBatchSize of [64, 0]) {
          const got = await collect(client.series({
            minTime: 0,
            maxTime: H,
            matchers: [new Matcher(MatchType.Regexp, "__name__", "m0|m2")],
            responseBatchSize,
          }));
          assertEquals(text(got), text(cold.flat()));
        }
      } finally {
        client.close();
        await server.close();
      }
      // with external labels: merged into every series' ready-encoded labels by the attacher
      await call(2 * H + 1, 3 * H);
      const ext = await call(2 * H + 1, 3 * H);
      assertEquals(ext.flat().length, 200);
      for (const s of ext.flat()) {
        assert(s.labels.includes("eu1"));
        assertEquals(s.labelsProto, encodeLabelsProto(s.labels));
      }
      const extPlain = ext.map((b) => b.map((s) => ({ labels: s.labels, chunks: s.chunks })));
      assertEquals(bytes(ext), bytes(extPlain));
    } finally {
      await store.close();
    }
  } finally {
    await f.dirs.cleanup();
  }
});

Deno.test("a Series call over many blocks reads smaller batches per block, same answer", async () => {
  // the per-block batch shrinks with the blocks a call spans, bounded below
  assertEquals(seriesBatchSize(1), 512);
  assertEquals(seriesBatchSize(16), 512);
  assertEquals(seriesBatchSize(64), 128);
  assertEquals(seriesBatchSize(390), 128);
  assertEquals(seriesBatchSize(128), 128);
  const f = await fixture();
  try {
    // 64 two-hour blocks of 300 series: 128 series a batch, three batches per block
    const blocks = 64;
    for (let b = 0; b < blocks; b++) {
      await writeBlock(f.bucketDir, makeSeries(300, { samples: 8, start: b * 2 * H }), {
        minTime: b * 2 * H,
        maxTime: (b + 1) * 2 * H,
        thanos: thanos({ cluster: "eu1" }),
      });
    }
    const store = f.open();
    try {
      await store.syncBlocks();
      const seriesRequests = async () =>
        metric(
          f.registry,
          await f.registry.expose(),
          `thanos_bucket_store_data_fetched_requests_total{data_type="series"}`,
        );
      const r0 = await seriesRequests();
      const got = await collect(
        store.series({
          minTime: 0,
          maxTime: blocks * 2 * H,
          matchers: [new Matcher(MatchType.Regexp, "job", "api|db")],
        }, new AbortController().signal),
      );
      assertEquals(got.length, 300);
      assertEquals(got.map((s) => s.chunks.length), new Array(300).fill(blocks));
      const want = makeSeries(300, { samples: 8 }).map((s) =>
        withExt(s.labels, { cluster: "eu1" })
      );
      assertEquals(got.map((s) => s.labels), want);
      // each block read its series entries in three batches
      assertEquals(await seriesRequests() - r0, 3 * blocks);
      const samples = await samplesText(got, 0, blocks * 2 * H);
      assertEquals(samples.length, 300 * 8 * blocks);
    } finally {
      await store.close();
    }
  } finally {
    await f.dirs.cleanup();
  }
});

/** A bucket that fails every operation while `down` is set. */
class FlakyBucket implements Bucket {
  down = false;
  constructor(private readonly inner: Bucket) {}
  get name() {
    return this.inner.name;
  }
  private check() {
    if (this.down) throw new TransientBucketError("connection refused (test)");
  }
  async get(n: string) {
    this.check();
    return await this.inner.get(n);
  }
  async getRange(n: string, o: number, l: number) {
    this.check();
    return await this.inner.getRange(n, o, l);
  }
  async upload(n: string, d: Uint8Array) {
    this.check();
    return await this.inner.upload(n, d);
  }
  async delete(n: string) {
    this.check();
    return await this.inner.delete(n);
  }
  async exists(n: string) {
    this.check();
    return await this.inner.exists(n);
  }
  async attributes(n: string) {
    this.check();
    return await this.inner.attributes(n);
  }
  async *iter(d: string, o?: { recursive?: boolean }) {
    this.check();
    yield* this.inner.iter(d, o);
  }
  close() {
    return this.inner.close();
  }
}

Deno.test("Series answers follow the blocks each sync adds and drops, external labels included", async () => {
  const f = await fixture();
  try {
    const write = (ext: Record<string, string>) =>
      writeBlock(f.bucketDir, makeSeries(50, { samples: 10 }), {
        minTime: 0,
        maxTime: 2 * H,
        thanos: thanos(ext),
      });
    const a = await write({ a: "1" });
    const store = f.open();
    try {
      // each series' `a`, and no warning (a dropped block still chosen would warn, unreadable)
      const extOf = async () => {
        const out: string[] = [];
        for await (
          const s of store.series({
            minTime: 0,
            maxTime: 2 * H,
            matchers: [new Matcher(MatchType.Equal, "__name__", "m2")],
          }, new AbortController().signal)
        ) {
          if ("warning" in s) throw new Error(`unexpected warning: ${s.warning}`);
          out.push(s.labels[s.labels.indexOf("a") + 1]);
        }
        return out;
      };
      await store.syncBlocks();
      assertEquals(await extOf(), ["1", "1", "1", "1", "1"]);
      // a block of another label set: served from the next sync on, merged in label order
      await write({ a: "2" });
      await store.syncBlocks();
      assertEquals(await extOf(), ["1", "1", "1", "1", "1", "2", "2", "2", "2", "2"]);
      await Deno.remove(`${f.bucketDir}/${a.ulid}`, { recursive: true });
      await store.syncBlocks();
      assertEquals(await extOf(), ["2", "2", "2", "2", "2"]);
    } finally {
      await store.close();
    }
  } finally {
    await f.dirs.cleanup();
  }
});

Deno.test("an unreachable bucket fails the sync but loaded blocks keep being served", async () => {
  const f = await fixture();
  try {
    await writeBlock(f.bucketDir, makeSeries(50, { samples: 10 }), {
      minTime: 0,
      maxTime: 2 * H,
      thanos: thanos({ a: "1" }),
    });
    const flaky = new FlakyBucket(f.bucket);
    flaky.down = true;
    const store = f.open(flaky);
    try {
      await assertRejects(() => store.syncBlocks(), TransientBucketError);
      assertEquals(store.loadedBlocks().length, 0);
      flaky.down = false;
      await store.syncBlocks();
      assertEquals(store.loadedBlocks().length, 1);
      // index-header is local now; postings/series/chunks still need the bucket
      const q = () =>
        collect(store.series({
          minTime: 0,
          maxTime: 2 * H,
          matchers: [new Matcher(MatchType.Equal, "__name__", "m2")],
        }, new AbortController().signal));
      assertEquals((await q()).length, 5);
      flaky.down = true;
      await assertRejects(() => store.syncBlocks(), TransientBucketError);
      assertEquals(store.loadedBlocks().length, 1, "blocks stay loaded");
      flaky.down = false;
      assertEquals((await q()).length, 5);
    } finally {
      await store.close();
    }
  } finally {
    await f.dirs.cleanup();
  }
});

Deno.test("a corrupt block is skipped with a log line naming it; others are served", async () => {
  const f = await fixture();
  try {
    const good = await writeBlock(f.bucketDir, makeSeries(20, { samples: 10 }), {
      minTime: 0,
      maxTime: 2 * H,
      thanos: thanos({ a: "1" }),
    });
    const badIndex = await writeBlock(f.bucketDir, makeSeries(20, { samples: 10, start: 2 * H }), {
      minTime: 2 * H,
      maxTime: 4 * H,
      thanos: thanos({ a: "2" }),
    });
    const badMeta = await writeBlock(f.bucketDir, makeSeries(20, { samples: 10, start: 4 * H }), {
      minTime: 4 * H,
      maxTime: 6 * H,
      thanos: thanos({ a: "3" }),
    });
    // damage the symbol table of one index and the JSON of another meta
    const ix = await Deno.readFile(`${f.bucketDir}/${badIndex.ulid}/index`);
    ix[20] ^= 0xff;
    await Deno.writeFile(`${f.bucketDir}/${badIndex.ulid}/index`, ix);
    await Deno.writeTextFile(`${f.bucketDir}/${badMeta.ulid}/meta.json`, "{not json");
    // and a partial upload (no meta.json)
    await Deno.mkdir(`${f.bucketDir}/01HZZZZZZZZZZZZZZZZZZZZZZZ/chunks`, { recursive: true });

    const logger: string[] = [];
    const registry = new Registry();
    const store = new BucketStore(f.bucket, {
      syncer: new MetaSyncer(f.bucket, {
        onCorrupt: (id, err) => logger.push(`corrupt meta ${id}: ${err.message}`),
      }),
      logger: new Logger("info", "logfmt", {}, (l) => logger.push(l)),
      registry,
    });
    try {
      await store.syncBlocks();
      assertEquals(store.loadedBlocks().map((b) => b.id), [good.ulid]);
      assert(
        logger.some((l) => l.includes(badIndex.ulid) && l.includes("loading block failed")),
        logger.join("\n"),
      );
      assert(logger.some((l) => l.includes(badMeta.ulid)), logger.join("\n"));
      assert(store.failed.has(badIndex.ulid));
      const got = await collect(store.series({
        minTime: 0,
        maxTime: 6 * H,
        matchers: [new Matcher(MatchType.Equal, "__name__", "m0")],
      }, new AbortController().signal));
      assertEquals(got.length, 2);
      // the skipped block's range is named in the answer's warnings (its data is missing)
      const warnings = await warningsOf(store.series({
        minTime: 0,
        maxTime: 6 * H,
        matchers: [new Matcher(MatchType.Equal, "__name__", "m0")],
      }, new AbortController().signal));
      assert(warnings.some((w) => w.includes(badIndex.ulid)), warnings.join("\n"));
      // a request outside its time range, or for other external labels, is not warned about
      const outside = await warningsOf(store.series({
        minTime: 0,
        maxTime: 2 * H - 1,
        matchers: [new Matcher(MatchType.Equal, "__name__", "m0")],
      }, new AbortController().signal));
      assertEquals(outside, []);
      const otherLabels = await warningsOf(store.series({
        minTime: 0,
        maxTime: 6 * H,
        matchers: [
          new Matcher(MatchType.Equal, "__name__", "m0"),
          new Matcher(MatchType.Equal, "a", "1"),
        ],
      }, new AbortController().signal));
      assertEquals(otherLabels, []);
      const names = await store.labelNames(
        { start: 0, end: 6 * H, matchers: [] },
        new AbortController().signal,
      );
      assert(names.warnings.some((w) => w.includes(badIndex.ulid)), names.warnings.join("\n"));
    } finally {
      await store.close();
    }
  } finally {
    await f.dirs.cleanup();
  }
});

async function warningsOf(it: AsyncIterable<SeriesItem>): Promise<string[]> {
  const out: string[] = [];
  for await (const s of it) if ("warning" in s) out.push(s.warning);
  return out;
}

Deno.test("a corrupt chunk leaves only its block out, with a warning naming it and a metric", async () => {
  const f = await fixture();
  try {
    const good = await writeBlock(f.bucketDir, makeSeries(20, { samples: 10 }), {
      minTime: 0,
      maxTime: 2 * H,
      thanos: thanos({ a: "1" }),
    });
    const bad = await writeBlock(f.bucketDir, makeSeries(20, { samples: 10, start: 2 * H }), {
      minTime: 2 * H,
      maxTime: 4 * H,
      thanos: thanos({ a: "1" }),
    });
    // flip one data byte of the first chunk record: its CRC no longer matches
    const seg = `${f.bucketDir}/${bad.ulid}/chunks/000001`;
    const bytes = await Deno.readFile(seg);
    bytes[8 + 3] ^= 0xff;
    await Deno.writeFile(seg, bytes);
    const store = f.open();
    try {
      await store.syncBlocks();
      const items: SeriesItem[] = [];
      for await (
        const it of store.series({
          minTime: 0,
          maxTime: 4 * H,
          matchers: [new Matcher(MatchType.Equal, "__name__", "m0")],
        }, new AbortController().signal)
      ) items.push(it);
      const series = items.filter((i): i is SeriesWithChunks => !("warning" in i));
      const warnings = items.flatMap((i) => "warning" in i ? [i.warning] : []);
      // the good block's two m0 series are all there, with their chunks
      assertEquals(series.length, 2);
      for (const s of series) {
        assert(s.chunks.length > 0 && s.chunks.every((c) => c.maxTime < 2 * H));
      }
      assertEquals(warnings.length, 1, warnings.join("\n"));
      assert(warnings[0].includes(bad.ulid) && !warnings[0].includes(good.ulid), warnings[0]);
      assert(warnings[0].includes("corruption"), warnings[0]);
      const text = await f.registry.expose();
      assertEquals(
        metric(
          f.registry,
          text,
          'thanos_bucket_store_block_read_failures_total{reason="corruption"}',
        ),
        1,
      );
      // a query touching only the good block has no warning
      const clean = await warningsOf(store.series({
        minTime: 0,
        maxTime: 2 * H - 1,
        matchers: [new Matcher(MatchType.Equal, "__name__", "m0")],
      }, new AbortController().signal));
      assertEquals(clean, []);
    } finally {
      await store.close();
    }
  } finally {
    await f.dirs.cleanup();
  }
});

Deno.test("exceeding the series limit answers ResourceExhausted naming the limit", async () => {
  const f = await fixture();
  try {
    await writeBlock(f.bucketDir, makeSeries(100, { samples: 10 }), {
      minTime: 0,
      maxTime: 2 * H,
      thanos: thanos({ a: "1" }),
    });
    const store = f.open();
    await store.syncBlocks();
    const server = new StoreServer(store, { limits: { seriesLimit: 7 }, serving: true });
    const addr = await server.listen("127.0.0.1", 0);
    const client = new StoreClient(`127.0.0.1:${addr.port}`);
    try {
      const err = await assertRejects(() =>
        collect(client.series({
          minTime: 0,
          maxTime: 2 * H,
          matchers: [new Matcher(MatchType.Regexp, "__name__", "m.*")],
        }))
      );
      assert(err instanceof GrpcError, String(err));
      assertEquals((err as GrpcError).code, GrpcStatus.RESOURCE_EXHAUSTED);
      assert((err as GrpcError).message.includes("limit 7"), (err as GrpcError).message);
      // under the limit the same store answers
      const ok = await collect(client.series({
        minTime: 0,
        maxTime: 2 * H,
        matchers: [new Matcher(MatchType.Equal, "id", "0000005")],
      }));
      assertEquals(ok.length, 1);
      assertEquals(
        ok[0].labels,
        labelsFromObject({ __name__: "m5", a: "1", id: "0000005", job: "db" }),
      );
    } finally {
      client.close();
      await server.close();
      await store.close();
    }
  } finally {
    await f.dirs.cleanup();
  }
});
