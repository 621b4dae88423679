// Run functions of `thanos tools …`.

import { UsageError } from "../flags.ts";
import { withBucket } from "../objstore.ts";
import type { RunContext } from "../runtime.ts";
import { bucketInspect, bucketLs, InspectUsageError } from "../../block/inspect.ts";
import { tsdbAnalyze, tsdbDump } from "../../tsdb/promtool.ts";
import { ruleFiles } from "../../rules/loader.ts";
import { parseRuleFile, RuleFileError } from "../../rules/rulefmt.ts";
import { Registry } from "../../metrics/registry.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import { sleepUnlessAborted } from "../../runutil/sleep.ts";
import { formatGoDuration } from "../../strconv/duration.ts";
import { MetaSyncer } from "../../block/fetcher.ts";
import {
  DELETION_MARK_FILENAME,
  markForDeletion,
  markForNoCompact,
  markForNoDownsample,
  NO_COMPACT_MARK_FILENAME,
  NO_COMPACT_REASON,
} from "../../block/markers.ts";
import { BucketCompactor } from "../../compact/compactor.ts";
import { downsampleBucket, downsampleMetrics } from "../../compact/downsample.ts";
import { applyRetention } from "../../compact/retention.ts";
import { verifyAndRepair } from "../../compact/verify.ts";
import type { RepairOptions } from "../../compact/repair.ts";
import { replicateBlocks } from "../../compact/replicate.ts";
import { rewriteBlock } from "../../compact/rewrite.ts";
import { Relabeler } from "../../relabel/relabel.ts";
import type { Bucket } from "../../objstore/bucket.ts";
import { Shipper } from "../../block/shipper.ts";
import { GlobalBlocksView } from "../../block/blocks_view.ts";
import { bucketUiRootRedirect, bucketUiRoutes } from "../../ui/bucket_ui.ts";
import type {
  BucketDownsampleConfig,
  BucketInspectConfig,
  BucketLsConfig,
  BucketMarkConfig,
  BucketReplicateConfig,
  BucketRetentionConfig,
  BucketRewriteConfig,
  BucketSyncConfig,
  BucketUploadBlocksConfig,
  BucketVerifyConfig,
  BucketWebToolConfig,
  RulesCheckConfig,
  TsdbAnalyzeConfig,
  TsdbDumpConfig,
} from "./config.ts";

function timeoutSignal(ctx: RunContext, ms: number): AbortSignal {
  return AbortSignal.any([ctx.signal, AbortSignal.timeout(ms)]);
}

/** `thanos tools bucket ls` */
export async function runBucketLs(cfg: BucketLsConfig, ctx: RunContext): Promise<number> {
  await withBucket(
    cfg.objstoreConfig,
    { logger: ctx.logger, component: "bucket" },
    (bucket) =>
      bucketLs(bucket, {
        output: cfg.output,
        excludeDelete: cfg.excludeDelete,
        minTime: cfg.minTime,
        maxTime: cfg.maxTime,
        relabel: cfg.relabel,
        signal: timeoutSignal(ctx, cfg.timeoutMs),
        logger: (msg, fields) => ctx.logger.info(msg, fields),
      }, (line) => ctx.stdout(line + "\n")),
  );
  return 0;
}

/** `thanos tools bucket inspect` */
export async function runBucketInspect(
  cfg: BucketInspectConfig,
  ctx: RunContext,
): Promise<number> {
  try {
    await withBucket(
      cfg.objstoreConfig,
      { logger: ctx.logger, component: "bucket" },
      (bucket) =>
        bucketInspect(bucket, {
          selector: cfg.selector,
          sortBy: cfg.sortBy,
          output: cfg.output,
          signal: timeoutSignal(ctx, cfg.timeoutMs),
          logger: (msg, fields) => ctx.logger.info(msg, fields),
        }, (line) => ctx.stdout(line + "\n")),
    );
  } catch (e) {
    if (e instanceof InspectUsageError) throw new UsageError(e.message);
    throw e;
  }
  return 0;
}

/** `thanos tools tsdb dump` */
export async function runTsdbDump(cfg: TsdbDumpConfig, ctx: RunContext): Promise<number> {
  await tsdbDump(cfg.dbPath, {
    minTime: cfg.minTime,
    maxTime: cfg.maxTime,
    matchers: cfg.matchers,
    signal: ctx.signal,
  }, ctx.stdout);
  return 0;
}

