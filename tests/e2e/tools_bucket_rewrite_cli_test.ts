// `thanos tools bucket replicate|rewrite` run as a user would (`main.ts tools bucket …`) on FILESYSTEM
// buckets holding blocks written by our block writer; each check reads the target bucket
// afterwards rather than trusting the command's output.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { freePort } from "../helpers/ports.ts";
import { answers200, spawnMain } from "../helpers/thanos.ts";
import { downloadBlocks, fsConfig, uploadSeriesBlocks } from "../helpers/compact_bucket.ts";
import { dump as promtoolDump } from "../helpers/promtool.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { type RawSeries, writeBlock } from "../../tsdb/block_writer.ts";
import { uploadBlock } from "../../block/shipper.ts";
import { markForDeletion } from "../../block/markers.ts";
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
    // a compaction done twice: same sources under another ULID (a reader would drop one)
    const dup = newULID();
    for await (const n of src.iter(`${b.ulid}/`, { recursive: true })) {
      if (!n.endsWith("/meta.json")) await src.upload(n.replace(b.ulid, dup), await src.get(n));
    }
    await src.upload(
      `${dup}/meta.json`,
      new TextEncoder().encode(encodeBlockMeta({ ...b, ulid: dup })),
    );
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
    const r4b = await thanos([...base, `--id=${dup}`]);
    assertEquals(r4b.code, 0, r4b.err);
    assertEquals(await blocks(dst), [...want, b.ulid, dup].sort());
    const r5 = await thanos([...base, "--single-run"]);
    assertEquals(r5.code, 0, r5.err);
    assertEquals(
      await blocks(dst),
      [...a.map((m) => m.ulid), b.ulid, dup, lvl3.ulid, ds.ulid, marked.ulid].sort(),
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

// ---------------------------------------------------------------------------------------------
// `tools bucket rewrite`, checked with the real promtool's dump of the source and new blocks.

/** promtool's dump of block `id` of `bucket`, as lines. */
async function dumpBlock(bucket: FilesystemBucket, id: string, dir: string): Promise<string[]> {
  await downloadBlocks(bucket, [id], dir);
  return (await promtoolDump(dir)).split("\n").filter((l) => l !== "");
}

/** The timestamp (ms) of a dump line `{…} value ts`. */
function lineTs(l: string): number {
  return Number(l.slice(l.lastIndexOf(" ") + 1));
}

async function metaOf(bucket: FilesystemBucket, id: string): Promise<BlockMeta> {
  return JSON.parse(new TextDecoder().decode(await bucket.get(`${id}/meta.json`)));
}

Deno.test({
  name: "tools bucket rewrite deletes series and samples, relabels and merges (promtool dump)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    const bucket = new FilesystemBucket(dir);
    const [src] = await uploadSeriesBlocks(bucket, await dirs.make(), series(2, 7, 20), { c: "a" });
    const srcDump = await dumpBlock(bucket, src.ulid, await dirs.make());
    assert(srcDump.length > 100);
    const base = [
      "tools",
      "bucket",
      "rewrite",
      `--objstore.config=${fsConfig(dir)}`,
      `--tmp.dir=${await dirs.make()}/rw`,
      `--id=${src.ulid}`,
    ];
    const toDelete = `--rewrite.to-delete-config=
- matchers: '{method="POST"}'
- matchers: '{le="+Inf"}'
  intervals:
  - mint: ${T0}
    maxt: ${T0 + H - 1}
`;
    // the default is a dry run: nothing is written
    const before = await objects(bucket);
    const dry = await thanos([...base, toDelete]);
    assertEquals(dry.code, 0, dry.err);
    assert(dry.err.includes("dry run"), dry.err);
    assertEquals(await objects(bucket), before);

    const del = await thanos([...base, toDelete, "--no-dry-run"]);
    assertEquals(del.code, 0, del.err);
    const ids1 = (await blocks(bucket)).filter((id) => id !== src.ulid);
    assertEquals(ids1.length, 1, del.err);
    const [n1] = ids1;
    assert(!(await bucket.exists(`${src.ulid}/deletion-mark.json`)), "marked without the flag");
    const want1 = srcDump.filter((l) =>
      !l.includes('method="POST"') &&
      !(l.includes('le="+Inf"') && lineTs(l) >= T0 && lineTs(l) <= T0 + H - 1)
    );
    // both deletions remove something and leave something
    const post = srcDump.filter((l) => l.includes('method="POST"')).length;
    assert(
      post > 0 && want1.length > 10 && want1.length < srcDump.length - post,
      `${want1.length}`,
    );
    assertEquals(await dumpBlock(bucket, n1, await dirs.make()), want1);
    const m1 = await metaOf(bucket, n1);
    assertEquals([m1.minTime, m1.maxTime], [src.minTime, src.maxTime]);
    assertEquals(m1.compaction.sources, [n1]);
    assertEquals(m1.compaction.level, src.compaction.level);
    assertEquals(m1.thanos?.source, "bucket.rewrite");
    assertEquals(m1.thanos?.labels, { c: "a" });
    assertEquals(m1.stats.numSamples, want1.length);
    assertEquals(m1.thanos?.rewrites, [{
      sources: [src.ulid],
      deletions_applied: [
        { matchers: [{ Type: 0, Name: "method", Value: "POST" }] },
        {
          matchers: [{ Type: 0, Name: "le", Value: "+Inf" }],
          intervals: [{ Mint: T0, Maxt: T0 + H - 1 }],
        },
      ],
    }]);

    // relabelling: dropping `method` makes the GET and POST series equal; they are merged
    // (the first series' sample per timestamp) and the source is marked with --delete-blocks
    const rel = await thanos([
      ...base,
      "--no-dry-run",
      "--delete-blocks",
      "--rewrite.to-relabel-config=- action: labeldrop\n  regex: method\n",
    ]);
    assertEquals(rel.code, 0, rel.err);
    const [n2] = (await blocks(bucket)).filter((id) => id !== src.ulid && id !== n1);
    assert(n2, rel.err);
    // per merged series and timestamp the sample of the first source series in label order
    // (promtool dumps series in label order) wins
    const seen = new Set<string>();
    const want2: string[] = [];
    for (const l of srcDump) {
      const m = l.replace(/, method="[A-Z]+"/, "");
      const key = `${m.slice(0, m.indexOf("} ") + 1)} ${lineTs(m)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      want2.push(m);
    }
    want2.sort();
    assert(want2.length < srcDump.length && srcDump.some((l) => l.includes("method=")));
    assertEquals((await dumpBlock(bucket, n2, await dirs.make())).sort(), want2);
    assert(await bucket.exists(`${src.ulid}/deletion-mark.json`), "not marked with the flag");
    const m2 = await metaOf(bucket, n2);
    assertEquals(m2.thanos?.rewrites?.[0].relabels_applied, [{
      regex: "method",
      separator: ";",
      replacement: "$1",
      action: "labeldrop",
    }]);
  },
});

Deno.test({
  name: "tools bucket rewrite refuses bad configs with a usage error and writes nothing",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    const bucket = new FilesystemBucket(dir);
    const [src] = await uploadSeriesBlocks(bucket, await dirs.make(), series(2, 1), { c: "a" });
    const before = await objects(bucket);
    const base = [
      "tools",
      "bucket",
      "rewrite",
      "--no-dry-run",
      `--objstore.config=${fsConfig(dir)}`,
      `--tmp.dir=${await dirs.make()}/rw`,
    ];
    const id = `--id=${src.ulid}`;
    const usage = await thanos(["tools", "bucket", "verify", "--id=nope", base[4]]);
    for (
      const [args, want] of [
        [[...base, id], "rewrite configuration should be provided"],
        [[...base, id, "--rewrite.to-delete-config=matchers: x"], "expected a list"],
        [[...base, id, "--rewrite.to-delete-config=- matchers: '{a=~\"(\"}'"], "invalid matchers"],
        [[...base, id, "--rewrite.to-delete-config=- match: '{a=\"b\"}'"], "unknown field"],
        [[...base, id, "--rewrite.to-relabel-config=- action: bogus"], "to-relabel-config"],
        [[...base, "--id=nope", "--rewrite.to-relabel-config=- action: drop"], "not a valid"],
      ] as const
    ) {
      const r = await thanos([...args]);
      assertEquals(r.code, usage.code, `${args.join(" ")}: ${r.err}`);
      assert(r.err.includes(want), `${args.join(" ")}: ${r.err}`);
    }
    // --id is required; a block that is not in the bucket fails the run
    const noId = await thanos([...base, "--rewrite.to-relabel-config=- action: drop"]);
    assert(noId.code !== 0 && noId.err.includes("--id"), noId.err);
    const missing = await thanos([
      ...base,
      `--id=${src.ulid.slice(0, -1)}${src.ulid.endsWith("0") ? "1" : "0"}`,
      "--rewrite.to-delete-config=- matchers: '{a=\"b\"}'",
    ]);
    assert(missing.code !== 0 && missing.err.includes("does not exist"), missing.err);
    assertEquals(await objects(bucket), before);
  },
});

Deno.test({
  name: "tools bucket rewrite relabels before deleting, writes change.log, --prom-blocks uploads",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    const bucket = new FilesystemBucket(dir);
    const [src] = await uploadSeriesBlocks(bucket, await dirs.make(), series(2, 5, 20), { c: "a" });
    const srcDump = await dumpBlock(bucket, src.ulid, await dirs.make());
    const tmp = `${await dirs.make()}/rw`;
    const base = [
      "tools",
      "bucket",
      "rewrite",
      `--objstore.config=${fsConfig(dir)}`,
      `--tmp.dir=${tmp}`,
      `--id=${src.ulid}`,
    ];
    // Thanos chains relabelling before deletion: the deletion matcher sees `verb`, the label
    // the relabel rule made from `method`; `{verb!="GET"}` does not match series without `verb`
    const relabel = "--rewrite.to-relabel-config=" +
      "- source_labels: [method]\n  regex: (.+)\n  target_label: verb\n" +
      "- action: labeldrop\n  regex: method\n";
    const del = `--rewrite.to-delete-config=- matchers: '{verb!="GET"}'\n`;
    const dry = await thanos([...base, relabel, del]);
    assertEquals(dry.code, 0, dry.err);
    // the dry run leaves its change.log (Thanos's --rewrite.add-change-log, default true)
    const logs = [...Deno.readDirSync(tmp)].filter((e) => e.isDirectory);
    assertEquals(logs.length, 1);
    const dryLog = Deno.readTextFileSync(`${tmp}/${logs[0].name}/change.log`).split("\n");
    const isNonGet = (l: string) => /, method="(?!GET")[A-Z]+"/.test(l);
    const post = srcDump.filter(isNonGet);
    const postSeries = new Set(post.map((l) => l.slice(0, l.indexOf("} ") + 1)));
    const withMethod = new Set(
      srcDump.filter((l) => l.includes("method=")).map((l) => l.slice(0, l.indexOf("} ") + 1)),
    );
    assert(postSeries.size > 0 && withMethod.size > postSeries.size);
    assertEquals(dryLog.filter((l) => l.startsWith("Relabelled ")).length, withMethod.size);
    const deletedLines = dryLog.filter((l) => l.startsWith("Deleted "));
    assertEquals(deletedLines.length, postSeries.size);
    assert(
      deletedLines.every((l) => /verb="(?!GET")/.test(l) && /\[\{\d+ \d+\}\]$/.test(l)),
      deletedLines.join("\n"),
    );
    assert(
      dryLog.some((l) => /^Relabelled \{.*method="GET".*\} \{.*verb="GET".*\}$/.test(l)),
      dryLog.slice(0, 5).join("\n"),
    );
    assertEquals(await blocks(bucket), [src.ulid]);

    const r = await thanos([
      ...base,
      relabel,
      del,
      "--no-dry-run",
      "--rewrite.add-change-log=false",
    ]);
    assertEquals(r.code, 0, r.err);
    const [n1] = (await blocks(bucket)).filter((id) => id !== src.ulid);
    // without the change log nothing stays in --tmp.dir
    assertEquals([...Deno.readDirSync(tmp)].length, 0);
    const want = srcDump.filter((l) => !isNonGet(l)).map((l) => {
      const m = /, method="([A-Z]+)"/.exec(l);
      if (!m) return l;
      // labels in Prometheus's order: verb sorts after the others of these series
      const rest = l.replace(m[0], "");
      const close = rest.indexOf("} ");
      return `${rest.slice(0, close)}, verb="${m[1]}"${rest.slice(close)}`;
    }).sort();
    assertEquals((await dumpBlock(bucket, n1, await dirs.make())).sort(), want);

    // a block without external labels (Prometheus-only): refused unless --prom-blocks
    const local = await dirs.make();
    const plain = await writeBlock(local, series(2, 9, 5), { minTime: T0, maxTime: T0 + 2 * H });
    await uploadBlock(bucket, `${local}/${plain.ulid}`, { allowEmptyLabels: true });
    const promBase = [...base.slice(0, -1), `--id=${plain.ulid}`, "--no-dry-run", del, relabel];
    const refused = await thanos(promBase);
    assert(refused.code !== 0 && refused.err.includes("external labels"), refused.err);
    const before = await blocks(bucket);
    const ok = await thanos([...promBase, "--prom-blocks"]);
    assertEquals(ok.code, 0, ok.err);
    const [n2] = (await blocks(bucket)).filter((id) => !before.includes(id));
    assert(n2, ok.err);
    assertEquals((await metaOf(bucket, n2)).thanos?.labels, {});
    assert((await dumpBlock(bucket, n2, await dirs.make())).length > 10);
  },
});
