// Run functions of `thanos tools …`.

import { UsageError } from "../flags.ts";
import { openBucket } from "../objstore.ts";
import type { RunContext } from "../runtime.ts";
import { bucketInspect, bucketLs, InspectUsageError } from "../../block/inspect.ts";
import { tsdbAnalyze, tsdbDump } from "../../tsdb/promtool.ts";
import type {
  BucketInspectConfig,
  BucketLsConfig,
  TsdbAnalyzeConfig,
  TsdbDumpConfig,
} from "./config.ts";

function timeoutSignal(ctx: RunContext, ms: number): AbortSignal {
  return AbortSignal.any([ctx.signal, AbortSignal.timeout(ms)]);
}

/** `thanos tools bucket ls` */
export async function runBucketLs(cfg: BucketLsConfig, ctx: RunContext): Promise<number> {
  const bucket = await openBucket(cfg.objstoreConfig, {
    logger: ctx.logger,
    component: "bucket",
  });
  try {
    await bucketLs(bucket, {
      output: cfg.output,
      excludeDelete: cfg.excludeDelete,
      minTime: cfg.minTime,
      maxTime: cfg.maxTime,
      relabel: cfg.relabel,
      signal: timeoutSignal(ctx, cfg.timeoutMs),
      logger: (msg, fields) => ctx.logger.info(msg, fields),
    }, (line) => ctx.stdout(line + "\n"));
  } finally {
    await bucket.close();
  }
  return 0;
}

/** `thanos tools bucket inspect` */
export async function runBucketInspect(
  cfg: BucketInspectConfig,
  ctx: RunContext,
): Promise<number> {
  const bucket = await openBucket(cfg.objstoreConfig, {
    logger: ctx.logger,
    component: "bucket",
  });
  try {
    await bucketInspect(bucket, {
      selector: cfg.selector,
      sortBy: cfg.sortBy,
      output: cfg.output,
      signal: timeoutSignal(ctx, cfg.timeoutMs),
      logger: (msg, fields) => ctx.logger.info(msg, fields),
    }, (line) => ctx.stdout(line + "\n"));
  } catch (e) {
    if (e instanceof InspectUsageError) throw new UsageError(e.message);
    throw e;
  } finally {
    await bucket.close();
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
