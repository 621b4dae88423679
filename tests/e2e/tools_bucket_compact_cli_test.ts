// `thanos tools bucket verify|mark|cleanup|retention|downsample` run as a user would
// (`main.ts tools bucket …`) on FILESYSTEM buckets holding blocks written by our block writer;
// each check reads the bucket afterwards (markers, deleted objects, new blocks) rather than
// trusting the command's output.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { freePort } from "../helpers/ports.ts";
import { spawnMain } from "../helpers/thanos.ts";
import { fsConfig, uploadSeriesBlocks } from "../helpers/compact_bucket.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import type { RawSeries } from "../../tsdb/block_writer.ts";
import { writeBlock } from "../../tsdb/block_writer.ts";
import { uploadBlock } from "../../block/shipper.ts";
import { readMarker } from "../../block/markers.ts";
import { type BlockMeta, encodeBlockMeta } from "../../tsdb/meta.ts";
import { newULID } from "../../tsdb/ulid.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const H = 3600_000;
const T0 = 1_699_920_000_000 - (1_699_920_000_000 % (48 * H));

async function thanos(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout),
    err: new TextDecoder().decode(o.stderr),
  };
}

function series(hours: number, seed: number, n = 20): RawSeries[] {
  return generateDataset({
    series: n,
    start: T0,
    end: T0 + hours * H,
    stepMs: 300_000,
    seed,
    specialValues: false,
  }).series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
}

async function objectsOf(bucket: FilesystemBucket, id: string): Promise<string[]> {
  const out: string[] = [];
  for await (const n of bucket.iter(`${id}/`, { recursive: true })) out.push(n);
  return out;
}

/** Copies block `m` under a new ULID with meta `patch` applied (a duplicate or an overlap). */
async function copyBlock(
  bucket: FilesystemBucket,
  m: BlockMeta,
  patch: Partial<BlockMeta>,
  ulid = newULID(),
): Promise<string> {
  for (const n of await objectsOf(bucket, m.ulid)) {
    if (n.endsWith("/meta.json")) continue;
    await bucket.upload(n.replace(m.ulid, ulid), await bucket.get(n));
  }
  const meta = { ...m, ...patch, ulid };
  await bucket.upload(`${ulid}/meta.json`, new TextEncoder().encode(encodeBlockMeta(meta)));
  return ulid;
}

function warnLines(out: string, issue: string): string[] {
  return out.split("\n").filter((l) => l.includes("level=warn") && l.includes(`issue=${issue}`));
}

Deno.test({
  name: "tools bucket verify reports overlaps, index issues and duplicated compactions",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    const bucket = new FilesystemBucket(dir);
    const cfg = `--objstore.config=${fsConfig(dir)}`;
    const good = await uploadSeriesBlocks(bucket, await dirs.make(), series(4, 1), { c: "good" });
    const o1 = await uploadSeriesBlocks(bucket, await dirs.make(), series(2, 2), { c: "ovl" });
    const o2 = await uploadSeriesBlocks(bucket, await dirs.make(), series(2, 3, 5), { c: "ovl" });
    const bad = await uploadSeriesBlocks(bucket, await dirs.make(), series(2, 4), { c: "bad" });
    const idx = await bucket.get(`${bad[0].ulid}/index`);
    for (let i = 5; i < 200; i++) idx[i] ^= 0x5a;
    await bucket.upload(`${bad[0].ulid}/index`, idx);
    // a compaction done twice: two blocks with the same sources
    const [d1] = await uploadSeriesBlocks(bucket, await dirs.make(), series(2, 5), { c: "dup" });
    const d2 = await copyBlock(bucket, d1, {});

    const all = await thanos([
      "tools",
      "bucket",
      "verify",
      cfg,
      "--issues=overlapped_blocks,index_known_issues",
      "-i",
      "duplicated_compaction",
    ]);
    assertEquals(all.code, 0, all.err);
    const log = all.err + all.out;
    const ovl = warnLines(log, "overlapped_blocks");
    assert(ovl.some((l) => l.includes(o1[0].ulid) && l.includes(o2[0].ulid)), log);
    assert(ovl.some((l) => l.includes(d1.ulid) && l.includes(d2)), log);
    assertEquals(ovl.length, 2, log);
    const idxIssues = warnLines(log, "index_known_issues");
    assertEquals(idxIssues.length, 1, log);
    assert(idxIssues[0].includes(bad[0].ulid), log);
    const dup = warnLines(log, "duplicated_compaction");
    assertEquals(dup.length, 1, log);
    assert(dup[0].includes(d1.ulid) && dup[0].includes(d2), log);
    for (const m of good) assert(!ovl.concat(idxIssues, dup).some((l) => l.includes(m.ulid)));
    assert(log.includes('msg="verify completed"') && log.includes("found=4"), log);

    // --id limits the check; the default issues are index_known_issues and overlapped_blocks
    const one = await thanos(["tools", "bucket", "verify", cfg, `--id=${good[0].ulid}`]);
    assertEquals(one.code, 0, one.err);
    assert(one.err.includes("found=0") && !one.err.includes("level=warn"), one.err);
    const dflt = await thanos(["tools", "bucket", "verify", cfg]);
    assert(dflt.err.includes("found=3") && !dflt.err.includes("duplicated_compaction"), dflt.err);

    // refused as in Thanos, the bucket untouched: --repair without a backup bucket or with an
    // issue it cannot repair (the default issues include overlapped_blocks), unknown issues
    const before = (await objectsOf(bucket, bad[0].ulid)).length;
    const rep = await thanos(["tools", "bucket", "verify", cfg, "--repair"]);
    assert(rep.code !== 0 && rep.err.includes("backup client is required"), rep.err);
    const backupCfg = `--objstore-backup.config=${fsConfig(await dirs.make())}`;
    const ovlRep = await thanos(["tools", "bucket", "verify", cfg, backupCfg, "--repair"]);
    assert(
      ovlRep.code !== 0 && ovlRep.err.includes("no such issue ID overlapped_blocks"),
      ovlRep.err,
    );
    const unk = await thanos(["tools", "bucket", "verify", cfg, "-i", "bogus"]);
    assert(
      unk.code !== 0 && unk.err.includes("unknown issue") && unk.err.includes("bogus"),
      unk.err,
    );
    const badId = await thanos(["tools", "bucket", "verify", cfg, "--id=nope"]);
    assert(badId.code !== 0 && badId.err.includes("invalid ULID"), badId.err);
    assertEquals((await objectsOf(bucket, bad[0].ulid)).length, before);
  },
});

