// Block discovery filters of the store gateway
// (https://github.com/thanos-io/thanos/blob/main/pkg/block/fetcher.go) and the Prometheus relabel
// semantics used by --selector.relabel-config.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import { findDuplicates, MetaSyncer } from "../../block/fetcher.ts";
import { hashMod, RelabelConfigError, Relabeler } from "../../relabel/relabel.ts";
import { parseRelabelConfigs } from "../../relabel/parse.ts";
import { blocksFor, type BucketBlock } from "../../store/bucket_store.ts";
import { type BlockMeta, encodeBlockMeta } from "../../tsdb/meta.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import { newULID } from "../../tsdb/ulid.ts";

const H = 3_600_000;
const NOW = Date.UTC(2025, 0, 10);
const enc = new TextEncoder();
const SRC_A = newULID(NOW - 1000 * H);
const SRC_B = newULID(NOW - 999 * H);

function meta(
  ulid: string,
  minTime: number,
  maxTime: number,
  labels: Record<string, string>,
  extra: Partial<BlockMeta["thanos"]> = {},
  sources?: string[],
): BlockMeta {
  return {
    ulid,
    minTime,
    maxTime,
    stats: {},
    compaction: { level: 1, sources: sources ?? [ulid] },
    version: 1,
    thanos: { labels, downsample: { resolution: 0 }, source: "sidecar", ...extra },
  };
}

async function put(b: MemoryBucket, m: BlockMeta): Promise<void> {
  await b.upload(`${m.ulid}/index`, new Uint8Array(1));
  await b.upload(`${m.ulid}/meta.json`, enc.encode(encodeBlockMeta(m)));
}

Deno.test("sync skips partial, corrupt, too fresh, deleted, out-of-range and duplicate blocks", async () => {
  const b = new MemoryBucket();
  const old = NOW - 10 * 24 * H;
  const ok = meta(newULID(old), 0, 2 * H, { c: "1" });
  const outOfRange = meta(newULID(old + 1), 100 * H, 102 * H, { c: "1" });
  const fresh = meta(newULID(NOW - 60_000), 0, 2 * H, { c: "2" });
  const freshCompacted = meta(newULID(NOW - 60_000), 0, 2 * H, { c: "3" }, {
    source: "compactor",
  });
  const uploadedLongAgo = meta(newULID(NOW - 60_000), 0, 2 * H, { c: "4" }, {
    upload_time: new Date(NOW - 3 * H).toISOString(),
  });
  const deleted = meta(newULID(old + 2), 0, 2 * H, { c: "5" });
  const deletedRecently = meta(newULID(old + 3), 0, 2 * H, { c: "6" });
  const parent = meta(newULID(old + 4), 0, 4 * H, { c: "7" }, {}, [SRC_A, SRC_B]);
  const child = meta(newULID(old + 5), 0, 2 * H, { c: "7" }, {}, [SRC_A]);
  for (
    const m of [
      ok,
      outOfRange,
      fresh,
      freshCompacted,
      uploadedLongAgo,
      deleted,
      deletedRecently,
      parent,
      child,
    ]
  ) await put(b, m);
  const partial = newULID(old + 6);
  await b.upload(`${partial}/index`, new Uint8Array(1));
  const corrupt = newULID(old + 7);
  await b.upload(`${corrupt}/meta.json`, enc.encode('{"version": 2}'));
  await b.upload(
    `${deleted.ulid}/deletion-mark.json`,
    enc.encode(
      JSON.stringify({ id: deleted.ulid, version: 1, deletion_time: NOW / 1000 - 48 * 3600 }),
    ),
  );
  await b.upload(
    `${deletedRecently.ulid}/deletion-mark.json`,
    enc.encode(
      JSON.stringify({ id: deletedRecently.ulid, version: 1, deletion_time: NOW / 1000 - 60 }),
    ),
  );
  await b.upload("debug/metas/x.json", enc.encode("{}"));

  for (const strategy of ["concurrent", "recursive"] as const) {
    const corrupted: string[] = [];
    const s = new MetaSyncer(b, {
      strategy,
      now: () => NOW,
      minTime: 0,
      maxTime: 50 * H,
      consistencyDelayMs: 30 * 60_000,
      ignoreDeletionMarksDelayMs: 24 * H,
      onCorrupt: (id) => corrupted.push(id),
    });
    const r = await s.sync();
    assertEquals(
      [...r.metas.keys()].sort(),
      [ok.ulid, freshCompacted.ulid, uploadedLongAgo.ulid, deletedRecently.ulid, parent.ulid]
        .sort(),
      strategy,
    );
    assertEquals(r.filtered.get(partial), "partial");
    assertEquals(r.filtered.get(corrupt), "corrupted-meta");
    assertEquals(corrupted, [corrupt]);
    assertEquals(r.filtered.get(outOfRange.ulid), "time-excluded");
    assertEquals(r.filtered.get(fresh.ulid), "too-fresh");
    assertEquals(r.filtered.get(deleted.ulid), "marked-for-deletion");
    assertEquals(r.filtered.get(child.ulid), "duplicate");
  }
});

