// The store gateway's lazy flags over a real (filesystem) bucket: with the lazy index-header
// reader, headers are opened only for the blocks a call reads and unloaded when idle (an injected
// clock), never under a running stream; with lazy expanded postings, broad matchers on
// high-cardinality labels fetch fewer postings bytes. Answers are identical with each on and off.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { BucketStore, type BucketStoreOptions } from "../../store/bucket_store.ts";
import { labelsMatch, planLazyPostings } from "../../store/lazy_postings.ts";
import { MetaSyncer } from "../../block/fetcher.ts";
import { INDEX_HEADER_FILE } from "../../block/index_header.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";
import { createBucket } from "../../objstore/config.ts";
import type { Bucket } from "../../objstore/bucket.ts";
import { type RawSeries, writeBlock } from "../../tsdb/block_writer.ts";
import { compareLabels, labelsFromObject, labelsToString } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import type { SeriesItem } from "../../storeapi/server.ts";

const H = 3_600_000;

/** `n` series `{__name__="m<i % groups>", id="<i>", job=api|db}` with two samples from `start`. */
function makeSeries(n: number, groups: number, start: number): RawSeries[] {
  const out: RawSeries[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      labels: labelsFromObject({
        __name__: `m${i % groups}`,
        id: String(i).padStart(6, "0"),
        job: i % 3 === 0 ? "api" : "db",
      }),
      ts: Float64Array.of(start + 1000, start + 61_000),
      vs: Float64Array.of(i, i + 1),
    });
  }
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}

interface Env {
  dirs: TempDirs;
  bucket: Bucket;
  bucketDir: string;
  root: string;
  open(name: string, extra: Partial<BucketStoreOptions>): { store: BucketStore; reg: Registry };
}

async function env(): Promise<Env> {
  const dirs = new TempDirs();
  const root = await dirs.make();
  const bucketDir = `${root}/bucket`;
  await Deno.mkdir(bucketDir);
  const bucket = await createBucket(
    { type: "FILESYSTEM", config: { directory: bucketDir }, prefix: "" } as Parameters<
      typeof createBucket
    >[0],
    { registry: new Registry(), maxRetries: 0 },
  );
  return {
    dirs,
    bucket,
    bucketDir,
    root,
    open(name, extra) {
      const reg = new Registry();
      const dataDir = `${root}/data-${name}`;
      const store = new BucketStore(bucket, {
        syncer: new MetaSyncer(bucket, { registry: reg, cacheDir: `${dataDir}/meta-syncer` }),
        logger: new Logger("error", "logfmt", {}, () => {}),
        registry: reg,
        dataDir,
        // no index cache: every call reads the bucket, so fetched bytes compare
        indexCacheBytes: 0,
        ...extra,
      });
      return { store, reg };
    },
  };
}

/** The answer of a Series call as text: labels and chunk bytes per series, then warnings. */
async function answer(it: AsyncIterable<SeriesItem>): Promise<string[]> {
  const out: string[] = [];
  for await (const s of it) {
    if ("warning" in s) out.push(`warning ${s.warning}`);
    else {
      out.push(
        `${labelsToString(s.labels)} ${
          s.chunks.map((c) => `${c.minTime}-${c.maxTime}:${c.data.join(",")}`).join(" ")
        }`,
      );
    }
  }
  return out;
}

async function metric(reg: Registry, line: string): Promise<number> {
  const l = (await reg.expose()).split("\n").find((x) => x.startsWith(line + " "));
  return l ? Number(l.slice(line.length + 1)) : 0;
}

const ctl = () => new AbortController().signal;

