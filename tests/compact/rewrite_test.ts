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
import { parseRelabelConfigs, Relabeler } from "../../relabel/relabel.ts";
import { Block } from "../../tsdb/block.ts";
import { BlockQuerier } from "../../tsdb/querier.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { Logger } from "../../logging/log.ts";

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