Deno.test("meta.json files are cached in the meta-syncer dir and dropped with their block", async () => {
  const b = new MemoryBucket();
  const dir = await Deno.makeTempDir();
  try {
    const m = meta(newULID(NOW), 0, 2 * H, { c: "1" });
    await put(b, m);
    const s = new MetaSyncer(b, { cacheDir: dir });
    assertEquals([...(await s.sync()).metas.keys()], [m.ulid]);
    assert((await Deno.stat(`${dir}/${m.ulid}/meta.json`)).isFile);
    // deleting meta.json first (Thanos's delete order) makes the block partial at once
    await b.delete(`${m.ulid}/meta.json`);
    assertEquals((await s.sync()).filtered.get(m.ulid), "partial");
    await b.delete(`${m.ulid}/index`);
    await s.sync();
    await assertMissing(`${dir}/${m.ulid}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function assertMissing(p: string): Promise<void> {
  try {
    await Deno.stat(p);
    throw new Error(`${p} should be gone`);
  } catch (e) {
    assert(e instanceof Deno.errors.NotFound, String(e));
  }
}

Deno.test("selector relabel config shards blocks by external labels and __block_id", async () => {
  const b = new MemoryBucket();
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    const m = meta(newULID(NOW - i * 1000), 0, 2 * H, { region: i % 2 ? "eu" : "us" });
    ids.push(m.ulid);
    await put(b, m);
  }
  const shardOf = async (shard: number) => {
    const cfg = `
- action: keep
  source_labels: [region]
  regex: eu|us
- action: hashmod
  source_labels: [__block_id]
  target_label: shard
  modulus: 3
- action: keep
  source_labels: [shard]
  regex: "${shard}"
`;
    const s = new MetaSyncer(b, { relabel: new Relabeler(parseRelabelConfigs(cfg)) });
    return [...(await s.sync()).metas.keys()];
  };
  const all = [...(await shardOf(0)), ...(await shardOf(1)), ...(await shardOf(2))].sort();
  assertEquals(all, ids.sort(), "every block in exactly one shard");
  const euOnly = new MetaSyncer(b, {
    relabel: new Relabeler(
      parseRelabelConfigs("- action: drop\n  source_labels: [region]\n  regex: us\n"),
    ),
  });
  assertEquals((await euOnly.sync()).metas.size, 6);
});

Deno.test("relabel rules follow Prometheus semantics", () => {
  // hashmod uses the last 8 bytes of MD5, big-endian (Prometheus relabel_test.go: "baz" → 976)
  assertEquals(hashMod("baz", 1000), 976);
  const r = new Relabeler(parseRelabelConfigs(`
- source_labels: [a, b]
  separator: "-"
  regex: "(.+)-(?P<second>.+)"
  target_label: joined
  replacement: "\${second}_$1"
- action: labelmap
  regex: "x_(.*)"
  replacement: "y_$1"
- action: labeldrop
  regex: "x_.*"
- action: uppercase
  source_labels: [a]
  target_label: A
`));
  assertEquals(
    r.process(labelsFromObject({ a: "1", b: "2", x_k: "v" })),
    labelsFromObject({ A: "1", a: "1", b: "2", joined: "2_1", y_k: "v" }),
  );
  const keepEq = new Relabeler(parseRelabelConfigs(
    "- action: keepequal\n  source_labels: [a]\n  target_label: b\n",
  ));
  assertEquals(keepEq.process(labelsFromObject({ a: "1", b: "2" })), null);
  assert(keepEq.process(labelsFromObject({ a: "1", b: "1" })) !== null);
  assertThrows(
    () => parseRelabelConfigs("- action: hashmod\n  target_label: x\n"),
    RelabelConfigError,
  );
  assertThrows(() => parseRelabelConfigs("- action: nope\n"), RelabelConfigError);
  assertThrows(() => parseRelabelConfigs("- regex: '('\n  target_label: x\n"), RelabelConfigError);
  assertThrows(
    () => parseRelabelConfigs("- action: labeldrop\n  regex: a\n  target_label: x\n"),
    RelabelConfigError,
  );
  assertEquals(parseRelabelConfigs(""), []);
});

Deno.test("duplicate filter keeps the block whose sources cover the others", () => {
  const a = meta(newULID(NOW), 0, 2 * H, { c: "1" }, {}, ["S1"]);
  const b = meta(newULID(NOW + 1), 0, 4 * H, { c: "1" }, {}, ["S1", "S2"]);
  const other = meta(newULID(NOW + 2), 0, 2 * H, { c: "2" }, {}, ["S1"]);
  const m = new Map([[a.ulid, a], [b.ulid, b], [other.ulid, other]]);
  assertEquals(findDuplicates(m), [a.ulid]);
});

function fakeBlock(min: number, max: number, res: number): BucketBlock {
  return {
    meta: { minTime: min, maxTime: max },
    resolution: res,
    id: `${res}:${min}`,
  } as unknown as BucketBlock;
}

Deno.test("block selection mixes resolutions like Thanos getFor", () => {
  const raw = [fakeBlock(0, 10, 0), fakeBlock(10, 20, 0), fakeBlock(20, 30, 0)];
  const five = [fakeBlock(0, 20, 300_000)];
  const byRes = new Map<number, BucketBlock[]>([[0, raw], [300_000, five]]);
  const ids = (bs: BucketBlock[]) => bs.map((b) => b.id);
  assertEquals(ids(blocksFor(byRes, 0, 29, 0)), ["0:0", "0:10", "0:20"]);
  assertEquals(ids(blocksFor(byRes, 0, 29, 300_000)), ["300000:0", "0:20"]);
  assertEquals(ids(blocksFor(byRes, 5, 15, 3_600_000)), ["300000:0"]);
  assertEquals(ids(blocksFor(byRes, 25, 20, 0)), []);
});