Deno.test("lazy index-header reader: headers opened only for the blocks read, unloaded when idle, same answers", async () => {
  const e = await env();
  try {
    for (let b = 0; b < 3; b++) {
      await writeBlock(e.bucketDir, makeSeries(300, 10, b * 2 * H), {
        minTime: b * 2 * H,
        maxTime: (b + 1) * 2 * H,
        thanos: { labels: { cluster: "eu1" }, downsample: { resolution: 0 }, source: "test" },
      });
    }
    let clock = 0;
    const eager = e.open("eager", {});
    const lazy = e.open("lazy", {
      lazyReader: { idleTimeoutMs: 60_000, downloadStrategy: "lazy", now: () => clock },
    });
    const eagerDl = e.open("eagerdl", {
      lazyReader: { idleTimeoutMs: 60_000, downloadStrategy: "eager", now: () => clock },
    });
    try {
      await eager.store.syncBlocks();
      await lazy.store.syncBlocks();
      await eagerDl.store.syncBlocks();
      const ids = eager.store.loadedBlocks().map((b) => b.id);
      assertEquals(lazy.store.loadedBlocks().length, 3);
      // lazy download: nothing of any index read, no header file
      assertEquals(lazy.store.readerPool!.loadedCount(), 0);
      assertEquals(
        await metric(
          lazy.reg,
          'thanos_bucket_store_data_fetched_bytes_total{data_type="index-header"}',
        ),
        0,
      );
      for (const id of ids) {
        const exists = await Deno.stat(`${e.root}/data-lazy/${id}/${INDEX_HEADER_FILE}`).then(
          () => true,
          () => false,
        );
        assertEquals(exists, false);
      }
      // eager download: header files written at sync, none open
      assertEquals(eagerDl.store.readerPool!.loadedCount(), 0);
      for (const id of ids) {
        assert((await Deno.stat(`${e.root}/data-eagerdl/${id}/${INDEX_HEADER_FILE}`)).size > 0);
      }

      const cases = [
        { mint: 0, maxt: 2 * H - 1, ms: [new Matcher(MatchType.Equal, "__name__", "m3")] },
        {
          mint: 0,
          maxt: 6 * H,
          ms: [new Matcher(MatchType.Regexp, "id", "0000(1|2).*")],
        },
      ];
      // one block's range: one header opened
      const want0 = await answer(eager.store.series({ ...range(cases[0]) }, ctl()));
      assertEquals(await answer(lazy.store.series({ ...range(cases[0]) }, ctl())), want0);
      assertEquals(lazy.store.readerPool!.loadedCount(), 1);
      assertEquals(await answer(eagerDl.store.series({ ...range(cases[0]) }, ctl())), want0);
      assertEquals(eagerDl.store.readerPool!.loadedCount(), 1);
      assert(want0.length === 30, `m3 has 30 series, got ${want0.length}`);
      // all three
      const want1 = await answer(eager.store.series(range(cases[1]), ctl()));
      assertEquals(await answer(lazy.store.series(range(cases[1]), ctl())), want1);
      assertEquals(lazy.store.readerPool!.loadedCount(), 3);
      assertEquals(
        await metric(lazy.reg, "thanos_bucket_store_indexheader_lazy_load_total"),
        3,
      );
      // label calls load and answer the same
      const lreq = { start: 0, end: 6 * H, matchers: [] };
      assertEquals(
        await lazy.store.labelValues({ ...lreq, label: "job" }, ctl()),
        await eager.store.labelValues({ ...lreq, label: "job" }, ctl()),
      );
      assertEquals(
        await lazy.store.labelNames({ ...lreq, matchers: cases[0].ms }, ctl()),
        await eager.store.labelNames({ ...lreq, matchers: cases[0].ms }, ctl()),
      );

      // idle for the timeout: every header unloaded; a later call loads again, same answer
      clock = 60_001;
      assertEquals(await lazy.store.readerPool!.closeIdle(), 3);
      assertEquals(lazy.store.readerPool!.loadedCount(), 0);
      assertEquals(
        await metric(lazy.reg, "thanos_bucket_store_indexheader_lazy_unload_total"),
        3,
      );
      assertEquals(await answer(lazy.store.series(range(cases[1]), ctl())), want1);

      // a stream in progress keeps its blocks' headers through an idle check
      clock = 200_000;
      const it = lazy.store.series(range(cases[1]), ctl())[Symbol.asyncIterator]();
      const first = await it.next();
      assert(!first.done);
      clock = 400_000;
      assertEquals(await lazy.store.readerPool!.closeIdle(), 0);
      const rest: string[] = await answer({ [Symbol.asyncIterator]: () => it });
      assertEquals(rest.length + 1, want1.length);
      clock = 500_000;
      assertEquals(await lazy.store.readerPool!.closeIdle(), 3);
    } finally {
      await eager.store.close();
      await lazy.store.close();
      await eagerDl.store.close();
    }
  } finally {
    await e.dirs.cleanup();
  }
});

function range(c: { mint: number; maxt: number; ms: Matcher[] }) {
  return { minTime: c.mint, maxTime: c.maxt, matchers: c.ms };
}

