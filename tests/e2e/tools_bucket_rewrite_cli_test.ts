// `thanos tools bucket replicate` run as a user would (`main.ts tools bucket …`) on FILESYSTEM
// buckets holding blocks written by our block writer; each check reads the target bucket
// afterwards rather than trusting the command's output.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { freePort } from "../helpers/ports.ts";
import { answers200, spawnMain } from "../helpers/thanos.ts";
import { fsConfig, uploadSeriesBlocks } from "../helpers/compact_bucket.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import type { RawSeries } from "../../tsdb/block_writer.ts";
import { markForDeletion } from "../../block/markers.ts";
import { type BlockMeta, encodeBlockMeta } from "../../tsdb/meta.ts";

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

function series(hours: number, seed: number, n = 10): RawSeries[] {
  return generateDataset({
    series: n,
    start: T0,
    end: T0 + hours * H,
    stepMs: 300_000,
    seed,
    specialValues: false,
  }).series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
}

/** Every object of the bucket, sorted. */
async function objects(bucket: FilesystemBucket): Promise<string[]> {
  const out: string[] = [];
  for await (const n of bucket.iter("", { recursive: true })) out.push(n);
  return out.sort();
}

/** The block IDs that have a meta.json. */
async function blocks(bucket: FilesystemBucket): Promise<string[]> {
  return (await objects(bucket)).filter((n) => n.endsWith("/meta.json")).map((n) => n.split("/")[0])
    .sort();
}

/** Rewrites meta.json of `m` with `patch` applied (another compaction level, resolution…). */
async function patchMeta(bucket: FilesystemBucket, m: BlockMeta, patch: Partial<BlockMeta>) {
  const meta = { ...m, ...patch };
  await bucket.upload(`${m.ulid}/meta.json`, new TextEncoder().encode(encodeBlockMeta(meta)));
}

Deno.test({
  name: "tools bucket replicate copies exactly the selected blocks, whole, and is idempotent",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const srcDir = await dirs.make();
    const dstDir = await dirs.make();
    const src = new FilesystemBucket(srcDir);
    const dst = new FilesystemBucket(dstDir);
    const a = await uploadSeriesBlocks(src, await dirs.make(), series(4, 1), { c: "a" });
    const [b] = await uploadSeriesBlocks(src, await dirs.make(), series(2, 2), { c: "b" });
    const [lvl3] = await uploadSeriesBlocks(src, await dirs.make(), series(2, 3), { c: "a" });
    await patchMeta(src, lvl3, { compaction: { ...lvl3.compaction, level: 3 } });
    const [ds] = await uploadSeriesBlocks(src, await dirs.make(), series(2, 4), { c: "a" });
    await patchMeta(src, ds, {
      thanos: { ...ds.thanos!, downsample: { resolution: 300_000 } },
    });
    const [marked] = await uploadSeriesBlocks(src, await dirs.make(), series(2, 5), { c: "a" });
    await markForDeletion(src, marked.ulid, "test");
    const srcObjects = await objects(src);

    const base = [
      "tools",
      "bucket",
      "replicate",
      `--objstore.config=${fsConfig(srcDir)}`,
      `--objstore-to.config=${fsConfig(dstDir)}`,
      `--http-address=127.0.0.1:${freePort()}`,
    ];
    // c="a", raw, levels 1..2, not marked
    const sel = [
      ...base,
      "--single-run",
      '--matcher=c="a"',
      "--resolution=0s",
      "--compaction=1",
      "--compaction=2",
      "--ignore-marked-for-deletion",
    ];
    const r1 = await thanos(sel);
    assertEquals(r1.code, 0, r1.err);
    const want = a.map((m) => m.ulid).sort();
    assertEquals(want.length, 2);
    assertEquals(await blocks(dst), want);
    // whole blocks: every object of each copied block but its markers, byte for byte
    const dstObjects = await objects(dst);
    assertEquals(dstObjects, srcObjects.filter((n) => want.includes(n.split("/")[0])));
    for (const n of dstObjects) assertEquals(await dst.get(n), await src.get(n), n);
    assert(r1.err.includes("replicated=2"), r1.err);

    // a second pass copies nothing and changes nothing
    const mtimes = await Promise.all(dstObjects.map(async (n) => (await dst.attributes(n))));
    const r2 = await thanos(sel);
    assertEquals(r2.code, 0, r2.err);
    assert(r2.err.includes("replicated=0") && r2.err.includes("already_replicated=2"), r2.err);
    assertEquals(await objects(dst), dstObjects);
    assertEquals(
      await Promise.all(dstObjects.map(async (n) => (await dst.attributes(n)))),
      mtimes,
    );

    // a partial copy (index and meta.json lost) is completed by the next pass
    await dst.delete(`${a[0].ulid}/meta.json`);
    await dst.delete(`${a[0].ulid}/index`);
    const r3 = await thanos(sel);
    assertEquals(r3.code, 0, r3.err);
    assertEquals(await objects(dst), dstObjects);

    // defaults: every resolution, levels 1..4, marked blocks included (their mark is not
    // copied); --id overrides the other selectors and runs once
    const r4 = await thanos([...base, `--id=${b.ulid}`, '--matcher=c="a"']);
    assertEquals(r4.code, 0, r4.err);
    assertEquals(await blocks(dst), [...want, b.ulid].sort());
    const r5 = await thanos([...base, "--single-run"]);
    assertEquals(r5.code, 0, r5.err);
    assertEquals(
      await blocks(dst),
      [...a.map((m) => m.ulid), b.ulid, lvl3.ulid, ds.ulid, marked.ulid].sort(),
    );
    assert(!(await dst.exists(`${marked.ulid}/deletion-mark.json`)));
    const r6 = await thanos([...base, "--single-run", "--compaction-min=3"]);
    assertEquals(r6.code, 0, r6.err);
    assert(r6.err.includes("replicated=0") && r6.err.includes("already_replicated=1"), r6.err);
  },
});

