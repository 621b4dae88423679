// compact/rewrite.ts as a library: value bits (stale markers, NaN, ±Inf) survive a rewrite, and
// the deletion-request parser's accepted shapes.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { downloadBlocks, uploadSeriesBlocks } from "../helpers/compact_bucket.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import {
  DeletionConfigError,
  parseDeletionRequests,
  REWRITE_SOURCE,
  rewriteBlock,
} from "../../compact/rewrite.ts";
import { Relabeler } from "../../relabel/relabel.ts";
import { parseRelabelConfigs } from "../../relabel/parse.ts";
import { Block } from "../../tsdb/block.ts";
import { BlockQuerier } from "../../tsdb/querier.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { Logger } from "../../logging/log.ts";
import { writeBlock } from "../../tsdb/block_writer.ts";
import { downsampleBlock, RES_5M } from "../../compact/downsample.ts";
import { blockSeries } from "../../compact/merge.ts";
import { AggrType, CHUNK_ENC_AGGR, parseAggrChunk } from "../../tsdb/chunkenc/aggr.ts";
import { uploadBlock } from "../../block/shipper.ts";

const H = 3600_000;
const T0 = 1_699_920_000_000 - (1_699_920_000_000 % (48 * H));
const STALE = 0x7ff0000000000002n;

/** Every series of a block as labels + timestamps + value bit patterns. */
async function sampleBits(dir: string): Promise<string[]> {
  const b = await Block.open(dir);
  const out: string[] = [];
  try {
    const all = [new Matcher(MatchType.Regexp, "__name__", ".*")];
    for await (const s of new BlockQuerier(b).select(all, { start: -Infinity, end: Infinity })) {
      for (const c of s.chunks) {
        const x = decodeXorSamples(c.data);
        const u = new BigUint64Array(x.vs.buffer, x.vs.byteOffset, x.vs.length);
        out.push(`${JSON.stringify(s.labels)} ${x.ts.join(",")} ${u.join(",")}`);
      }
    }
  } finally {
    await b.close();
  }
  return out;
}

Deno.test("rewriteBlock keeps value bits: stale markers, NaN and infinities", async () => {
  await using dirs = new TempDirs();
  const d = generateDataset({
    series: 20,
    start: T0,
    end: T0 + 2 * H,
    stepMs: 60_000,
    seed: 3,
    specialValues: true,
  });
  const s0 = d.series[0];
  new BigUint64Array(s0.vs.buffer, s0.vs.byteOffset, s0.vs.length)[5] = STALE;
  const bucket = new FilesystemBucket(await dirs.make());
  const raw = d.series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
  const [m] = await uploadSeriesBlocks(bucket, await dirs.make(), raw, { c: "a" });
  const cfgs = parseRelabelConfigs("- action: labeldrop\n  regex: nonexistent\n");
  const r = await rewriteBlock(bucket, m.ulid, {
    deletions: [],
    relabel: new Relabeler(cfgs),
    relabelConfigs: cfgs,
    tmpDir: await dirs.make(),
    dryRun: false,
    deleteBlocks: false,
    hashFunc: "",
    logger: new Logger("info", "logfmt", {}, () => {}),
  });
  assertEquals(r.meta?.thanos?.source, REWRITE_SOURCE);
  const dl = await dirs.make();
  await downloadBlocks(bucket, [m.ulid, r.newId], dl);
  const before = await sampleBits(`${dl}/${m.ulid}`);
  assert(before.some((l) => l.includes(String(STALE))));
  assertEquals(await sampleBits(`${dl}/${r.newId}`), before);
});

