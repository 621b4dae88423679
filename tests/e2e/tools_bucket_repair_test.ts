// `thanos tools bucket verify --repair` run as a user would, on FILESYSTEM buckets: a block whose
// meta.json range no longer covers half of its chunks (index_known_issues) is rewritten into a
// new block without them (checked against the raw samples and by a second verify), the broken
// block goes to the backup bucket and is deleted (or marked, with --delete-delay); a compaction
// done twice (duplicated_compaction) loses its copy; a block already in the backup bucket is not
// touched and the run exits 1.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { fsConfig } from "../helpers/compact_bucket.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { type RawSeries, writeBlock } from "../../tsdb/block_writer.ts";
import { uploadBlock } from "../../block/shipper.ts";
import {
  type BlockMeta,
  encodeBlockMeta,
  parseBlockMeta,
  writeBlockMeta,
} from "../../tsdb/meta.ts";
import { newULID } from "../../tsdb/ulid.ts";
import { readMarker } from "../../block/markers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const H = 3600_000;
const T0 = 1_699_920_000_000 - (1_699_920_000_000 % (48 * H));

async function thanos(args: string[]): Promise<{ code: number; log: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const td = new TextDecoder();
  return { code: o.code, log: td.decode(o.stdout) + td.decode(o.stderr) };
}

function series(hours: number, seed: number): RawSeries[] {
  return generateDataset({
    series: 10,
    start: T0,
    end: T0 + hours * H,
    stepMs: 60_000,
    seed,
    specialValues: false,
  }).series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
}

/**
 * A block written over [T0, T0+4h) (chunks cut at T0+2h) whose meta.json then claims only
 * [T0, T0+2h): the second half's chunks are complete outsiders. Returns its meta and the raw
 * samples inside the claimed range.
 */
async function brokenBlock(bucket: FilesystemBucket, work: string, labels: Record<string, string>) {
  const raw = series(4, 7);
  const m = await writeBlock(work, raw, {
    minTime: T0,
    maxTime: T0 + 4 * H,
    thanos: { labels, downsample: { resolution: 0 }, source: "sidecar" },
  });
  const shrunk: BlockMeta = { ...m, maxTime: T0 + 2 * H };
  await writeBlockMeta(`${work}/${m.ulid}`, shrunk);
  await uploadBlock(bucket, `${work}/${m.ulid}`);
  let samples = 0;
  for (const s of raw) for (const t of s.ts) if (t < T0 + 2 * H) samples++;
  const seriesIn = raw.filter((s) => s.ts.length > 0 && s.ts[0] < T0 + 2 * H).length;
  return { meta: shrunk, samples, series: seriesIn };
}

async function metaOf(bucket: FilesystemBucket, id: string): Promise<BlockMeta | null> {
  if (!(await bucket.exists(`${id}/meta.json`))) return null;
  return parseBlockMeta(new TextDecoder().decode(await bucket.get(`${id}/meta.json`)), id);
}

async function blockIds(bucket: FilesystemBucket): Promise<string[]> {
  const out: string[] = [];
  for await (const n of bucket.iter("")) out.push(n.replace(/\/$/, ""));
  return out.sort();
}

