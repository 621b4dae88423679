// Worker side of the command table: command path → run function. Static imports only, so the
// compiled binary embeds every component. Each role's flags are read once into its typed config
// (`components/<role>/config.ts`) before its `main.ts` assembles it.

import { roleRun, type RunFunction } from "./runtime.ts";
import { STORE_COMMAND } from "./store/flags.ts";
import { storeConfig } from "./store/config.ts";
import { runStore } from "./store/main.ts";
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
import {
  bucketCleanupConfig,
  bucketDownsampleConfig,
  bucketInspectConfig,
  bucketLsConfig,
  bucketMarkConfig,
  bucketReplicateConfig,
  bucketRetentionConfig,
  bucketRewriteConfig,
  bucketUploadBlocksConfig,
  bucketVerifyConfig,
  bucketWebToolConfig,
  rulesCheckConfig,
  tsdbAnalyzeConfig,
  tsdbDumpConfig,
} from "./tools/config.ts";
import {
  runBucketCleanup,
  runBucketDownsample,
  runBucketInspect,
  runBucketLs,
  runBucketMark,
  runBucketReplicate,
  runBucketRetention,
  runBucketRewrite,
  runBucketUploadBlocks,
  runBucketVerify,
  runBucketWeb,
  runRulesCheck,
  runTsdbAnalyze,
  runTsdbDump,
} from "./tools/main.ts";
import { QUERY_COMMAND } from "./query/flags.ts";
import { queryConfig } from "./query/config.ts";
import { runQuery } from "./query/main.ts";
import { SIDECAR_COMMAND } from "./sidecar/flags.ts";
import { sidecarConfig } from "./sidecar/config.ts";
import { runSidecar } from "./sidecar/main.ts";
import { RECEIVE_COMMAND } from "./receive/flags.ts";
import { receiveConfig } from "./receive/config.ts";
import { runReceive } from "./receive/main.ts";
import { COMPACT_COMMAND } from "./compact/flags.ts";
import { compactConfig } from "./compact/config.ts";
import { runCompact } from "./compact/main.ts";
import { QUERY_FRONTEND_COMMAND } from "./query-frontend/flags.ts";
import { queryFrontendConfig } from "./query-frontend/config.ts";
import { runQueryFrontend } from "./query-frontend/main.ts";
import { RULE_COMMAND } from "./rule/flags.ts";
import { ruleConfig } from "./rule/config.ts";
import { runRule } from "./rule/main.ts";

/** Run function of every command, keyed by `commandKey(path)`. */
export const RUN_TABLE: Record<string, RunFunction> = {
  query: roleRun(QUERY_COMMAND, queryConfig, runQuery),
  "tools bucket ls": roleRun(BUCKET_LS, bucketLsConfig, runBucketLs),
  "tools bucket inspect": roleRun(BUCKET_INSPECT, bucketInspectConfig, runBucketInspect),
  "tools bucket verify": roleRun(BUCKET_VERIFY, bucketVerifyConfig, runBucketVerify),
  "tools bucket mark": roleRun(BUCKET_MARK, bucketMarkConfig, runBucketMark),
  "tools bucket cleanup": roleRun(BUCKET_CLEANUP, bucketCleanupConfig, runBucketCleanup),
  "tools bucket retention": roleRun(BUCKET_RETENTION, bucketRetentionConfig, runBucketRetention),
  "tools bucket downsample": roleRun(
    BUCKET_DOWNSAMPLE,
    bucketDownsampleConfig,
    runBucketDownsample,
  ),
  "tools bucket replicate": roleRun(
    BUCKET_REPLICATE,
    bucketReplicateConfig,
    runBucketReplicate,
  ),
  "tools bucket rewrite": roleRun(BUCKET_REWRITE, bucketRewriteConfig, runBucketRewrite),
  "tools bucket web": roleRun(BUCKET_WEB, bucketWebToolConfig, runBucketWeb),
  "tools bucket upload-blocks": roleRun(
    BUCKET_UPLOAD_BLOCKS,
    bucketUploadBlocksConfig,
    runBucketUploadBlocks,
  ),
  "tools tsdb dump": roleRun(TSDB_DUMP, tsdbDumpConfig, runTsdbDump),
  "tools tsdb analyze": roleRun(TSDB_ANALYZE, tsdbAnalyzeConfig, runTsdbAnalyze),
  "tools rules-check": roleRun(RULES_CHECK, rulesCheckConfig, runRulesCheck),
  store: roleRun(STORE_COMMAND, storeConfig, runStore),
  sidecar: roleRun(SIDECAR_COMMAND, sidecarConfig, runSidecar),
  receive: roleRun(RECEIVE_COMMAND, receiveConfig, runReceive),
  compact: roleRun(COMPACT_COMMAND, compactConfig, runCompact),
  "query-frontend": roleRun(QUERY_FRONTEND_COMMAND, queryFrontendConfig, runQueryFrontend),
  rule: roleRun(RULE_COMMAND, ruleConfig, runRule),
};
