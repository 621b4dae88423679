// Flag table of `thanos store` (https://thanos.io/tip/components/store.md/#flags): Thanos's names
// and defaults. The grants give the role exactly its data dir, its listen addresses, its bucket
// and TLS files.

import {
  BUCKET_WEB_FLAGS,
  type CommandSpec,
  defineCommand,
  type FlagName,
  GOMEMLIMIT_FLAGS,
  httpFlags,
  LOG_FLAGS,
  OBJSTORE_READ_FLAGS,
  REQUEST_LOGGING_FLAGS,
  TRACING_FLAGS,
  YAML_ENV,
} from "../flags.ts";
import { grpcServerFlags, STORE_LIMITS_FLAGS } from "../grpc.ts";
import type { MetaSyncerOptions } from "../../block/fetcher.ts";

/** The values of `--block-discovery-strategy`. */
export const BLOCK_DISCOVERY_STRATEGIES = [
  "concurrent",
  "recursive",
] as const satisfies readonly NonNullable<MetaSyncerOptions["strategy"]>[];

/** The values of `--store.index-header-lazy-download-strategy`. */
export const INDEX_HEADER_DOWNLOAD_STRATEGIES = ["eager", "lazy"] as const;

/** `thanos store` */
export const STORE_COMMAND = defineCommand({
  path: ["store"],
  help:
    "Store node giving access to blocks in a bucket provider (FILESYSTEM, S3 and AZURE buckets).",
  env: YAML_ENV,
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...OBJSTORE_READ_FLAGS,
    ...httpFlags(),
    ...grpcServerFlags(),
    ...STORE_LIMITS_FLAGS,
    // Thanos's store has no --web.route-prefix
    ...BUCKET_WEB_FLAGS.filter((f) => f.name !== "web.route-prefix"),
    ...REQUEST_LOGGING_FLAGS,
    {
      name: "index-cache.config-file",
      kind: "string",
      help: "Path to YAML file that contains index cache configuration " +
        "(https://thanos.io/tip/components/store.md/#index-cache): type IN-MEMORY, MEMCACHED " +
        "or REDIS.",
      grants: "cache-file",
    },
    {
      name: "index-cache.config",
      kind: "string",
      help: "Alternative to 'index-cache.config-file' flag (mutually exclusive). Content of " +
        "YAML file that contains index cache configuration.",
      grants: "cache",
    },
    {
      name: "store.caching-bucket.config-file",
      kind: "string",
      help: "Path to YAML file that contains configuration for caching bucket " +
        "(https://thanos.io/tip/components/store.md/#caching-bucket): type IN-MEMORY, " +
        "MEMCACHED or REDIS.",
      hidden: true,
      grants: "cache-file",
    },
    {
      name: "store.caching-bucket.config",
      kind: "string",
      help: "Alternative to 'store.caching-bucket.config-file' flag (mutually exclusive). " +
        "Content of YAML file that contains configuration for caching bucket.",
      hidden: true,
      grants: "cache",
    },
    {
      name: "chunk-pool-size",
      kind: "bytes",
      default: "2GB",
      help: "Maximum size of concurrently allocatable bytes reserved strictly to reuse for " +
        "chunks in memory.",
      noEffect: "chunks are not pooled in this build (each Series call reads its chunks into " +
        "its own buffers), so there is no pool to size",
    },
    {
      name: "objstore-parquet.config-file",
      kind: "string",
      help: "Path to YAML file that contains object store-parquet configuration. See format " +
        "details: https://thanos.io/tip/thanos/storage.md/#configuration (the bucket of a " +
        "parquet gateway: TSDB blocks it fully converted are not served here)",
      grants: "objstore-file-read",
    },
    {
      name: "objstore-parquet.config",
      kind: "string",
      help: "Alternative to 'objstore-parquet.config-file' flag (mutually exclusive). Content " +
        "of YAML file that contains object store-parquet configuration.",
      grants: "objstore-read",
    },
    {
      name: "store.enable-index-header-lazy-reader",
      kind: "bool",
      default: "false",
      help: "If true, Store Gateway will lazy memory map index-header only once the block is " +
        "required by a query.",
    },
    {
      name: "store.index-header-lazy-reader-idle-timeout",
      kind: "duration",
      default: "5m",
      help: "If index-header lazy reader is enabled and this idle timeout setting is > 0, " +
        "memory map-ed index-headers will be automatically released after 'idle timeout' " +
        "inactivity.",
      hidden: true,
    },
    {
      name: "store.enable-lazy-expanded-postings",
      kind: "bool",
      default: "false",
      help: "If true, Store Gateway will estimate postings size and try to lazily expand " +
        "postings if it downloads less data than expanding all postings.",
    },
    {
      name: "store.posting-group-max-key-series-ratio",
      kind: "float",
      default: "100",
      help: "Mark posting group as lazy if it fetches more keys than R * max series the " +
        "query should fetch. With R set to 100, a posting group which fetches 100K keys will " +
        "be marked as lazy if the current query only fetches 1000 series. " +
        "thanos_bucket_store_lazy_expanded_posting_groups_total shows lazy expanded postings " +
        "groups with reasons and you can tune this config accordingly. This config is only " +
        "valid if lazy expanded posting is enabled. 0 disables the limit.",
    },
    {
      name: "store.index-header-lazy-download-strategy",
      kind: "enum",
      choices: INDEX_HEADER_DOWNLOAD_STRATEGIES,
      default: "eager",
      help: "Strategy of how to download index headers lazily. Supported values: eager, " +
        "lazy. If eager, always download index header during initial load. If lazy, download " +
        "index header during query time.",
    },
    {
      name: "matcher-cache-size",
      kind: "int",
      default: "0",
      help: "Max number of cached matchers items. Using 0 disables caching.",
    },
    {
      name: "data-dir",
      kind: "string",
      default: "./data",
      help: "Local data directory used for caching purposes (index-header, in-mem cache items " +
        "and meta.jsons). If removed, no data will be lost, just store will have to rebuild " +
        "the cache.",
      grants: "write",
    },
    {
      name: "cache-index-header",
      kind: "bool",
      default: "true",
      help: "Cache TSDB index-headers on disk to reduce startup time. When set to true, Thanos " +
        "Store will download index headers from remote object storage on startup and create " +
        "a header file on disk. Use --data-dir to set the directory in which index headers " +
        "will be downloaded.",
    },
    {
      name: "index-cache-size",
      kind: "bytes",
      default: "250MB",
      help: "Maximum size of items held in the in-memory index cache (postings and series). " +
        "0 disables the cache. Ignored if --index-cache.config or --index-cache.config-file " +
        "option is specified.",
    },
    {
      name: "sync-block-duration",
      kind: "duration",
      default: "15m",
      help: "Repeat interval for syncing the blocks between local and remote view.",
    },
    {
      name: "block-sync-concurrency",
      kind: "int",
      default: "20",
      help: "Number of goroutines to use when constructing index-cache.json blocks from " +
        "object storage. Must be equal or greater than 1.",
    },
    {
      name: "block-meta-fetch-concurrency",
      kind: "int",
      default: "32",
      help: "Number of goroutines to use when fetching block metadata from object storage.",
    },
    {
      name: "block-discovery-strategy",
      kind: "enum",
      choices: BLOCK_DISCOVERY_STRATEGIES,
      default: "concurrent",
      help: "One of concurrent, recursive. When set to concurrent, stores will concurrently " +
        "issue one call per directory to discover active blocks in the bucket. The recursive " +
        "strategy iterates through all objects in the bucket, recursively traversing into " +
        "each directory.",
    },
    {
      name: "min-time",
      kind: "time",
      default: "0000-01-01T00:00:00Z",
      help: "Start of time range limit to serve. Thanos Store will serve only metrics, which " +
        "happened later than this value. Option can be a constant time in RFC3339 format or " +
        "time duration relative to current time, such as -1d or 2h45m. Valid duration units " +
        "are ms, s, m, h, d, w, y.",
    },
    {
      name: "max-time",
      kind: "time",
      default: "9999-12-31T23:59:59Z",
      help: "End of time range limit to serve. Thanos Store will serve only blocks, which " +
        "happened earlier than this value. Option can be a constant time in RFC3339 format " +
        "or time duration relative to current time, such as -1d or 2h45m. Valid duration " +
        "units are ms, s, m, h, d, w, y.",
    },
    {
      name: "selector.relabel-config-file",
      kind: "string",
      help: "Path to YAML file with relabeling configuration that allows selecting blocks. It " +
        "follows native Prometheus relabel-config syntax. See format details: " +
        "https://prometheus.io/docs/prometheus/latest/configuration/configuration/#relabel_config",
      grants: "read-file",
    },
    {
      name: "selector.relabel-config",
      kind: "string",
      help: "Alternative to 'selector.relabel-config-file' flag (mutually exclusive). Content " +
        "of YAML file with relabeling configuration that allows selecting blocks.",
    },
    {
      name: "consistency-delay",
      kind: "duration",
      default: "0s",
      help: "Minimum age of all blocks before they are being read. Set it to safe value " +
        "(e.g 30m) if your object storage is eventually consistent. GCS and S3 are (roughly) " +
        "strongly consistent.",
    },
    {
      name: "ignore-deletion-marks-delay",
      kind: "duration",
      default: "24h",
      help: "Duration after which the blocks marked for deletion will be filtered out while " +
        "fetching blocks. The idea of ignore-deletion-marks-delay is to ignore blocks that " +
        "are marked for deletion with some delay. This ensures store can still serve blocks " +
        "that are meant to be deleted but do not have a replacement yet.",
    },
    {
      name: "store.grpc.series-sample-limit",
      kind: "int",
      default: "0",
      help: "DEPRECATED: use store.limits.request-samples. Maximum amount of samples returned " +
        "via a single Series call. The Series call fails if this limit is exceeded. 0 means " +
        "no limit. NOTE: For efficiency the limit is internally implemented as 'chunks " +
        "limit' considering each chunk contains 120 samples (it's the max number of samples " +
        "each chunk can contain), so the actual number of samples might be lower, even " +
        "though the maximum could be hit.",
    },
    {
      name: "store.grpc.touched-series-limit",
      kind: "int",
      default: "0",
      help: "DEPRECATED: use store.limits.request-series. Maximum amount of touched series " +
        "returned via a single Series call. The Series call fails if this limit is exceeded. " +
        "0 means no limit.",
    },
    {
      name: "store.grpc.downloaded-bytes-limit",
      kind: "int",
      default: "0",
      help: "Maximum amount of downloaded (either fetched or touched) bytes in a single " +
        "Series/LabelNames/LabelValues call. The Series call fails if this limit is " +
        "exceeded. 0 means no limit.",
    },
    {
      name: "store.grpc.series-max-concurrency",
      kind: "int",
      default: "20",
      help: "Maximum number of concurrent Series calls.",
    },
  ],
});

/** The flag names of `thanos store`. */
export type StoreFlag = FlagName<typeof STORE_COMMAND>;

/** Every command of the store gateway. */
export const STORE_COMMANDS: readonly CommandSpec[] = [STORE_COMMAND];
