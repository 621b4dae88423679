// Out-of-order ingestion of the head and DB (tsdb/head.ts, tsdb/ooo_head.ts, tsdb/db.ts) with
// Prometheus's semantics: the window, `too old sample`, duplicates, queries merging in-order and
// out-of-order samples, the write-behind log replayed on open, and out-of-order blocks that
// promtool reads, each accepted sample in exactly one block, also when a crash interrupted the
// compaction that wrote them (tests/e2e/ooo_compaction_crash_test.ts kills it for real).

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { analyze, dump } from "../helpers/promtool.ts";
import { copyDir, withTempDir } from "../helpers/tmp.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { DB, isOutOfOrderBlock } from "../../tsdb/db.ts";
import {
  DuplicateSampleError,
  Head,
  OutOfBoundsError,
  OutOfOrderSampleError,
  TooOldSampleError,
} from "../../tsdb/head.ts";
import { labelsFromObject, labelsKey } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { BlocksQuerier } from "../../tsdb/querier.ts";
import { segmentName } from "../../tsdb/wal/wal.ts";
import type { Labels, Queryable } from "../../tsdb/series.ts";
import { Logger } from "../../logging/log.ts";

const M = 60_000;
const H = 3_600_000;
const ALL = new Matcher(MatchType.Regexp, "__name__", ".+");
const L = (o: Record<string, string>): Labels => labelsFromObject(o);

/** DB options of the tests that compact out-of-order samples into blocks (1 h blocks). */
const COMPACTING = {
  oooWindowMs: 40 * M,
  oooCapMax: 8,
  chunkRangeMs: H,
  autoCompact: false,
  fsync: { mode: "none" as const },
};

/** Every series' samples as `t=v` strings, checking chunks are sorted and do not overlap. */
async function samplesOf(q: Queryable, start = -Infinity, end = Infinity, strict = true) {
  const out = new Map<string, string[]>();
  for await (const s of q.select([ALL], { start, end })) {
    const list: string[] = [];
    let last = -Infinity;
    for (const c of s.chunks) {
      if (strict) assert(c.minTime > last, "chunks sorted and not overlapping");
      else last = -Infinity;
      const { ts, vs } = decodeXorSamples(c.data);
      assertEquals(ts[0], c.minTime);
      assertEquals(ts[ts.length - 1], c.maxTime);
      for (let i = 0; i < ts.length; i++) {
        if (strict) assert(ts[i] > last, "samples in timestamp order, one per timestamp");
        last = ts[i];
        list.push(`${ts[i]}=${vs[i]}`);
      }
    }
    out.set(labelsKey(s.labels), list);
  }
  return out;
}

/** Expected `t=v` list of a map of accepted samples. */
function expected(m: Map<number, number>): string[] {
  return [...m.entries()].sort((a, b) => a[0] - b[0]).map(([t, v]) => `${t}=${v}`);
}

Deno.test("head: a sample within the out-of-order window is accepted, an older one is too old", async () => {
  const head = await Head.open(null, { oooWindowMs: 30 * M, chunkRangeMs: 20 * M });
  const a = L({ __name__: "m" });
  let app = head.appender();
  app.append(a, 60 * M, 1);
  await app.commit();
  app = head.appender();
  app.append(a, 40 * M, 2); // 20m behind the head's max: accepted
  app.append(a, 30 * M, 3); // exactly at the window's edge: accepted
  const e = assertThrows(() => app.append(a, 30 * M - 1, 4), TooOldSampleError);
  assertEquals(e.message, "too old sample");
  // a new series older than the in-order min valid time goes out of order too
  app.append(L({ __name__: "fresh" }), 35 * M, 5);
  const st = await app.commit();
  assertEquals(st, { appended: 3, dropped: 0, outOfOrder: 3 });
  assertEquals((await samplesOf(head.querier())).get(labelsKey(a)), [
    `${30 * M}=3`,
    `${40 * M}=2`,
    `${60 * M}=1`,
  ]);
  await head.close();

  // without a window, the same samples keep Prometheus's in-order errors
  const plain = await Head.open(null);
  app = plain.appender();
  app.append(a, 3 * H, 1);
  await app.commit();
  app = plain.appender();
  assertThrows(() => app.append(a, 3 * H - M, 2), OutOfOrderSampleError);
  assertThrows(() => app.append(L({ __name__: "fresh" }), H, 2), OutOfBoundsError);
  await plain.close();
});

