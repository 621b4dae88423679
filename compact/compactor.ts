// The bucket compactor (Thanos's `BucketCompactor` and `Group.Compact` in
// https://github.com/thanos-io/thanos/blob/main/pkg/compact/compact.go, and the blocks cleaner of
// https://github.com/thanos-io/thanos/blob/main/pkg/compact/blocks_cleaner.go; the behaviour is
// described in https://thanos.io/tip/components/compact.md/). One pass:
//   sync metas (consistency delay, selector relabel, time range, deletion marks, duplicates) →
//   mark duplicates (blocks whose sources another block covers) for deletion →
//   per group (external labels without replica labels + resolution), `--compact.concurrency` at
//   a time: plan, download (`--compact.blocks-fetch-concurrency` blocks,
//   `--block-files-concurrency` files each), merge, upload (files, meta.json last), mark the
//   sources for deletion → repeat while any group compacted something.
// A group with a problem (blocks overlapping without vertical compaction, a corrupt block) is
// reported, its blocks get `no-compact-mark.json`, and the other groups go on; with
// `haltOnError` (Thanos's behaviour) the pass throws a HaltError instead.

import { type Bucket, isObjectNotFound } from "../objstore/bucket.ts";
import type { Counter, Gauge, Histogram, Registry } from "../metrics/registry.ts";
import type { Logger } from "../logging/log.ts";
import type { Relabeler } from "../relabel/relabel.ts";
import { forEachConcurrent } from "../runutil/gate.ts";
import { Block } from "../tsdb/block.ts";
import { type BlockMeta, writeBlockMeta } from "../tsdb/meta.ts";
import { isULID, ulidTime } from "../tsdb/ulid.ts";
import { MetaSyncer } from "../block/fetcher.ts";
import { BlockDownloadError, downloadBlock } from "../block/download.ts";
import { segmentFiles, uploadBlock } from "../block/shipper.ts";
import {
  DELETION_MARK_FILENAME,
  markForDeletion,
  markForNoCompact,
  NO_COMPACT_MARK_FILENAME,
  NO_COMPACT_REASON,
  readMarker,
} from "../block/markers.ts";
import { type Group, groupBlocks, labelsString } from "./group.ts";
import { compactionRanges, plan } from "./planner.ts";
import {
  BlockReadError,
  type CompactDedupFunc,
  UnmergeableChunksError,
  writeCompactedBlock,
} from "./merge.ts";

/** Partial uploads younger than this are never deleted (Thanos's `PartialUploadThresholdAge`). */
export const PARTIAL_UPLOAD_THRESHOLD_AGE_MS = 48 * 3600_000;

/** A group cannot be compacted because of its blocks (overlap, corruption). */
export class GroupProblem extends Error {
  override name = "GroupProblem";
  constructor(
    /** The blocks at fault (they get a no-compact mark). */
    readonly blocks: readonly string[],
    /** A no-compact reason (block/markers.ts). */
    readonly reason: string,
    message: string,
    options?: ErrorOptions,
    /**
     * Marked and skipped even with `haltOnError` (`--compact.skip-block-with-out-of-order-chunks`).
     */
    readonly skip = false,
  ) {
    super(message, options);
  }
}

/** The compactor must stop (`--debug.halt-on-error=true`, Thanos's default behaviour). */
export class HaltError extends Error {
  override name = "HaltError";
}

