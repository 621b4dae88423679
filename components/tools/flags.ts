// Flag tables of `thanos tools …` (https://thanos.io/tip/components/tools.md/; `tools tsdb`
// follows promtool's, https://prometheus.io/docs/prometheus/latest/command-line/promtool/).

import {
  BUCKET_UI_PREFIX_FLAGS,
  type CommandSpec,
  defineCommand,
  defineFlags,
  type FlagName,
  GOMEMLIMIT_FLAGS,
  HTTP_CONFIG_FLAGS,
  httpFlags,
  LOG_FLAGS,
  OBJSTORE_FLAGS,
  OBJSTORE_READ_FLAGS,
  RETENTION_FLAGS,
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
  env: YAML_ENV,
  help: "Check if the rule files are valid or not.",
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
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

// ---------------------------------------------------------------------------------------------
// `tools bucket verify|mark|cleanup|retention|downsample`: the compactor's code (compact/) run by
// hand (https://thanos.io/tip/components/tools.md/#bucket, Thanos v0.42 flags and defaults).

/** `--selector.relabel-config-file`, `--selector.relabel-config` (cleanup, retention). */
const SELECTOR_FLAGS = defineFlags([
  {
    name: "selector.relabel-config-file",
    kind: "string",
    help: "Path to YAML file with relabeling configuration that allows selecting blocks to act " +
      "on based on their external labels. It follows thanos sharding relabel-config syntax.",
    grants: "read-file",
  },
  {
    name: "selector.relabel-config",
    kind: "string",
    help: "Alternative to 'selector.relabel-config-file' flag (mutually exclusive). Content of " +
      "YAML file with relabeling configuration that allows selecting blocks to act on based on " +
      "their external labels.",
  },
]);

/** `--delete-delay`, `--consistency-delay`, `--block-sync-concurrency` (cleanup, retention). */
const SYNC_FLAGS = defineFlags([
  {
    name: "delete-delay",
    kind: "duration",
    default: "48h",
    help: "Time before a block marked for deletion is deleted from bucket.",
  },
  {
    name: "consistency-delay",
    kind: "duration",
    default: "30m",
    help: "Minimum age of fresh (non-compacted) blocks before they are being processed. " +
      "Malformed blocks older than the maximum of consistency-delay and 48h0m0s will be removed.",
  },
  {
    name: "block-sync-concurrency",
    kind: "int",
    default: "20",
    help: "Number of goroutines to use when syncing block metadata from object storage.",
  },
]);

/** `thanos tools bucket verify` */
export const BUCKET_VERIFY = defineCommand({
  path: ["tools", "bucket", "verify"],
  env: YAML_ENV,
  help: "Verify all blocks in the bucket against specified issues. NOTE: Depending on issue " +
    "this might take time and will need downloading all specified blocks to disk.",
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...OBJSTORE_FLAGS,
    {
      name: "objstore-backup.config-file",
      kind: "string",
      help: "Path to YAML file that contains object store-backup configuration. Used for " +
        "repair logic to backup blocks before removal.",
      grants: "objstore-file",
    },
    {
      name: "objstore-backup.config",
      kind: "string",
      help: "Alternative to 'objstore-backup.config-file' flag (mutually exclusive). Content " +
        "of YAML file that contains object store-backup configuration. Used for repair logic " +
        "to backup blocks before removal.",
      grants: "objstore",
    },
    {
      name: "repair",
      short: "r",
      kind: "bool",
      default: "false",
      help: "Attempt to repair blocks for which issues were detected",
    },
    {
      name: "issues",
      short: "i",
      kind: "string",
      repeatable: true,
      defaults: ["index_known_issues", "overlapped_blocks"],
      help: "Issues to verify (and optionally repair). Possible issue to verify, without " +
        "repair: [overlapped_blocks]; Possible issue to verify and repair: " +
        "[index_known_issues duplicated_compaction]",
    },
    {
      name: "id",
      kind: "string",
      repeatable: true,
      help: "Block IDs to verify (and optionally repair) only. If none is specified, all " +
        "blocks will be verified. Repeated field",
    },
    {
      name: "delete-delay",
      kind: "duration",
      default: "0s",
      help: "Duration after which blocks marked for deletion would be deleted permanently from " +
        "source bucket by compactor component. If delete-delay is non zero, blocks will be " +
        "marked for deletion and compactor component is required to delete blocks from source " +
        "bucket. If delete-delay is 0, blocks will be deleted straight away.",
    },
    {
      name: "repair.tmp-dir",
      kind: "string",
      default: "/tmp/thanos-verify-repair",
      hidden: true,
      help: "Working directory of --repair (blocks are downloaded and rewritten there; emptied " +
        "at start). Not a Thanos flag (Thanos uses the system's temp directory).",
      grants: "write",
    },
  ],
});

