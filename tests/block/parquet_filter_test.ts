// The store gateway's parquet-converted blocks filter (Thanos v0.42
// `block.IgnoreParquetConvertedBlocksFilter`): `meta.pb` field 6 read with every other field
// skipped, whole-day coverage, and the MetaSyncer leaving fully covered blocks out first.

import { assert, assertEquals } from "../helpers/assert.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import { MetaSyncer } from "../../block/fetcher.ts";
import {
  convertedFromBlocks,
  fullyCoveredConverted,
  ParquetConvertedBlocks,
} from "../../block/parquet_filter.ts";
import { type BlockMeta, encodeBlockMeta } from "../../tsdb/meta.ts";
import { newULID } from "../../tsdb/ulid.ts";

const H = 3_600_000;
const DAY = 24 * H;
const D0 = Date.UTC(2025, 0, 6); // a UTC midnight
const enc = new TextEncoder();

/** A protobuf message written by hand: varint, fixed64, bytes and the repeated string field 6. */
function metaPb(ids: string[]): Uint8Array {
  const out: number[] = [];
  const varint = (v: number) => {
    while (v > 127) {
      out.push((v & 127) | 128);
      v = Math.floor(v / 128);
    }
    out.push(v);
  };
  const bytes = (field: number, b: Uint8Array) => {
    varint(field << 3 | 2);
    varint(b.length);
    out.push(...b);
  };
  varint(1 << 3 | 0); // field 1, varint
  varint(300);
  varint(2 << 3 | 1); // field 2, fixed64
  out.push(1, 2, 3, 4, 5, 6, 7, 8);
  bytes(3, enc.encode("a name"));
  for (const id of ids) bytes(6, enc.encode(id));
  varint(7 << 3 | 5); // field 7, fixed32
  out.push(9, 9, 9, 9);
  return new Uint8Array(out);
}

function meta(ulid: string, minTime: number, maxTime: number): BlockMeta {
  return {
    ulid,
    minTime,
    maxTime,
    stats: {},
    compaction: { level: 1, sources: [ulid] },
    version: 1,
    thanos: { labels: { a: "1" }, downsample: { resolution: 0 }, source: "sidecar" },
  };
}

Deno.test("parquet meta.pb: field 6 ULIDs read, other fields skipped; malformed files named", () => {
  const a = newULID(D0), b = newULID(D0 + 1);
  assertEquals(convertedFromBlocks(metaPb([a, b]), "x/meta.pb"), [a, b]);
  assertEquals(convertedFromBlocks(new Uint8Array(0), "x/meta.pb"), []);
  const truncated = metaPb([a]).subarray(0, 30); // inside the ULID string
  let err = "";
  try {
    convertedFromBlocks(truncated, "2025/01/06/meta.pb");
  } catch (e) {
    err = (e as Error).message;
  }
  assert(err.includes("2025/01/06/meta.pb"), err);
  try {
    convertedFromBlocks(metaPb(["not-a-ulid"]), "d/meta.pb");
    err = "";
  } catch (e) {
    err = (e as Error).message;
  }
  assert(err.includes('"not-a-ulid"') && err.includes("d/meta.pb"), err);
});

Deno.test("parquet filter: only blocks whose every day is fully covered are left out", () => {
  const ids = Array.from({ length: 14 }, (_, i) => newULID(D0 + i));
  const metas = new Map<string, BlockMeta>();
  // day 0: twelve 2h blocks; day 1: one 2h block only; day 2: two 12h blocks
  for (let i = 0; i < 12; i++) {
    metas.set(ids[i], meta(ids[i], D0 + 2 * i * H, D0 + 2 * (i + 1) * H));
  }
  metas.set(ids[12], meta(ids[12], D0 + DAY, D0 + DAY + 2 * H));
  metas.set(ids[13], meta(ids[13], D0 + 2 * DAY, D0 + 2 * DAY + 12 * H));
  const all = new Set(ids);
  const left = fullyCoveredConverted(all, metas);
  // day 0 whole; the block ending at midnight only touches day 1's edge
  for (let i = 0; i < 12; i++) assert(left.has(ids[i]), `day-0 block ${i}`);
  assert(!left.has(ids[12]), "day 1 is not fully converted");
  assert(!left.has(ids[13]), "day 2 is half converted");
  // a gap in day 0 (one block not converted) keeps all of day 0's converted blocks
  const gap = new Set(ids.slice(0, 12).filter((_, i) => i !== 5));
  assertEquals(fullyCoveredConverted(gap, metas).size, 0);
  // a 48h block needs both its days covered; a converted ULID the bucket lacks is ignored
  const big = newULID(D0 + 100);
  metas.set(big, meta(big, D0 + 3 * DAY, D0 + 5 * DAY));
  assert(fullyCoveredConverted(new Set([big, newULID(D0 + 101)]), metas).has(big));
});

Deno.test("MetaSyncer leaves parquet-converted blocks out first and counts them; a bad meta.pb fails the sync", async () => {
  const bucket = new MemoryBucket();
  const parquet = new MemoryBucket();
  const day0: string[] = [];
  for (let i = 0; i < 12; i++) {
    const id = newULID(D0 + i);
    day0.push(id);
    const m = meta(id, D0 + 2 * i * H, D0 + 2 * (i + 1) * H);
    await bucket.upload(`${id}/meta.json`, enc.encode(encodeBlockMeta(m)));
  }
  const later = newULID(D0 + 50);
  await bucket.upload(
    `${later}/meta.json`,
    enc.encode(encodeBlockMeta(meta(later, D0 + DAY, D0 + DAY + 2 * H))),
  );
  await parquet.upload("2025/01/06/meta.pb", metaPb(day0));
  await parquet.upload("2025/01/07/meta.pb", metaPb([later]));
  await parquet.upload("2025/01/06/other.pb", enc.encode("not protobuf at all"));
  const syncer = new MetaSyncer(bucket, {
    parquetConverted: new ParquetConvertedBlocks(parquet, 4),
    now: () => D0 + 10 * DAY,
  });
  const res = await syncer.sync();
  assertEquals([...res.metas.keys()], [later]);
  assertEquals(day0.map((id) => res.filtered.get(id)), day0.map(() => "parquet-converted"));

  await parquet.upload("2025/01/08/meta.pb", new Uint8Array([0x32, 0x10, 0x41]));
  let err = "";
  await syncer.sync().catch((e) => err = (e as Error).message);
  assert(err.includes("2025/01/08/meta.pb"), err);
});
