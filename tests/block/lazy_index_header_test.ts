// The lazy index-header reader (block/lazy_index_header.ts): opened on first use only, one load
// for concurrent users, unloaded by the pool once idle for the timeout (an injected clock, no
// waiting), never while a user holds it; failures counted and retried; Thanos's metrics.

import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import {
  ensureIndexHeaderFile,
  INDEX_HEADER_FILE,
  openIndexHeader,
} from "../../block/index_header.ts";
import { lazyReaderMetrics, ReaderPool } from "../../block/lazy_index_header.ts";
import { FileByteSource } from "../../tsdb/bytesource.ts";
import { type RawSeries, writeBlock } from "../../tsdb/block_writer.ts";
import { compareLabels, labelsFromObject } from "../../tsdb/labels.ts";
import { Registry } from "../../metrics/registry.ts";

function series(n: number): RawSeries[] {
  const out: RawSeries[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      labels: labelsFromObject({ __name__: `m${i % 3}`, id: String(i).padStart(4, "0") }),
      ts: Float64Array.of(1000),
      vs: Float64Array.of(i),
    });
  }
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}

async function metricValue(reg: Registry, name: string): Promise<number> {
  const line = (await reg.expose()).split("\n").find((l) => l.startsWith(name + " "));
  return line ? Number(line.slice(name.length + 1)) : NaN;
}

async function setup() {
  const dirs = new TempDirs();
  const root = await dirs.make();
  const meta = await writeBlock(root, series(200), { minTime: 0, maxTime: 2000 });
  const indexPath = `${root}/${meta.ulid}/index`;
  const reg = new Registry();
  let clock = 0;
  let opens = 0;
  let fail = false;
  const pool = new ReaderPool({
    idleTimeoutMs: 60_000,
    metrics: lazyReaderMetrics(reg),
    now: () => clock,
  });
  const handle = pool.newHandle(async () => {
    opens++;
    if (fail) throw new Error("bucket unreachable");
    return await openIndexHeader(await FileByteSource.open(indexPath), {
      blockDir: `${root}/data/${meta.ulid}`,
    });
  });
  return {
    dirs,
    root,
    indexPath,
    reg,
    pool,
    handle,
    opens: () => opens,
    setClock: (t: number) => clock = t,
    setFail: (f: boolean) => fail = f,
  };
}

Deno.test("lazy reader: nothing opened before first use; concurrent users share one load", async () => {
  const s = await setup();
  try {
    assertEquals(s.handle.loaded, false);
    assertEquals(s.opens(), 0);
    assertEquals(s.handle.current, null);
    const [a, b] = await Promise.all([s.handle.acquire(), s.handle.acquire()]);
    assert(a === b, "both users got the same reader");
    assertEquals(s.opens(), 1);
    assertEquals(s.handle.inUse, 2);
    assertEquals((await a.postings("__name__", ["m1"])).length, 67);
    s.handle.release();
    s.handle.release();
    assertEquals(s.handle.inUse, 0);
    assertEquals(await metricValue(s.reg, "thanos_bucket_store_indexheader_lazy_load_total"), 1);
    assertEquals(
      await metricValue(s.reg, "thanos_bucket_store_indexheader_lazy_load_duration_seconds_count"),
      1,
    );
    assertEquals(s.pool.loadedCount(), 1);
    await s.handle.close();
  } finally {
    await s.dirs.cleanup();
  }
});

Deno.test("lazy reader: unloaded once idle for the timeout, reloaded on the next use", async () => {
  const s = await setup();
  try {
    s.setClock(1000);
    await s.handle.acquire();
    s.handle.release();
    // just under the timeout since the last use: kept
    s.setClock(1000 + 59_999);
    assertEquals(await s.pool.closeIdle(), 0);
    assertEquals(s.handle.loaded, true);
    s.setClock(1000 + 60_000);
    assertEquals(await s.pool.closeIdle(), 1);
    assertEquals(s.handle.loaded, false);
    assertEquals(s.pool.loadedCount(), 0);
    assertEquals(await metricValue(s.reg, "thanos_bucket_store_indexheader_lazy_unload_total"), 1);
    // a use after the unload loads it again and answers the same
    const ix = await s.handle.acquire();
    assertEquals((await ix.postings("__name__", ["m1"])).length, 67);
    s.handle.release();
    assertEquals(s.opens(), 2);
    assertEquals(await metricValue(s.reg, "thanos_bucket_store_indexheader_lazy_load_total"), 2);
    await s.handle.close();
  } finally {
    await s.dirs.cleanup();
  }
});

Deno.test("lazy reader: a reader in use is never unloaded, however old its last use", async () => {
  const s = await setup();
  try {
    s.setClock(0);
    const ix = await s.handle.acquire();
    s.setClock(10 * 60_000);
    assertEquals(await s.pool.closeIdle(), 0);
    assertEquals(await s.handle.unloadIfIdleSince(s.handle.inUse), false);
    // the query still reads through it
    const refs = await ix.postings("__name__", ["m2"]);
    let n = 0;
    for await (const _ of ix.seriesMany(refs)) n++;
    assertEquals(n, 66);
    s.handle.release();
    // released at 10m: idle only from then on
    assertEquals(await s.pool.closeIdle(), 0);
    s.setClock(11 * 60_000);
    assertEquals(await s.pool.closeIdle(), 1);

    // closing the block while a query holds the reader waits for the query
    const held = await s.handle.acquire();
    await s.handle.close();
    assertEquals(s.handle.loaded, true);
    assertEquals((await held.postings("__name__", ["m0"])).length, 67);
    s.handle.release();
    for (let i = 0; i < 10 && s.handle.loaded; i++) await new Promise((r) => setTimeout(r, 1));
    assertEquals(s.handle.loaded, false);
    await assertRejects(() => s.handle.acquire(), Error, "closed");
    assertEquals(s.pool.loadedCount(), 0);
  } finally {
    await s.dirs.cleanup();
  }
});

Deno.test("lazy reader: a failed load is counted and retried at the next use", async () => {
  const s = await setup();
  try {
    s.setFail(true);
    await assertRejects(() => s.handle.acquire(), Error, "bucket unreachable");
    assertEquals(s.handle.inUse, 0);
    assertEquals(
      await metricValue(s.reg, "thanos_bucket_store_indexheader_lazy_load_failed_total"),
      1,
    );
    s.setFail(false);
    await s.handle.acquire();
    s.handle.release();
    assertEquals(s.opens(), 2);
    assertEquals(
      await metricValue(s.reg, "thanos_bucket_store_indexheader_lazy_load_failed_total"),
      1,
    );
    assertThrows(() => s.handle.release(), Error, "released more often");
  } finally {
    await s.handle.close();
    await s.dirs.cleanup();
  }
});

Deno.test("eager download strategy writes the header file without opening it", async () => {
  const dirs = new TempDirs();
  try {
    const root = await dirs.make();
    const meta = await writeBlock(root, series(50), { minTime: 0, maxTime: 2000 });
    const src = await FileByteSource.open(`${root}/${meta.ulid}/index`);
    const blockDir = `${root}/data/${meta.ulid}`;
    assertEquals(await ensureIndexHeaderFile(src, blockDir), "built");
    assert((await Deno.stat(`${blockDir}/${INDEX_HEADER_FILE}`)).size > 0);
    assertEquals(await ensureIndexHeaderFile(src, blockDir), "disk");
    const opened = await openIndexHeader(src, { blockDir });
    assertEquals(opened.origin, "disk");
    await opened.index.close();
  } finally {
    await dirs.cleanup();
  }
});