Deno.test({
  name: "verify --repair rewrites a block with index issues and removes duplicated compactions",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    const backupDir = await dirs.make();
    const bucket = new FilesystemBucket(dir);
    const backup = new FilesystemBucket(backupDir);
    const broken = await brokenBlock(bucket, await dirs.make(), { c: "broken" });
    // a compaction done twice: a byte-equal copy under another ULID
    const work = await dirs.make();
    const orig = await writeBlock(work, series(2, 3), {
      minTime: T0,
      maxTime: T0 + 2 * H,
      level: 2,
      thanos: { labels: { c: "dup" }, downsample: { resolution: 0 }, source: "compactor" },
    });
    await uploadBlock(bucket, `${work}/${orig.ulid}`);
    const copyId = newULID();
    for await (const n of bucket.iter(`${orig.ulid}/`, { recursive: true })) {
      if (n.endsWith("meta.json")) continue;
      await bucket.upload(n.replace(orig.ulid, copyId), await bucket.get(n));
    }
    const origMeta = (await metaOf(bucket, orig.ulid))!;
    await bucket.upload(
      `${copyId}/meta.json`,
      new TextEncoder().encode(encodeBlockMeta({ ...origMeta, ulid: copyId })),
    );
    const [keep, kill] = [orig.ulid, copyId].sort();

    const cfg = `--objstore.config=${fsConfig(dir)}`;
    const args = [
      "tools",
      "bucket",
      "verify",
      cfg,
      `--objstore-backup.config=${fsConfig(backupDir)}`,
      "-i",
      "index_known_issues",
      "-i",
      "duplicated_compaction",
      `--repair.tmp-dir=${await dirs.make()}/repair`,
    ];
    const r = await thanos([...args, "--repair"]);
    assertEquals(r.code, 0, r.log);
    assert(r.log.includes("repaired=2") && r.log.includes("repair_failed=0"), r.log);

    // the broken block: gone from the bucket, whole in the backup bucket
    assertEquals(await metaOf(bucket, broken.meta.ulid), null);
    assertEquals(await blockIds(bucket).then((ids) => ids.includes(broken.meta.ulid)), false);
    const backed = await metaOf(backup, broken.meta.ulid);
    assertEquals([backed?.minTime, backed?.maxTime], [T0, T0 + 2 * H]);
    // its replacement: same range, sources and labels; only the samples inside the range
    const metas = await Promise.all((await blockIds(bucket)).map((id) => metaOf(bucket, id)));
    const fixed = metas.filter((m) => m?.thanos?.source === "bucket.repair");
    assertEquals(fixed.length, 1);
    const n = fixed[0]!;
    assertEquals([n.minTime, n.maxTime], [T0, T0 + 2 * H]);
    assertEquals(n.compaction.sources, broken.meta.compaction.sources);
    assertEquals(n.thanos?.labels, { c: "broken" });
    assertEquals(n.stats.numSamples, broken.samples);
    assertEquals(n.stats.numSeries, broken.series);
    // the duplicated compaction: the older block stays, the copy is backed up and gone
    assert(await metaOf(bucket, keep) !== null);
    assertEquals(await metaOf(bucket, kill), null);
    assert(await metaOf(backup, kill) !== null);

    // nothing left to find
    const again = await thanos(args);
    assertEquals(again.code, 0, again.log);
    assert(again.log.includes("found=0"), again.log);
  },
});

Deno.test({
  name:
    "verify --repair with --delete-delay marks instead of deleting; a backed-up block is left alone",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    const backupDir = await dirs.make();
    const bucket = new FilesystemBucket(dir);
    const a = await brokenBlock(bucket, await dirs.make(), { c: "a" });
    const base = [
      "tools",
      "bucket",
      "verify",
      `--objstore.config=${fsConfig(dir)}`,
      `--objstore-backup.config=${fsConfig(backupDir)}`,
      "--issues=index_known_issues",
      "--repair",
      `--repair.tmp-dir=${await dirs.make()}/repair`,
    ];
    const r = await thanos([...base, "--delete-delay=1h", `--id=${a.meta.ulid}`]);
    assertEquals(r.code, 0, r.log);
    const mark = await readMarker(bucket, a.meta.ulid, "deletion-mark.json");
    assertEquals(mark?.details, "manual verify-repair");
    assert(await metaOf(bucket, a.meta.ulid) !== null, "marked, not deleted");

    // the backup bucket already holds block b: its repair is refused, b stays as it was
    const b = await brokenBlock(bucket, await dirs.make(), { c: "b" });
    await new FilesystemBucket(backupDir).upload(`${b.meta.ulid}/index`, new Uint8Array([1]));
    const before = await blockIds(bucket);
    const failed = await thanos([...base, `--id=${b.meta.ulid}`]);
    assertEquals(failed.code, 1, failed.log);
    assert(failed.log.includes("seems to exists in backup bucket"), failed.log);
    assert(await metaOf(bucket, b.meta.ulid) !== null);
    // checked before anything was written (Thanos uploads the new block first and leaves both)
    assertEquals(await blockIds(bucket), before);
  },
});