/** The values of `tools bucket mark --marker`. */
export const MARKERS = [
  "deletion-mark.json",
  "no-compact-mark.json",
  "no-downsample-mark.json",
] as const;

/** `thanos tools bucket mark` */
export const BUCKET_MARK = defineCommand({
  path: ["tools", "bucket", "mark"],
  env: YAML_ENV,
  help: "Mark block for deletion or no-compact in a safe way. NOTE: If the compactor is " +
    "currently running compacting same block, this operation would be potentially a noop.",
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...OBJSTORE_FLAGS,
    {
      name: "id",
      kind: "string",
      repeatable: true,
      required: true,
      help: "ID (ULID) of the blocks to be marked for deletion (repeated flag).",
    },
    {
      name: "marker",
      kind: "enum",
      choices: MARKERS,
      required: true,
      help: "Marker to be put.",
    },
    { name: "details", kind: "string", help: "Human readable details to be put into marker." },
    { name: "remove", kind: "bool", default: "false", help: "Remove the marker." },
  ],
});

/** `thanos tools bucket cleanup` */
export const BUCKET_CLEANUP = defineCommand({
  path: ["tools", "bucket", "cleanup"],
  env: YAML_ENV,
  help: "Cleans up all blocks marked for deletion.",
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...OBJSTORE_FLAGS,
    ...SYNC_FLAGS,
    ...SELECTOR_FLAGS,
  ],
});

/** `thanos tools bucket retention` */
export const BUCKET_RETENTION = defineCommand({
  path: ["tools", "bucket", "retention"],
  env: YAML_ENV,
  help: "Retention applies retention policies on the given bucket. Please make sure no " +
    "compactor is running on the same bucket at the same time.",
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...OBJSTORE_FLAGS,
    ...SYNC_FLAGS,
    ...SELECTOR_FLAGS,
    ...RETENTION_FLAGS,
  ],
});

/** `thanos tools bucket downsample` */
export const BUCKET_DOWNSAMPLE = defineCommand({
  path: ["tools", "bucket", "downsample"],
  env: YAML_ENV,
  help: "Continuously downsamples blocks in an object store bucket.",
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...OBJSTORE_FLAGS,
    ...httpFlags("0.0.0.0:10902"),
    {
      name: "wait-interval",
      kind: "duration",
      default: "5m",
      help: "Wait interval between downsample runs.",
    },
    {
      name: "downsample.concurrency",
      kind: "int",
      default: "1",
      help: "Number of goroutines to use when downsampling blocks.",
    },
    {
      name: "block-files-concurrency",
      kind: "int",
      default: "1",
      help: "Number of goroutines to use when fetching/uploading block files from object storage.",
    },
    {
      name: "data-dir",
      kind: "string",
      default: "./data",
      help: "Data directory in which to cache blocks and process downsamplings.",
      grants: "write",
    },
    {
      name: "hash-func",
      kind: "enum",
      choices: ["", "SHA256"],
      default: "",
      help: "Specify which hash function to use when calculating the hashes of produced files. " +
        'If no function has been specified, it does not happen. Possible values are: "", ' +
        '"SHA256".',
    },
  ],
});

