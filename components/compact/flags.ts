// Flag table of `thanos compact` (https://thanos.io/tip/components/compact.md/#flags): Thanos
// v0.42's names and defaults. The grants give the role its data dir, its listen address, its
// bucket and its selector file.

import {
  BUCKET_WEB_FLAGS,
  defineCommand,
  type FlagName,
  GOMEMLIMIT_FLAGS,
  httpFlags,
  LOG_FLAGS,
  OBJSTORE_FLAGS,
  RETENTION_FLAGS,
  TRACING_FLAGS,
  YAML_ENV,
} from "../flags.ts";

/** The values of `--deduplication.func`. */
export const COMPACT_DEDUP_FUNCS = ["", "penalty"] as const;

/** `thanos compact` */
export const COMPACT_COMMAND = defineCommand({
  path: ["compact"],
  help: "Continuously compacts blocks in an object store bucket.",
  env: YAML_ENV,
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...httpFlags("0.0.0.0:10902"),
    ...OBJSTORE_FLAGS,
    ...BUCKET_WEB_FLAGS,
    {
      name: "block-viewer.global.sync-block-interval",
      kind: "duration",
      default: "1m",
      help: "Repeat interval for syncing the blocks between local and remote view for /global " +
        "Block Viewer UI.",
    },
    {
      name: "block-viewer.global.sync-block-timeout",
      kind: "duration",
      default: "5m",
      help: "Maximum time for syncing the blocks between local and remote view for /global " +
        "Block Viewer UI.",
    },
    {
      name: "data-dir",
      kind: "string",
      default: "./data",
      help: "Data directory in which to cache blocks and process compactions.",
      grants: "write",
    },
    {
      name: "consistency-delay",
      kind: "duration",
      default: "30m",
      help: "Minimum age of fresh (non-compacted) blocks before they are being processed. " +
        "Malformed blocks older than the maximum of consistency-delay and 48h0m0s will be removed.",
    },
    ...RETENTION_FLAGS,
    {
      name: "wait",
      short: "w",
      kind: "bool",
      default: "false",
      help: "Do not exit after all compactions have been processed and wait for new work.",
    },
    {
      name: "wait-interval",
      kind: "duration",
      default: "5m",
      help: "Wait interval between consecutive compaction runs and bucket refreshes. Only works " +
        "when --wait flag specified.",
    },
    {
      name: "downsampling.disable",
      kind: "bool",
      default: "false",
      help: "Disables downsampling. This is not recommended as querying long time ranges " +
        "without non-downsampled data is not efficient and useful e.g it is not possible to " +
        "render all samples for a human eye anyway",
    },
    {
      name: "block-discovery-strategy",
      kind: "enum",
      choices: ["concurrent", "recursive"],
      default: "concurrent",
      help: "One of concurrent, recursive. When set to concurrent, stores will concurrently " +
        "issue one call per directory to discover active blocks in the bucket. The recursive " +
        "strategy iterates through all objects in the bucket, recursively traversing into " +
        "each directory. This avoids N+1 calls at the expense of having slower bucket " +
        "iterations.",
    },
    {
      name: "block-meta-fetch-concurrency",
      kind: "int",
      default: "32",
      help: "Number of goroutines to use when fetching block metadata from object storage.",
    },
    {
      name: "block-files-concurrency",
      kind: "int",
      default: "1",
      help: "Number of goroutines to use when fetching/uploading block files from object " +
        "storage.",
    },
    {
      name: "compact.cleanup-interval",
      kind: "duration",
      default: "5m",
      help: "How often we should clean up partially uploaded blocks and blocks with deletion " +
        'mark in the background when --wait has been enabled. Setting it to "0s" disables it ' +
        "- the cleaning will only happen at the end of an iteration.",
    },
    {
      name: "compact.progress-interval",
      kind: "duration",
      default: "5m",
      help: "Frequency of calculating the compaction progress in the background when --wait " +
        'has been enabled. Setting it to "0s" disables it. Now compaction, downsampling and ' +
        "retention progress are supported.",
    },
    {
      name: "downsample.concurrency",
      kind: "int",
      default: "1",
      help: "Number of goroutines to use when downsampling blocks.",
    },
    {
      name: "compact.concurrency",
      kind: "int",
      default: "1",
      help: "Number of goroutines to use when compacting groups.",
    },
    {
      name: "compact.blocks-fetch-concurrency",
      kind: "int",
      default: "1",
      help: "Number of goroutines to use when download block during compaction.",
    },
    {
      name: "delete-delay",
      kind: "duration",
      default: "48h",
      help: "Time before a block marked for deletion is deleted from bucket. If delete-delay " +
        "is non zero, blocks will be marked for deletion and compactor component will delete " +
        "blocks marked for deletion from the bucket. If delete-delay is 0, blocks will be " +
        "deleted straight away. Note that deleting blocks immediately can cause query " +
        "failures, if store gateway still has the block loaded, or compactor is ignoring the " +
        "deletion because it's compacting the block at the same time.",
    },
    {
      name: "compact.enable-vertical-compaction",
      kind: "bool",
      default: "false",
      hidden: true,
      help: "Experimental. When set to true, compactor will allow overlaps and perform " +
        "**irreversible** vertical compaction. See " +
        "https://thanos.io/tip/components/compact.md/#vertical-compactions to read more.",
    },
    {
      name: "deduplication.func",
      kind: "enum",
      choices: COMPACT_DEDUP_FUNCS,
      default: "",
      help: "Experimental. Deduplication algorithm for merging overlapping blocks. Possible " +
        'values are: "", "penalty". If no value is specified, the default compact ' +
        "deduplication merger is used, which performs 1:1 deduplication for samples. When set " +
        "to penalty, penalty based deduplication algorithm will be used. At least one replica " +
        "label has to be set via --deduplication.replica-label flag.",
    },
    {
      name: "deduplication.replica-label",
      kind: "string",
      repeatable: true,
      help: "Experimental. Label to treat as a replica indicator of blocks that can be " +
        "deduplicated (repeated flag). This will merge multiple replica blocks into one. This " +
        "process is irreversible. Flag may be specified multiple times as well as a comma " +
        "separated list of labels.",
    },
    {
      name: "debug.halt-on-error",
      kind: "bool",
      default: "false",
      hidden: true,
      help: "Halt the process if a critical compaction error is detected (Thanos's default: " +
        "true). Thanos-TS defaults to false: a group with overlapping or corrupt blocks is " +
        "reported, its blocks get no-compact marks and the other groups continue.",
    },
    {
      name: "debug.accept-malformed-index",
      kind: "bool",
      default: "false",
      hidden: true,
      help: "Compaction and downsampling index verification will ignore out of order label names.",
      noEffect: "this build's compactor does not check the order of label names in a series " +
        "(as Thanos with this flag true); out-of-order series or chunks are reported as a " +
        "corrupt block either way",
    },
    {
      name: "compact.block-max-index-size",
      kind: "bytes",
      default: "64GB",
      hidden: true,
      help: "Maximum index size for the resulted block during any compaction. Note that total " +
        "size is approximated in worst case. If the block that would be resulted from " +
        "compaction is estimated to exceed this number, biggest source block is marked for no " +
        "compaction (no-compact-mark.json is uploaded) which causes this block to be excluded " +
        "from any compaction.",
    },
    {
      name: "compact.skip-block-with-out-of-order-chunks",
      kind: "bool",
      default: "false",
      hidden: true,
      help: "When set to true, mark blocks containing index with out-of-order chunks for no " +
        "compact instead of halting the compaction",
    },
    {
      name: "debug.max-compaction-level",
      kind: "int",
      default: "4",
      hidden: true,
      help: "Maximum compaction level, default is 4: 2h, 8h, 2d, 14d",
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
      name: "min-time",
      kind: "time",
      default: "0000-01-01T00:00:00Z",
      help: "Start of time range limit to compact. Thanos Compactor will compact only blocks, " +
        "which happened later than this value. Option can be a constant time in RFC3339 " +
        "format or time duration relative to current time, such as -1d or 2h45m. Valid " +
        "duration units are ms, s, m, h, d, w, y.",
    },
    {
      name: "max-time",
      kind: "time",
      default: "9999-12-31T23:59:59Z",
      help: "End of time range limit to compact. Thanos Compactor will compact only blocks, " +
        "which happened earlier than this value. Option can be a constant time in RFC3339 " +
        "format or time duration relative to current time, such as -1d or 2h45m. Valid " +
        "duration units are ms, s, m, h, d, w, y.",
    },
    {
      name: "selector.relabel-config-file",
      kind: "string",
      help: "Path to YAML file with relabeling configuration that allows selecting blocks to " +
        "act on based on their external labels. It follows thanos sharding relabel-config " +
        "syntax. For format details see: https://thanos.io/tip/thanos/sharding.md/#relabelling",
      grants: "read-file",
    },
    {
      name: "selector.relabel-config",
      kind: "string",
      help: "Alternative to 'selector.relabel-config-file' flag (mutually exclusive). Content " +
        "of YAML file with relabeling configuration that allows selecting blocks to act on " +
        "based on their external labels.",
    },
  ],
});

/** The flag names of `thanos compact`. */
export type CompactFlag = FlagName<typeof COMPACT_COMMAND>;