/** Options of {@link BucketCompactor}. */
export interface CompactorOptions {
  bucket: Bucket;
  /** `--data-dir`: blocks are downloaded and merged under `<data-dir>/compact`. */
  dataDir: string;
  logger: Logger;
  registry: Registry;
  consistencyDelayMs?: number;
  relabel?: Relabeler;
  minTime?: number;
  maxTime?: number;
  metaFetchConcurrency?: number;
  strategy?: "concurrent" | "recursive";
  /** Level ranges (default 2h, 8h, 2d, 14d). */
  ranges?: readonly number[];
  /** `--compact.concurrency` */
  concurrency?: number;
  /** `--compact.blocks-fetch-concurrency` */
  blocksFetchConcurrency?: number;
  /** `--block-files-concurrency` */
  blockFilesConcurrency?: number;
  /** `--compact.enable-vertical-compaction` (implied by replica labels, as in Thanos). */
  enableVerticalCompaction?: boolean;
  /** `--deduplication.replica-label` */
  replicaLabels?: readonly string[];
  /** `--deduplication.func` */
  dedupFunc?: CompactDedupFunc;
  /** `--debug.halt-on-error`: stop on a group problem instead of marking and going on. */
  haltOnError?: boolean;
  /** `--delete-delay` */
  deleteDelayMs?: number;
  /** `--hash-func` */
  hashFunc?: string;
  /**
   * `--compact.block-max-index-size` (bytes; 0: no limit): a plan whose summed source index
   * sizes reach 85% of it gets its biggest block marked no-compact and is planned again.
   */
  maxBlockIndexSize?: number;
  /**
   * `--compact.skip-block-with-out-of-order-chunks`: a block whose index has out-of-order
   * chunks is marked no-compact (reason `block-index-out-of-order-chunk`) without halting,
   * even with `haltOnError`.
   */
  skipOutOfOrderChunks?: boolean;
  /**
   * Called after each sync with the blocks the compactor works on (or the sync's error): the
   * bucket UI's "loaded" view (Thanos's `BlocksAPI.SetLoaded`).
   */
  onSync?: (metas: BlockMeta[], err: string | null) => void;
  now?: () => number;
}

/** Outcome of one {@link BucketCompactor.compact} pass. */
export interface CompactResult {
  /** New blocks uploaded. */
  compactions: number;
  /** Group keys that had a problem (their blocks got no-compact marks). */
  problemGroups: string[];
}

interface CompactMetrics {
  compactions: Counter;
  runsStarted: Counter;
  runsCompleted: Counter;
  failures: Counter;
  vertical: Counter;
  gcBlocks: Counter;
  gcRuns: Counter;
  gcFailures: Counter;
  gcDuration: Histogram;
  blocksMarked: Counter;
  groupProblem: Gauge;
  todoCompactions: Gauge;
  blocksCleaned: Counter;
  cleanupFailures: Counter;
  partialDeleteAttempts: Counter;
}