Deno.test("parseDeletionRequests reads Thanos's DeletionRequest list", () => {
  const got = parseDeletionRequests(`
- matchers: '{__name__="up", job=~"a|b"}'
  intervals: [{mint: 1, maxt: 2}, {mint: 5, maxt: 9}]
  request_id: r1
- matchers: '{job!="x"}'
`);
  assertEquals(got.length, 2);
  assertEquals(got[0].matchers.map((m) => [m.name, m.type, m.value]), [
    ["__name__", MatchType.Equal, "up"],
    ["job", MatchType.Regexp, "a|b"],
  ]);
  assertEquals(got[0].intervals, [{ mint: 1, maxt: 2 }, { mint: 5, maxt: 9 }]);
  assertEquals(got[0].requestId, "r1");
  assertEquals(got[1].intervals, []);
  assertEquals(parseDeletionRequests(""), []);
  for (
    const bad of [
      "matchers: '{a=\"b\"}'",
      "- matchers: 3",
      "- matchers: '{a=~\"(\"}'",
      "- matchers: '{a=\"b\"}'\n  intervals: [{mint: 1}]",
      "- matchers: '{a=\"b\"}'\n  foo: 1",
      "- [",
    ]
  ) {
    assertThrows(() => parseDeletionRequests(bad), DeletionConfigError);
  }
});

/** Every aggregate of every aggregated chunk of a block: `labels aggr` → "t:v" list. */
async function aggregates(dir: string): Promise<Map<string, string[]>> {
  const b = await Block.open(dir);
  const out = new Map<string, string[]>();
  try {
    for await (const s of blockSeries(b)) {
      for (const c of s.chunks) {
        assertEquals(c.encoding as number, CHUNK_ENC_AGGR);
        parseAggrChunk(c.data).forEach((p, i) => {
          if (p === null) return;
          const k = `${JSON.stringify(s.labels)} ${i}`;
          const x = decodeXorSamples(p.data);
          const l = out.get(k) ?? [];
          x.ts.forEach((t, j) => l.push(`${t}:${x.vs[j]}`));
          out.set(k, l);
        });
      }
    }
  } finally {
    await b.close();
  }
  return out;
}

/** Encoded chunks of a block by series (labels → "minTime-maxTime enc bytes(hex)" list). */
async function rawChunks(dir: string): Promise<Map<string, string[]>> {
  const b = await Block.open(dir);
  const out = new Map<string, string[]>();
  try {
    for await (const s of blockSeries(b)) {
      out.set(
        JSON.stringify(s.labels),
        s.chunks.map((c) =>
          `${c.minTime}-${c.maxTime} ${c.encoding} ${
            Array.from(c.data, (x) => x.toString(16).padStart(2, "0")).join("")
          }`
        ),
      );
    }
  } finally {
    await b.close();
  }
  return out;
}