Deno.test({
  name: "tools bucket mark puts and removes the three markers; cleanup deletes after delete-delay",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    const bucket = new FilesystemBucket(dir);
    const cfg = `--objstore.config=${fsConfig(dir)}`;
    const a = await uploadSeriesBlocks(bucket, await dirs.make(), series(6, 1), { c: "a" });
    const b = await uploadSeriesBlocks(bucket, await dirs.make(), series(2, 2), { c: "b" });
    const mark = (id: string, marker: string, ...extra: string[]) =>
      thanos(["tools", "bucket", "mark", cfg, `--id=${id}`, `--marker=${marker}`, ...extra]);

    for (const marker of ["no-compact-mark.json", "no-downsample-mark.json"] as const) {
      const r = await mark(a[0].ulid, marker, "--details=by hand");
      assertEquals(r.code, 0, r.err);
      const m = await readMarker(bucket, a[0].ulid, marker);
      assertEquals(m?.details, "by hand");
      assertEquals((m as { reason?: string }).reason, "manual");
      const rm = await mark(a[0].ulid, marker, "--remove");
      assertEquals(rm.code, 0, rm.err);
      assertEquals(await readMarker(bucket, a[0].ulid, marker), null);
    }
    // bad input: no details, a bad ULID, an unknown marker, a block that is not there
    for (
      const [args, want] of [
        [[`--id=${a[0].ulid}`, "--marker=deletion-mark.json"], "required flag --details"],
        [["--id=xyz", "--marker=deletion-mark.json", "--details=x"], "not a valid UUID"],
        [[`--id=${a[0].ulid}`, "--marker=bogus.json", "--details=x"], "bogus.json"],
        [[`--id=${newULID()}`, "--marker=deletion-mark.json", "--details=x"], "does not exist"],
      ] as [string[], string][]
    ) {
      const r = await thanos(["tools", "bucket", "mark", cfg, ...args]);
      assert(r.code !== 0 && r.err.includes(want), `${args}: ${r.err}`);
    }

    // deletion marks on a[0] (several --id) and b[0]; cleanup honours --delete-delay and the selector
    const both = await thanos([
      "tools",
      "bucket",
      "mark",
      cfg,
      `--id=${a[0].ulid}`,
      `--id=${a[1].ulid}`,
      "--marker=deletion-mark.json",
      "--details=remove",
    ]);
    assertEquals(both.code, 0, both.err);
    assertEquals((await mark(b[0].ulid, "deletion-mark.json", "--details=x")).code, 0);
    // a partial upload older than 48h and a fresh one
    const oldPartial = newULID(Date.now() - 50 * H);
    const freshPartial = newULID();
    for (const p of [oldPartial, freshPartial]) {
      await bucket.upload(`${p}/index`, new Uint8Array([1, 2, 3]));
    }
    const keep = await thanos(["tools", "bucket", "cleanup", cfg]);
    assertEquals(keep.code, 0, keep.err);
    assert((await objectsOf(bucket, a[0].ulid)).length > 0, "deleted before --delete-delay");
    assertEquals(await objectsOf(bucket, oldPartial), [], "old partial upload kept");
    assert((await objectsOf(bucket, freshPartial)).length > 0, "fresh partial upload deleted");

    const sel = "--selector.relabel-config=- action: keep\n  source_labels: [c]\n  regex: a\n";
    const del = await thanos(["tools", "bucket", "cleanup", cfg, "--delete-delay=0s", sel]);
    assertEquals(del.code, 0, del.err);
    assert(del.err.includes('msg="cleanup done"') && del.err.includes("deleted=2"), del.err);
    assertEquals(await objectsOf(bucket, a[0].ulid), []);
    assertEquals(await objectsOf(bucket, a[1].ulid), []);
    assert((await objectsOf(bucket, b[0].ulid)).length > 0, "block outside the selector deleted");
    assert((await objectsOf(bucket, a[2].ulid)).length > 0, "unmarked block deleted");
  },
});