function compactMetrics(r: Registry): CompactMetrics {
  const c = (name: string, help: string, labelNames?: string[]) =>
    r.counter({ name, help, labelNames });
  const m: CompactMetrics = {
    compactions: c(
      "thanos_compact_group_compactions_total",
      "Total number of group compaction attempts that resulted in a new block.",
      ["resolution"],
    ),
    runsStarted: c(
      "thanos_compact_group_compaction_runs_started_total",
      "Total number of group compaction attempts.",
      ["resolution"],
    ),
    runsCompleted: c(
      "thanos_compact_group_compaction_runs_completed_total",
      "Total number of group completed compaction runs. This also includes compactor group runs that resulted with no compaction.",
      ["resolution"],
    ),
    failures: c(
      "thanos_compact_group_compactions_failures_total",
      "Total number of failed group compactions.",
      ["resolution"],
    ),
    vertical: c(
      "thanos_compact_group_vertical_compactions_total",
      "Total number of group compaction attempts that resulted in a new block based on overlapping blocks.",
      ["resolution"],
    ),
    gcBlocks: c(
      "thanos_compact_garbage_collected_blocks_total",
      "Total number of blocks marked for deletion by compactor.",
    ),
    gcRuns: c(
      "thanos_compact_garbage_collection_total",
      "Total number of garbage collection operations.",
    ),
    gcFailures: c(
      "thanos_compact_garbage_collection_failures_total",
      "Total number of failed garbage collection operations.",
    ),
    gcDuration: r.histogram({
      name: "thanos_compact_garbage_collection_duration_seconds",
      help: "Time it took to perform garbage collection iteration.",
      buckets: [0.01, 0.1, 0.3, 0.6, 1, 3, 6, 9, 20, 30, 60, 90, 120, 240, 360, 720],
    }),
    blocksMarked: c(
      "thanos_compact_blocks_marked_total",
      "Total number of blocks marked in compactor.",
      ["marker", "reason"],
    ),
    groupProblem: r.gauge({
      name: "thanos_compact_group_problem",
      help: "Set to 1 for a group that hit a problem (overlap, corrupt block) since the start: " +
        "the blocks at fault were marked no-compact and the other groups continued.",
      labelNames: ["group", "labels"],
    }),
    todoCompactions: r.gauge({
      name: "thanos_compact_todo_compactions",
      help: "number of compactions to be done",
    }),
    blocksCleaned: c(
      "thanos_compact_blocks_cleaned_total",
      "Total number of blocks deleted in compactor.",
    ),
    cleanupFailures: c(
      "thanos_compact_block_cleanup_failures_total",
      "Failures encountered while deleting blocks in compactor.",
    ),
    partialDeleteAttempts: c(
      "thanos_compact_aborted_partial_uploads_deletion_attempts_total",
      "Total number of started deletions of blocks that are assumed aborted and only partially uploaded.",
    ),
  };
  for (const res of ["0", "300000", "3600000"]) {
    for (const x of [m.compactions, m.runsStarted, m.runsCompleted, m.failures, m.vertical]) {
      x.with({ resolution: res });
    }
  }
  m.blocksMarked.with({ marker: NO_COMPACT_MARK_FILENAME, reason: NO_COMPACT_REASON.overlap });
  m.blocksMarked.with({ marker: NO_COMPACT_MARK_FILENAME, reason: NO_COMPACT_REASON.corrupt });
  m.blocksMarked.with({
    marker: NO_COMPACT_MARK_FILENAME,
    reason: NO_COMPACT_REASON.outOfOrderChunks,
  });
  m.blocksMarked.with({
    marker: NO_COMPACT_MARK_FILENAME,
    reason: NO_COMPACT_REASON.indexSizeExceeding,
  });
  m.blocksMarked.with({ marker: DELETION_MARK_FILENAME, reason: "" });
  for (const x of [m.gcBlocks, m.gcRuns, m.gcFailures, m.blocksCleaned, m.cleanupFailures]) {
    x.labels();
  }
  m.partialDeleteAttempts.labels();
  return m;
}

function overlaps(metas: readonly BlockMeta[]): boolean {
  let maxt = -Infinity;
  for (const m of metas) {
    if (m.minTime < maxt) return true;
    if (m.maxTime > maxt) maxt = m.maxTime;
  }
  return false;
}

/**
 * Deletes a block as Thanos's `block.Delete`: meta.json first (readers then see a partial block
 * and skip it), then every other object, the deletion mark last.
 */
export async function deleteBlock(bucket: Bucket, id: string, signal?: AbortSignal): Promise<void> {
  const del = async (name: string) => {
    try {
      await bucket.delete(name, signal);
    } catch (e) {
      if (!isObjectNotFound(e)) throw e;
    }
  };
  await del(`${id}/meta.json`);
  const names: string[] = [];
  for await (const n of bucket.iter(`${id}/`, { recursive: true, signal })) names.push(n);
  for (const n of names) {
    if (n === `${id}/meta.json` || n === `${id}/${DELETION_MARK_FILENAME}`) continue;
    await del(n);
  }
  await del(`${id}/${DELETION_MARK_FILENAME}`);
}

/** Compacts the blocks of a bucket. */
export class BucketCompactor {
  readonly metrics: CompactMetrics;
  private readonly syncer: MetaSyncer;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly ranges: readonly number[];
  private readonly workDir: string;

  constructor(private readonly o: CompactorOptions) {
    this.log = o.logger;
    this.now = o.now ?? Date.now;
    this.ranges = o.ranges ?? compactionRanges();
    this.metrics = compactMetrics(o.registry);
    this.workDir = `${o.dataDir}/compact`;
    this.syncer = new MetaSyncer(o.bucket, {
      cacheDir: `${o.dataDir}/meta-syncer`,
      concurrency: o.metaFetchConcurrency ?? 32,
      strategy: o.strategy,
      minTime: o.minTime,
      maxTime: o.maxTime,
      relabel: o.relabel,
      consistencyDelayMs: o.consistencyDelayMs ?? 0,
      // the compactor never works on blocks marked for deletion
      ignoreDeletionMarksDelayMs: -1,
      registry: o.registry,
      now: this.now,
      onCorrupt: (id, err) =>
        this.log.error("skipping block with a corrupt meta.json", { block: id, err: err.message }),
    });
  }