Deno.test("lazy expanded postings: same answers, far fewer postings bytes for a broad matcher on a high-cardinality label", async () => {
  const e = await env();
  try {
    // 20,000 series; each of the 1,000 metric names has 20, every series its own id
    await writeBlock(e.bucketDir, makeSeries(20_000, 1000, 0), {
      minTime: 0,
      maxTime: 2 * H,
      thanos: { labels: {}, downsample: { resolution: 0 }, source: "test" },
    });
    const off = e.open("off", {});
    const on = e.open("on", { lazyExpandedPostings: { maxKeySeriesRatio: 100 } });
    try {
      await off.store.syncBlocks();
      await on.store.syncBlocks();
      const M = (t: MatchType, n: string, v: string) => new Matcher(t, n, v);
      const cases: Matcher[][] = [
        [M(MatchType.Equal, "__name__", "m3"), M(MatchType.Regexp, "id", ".+")],
        [M(MatchType.Equal, "__name__", "m3"), M(MatchType.NotRegexp, "id", "0000.*")],
        [M(MatchType.Equal, "__name__", "m7"), M(MatchType.NotEqual, "id", "")],
        [M(MatchType.Equal, "job", "api"), M(MatchType.Regexp, "id", "00012.")],
        [M(MatchType.Regexp, "__name__", "m1|m2"), M(MatchType.Regexp, "id", "0.*[13]")],
        [M(MatchType.Equal, "__name__", "nope"), M(MatchType.Regexp, "id", ".+")],
        [M(MatchType.Equal, "__name__", "m5"), M(MatchType.Equal, "id", "gone")],
        [M(MatchType.Equal, "__name__", "m5"), M(MatchType.Regexp, "other", ".*")],
        // 10,000 ids for 20 series: left lazy, and the filter drops half of m3's series
        [M(MatchType.Equal, "__name__", "m3"), M(MatchType.Regexp, "id", "00.*")],
        // … or all of them
        [M(MatchType.Equal, "__name__", "m3"), M(MatchType.Regexp, "id", ".*[02468]")],
      ];
      const postingsBytes = (reg: Registry) =>
        metric(reg, 'thanos_bucket_store_data_fetched_bytes_total{data_type="postings"}');
      for (const ms of cases) {
        const req = { minTime: 0, maxTime: 2 * H, matchers: ms };
        const want = await answer(off.store.series(req, ctl()));
        assertEquals(await answer(on.store.series(req, ctl())), want, ms.join(","));
        const lreq = { start: 0, end: 2 * H, matchers: ms };
        assertEquals(
          await on.store.labelValues({ ...lreq, label: "id" }, ctl()),
          await off.store.labelValues({ ...lreq, label: "id" }, ctl()),
        );
      }
      const count = async (ms: Matcher[]) =>
        (await answer(on.store.series({ minTime: 0, maxTime: 2 * H, matchers: ms }, ctl())))
          .length;
      assertEquals(await count(cases[0]), 20);
      assertEquals(await count(cases[8]), 10);
      assertEquals(await count(cases[9]), 0);
      // with an index cache: the refs that passed the filter are cached as the expanded
      // postings of the whole matcher set, so a repeat reads no postings and answers the same
      const cached = e.open("cached", {
        lazyExpandedPostings: { maxKeySeriesRatio: 100 },
        indexCacheBytes: 64 << 20,
      });
      try {
        await cached.store.syncBlocks();
        const req = { minTime: 0, maxTime: 2 * H, matchers: cases[8] };
        const want = await answer(off.store.series(req, ctl()));
        assertEquals(await answer(cached.store.series(req, ctl())), want);
        const bytes = await postingsBytes(cached.reg);
        assertEquals(await answer(cached.store.series(req, ctl())), want);
        assertEquals(await postingsBytes(cached.reg), bytes);
        assertEquals(
          await metric(cached.reg, "thanos_bucket_store_lazy_expanded_postings_total"),
          1,
        );
      } finally {
        await cached.store.close();
      }
      // the broad matcher alone, measured on fresh stores
      const off2 = e.open("off2", {});
      const on2 = e.open("on2", { lazyExpandedPostings: { maxKeySeriesRatio: 100 } });
      try {
        await off2.store.syncBlocks();
        await on2.store.syncBlocks();
        const req = { minTime: 0, maxTime: 2 * H, matchers: cases[0] };
        await answer(off2.store.series(req, ctl()));
        await answer(on2.store.series(req, ctl()));
        const bOff = await postingsBytes(off2.reg);
        const bOn = await postingsBytes(on2.reg);
        console.log(
          `postings bytes for {__name__="m3", id=~".+"} on 20k series: lazy off ${bOff}, on ${bOn}`,
        );
        assert(bOn * 10 < bOff, `lazy postings read ${bOn} bytes, eager ${bOff}`);
        assertEquals(
          await metric(on2.reg, "thanos_bucket_store_lazy_expanded_postings_total"),
          1,
        );
        assertEquals(
          await metric(
            on2.reg,
            'thanos_bucket_store_lazy_expanded_posting_groups_total{reason="keys_limit"}',
          ),
          1,
        );
      } finally {
        await off2.store.close();
        await on2.store.close();
      }
    } finally {
      await off.store.close();
      await on.store.close();
    }
  } finally {
    await e.dirs.cleanup();
  }
});

