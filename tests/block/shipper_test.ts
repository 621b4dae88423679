// The shipper: upload order (chunks, index, meta.json last), the `thanos` meta section, the
// state file, skipping rules, overlap check for compacted blocks, and recovery from a failed
// (crashed) upload without ever leaving a meta.json next to missing files.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import type { Bucket } from "../../objstore/bucket.ts";
import { Registry } from "../../metrics/registry.ts";
import {
  readShipperMeta,
  rfc3339Nano,
  Shipper,
  uploadBlock,
  UploadError,
  writeShipperMeta,
} from "../../block/shipper.ts";
import { createBlocksFromSeries, writeBlock } from "../../tsdb/block_writer.ts";
import { type BlockMeta, parseBlockMeta, readBlockMeta, writeBlockMeta } from "../../tsdb/meta.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";

const T0 = 1_700_000_000_000 - (1_700_000_000_000 % 7_200_000);

/** Writes `hours` hours of 2 series at 30s into 2h level-1 blocks. */
async function makeBlocks(dir: string, hours: number, from = T0): Promise<BlockMeta[]> {
  const n = (hours * 3600_000) / 30_000;
  const series = ["a", "b"].map((inst) => {
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ts[i] = from + i * 30_000;
      vs[i] = i;
    }
    return { labels: labelsFromObject({ __name__: "up", inst }), ts, vs };
  });
  return await createBlocksFromSeries(dir, series);
}

/** A bucket wrapper recording uploads and failing on demand. */
class RecordingBucket {
  uploads: string[] = [];
  failOn: ((name: string) => boolean) | null = null;
  constructor(readonly inner: Bucket) {}
  wrap(): Bucket {
    const uploads = this.uploads;
    const failOn = () => this.failOn;
    const b = this.inner;
    return {
      name: b.name,
      get: (n, s) => b.get(n, s),
      getRange: (n, o, l, s) => b.getRange(n, o, l, s),
      async upload(n, d, s) {
        if (failOn()?.(n)) throw new Error(`injected failure uploading ${n}`);
        uploads.push(n);
        await b.upload(n, d, s);
      },
      delete: (n, s) => b.delete(n, s),
      exists: (n, s) => b.exists(n, s),
      attributes: (n, s) => b.attributes(n, s),
      iter: (d, o) => b.iter(d, o),
      close: () => b.close(),
    };
  }
}

async function bucketNames(b: Bucket): Promise<string[]> {
  const out: string[] = [];
  for await (const n of b.iter("", { recursive: true })) out.push(n);
  return out.sort();
}

Deno.test("shipper uploads level-1 blocks oldest first, chunks and index before meta.json", async () => {
  await using dirs = new TempDirs();
  const tsdb = await dirs.make();
  const bdir = await dirs.make();
  const metas = await makeBlocks(tsdb, 5); // 3 blocks
  assertEquals(metas.length, 3);
  const rec = new RecordingBucket(new FilesystemBucket(bdir));
  const registry = new Registry();
  const shipper = new Shipper({
    dir: tsdb,
    bucket: rec.wrap(),
    labels: () => ({ region: "east", replica: "A" }),
    source: "sidecar",
    registry,
  });
  assertEquals(await shipper.sync(), 3);
  const order = metas.sort((a, b) => a.minTime - b.minTime).map((m) => m.ulid);
  assertEquals(
    rec.uploads,
    order.flatMap((id) => [`${id}/chunks/000001`, `${id}/index`, `${id}/meta.json`]),
  );

  const m = parseBlockMeta(
    await Deno.readTextFile(`${bdir}/${order[0]}/meta.json`),
    "bucket meta.json",
  );
  assertEquals(m.thanos!.labels, { region: "east", replica: "A" });
  assertEquals(m.thanos!.source, "sidecar");
  assertEquals(m.thanos!.downsample, { resolution: 0 });
  assertEquals(m.thanos!.segment_files, ["000001"]);
  assertEquals(m.thanos!.files!.map((f) => f.rel_path), ["chunks/000001", "index", "meta.json"]);
  assertEquals(
    m.thanos!.files![1].size_bytes,
    (await Deno.stat(`${tsdb}/${order[0]}/index`)).size,
  );
  assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(m.thanos!.upload_time!));
  // the local block is untouched (Prometheus owns it); the staging dir is gone
  assertEquals((await readBlockMeta(`${tsdb}/${order[0]}`)).thanos, undefined);
  assertEquals([...Deno.readDirSync(`${tsdb}/thanos/upload`)], []);

  const state = await Deno.readTextFile(`${tsdb}/thanos.shipper.json`);
  assertEquals(
    state,
    `{\n\t"version": 1,\n\t"uploaded": [\n${order.map((u) => `\t\t"${u}"`).join(",\n")}\n\t]\n}\n`,
  );
  const metrics = await registry.expose();
  assert(metrics.includes("thanos_shipper_uploads_total 3"), metrics);
  assert(metrics.includes("thanos_shipper_upload_failures_total 0"), metrics);

  // nothing new: no uploads on the next pass
  rec.uploads.length = 0;
  assertEquals(await shipper.sync(), 0);
  assertEquals(rec.uploads, []);
});