  /** The blocks of the last sync and their no-compact marks (`--compact.progress-interval`). */
  lastSync: { metas: Map<string, BlockMeta>; noCompact: Set<string> } | null = null;

  /** Blocks the compactor works on now (after the filters), by ULID. */
  async syncMetas(signal?: AbortSignal): Promise<Map<string, BlockMeta>> {
    let res: Awaited<ReturnType<MetaSyncer["sync"]>>;
    try {
      res = await this.syncer.sync(signal);
    } catch (e) {
      this.o.onSync?.([], (e as Error).message);
      throw e;
    }
    this.o.onSync?.([...res.metas.values()], null);
    this.lastSync = { metas: res.metas, noCompact: this.lastSync?.noCompact ?? new Set() };
    await this.garbageCollect(
      [...res.filtered].filter(([, r]) => r === "duplicate").map(([id]) => id),
      signal,
    );
    return res.metas;
  }

  /** Marks blocks whose data another block holds (a finished compaction) for deletion. */
  private async garbageCollect(ids: string[], signal?: AbortSignal): Promise<void> {
    const began = performance.now();
    this.metrics.gcRuns.inc();
    try {
      for (const id of ids) {
        if (
          await markForDeletion(this.o.bucket, id, "outdated block", { now: this.now(), signal })
        ) {
          this.metrics.gcBlocks.inc();
          this.metrics.blocksMarked.inc({ marker: DELETION_MARK_FILENAME, reason: "" });
          this.log.info("marked outdated block for deletion", { block: id });
        }
      }
    } catch (e) {
      this.metrics.gcFailures.inc();
      throw e;
    }
    this.metrics.gcDuration.observe((performance.now() - began) / 1000);
  }

  /**
   * The group's plan, kept under `--compact.block-max-index-size` as Thanos's
   * largeTotalIndexSizeFilter does (pkg/compact/planner.go): source index sizes (meta.json's
   * `thanos.files`, else the object's size) are summed in plan order; once the sum reaches 85%
   * of the limit, the biggest block so far is marked no-compact (`index-size-exceeding`) and
   * the group is planned again. `noCompact` gains the marked blocks.
   */
  private async planWithinIndexSize(
    g: Group,
    noCompact: Set<string>,
    signal?: AbortSignal,
  ): Promise<BlockMeta[]> {
    const limit = this.o.maxBlockIndexSize ?? 0;
    for (let round = 0; round <= g.metas.length; round++) {
      const p = plan(this.ranges, g.metas, noCompact);
      if (limit <= 0 || p.length === 0) return p;
      let total = 0;
      let biggest = -1;
      let biggestSize = -Infinity;
      let marked = false;
      for (let i = 0; i < p.length; i++) {
        const size = await this.indexSize(p[i], signal);
        if (size > biggestSize) {
          biggestSize = size;
          biggest = i;
        }
        total += size;
        if (total >= limit * 0.85) {
          const id = p[biggest].ulid;
          const why = `largeTotalIndexSizeFilter: Total compacted block's index size could ` +
            `exceed: ${limit} with this block. See https://github.com/thanos-io/thanos/issues/1424`;
          if (
            await markForNoCompact(
              this.o.bucket,
              id,
              NO_COMPACT_REASON.indexSizeExceeding,
              why,
              { now: this.now(), signal },
            )
          ) {
            this.metrics.blocksMarked.inc({
              marker: NO_COMPACT_MARK_FILENAME,
              reason: NO_COMPACT_REASON.indexSizeExceeding,
            });
          }
          this.log.warn("block marked no-compact: the compacted index could be too big", {
            group: g.key,
            block: id,
            total_index_bytes: total,
            limit,
          });
          noCompact.add(id);
          marked = true;
          break;
        }
      }
      if (!marked) return p;
    }
    return [];
  }

