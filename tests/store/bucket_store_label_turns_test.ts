// LabelNames and LabelValues with matchers over tens of thousands of series give the store
// gateway's event loop turns (issue 20): with every series entry cached nothing else would, and
// the thread serving Series, Info and probes was held for 100-240 ms. Checked as in
// tests/query/label_api_data_test.ts: sockets are read (I/O turns) before it answers, and the
// answers are exact. No time is asserted.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { countSocketReads } from "../helpers/socket_reads.ts";
import { closeIoTurns, useIoTurnPort } from "../../runutil/loop_turn.ts";
import { BucketStore } from "../../store/bucket_store.ts";
import { MetaSyncer } from "../../block/fetcher.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";
import { createBucket } from "../../objstore/config.ts";
import { writeBlock } from "../../tsdb/block_writer.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

const SERIES = 30_000;
const H = 3_600_000;

/** `idx` of series i: zero-padded, so label order is index order. */
const idx = (i: number) => String(i).padStart(6, "0");

async function withStore(fn: (store: BucketStore) => Promise<void>): Promise<void> {
  const dirs = new TempDirs();
  try {
    const root = await dirs.make();
    const bucketDir = `${root}/bucket`;
    await Deno.mkdir(bucketDir);
    const bucket = await createBucket(
      { type: "FILESYSTEM", config: { directory: bucketDir }, prefix: "" } as Parameters<
        typeof createBucket
      >[0],
      { registry: new Registry(), maxRetries: 0 },
    );
    await writeBlock(
      bucketDir,
      Array.from({ length: SERIES }, (_, i) => ({
        labels: labelsFromObject({ __name__: "many", idx: idx(i), pad: `p-${i % 7}` }),
        ts: Float64Array.of(60_000),
        vs: Float64Array.of(i),
      })),
      {
        minTime: 0,
        maxTime: 2 * H,
        thanos: { labels: {}, downsample: { resolution: 0 }, source: "test" },
      },
    );
    const dataDir = `${root}/data`;
    const store = new BucketStore(bucket, {
      syncer: new MetaSyncer(bucket, { cacheDir: `${dataDir}/meta-syncer` }),
      logger: new Logger("error", "logfmt", {}, () => {}),
      dataDir,
    });
    await store.syncBlocks();
    await fn(store);
  } finally {
    await dirs.cleanup();
  }
}

/** Runs `work` (I/O turns through a loopback pair); how many turns read sockets before it answered. */
async function socketReadsDuring<T>(work: () => Promise<T>): Promise<{ value: T; turns: number }> {
  useIoTurnPort(0);
  const counter = await countSocketReads();
  try {
    const value = await work();
    return { value, turns: await counter.stop() };
  } finally {
    await counter.stop();
    closeIoTurns();
  }
}

Deno.test("label values and names with matchers give turns that read sockets over cached series (issue 20)", async () => {
  await withStore(async (store) => {
    const signal = new AbortController().signal;
    const matchers = [new Matcher(MatchType.Equal, "__name__", "many")];
    const values = () =>
      store.labelValues({ label: "idx", start: 0, end: 2 * H, matchers }, signal);
    const names = () => store.labelNames({ start: 0, end: 2 * H, matchers }, signal);
    // the first calls read the index from the bucket (turns of their own) and cache the entries
    await values();
    await names();
    const v = await socketReadsDuring(values);
    assertEquals(v.value.values.length, SERIES);
    assertEquals(v.value.values.join(","), Array.from({ length: SERIES }, (_, i) => idx(i)).join());
    assert(v.turns >= 2, `${v.turns} socket-reading turns during label values`);
    const n = await socketReadsDuring(names);
    assertEquals(n.value.names, ["__name__", "idx", "pad"]);
    assert(n.turns >= 2, `${n.turns} socket-reading turns during label names`);
    // values of a label that is not in index order come out sorted and unique
    const pads = await store.labelValues({ label: "pad", start: 0, end: 2 * H, matchers }, signal);
    assertEquals(pads.values, ["p-0", "p-1", "p-2", "p-3", "p-4", "p-5", "p-6"]);
  });
});
