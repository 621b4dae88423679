// Flag tables of `thanos tools …` (https://thanos.io/tip/components/tools.md/; `tools tsdb`
// follows promtool's, https://prometheus.io/docs/prometheus/latest/command-line/promtool/).

import {
  type CommandSpec,
  defineCommand,
  type FlagName,
  GOMEMLIMIT_FLAGS,
  LOG_FLAGS,
  OBJSTORE_READ_FLAGS,
  TRACING_FLAGS,
  YAML_ENV,
} from "../flags.ts";
import type { BucketInspectOptions, BucketLsOptions } from "../../block/inspect.ts";

/** The values of `tools bucket ls --output` ("" is the default, text). */
export const LS_OUTPUTS = ["", "text", "json", "wide"] as const satisfies readonly (
  | ""
  | BucketLsOptions["output"]
)[];

/** The values of `tools bucket inspect --output`. */
export const INSPECT_OUTPUTS = ["table", "tsv", "csv"] as const satisfies readonly NonNullable<
  BucketInspectOptions["output"]
>[];

/** `thanos tools tsdb dump` */
export const TSDB_DUMP = defineCommand({
  path: ["tools", "tsdb", "dump"],
  help: "Dump samples from a TSDB data directory or block, in promtool's format.",
  flags: [
    {
      name: "min-time",
      kind: "int",
      default: "-9223372036854775808",
      help: "Minimum timestamp to dump (milliseconds).",
    },
    {
      name: "max-time",
      kind: "int",
      default: "9223372036854775807",
      help: "Maximum timestamp to dump (milliseconds).",
    },
    {
      name: "match",
      kind: "string",
      default: "{__name__=~'(?s:.*)'}",
      help: "Series selector.",
    },
  ],
  args: [{
    name: "db path",
    help: "Data directory or block directory.",
    required: true,
    grants: "read",
  }],
});

/** `thanos tools tsdb analyze` */
export const TSDB_ANALYZE = defineCommand({
  path: ["tools", "tsdb", "analyze"],
  help: "Analyze churn, label pair cardinality and compaction efficiency of a block.",
  flags: [
    { name: "limit", kind: "int", default: "20", help: "How many items to show in each list." },
  ],
  args: [{ name: "block dir", help: "Block directory.", required: true, grants: "read" }],
});

/** `thanos tools bucket ls` */
export const BUCKET_LS = defineCommand({
  path: ["tools", "bucket", "ls"],
  help: "List all blocks in the bucket.",
  env: YAML_ENV,
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...OBJSTORE_READ_FLAGS,
    {
      name: "selector.relabel-config-file",
      kind: "string",
      help: "Path to YAML file with relabeling configuration that allows selecting blocks to " +
        "act on based on their external labels (https://thanos.io/tip/thanos/sharding.md/#relabelling).",
      grants: "read-file",
    },
    {
      name: "selector.relabel-config",
      kind: "string",
      help: "Alternative to 'selector.relabel-config-file' flag (mutually exclusive). Content " +
        "of YAML file with relabeling configuration.",
    },
    {
      name: "min-time",
      kind: "time",
      default: "0000-01-01T00:00:00Z",
      help: "Start of time range limit to list blocks: RFC3339 or a duration relative to now " +
        "(-1d, 2h45m).",
    },
    {
      name: "max-time",
      kind: "time",
      default: "9999-12-31T23:59:59Z",
      help: "End of time range limit to list blocks: RFC3339 or a duration relative to now " +
        "(-1d, 2h45m).",
    },
    {
      name: "output",
      short: "o",
      kind: "enum",
      choices: LS_OUTPUTS,
      default: "",
      help: "Optional format in which to print each block's information: json, wide.",
    },
    {
      name: "exclude-delete",
      kind: "bool",
      default: "false",
      help: "Exclude blocks marked for deletion.",
    },
    { name: "timeout", kind: "duration", default: "5m", help: "Timeout to download metadata." },
  ],
});

/** `thanos tools bucket inspect` */
export const BUCKET_INSPECT = defineCommand({
  path: ["tools", "bucket", "inspect"],
  help: "Inspect all blocks in the bucket in detailed, table-like way.",
  env: YAML_ENV,
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...OBJSTORE_READ_FLAGS,
    {
      name: "selector",
      short: "l",
      kind: "string",
      repeatable: true,
      help: 'Selects blocks based on label, e.g. \'-l key1="value1" -l key2="value2"\'.',
    },
    {
      name: "sort-by",
      kind: "string",
      repeatable: true,
      defaults: ["FROM", "UNTIL"],
      help: "Sort by columns. It's also possible to sort by multiple columns, e.g. " +
        "'--sort-by FROM --sort-by UNTIL'.",
    },
    {
      name: "output",
      kind: "enum",
      choices: INSPECT_OUTPUTS,
      default: "table",
      help: "Output format for result.",
    },
    { name: "timeout", kind: "duration", default: "5m", help: "Timeout to download metadata." },
  ],
});

/** `thanos tools rules-check` */
export const RULES_CHECK = defineCommand({
  path: ["tools", "rules-check"],
  help: "Check if the rule files are valid or not.",
  flags: [
    ...LOG_FLAGS,
    {
      name: "rules",
      kind: "string",
      repeatable: true,
      required: true,
      help: "The rule files glob to check (repeated).",
      grants: "read-glob",
    },
  ],
});

/** Flag names of each `tools` command. */
export type TsdbDumpFlag = FlagName<typeof TSDB_DUMP>;
export type TsdbAnalyzeFlag = FlagName<typeof TSDB_ANALYZE>;
export type BucketLsFlag = FlagName<typeof BUCKET_LS>;
export type BucketInspectFlag = FlagName<typeof BUCKET_INSPECT>;
export type RulesCheckFlag = FlagName<typeof RULES_CHECK>;

/** Every `tools` command. */
export const TOOLS_COMMANDS: readonly CommandSpec[] = [
  TSDB_DUMP,
  TSDB_ANALYZE,
  BUCKET_LS,
  BUCKET_INSPECT,
  RULES_CHECK,
];
