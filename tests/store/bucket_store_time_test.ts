// The store gateway's time boundaries on a real (filesystem) bucket, asserted exactly: a block is
// the half-open range [minTime, maxTime) (a request starting at a block's maxTime does not touch
// it), a chunk is the closed range [minTime, maxTime] of its samples (a request ending at a
// chunk's first sample or starting at its last one returns it), and --min-time/--max-time clamp
// every request. Thanos: bucketBlock.overlapsClosedInterval and BucketStore.limitMinTime in
// https://github.com/thanos-io/thanos/blob/main/pkg/store/bucket.go; the flags:
// https://thanos.io/tip/components/store.md/#time-based-partitioning

import { assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { BucketStore } from "../../store/bucket_store.ts";
import { MetaSyncer } from "../../block/fetcher.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";
import { createBucket } from "../../objstore/config.ts";
import { type RawSeries, writeBlock } from "../../tsdb/block_writer.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { compareLabels, labelsFromObject, labelsToString } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import type { SeriesItem } from "../../storeapi/server.ts";

const H = 3_600_000;
const STEP = 15_000;
/** 240 samples a series: two chunks of 120, [0, 1_785_000] and [1_800_000, 3_585_000]. */
const SAMPLES = 240;
const C1_MAX = 119 * STEP; // 1_785_000
const C2_MIN = 120 * STEP; // 1_800_000
const C2_MAX = 239 * STEP; // 3_585_000

/** A series with a sample every 15 s from `start`, value = sample index. */
function series(labels: Record<string, string>, start: number): RawSeries {
  const ts = new Float64Array(SAMPLES);
  const vs = new Float64Array(SAMPLES);
  for (let k = 0; k < SAMPLES; k++) {
    ts[k] = start + k * STEP;
    vs[k] = k;
  }
  return { labels: labelsFromObject(labels), ts, vs };
}

interface Fixture {
  dirs: TempDirs;
  open(range?: { minTime?: number; maxTime?: number }): Promise<BucketStore>;
}

/**
 * A bucket with block A = [0, 2h) holding `up{job="a"}` and `only_a{a_label="1"}`, and block
 * B = [2h, 4h) holding `up{job="a"}` and `only_b{b_label="1"}`, both external labels
 * {cluster="eu1"}. `open` syncs a store with the given --min-time/--max-time (given to the meta
 * syncer too, as components/store/main.ts does).
 */
async function fixture(): Promise<Fixture> {
  const dirs = new TempDirs();
  const root = await dirs.make();
  const bucketDir = `${root}/bucket`;
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
  const thanos = { labels: { cluster: "eu1" }, downsample: { resolution: 0 }, source: "test" };
  const sorted = (s: RawSeries[]) => s.sort((a, b) => compareLabels(a.labels, b.labels));
  await writeBlock(
    bucketDir,
    sorted([
      series({ __name__: "up", job: "a" }, 0),
      series({ __name__: "only_a", a_label: "1", job: "a" }, 0),
    ]),
    { minTime: 0, maxTime: 2 * H, thanos },
  );
  await writeBlock(
    bucketDir,
    sorted([
      series({ __name__: "up", job: "a" }, 2 * H),
      series({ __name__: "only_b", b_label: "1", job: "a" }, 2 * H),
    ]),
    { minTime: 2 * H, maxTime: 4 * H, thanos },
  );
  let n = 0;
  return {
    dirs,
    async open(range = {}) {
      const dataDir = `${root}/data${n++}`;
      const store = new BucketStore(bucket, {
        syncer: new MetaSyncer(bucket, { cacheDir: `${dataDir}/meta-syncer`, ...range }),
        logger: new Logger("error", "logfmt", {}, () => {}),
        dataDir,
        ...range,
      });
      await store.syncBlocks();
      return store;
    },
  };
}

/** `labels minTime..maxTime [t=v …]` per chunk, in answer order; warnings as `warning: …`. */
async function seriesText(
  store: BucketStore,
  mint: number,
  maxt: number,
  matchers: Matcher[] = [new Matcher(MatchType.Equal, "job", "a")],
): Promise<string[]> {
  const out: string[] = [];
  const it: AsyncIterable<SeriesItem> = store.series(
    { minTime: mint, maxTime: maxt, matchers },
    new AbortController().signal,
  );
  for await (const s of it) {
    if ("warning" in s) {
      out.push(`warning: ${s.warning}`);
      continue;
    }
    for (const c of s.chunks) {
      const { ts, vs } = decodeXorSamples(c.data);
      const first = `${ts[0]}=${vs[0]}`;
      const last = `${ts[ts.length - 1]}=${vs[vs.length - 1]}`;
      out.push(
        `${labelsToString(s.labels)} ${c.minTime}..${c.maxTime} n=${ts.length} ${first} ${last}`,
      );
    }
  }
  return out;
}

const UP = 'up{cluster="eu1", job="a"}';
const ONLY_A = 'only_a{a_label="1", cluster="eu1", job="a"}';
const ONLY_B = 'only_b{b_label="1", cluster="eu1", job="a"}';
// the four chunks of each block's series
const A1 = `0..${C1_MAX} n=120 0=0 ${C1_MAX}=119`;
const A2 = `${C2_MIN}..${C2_MAX} n=120 ${C2_MIN}=120 ${C2_MAX}=239`;
const B1 = `${2 * H}..${2 * H + C1_MAX} n=120 ${2 * H}=0 ${2 * H + C1_MAX}=119`;

Deno.test("a request starting at a block's maxTime does not read that block", async () => {
  const f = await fixture();
  const store = await f.open();
  try {
    const signal = new AbortController().signal;
    const values = async (start: number, end: number) =>
      (await store.labelValues({ label: "__name__", start, end, matchers: [] }, signal)).values;
    const names = async (start: number, end: number) =>
      (await store.labelNames({ start, end, matchers: [] }, signal)).names;
    // block A is [0, 2h): 2h itself belongs to B only
    assertEquals(await values(2 * H, 4 * H), ["only_b", "up"]);
    assertEquals(await values(2 * H, 2 * H), ["only_b", "up"]);
    assertEquals(await names(2 * H, 4 * H), ["__name__", "b_label", "cluster", "job"]);
    // one millisecond earlier both blocks overlap
    assertEquals(await values(2 * H - 1, 2 * H), ["only_a", "only_b", "up"]);
    assertEquals(await names(2 * H - 1, 2 * H), [
      "__name__",
      "a_label",
      "b_label",
      "cluster",
      "job",
    ]);
    // and a request ending just before B's minTime reads A only
    assertEquals(await values(0, 2 * H - 1), ["only_a", "up"]);
    // the same with matchers (the postings path)
    const withMatcher = await store.labelValues({
      label: "__name__",
      start: 2 * H,
      end: 4 * H,
      matchers: [new Matcher(MatchType.Equal, "job", "a")],
    }, signal);
    assertEquals(withMatcher.values, ["only_b", "up"]);
    const namesWithMatcher = await store.labelNames({
      start: 2 * H,
      end: 4 * H,
      matchers: [new Matcher(MatchType.Equal, "job", "a")],
    }, signal);
    assertEquals(namesWithMatcher.names, ["__name__", "b_label", "cluster", "job"]);

    // Series at exactly 2h: only B's first chunks
    assertEquals(await seriesText(store, 2 * H, 2 * H), [
      `${ONLY_B} ${B1}`,
      `${UP} ${B1}`,
    ]);
    // from A's last sample to B's first: both blocks, up's chunks merged into one series
    assertEquals(await seriesText(store, C2_MAX, 2 * H), [
      `${ONLY_A} ${A2}`,
      `${ONLY_B} ${B1}`,
      `${UP} ${A2}`,
      `${UP} ${B1}`,
    ]);
  } finally {
    await store.close();
    await f.dirs.cleanup();
  }
});

Deno.test("a chunk is returned when the request touches its first or last sample exactly", async () => {
  const f = await fixture();
  const store = await f.open();
  try {
    const up = [new Matcher(MatchType.Equal, "__name__", "up")];
    // ends exactly at the second chunk's first sample: both chunks
    assertEquals(await seriesText(store, 0, C2_MIN, up), [`${UP} ${A1}`, `${UP} ${A2}`]);
    // a single instant at the second chunk's first sample: that chunk only
    assertEquals(await seriesText(store, C2_MIN, C2_MIN, up), [`${UP} ${A2}`]);
    // a single instant at the first chunk's last sample: that chunk only
    assertEquals(await seriesText(store, C1_MAX, C1_MAX, up), [`${UP} ${A1}`]);
    // starts at the first chunk's last sample: both chunks
    assertEquals(await seriesText(store, C1_MAX, C2_MAX, up), [`${UP} ${A1}`, `${UP} ${A2}`]);
    // strictly between the two chunks (no sample there): no chunk, so no series
    assertEquals(await seriesText(store, C1_MAX + 1, C2_MIN - 1, up), []);
    // one millisecond either side of the gap selects the neighbouring chunk only
    assertEquals(await seriesText(store, C1_MAX + 1, C2_MIN, up), [`${UP} ${A2}`]);
    assertEquals(await seriesText(store, C1_MAX, C2_MIN - 1, up), [`${UP} ${A1}`]);
    // after the last sample of block A but inside it: nothing
    assertEquals(await seriesText(store, C2_MAX + 1, 2 * H - 1, up), []);
  } finally {
    await store.close();
    await f.dirs.cleanup();
  }
});

Deno.test("--min-time and --max-time clamp every request and the advertised range", async () => {
  const f = await fixture();
  // --min-time between A's two chunks, --max-time inside B's first chunk
  const minTime = C1_MAX + 5_000; // 1_790_000
  const maxTime = 2 * H + 60_000;
  const store = await f.open({ minTime, maxTime });
  try {
    assertEquals(store.loadedBlocks().length, 2);
    const info = await store.info();
    assertEquals([info.minTime, info.maxTime], [minTime, maxTime]);
    assertEquals(info.tsdbInfos!.map((t) => [t.minTime, t.maxTime]), [[minTime, maxTime]]);

    const up = [new Matcher(MatchType.Equal, "__name__", "up")];
    // [0, 1h] becomes [1_790_000, 1h]: A's first chunk ends at 1_785_000, so only the second
    assertEquals(await seriesText(store, 0, H, up), [`${UP} ${A2}`]);
    // entirely before --min-time: nothing at all
    assertEquals(await seriesText(store, 0, C1_MAX, up), []);
    assertEquals(await seriesText(store, 0, minTime - 1, up), []);
    // the whole range: A's second chunk and B's first (B's second starts after --max-time)
    assertEquals(await seriesText(store, 0, 4 * H, up), [`${UP} ${A2}`, `${UP} ${B1}`]);
    // entirely after --max-time: nothing
    assertEquals(await seriesText(store, maxTime + 1, 4 * H, up), []);
  } finally {
    await store.close();
    await f.dirs.cleanup();
  }
});