Deno.test("head: duplicates with a window — newest in-order refused, a repeated out-of-order timestamp keeps the first", async () => {
  const head = await Head.open(null, { oooWindowMs: H });
  const a = L({ __name__: "m" });
  let app = head.appender();
  app.append(a, 10 * M, 1);
  await app.commit();
  app = head.appender();
  assertThrows(
    () => app.append(a, 10 * M, 9),
    DuplicateSampleError,
    "duplicate sample for timestamp",
  );
  app.append(a, 5 * M, 5);
  await app.commit();
  app = head.appender();
  app.append(a, 5 * M, 6); // Prometheus: dropped silently (the open out-of-order chunk has it)
  const st = await app.commit();
  assertEquals(st, { appended: 0, dropped: 1 });
  assertEquals((await samplesOf(head.querier())).get(labelsKey(a)), [`${5 * M}=5`, `${10 * M}=1`]);
  await head.close();
});

Deno.test("db: a sample that turns out of order because a concurrent commit went first is kept, also after reopen", async () => {
  await withTempDir(async (dir) => {
    const opts = { oooWindowMs: H, autoCompact: false, fsync: { mode: "none" as const } };
    let db = await DB.open(dir, opts);
    const a = L({ __name__: "m" });
    let app = db.appender();
    app.append(a, 10 * M, 1);
    await app.commit();
    // both are in order when appended; the newer one commits first
    const older = db.appender();
    const newer = db.appender();
    older.append(a, 20 * M, 2);
    newer.append(a, 30 * M, 3);
    await newer.commit();
    assertEquals(await older.commit(), { appended: 1, dropped: 0, outOfOrder: 1 });
    const want = [`${10 * M}=1`, `${20 * M}=2`, `${30 * M}=3`];
    assertEquals((await samplesOf(db.querier())).get(labelsKey(a)), want);
    await db.close();
    db = await DB.open(dir, opts);
    assertEquals((await samplesOf(db.querier())).get(labelsKey(a)), want, "after reopen");
    app = db.appender();
    await app.rollback();
    await db.close();
  });
});

/** A deterministic pseudo-random generator (tests stay reproducible). */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/**
 * Writes in-order samples every 15 s for `series` series from 0 to `end`, and after each
 * in-order batch some out-of-order samples at random older timestamps within the window (never
 * on the 15 s grid, never repeated): returns what must be stored, per series key.
 */
async function writeMixed(
  db: DB,
  series: number,
  end: number,
  windowMs: number,
  seed: number,
): Promise<Map<string, Map<number, number>>> {
  const rand = rng(seed);
  const want = new Map<string, Map<number, number>>();
  const used = new Set<string>();
  let v = 0;
  for (let t = 0; t <= end; t += 10 * M) {
    const app = db.appender();
    for (let s = 0; s < series; s++) {
      const ls = L({ __name__: "mixed", s: String(s) });
      const m = want.get(labelsKey(ls)) ?? new Map<number, number>();
      want.set(labelsKey(ls), m);
      for (let u = t; u < t + 10 * M && u <= end; u += 15_000) {
        app.append(ls, u, ++v);
        m.set(u, v);
      }
      if (t === 0) continue;
      for (let k = 0; k < 5; k++) {
        const back = 1 + Math.floor(rand() * (windowMs - 1));
        let u = t - back;
        if (u % 15_000 === 0) u += 7;
        if (u < 0 || used.has(`${s}/${u}`)) continue;
        used.add(`${s}/${u}`);
        app.append(ls, u, ++v);
        m.set(u, v);
      }
    }
    await app.commit();
  }
  return want;
}

Deno.test("db: queries merge in-order and out-of-order samples; the WBL brings them back on reopen", async () => {
  await withTempDir(async (dir) => {
    const opts = {
      oooWindowMs: 30 * M,
      oooCapMax: 4,
      autoCompact: false,
      fsync: { mode: "none" as const },
    };
    let db = await DB.open(dir, opts);
    const want = await writeMixed(db, 3, 80 * M, 30 * M, 7);
    const check = async (q: Queryable, what: string) => {
      const got = await samplesOf(q);
      assertEquals(got.size, want.size, what);
      for (const [k, m] of want) assertEquals(got.get(k), expected(m), `${what}: ${k}`);
    };
    await check(db.querier(), "live head");
    // a sub-range: only its samples
    const sub = await samplesOf(db.querier(), 20 * M, 40 * M);
    for (const [k, m] of want) {
      const inRange = new Map([...m].filter(([t]) => t >= 20 * M && t <= 40 * M));
      assertEquals(sub.get(k), expected(inRange), `sub-range ${k}`);
    }
    await db.close();
    let wbl = 0;
    for await (const e of Deno.readDir(`${dir}/wbl`)) if (e.isFile) wbl++;
    assert(wbl > 0, "the out-of-order samples are in the WBL");
    db = await DB.open(dir, opts);
    assert((db.head.replayStats?.oooSamples ?? 0) > 0, "WBL replayed");
    await check(db.querier(), "after reopen");
    await db.close();
  });
});

