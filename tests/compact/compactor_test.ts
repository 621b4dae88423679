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
import { type RawSeries, writeBlock } from "../../tsdb/block_writer.ts";
import { uploadBlock } from "../../block/shipper.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";
import { openBlocks } from "../../tsdb/block.ts";
import { mergeSeriesSets } from "../../tsdb/querier.ts";
import { blockSeries } from "../../compact/merge.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { crc32c } from "../../tsdb/crc32c.ts";

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
  const exposed = await reg.expose();
  assert(exposed.includes('thanos_compact_group_vertical_compactions_total{resolution="0"} 1'));
  // Thanos's garbage-collection metrics: one observation per collection run
  const runs = /\nthanos_compact_garbage_collection_total (\d+)/.exec(exposed)?.[1];
  assert(runs !== undefined && Number(runs) >= 1, exposed);
  assert(
    exposed.includes(`\nthanos_compact_garbage_collection_duration_seconds_count ${runs}\n`),
    exposed,
  );
});

/** Reads a uvarint at `at`; returns [value, next offset]. */
function uvarint(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (;;) {
    const x = b[at++];
    v += (x & 0x7f) * mul;
    if (x < 0x80) return [v, at];
    mul *= 128;
  }
}

/**
 * Rewrites the index of a one-series block so its second chunk starts at the first chunk's
 * maxTime (Thanos's "out-of-order chunks"): the delta is written as a non-minimal 0 of the same
 * width and the series CRC recomputed, so the file keeps its size and layout.
 */
function outOfOrderIndex(idx: Uint8Array): Uint8Array {
  const b = idx.slice();
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  // the first series entry: the section start rounded up to 16 (series refs are offset / 16)
  const seriesAt = Math.ceil(Number(view.getBigUint64(b.length - 52 + 8)) / 16) * 16;
  const [len, bodyStart] = uvarint(b, seriesAt);
  let at = bodyStart;
  let n;
  [n, at] = uvarint(b, at); // label pairs
  for (let i = 0; i < 2 * n; i++) at = uvarint(b, at)[1];
  let chunks;
  [chunks, at] = uvarint(b, at);
  assert(chunks >= 2, `need two chunks, have ${chunks}`);
  for (let i = 0; i < 3; i++) at = uvarint(b, at)[1]; // minTime, maxTime delta, ref
  const [delta, end] = uvarint(b, at);
  assert(delta > 0 && end - at >= 2, `delta ${delta} over ${end - at} bytes`);
  for (let i = at; i < end - 1; i++) b[i] = 0x80;
  b[end - 1] = 0x00;
  view.setUint32(bodyStart + len, crc32c(b, bodyStart, bodyStart + len));
  return b;
}

Deno.test("--compact.skip-block-with-out-of-order-chunks marks the block and does not halt", async () => {
  await using dirs = new TempDirs();
  const bucket = new MemoryBucket();
  const blocks = await uploadSeriesBlocks(bucket, await dirs.make(), series(1, 0, 10, 15_000), {
    c: "ooo",
  });
  const bad = blocks[1].ulid;
  await bucket.upload(`${bad}/index`, outOfOrderIndex(await bucket.get(`${bad}/index`)));
  const opts = { bucket, registry: new Registry(), haltOnError: true, deleteDelayMs: 0 };
  // without the flag: a corrupt block, and halt-on-error halts
  const halting = new BucketCompactor({ ...opts, dataDir: await dirs.make(), logger: logger([]) });
  let halted = false;
  try {
    await halting.compact();
  } catch (e) {
    halted = e instanceof HaltError;
  }
  assert(halted, "expected a HaltError");
  assertEquals(await readMarker(bucket, bad, "no-compact-mark.json"), null);
  // with it: marked block-index-out-of-order-chunk, and no halt
  const lines: string[] = [];
  const reg = new Registry();
  const c = new BucketCompactor({
    ...opts,
    registry: reg,
    dataDir: await dirs.make(),
    logger: logger(lines),
    skipOutOfOrderChunks: true,
  });
  await c.compact();
  assertEquals(
    (await readMarker(bucket, bad, "no-compact-mark.json"))?.reason,
    "block-index-out-of-order-chunk",
  );
  const text = await reg.expose();
  assert(
    text.includes(
      'thanos_compact_blocks_marked_total{marker="no-compact-mark.json",reason="block-index-out-of-order-chunk"} 1',
    ),
    text,
  );
});