/** `thanos tools tsdb analyze` */
export async function runTsdbAnalyze(cfg: TsdbAnalyzeConfig, ctx: RunContext): Promise<number> {
  await tsdbAnalyze(cfg.blockDir, ctx.stdout, { limit: cfg.limit });
  return 0;
}

/**
 * `thanos tools rules-check`: validates every file the `--rules` globs name with the ruler's
 * validator (rules/rulefmt.ts); exit 1 when a file is unreadable or invalid, each error logged.
 */
export async function runRulesCheck(cfg: RulesCheckConfig, ctx: RunContext): Promise<number> {
  const log = ctx.logger;
  const files = await ruleFiles(cfg.rules);
  let failed = false;
  if (files.length === 0) {
    log.error("no rule files matched", { rules: cfg.rules.join(",") });
    return 1;
  }
  for (const f of files) {
    log.info("checking", { filename: f });
    try {
      const groups = parseRuleFile(f, await Deno.readTextFile(f));
      const n = groups.reduce((k, g) => k + g.rules.length, 0);
      log.info("SUCCESS", { result: "SUCCESS", rules_found: n });
    } catch (e) {
      failed = true;
      log.error("FAILED", { result: "FAILED" });
      const errs = e instanceof RuleFileError ? e.errors : [`${f}: ${(e as Error).message}`];
      for (const err of errs) log.error("FAILED", { error: err });
    }
  }
  if (failed) {
    log.error("Checking rules failure");
    return 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// `tools bucket verify|mark|cleanup|retention|downsample`: the compactor's code run by hand.

/**
 * `thanos tools bucket verify`: logs every issue found (a warning each); with `--repair` repairs
 * them (compact/repair.ts) and exits 1 when a repair failed, else 0.
 */
export async function runBucketVerify(cfg: BucketVerifyConfig, ctx: RunContext): Promise<number> {
  const log = ctx.logger;
  const opts = { logger: log, component: "bucket" };
  const verify = async (bucket: Bucket, repair?: RepairOptions): Promise<number> => {
    const r = await verifyAndRepair(bucket, {
      issues: cfg.issues,
      ids: cfg.ids,
      logger: log,
      signal: ctx.signal,
      repair,
    });
    log.info("verify completed", {
      issues: cfg.issues.join(","),
      found: r.findings.length,
      ...(repair ? { repaired: r.repaired.size, repair_failed: r.repairFailed.size } : {}),
    });
    return r.repairFailed.size > 0 ? 1 : 0;
  };
  const rep = cfg.repair;
  if (rep === null) return await withBucket(cfg.objstoreConfig, opts, (b) => verify(b));
  await Deno.remove(rep.tmpDir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  await Deno.mkdir(rep.tmpDir, { recursive: true });
  try {
    return await withBucket(
      cfg.objstoreConfig,
      opts,
      (bucket) =>
        withBucket(
          rep.backupConfig,
          { logger: log, component: "backup" },
          (backup) =>
            verify(bucket, {
              backup,
              deleteDelayMs: rep.deleteDelayMs,
              tmpDir: rep.tmpDir,
              logger: log,
              signal: ctx.signal,
            }),
        ),
    );
  } finally {
    await Deno.remove(rep.tmpDir, { recursive: true }).catch(() => undefined);
  }
}

/** `thanos tools bucket mark` */
export async function runBucketMark(cfg: BucketMarkConfig, ctx: RunContext): Promise<number> {
  const log = ctx.logger;
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(120_000)]);
  await withBucket(cfg.objstoreConfig, { logger: log, component: "mark" }, async (bucket) => {
    for (const id of cfg.ids) {
      let exists = false;
      for await (const _ of bucket.iter(`${id}/`, { signal })) {
        exists = true;
        break;
      }
      if (!exists) throw new UsageError(`block ${id} does not exist in the bucket`);
      const name = `${id}/${cfg.marker}`;
      if (cfg.remove) {
        if (await bucket.exists(name, signal)) {
          await bucket.delete(name, signal);
          log.info("removed marker", { block: id, marker: cfg.marker });
        } else {
          log.warn("requested to remove marker, but file does not exist", {
            block: id,
            marker: cfg.marker,
          });
        }
        continue;
      }
      const o = { signal };
      const done = cfg.marker === DELETION_MARK_FILENAME
        ? await markForDeletion(bucket, id, cfg.details, o)
        : cfg.marker === NO_COMPACT_MARK_FILENAME
        ? await markForNoCompact(bucket, id, NO_COMPACT_REASON.manual, cfg.details, o)
        : await markForNoDownsample(bucket, id, "manual", cfg.details, o);
      if (done) log.info("block has been marked", { block: id, marker: cfg.marker });
      else {
        log.warn("requested to mark block, but the marker already exists; kept it", {
          block: id,
          marker: cfg.marker,
        });
      }
    }
    log.info("marking done", { marker: cfg.marker, IDs: cfg.ids.join(",") });
  });
  return 0;
}

/** `thanos tools bucket cleanup`: deletes blocks marked long enough ago, and old partial uploads. */
export async function runBucketCleanup(cfg: BucketSyncConfig, ctx: RunContext): Promise<number> {
  const log = ctx.logger;
  const registry = new Registry();
  await withBucket(cfg.objstoreConfig, { logger: log, component: "cleanup" }, async (bucket) => {
    log.info("syncing blocks metadata");
    // blocks outside the selector are left alone (the label filter runs before the others)
    const synced = await new MetaSyncer(bucket, {
      concurrency: cfg.blockSyncConcurrency,
      relabel: cfg.relabel,
    }).sync(ctx.signal);
    const exclude = new Set(
      [...synced.filtered].filter(([, why]) => why === "label-excluded").map(([id]) => id),
    );
    log.info("synced blocks done");
    // the compactor's cleaner; it never touches a data directory
    const cleaner = new BucketCompactor({
      bucket,
      dataDir: "",
      logger: log,
      registry,
      consistencyDelayMs: cfg.consistencyDelayMs,
      deleteDelayMs: cfg.deleteDelayMs,
    });
    const n = await cleaner.cleanup(ctx.signal, exclude);
    log.info("cleanup done", { deleted: n });
  });
  return 0;
}

/** `thanos tools bucket retention`: marks blocks past their resolution's retention. */
export async function runBucketRetention(
  cfg: BucketRetentionConfig,
  ctx: RunContext,
): Promise<number> {
  const log = ctx.logger;
  const r = cfg.retention;
  for (
    const [what, ms] of [
      ["raw samples", r.raw],
      ["5 min aggregated samples", r.fiveMin],
      ["1 hour aggregated samples", r.oneHour],
    ] as const
  ) {
    if (ms > 0) {
      log.info(`retention policy of ${what} is enabled`, { duration: formatGoDuration(ms) });
    }
  }
  await withBucket(cfg.objstoreConfig, { logger: log, component: "retention" }, async (bucket) => {
    log.info("syncing blocks metadata");
    const synced = await new MetaSyncer(bucket, {
      concurrency: cfg.blockSyncConcurrency,
      relabel: cfg.relabel,
      consistencyDelayMs: cfg.consistencyDelayMs,
      ignoreDeletionMarksDelayMs: cfg.deleteDelayMs / 2,
    }).sync(ctx.signal);
    log.info("synced blocks done");
    log.warn("GLOBAL COMPACTOR SHOULD __NOT__ BE RUNNING ON THE SAME BUCKET");
    await applyRetention(bucket, synced.metas, r, { logger: log, signal: ctx.signal });
  });
  return 0;
}

/**
 * `thanos tools bucket downsample`: downsamples every `--wait-interval` until stopped, serving
 * `/metrics` (thanos_compact_downsample_*) and the probes.
 */
export async function runBucketDownsample(
  cfg: BucketDownsampleConfig,
  ctx: RunContext,
): Promise<number> {
  const log = ctx.logger;
  const signal = ctx.signal;
  const registry = new Registry();
  const probe = new Probe();
  await Deno.mkdir(cfg.dataDir, { recursive: true });
  const opts = { registry, logger: log, component: "downsample" };
  await withBucket(cfg.objstoreConfig, opts, async (bucket) => {
    const metrics = downsampleMetrics(registry);
    const syncer = new MetaSyncer(bucket, { ignoreDeletionMarksDelayMs: 0, registry });
    const http = new HttpServer({
      address: cfg.http.address,
      web: cfg.http.web,
      logger: log,
      registry,
      probe,
    });
    await http.start();
    probe.setReady();
    try {
      while (!signal.aborted) {
        try {
          const { metas } = await syncer.sync(signal);
          log.info("start of a downsampling pass", { blocks: metas.size });
          const { created } = await downsampleBucket(bucket, {
            dir: cfg.dataDir,
            metas,
            logger: log,
            metrics,
            hashFunc: cfg.hashFunc,
            blockFilesConcurrency: cfg.blockFilesConcurrency,
            concurrency: cfg.concurrency,
            signal,
          });
          log.info("downsampling pass done", { created: created.length });
        } catch (e) {
          if (signal.aborted) break;
          log.error("downsampling pass failed; retrying after the wait interval", {
            err: (e as Error).message,
          });
        }
        await sleepUnlessAborted(cfg.waitIntervalMs, signal);
      }
    } finally {
      probe.setNotReady("shutting down");
      await http.shutdown(signal.aborted ? cfg.http.gracePeriodMs : 0);
    }
  });
  return 0;
}

/** Thanos repeats replication every minute unless `--single-run` or `--id` is given. */
const REPLICATE_INTERVAL_MS = 60_000;

/**
 * `thanos tools bucket replicate`: copies the selected blocks from the `--objstore.config`
 * bucket to the `--objstore-to.config` one, once (`--single-run`, `--id`: a failed pass exits
 * 1) or every minute until stopped, serving `/metrics` and the probes meanwhile.
 */
export async function runBucketReplicate(
  cfg: BucketReplicateConfig,
  ctx: RunContext,
): Promise<number> {
  const log = ctx.logger;
  const registry = new Registry();
  const fromOpts = { registry, logger: log, component: "from" };
  const toOpts = { logger: log, component: "to" };
  return await withBucket(
    cfg.objstoreConfig,
    fromOpts,
    (from) =>
      withBucket(cfg.objstoreToConfig, toOpts, (to) => replicate(cfg, ctx, registry, from, to)),
  );
}

async function replicate(
  cfg: BucketReplicateConfig,
  ctx: RunContext,
  registry: Registry,
  from: Bucket,
  to: Bucket,
): Promise<number> {
  const log = ctx.logger;
  const signal = ctx.signal;
  const probe = new Probe();
  const http = new HttpServer({
    address: cfg.http.address,
    web: cfg.http.web,
    logger: log,
    registry,
    probe,
  });
  await http.start();
  probe.setReady();
  const once = cfg.singleRun || cfg.ids.length > 0;
  try {
    log.info("starting replication");
    while (!signal.aborted) {
      try {
        log.info("running replication attempt");
        const r = await replicateBlocks(from, to, {
          ids: cfg.ids,
          matchers: cfg.matchers,
          resolutions: cfg.resolutions,
          compactionLevels: cfg.compactionLevels,
          minTime: cfg.minTime,
          maxTime: cfg.maxTime,
          ignoreMarkedForDeletion: cfg.ignoreMarkedForDeletion,
          logger: log,
          signal,
        });
        log.info("ran replication successfully", {
          replicated: r.copied.length,
          already_replicated: r.skipped.length,
        });
      } catch (e) {
        if (signal.aborted) break;
        log.error("running replication failed", { err: (e as Error).message });
        if (once) return 1;
      }
      if (once) break;
      await sleepUnlessAborted(REPLICATE_INTERVAL_MS, signal);
    }
  } finally {
    probe.setNotReady("shutting down");
    await http.shutdown(signal.aborted ? cfg.http.gracePeriodMs : 0);
  }
  return 0;
}

/**
 * `thanos tools bucket rewrite`: each `--id` block rewritten into a new block (relabelling, then
 * deletions, as Thanos chains them); with `--dry-run` (the default) only the planned changes are
 * logged (and written to change.log with `--rewrite.add-change-log`).
 */
export async function runBucketRewrite(cfg: BucketRewriteConfig, ctx: RunContext): Promise<number> {
  const log = ctx.logger;
  return await withBucket(
    cfg.objstoreConfig,
    { logger: log, component: "rewrite" },
    async (bucket) => {
      await Deno.remove(cfg.tmpDir, { recursive: true }).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
      await Deno.mkdir(cfg.tmpDir, { recursive: true });
      const relabel = new Relabeler(cfg.relabelConfigs);
      for (const id of cfg.ids) {
        if (!(await bucket.exists(`${id}/meta.json`, ctx.signal))) {
          log.error("block does not exist in the bucket", { block: id });
          return 1;
        }
        const r = await rewriteBlock(bucket, id, {
          deletions: cfg.deletions,
          relabel,
          relabelConfigs: cfg.relabelConfigs,
          tmpDir: cfg.tmpDir,
          dryRun: cfg.dryRun,
          deleteBlocks: cfg.deleteBlocks && !cfg.dryRun,
          hashFunc: cfg.hashFunc,
          changeLog: cfg.changeLog,
          promBlocks: cfg.promBlocks,
          logger: log,
          signal: ctx.signal,
        });
        if (!cfg.dryRun) log.info("wrote new block", { source: id, new: r.newId });
      }
      log.info("rewrite done", { IDs: cfg.ids.join(",") });
      return 0;
    },
  );
}

/**
 * `thanos tools bucket web`: the bucket UI (`/blocks`, `/api/v1/blocks`) over the blocks of
 * the bucket (time range and selector applied, duplicates filtered as in Thanos), refreshed
 * every `--refresh` (each refresh bounded by `--timeout`) until stopped.
 */
export async function runBucketWeb(cfg: BucketWebToolConfig, ctx: RunContext): Promise<number> {
  const log = ctx.logger;
  const signal = ctx.signal;
  const registry = new Registry();
  const probe = new Probe();
  // Thanos's advice on the settings (cmd/thanos/tools_bucket.go)
  if (cfg.refreshMs < 5 * 60_000) {
    log.warn("Refreshing more often than 5m could lead to large data transfers");
  }
  if (cfg.timeoutMs < 60_000) log.warn("Timeout less than 1m could lead to frequent failures");
  if (cfg.refreshMs < cfg.timeoutMs * 2) {
    log.warn("Refresh interval should be at least 2 times the timeout");
  }
  const opts = { registry, logger: log, component: "bucket" };
  return await withBucket(cfg.objstoreConfig, opts, async (bucket) => {
    const view = new GlobalBlocksView(bucket, {
      label: cfg.label,
      logger: log,
      minTime: cfg.minTime,
      maxTime: cfg.maxTime,
      relabel: cfg.relabel,
      filterDuplicates: true,
      cors: cfg.web.cors,
      disableAdminOperations: cfg.web.disableAdminOperations,
    });
    const http = new HttpServer({
      address: cfg.http.address,
      web: cfg.http.web,
      logger: log,
      registry,
      probe,
      routePrefix: cfg.web.routePrefix,
    });
    http.add(bucketUiRoutes(view, { ...cfg.web, component: "bucket" }));
    http.add(bucketUiRootRedirect(cfg.web.routePrefix), false);
    await http.start();
    probe.setReady();
    try {
      await view.run(cfg.refreshMs, cfg.timeoutMs, signal);
    } finally {
      probe.setNotReady("shutting down");
      await http.shutdown(signal.aborted ? cfg.http.gracePeriodMs : 0);
    }
    return 0;
  });
}

/**
 * `thanos tools bucket upload-blocks`: one shipper pass over `--path` (blocks not yet in the
 * bucket uploaded, chunks and index first, meta.json last; `thanos.source` = `bucket.upload`,
 * `--label`s as external labels); exit 1 when a block failed.
 */
export async function runBucketUploadBlocks(
  cfg: BucketUploadBlocksConfig,
  ctx: RunContext,
): Promise<number> {
  const log = ctx.logger;
  try {
    if (!(await Deno.stat(cfg.path)).isDirectory) {
      throw new UsageError(`unable to access path '${cfg.path}': not a directory`);
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`unable to access path '${cfg.path}': ${(e as Error).message}`);
  }
  return await withBucket(cfg.objstoreConfig, { logger: log, component: "upload" }, async (b) => {
    const shipper = new Shipper({
      dir: cfg.path,
      bucket: b,
      labels: () => cfg.labels,
      source: "bucket.upload",
      uploadCompacted: cfg.uploadCompacted,
      uploadConcurrency: cfg.uploadConcurrency,
      logger: log,
    });
    try {
      const n = await shipper.sync(ctx.signal);
      log.info("synced blocks", { uploaded: n });
      return 0;
    } catch (e) {
      log.error("unable to sync blocks", { err: (e as Error).message });
      return 1;
    }
  });
}