/** `promtool tsdb dump` lines of one block (copied alone into a data dir) as `key t=v` strings. */
async function dumpBlock(blockDir: string, scratch: string): Promise<string[]> {
  const id = blockDir.slice(blockDir.lastIndexOf("/") + 1);
  await Deno.mkdir(scratch, { recursive: true });
  await Deno.rename(blockDir, `${scratch}/${id}`);
  try {
    const text = await dump(scratch);
    const out: string[] = [];
    for (const line of text.split("\n")) {
      const m = line.match(/^(\{.*\}) (\S+) (\d+)$/);
      if (m) out.push(`${m[1]} ${m[3]}=${Number(m[2])}`);
    }
    return out;
  } finally {
    await Deno.rename(`${scratch}/${id}`, blockDir);
    await Deno.remove(scratch, { recursive: true });
  }
}

e2eTest(
  "db: compaction writes out-of-order blocks; promtool finds every accepted sample in exactly one block",
  { peers: ["promtool"] },
  async () => {
    await withTempDir(async (dir) => {
      const opts = COMPACTING;
      let db = await DB.open(`${dir}/db`, opts);
      const want = await writeMixed(db, 2, 4 * H, 40 * M, 11);
      const metas = await db.compact();
      const ooo = metas.filter((m) => isOutOfOrderBlock(m));
      assert(ooo.length > 0, "out-of-order blocks written");
      assert(metas.length > ooo.length, "in-order blocks written");
      for (const m of ooo) {
        assertEquals(m.compaction.hints, ["from-out-of-order"]);
        assertEquals(m.compaction.level, 1);
      }
      assertEquals(db.head.oooMinTime, Infinity, "out-of-order samples left the head");
      // everything is still answered once, now from blocks + head
      const check = async (what: string) => {
        // blocks overlap the head now: chunks may overlap (the engine dedups them)
        const got = await samplesOf(db.querier(), -Infinity, Infinity, false);
        for (const [k, m] of want) {
          // the engine dedups overlapping chunks; here we only compare the union
          const seen = new Set(got.get(k));
          assertEquals([...seen].sort(), expected(m).sort(), `${what}: ${k}`);
        }
      };
      await check("after compaction");
      await db.close();
      db = await DB.open(`${dir}/db`, opts);
      await check("after reopen");
      // flush what is left in the head into blocks too, then count samples over all blocks
      const head = db.head;
      for (let mint = Math.floor(head.minTime / H) * H; mint <= head.maxTime; mint += H) {
        const meta = await db.writeHeadBlock(mint, mint + H);
        if (meta) await analyze(`${dir}/db/${meta.ulid}`);
      }
      await db.close();
      const seen = new Map<string, number>();
      for await (const e of Deno.readDir(`${dir}/db`)) {
        if (!e.isDirectory || e.name.length !== 26) continue;
        await analyze(`${dir}/db/${e.name}`);
        for (const s of await dumpBlock(`${dir}/db/${e.name}`, `${dir}/scratch`)) {
          seen.set(s, (seen.get(s) ?? 0) + 1);
        }
      }
      let total = 0;
      for (const [k, m] of want) {
        const name = `{__name__="mixed", s="${k.match(/s\D+(\d+)/)![1]}"}`;
        for (const [t, v] of m) {
          assertEquals(seen.get(`${name} ${t}=${v}`), 1, `${name} ${t}=${v} once`);
          total++;
        }
      }
      assertEquals(seen.size, total, "no sample that was not written");
    });
  },
);

/** Samples per series key of `q` as `t=v` → how many times `q` answered it. */
async function countInto(q: Queryable, count: Map<string, number>): Promise<void> {
  for (const [k, list] of await samplesOf(q, -Infinity, Infinity, false)) {
    for (const tv of list) count.set(`${k} ${tv}`, (count.get(`${k} ${tv}`) ?? 0) + 1);
  }
}

/** Every accepted sample is in exactly one of `db`'s blocks and its head, nothing else is. */
async function assertEachSampleOnce(db: DB, want: Map<string, Map<number, number>>) {
  const count = new Map<string, number>();
  for (const b of db.blocks) await countInto(new BlocksQuerier([b]), count);
  await countInto(db.head.querier(), count);
  let n = 0;
  for (const [k, m] of want) {
    for (const tv of expected(m)) {
      assertEquals(count.get(`${k} ${tv}`), 1, `${k} ${tv}`);
      n++;
    }
  }
  assertEquals(count.size, n, "no sample that was not written");
}

