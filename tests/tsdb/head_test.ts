// The TSDB head (tsdb/head.ts) and DB (tsdb/db.ts): Prometheus 2.42's append rules and error
// messages, stale markers, chunk cutting, sorted query results, limit hooks, WAL replay (also
// after a torn tail), cutting blocks with head/WAL truncation, and retention.

import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { DB } from "../../tsdb/db.ts";
import {
  AppenderClosedError,
  AppendError,
  DuplicateSampleError,
  Head,
  InvalidSampleError,
  LimitExceededError,
  OutOfBoundsError,
  OutOfOrderSampleError,
} from "../../tsdb/head.ts";
import { compareLabels, labelsFromObject, labelsKey } from "../../tsdb/labels.ts";
import { Logger } from "../../logging/log.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import type { Labels, Queryable, SeriesSet } from "../../tsdb/series.ts";
import { isStaleAt } from "../../tsdb/value.ts";

function existsSync(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

const H = 3_600_000;
const ALL = new Matcher(MatchType.Regexp, "__name__", ".+");

/** Samples of a series set: labels key → [t, value-bits hex] (overlaps would show as repeats). */
async function collect(set: SeriesSet): Promise<Map<string, { labels: Labels; s: string[] }>> {
  const out = new Map<string, { labels: Labels; s: string[] }>();
  let prev: Labels | null = null;
  for await (const sr of set) {
    if (prev !== null) assert(compareLabels(prev, sr.labels) < 0, "series sorted and unique");
    prev = sr.labels;
    const s: string[] = [];
    for (const c of sr.chunks) {
      const { ts, vs } = decodeXorSamples(c.data);
      assertEquals(ts[0], c.minTime, "chunk minTime");
      assertEquals(ts[ts.length - 1], c.maxTime, "chunk maxTime");
      const w = new Uint32Array(vs.buffer, vs.byteOffset, vs.length * 2);
      for (let i = 0; i < ts.length; i++) {
        s.push(`${ts[i]}:${w[2 * i + 1].toString(16)}.${w[2 * i].toString(16)}`);
      }
    }
    out.set(labelsKey(sr.labels), { labels: sr.labels, s });
  }
  return out;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

function bits(t: number, v: number): string {
  f64[0] = v;
  return `${t}:${u32[1].toString(16)}.${u32[0].toString(16)}`;
}

function selectAll(q: Queryable, start = -Infinity, end = Infinity): SeriesSet {
  return q.select([ALL], { start, end });
}

const L = (o: Record<string, string>) => labelsFromObject(o);

Deno.test("head: Prometheus append rules and error kinds", async () => {
  const head = await Head.open(null);
  const a = L({ __name__: "m", i: "1" });
  let app = head.appender();
  const ref = app.append(a, 10_000, 1);
  assert(ref > 0);
  assertEquals((await app.commit()).appended, 1);

  app = head.appender();
  const e1 = assertThrows(() => app.append(a, 9_000, 5), OutOfOrderSampleError);
  assertEquals(e1.message, "out of order sample");
  assertEquals((e1 as AppendError).kind, "out_of_order");
  const e2 = assertThrows(() => app.append(a, 10_000, 2), DuplicateSampleError);
  assertEquals(e2.message, "duplicate sample for timestamp");
  // exact duplicate: accepted, ignored at commit
  assertEquals(app.append(a, 10_000, 1), ref);
  assertEquals(app.append(a, 11_000, 2, ref), ref, "ref hint");
  const st = await app.commit();
  assertEquals(st, { appended: 1, dropped: 1 });
  await assertRejects(() => app.commit(), AppenderClosedError, "appender closed");
  assertThrows(() => app.append(a, 12_000, 1), AppenderClosedError);

  // out of bounds: older than maxTime - chunkRange/2
  app = head.appender();
  app.append(a, 3 * H, 3);
  await app.commit();
  app = head.appender();
  const e3 = assertThrows(() => app.append(L({ __name__: "new" }), 2 * H - 1, 1), OutOfBoundsError);
  assertEquals(e3.message, "out of bounds");
  assertEquals(head.numSeries, 1, "an out-of-bounds sample creates no series");
  app.append(L({ __name__: "new" }), 2 * H, 1);
  await app.rollback();
  assertEquals(head.numSeries, 2, "series survive rollback (Prometheus)");

  // invalid label sets
  app = head.appender();
  assertThrows(
    () => app.append([], 3 * H, 1),
    InvalidSampleError,
    "empty labelset: invalid sample",
  );
  assertThrows(
    () => app.append(["a", "1", "a", "2"], 3 * H, 1),
    InvalidSampleError,
    'label name "a" is not unique: invalid sample',
  );
  // unsorted input and empty values are normalised to the stored series
  assertEquals(app.append(["m_unused", "", "i", "1", "__name__", "m"], 3 * H + 1, 4), ref);
  await app.commit();

  // min valid time from the newest block
  const h2 = await Head.open(null, { minValidTime: 5000 });
  assertThrows(() => h2.appender().append(a, 4999, 1), OutOfBoundsError);
  await h2.close();
  await head.close();
});

Deno.test("head: in-batch out-of-order sample is dropped at commit like Prometheus", async () => {
  const head = await Head.open(null);
  const a = L({ __name__: "m" });
  const app = head.appender();
  app.append(a, 2000, 1);
  app.append(a, 1000, 2); // checked against committed state only
  assertEquals(await app.commit(), { appended: 1, dropped: 1 });
  const got = await collect(selectAll(head.querier()));
  assertEquals(got.get(labelsKey(a))!.s, [bits(2000, 1)]);
  await head.close();
});

Deno.test("head: stale markers and NaN payloads survive bit-exactly through query", async () => {
  const head = await Head.open(null);
  const a = L({ __name__: "m" });
  const app = head.appender();
  app.append(a, 1000, 1);
  app.appendStale(a, 2000);
  app.append(a, 3000, NaN);
  app.appendBits(a, 4000, 0x7ff00000, 0x00000002);
  await app.commit();
  const set = selectAll(head.querier());
  for await (const s of set) {
    const { vs } = decodeXorSamples(s.chunks[0].data);
    assert(!isStaleAt(vs, 0));
    assert(isStaleAt(vs, 1), "stale marker bits");
    assert(!isStaleAt(vs, 2) && Number.isNaN(vs[2]), "ordinary NaN stays ordinary");
    assert(isStaleAt(vs, 3));
  }
  await head.close();
});

Deno.test("head: chunks cut at 120 samples, at 240 at most, and at chunk-range ends", async () => {
  const head = await Head.open(null);
  const reg = L({ __name__: "regular" });
  const burst = L({ __name__: "burst" });
  let app = head.appender();
  // 15 s scrapes over [0, 2h): four chunks of 120 samples
  for (let t = 0; t < 2 * H; t += 15_000) app.append(reg, t, t);
  // 30 samples a minute apart, then 1 s apart: the prediction fails, cut at 240; the next
  // chunk predicts again (117 samples at 1 s)
  for (let i = 0; i < 30; i++) app.append(burst, i * 60_000, i);
  for (let i = 1; i <= 400; i++) app.append(burst, 29 * 60_000 + i * 1000, i);
  await app.commit();
  app = head.appender();
  // crossing the 2h boundary cuts a chunk there
  for (let t = 2 * H; t < 2 * H + 60_000; t += 15_000) app.append(reg, t, t);
  await app.commit();
  const sizes = new Map<string, number[][]>();
  for await (const s of selectAll(head.querier())) {
    sizes.set(
      s.labels[1],
      s.chunks.map((c) => [c.minTime, c.maxTime, decodeXorSamples(c.data).ts.length]),
    );
  }
  assertEquals(sizes.get("regular")!.map((c) => c[2]), [120, 120, 120, 120, 4]);
  assertEquals(sizes.get("regular")![3][1], 2 * H - 15_000);
  assertEquals(sizes.get("regular")![4][0], 2 * H);
  assertEquals(sizes.get("burst")!.map((c) => c[2]), [240, 117, 73]);
  await head.close();
});

Deno.test("head: query results sorted, equal to appended data, matchers and label APIs", async () => {
  const head = await Head.open(null);
  const want = new Map<string, string[]>();
  let app = head.appender();
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const all: Labels[] = [];
  for (let i = 0; i < 300; i++) {
    all.push(L({ __name__: `m${i % 7}`, job: `j${i % 3}`, inst: `i${Math.floor(rnd() * 1e6)}` }));
  }
  for (let step = 0; step < 400; step++) {
    for (const ls of all) {
      if (rnd() < 0.3) continue;
      const k = labelsKey(ls);
      const prev = want.get(k);
      const t = step * 10_000 + Math.floor(rnd() * 5000);
      const v = rnd() < 0.05 ? 0 : rnd() * 1000;
      app.append(ls, t, v);
      if (prev) prev.push(bits(t, v));
      else want.set(k, [bits(t, v)]);
    }
    if (step % 50 === 49) {
      await app.commit();
      app = head.appender();
    }
  }
  await app.commit();
  const got = await collect(selectAll(head.querier()));
  assertEquals(got.size, want.size);
  for (const [k, v] of want) assertEquals(got.get(k)!.s, v, k);

  const q = head.querier();
  const m = [
    new Matcher(MatchType.Equal, "job", "j1"),
    new Matcher(MatchType.Regexp, "__name__", "m[12]"),
  ];
  const sub = await collect(q.select(m, { start: 0, end: 4_000_000 }));
  const expect = all.filter((ls) =>
    ls[5] === "j1" && (ls[1] === "m1" || ls[1] === "m2") && want.has(labelsKey(ls))
  );
  assertEquals(sub.size, expect.length);
  for await (const s of q.select(m, { start: 0, end: 1, skipChunks: true })) {
    assertEquals(s.chunks.length, 0);
  }
  assertEquals(await q.labelNames([], 0, 5_000_000), ["__name__", "inst", "job"]);
  assertEquals(await q.labelValues("job", [], 0, 5_000_000), ["j0", "j1", "j2"]);
  assertEquals(
    await q.labelValues("__name__", [new Matcher(MatchType.Equal, "job", "j0")], 0, 5_000_000),
    ["m0", "m1", "m2", "m3", "m4", "m5", "m6"],
  );
  assertEquals(await q.labelNames([], 10_000_000, 20_000_000), [], "outside the head's range");
  // a time-restricted select returns only overlapping chunks
  for await (const s of q.select([ALL], { start: 3_990_000, end: 4_000_000 })) {
    for (const c of s.chunks) assert(c.maxTime >= 3_990_000);
  }
  await head.close();
});

Deno.test("head: series and sample limit hooks reject with typed errors", async () => {
  const seen: number[] = [];
  const head = await Head.open(null, {
    limits: {
      maxSeries: 3,
      maxSamplesPerAppender: 4,
      beforeSeriesCreate: (ls, n) => {
        seen.push(n);
        return ls[1] !== "forbidden";
      },
    },
  });
  const app = head.appender();
  app.append(L({ __name__: "a" }), 1, 1);
  app.append(L({ __name__: "b" }), 1, 1);
  const e = assertThrows(() => app.append(L({ __name__: "forbidden" }), 1, 1), LimitExceededError);
  assertEquals((e as LimitExceededError).kind, "series_limit");
  app.append(L({ __name__: "c" }), 1, 1);
  const e2 = assertThrows(() => app.append(L({ __name__: "d" }), 1, 1), LimitExceededError);
  assertEquals((e2 as LimitExceededError).kind, "series_limit");
  app.append(L({ __name__: "a" }), 2, 1); // existing series are not limited
  const e3 = assertThrows(() => app.append(L({ __name__: "b" }), 2, 1), LimitExceededError);
  assertEquals((e3 as LimitExceededError).kind, "sample_limit");
  assertEquals(seen, [0, 1, 2, 2]);
  await app.commit();
  assertEquals(head.numSeries, 3);
  await head.close();
});

/** Captures log lines. */
function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger("info", "logfmt", {}, (l) => lines.push(l)), lines };
}

