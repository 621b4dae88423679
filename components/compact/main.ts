// `thanos compact`: compaction, offline deduplication, downsampling and retention of a bucket
// (https://thanos.io/tip/components/compact.md/). Serves `/metrics`, `/-/healthy` and `/-/ready`
// while it works. One iteration: compact every group until nothing is left, downsample (unless
// `--downsampling.disable`), apply retention, clean up (delete blocks marked for deletion longer
// than `--delete-delay` ago, and old partial uploads). Without `--wait` it exits after one
// iteration; with it, it repeats every `--wait-interval` and cleans up every
// `--compact.cleanup-interval`. A failed iteration is retried after the wait interval. On a group
// problem with `--debug.halt-on-error` it halts like Thanos (thanos_compact_halted 1, keeps
// serving until stopped). SIGTERM aborts the running step and exits 0. With `--wait` (as in
// Thanos) it also serves the bucket web UI (`/blocks`, `/api/v1/blocks`: every block of the
// bucket, refreshed every `--block-viewer.global.sync-block-interval`; `/loaded`,
// `/api/v1/blocks?view=loaded`: the blocks of the compactor's last sync) unless `--web.disable`.

import { type Counter, type Gauge, Registry } from "../../metrics/registry.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import { sleepUnlessAborted } from "../../runutil/sleep.ts";
import { withBucket } from "../objstore.ts";
import type { Bucket } from "../../objstore/bucket.ts";
import { GlobalBlocksView } from "../../block/blocks_view.ts";
import { bucketUiRoutes } from "../../ui/bucket_ui.ts";
import type { RunContext } from "../runtime.ts";
import { BucketCompactor, HaltError } from "../../compact/compactor.ts";
import { compactionRanges } from "../../compact/planner.ts";
import { downsampleBucket, downsampleMetrics } from "../../compact/downsample.ts";
import { applyRetention } from "../../compact/retention.ts";
import {
  computeProgress,
  progressGauges as registerProgressGauges,
  setProgress,
} from "../../compact/progress.ts";
import { DELETION_MARK_FILENAME } from "../../block/markers.ts";
import type { CompactConfig } from "./config.ts";

/** `thanos compact` */
export async function runCompact(cfg: CompactConfig, ctx: RunContext): Promise<number> {
  const log = ctx.logger;
  const registry = new Registry();
  const halted = registry.gauge({
    name: "thanos_compact_halted",
    help: "Set to 1 if the compactor halted due to an unexpected error.",
  });
  halted.set(0);
  const retried = registry.counter({
    name: "thanos_compact_retries_total",
    help: "Total number of retries after retriable compactor error.",
  });
  retried.labels();
  const iterations = registry.counter({
    name: "thanos_compact_iterations_total",
    help: "Total number of iterations that were executed successfully.",
  });
  iterations.labels();
  const cleanups = registry.counter({
    name: "thanos_compact_block_cleanup_loops_total",
    help: "Total number of concurrent cleanup loops of partially uploaded blocks and marked " +
      "blocks that were executed successfully.",
  });
  cleanups.labels();
  registry.gauge({
    name: "thanos_delete_delay_seconds",
    help: "Configured delete delay in seconds.",
  })
    .set(cfg.deleteDelayMs / 1000);

  await Deno.mkdir(cfg.dataDir, { recursive: true });
  const opts = { registry, logger: log, component: "compact" };
  return await withBucket(
    cfg.objstoreConfig,
    opts,
    (bucket) => compactWith(cfg, ctx, registry, bucket, { halted, retried, iterations, cleanups }),
  );
}