Deno.test("db: an out-of-order compaction committed before a crash is finished on open — its blocks moved in, its WBL segments not replayed", async () => {
  await withTempDir(async (dir) => {
    const db0 = `${dir}/db`;
    const opts = COMPACTING;
    let db = await DB.open(db0, opts);
    const want = await writeMixed(db, 3, 4 * H, 40 * M, 5);
    // the WBL as the compaction finds it, then the compaction
    await Deno.mkdir(`${dir}/wbl-before`);
    for (const e of Deno.readDirSync(`${db0}/wbl`)) {
      await Deno.copyFile(`${db0}/wbl/${e.name}`, `${dir}/wbl-before/${e.name}`);
    }
    const before = [...Deno.readDirSync(`${dir}/wbl-before`)].map((e) => Number(e.name));
    const ooo = (await db.compact()).filter((m) => isOutOfOrderBlock(m));
    await db.close();
    assert(ooo.length >= 2, `out-of-order blocks: ${ooo.length}`);
    const after = new Set([...Deno.readDirSync(`${db0}/wbl`)].map((e) => Number(e.name)));
    const truncated = before.filter((s) => !after.has(s));
    assert(truncated.length > 0, "the compaction truncated the WBL");
    const last = Math.max(...truncated);

    // the state a kill leaves right after the commit: the blocks (all but the first one, which
    // was already moved into place) in the committed dir, the WBL not truncated yet
    const committed = `${db0}/ooo-compaction.committed`;
    await Deno.mkdir(committed);
    for (const m of ooo.slice(1)) await Deno.rename(`${db0}/${m.ulid}`, `${committed}/${m.ulid}`);
    await Deno.writeTextFile(`${committed}/commit.json`, JSON.stringify({ lastWblSegment: last }));
    for (const s of truncated) {
      await Deno.rename(segmentName(`${dir}/wbl-before`, s), segmentName(`${db0}/wbl`, s));
    }

    const lines: string[] = [];
    db = await DB.open(db0, {
      ...opts,
      logger: new Logger("info", "logfmt", {}, (l) => lines.push(l)),
    });
    try {
      assert(
        lines.some((l) =>
          l.includes("finished an out-of-order compaction committed before a restart")
        ),
        lines.join("\n"),
      );
      assertEquals(
        [...Deno.readDirSync(db0)].filter((e) => e.name.startsWith("ooo-compaction")).length,
        0,
      );
      const ids = new Set(db.blocks.map((b) => b.meta.ulid));
      for (const m of ooo) assert(ids.has(m.ulid), `block ${m.ulid} loaded`);
      const left = [...Deno.readDirSync(`${db0}/wbl`)].map((e) => Number(e.name));
      assert(left.every((s) => s > last), `WBL segments up to ${last} deleted: ${left}`);
      assertEquals(db.head.replayStats?.oooSamples ?? 0, 0, "no out-of-order sample replayed");
      await assertEachSampleOnce(db, want);
    } finally {
      await db.close();
    }
  });
});

Deno.test("db: a crash once the out-of-order blocks are in place but before the WBL's truncation replays none of their samples", async () => {
  await withTempDir(async (dir) => {
    const opts = COMPACTING;
    const db = await DB.open(`${dir}/db`, opts);
    const want = await writeMixed(db, 3, 4 * H, 40 * M, 9);
    // the directory as a kill would leave it when the compaction comes to drop the samples
    // from the head and truncate the WBL: copied there, then the compaction goes on
    const head = db.head;
    const end = head.endOooCompaction.bind(head);
    let copied = false;
    head.endOooCompaction = async (last: number, failed?: boolean) => {
      if (!failed && !copied) {
        copied = true;
        await copyDir(`${dir}/db`, `${dir}/crashed`);
      }
      return await end(last, failed);
    };
    const ooo = (await db.compact()).filter((m) => isOutOfOrderBlock(m));
    await db.close();
    assert(copied && ooo.length > 0, "an out-of-order compaction ran");

    const lines: string[] = [];
    const logger = new Logger("info", "logfmt", {}, (l) => lines.push(l));
    const crashed = await DB.open(`${dir}/crashed`, { ...opts, logger });
    try {
      assert(
        lines.some((l) => l.includes("finished an out-of-order compaction")),
        lines.join("\n"),
      );
      assertEquals(crashed.head.replayStats?.oooSamples ?? 0, 0, "no out-of-order sample replayed");
      await assertEachSampleOnce(crashed, want);
    } finally {
      await crashed.close();
    }
  });
});
