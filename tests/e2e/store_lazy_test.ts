// The store gateway's lazy flags through the real CLI (`main.ts store` and `main.ts query` as
// subprocesses): one store with the defaults and one with `--store.enable-index-header-lazy-reader`
// (lazy download, a short idle timeout), `--store.enable-lazy-expanded-postings` and
// `--matcher-cache-size` serve the same bucket, each behind its own querier. Every query answers
// the same through both; the lazy store opens the index-headers of only the blocks a query reads,
// unloads them when idle, and reads far fewer postings bytes for a broad matcher on a
// high-cardinality label. Idle RSS of both stores is printed (never asserted).

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { startComponent, type ThanosProc } from "../helpers/thanos.ts";
import { startQuerier } from "../helpers/query_e2e.ts";
import { type RawSeries, writeBlock } from "../../tsdb/block_writer.ts";
import { compareLabels, labelsFromObject } from "../../tsdb/labels.ts";

const H = 3_600_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % (2 * H));
const BLOCKS = 12;
const SERIES = 4000;

/** One 2 h block's series: 400 metric names of 10 series, every series its own long `id`. */
function blockSeries(b: number): RawSeries[] {
  const out: RawSeries[] = [];
  const start = T0 + b * 2 * H;
  for (let i = 0; i < SERIES; i++) {
    const ts = new Float64Array(8);
    const vs = new Float64Array(8);
    for (let k = 0; k < ts.length; k++) {
      ts[k] = start + k * 15 * 60_000;
      vs[k] = (i * 7 + k * 3 + b) % 101;
    }
    out.push({
      labels: labelsFromObject({
        __name__: `m${i % 400}`,
        // unique per block and series: a large symbol table per block
        id: `b${b}-${String(i).padStart(6, "0")}-${"x".repeat(24)}`,
        job: i % 3 === 0 ? "api" : "db",
      }),
      ts,
      vs,
    });
  }
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}

async function metrics(p: ThanosProc): Promise<string> {
  const r = await fetch(`${p.http}/metrics`, { signal: AbortSignal.timeout(10_000) });
  return await r.text();
}

function metric(text: string, line: string): number {
  const l = text.split("\n").find((x) => x.startsWith(line + " "));
  return l ? Number(l.slice(line.length + 1)) : 0;
}

function rssMiB(p: ThanosProc): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${p.child.pid}/status`));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

async function api(q: ThanosProc, path: string): Promise<unknown> {
  const r = await fetch(`${q.http}${path}`, { signal: AbortSignal.timeout(60_000) });
  const text = await r.text();
  assertEquals(r.status, 200, `${path}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const loaded = (t: string) =>
  metric(t, "thanos_bucket_store_indexheader_lazy_load_total") -
  metric(t, "thanos_bucket_store_indexheader_lazy_unload_total");