  /** Size of a block's index: from meta.json's file list, else asked from the bucket. */
  private async indexSize(m: BlockMeta, signal?: AbortSignal): Promise<number> {
    const f = m.thanos?.files?.find((x) => x.rel_path === "index");
    if (f?.size_bytes !== undefined && f.size_bytes > 0) return f.size_bytes;
    return (await this.o.bucket.attributes(`${m.ulid}/index`, signal)).size;
  }

  /** ULIDs among `ids` carrying a no-compact mark. */
  private async noCompactMarked(ids: string[], signal?: AbortSignal): Promise<Set<string>> {
    const out = new Set<string>();
    await forEachConcurrent(ids, this.o.metaFetchConcurrency ?? 32, async (id) => {
      if (await this.o.bucket.exists(`${id}/${NO_COMPACT_MARK_FILENAME}`, signal)) out.add(id);
    });
    return out;
  }

  /**
   * Compacts until no group has anything left to do. Group problems are reported and marked;
   * other failures are thrown after every group finished its current step (the caller retries
   * the pass). Throws HaltError on a problem when `haltOnError` is set.
   */
  async compact(signal?: AbortSignal): Promise<CompactResult> {
    await Deno.remove(this.workDir, { recursive: true }).catch(() => undefined);
    await Deno.mkdir(this.workDir, { recursive: true });
    const result: CompactResult = { compactions: 0, problemGroups: [] };
    const seenPlans = new Set<string>();
    for (;;) {
      signal?.throwIfAborted();
      const metas = await this.syncMetas(signal);
      const noCompact = await this.noCompactMarked([...metas.keys()], signal);
      this.lastSync = { metas, noCompact };
      const groups = groupBlocks(metas.values(), this.o.replicaLabels ?? []);
      const plans: { g: Group; p: BlockMeta[] }[] = [];
      for (const g of groups) {
        const p = await this.planWithinIndexSize(g, noCompact, signal);
        if (p.length > 0) plans.push({ g, p });
      }
      this.metrics.todoCompactions.set(plans.length);
      if (plans.length === 0) break;
      const errors: Error[] = [];
      const haltingProblems: string[] = [];
      let progress = false;
      await forEachConcurrent(plans, Math.max(1, this.o.concurrency ?? 1), async ({ g, p }) => {
        const planKey = p.map((m) => m.ulid).join(",");
        if (seenPlans.has(planKey)) {
          errors.push(new Error(`group ${g.key}: the same plan came up twice (${planKey})`));
          return;
        }
        seenPlans.add(planKey);
        const res = String(g.resolution);
        this.metrics.runsStarted.inc({ resolution: res });
        try {
          await this.compactGroup(g, p, signal);
          this.metrics.runsCompleted.inc({ resolution: res });
          progress = true;
          result.compactions++;
        } catch (e) {
          this.metrics.failures.inc({ resolution: res });
          if (e instanceof GroupProblem) {
            await this.reportProblem(g, e, signal).catch((err) => errors.push(err as Error));
            result.problemGroups.push(g.key);
            if (!e.skip) haltingProblems.push(g.key);
            progress = true;
          } else {
            errors.push(e as Error);
          }
        }
      });
      signal?.throwIfAborted();
      if (this.o.haltOnError && haltingProblems.length > 0) {
        throw new HaltError(
          `compaction of group(s) ${haltingProblems.join(", ")} failed; halting ` +
            `(--debug.halt-on-error)`,
        );
      }
      if (errors.length > 0) {
        throw new AggregateError(
          errors,
          `compaction failed: ${errors.map((e) => e.message).join("; ")}`,
        );
      }
      if (!progress) break;
    }
    this.metrics.todoCompactions.set(0);
    return result;
  }