/** `thanos tools bucket replicate` */
export const BUCKET_REPLICATE = defineCommand({
  path: ["tools", "bucket", "replicate"],
  env: YAML_ENV,
  help: "Replicate data from one object storage to another. NOTE: Currently it works only " +
    "with Thanos blocks (meta.json has to have Thanos metadata).",
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...OBJSTORE_READ_FLAGS,
    ...httpFlags("0.0.0.0:10902"),
    {
      name: "objstore-to.config-file",
      kind: "string",
      help: "Path to YAML file that contains object store-to configuration. The object " +
        "storage which replicate data to.",
      grants: "objstore-file",
    },
    {
      name: "objstore-to.config",
      kind: "string",
      help: "Alternative to 'objstore-to.config-file' flag (mutually exclusive). Content of " +
        "YAML file that contains object store-to configuration.",
      grants: "objstore",
    },
    {
      name: "resolution",
      kind: "string",
      repeatable: true,
      defaults: ["0s", "5m", "1h"],
      help: "Only blocks with these resolutions will be replicated. Repeated flag.",
    },
    {
      name: "compaction-min",
      kind: "int",
      default: "1",
      help: "Only blocks with at least this compaction level will be replicated.",
    },
    {
      name: "compaction-max",
      kind: "int",
      default: "4",
      help: "Only blocks up to a maximum of this compaction level will be replicated.",
    },
    {
      name: "compaction",
      kind: "string",
      repeatable: true,
      help: "Only blocks with these compaction levels will be replicated. Repeated flag. " +
        "Overrides compaction-min and compaction-max if set.",
    },
    {
      name: "matcher",
      kind: "string",
      help: "blocks whose external labels match this matcher will be replicated. All " +
        "Prometheus matchers are supported, including =, !=, =~ and !~.",
    },
    {
      name: "single-run",
      kind: "bool",
      default: "false",
      help: "Run replication only one time, then exit.",
    },
    {
      name: "min-time",
      kind: "time",
      default: "0000-01-01T00:00:00Z",
      help: "Start of time range limit to replicate: RFC3339 or a duration relative to now " +
        "(-1d, 2h45m).",
    },
    {
      name: "max-time",
      kind: "time",
      default: "9999-12-31T23:59:59Z",
      help: "End of time range limit to replicate: RFC3339 or a duration relative to now " +
        "(-1d, 2h45m).",
    },
    {
      name: "id",
      kind: "string",
      repeatable: true,
      help: "Block to be replicated to the destination bucket. IDs will be used to match " +
        "blocks and other matchers will be ignored. When specified, this command will be run " +
        "only once after successful replication. Repeated field",
    },
    {
      name: "ignore-marked-for-deletion",
      kind: "bool",
      default: "false",
      help: "Do not replicate blocks that have deletion mark.",
    },
  ],
});

/** `thanos tools bucket rewrite` */
export const BUCKET_REWRITE = defineCommand({
  path: ["tools", "bucket", "rewrite"],
  env: YAML_ENV,
  help: "Rewrite chosen blocks in the bucket, while deleting or modifying series. Resulted " +
    "block has modified stats in meta.json. Additionally compaction.sources are altered to not " +
    "confuse readers of meta.json. Instead thanos.rewrite section is added with useful info " +
    "like old sources and deletion requests. NOTE: It's recommended to turn off compactor " +
    "while doing this operation.",
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...OBJSTORE_FLAGS,
    {
      name: "id",
      kind: "string",
      repeatable: true,
      required: true,
      help: "ID (ULID) of the blocks for rewrite (repeated flag).",
    },
    {
      name: "tmp.dir",
      kind: "string",
      default: "/tmp/thanos-rewrite",
      help: "Working directory for temporary files",
      grants: "write",
    },
    {
      name: "dry-run",
      kind: "bool",
      default: "true",
      help: "Prints the series changes instead of doing them. Defaults to true, for user to " +
        "double check. (: Pass --no-dry-run to skip this.",
    },
    {
      name: "delete-blocks",
      kind: "bool",
      default: "false",
      help: "Whether to delete the original blocks after rewriting blocks successfully. " +
        "Available in non dry-run mode only.",
    },
    {
      name: "hash-func",
      kind: "enum",
      choices: ["", "SHA256"],
      default: "",
      help: "Specify which hash function to use when calculating the hashes of produced files. " +
        'If no function has been specified, it does not happen. Possible values are: "", ' +
        '"SHA256".',
    },
    {
      name: "prom-blocks",
      kind: "bool",
      default: "false",
      help: "If specified, we assume the blocks to be uploaded are only used with Prometheus so " +
        "we don't check external labels in this case.",
    },
    {
      name: "rewrite.add-change-log",
      kind: "bool",
      default: "true",
      help: "If specified, all modifications are written to new block directory. Disable if " +
        "latency is to high.",
    },
    {
      name: "rewrite.to-delete-config-file",
      kind: "string",
      help: "Path to YAML file that contains []metadata.DeletionRequest that will be applied " +
        "to blocks",
      grants: "read-file",
    },
    {
      name: "rewrite.to-delete-config",
      kind: "string",
      help: "Alternative to 'rewrite.to-delete-config-file' flag (mutually exclusive). Content " +
        "of YAML file that contains []metadata.DeletionRequest that will be applied to blocks",
    },
    {
      name: "rewrite.to-relabel-config-file",
      kind: "string",
      help: "Path to YAML file that contains relabel configs that will be applied to blocks",
      grants: "read-file",
    },
    {
      name: "rewrite.to-relabel-config",
      kind: "string",
      help: "Alternative to 'rewrite.to-relabel-config-file' flag (mutually exclusive). " +
        "Content of YAML file that contains relabel configs that will be applied to blocks",
    },
  ],
});