e2eTest(
  "store gateway lazy flags via the CLI: same answers, headers loaded per query and unloaded when idle, fewer postings bytes",
  { peers: [] },
  async () => {
    await using dirs = new TempDirs();
    const root = await dirs.make();
    await Deno.mkdir(`${root}/bucket`);
    for (let b = 0; b < BLOCKS; b++) {
      await writeBlock(`${root}/bucket`, blockSeries(b), {
        minTime: T0 + b * 2 * H,
        maxTime: T0 + (b + 1) * 2 * H,
        thanos: { labels: { cluster: "c1" }, downsample: { resolution: 0 }, source: "test" },
      });
    }
    const bucket = `--objstore.config=type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`;
    const procs: ThanosProc[] = [];
    try {
      const off = await startComponent("store", [bucket, `--data-dir=${root}/off`], {
        name: "store (defaults)",
        timeoutMs: 120_000,
      });
      procs.push(off);
      const on = await startComponent("store", [
        bucket,
        `--data-dir=${root}/on`,
        "--store.enable-index-header-lazy-reader",
        "--store.index-header-lazy-reader-idle-timeout=3s",
        "--store.index-header-lazy-download-strategy=lazy",
        "--store.enable-lazy-expanded-postings",
        "--store.posting-group-max-key-series-ratio=100",
        "--matcher-cache-size=50",
      ], { name: "store (lazy)", timeoutMs: 120_000 });
      procs.push(on);
      const qOff = await startQuerier([`--endpoint=${off.grpc}`]);
      procs.push(qOff);
      const qOn = await startQuerier([`--endpoint=${on.grpc}`]);
      procs.push(qOn);
      for (const q of [qOff, qOn]) {
        await q.waitFor(
          async () => {
            const r = await api(q, "/api/v1/stores") as { data?: Record<string, unknown[]> };
            return Object.values(r.data ?? {}).flat().length > 0;
          },
          "store discovery",
          60_000,
        );
      }

      // synced, nothing queried: the lazy store has not read one index
      let tOn = await metrics(on);
      assertEquals(metric(tOn, "thanos_bucket_store_blocks_loaded"), BLOCKS);
      assertEquals(loaded(tOn), 0);
      assertEquals(
        metric(tOn, 'thanos_bucket_store_data_fetched_bytes_total{data_type="index-header"}'),
        0,
      );
      const idle = { off: rssMiB(off), on: rssMiB(on) };

      // an instant query at the end of the first block reads one block
      const t1 = (T0 + 2 * H - 60_000) / 1000;
      const first = `/api/v1/query?query=${encodeURIComponent('m3{job="api"}')}&time=${t1}`;
      assertEquals(await api(qOn, first), await api(qOff, first));
      tOn = await metrics(on);
      assertEquals(loaded(tOn), 1, "headers open after a one-block query");

      // the same answers for selectors, broad matchers, aggregations, ranges and label APIs
      const end = (T0 + BLOCKS * 2 * H - 60_000) / 1000;
      const start = T0 / 1000;
      const queries = [
        'm3{id=~".+"}',
        'count by (job) ({__name__=~"m1.*", id=~"b.*0-.*"})',
        'sum(m7{id!~"b1-.*"})',
        'm5{job="db", id=~"b2-0001.*"}',
        'count({__name__="m9", id!=""})',
        'absent(m3{id="nope"})',
      ];
      for (const q of queries) {
        const inst = `/api/v1/query?query=${encodeURIComponent(q)}&time=${end}`;
        assertEquals(await api(qOn, inst), await api(qOff, inst), q);
        const rng = `/api/v1/query_range?query=${
          encodeURIComponent(q)
        }&start=${start}&end=${end}&step=3600`;
        assertEquals(await api(qOn, rng), await api(qOff, rng), `${q} (range)`);
      }
      for (
        const path of [
          `/api/v1/label/job/values?match[]=${encodeURIComponent('m3{id=~".+"}')}`,
          `/api/v1/series?match[]=${
            encodeURIComponent('m4{id=~"b3-.*"}')
          }&start=${start}&end=${end}`,
          "/api/v1/labels",
        ]
      ) {
        assertEquals(await api(qOn, path), await api(qOff, path), path);
      }
      tOn = await metrics(on);
      assertEquals(loaded(tOn), BLOCKS, "every block read once the whole range was queried");
      assert(metric(tOn, "thanos_bucket_store_lazy_expanded_postings_total") > 0);
      assert(metric(tOn, "thanos_matchers_cache_hits_total") > 0);
      const peak = { off: rssMiB(off), on: rssMiB(on) };

      // idle past the timeout: every header unloaded (bounded wait, no time asserted)
      for (let i = 0; i < 300 && loaded(tOn) > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        tOn = await metrics(on);
      }
      assertEquals(loaded(tOn), 0, "headers still open after the idle timeout");
      assertEquals(metric(tOn, "thanos_bucket_store_indexheader_lazy_unload_total"), BLOCKS);
      // and a query after the unload still answers the same
      const broad = `/api/v1/query?query=${encodeURIComponent('m3{id=~".+"}')}&time=${end}`;
      assertEquals(await api(qOn, broad), await api(qOff, broad));
      const afterIdle = { off: rssMiB(off), on: rssMiB(on) };

      // postings bytes of a broad matcher on one block (a metric and regex not queried before,
      // so neither store's index cache holds them)
      const pb = (t: string) =>
        metric(t, 'thanos_bucket_store_data_fetched_bytes_total{data_type="postings"}');
      const sb = (t: string) =>
        metric(t, 'thanos_bucket_store_data_fetched_bytes_total{data_type="series"}');
      const before = { off: await metrics(off), on: await metrics(on) };
      const one = `/api/v1/query?query=${
        encodeURIComponent('{__name__="m250", id=~"b0.+"}')
      }&time=${t1}`;
      assertEquals(await api(qOn, one), await api(qOff, one));
      const after = { off: await metrics(off), on: await metrics(on) };
      const bytes = {
        postingsOff: pb(after.off) - pb(before.off),
        postingsOn: pb(after.on) - pb(before.on),
        seriesOff: sb(after.off) - sb(before.off),
        seriesOn: sb(after.on) - sb(before.on),
      };
      console.log(
        `{__name__="m250", id=~"b0.+"} on one ${SERIES}-series block: postings bytes ` +
          `${bytes.postingsOff} (defaults) vs ${bytes.postingsOn} (lazy postings); series bytes ` +
          `${bytes.seriesOff} vs ${bytes.seriesOn}`,
      );
      console.log(
        `RSS MiB (defaults / lazy), ${BLOCKS} blocks of ${SERIES} series: idle after sync ` +
          `${idle.off} / ${idle.on}; after querying all blocks ${peak.off} / ${peak.on}; ` +
          `after the idle unload ${afterIdle.off} / ${afterIdle.on} (loaded machine, indicative)`,
      );
      assert(bytes.postingsOn * 10 < bytes.postingsOff, JSON.stringify(bytes));
    } finally {
      for (const p of procs.reverse()) await p.stop();
    }
  },
);
