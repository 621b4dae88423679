// The store gateway's chunk reads (issue 19): merged ranges streamed through the bucket chain
// give the chunk bytes written, byte for byte, whichever wrappers the bucket goes through and
// whether or not its provider streams — across piece boundaries, records longer than the
// estimated chunk size and ranges cut short by the end of a segment file.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { BucketStore } from "../../store/bucket_store.ts";
import { CachingBucket, parseCachingBucketConfig } from "../../store/caching_bucket.ts";
import { MetaSyncer } from "../../block/fetcher.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";
import { createBucket } from "../../objstore/config.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { InstrumentedBucket } from "../../objstore/instrumented.ts";
import type { Bucket, IterOptions, ObjectAttributes } from "../../objstore/bucket.ts";
import { newCache } from "../../cache/factory.ts";
import { type EncodedSeries, writeBlock } from "../../tsdb/block_writer.ts";
import { labelsFromObject, labelsToString } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";
import type { SeriesItem } from "../../storeapi/server.ts";
import { ChunkSegmentWriter } from "../../tsdb/chunks/segment.ts";
import { type ChunkMeta, IndexWriter } from "../../tsdb/index/writer.ts";
import { writeTombstones } from "../../tsdb/tombstones.ts";
import { writeBlockMeta } from "../../tsdb/meta.ts";
import { newULID } from "../../tsdb/ulid.ts";

const H = 3_600_000;
const SERIES = 3000;
/** Series with a chunk longer than the store's estimate (16000 bytes). */
const LONG = new Set([1500, SERIES - 2]);

/** Deterministic chunk payload bytes of series `i`, chunk `k`. */
function payload(i: number, k: number): Uint8Array {
  const n = LONG.has(i) && k === 1 ? 20_000 : 40 + ((i * 37 + k * 101) % 560);
  const d = new Uint8Array(n);
  let x = (i * 2654435761 + k * 40503) >>> 0;
  for (let j = 0; j < n; j++) {
    x = (x * 1103515245 + 12345) >>> 0;
    d[j] = x >>> 24;
  }
  return d;
}

function blockSeries(): EncodedSeries[] {
  const out: EncodedSeries[] = [];
  for (let i = 0; i < SERIES; i++) {
    out.push({
      labels: labelsFromObject({
        __name__: "c",
        id: String(i).padStart(5, "0"),
        job: i % 3 === 0 ? "api" : "db",
      }),
      chunks: [0, 1].map((k) => ({
        minTime: k * 2000,
        maxTime: k * 2000 + 1000,
        encoding: ChunkEncoding.XOR,
        data: payload(i, k),
      })),
      numSamples: 2,
    });
  }
  return out;
}

type Answer = { labels: string; chunks: { encoding: number; data: number[] }[] }[];

/** The bucket's operations without streamRange, as a provider that cannot stream. */
class RangeOnlyBucket implements Bucket {
  constructor(private readonly inner: Bucket) {}
  get name(): string {
    return this.inner.name;
  }
  get(name: string, signal?: AbortSignal) {
    return this.inner.get(name, signal);
  }
  getRange(name: string, offset: number, length: number, signal?: AbortSignal) {
    return this.inner.getRange(name, offset, length, signal);
  }
  upload(name: string, data: Uint8Array | ReadableStream<Uint8Array>, signal?: AbortSignal) {
    return this.inner.upload(name, data, signal);
  }
  delete(name: string, signal?: AbortSignal) {
    return this.inner.delete(name, signal);
  }
  exists(name: string, signal?: AbortSignal) {
    return this.inner.exists(name, signal);
  }
  attributes(name: string, signal?: AbortSignal): Promise<ObjectAttributes> {
    return this.inner.attributes(name, signal);
  }
  iter(dir: string, opts?: IterOptions) {
    return this.inner.iter(dir, opts);
  }
  close() {
    return this.inner.close();
  }
}

/**
 * Series of a Series call as `labels → [encoding, bytes…]` per chunk (copied), and the chunk
 * bytes as handed on (not copied).
 */
