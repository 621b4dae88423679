// `thanos tools bucket verify --repair` (https://thanos.io/tip/components/tools.md/#bucket-verify):
// the repairs Thanos's verifier performs (pkg/verifier, pkg/block/index.go `Repair`).
//
// - `index_known_issues`: the block is downloaded and rewritten into a new block (new ULID, same
//   range, compaction section and labels, `thanos.source: bucket.repair`, stats recounted): each
//   series' labels sorted, its chunks sorted by time, chunks entirely outside the block's range
//   and "near" outsiders starting at its end (prometheus/tsdb#347) dropped, exact duplicate chunks
//   dropped (an overlap that is not a byte-equal copy fails the repair), series sorted and
//   repeated series dropped (the first kept). The new index is checked before it is uploaded;
//   then the broken block is backed up and removed. Downsampled blocks are not repaired.
// - `duplicated_compaction`: in each group, blocks with the same range, level, compaction
//   sources and stats are copies; all but the oldest (by ULID) are backed up and removed.
//
// Backup and removal (Thanos's `BackupAndDelete`): the block is uploaded to the backup bucket
// (refused when that bucket already has objects of the block, checked before anything is
// written), then deleted from the source
// bucket at once with `--delete-delay=0s`, else marked for deletion ("manual verify-repair") for
// the compactor to delete after its own delay.

import type { Bucket } from "../objstore/bucket.ts";
import type { Logger } from "../logging/log.ts";
import { Block } from "../tsdb/block.ts";
import { FileByteSource } from "../tsdb/bytesource.ts";
import type { Chunk, Labels } from "../tsdb/series.ts";
import type { BlockMeta } from "../tsdb/meta.ts";
import { compareLabels, labelsToString } from "../tsdb/labels.ts";
import { newULID } from "../tsdb/ulid.ts";
import { type EncodedSeries, writeBlock } from "../tsdb/block_writer.ts";
import { downloadBlock } from "../block/download.ts";
import { uploadBlock } from "../block/shipper.ts";
import { markForDeletion } from "../block/markers.ts";
import { deleteBlock } from "./compactor.ts";
import { chunkSamples } from "./merge.ts";
import { groupBlocks } from "./group.ts";
import { indexSourceIssues } from "./verify.ts";

/** `thanos.source` of a repaired block (Thanos's BucketRepairSource). */
export const REPAIR_SOURCE = "bucket.repair";

/** Options of the repairs. */
export interface RepairOptions {
  /** `--objstore-backup.config`: where a block goes before it is removed. */
  backup: Bucket;
  /** `--delete-delay`: 0 deletes the old block at once, else it is marked for deletion. */
  deleteDelayMs: number;
  /** Scratch directory (emptied by the caller). */
  tmpDir: string;
  logger: Logger;
  signal?: AbortSignal;
}

/** A repair that could not be done (the block is left as it was). */
export class RepairError extends Error {
  override name = "RepairError";
}