Deno.test("shipper skips empty and compacted blocks and records blocks already in the bucket", async () => {
  await using dirs = new TempDirs();
  const tsdb = await dirs.make();
  const bdir = await dirs.make();
  const [a, b, c] = await makeBlocks(tsdb, 5);
  // b becomes a compacted block, c an empty one
  await writeBlockMeta(`${tsdb}/${b.ulid}`, { ...b, compaction: { level: 2, sources: [b.ulid] } });
  await writeBlockMeta(`${tsdb}/${c.ulid}`, { ...c, stats: {} });
  const bucket = new FilesystemBucket(bdir);
  // a is in the bucket already (uploaded by a previous run whose state file was lost)
  await bucket.upload(`${a.ulid}/meta.json`, new TextEncoder().encode("{}"));
  const rec = new RecordingBucket(bucket);
  const shipper = new Shipper({
    dir: tsdb,
    bucket: rec.wrap(),
    labels: () => ({ region: "east" }),
    source: "sidecar",
  });
  assertEquals(await shipper.sync(), 0);
  assertEquals(rec.uploads, []);
  assertEquals((await readShipperMeta(`${tsdb}/thanos.shipper.json`)).uploaded, [a.ulid]);
});

Deno.test("a failed upload leaves no meta.json in the bucket and the next sync uploads the block once", async () => {
  await using dirs = new TempDirs();
  const tsdb = await dirs.make();
  const bdir = await dirs.make();
  const metas = (await makeBlocks(tsdb, 3)).sort((x, y) => x.minTime - y.minTime); // 2 blocks
  const rec = new RecordingBucket(new FilesystemBucket(bdir));
  const registry = new Registry();
  const shipper = new Shipper({
    dir: tsdb,
    bucket: rec.wrap(),
    labels: () => ({ region: "east" }),
    source: "sidecar",
    registry,
  });
  // the "crash": the first block's index never makes it
  rec.failOn = (n) => n === `${metas[0].ulid}/index`;
  await assertRejects(() => shipper.sync(), UploadError, metas[0].ulid);
  let names = await bucketNames(new FilesystemBucket(bdir));
  assertEquals(names, [`${metas[0].ulid}/chunks/000001`], "partial block, no meta.json");
  assert((await registry.expose()).includes("thanos_shipper_upload_failures_total 1"));
  // sync stopped at the first failure: the newer block waits, keeping upload order
  assertEquals((await readShipperMeta(`${tsdb}/thanos.shipper.json`)).uploaded, []);

  rec.failOn = null;
  rec.uploads.length = 0;
  assertEquals(await shipper.sync(), 2);
  names = await bucketNames(new FilesystemBucket(bdir));
  for (const m of metas) {
    for (const f of ["chunks/000001", "index", "meta.json"]) {
      assert(names.includes(`${m.ulid}/${f}`));
    }
  }
  assertEquals(rec.uploads.filter((n) => n.endsWith("meta.json")).length, 2, "each meta once");
});

