// Retention by resolution (https://thanos.io/tip/components/compact.md/#enforcing-retention-of-data;
// Thanos's ApplyRetentionPolicyByResolution in
// https://github.com/thanos-io/thanos/blob/main/pkg/compact/retention.go): a block whose maxTime
// is older than now − the retention of its resolution gets a deletion-mark.json; the compactor's
// cleanup deletes it after `--delete-delay`. A retention of 0 keeps that resolution forever.

import type { Bucket } from "../objstore/bucket.ts";
import type { Counter, Registry } from "../metrics/registry.ts";
import type { Logger } from "../logging/log.ts";
import type { BlockMeta } from "../tsdb/meta.ts";
import { formatGoDuration } from "../strconv/duration.ts";
import { DELETION_MARK_FILENAME, markForDeletion } from "../block/markers.ts";

/** Retention per resolution in ms (`--retention.resolution-raw`, `-5m`, `-1h`); 0 = forever. */
export interface RetentionByResolution {
  raw: number;
  fiveMin: number;
  oneHour: number;
}

/**
 * Thanos's `thanos_compact_blocks_marked_total` counter (cmd/thanos/compact.go). Retention marks
 * count under {marker="deletion-mark.json", reason=""}: Thanos passes an empty reason there.
 */
export function blocksMarkedCounter(reg: Registry): Counter {
  return reg.counter({
    name: "thanos_compact_blocks_marked_total",
    help: "Total number of blocks marked in compactor.",
    labelNames: ["marker", "reason"],
  });
}

/** Options of {@link applyRetention}. */
export interface ApplyRetentionOptions {
  logger?: Logger;
  /** Registers thanos_compact_blocks_marked_total here (unless `counter` is given). */
  registry?: Registry;
  /** Counter to increment per block marked. */
  counter?: { inc(): void };
  /** Current time in ms (tests). */
  now?: () => number;
  signal?: AbortSignal;
}

function retentionFor(res: number, r: RetentionByResolution): number {
  if (res === 300_000) return r.fiveMin;
  if (res === 3_600_000) return r.oneHour;
  return r.raw;
}

/**
 * Marks for deletion every block of `metas` whose maxTime (truncated to seconds, as Thanos
 * does) plus the retention of its resolution is before now. Returns the ULIDs marked (blocks
 * already marked are not repeated).
 */
export async function applyRetention(
  bucket: Bucket,
  metas: Iterable<BlockMeta> | ReadonlyMap<string, BlockMeta>,
  retention: RetentionByResolution,
  opts: ApplyRetentionOptions = {},
): Promise<string[]> {
  const log = opts.logger;
  const now = (opts.now ?? Date.now)();
  const counter = opts.counter ??
    (opts.registry
      ? blocksMarkedCounter(opts.registry).labels(DELETION_MARK_FILENAME, "")
      : undefined);
  const list = metas instanceof Map ? [...metas.values()] : [...(metas as Iterable<BlockMeta>)];
  log?.info("start optional retention");
  const marked: string[] = [];
  for (const m of list) {
    const keep = retentionFor(m.thanos?.downsample.resolution ?? 0, retention);
    if (keep <= 0) continue;
    const maxTimeMs = Math.trunc(m.maxTime / 1000) * 1000;
    if (now > maxTimeMs + keep) {
      log?.info("applying retention: marking block for deletion", {
        id: m.ulid,
        maxTime: new Date(maxTimeMs).toISOString(),
      });
      const details = `block exceeding retention of ${formatGoDuration(keep)}`;
      if (await markForDeletion(bucket, m.ulid, details, { now, signal: opts.signal })) {
        counter?.inc();
        log?.info("block has been marked for deletion", { block: m.ulid });
        marked.push(m.ulid);
      } else {
        log?.warn(
          "requested to mark for deletion, but file already exists; this should not happen; investigate",
          { block: m.ulid },
        );
      }
    }
  }
  log?.info("optional retention apply done");
  return marked;
}
