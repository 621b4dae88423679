// compact/verify.ts: the issues `tools bucket verify` reports, on blocks our writer made and then
// damaged on purpose (a meta.json whose range no longer holds the chunks, overlapping and
// duplicated blocks), and nothing on healthy ones.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { uploadSeriesBlocks } from "../helpers/compact_bucket.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { encodeBlockMeta } from "../../tsdb/meta.ts";
import { indexIssues, VERIFY_ISSUES, verifyBucket } from "../../compact/verify.ts";

const H = 3600_000;
const T0 = 1_699_920_000_000 - (1_699_920_000_000 % (48 * H));

function series(hours: number, seed: number) {
  return generateDataset({
    series: 20,
    start: T0,
    end: T0 + hours * H,
    stepMs: 300_000,
    seed,
    specialValues: false,
  }).series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
}

Deno.test("verify: healthy blocks give no finding; a range that cuts chunks is an index issue", async () => {
  await using dirs = new TempDirs();
  const bucket = new FilesystemBucket(await dirs.make());
  const ok = await uploadSeriesBlocks(bucket, await dirs.make(), series(6, 1), { c: "ok" });
  assertEquals(ok.length, 3);
  for (const m of ok) assertEquals(await indexIssues(bucket, m), []);
  assertEquals(await verifyBucket(bucket, { issues: VERIFY_ISSUES }), []);

  // chunks reaching past the block's end, and starting before its start
  const [cut] = await uploadSeriesBlocks(bucket, await dirs.make(), series(2, 2), { c: "cut" });
  const shrunk = { ...cut, minTime: cut.minTime + 30 * 60_000, maxTime: cut.maxTime - H };
  await bucket.upload(`${cut.ulid}/meta.json`, new TextEncoder().encode(encodeBlockMeta(shrunk)));
  const problems = await indexIssues(bucket, shrunk);
  assert(problems.some((p) => /^\d+ chunks outside the block's range$/.test(p)), problems.join());
  const found = await verifyBucket(bucket, { issues: ["index_known_issues"] });
  assertEquals(found.map((f) => [f.issue, f.blocks]), [["index_known_issues", [cut.ulid]]]);
  assertEquals(found[0].labels, '{c="cut"}');
  // --id: only the named blocks are checked
  assertEquals(await verifyBucket(bucket, { issues: VERIFY_ISSUES, ids: [ok[0].ulid] }), []);
});

Deno.test("verify: overlaps are runs within one group and resolution; adjacent blocks are not", async () => {
  await using dirs = new TempDirs();
  const bucket = new FilesystemBucket(await dirs.make());
  // adjacent 2h blocks of one group (no overlap), the same range in another group (no overlap:
  // other labels), and a third block of group x overlapping two of its blocks
  const x = await uploadSeriesBlocks(bucket, await dirs.make(), series(4, 1), { c: "x" });
  await uploadSeriesBlocks(bucket, await dirs.make(), series(4, 1), { c: "y" });
  assertEquals(await verifyBucket(bucket, { issues: ["overlapped_blocks"] }), []);
  const [z] = await uploadSeriesBlocks(bucket, await dirs.make(), series(2, 3), { c: "x" });
  const wide = { ...z, minTime: T0 + H, maxTime: T0 + 3 * H };
  await bucket.upload(`${z.ulid}/meta.json`, new TextEncoder().encode(encodeBlockMeta(wide)));
  const found = await verifyBucket(bucket, { issues: ["overlapped_blocks"] });
  assertEquals(found.length, 1);
  assertEquals(found[0].blocks.sort(), [x[0].ulid, x[1].ulid, z.ulid].sort());
  assertEquals(found[0].labels, '{c="x"}');
});