Deno.test("with --shipper.upload-compacted a compacted block overlapping the bucket is refused", async () => {
  await using dirs = new TempDirs();
  const tsdb = await dirs.make();
  const bdir = await dirs.make();
  const other = await dirs.make();
  const [a] = await makeBlocks(tsdb, 2);
  await writeBlockMeta(`${tsdb}/${a.ulid}`, { ...a, compaction: { level: 3, sources: [a.ulid] } });
  const bucket = new FilesystemBucket(bdir);
  // an overlapping block with the same external labels is already in the bucket
  const [dup] = await makeBlocks(other, 2);
  await new Shipper({ dir: other, bucket, labels: () => ({ region: "east" }), source: "sidecar" })
    .sync();
  const shipper = new Shipper({
    dir: tsdb,
    bucket,
    labels: () => ({ region: "east" }),
    source: "sidecar",
    uploadCompacted: true,
  });
  const e = await assertRejects(() => shipper.sync(), UploadError);
  assert(e.message.includes(a.ulid) && e.message.includes(dup.ulid), e.message);
  // different external labels: no overlap, the compacted block is uploaded
  const west = new Shipper({
    dir: tsdb,
    bucket,
    labels: () => ({ region: "west" }),
    source: "sidecar",
    uploadCompacted: true,
  });
  assertEquals(await west.sync(), 1);
  assert(await bucket.exists(`${a.ulid}/meta.json`));
});

Deno.test("the shipper state file is rebuilt from local blocks; a corrupt one counts as empty", async () => {
  await using dirs = new TempDirs();
  const tsdb = await dirs.make();
  const bdir = await dirs.make();
  const [a] = await makeBlocks(tsdb, 1);
  await Deno.writeTextFile(`${tsdb}/thanos.shipper.json`, "{not json");
  const shipper = new Shipper({
    dir: tsdb,
    bucket: new FilesystemBucket(bdir),
    labels: () => ({ region: "east" }),
    source: "sidecar",
  });
  assertEquals(await shipper.sync(), 1);
  // a block deleted locally (retention) disappears from the state file
  await writeShipperMeta(`${tsdb}/thanos.shipper.json`, {
    version: 1,
    uploaded: [a.ulid, "01ARZ3NDEKTSV4RRFFQ69G5FAV"],
  });
  await shipper.sync();
  assertEquals((await readShipperMeta(`${tsdb}/thanos.shipper.json`)).uploaded, [a.ulid]);
});

Deno.test("uploadBlock refuses blocks without external labels", async () => {
  await using dirs = new TempDirs();
  const tsdb = await dirs.make();
  const meta = await writeBlock(tsdb, [{
    labels: labelsFromObject({ __name__: "x" }),
    ts: new Float64Array([T0]),
    vs: new Float64Array([1]),
  }], { minTime: T0, maxTime: T0 + 1 });
  const bdir = await dirs.make();
  await assertRejects(
    () => uploadBlock(new FilesystemBucket(bdir), `${tsdb}/${meta.ulid}`),
    UploadError,
    "empty external labels",
  );
});

Deno.test("upload_time is written like Go's RFC3339Nano", () => {
  assertEquals(rfc3339Nano(new Date("2024-01-02T03:04:05.120Z")), "2024-01-02T03:04:05.12Z");
  assertEquals(rfc3339Nano(new Date("2024-01-02T03:04:05.000Z")), "2024-01-02T03:04:05Z");
});

