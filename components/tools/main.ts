// Run functions of `thanos tools …`.

import { type Flags, parseLabelFlag, UsageError } from "../flags.ts";
import { openBucket } from "../objstore.ts";
import type { RunContext } from "../runtime.ts";
import { bucketInspect, bucketLs, InspectUsageError } from "../../block/inspect.ts";
import { tsdbAnalyze, tsdbDump } from "../../tsdb/promtool.ts";
import { ParseError, parseMetricSelector } from "../../promql/parser.ts";

function timeoutSignal(ctx: RunContext, ms: number): AbortSignal {
  return AbortSignal.any([ctx.signal, AbortSignal.timeout(ms)]);
}

/** `thanos tools bucket ls` */
export async function runBucketLs(flags: Flags, ctx: RunContext): Promise<number> {
  const bucket = await openBucket(flags, { logger: ctx.logger, component: "bucket" });
  try {
    const out = flags.string("output");
    await bucketLs(bucket, {
      output: out === "" ? "text" : out as "text" | "json" | "wide",
      excludeDelete: flags.bool("exclude-delete"),
      signal: timeoutSignal(ctx, flags.duration("timeout")),
      logger: (msg, fields) => ctx.logger.info(msg, fields),
    }, (line) => ctx.stdout(line + "\n"));
  } finally {
    await bucket.close();
  }
  return 0;
}

/** `thanos tools bucket inspect` */
export async function runBucketInspect(flags: Flags, ctx: RunContext): Promise<number> {
  const selector: Record<string, string> = {};
  for (const s of flags.strings("selector")) {
    const [k, v] = parseLabelFlag("selector", s);
    selector[k] = v;
  }
  const bucket = await openBucket(flags, { logger: ctx.logger, component: "bucket" });
  try {
    await bucketInspect(bucket, {
      selector,
      sortBy: flags.strings("sort-by"),
      output: flags.string("output") as "table" | "csv" | "tsv",
      signal: timeoutSignal(ctx, flags.duration("timeout")),
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
export async function runTsdbDump(flags: Flags, ctx: RunContext): Promise<number> {
  let matchers;
  try {
    matchers = parseMetricSelector(flags.string("match"));
  } catch (e) {
    if (e instanceof ParseError) throw new UsageError(`invalid --match: ${e.message}`);
    throw e;
  }
  await tsdbDump(flags.arg(0), {
    minTime: flags.int("min-time"),
    maxTime: flags.int("max-time"),
    matchers,
    signal: ctx.signal,
  }, ctx.stdout);
  return 0;
}

/** `thanos tools tsdb analyze` */
export async function runTsdbAnalyze(flags: Flags, ctx: RunContext): Promise<number> {
  await tsdbAnalyze(flags.arg(0), ctx.stdout, { limit: flags.int("limit") });
  return 0;
}