/** Label pairs sorted by name (an index may hold them unsorted). */
function sortedLabels(ls: Labels): Labels {
  const pairs: [string, string][] = [];
  for (let i = 0; i < ls.length; i += 2) pairs.push([ls[i], ls[i + 1]]);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return pairs.flat();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The chunks Thanos's repair keeps (`sanitizeChunkSequence` with its three ignore functions):
 * sorted by minTime, without complete outsiders of `[mint, maxt]`, without chunks starting at
 * `maxt`, without exact copies of the previous chunk. Throws RepairError on an overlap that is
 * not a copy.
 */
export function sanitizeChunks(chunks: readonly Chunk[], mint: number, maxt: number): Chunk[] {
  const sorted = [...chunks].sort((a, b) => a.minTime - b.minTime);
  const out: Chunk[] = [];
  let last: Chunk | null = null;
  for (const c of sorted) {
    if (c.minTime > maxt || c.maxTime < mint) continue; // complete outsider
    if (c.minTime === maxt) continue; // near outsider (prometheus/tsdb#347)
    if (last !== null && c.minTime <= last.maxTime) {
      if (
        c.minTime !== last.minTime || c.maxTime !== last.maxTime ||
        !sameBytes(c.data, last.data) || c.encoding !== last.encoding
      ) {
        throw new RepairError(
          `non-sequential chunks not equal: [${last.minTime}, ${last.maxTime}] and ` +
            `[${c.minTime}, ${c.maxTime}]`,
        );
      }
      continue; // duplicate
    }
    last = c;
    out.push(c);
  }
  return out;
}

/** Throws RepairError when the backup bucket already holds objects of block `id`. */
async function notInBackup(id: string, opts: RepairOptions): Promise<void> {
  for await (const _ of opts.backup.iter(`${id}/`, { signal: opts.signal })) {
    throw new RepairError(
      `${id} dir seems to exists in backup bucket. Remove this block manually if you are sure ` +
        "it is safe to do",
    );
  }
}

/** Uploads block `id` (downloaded in `dir`) to the backup bucket, then removes it. */
export async function backupAndDelete(
  bucket: Bucket,
  id: string,
  opts: RepairOptions,
  dir?: string,
): Promise<void> {
  const log = opts.logger;
  await notInBackup(id, opts);
  let local = dir;
  if (local === undefined) {
    local = `${opts.tmpDir}/backup-${id}/${id}`;
    await downloadBlock(bucket, id, local, { signal: opts.signal });
  }
  try {
    await Deno.stat(`${local}/meta.json`);
  } catch (e) {
    throw new RepairError(`existing tsdb block is invalid: ${(e as Error).message}`);
  }
  log.info("Uploading block to backup bucket", { id });
  await uploadBlock(opts.backup, local, { signal: opts.signal });
  if (opts.deleteDelayMs === 0) {
    log.info("Deleting block", { id });
    await deleteBlock(bucket, id, opts.signal);
    return;
  }
  log.info("Marking block as deleted", { id });
  await markForDeletion(bucket, id, "manual verify-repair", { signal: opts.signal });
}

/**
 * Repairs the index issues of block `meta` (see the file comment); resolves to the new block's
 * meta. Throws RepairError when the block cannot be repaired.
 */
export async function repairIndex(
  bucket: Bucket,
  meta: BlockMeta,
  opts: RepairOptions,
): Promise<BlockMeta> {
  const log = opts.logger;
  const id = meta.ulid;
  if ((meta.thanos?.downsample?.resolution ?? 0) > 0) {
    throw new RepairError("cannot repair downsampled blocks");
  }
  // checked first (Thanos checks after uploading the new block, leaving both in the bucket)
  await notInBackup(id, opts);
  const dir = `${opts.tmpDir}/${id}`;
  log.info("downloading block for repair", { id });
  await downloadBlock(bucket, id, dir, { signal: opts.signal });
  const series: EncodedSeries[] = [];
  const block = await Block.open(dir);
  try {
    const refs = await block.index.allPostings();
    for await (const s of block.index.seriesMany(refs, { signal: opts.signal })) {
      const chunks: Chunk[] = [];
      for (const m of s.chunks) {
        const c = await block.chunks.chunk(m.ref);
        chunks.push({ minTime: m.minTime, maxTime: m.maxTime, encoding: c.encoding, data: c.data });
      }
      const kept = sanitizeChunks(chunks, meta.minTime, meta.maxTime);
      if (kept.length === 0) continue;
      series.push({
        labels: sortedLabels(s.labels),
        chunks: kept,
        numSamples: kept.reduce((n, c) => n + chunkSamples(c), 0),
      });
    }
  } catch (e) {
    if (e instanceof RepairError || (e as Error).name === "AbortError") throw e;
    throw new RepairError(`reading block ${id}: ${(e as Error).message}`);
  } finally {
    await block.close();
  }
  series.sort((a, b) => compareLabels(a.labels, b.labels));
  const unique: EncodedSeries[] = [];
  for (const s of series) {
    const prev = unique[unique.length - 1];
    if (prev && compareLabels(prev.labels, s.labels) === 0) {
      log.warn("dropping duplicate series in tsdb block found", {
        labelset: labelsToString(s.labels),
      });
      continue;
    }
    unique.push(s);
  }
  const newId = newULID();
  log.info("repairing block", { id, newID: newId });
  const thanos = meta.thanos ?? { labels: {}, downsample: { resolution: 0 }, source: "" };
  try {
    await writeBlock(opts.tmpDir, unique, {
      ulid: newId,
      minTime: meta.minTime,
      maxTime: meta.maxTime,
      compaction: meta.compaction,
      thanos: {
        labels: thanos.labels,
        downsample: thanos.downsample,
        source: REPAIR_SOURCE,
        ...(thanos.rewrites !== undefined ? { rewrites: thanos.rewrites } : {}),
        ...(thanos.extensions !== undefined ? { extensions: thanos.extensions } : {}),
      },
    });
  } catch (e) {
    throw new RepairError(`repair failed for block ${id}: ${(e as Error).message}`);
  }
  log.info("verifying repaired block", { id, newID: newId });
  const left = await indexSourceIssues(
    () => FileByteSource.open(`${opts.tmpDir}/${newId}/index`),
    meta,
    opts.signal,
  );
  if (left.length > 0) {
    throw new RepairError(`repaired block is invalid ${newId}: ${left.join("; ")}`);
  }
  log.info("uploading repaired block", { newID: newId });
  const uploaded = await uploadBlock(bucket, `${opts.tmpDir}/${newId}`, { signal: opts.signal });
  log.info("safe deleting broken block", { id });
  await backupAndDelete(bucket, id, opts, dir);
  await Deno.remove(dir, { recursive: true }).catch(() => undefined);
  await Deno.remove(`${opts.tmpDir}/${newId}`, { recursive: true }).catch(() => undefined);
  return uploaded;
}

/**
 * The copies among `metas` (Thanos's `duplicatedBlocks`): per group, blocks with the same
 * range, level, sources and stats; every copy but the oldest (lowest ULID), in ULID order.
 */
export function duplicatedCopies(metas: Iterable<BlockMeta>): string[] {
  const kill: string[] = [];
  for (const g of groupBlocks(metas)) {
    const sets = new Map<string, BlockMeta[]>();
    for (const m of g.metas) {
      const s = m.stats ?? {};
      const key = JSON.stringify([
        m.minTime,
        m.maxTime,
        m.compaction.level,
        [...(m.compaction.sources ?? [])].sort(),
        s.numSamples ?? 0,
        s.numSeries ?? 0,
        s.numChunks ?? 0,
        s.numTombstones ?? 0,
        s.numFloatSamples ?? 0,
        s.numHistogramSamples ?? 0,
      ]);
      sets.set(key, [...(sets.get(key) ?? []), m]);
    }
    for (const ms of sets.values()) {
      if (ms.length < 2) continue;
      const ids = ms.map((m) => m.ulid).sort();
      kill.push(...ids.slice(1));
    }
  }
  return kill.sort();
}