Deno.test("uploadBlock with SHA256 hashes every file but meta.json", async () => {
  await using dirs = new TempDirs();
  const tsdb = await dirs.make();
  const [m] = await makeBlocks(tsdb, 1);
  await writeBlockMeta(`${tsdb}/${m.ulid}`, {
    ...m,
    thanos: { labels: { a: "b" }, downsample: { resolution: 0 }, source: "test" },
  });
  const out = await uploadBlock(new FilesystemBucket(await dirs.make()), `${tsdb}/${m.ulid}`, {
    hashFunc: "SHA256",
  });
  const files = out.thanos!.files!;
  assert(files[0].hash !== undefined && /^[0-9a-f]{64}$/.test(files[0].hash.value));
  assertEquals(files[2], { rel_path: "meta.json" });
});

Deno.test("allowOutOfOrderUploads: a failed block does not hold back the newer ones", async () => {
  await using dirs = new TempDirs();
  const tsdb = await dirs.make();
  const bdir = await dirs.make();
  const metas = (await makeBlocks(tsdb, 5)).sort((x, y) => x.minTime - y.minTime); // 3 blocks
  const rec = new RecordingBucket(new FilesystemBucket(bdir));
  const shipper = new Shipper({
    dir: tsdb,
    bucket: rec.wrap(),
    labels: () => ({ region: "east" }),
    source: "receive",
    allowOutOfOrderUploads: true,
  });
  rec.failOn = (n) => n === `${metas[0].ulid}/index`;
  // the pass fails (naming the count), but the two newer blocks were uploaded
  await assertRejects(() => shipper.sync(), UploadError, "failed to sync 1/0 blocks");
  assertEquals(
    (await readShipperMeta(`${tsdb}/thanos.shipper.json`)).uploaded,
    [metas[1].ulid, metas[2].ulid],
  );
  // the failed one goes on the next pass
  rec.failOn = null;
  assertEquals(await shipper.sync(), 1);
  assertEquals(
    (await readShipperMeta(`${tsdb}/thanos.shipper.json`)).uploaded.sort(),
    metas.map((m) => m.ulid).sort(),
  );
});

Deno.test("skipCorruptedBlocks: false fails the pass, true uploads the rest and reports", async () => {
  await using dirs = new TempDirs();
  const tsdb = await dirs.make();
  const metas = (await makeBlocks(tsdb, 5)).sort((x, y) => x.minTime - y.minTime); // 3 blocks
  await Deno.writeTextFile(`${tsdb}/${metas[1].ulid}/meta.json`, "{not json");
  const ship = async (skip: boolean | undefined) => {
    const bdir = await dirs.make();
    const rec = new RecordingBucket(new FilesystemBucket(bdir));
    await Deno.remove(`${tsdb}/thanos.shipper.json`).catch(() => {});
    const shipper = new Shipper({
      dir: tsdb,
      bucket: rec.wrap(),
      labels: () => ({ region: "east" }),
      source: "receive",
      skipCorruptedBlocks: skip,
    });
    let err: unknown = null;
    let n = -1;
    try {
      n = await shipper.sync();
    } catch (e) {
      err = e;
    }
    const uploaded = rec.uploads.filter((u) => u.endsWith("/meta.json")).map((u) => u.slice(0, 26));
    return { err, n, uploaded };
  };
  // Thanos's default: nothing is uploaded, the error names the block
  const strict = await ship(false);
  assert(strict.err instanceof UploadError, String(strict.err));
  assert(String(strict.err).includes(`read metadata for block ${tsdb}/${metas[1].ulid}`));
  assertEquals(strict.uploaded, []);
  // skip: the two readable blocks are uploaded, the pass reports the corrupted one
  const skip = await ship(true);
  assert(String(skip.err).includes("failed to sync 0/1 blocks"), String(skip.err));
  assertEquals(skip.uploaded, [metas[0].ulid, metas[2].ulid]);
  // unset (roles without the flag): skipped with a warning, the pass succeeds
  const lenient = await ship(undefined);
  assertEquals(lenient.err, null);
  assertEquals(lenient.n, 2);
});