async function answer(store: BucketStore, matchers: Matcher[], raw: Uint8Array[] = []) {
  const out: Answer = [];
  const it: AsyncIterable<SeriesItem> = store.series(
    { minTime: 0, maxTime: 2 * H, matchers },
    new AbortController().signal,
  );
  for await (const s of it) {
    if ("warning" in s) throw new Error(`unexpected warning ${s.warning}`);
    out.push({
      labels: labelsToString(s.labels),
      chunks: s.chunks.map((c) => ({ encoding: c.encoding, data: [...c.data] })),
    });
    for (const c of s.chunks) raw.push(c.data);
  }
  return out;
}

/** What the block holds for the series `keep` selects. */
function written(keep: (i: number) => boolean) {
  const out: Answer = [];
  for (const s of blockSeries()) {
    const i = Number(s.labels[s.labels.indexOf("id") + 1]);
    if (!keep(i)) continue;
    out.push({
      labels: labelsToString(s.labels),
      chunks: s.chunks.map((c) => ({ encoding: c.encoding, data: [...c.data] })),
    });
  }
  return out;
}

/** Fails naming the first differing series (a cheap message, not a diff of thousands). */
function assertSame(got: Answer, want: Answer, what: string): void {
  assertEquals(got.length, want.length, `${what}: series count`);
  for (let k = 0; k < got.length; k++) {
    const g = JSON.stringify(got[k]);
    if (g !== JSON.stringify(want[k])) {
      throw new Error(`${what}: series ${k} (${want[k].labels}) differs`);
    }
  }
}

function chunkBytesFetched(text: string): number {
  const line = text.split("\n").find((l) =>
    l.startsWith('thanos_bucket_store_data_fetched_bytes_total{data_type="chunks"} ')
  );
  return line ? Number(line.split(" ")[1]) : 0;
}

Deno.test("chunks read through every bucket chain are the bytes written, same bytes fetched", async () => {
  const dirs = new TempDirs();
  try {
    const root = await dirs.make();
    const bucketDir = `${root}/bucket`;
    await Deno.mkdir(bucketDir);
    await writeBlock(bucketDir, blockSeries(), { minTime: 0, maxTime: 2 * H });
    const cachingConfig = parseCachingBucketConfig("type: IN-MEMORY\nchunk_subrange_size: 16000\n");
    const chains: [string, (reg: Registry) => Promise<Bucket>][] = [
      [
        "filesystem (streams)",
        (reg) =>
          createBucket(
            { type: "FILESYSTEM", config: { directory: bucketDir }, prefix: "" } as Parameters<
              typeof createBucket
            >[0],
            { registry: reg, maxRetries: 0 },
          ),
      ],
      [
        "a provider without streamRange",
        (reg) =>
          Promise.resolve(
            new InstrumentedBucket(new RangeOnlyBucket(new FilesystemBucket(bucketDir)), {
              registry: reg,
            }),
          ),
      ],
      [
        "caching bucket",
        (reg) =>
          Promise.resolve(
            new CachingBucket(
              new InstrumentedBucket(new FilesystemBucket(bucketDir), { registry: reg }),
              newCache(cachingConfig.backend, { name: "caching-bucket", registry: reg }),
              cachingConfig,
              { registry: reg },
            ),
          ),
      ],
    ];
    const queries: [string, Matcher[], (i: number) => boolean][] = [
      ["sparse", [new Matcher(MatchType.Equal, "job", "api")], (i) => i % 3 === 0],
      ["all", [new Matcher(MatchType.Equal, "__name__", "c")], () => true],
      ["one long", [new Matcher(MatchType.Equal, "id", "01500")], (i) => i === 1500],
      ["last", [new Matcher(MatchType.Equal, "id", String(SERIES - 1).padStart(5, "0"))], (
        i,
      ) => i === SERIES - 1],
    ];
    const fetched = new Map<string, number[]>();
    for (const [name, make] of chains) {
      const reg = new Registry();
      const bucket = await make(reg);
      const store = new BucketStore(bucket, {
        syncer: new MetaSyncer(bucket, { registry: reg, cacheDir: `${root}/meta-${fetched.size}` }),
        logger: new Logger("warn", "logfmt", {}, () => {}),
        registry: reg,
        dataDir: `${root}/data-${fetched.size}`,
      });
      try {
        await store.syncBlocks();
        const bytes: number[] = [];
        const earlier: { raw: Uint8Array[]; want: number[][] }[] = [];
        for (const [q, matchers, keep] of queries) {
          // twice: the caching bucket's second answer comes from its cache
          for (let pass = 0; pass < 2; pass++) {
            const before = chunkBytesFetched(await reg.expose());
            const raw: Uint8Array[] = [];
            const got = await answer(store, matchers, raw);
            const want = written(keep);
            assertSame(got, want, `${name}, ${q}`);
            bytes.push(chunkBytesFetched(await reg.expose()) - before);
            earlier.push({ raw, want: want.flatMap((s) => s.chunks.map((c) => c.data)) });
          }
        }
        // chunk bytes kept from the first queries did not change while later ones were read
        for (const e of earlier) {
          assertEquals(e.raw.length, e.want.length, name);
          const bad = e.raw.findIndex((d, k) => d.join() !== e.want[k].join());
          assertEquals(bad, -1, `${name}: chunk ${bad} changed after later reads`);
        }
        fetched.set(name, bytes);
      } finally {
        await store.close();
        await bucket.close();
      }
    }
    // streaming or not, through a cache or not: the same bytes counted as read for each query
    const [first, ...rest] = [...fetched.values()];
    for (const b of rest) assertEquals(b, first);
    assert(first.every((n) => n > 0), String(first));
  } finally {
    await dirs.cleanup();
  }
});

