// `thanos tools bucket replicate`: copies whole blocks from one bucket to another
// (https://thanos.io/tip/components/tools.md/#bucket-replicate). A block is selected by
// `--id`, or else by its external labels, resolution, compaction level and time range; its
// chunks and index are copied before meta.json so a reader of the target never sees a partial
// block, and a block whose identical meta.json is already in the target is skipped.

import type { Bucket } from "../objstore/bucket.ts";
import type { Logger } from "../logging/log.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import { META_FILENAME } from "../tsdb/meta.ts";
import { MetaSyncer } from "../block/fetcher.ts";

/** Which blocks `replicateBlocks` copies. */
export interface ReplicateOptions {
  /** When non-empty, exactly these blocks (the other selectors are ignored). */
  ids: readonly string[];
  /** Matchers the block's external labels must all satisfy. */
  matchers: readonly Matcher[];
  /** Allowed resolutions (ms). */
  resolutions: readonly number[];
  /** Allowed compaction levels. */
  compactionLevels: readonly number[];
  /** Blocks overlapping [minTime, maxTime] (ms). */
  minTime: number;
  maxTime: number;
  /** Skip blocks that carry a deletion mark (of any age); the mark itself is never copied. */
  ignoreMarkedForDeletion: boolean;
  logger: Logger;
  signal?: AbortSignal;
}

/** Outcome of one replication pass. */
export interface ReplicateResult {
  /** Blocks copied in this pass, sorted. */
  copied: string[];
  /** Selected blocks already in the target. */
  skipped: string[];
}

/** One pass: copies the selected blocks of `from` missing in `to`. */
export async function replicateBlocks(
  from: Bucket,
  to: Bucket,
  o: ReplicateOptions,
): Promise<ReplicateResult> {
  const signal = o.signal;
  const { metas } = await new MetaSyncer(from, {
    minTime: o.minTime,
    maxTime: o.maxTime,
    // marked blocks are dropped only on request (any mark age)
    ignoreDeletionMarksDelayMs: o.ignoreMarkedForDeletion ? -Infinity : Infinity,
    // every selected block is copied, duplicates included (Thanos's replicator has no
    // deduplication filter)
    filterDuplicates: false,
  }).sync(signal);
  const selected: string[] = [];
  for (const [id, m] of metas) {
    if (o.ids.length > 0) {
      if (o.ids.includes(id)) selected.push(id);
      continue;
    }
    const ls = m.thanos?.labels ?? {};
    if (!o.matchers.every((mt) => mt.matches(ls[mt.name] ?? ""))) continue;
    if (!o.resolutions.includes(m.thanos?.downsample.resolution ?? 0)) continue;
    if (!o.compactionLevels.includes(m.compaction.level)) continue;
    selected.push(id);
  }
  selected.sort();
  for (const id of o.ids) {
    if (!metas.has(id)) {
      o.logger.warn("requested block not found in the source bucket", { block: id });
    }
  }
  const res: ReplicateResult = { copied: [], skipped: [] };
  for (const id of selected) {
    const metaName = `${id}/${META_FILENAME}`;
    const meta = await from.get(metaName, signal);
    if (await to.exists(metaName, signal)) {
      // the same meta.json means an earlier pass completed this block
      if (equalBytes(meta, await to.get(metaName, signal))) {
        o.logger.debug("skipping block as already replicated", { block: id });
        res.skipped.push(id);
        continue;
      }
    }
    // chunks, then the index, then meta.json: the block is complete once meta.json exists;
    // objects a failed pass already copied are not copied again
    const objects: string[] = [];
    for await (const n of from.iter(`${id}/chunks/`, { recursive: true, signal })) objects.push(n);
    objects.push(`${id}/index`);
    for (const n of objects) {
      if (await to.exists(n, signal)) continue;
      await to.upload(n, await from.get(n, signal), signal);
    }
    await to.upload(metaName, meta, signal);
    o.logger.info("block replicated", { block: id });
    res.copied.push(id);
  }
  return res;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