Deno.test("--compact.block-max-index-size marks the biggest block of a too-big plan no-compact", async () => {
  await using dirs = new TempDirs();
  const bucket = new MemoryBucket();
  // four 2h blocks in the plan (a fifth, the newest, is left alone); the first is the biggest
  const parts = [
    series(60, 0, 2),
    series(2, 2, 4),
    series(2, 4, 6),
    series(2, 6, 8),
    series(2, 8, 10),
  ];
  const metas = [];
  for (const p of parts) {
    metas.push(...await uploadSeriesBlocks(bucket, await dirs.make(), p, { c: "big" }));
  }
  const sizes = await Promise.all(
    metas.map(async (m) => (await bucket.get(`${m.ulid}/index`)).length),
  );
  // a limit whose 85% the first three indexes reach and the first two do not, and which all
  // four stay under (so the headroom decides)
  const limit = Math.floor((sizes[0] + sizes[1] + sizes[2]) / 0.85);
  assert(sizes[0] + sizes[1] < limit * 0.85, `${sizes} ${limit}`);
  assert(sizes[0] + sizes[1] + sizes[2] + sizes[3] < limit, `${sizes} ${limit}`);
  const reg = new Registry();
  const c = new BucketCompactor({
    bucket,
    dataDir: await dirs.make(),
    logger: logger([]),
    registry: reg,
    deleteDelayMs: 0,
    maxBlockIndexSize: limit,
  });
  await c.compact();
  // the biggest block so far when the sum reached 85%: the first
  const mark = await readMarker(bucket, metas[0].ulid, "no-compact-mark.json");
  assertEquals(mark?.reason, "index-size-exceeding");
  assert((mark?.details ?? "").includes("largeTotalIndexSizeFilter"), mark?.details);
  for (const i of [1, 2, 3, 4]) {
    assertEquals(await readMarker(bucket, metas[i].ulid, "no-compact-mark.json"), null);
  }
  // nothing compacted with the marked block
  const served = await servedBlocks(bucket);
  for (const m of served.values()) {
    if (m.compaction.level > 1) assert(!m.compaction.sources?.includes(metas[0].ulid));
  }
  assert(
    (await reg.expose()).includes(
      'thanos_compact_blocks_marked_total{marker="no-compact-mark.json",reason="index-size-exceeding"} 1',
    ),
  );
});

Deno.test("overlapping replicas whose native histogram chunks differ: group reported, not merged", async () => {
  await using dirs = new TempDirs();
  const bucket = new MemoryBucket();
  // two replicas of one histogram series whose chunks overlap but differ (the compactor cannot
  // merge histogram samples), next to a healthy group
  const hist = (fill: number) => ({
    labels: labelsFromObject({ __name__: "h", i: "0" }),
    chunks: [{
      minTime: T0,
      maxTime: T0 + H,
      encoding: ChunkEncoding.Histogram,
      data: Uint8Array.from([0, 2, fill, fill, fill]),
    }],
    numSamples: 2,
  });
  const local = await dirs.make();
  const ids: string[] = [];
  for (const [r, fill] of [["A", 1], ["B", 2]] as const) {
    const m = await writeBlock(local, [hist(fill)], {
      minTime: T0,
      maxTime: T0 + 2 * H,
      thanos: { labels: { c: "x", r }, downsample: { resolution: 0 }, source: "receive" },
    });
    await uploadBlock(bucket, `${local}/${m.ulid}`);
    ids.push(m.ulid);
  }
  const good = await uploadSeriesBlocks(bucket, await dirs.make(), series(3, 0, 10), { c: "y" });
  const lines: string[] = [];
  const c = new BucketCompactor({
    bucket,
    dataDir: await dirs.make(),
    logger: logger(lines),
    registry: new Registry(),
    replicaLabels: ["r"],
  });
  const res = await c.compact();
  assertEquals(res.problemGroups.length, 1);
  const problem = lines.find((l) => l.includes("compaction group has a problem"));
  assert(problem && ids.every((id) => problem.includes(id)), lines.join("\n"));
  assert(problem.includes("native histogram"), problem);
  for (const id of ids) {
    assertEquals(
      (await readMarker(bucket, id, "no-compact-mark.json"))?.reason,
      "overlapping-blocks",
    );
  }
  const served = [...(await servedBlocks(bucket)).values()];
  // the replicas stay as they were; the healthy group compacted
  assertEquals(
    served.filter((m) => m.thanos?.labels.c === "x").map((m) => m.ulid).sort(),
    ids.sort(),
  );
  assert(served.some((m) => m.thanos?.labels.c === "y" && m.compaction.level === 2));
  assert(good.length === 5);
});