Deno.test("chunks stored in another order than their series are served to the right series", async () => {
  // writeBlock stores chunks in series order; a block may hold them in any order (the refs in
  // the index say where), so the store must not take its wanted chunks to come in ref order
  const dirs = new TempDirs();
  try {
    const root = await dirs.make();
    const bucketDir = `${root}/bucket`;
    const ulid = newULID();
    const blockDir = `${bucketDir}/${ulid}`;
    await Deno.mkdir(blockDir, { recursive: true });
    const series = blockSeries().slice(0, 600);
    // the chunks of later series first: refs descend as the series' labels ascend
    const cw = await ChunkSegmentWriter.create(`${blockDir}/chunks`, {});
    const metas: ChunkMeta[][] = new Array(series.length);
    for (let i = series.length - 1; i >= 0; i--) {
      const cs = series[i].chunks;
      metas[i] = [];
      for (const c of cs) {
        metas[i].push({
          minTime: c.minTime,
          maxTime: c.maxTime,
          ref: await cw.writeChunk(c.encoding, c.data),
        });
      }
    }
    await cw.close();
    const symbols = new Set<string>();
    for (const s of series) for (const l of s.labels) symbols.add(l);
    const iw = await IndexWriter.create(`${blockDir}/index`, symbols);
    for (let i = 0; i < series.length; i++) await iw.addSeries(series[i].labels, metas[i]);
    await iw.close();
    await writeTombstones(blockDir);
    await writeBlockMeta(blockDir, {
      ulid,
      minTime: 0,
      maxTime: 2 * H,
      stats: { numSamples: 2 * series.length, numSeries: series.length, numChunks: 1200 },
      compaction: { level: 1, sources: [ulid] },
      version: 1,
    });
    const reg = new Registry();
    const bucket = new FilesystemBucket(bucketDir);
    const store = new BucketStore(bucket, {
      syncer: new MetaSyncer(bucket, { registry: reg, cacheDir: `${root}/meta` }),
      logger: new Logger("warn", "logfmt", {}, () => {}),
      registry: reg,
      dataDir: `${root}/data`,
    });
    try {
      await store.syncBlocks();
      for (
        const [q, matchers, keep] of [
          ["sparse", [new Matcher(MatchType.Equal, "job", "api")], (i: number) => i % 3 === 0],
          ["all", [new Matcher(MatchType.Equal, "__name__", "c")], (i: number) => i < 600],
        ] as const
      ) {
        assertSame(
          await answer(store, [...matchers]),
          written((i) => i < 600 && keep(i)),
          `reversed chunks, ${q}`,
        );
      }
    } finally {
      await store.close();
      await bucket.close();
    }
  } finally {
    await dirs.cleanup();
  }
});
