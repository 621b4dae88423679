// The bucket compactor on an in-memory bucket: 2h blocks are compacted to 8h with sources,
// parents and level recorded and the same samples; a group with overlapping non-replica blocks and
// a group with a corrupt index are reported, marked no-compact and do not stop the healthy group;
// with halt-on-error the pass halts as Thanos does; the cleaner deletes marked blocks.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { downloadBlocks, servedBlocks, uploadSeriesBlocks } from "../helpers/compact_bucket.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import { Registry } from "../../metrics/registry.ts";
import { Logger } from "../../logging/log.ts";
import { BucketCompactor, HaltError } from "../../compact/compactor.ts";
import { readMarker } from "../../block/markers.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import type { RawSeries } from "../../tsdb/block_writer.ts";
import { openBlocks } from "../../tsdb/block.ts";
import { mergeSeriesSets } from "../../tsdb/querier.ts";
import { blockSeries } from "../../compact/merge.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";

const H = 3600_000;
const T0 = 1_699_920_000_000 - (1_699_920_000_000 % (48 * H)); // aligned to 2d

function series(n: number, fromH: number, toH: number, stepMs = 60_000, shift = 0): RawSeries[] {
  const out: RawSeries[] = [];
  for (let i = 0; i < n; i++) {
    const ts: number[] = [];
    const vs: number[] = [];
    for (let t = T0 + fromH * H + shift; t < T0 + toH * H; t += stepMs) {
      ts.push(t);
      vs.push(i * 1000 + (t - T0) / 1000);
    }
    out.push({
      labels: labelsFromObject({ __name__: "m", i: String(i).padStart(3, "0") }),
      ts: Float64Array.from(ts),
      vs: Float64Array.from(vs),
    });
  }
  return out;
}

async function allSamples(dir: string): Promise<string[]> {
  const blocks = await openBlocks(dir);
  const out: string[] = [];
  for await (const s of mergeSeriesSets(blocks.map((b) => blockSeries(b)))) {
    for (const c of s.chunks) {
      const d = decodeXorSamples(c.data);
      for (let i = 0; i < d.ts.length; i++) out.push(`${s.labels.join(",")} ${d.ts[i]} ${d.vs[i]}`);
    }
  }
  for (const b of blocks) await b.close();
  return out.sort();
}

function logger(lines: string[]): Logger {
  return new Logger("info", "logfmt", {}, (l) => lines.push(l));
}

