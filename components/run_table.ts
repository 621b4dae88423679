// Worker side of the command table: command path → run function. Static imports only, so the
// compiled binary embeds every component.

import type { RunFunction } from "./runtime.ts";
import { runStore } from "./store/main.ts";
import { runBucketInspect, runBucketLs, runTsdbAnalyze, runTsdbDump } from "./tools/main.ts";
import { runQuery } from "./query/main.ts";
import { runSidecar } from "./sidecar/main.ts";

/** Run function of every command, keyed by `commandKey(path)`. */
export const RUN_TABLE: Record<string, RunFunction> = {
  query: runQuery,
  "tools bucket ls": runBucketLs,
  "tools bucket inspect": runBucketInspect,
  "tools tsdb dump": runTsdbDump,
  "tools tsdb analyze": runTsdbAnalyze,
  store: runStore,
  sidecar: runSidecar,
};