Deno.test("lazy postings planner: Thanos's choices on estimated sizes", async () => {
  // name → value → refs in its postings list
  const sizes: Record<string, Record<string, number>> = {
    __name__: { a: 10, b: 5000 },
    id: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`i${i}`, 1])),
    job: { api: 2000, db: 3000 },
  };
  const ix = {
    estimatePostings(name: string, values: readonly string[] | ((v: string) => boolean)) {
      const all = sizes[name] ?? {};
      const keys = Object.keys(all).filter((v) =>
        typeof values === "function" ? values(v) : values.includes(v)
      );
      return Promise.resolve({ keys: keys.length, refs: keys.reduce((n, k) => n + all[k], 0) });
    },
  };
  const M = (t: MatchType, n: string, v: string) => new Matcher(t, n, v);
  const opts = { seriesMaxSize: 64 * 1024, maxKeySeriesRatio: 100 };
  // 5000 id values for at most 10 series: keys_limit
  let p = await planLazyPostings(
    ix,
    [M(MatchType.Equal, "__name__", "a"), M(MatchType.Regexp, "id", ".+")],
    opts,
  );
  assertEquals(p.kind, "lazy");
  if (p.kind === "lazy") {
    assertEquals(p.fetch.map(String), ['__name__="a"']);
    assertEquals(p.filter.map(String), ['id=~".+"']);
    assertEquals(p.groups, [{ reason: "keys_limit", refs: 5000 }]);
  }
  // ratio 0 disables the keys limit; then 5000 refs × 4 B < 64 KiB × 5 series saved: fetched
  p = await planLazyPostings(
    ix,
    [M(MatchType.Equal, "__name__", "a"), M(MatchType.Regexp, "id", ".+")],
    { ...opts, maxKeySeriesRatio: 0 },
  );
  assertEquals(p.kind, "eager");
  // a small series size makes the big group not worth fetching: postings_size
  p = await planLazyPostings(
    ix,
    [M(MatchType.Equal, "__name__", "b"), M(MatchType.Equal, "job", "db")],
    { seriesMaxSize: 1, maxKeySeriesRatio: 0 },
  );
  assertEquals(p.kind, "lazy");
  if (p.kind === "lazy") assertEquals(p.groups[0].reason, "postings_size");
  // a required value that does not exist: nothing matches
  p = await planLazyPostings(
    ix,
    [M(MatchType.Equal, "__name__", "zzz"), M(MatchType.Equal, "job", "db")],
    opts,
  );
  assertEquals(p.kind, "empty");
  // one label, or only removals: nothing to plan
  assertEquals(
    (await planLazyPostings(ix, [M(MatchType.Equal, "__name__", "a")], opts)).kind,
    "eager",
  );
  assertEquals(
    (await planLazyPostings(
      ix,
      [M(MatchType.NotEqual, "__name__", "a"), M(MatchType.NotEqual, "job", "db")],
      opts,
    )).kind,
    "eager",
  );
  // the filter reads a missing label as ""
  const ls = labelsFromObject({ __name__: "a", job: "api" });
  assert(labelsMatch(ls, [M(MatchType.Regexp, "id", ".*")]));
  assert(!labelsMatch(ls, [M(MatchType.Regexp, "id", ".+")]));
  assert(labelsMatch(ls, [M(MatchType.NotEqual, "job", "db")]));
});