/** `thanos tools bucket web` (https://thanos.io/tip/components/tools.md/#bucket-web) */
export const BUCKET_WEB = defineCommand({
  path: ["tools", "bucket", "web"],
  env: YAML_ENV,
  help: "Web interface for remote storage bucket.",
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...OBJSTORE_FLAGS,
    ...httpFlags("0.0.0.0:10902"),
    ...HTTP_CONFIG_FLAGS,
    ...BUCKET_UI_PREFIX_FLAGS,
    {
      name: "refresh",
      kind: "duration",
      default: "30m",
      help: "Refresh interval to download metadata from remote storage",
    },
    {
      name: "timeout",
      kind: "duration",
      default: "5m",
      help: "Timeout to download metadata from remote storage",
    },
    {
      name: "label",
      kind: "string",
      default: "",
      help: "External block label to use as group title",
    },
    {
      name: "min-time",
      kind: "time",
      default: "0000-01-01T00:00:00Z",
      help: "Start of time range limit to serve. Thanos tool bucket web will serve only blocks, " +
        "which happened later than this value. Option can be a constant time in RFC3339 format " +
        "or time duration relative to current time, such as -1d or 2h45m. Valid duration units " +
        "are ms, s, m, h, d, w, y.",
    },
    {
      name: "max-time",
      kind: "time",
      default: "9999-12-31T23:59:59Z",
      help: "End of time range limit to serve. Thanos tool bucket web will serve only blocks, " +
        "which happened earlier than this value. Option can be a constant time in RFC3339 " +
        "format or time duration relative to current time, such as -1d or 2h45m. Valid " +
        "duration units are ms, s, m, h, d, w, y.",
    },
    ...SELECTOR_FLAGS,
  ],
});

/** `thanos tools bucket upload-blocks` (https://thanos.io/tip/components/tools.md/#bucket-upload-blocks) */
export const BUCKET_UPLOAD_BLOCKS = defineCommand({
  path: ["tools", "bucket", "upload-blocks"],
  env: YAML_ENV,
  help: "Upload blocks push blocks from the provided path to the object storage.",
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...OBJSTORE_FLAGS,
    {
      name: "path",
      kind: "string",
      default: "./data",
      help: "Path to the directory containing blocks to upload.",
      // the shipper records what it uploaded in <path>/thanos.shipper.json
      grants: "write",
    },
    {
      name: "label",
      kind: "string",
      repeatable: true,
      help: 'External labels to add to the uploaded blocks (repeated), key="value".',
    },
    {
      name: "shipper.upload-compacted",
      kind: "bool",
      default: "false",
      help: "If true shipper will try to upload compacted blocks as well.",
    },
    {
      name: "shipper.upload-concurrency",
      kind: "int",
      default: "5",
      help: "Number of goroutines to use when uploading block files to object storage.",
    },
  ],
});

/** Flag names of each `tools` command. */
export type TsdbDumpFlag = FlagName<typeof TSDB_DUMP>;
export type TsdbAnalyzeFlag = FlagName<typeof TSDB_ANALYZE>;
export type BucketLsFlag = FlagName<typeof BUCKET_LS>;
export type BucketInspectFlag = FlagName<typeof BUCKET_INSPECT>;
export type RulesCheckFlag = FlagName<typeof RULES_CHECK>;
export type BucketVerifyFlag = FlagName<typeof BUCKET_VERIFY>;
export type BucketMarkFlag = FlagName<typeof BUCKET_MARK>;
export type BucketCleanupFlag = FlagName<typeof BUCKET_CLEANUP>;
export type BucketRetentionFlag = FlagName<typeof BUCKET_RETENTION>;
export type BucketDownsampleFlag = FlagName<typeof BUCKET_DOWNSAMPLE>;
export type BucketReplicateFlag = FlagName<typeof BUCKET_REPLICATE>;
export type BucketRewriteFlag = FlagName<typeof BUCKET_REWRITE>;
export type BucketWebFlag = FlagName<typeof BUCKET_WEB>;
export type BucketUploadBlocksFlag = FlagName<typeof BUCKET_UPLOAD_BLOCKS>;

/** Every `tools` command. */
export const TOOLS_COMMANDS: readonly CommandSpec[] = [
  TSDB_DUMP,
  TSDB_ANALYZE,
  BUCKET_LS,
  BUCKET_INSPECT,
  RULES_CHECK,
  BUCKET_VERIFY,
  BUCKET_MARK,
  BUCKET_CLEANUP,
  BUCKET_RETENTION,
  BUCKET_DOWNSAMPLE,
  BUCKET_REPLICATE,
  BUCKET_REWRITE,
  BUCKET_WEB,
  BUCKET_UPLOAD_BLOCKS,
];