Deno.test({
  name: "tools bucket retention marks old blocks per resolution; downsample makes the 5m block",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    const bucket = new FilesystemBucket(dir);
    const cfg = `--objstore.config=${fsConfig(dir)}`;
    // one raw block spanning 42h (downsampling needs ≥ 40h)
    const local = await dirs.make();
    const raw = await writeBlock(local, series(42, 9, 30), {
      minTime: T0,
      maxTime: T0 + 42 * H,
      thanos: { labels: { c: "a" }, downsample: { resolution: 0 }, source: "sidecar" },
    });
    await uploadBlock(bucket, `${local}/${raw.ulid}`);

    const port = freePort();
    const p = spawnMain(
      [
        "tools",
        "bucket",
        "downsample",
        cfg,
        `--http-address=127.0.0.1:${port}`,
        "--http-grace-period=0s",
        `--data-dir=${await dirs.make()}`,
        "--wait-interval=1s",
        "--downsample.concurrency=2",
      ],
      port,
      "downsample",
    );
    let m5: BlockMeta | undefined;
    let metrics = "";
    try {
      const deadline = Date.now() + 60_000;
      while (!m5 && p.alive && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        for await (const n of bucket.iter("")) {
          const id = n.replace(/\/$/, "");
          if (id === raw.ulid || !(await bucket.exists(`${id}/meta.json`))) continue;
          m5 = JSON.parse(new TextDecoder().decode(await bucket.get(`${id}/meta.json`)));
        }
      }
      assert(m5, `no downsampled block; logs:\n${p.logs().slice(-3000)}`);
      const r = await fetch(`http://127.0.0.1:${port}/metrics`);
      metrics = await r.text();
    } finally {
      await p.stop(10_000);
    }
    assertEquals((await p.status).code, 0, p.logs().slice(-2000));
    assertEquals(m5.thanos?.downsample.resolution, 300_000);
    assertEquals([m5.minTime, m5.maxTime], [raw.minTime, raw.maxTime]);
    assertEquals(m5.compaction.sources, [raw.ulid]);
    assert(/thanos_compact_downsample_total\{resolution="0"\} 1\b/.test(metrics), metrics);

    // retention: the raw block (maxTime in 2023) goes at 1d, the 5m block is kept (0d = forever)
    const rawOnly = await thanos([
      "tools",
      "bucket",
      "retention",
      cfg,
      "--consistency-delay=0s",
      "--retention.resolution-raw=1d",
    ]);
    assertEquals(rawOnly.code, 0, rawOnly.err);
    assert(rawOnly.err.includes("GLOBAL COMPACTOR SHOULD __NOT__ BE RUNNING"), rawOnly.err);
    assert((await readMarker(bucket, raw.ulid, "deletion-mark.json")) !== null);
    assertEquals(await readMarker(bucket, m5.ulid, "deletion-mark.json"), null);
    // with a retention longer than the data's age nothing more is marked
    const none = await thanos([
      "tools",
      "bucket",
      "retention",
      cfg,
      "--consistency-delay=0s",
      "--retention.resolution-5m=100000d",
    ]);
    assertEquals(none.code, 0, none.err);
    assertEquals(await readMarker(bucket, m5.ulid, "deletion-mark.json"), null);
    const m5gone = await thanos([
      "tools",
      "bucket",
      "retention",
      cfg,
      "--consistency-delay=0s",
      "--retention.resolution-5m=1d",
    ]);
    assertEquals(m5gone.code, 0, m5gone.err);
    assert((await readMarker(bucket, m5.ulid, "deletion-mark.json")) !== null);
  },
});