Deno.test("a bad group does not stop the others; it is logged, counted and marked", async () => {
  await using dirs = new TempDirs();
  const bucket = new MemoryBucket();
  const good = await uploadSeriesBlocks(bucket, await dirs.make(), series(20, 0, 10), {
    c: "good",
  });
  assertEquals(good.length, 5);
  // two overlapping blocks of one group that are not replicas (same external labels)
  const o1 = await uploadSeriesBlocks(bucket, await dirs.make(), series(5, 0, 2), { c: "overlap" });
  const o2 = await uploadSeriesBlocks(bucket, await dirs.make(), series(5, 0, 2, 60_000, 30_000), {
    c: "overlap",
  });
  // a group whose index is corrupt
  const bad = await uploadSeriesBlocks(bucket, await dirs.make(), series(5, 0, 10), {
    c: "corrupt",
  });
  const idx = await bucket.get(`${bad[0].ulid}/index`);
  const broken = idx.slice();
  for (let i = 5; i < 200 && i < broken.length; i++) broken[i] ^= 0x5a;
  await bucket.upload(`${bad[0].ulid}/index`, broken);

  const lines: string[] = [];
  const reg = new Registry();
  const c = new BucketCompactor({
    bucket,
    dataDir: await dirs.make(),
    logger: logger(lines),
    registry: reg,
    deleteDelayMs: 0,
  });
  const res = await c.compact();
  if (res.problemGroups.length !== 2) console.log(lines.join("\n"));
  assertEquals(res.problemGroups.length, 2);
  // the healthy group compacted its four oldest blocks into an 8h block
  const served = await servedBlocks(bucket);
  const compacted = [...served.values()].filter((m) =>
    m.compaction.level === 2 && m.thanos?.labels.c === "good"
  );
  assertEquals(compacted.length, 1);
  const m = compacted[0];
  assertEquals(m.thanos?.labels, { c: "good" });
  assertEquals(m.thanos?.source, "compactor");
  assertEquals(m.compaction.sources, good.slice(0, 4).map((b) => b.ulid).sort());
  assertEquals(m.compaction.parents?.map((p) => p.ulid), good.slice(0, 4).map((b) => b.ulid));
  assertEquals([m.minTime, m.maxTime], [good[0].minTime, good[3].maxTime]);
  for (const b of good.slice(0, 4)) {
    assert(await readMarker(bucket, b.ulid, "deletion-mark.json") !== null, "source marked");
  }
  // problems: marks, log lines naming the blocks, metrics naming the group
  for (const id of [o1[0].ulid, o2[0].ulid]) {
    assertEquals(
      (await readMarker(bucket, id, "no-compact-mark.json"))?.reason,
      "overlapping-blocks",
    );
  }
  assertEquals(
    (await readMarker(bucket, bad[0].ulid, "no-compact-mark.json"))?.reason,
    "corrupt-block",
  );
  const problemLines = lines.filter((l) => l.includes("compaction group has a problem"));
  assertEquals(problemLines.length, 2);
  assert(problemLines.some((l) => l.includes(o1[0].ulid) && l.includes(o2[0].ulid)));
  assert(problemLines.some((l) => l.includes(bad[0].ulid)));
  const text = await reg.expose();
  assert(text.includes('thanos_compact_group_compactions_failures_total{resolution="0"} 2'), text);
  assert(text.includes('thanos_compact_group_problem{group="0@'), text);
  assert(text.includes('labels="{c=\\"corrupt\\"}"} 1'), text);
  assert(
    text.includes(
      'thanos_compact_blocks_marked_total{marker="no-compact-mark.json",reason="overlapping-blocks"} 2',
    ),
    text,
  );

  // a second pass has nothing left to do; the cleaner deletes the marked sources
  assertEquals((await c.compact()).compactions, 0);
  // 4 good sources + the 3 healthy blocks of the corrupt group (compacted around the marked one)
  assertEquals(await c.cleanup(), 7);
  for (const b of good.slice(0, 4)) assertEquals(await bucket.exists(`${b.ulid}/index`), false);

  // same samples before and after for the healthy group
  const before = await dirs.make();
  const after = await dirs.make();
  await downloadBlocks(bucket, [m.ulid], after);
  const src = await dirs.make();
  const again = await uploadSeriesBlocks(new MemoryBucket(), src, series(20, 0, 8), { c: "good" });
  assertEquals(again.length, 4);
  assertEquals(await allSamples(after), await allSamples(src));
  await Deno.remove(before, { recursive: true });
});

Deno.test("halt-on-error restores Thanos's halting on a group problem", async () => {
  await using dirs = new TempDirs();
  const bucket = new MemoryBucket();
  await uploadSeriesBlocks(bucket, await dirs.make(), series(3, 0, 2), { c: "x" });
  await uploadSeriesBlocks(bucket, await dirs.make(), series(3, 0, 2, 60_000, 1000), { c: "x" });
  const c = new BucketCompactor({
    bucket,
    dataDir: await dirs.make(),
    logger: logger([]),
    registry: new Registry(),
    haltOnError: true,
  });
  let halted = false;
  try {
    await c.compact();
  } catch (e) {
    halted = e instanceof HaltError;
  }
  assert(halted, "expected a HaltError");
});

Deno.test("vertical compaction with replica labels merges replicas into one block", async () => {
  await using dirs = new TempDirs();
  const bucket = new MemoryBucket();
  const a = await uploadSeriesBlocks(bucket, await dirs.make(), series(4, 0, 2), {
    c: "x",
    r: "A",
  });
  const b = await uploadSeriesBlocks(bucket, await dirs.make(), series(4, 0, 2), {
    c: "x",
    r: "B",
  });
  const reg = new Registry();
  const c = new BucketCompactor({
    bucket,
    dataDir: await dirs.make(),
    logger: logger([]),
    registry: reg,
    replicaLabels: ["r"],
  });
  assertEquals((await c.compact()).compactions, 1);
  const served = [...(await servedBlocks(bucket)).values()];
  assertEquals(served.length, 1);
  assertEquals(served[0].thanos?.labels, { c: "x" });
  assertEquals(served[0].compaction.sources, [a[0].ulid, b[0].ulid].sort());
  // identical replicas: one-to-one merge keeps each sample once
  assertEquals(served[0].stats.numSamples, a[0].stats.numSamples);
  assert(
    (await reg.expose()).includes(
      'thanos_compact_group_vertical_compactions_total{resolution="0"} 1',
    ),
  );
});