async function compactWith(
  cfg: CompactConfig,
  ctx: RunContext,
  registry: Registry,
  bucket: Bucket,
  m: { halted: Gauge; retried: Counter; iterations: Counter; cleanups: Counter },
): Promise<number> {
  const log = ctx.logger;
  const signal = ctx.signal;
  const probe = new Probe();
  const { halted, retried, iterations, cleanups } = m;
  // the bucket UI (Thanos serves it only with --wait): the "global" view, refreshed on its own
  // interval, and the "loaded" view, the blocks of the compactor's last sync
  const webAbort = new AbortController();
  let viewer: Promise<void> = Promise.resolve();
  const view = cfg.wait && !cfg.web.disabled
    ? new GlobalBlocksView(bucket, {
      label: cfg.web.label,
      logger: log,
      concurrency: cfg.metaFetchConcurrency,
      cors: cfg.web.cors,
      disableAdminOperations: cfg.web.disableAdminOperations,
    })
    : undefined;
  const compactor = new BucketCompactor({
    onSync: view ? (metas, err) => view.setLoaded(metas, err) : undefined,
    bucket,
    dataDir: cfg.dataDir,
    logger: log,
    registry,
    consistencyDelayMs: cfg.consistencyDelayMs,
    relabel: cfg.relabel,
    minTime: cfg.minTime,
    maxTime: cfg.maxTime,
    metaFetchConcurrency: cfg.metaFetchConcurrency,
    strategy: cfg.discoveryStrategy,
    ranges: compactionRanges(cfg.maxCompactionLevel),
    concurrency: cfg.concurrency,
    blocksFetchConcurrency: cfg.blocksFetchConcurrency,
    blockFilesConcurrency: cfg.blockFilesConcurrency,
    enableVerticalCompaction: cfg.enableVerticalCompaction,
    replicaLabels: cfg.replicaLabels,
    dedupFunc: cfg.dedupFunc,
    haltOnError: cfg.haltOnError,
    deleteDelayMs: cfg.deleteDelayMs,
    hashFunc: cfg.hashFunc,
    maxBlockIndexSize: cfg.maxBlockIndexSize,
    skipOutOfOrderChunks: cfg.skipOutOfOrderChunks,
  });
  const dsMetrics = downsampleMetrics(registry);
  const http = new HttpServer({
    address: cfg.http.address,
    web: cfg.http.web,
    logger: log,
    registry,
    probe,
    routePrefix: cfg.web.routePrefix,
  });
  if (view) http.add(bucketUiRoutes(view, { ...cfg.web, component: "compact" }));
  await http.start();
  if (view) {
    // started once the server is up, stopped with it (finally below)
    const stop = AbortSignal.any([signal, webAbort.signal]);
    viewer = view.run(cfg.web.syncIntervalMs, cfg.web.syncTimeoutMs, stop);
  }
  probe.setReady();
  log.info("starting compact node", {
    http_address: `${cfg.http.address.hostname}:${cfg.http.address.port}`,
  });

  let cleaning: Promise<void> = Promise.resolve();
  const cleanup = () => {
    // one cleanup at a time; never concurrently with itself
    cleaning = cleaning.then(async () => {
      try {
        const n = await compactor.cleanup(signal);
        cleanups.inc();
        if (n > 0) log.info("cleaned up blocks", { deleted: n });
      } catch (e) {
        if (!signal.aborted) log.error("cleanup failed", { err: (e as Error).message });
      }
    });
    return cleaning;
  };

  const iteration = async () => {
    const began = performance.now();
    log.info("start sync of metas and compaction iteration");
    const res = await compactor.compact(signal);
    log.info("compaction iterations done", {
      compactions: res.compactions,
      problem_groups: res.problemGroups.join(","),
      duration: `${((performance.now() - began) / 1000).toFixed(3)}s`,
    });
    if (!cfg.downsamplingDisabled) {
      log.info("start first pass of downsampling");
      await downsampleBucket(bucket, {
        dir: `${cfg.dataDir}/downsample`,
        metas: await compactor.syncMetas(signal),
        logger: log,
        metrics: dsMetrics,
        hashFunc: cfg.hashFunc,
        blockFilesConcurrency: cfg.blockFilesConcurrency,
        concurrency: cfg.downsampleConcurrency,
        signal,
      });
      log.info("downsampling iterations done");
    } else {
      log.info("downsampling was explicitly disabled");
    }
    const r = cfg.retention;
    if (r.raw > 0 || r.fiveMin > 0 || r.oneHour > 0) {
      await applyRetention(bucket, await compactor.syncMetas(signal), r, {
        logger: log,
        counter: compactor.metrics.blocksMarked.with({
          marker: DELETION_MARK_FILENAME,
          reason: "",
        }),
        signal,
      });
    }
    await cleanup();
    iterations.inc();
    if (cfg.wait && cfg.progressIntervalMs > 0) {
      // what is left after this iteration's retention and cleanup
      await compactor.syncMetas(signal);
      progress();
    }
  };

  // --compact.progress-interval: work left, from the last synced metas (no bucket access)
  const progressGauges = registerProgressGauges(registry, compactor.metrics.todoCompactions);
  const progress = () => {
    const last = compactor.lastSync;
    if (last === null) return;
    try {
      const p = computeProgress(last.metas, {
        ranges: compactionRanges(cfg.maxCompactionLevel),
        replicaLabels: cfg.replicaLabels,
        noCompact: last.noCompact,
        downsampling: !cfg.downsamplingDisabled,
        retention: cfg.retention,
        now: Date.now(),
      });
      setProgress(progressGauges, p);
      log.info("progress calculated", {
        todo_compactions: p.compactions,
        todo_compaction_blocks: p.compactionBlocks,
        todo_downsample_blocks: p.downsampleBlocks,
        todo_deletion_blocks: p.deletionBlocks,
      });
    } catch (e) {
      log.error("could not calculate progress", { err: (e as Error).message });
    }
  };

  let code = 0;
  let cleanupTimer: ReturnType<typeof setInterval> | undefined;
  let progressTimer: ReturnType<typeof setInterval> | undefined;
  try {
    if (cfg.wait && cfg.cleanupIntervalMs > 0) {
      cleanupTimer = setInterval(() => void cleanup(), cfg.cleanupIntervalMs);
    }
    if (cfg.wait && cfg.progressIntervalMs > 0) {
      progressTimer = setInterval(progress, cfg.progressIntervalMs);
    }
    while (!signal.aborted) {
      try {
        await iteration();
        if (!cfg.wait) break;
      } catch (e) {
        if (signal.aborted) break;
        if (e instanceof HaltError) {
          log.error("critical error detected; halting", { err: e.message });
          halted.set(1);
          if (cleanupTimer !== undefined) clearInterval(cleanupTimer);
          if (progressTimer !== undefined) clearInterval(progressTimer);
          // like Thanos: stay up (for /metrics and alerting) until stopped
          await sleepUnlessAborted(2 ** 31 - 1, signal);
          break;
        }
        log.error("retriable error", { err: (e as Error).message });
        if (!cfg.wait) {
          code = 1;
          break;
        }
        retried.inc();
      }
      await sleepUnlessAborted(cfg.waitIntervalMs, signal);
    }
  } finally {
    if (cleanupTimer !== undefined) clearInterval(cleanupTimer);
    if (progressTimer !== undefined) clearInterval(progressTimer);
    await cleaning.catch(() => undefined);
    probe.setNotReady("shutting down");
    if (signal.aborted) {
      log.info("shutting down the compactor", { reason: String(signal.reason ?? "") });
    }
    webAbort.abort();
    await viewer.catch(() => undefined);
    await http.shutdown(signal.aborted ? cfg.http.gracePeriodMs : 0);
  }
  log.info("compactor stopped", { exit_code: code });
  return code;
}