  private async reportProblem(g: Group, e: GroupProblem, signal?: AbortSignal): Promise<void> {
    const labels = labelsString(g.labels);
    this.metrics.groupProblem.set({ group: g.key, labels }, 1);
    this.log.error(
      "compaction group has a problem; its blocks are marked no-compact and the other groups continue",
      {
        group: g.key,
        labels,
        reason: e.reason,
        blocks: e.blocks.join(","),
        err: e.message,
      },
    );
    if (this.o.haltOnError && !e.skip) return;
    for (const id of e.blocks) {
      if (
        await markForNoCompact(this.o.bucket, id, e.reason, e.message, { now: this.now(), signal })
      ) {
        this.metrics.blocksMarked.inc({ marker: NO_COMPACT_MARK_FILENAME, reason: e.reason });
      }
    }
  }

  /** Downloads one block into `dir` (files `--block-files-concurrency` at a time). */
  private async download(
    id: string,
    meta: BlockMeta,
    dir: string,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await downloadBlock(this.o.bucket, id, dir, {
        meta,
        concurrency: this.o.blockFilesConcurrency ?? 1,
        signal,
      });
    } catch (e) {
      if (e instanceof BlockDownloadError) {
        throw new GroupProblem([id], NO_COMPACT_REASON.corrupt, e.message);
      }
      throw e;
    }
  }

  /** Compacts one plan of one group: download, merge, upload, mark the sources. */
  async compactGroup(g: Group, p: BlockMeta[], signal?: AbortSignal): Promise<BlockMeta | null> {
    const labels = labelsString(g.labels);
    const ids = p.map((m) => m.ulid);
    const vertical = overlaps(p);
    if (vertical && !(this.o.enableVerticalCompaction || (this.o.replicaLabels ?? []).length > 0)) {
      throw new GroupProblem(
        ids,
        NO_COMPACT_REASON.overlap,
        `blocks ${ids.join(", ")} of group ${g.key} ${labels} overlap in time and vertical ` +
          `compaction is disabled (--compact.enable-vertical-compaction)`,
      );
    }
    if (vertical && g.resolution > 0) {
      throw new GroupProblem(
        ids,
        NO_COMPACT_REASON.downsampleVerticalCompaction,
        `downsampled blocks ${
          ids.join(", ")
        } overlap: vertical compaction of aggregates is not possible`,
      );
    }
    const began = performance.now();
    this.log.info("compaction available and planned", {
      group: g.key,
      labels,
      plan: ids.join(","),
      vertical,
    });
    const gdir = `${this.workDir}/${g.key.replace(/[^0-9A-Za-z@_-]/g, "_")}`;
    await Deno.mkdir(gdir, { recursive: true });
    const blocks: Block[] = [];
    try {
      await forEachConcurrent(p, Math.max(1, this.o.blocksFetchConcurrency ?? 1), async (m) => {
        await this.download(m.ulid, m, `${gdir}/${m.ulid}`, signal);
      });
      this.log.info("downloaded and verified blocks; compacting blocks", {
        group: g.key,
        blocks: ids.length,
        duration: `${((performance.now() - began) / 1000).toFixed(3)}s`,
      });
      for (const m of p) {
        try {
          blocks.push(await Block.open(`${gdir}/${m.ulid}`));
        } catch (e) {
          throw new GroupProblem(
            [m.ulid],
            NO_COMPACT_REASON.corrupt,
            `block ${m.ulid}: ${(e as Error).message}`,
            {
              cause: e,
            },
          );
        }
      }
      let out;
      try {
        out = await writeCompactedBlock(gdir, blocks, {
          thanos: {
            labels: g.labels,
            downsample: { resolution: g.resolution },
            source: "compactor",
          },
          dedupFunc: this.o.dedupFunc ?? "",
          signal,
        });
      } catch (e) {
        if (e instanceof BlockReadError && e.outOfOrderChunks && this.o.skipOutOfOrderChunks) {
          throw new GroupProblem(
            [e.ulid],
            NO_COMPACT_REASON.outOfOrderChunks,
            e.message,
            { cause: e },
            true,
          );
        }
        if (e instanceof BlockReadError) {
          throw new GroupProblem([e.ulid], NO_COMPACT_REASON.corrupt, e.message, { cause: e });
        }
        if (e instanceof UnmergeableChunksError) {
          throw new GroupProblem(
            ids,
            NO_COMPACT_REASON.overlap,
            `blocks ${ids.join(", ")} of group ${g.key} ${labels}: ${e.message}`,
            { cause: e },
          );
        }
        throw e;
      }
      const res = String(g.resolution);
      if ((out.meta.stats.numSamples ?? 0) === 0) {
        this.log.info("compacted block would have no samples, deleting source blocks", {
          group: g.key,
          blocks: ids.join(","),
        });
      } else {
        out.meta.thanos = { ...out.meta.thanos!, segment_files: await segmentFiles(out.dir) };
        await writeBlockMeta(out.dir, out.meta);
        await uploadBlock(this.o.bucket, out.dir, {
          concurrency: this.o.blockFilesConcurrency,
          hashFunc: this.o.hashFunc,
          signal,
        });
        this.metrics.compactions.inc({ resolution: res });
        if (vertical) this.metrics.vertical.inc({ resolution: res });
      }
      for (const id of ids) {
        if (
          await markForDeletion(this.o.bucket, id, "source of compacted block", {
            now: this.now(),
            signal,
          })
        ) {
          this.metrics.blocksMarked.inc({ marker: DELETION_MARK_FILENAME, reason: "" });
        }
      }
      this.log.info("compacted blocks", {
        group: g.key,
        labels,
        new: out.meta.ulid,
        level: out.meta.compaction.level,
        blocks: ids.join(","),
        series: out.meta.stats.numSeries ?? 0,
        samples: out.meta.stats.numSamples ?? 0,
        merged_series: out.mergedSeries,
        duration: `${((performance.now() - began) / 1000).toFixed(3)}s`,
      });
      return out.meta;
    } finally {
      for (const b of blocks) await b.close().catch(() => undefined);
      await Deno.remove(gdir, { recursive: true }).catch(() => undefined);
    }
  }

  /**
   * The blocks cleaner: deletes blocks marked for deletion longer than `--delete-delay` ago, and
   * partial uploads (no meta.json, no deletion mark) whose ULID is older than
   * max(consistency delay, 48h). Blocks in `exclude` (e.g. outside a selector) are left alone.
   * Resolves to the number of blocks deleted.
   */
  async cleanup(signal?: AbortSignal, exclude?: ReadonlySet<string>): Promise<number> {
    const files = new Map<string, Set<string>>();
    for await (const n of this.o.bucket.iter("", { recursive: true, signal })) {
      const slash = n.indexOf("/");
      if (slash < 0) continue;
      const id = n.slice(0, slash);
      if (!isULID(id) || exclude?.has(id)) continue;
      let s = files.get(id);
      if (!s) files.set(id, s = new Set());
      s.add(n.slice(slash + 1));
    }
    const now = this.now();
    const delay = this.o.deleteDelayMs ?? 48 * 3600_000;
    const partialAge = Math.max(this.o.consistencyDelayMs ?? 0, PARTIAL_UPLOAD_THRESHOLD_AGE_MS);
    let deleted = 0;
    for (const [id, names] of files) {
      signal?.throwIfAborted();
      let why = "";
      if (names.has(DELETION_MARK_FILENAME)) {
        const mark = await readMarker(this.o.bucket, id, DELETION_MARK_FILENAME, signal);
        if (mark === null || now - mark.deletion_time * 1000 < delay) continue;
        why = "marked for deletion";
      } else if (!names.has("meta.json")) {
        if (now - ulidTime(id) <= partialAge) continue;
        this.metrics.partialDeleteAttempts.inc();
        why = "aborted partial upload";
      } else continue;
      try {
        await deleteBlock(this.o.bucket, id, signal);
        deleted++;
        this.metrics.blocksCleaned.inc();
        this.log.info("deleted block", { block: id, reason: why });
      } catch (e) {
        this.metrics.cleanupFailures.inc();
        this.log.error("failed to delete block", { block: id, err: (e as Error).message });
      }
    }
    return deleted;
  }
}
