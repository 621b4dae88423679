// Run functions of `thanos tools …`.

import { UsageError } from "../flags.ts";
import { openBucket } from "../objstore.ts";
import type { RunContext } from "../runtime.ts";
import { bucketInspect, bucketLs, InspectUsageError } from "../../block/inspect.ts";
import { tsdbAnalyze, tsdbDump } from "../../tsdb/promtool.ts";
import { ruleFiles } from "../../rules/loader.ts";
import { parseRuleFile, RuleFileError } from "../../rules/rulefmt.ts";
import type {
  BucketInspectConfig,
  BucketLsConfig,
  RulesCheckConfig,
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