async function walSegments(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/wal`)) if (/^\d+$/.test(e.name)) out.push(e.name);
  return out.sort();
}

Deno.test("head: replay after close restores samples, refs and stale markers", async () => {
  await withTempDir(async (dir) => {
    const head = await Head.open(dir);
    const want = new Map<string, string[]>();
    const refs = new Map<string, number>();
    for (let c = 0; c < 20; c++) {
      const app = head.appender();
      for (let i = 0; i < 50; i++) {
        const ls = L({ __name__: "m", i: String(i) });
        const t = c * 15_000 + i;
        let r: number;
        if (c === 19 && i % 10 === 0) {
          r = app.appendStale(ls, t);
          (want.get(labelsKey(ls)) ?? []).push(`${t}:7ff00000.2`);
        } else {
          r = app.append(ls, t, c * 1.5 + i);
          const arr = want.get(labelsKey(ls)) ?? [];
          arr.push(bits(t, c * 1.5 + i));
          want.set(labelsKey(ls), arr);
        }
        refs.set(labelsKey(ls), r);
      }
      await app.commit();
    }
    await head.close();

    const h2 = await Head.open(dir);
    assertEquals(h2.replayStats!.samples, 1000);
    assertEquals(h2.replayStats!.unknownRefs, 0);
    const got = await collect(selectAll(h2.querier()));
    for (const [k, v] of want) assertEquals(got.get(k)!.s, v, k);
    // refs restored; a new series gets a fresh ref
    const app = h2.appender();
    for (const [k, r] of refs) {
      assertEquals(app.append(k.split("\xff"), 1_000_000, 1), r);
    }
    const nr = app.append(L({ __name__: "new" }), 1_000_000, 1);
    assert(nr > Math.max(...refs.values()));
    await app.commit();
    await h2.close();
  });
});

Deno.test("head: torn WAL tail is repaired with a log line, earlier commits survive", async () => {
  await withTempDir(async (dir) => {
    const head = await Head.open(dir);
    const a = L({ __name__: "m" });
    for (let c = 0; c < 10; c++) {
      const app = head.appender();
      app.append(a, c * 1000, c);
      await app.commit();
    }
    await head.close();
    // cut the last record short: find the end of the data (close pads the page with zeros)
    const segs = await walSegments(dir);
    let path = "";
    let data = new Uint8Array(0);
    for (const s of segs.reverse()) {
      data = await Deno.readFile(`${dir}/wal/${s}`);
      if (data.some((b) => b !== 0)) {
        path = `${dir}/wal/${s}`;
        break;
      }
    }
    let end = data.length;
    while (end > 0 && data[end - 1] === 0) end--;
    await Deno.truncate(path, end - 3);

    const { logger, lines } = captureLogger();
    const h2 = await Head.open(dir, { logger });
    assert(lines.some((l) => l.includes("level=warn") && l.includes("repaired")), lines.join("\n"));
    const got = await collect(selectAll(h2.querier()));
    assertEquals(got.get(labelsKey(a))!.s, Array.from({ length: 9 }, (_, c) => bits(c * 1000, c)));
    // the head keeps working after the repair
    const app = h2.appender();
    app.append(a, 100_000, 1);
    await app.commit();
    await h2.close();
    const h3 = await Head.open(dir);
    assertEquals((await collect(selectAll(h3.querier()))).get(labelsKey(a))!.s.length, 10);
    await h3.close();
  });
});

Deno.test("head: fsync policies acknowledge only after the covering fsync; group commit", async () => {
  await withTempDir(async (dir) => {
    for (
      const fsync of [
        { mode: "per-commit" as const },
        { mode: "interval" as const, intervalMs: 20, maxPending: 8 },
        { mode: "none" as const },
      ]
    ) {
      const d = `${dir}/${fsync.mode}`;
      const head = await Head.open(d, { fsync });
      const commits = [];
      for (let w = 0; w < 16; w++) {
        const app = head.appender();
        app.append(L({ __name__: "m", w: String(w) }), 1000, w);
        commits.push(app.commit());
      }
      await Promise.all(commits);
      if (fsync.mode === "none") assertEquals(head.fsyncs, 0);
      else assert(head.fsyncs >= 1 && head.fsyncs < 16, `group commit: ${head.fsyncs} fsyncs`);
      assertEquals((await collect(selectAll(head.querier()))).size, 16);
      await head.close();
    }
  });
});

Deno.test("db: cutting writes blocks, truncates head and WAL; queries merge blocks + head", async () => {
  await withTempDir(async (dir) => {
    const { logger, lines } = captureLogger();
    const db = await DB.open(dir, { autoCompact: false, logger });
    const want = new Map<string, string[]>();
    const add = (ls: Labels, t: number, v: number) => {
      const k = labelsKey(ls);
      const arr = want.get(k) ?? [];
      arr.push(bits(t, v));
      want.set(k, arr);
    };
    const metas = [];
    for (let h = 0; h < 14; h++) {
      const app = db.appender();
      for (let t = h * H; t < (h + 1) * H; t += 60_000) {
        for (let i = 0; i < 10; i++) {
          // churn: series "old" only for the first 3 hours
          const ls = L({ __name__: i < 5 ? "steady" : h < 3 ? "old" : "new", i: String(i) });
          app.append(ls, t, t / 1000 + i);
          add(ls, t, t / 1000 + i);
        }
      }
      await app.commit();
      metas.push(...await db.compact());
      assert(db.head.maxTime - db.head.minTime <= 3 * H, "head spans at most 1.5 ranges");
    }
    assertEquals(metas.map((m) => [m.minTime / H, m.maxTime / H]), [
      [0, 2],
      [2, 4],
      [4, 6],
      [6, 8],
      [8, 10],
      [10, 12],
    ]);
    assertEquals(db.head.minTime, 12 * H);
    assertEquals(db.head.numSeries, 10, "series of 'old' garbage-collected");
    assertEquals(metas[0].stats?.numSeries, 10);
    // WAL: checkpointed and truncated
    const walEntries = [...Deno.readDirSync(`${dir}/wal`)].map((e) => e.name).sort();
    assert(walEntries.some((n) => n.startsWith("checkpoint.")), walEntries.join(","));
    assert(lines.some((l) => l.includes("WAL checkpoint complete")));
    const segs = await walSegments(dir);
    assert(Number(segs[0]) > 0, `old segments deleted: ${segs}`);

    const check = async (q: Queryable) => {
      const got = await collect(selectAll(q));
      assertEquals(got.size, want.size);
      for (const [k, v] of want) assertEquals(got.get(k)!.s, v, k);
    };
    await check(db.querier());
    await db.close();

    // reopen: blocks + checkpoint + segments replayed
    const db2 = await DB.open(dir, { autoCompact: false });
    assertEquals(db2.blocks.length, 6);
    assertEquals(db2.head.minTime, 12 * H);
    await check(db2.querier());
    assertThrows(
      () => db2.appender().append(L({ __name__: "steady", i: "0" }), 11 * H, 1),
      OutOfBoundsError,
    );
    await db2.close();

    // a block whose deletion a crash cut short (renamed, part of it removed; a ULID no block
    // here has, so that retention's own deletion below cannot be what removes it) and an
    // unfinished block: both removed on open, nothing else changes
    const victim = db2.blocks[0].meta.ulid;
    const cutShort = "01HYYYYYYYYYYYYYYYYYYYYYYY";
    await Deno.mkdir(`${dir}/${cutShort}.tmp-for-deletion/chunks`, { recursive: true });
    await Deno.copyFile(
      `${dir}/${victim}/meta.json`,
      `${dir}/${cutShort}.tmp-for-deletion/meta.json`,
    );
    await Deno.mkdir(`${dir}/01HZZZZZZZZZZZZZZZZZZZZZZZ.tmp-for-creation`);

    // retention: blocks more than 4h behind the newest block's maxTime go, renamed to
    // `<ulid>.tmp-for-deletion` before their files are removed
    const db3 = await DB.open(dir, { autoCompact: false, retentionMs: 4 * H });
    assertEquals(db3.blocks.map((b) => [b.meta.minTime / H, b.meta.maxTime / H]), [
      [6, 8],
      [8, 10],
      [10, 12],
    ]);
    assertEquals(
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.includes(".tmp-for-")),
      [],
    );
    assert(!existsSync(`${dir}/${victim}`), "the block beyond retention is gone");
    await db3.close();
  });
});

Deno.test("db: automatic compaction after commits", async () => {
  await withTempDir(async (dir) => {
    const db = await DB.open(dir);
    for (let h = 0; h < 4; h++) {
      const app = db.appender();
      for (let t = h * H; t < (h + 1) * H; t += 60_000) app.append(L({ __name__: "x" }), t, t);
      await app.commit();
    }
    await db.compact(); // joins the run started by the last commit
    assertEquals(db.blocks.length, 1);
    assertEquals(db.blocks[0].meta.maxTime, 2 * H);
    await db.close();
  });
});