Deno.test("rewriteBlock on a downsampled block: intervals cut aggregated chunks, the rest is copied", async () => {
  await using dirs = new TempDirs();
  const d = generateDataset({
    series: 6,
    start: T0,
    end: T0 + 48 * H,
    stepMs: 60_000,
    seed: 11,
    specialValues: false,
  });
  const raw = d.series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
  const local = await dirs.make();
  const rawMeta = await writeBlock(local, raw, {
    minTime: T0,
    maxTime: T0 + 48 * H,
    thanos: { labels: { c: "a" }, downsample: { resolution: 0 }, source: "compactor" },
  });
  const dsMeta = await downsampleBlock(`${local}/${rawMeta.ulid}`, local, RES_5M);
  const bucket = new FilesystemBucket(await dirs.make());
  await uploadBlock(bucket, `${local}/${dsMeta.ulid}`);
  const before = await aggregates(`${local}/${dsMeta.ulid}`);
  const beforeChunks = await rawChunks(`${local}/${dsMeta.ulid}`);
  const target = d.series[0].labels;
  const name = target[target.indexOf("__name__") + 1];
  // an interval that starts and ends inside aggregated chunks (about 140 windows each)
  const mint = T0 + 7 * H + 2 * 60_000, maxt = T0 + 30 * H + 7 * 60_000;
  const logger = new Logger("info", "logfmt", {}, () => {});
  const noRelabel = new Relabeler([]);
  const r = await rewriteBlock(bucket, dsMeta.ulid, {
    deletions: [{
      matchers: [new Matcher(MatchType.Equal, "__name__", name)],
      intervals: [{ mint, maxt }],
      requestId: "",
    }],
    relabel: noRelabel,
    relabelConfigs: [],
    tmpDir: await dirs.make(),
    dryRun: false,
    deleteBlocks: false,
    hashFunc: "",
    logger,
  });
  const dl = await dirs.make();
  await downloadBlocks(bucket, [r.newId], dl);
  const after = await aggregates(`${dl}/${r.newId}`);
  const afterChunks = await rawChunks(`${dl}/${r.newId}`);
  // expected, computed from the source's decoded aggregates: samples of the matched series
  // inside [mint, maxt] gone from every aggregate, everything else unchanged
  const want = new Map<string, string[]>();
  let cut = 0;
  for (const [k, l] of before) {
    const hit = JSON.parse(k.slice(0, k.lastIndexOf(" "))).includes(name);
    const kept = hit
      ? l.filter((x) => {
        const t = Number(x.split(":")[0]);
        return t < mint || t > maxt;
      })
      : l;
    if (kept.length < l.length && k.endsWith(` ${AggrType.Count}`)) cut += l.length - kept.length;
    if (kept.length > 0) want.set(k, kept);
  }
  assert(cut > 100, `${cut}`);
  assertEquals(r.samplesDeleted, cut);
  assertEquals([...after.keys()].sort(), [...want.keys()].sort());
  for (const [k, l] of want) assertEquals(after.get(k), l, k);
  // series the deletion does not match keep their chunks byte for byte
  let same = 0;
  for (const [k, l] of beforeChunks) {
    if (JSON.parse(k).includes(name)) continue;
    assertEquals(afterChunks.get(k), l, k);
    same++;
  }
  assert(same > 0);
  // chunk ranges are the windows left; counts add up in meta.json
  const m = r.meta!;
  assertEquals(m.thanos?.downsample.resolution, RES_5M);
  assertEquals(
    m.stats.numSamples,
    [...want].filter(([k]) => k.endsWith(` ${AggrType.Count}`)).reduce(
      (n, [, l]) => n + l.length,
      0,
    ),
  );
  for (const [k, l] of afterChunks) {
    for (const c of l) {
      const [a, b] = c.split(" ")[0].split("-").map(Number);
      assert(!(a >= mint && b <= maxt) || !JSON.parse(k).includes(name), `${k} ${c}`);
      assert(a <= b && a >= m.minTime && b < m.maxTime, `${k} ${c}`);
    }
  }

  // relabelling a downsampled block copies every aggregated chunk as it is
  const cfgs = parseRelabelConfigs("- target_label: tier\n  replacement: cold\n");
  const r2 = await rewriteBlock(bucket, dsMeta.ulid, {
    deletions: [],
    relabel: new Relabeler(cfgs),
    relabelConfigs: cfgs,
    tmpDir: await dirs.make(),
    dryRun: false,
    deleteBlocks: false,
    hashFunc: "",
    logger,
  });
  await downloadBlocks(bucket, [r2.newId], dl);
  const relabelled = await rawChunks(`${dl}/${r2.newId}`);
  assertEquals(relabelled.size, beforeChunks.size);
  for (const [k, l] of beforeChunks) {
    const ls = JSON.parse(k) as string[];
    const withTier: string[] = [];
    for (let i = 0; i < ls.length; i += 2) withTier.push(`${ls[i]}=${ls[i + 1]}`);
    withTier.push("tier=cold");
    withTier.sort();
    const key = JSON.stringify(withTier.flatMap((x) => x.split("=")));
    assertEquals(relabelled.get(key), l, key);
  }
  assertEquals(r2.meta?.stats.numSamples, dsMeta.stats.numSamples);
});