Deno.test({
  name: "tools bucket replicate without --single-run keeps serving until stopped",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const srcDir = await dirs.make();
    const dstDir = await dirs.make();
    const src = new FilesystemBucket(srcDir);
    const dst = new FilesystemBucket(dstDir);
    const [m] = await uploadSeriesBlocks(src, await dirs.make(), series(2, 1), { c: "a" });
    const port = freePort();
    const p = spawnMain(
      [
        "tools",
        "bucket",
        "replicate",
        `--objstore.config=${fsConfig(srcDir)}`,
        `--objstore-to.config=${fsConfig(dstDir)}`,
        `--http-address=127.0.0.1:${port}`,
        "--http-grace-period=0s",
      ],
      port,
      "replicate",
    );
    let metrics = "";
    try {
      await p.waitFor(() => answers200(`http://127.0.0.1:${port}/-/ready`), "readiness");
      await p.waitFor(() => dst.exists(`${m.ulid}/meta.json`), "first pass", 60_000);
      // the first pass is over, yet the process keeps running (the next pass is a minute away)
      await new Promise((r) => setTimeout(r, 1000));
      assert(p.alive, p.logs().slice(-2000));
      metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    } finally {
      await p.stop(10_000);
    }
    assertEquals((await p.status).code, 0, p.logs().slice(-2000));
    assert(metrics.includes("thanos_objstore_bucket_operations_total"), metrics);
    assertEquals(await blocks(dst), [m.ulid]);
  },
});

Deno.test({
  name: "tools bucket replicate refuses bad flags with a usage error and copies nothing",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const srcDir = await dirs.make();
    const dstDir = await dirs.make();
    const src = new FilesystemBucket(srcDir);
    await uploadSeriesBlocks(src, await dirs.make(), series(2, 1), { c: "a" });
    const base = [
      "tools",
      "bucket",
      "replicate",
      "--single-run",
      `--objstore.config=${fsConfig(srcDir)}`,
      `--http-address=127.0.0.1:${freePort()}`,
    ];
    const to = `--objstore-to.config=${fsConfig(dstDir)}`;
    // the exit codes of the other tools commands: a bad flag value, a bad bucket config
    const usage = await thanos(["tools", "bucket", "verify", "--id=nope", to.replace("-to", "")]);
    const badCfg = await thanos(["tools", "bucket", "ls", "--objstore.config=type: NOPE"]);
    assert(usage.code !== 0 && badCfg.code !== 0);
    for (
      const [args, want] of [
        [base, "--objstore-to.config"],
        [[...base, to, "--resolution=2m"], "invalid --resolution"],
        [[...base, to, "--compaction=x"], "invalid --compaction"],
        [[...base, to, "--compaction-min=3", "--compaction-max=2"], "--compaction-min"],
        [[...base, to, "--matcher=c=~'('"], "invalid --matcher"],
        [[...base, to, "--id=nope"], "invalid ULID"],
      ] as const
    ) {
      const r = await thanos([...args]);
      assertEquals(r.code, usage.code, `${args.join(" ")}: ${r.err}`);
      assert(r.err.includes(want), `${args.join(" ")}: ${r.err}`);
    }
    for (const cfg of ["type: NOPE\nconfig: {}\n", "type: FILESYSTEM\nconfig: {}\n"]) {
      const r = await thanos([...base, `--objstore-to.config=${cfg}`]);
      assertEquals(r.code, badCfg.code, r.err);
      assert(r.err.includes("objstore config"), r.err);
    }
    {
      const r = await thanos([...base, to, "--compaction=0"]);
      assertEquals(r.code, usage.code, r.err);
      assert(r.err.includes("invalid --compaction"), r.err);
    }
    assertEquals(await blocks(new FilesystemBucket(dstDir)), []);
  },
});
