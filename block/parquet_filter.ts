// The store gateway's filter for blocks already converted to parquet (Thanos v0.42's
// `--objstore-parquet.config`, `block.IgnoreParquetConvertedBlocksFilter` in
// https://github.com/thanos-io/thanos/blob/v0.42.4/pkg/block/fetcher.go): a parquet gateway serves
// those days from a second bucket, so the store gateway leaves the TSDB blocks they came from out
// — but only blocks whose every day is fully covered by converted blocks, because the converter
// cuts data at day boundaries and a day it saw only part of must still come from the TSDB blocks.
//
// The second bucket holds one `meta.pb` per converted day (anywhere in the tree); its protobuf
// field 6 (`convertedFromBLIDs`, repeated string) names the ULIDs of the TSDB blocks it was made
// from. Every other field is skipped by its wire type. A file that cannot be read or parsed, or a
// ULID that does not parse, fails the sync (Thanos's filter returns the error, and the fetcher with
// it), so the store keeps its last view rather than serving a day twice or not at all.

import type { Bucket } from "../objstore/bucket.ts";
import type { BlockMeta } from "../tsdb/meta.ts";
import { isULID } from "../tsdb/ulid.ts";
import { ProtoReader, WireType } from "../storeapi/wire.ts";
import { forEachConcurrent } from "../runutil/gate.ts";

/** The parquet converter's metadata file name. */
export const PARQUET_META_FILENAME = "meta.pb";

const DAY_MS = 24 * 3600_000;

/** The ULIDs a `meta.pb` names in its field 6; throws naming `name` when it is malformed. */
export function convertedFromBlocks(bytes: Uint8Array, name: string): string[] {
  const out: string[] = [];
  const r = new ProtoReader(bytes, name);
  try {
    while (!r.eof()) {
      const t = r.tag();
      if (t === (6 << 3 | WireType.LengthDelimited)) out.push(r.string());
      else r.skip(t & 7);
    }
  } catch (e) {
    throw new Error(`read parquet metadata file ${name}: ${(e as Error).message}`);
  }
  const bad = out.find((id) => !isULID(id));
  if (bad !== undefined) {
    throw new Error(`parse block ID ${JSON.stringify(bad)} from parquet metadata file: ${name}`);
  }
  return out;
}

/** UTC day start (ms) of `t`, flooring like Go's integer division for t ≥ 0. */
function dayOf(t: number): number {
  return Math.floor(t / DAY_MS) * DAY_MS;
}

/**
 * The converted blocks (of `metas`) that may be left out: every UTC day a block touches (with a
 * non-empty part) is covered end to end by the union of the converted blocks' ranges.
 */
export function fullyCoveredConverted(
  converted: ReadonlySet<string>,
  metas: ReadonlyMap<string, Pick<BlockMeta, "minTime" | "maxTime">>,
): Set<string> {
  const blocks: { id: string; minTime: number; maxTime: number }[] = [];
  for (const id of converted) {
    const m = metas.get(id);
    if (m) blocks.push({ id, minTime: m.minTime, maxTime: m.maxTime });
  }
  const out = new Set<string>();
  if (blocks.length === 0) return out;
  blocks.sort((a, b) => a.minTime - b.minTime);
  const covered = new Set<number>();
  const first = dayOf(blocks[0].minTime);
  const last = dayOf(blocks[blocks.length - 1].maxTime);
  for (let day = first; day <= last; day += DAY_MS) {
    const dayEnd = day + DAY_MS - 1;
    // sweep the sorted ranges: coverage grows while ranges touch or overlap
    let reached = day - 1;
    for (const b of blocks) {
      if (b.maxTime <= day) continue;
      if (b.minTime > dayEnd) break;
      if (Math.max(b.minTime, day) > reached + 1) break; // a gap
      reached = Math.max(reached, Math.min(b.maxTime, dayEnd));
    }
    if (reached >= dayEnd) covered.add(day);
  }
  for (const b of blocks) {
    let ok = true;
    for (let day = dayOf(b.minTime); day <= dayOf(b.maxTime); day += DAY_MS) {
      const lo = Math.max(b.minTime, day);
      const hi = Math.min(b.maxTime, day + DAY_MS - 1);
      if (hi <= lo) continue; // the block only touches this day's edge
      if (!covered.has(day)) {
        ok = false;
        break;
      }
    }
    if (ok) out.add(b.id);
  }
  return out;
}

/** Reads the converted-from ULIDs of every `meta.pb` in the parquet bucket. */
export class ParquetConvertedBlocks {
  constructor(
    private readonly bucket: Bucket,
    private readonly concurrency = 32,
  ) {}

  /** Every ULID named by some `meta.pb` (one recursive listing, then the files). */
  async ids(signal?: AbortSignal): Promise<Set<string>> {
    const files: string[] = [];
    for await (const name of this.bucket.iter("", { recursive: true, signal })) {
      const base = name.slice(name.lastIndexOf("/") + 1);
      if (base === PARQUET_META_FILENAME) files.push(name);
    }
    const ids = new Set<string>();
    const errors: string[] = [];
    await forEachConcurrent(files, this.concurrency, async (name) => {
      try {
        const bytes = await this.bucket.get(name, signal);
        for (const id of convertedFromBlocks(bytes, name)) ids.add(id);
      } catch (e) {
        errors.push(
          `failed to read parquet metadata from ${name}: ${(e as Error).message}`,
        );
      }
    });
    if (errors.length > 0) {
      throw new Error(`read parquet metadata files: ${errors.sort().join("; ")}`);
    }
    return ids;
  }
}
