// Worker side of the command table: command path → run function. Each role's flags are read once
// into its typed config (`components/<role>/config.ts`) before its `main.ts` assembles it. A role's
// config and main modules are imported (literal `import()`s, which the compiled binary embeds) only
// when that role runs, so the role's Worker compiles and holds its own module graph, not every
// role's (README "Issue 19, memory: one role's modules").

import type { CommandSpec, Flags } from "./flags.ts";
import { roleRun, type RunContext, type RunFunction } from "./runtime.ts";
import { STORE_COMMAND } from "./store/flags.ts";
import {
  BUCKET_CLEANUP,
  BUCKET_DOWNSAMPLE,
  BUCKET_INSPECT,
  BUCKET_LS,
  BUCKET_MARK,
  BUCKET_REPLICATE,
  BUCKET_RETENTION,
  BUCKET_REWRITE,
  BUCKET_UPLOAD_BLOCKS,
  BUCKET_VERIFY,
  BUCKET_WEB,
  RULES_CHECK,
  TSDB_ANALYZE,
  TSDB_DUMP,
} from "./tools/flags.ts";
import { QUERY_COMMAND } from "./query/flags.ts";
import { SIDECAR_COMMAND } from "./sidecar/flags.ts";
import { RECEIVE_COMMAND } from "./receive/flags.ts";
import { COMPACT_COMMAND } from "./compact/flags.ts";
import { QUERY_FRONTEND_COMMAND } from "./query-frontend/flags.ts";
import { RULE_COMMAND } from "./rule/flags.ts";

/**
 * The run function of a role whose config and main modules `load` imports on its first run; a
 * config error still rejects the returned promise before the role starts.
 */
function lazyRole<N extends string, C>(
  spec: CommandSpec<N>,
  load: () => Promise<
    [(flags: Flags<N>) => C, (cfg: C, ctx: RunContext) => Promise<number>]
  >,
): RunFunction {
  return async (flags, ctx) => {
    const [config, run] = await load();
    return await roleRun(spec, config, run)(flags, ctx);
  };
}

const toolsConfig = () => import("./tools/config.ts");
const toolsMain = () => import("./tools/main.ts");

/** Run function of every command, keyed by `commandKey(path)`. */
export const RUN_TABLE: Record<string, RunFunction> = {
  query: lazyRole(QUERY_COMMAND, async () => [
    (await import("./query/config.ts")).queryConfig,
    (await import("./query/main.ts")).runQuery,
  ]),
  "tools bucket ls": lazyRole(
    BUCKET_LS,
    async () => [(await toolsConfig()).bucketLsConfig, (await toolsMain()).runBucketLs],
  ),
  "tools bucket inspect": lazyRole(
    BUCKET_INSPECT,
    async () => [(await toolsConfig()).bucketInspectConfig, (await toolsMain()).runBucketInspect],
  ),
  "tools bucket verify": lazyRole(
    BUCKET_VERIFY,
    async () => [(await toolsConfig()).bucketVerifyConfig, (await toolsMain()).runBucketVerify],
  ),
  "tools bucket mark": lazyRole(
    BUCKET_MARK,
    async () => [(await toolsConfig()).bucketMarkConfig, (await toolsMain()).runBucketMark],
  ),
  "tools bucket cleanup": lazyRole(
    BUCKET_CLEANUP,
    async () => [(await toolsConfig()).bucketCleanupConfig, (await toolsMain()).runBucketCleanup],
  ),
  "tools bucket retention": lazyRole(
    BUCKET_RETENTION,
    async () => [
      (await toolsConfig()).bucketRetentionConfig,
      (await toolsMain()).runBucketRetention,
    ],
  ),
  "tools bucket downsample": lazyRole(
    BUCKET_DOWNSAMPLE,
    async () => [
      (await toolsConfig()).bucketDownsampleConfig,
      (await toolsMain()).runBucketDownsample,
    ],
  ),
  "tools bucket replicate": lazyRole(
    BUCKET_REPLICATE,
    async () => [
      (await toolsConfig()).bucketReplicateConfig,
      (await toolsMain()).runBucketReplicate,
    ],
  ),
  "tools bucket rewrite": lazyRole(
    BUCKET_REWRITE,
    async () => [(await toolsConfig()).bucketRewriteConfig, (await toolsMain()).runBucketRewrite],
  ),
  "tools bucket web": lazyRole(
    BUCKET_WEB,
    async () => [(await toolsConfig()).bucketWebToolConfig, (await toolsMain()).runBucketWeb],
  ),
  "tools bucket upload-blocks": lazyRole(
    BUCKET_UPLOAD_BLOCKS,
    async () => [
      (await toolsConfig()).bucketUploadBlocksConfig,
      (await toolsMain()).runBucketUploadBlocks,
    ],
  ),
  "tools tsdb dump": lazyRole(
    TSDB_DUMP,
    async () => [(await toolsConfig()).tsdbDumpConfig, (await toolsMain()).runTsdbDump],
  ),
  "tools tsdb analyze": lazyRole(
    TSDB_ANALYZE,
    async () => [(await toolsConfig()).tsdbAnalyzeConfig, (await toolsMain()).runTsdbAnalyze],
  ),
  "tools rules-check": lazyRole(
    RULES_CHECK,
    async () => [(await toolsConfig()).rulesCheckConfig, (await toolsMain()).runRulesCheck],
  ),
  store: lazyRole(STORE_COMMAND, async () => [
    (await import("./store/config.ts")).storeConfig,
    (await import("./store/main.ts")).runStore,
  ]),
  sidecar: lazyRole(SIDECAR_COMMAND, async () => [
    (await import("./sidecar/config.ts")).sidecarConfig,
    (await import("./sidecar/main.ts")).runSidecar,
  ]),
  receive: lazyRole(RECEIVE_COMMAND, async () => [
    (await import("./receive/config.ts")).receiveConfig,
    (await import("./receive/main.ts")).runReceive,
  ]),
  compact: lazyRole(COMPACT_COMMAND, async () => [
    (await import("./compact/config.ts")).compactConfig,
    (await import("./compact/main.ts")).runCompact,
  ]),
  "query-frontend": lazyRole(QUERY_FRONTEND_COMMAND, async () => [
    (await import("./query-frontend/config.ts")).queryFrontendConfig,
    (await import("./query-frontend/main.ts")).runQueryFrontend,
  ]),
  rule: lazyRole(RULE_COMMAND, async () => [
    (await import("./rule/config.ts")).ruleConfig,
    (await import("./rule/main.ts")).runRule,
  ]),
};
