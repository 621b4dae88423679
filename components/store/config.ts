// Settings of `thanos store`, read once from its flags (https://thanos.io/tip/components/store.md/).

import { tracingConfig } from "../tracing.ts";
import type { OtlpConfig } from "../../tracing/config.ts";
import type { Relabeler } from "../../relabel/relabel.ts";
import { selectorRelabelerFromFlags } from "../selector.ts";
import type { MetaSyncerOptions } from "../../block/fetcher.ts";
import {
  type BucketWebConfig,
  type Flags,
  type HttpConfig,
  httpConfig,
  UsageError,
} from "../flags.ts";
import { type GrpcServerConfig, grpcServerConfig } from "../grpc.ts";
import { objstoreConfigText } from "../objstore.ts";
import {
  BLOCK_DISCOVERY_STRATEGIES,
  INDEX_HEADER_DOWNLOAD_STRATEGIES,
  type StoreFlag,
} from "./flags.ts";
import {
  type CacheItemType,
  IndexCacheConfigError,
  parseIndexCacheConfig,
  type RemoteIndexCacheConfig,
} from "../../store/index_cache.ts";
import {
  type CachingBucketConfig,
  CachingBucketConfigError,
  parseCachingBucketConfig,
} from "../../store/caching_bucket.ts";

/** Everything `thanos store` is configured with. */
export interface StoreConfig {
  http: HttpConfig;
  /** `--tracing.config(-file)`: the OTLP exporter, null when tracing is off. */
  tracing: OtlpConfig | null;
  grpc: GrpcServerConfig;
  /** The bucket configuration (YAML), "" when none was given. */
  objstoreConfig: string;
  /**
   * `--objstore-parquet.config(-file)`: the parquet gateway's bucket (YAML), "" when none;
   * blocks it fully converted are left out of the sync.
   */
  parquetObjstoreConfig: string;
  dataDir: string;
  cacheIndexHeader: boolean;
  indexCacheBytes: number;
  /** From `--index-cache.config(-file)` (IN-MEMORY); absent: `--index-cache-size` alone. */
  indexCache?: { maxItemBytes: number; enabledItems?: CacheItemType[] };
  /** From `--index-cache.config(-file)` of type MEMCACHED or REDIS (replaces the in-memory one). */
  remoteIndexCache?: RemoteIndexCacheConfig;
  /** From `--store.caching-bucket.config(-file)`; absent: chunks and metas read uncached. */
  cachingBucket?: CachingBucketConfig;
  syncIntervalMs: number;
  /** At least 1. */
  blockSyncConcurrency: number;
  metaFetchConcurrency: number;
  discoveryStrategy: NonNullable<MetaSyncerOptions["strategy"]>;
  /** Served time range, ms since the epoch; minTime <= maxTime. */
  minTime: number;
  maxTime: number;
  /** Block selection from `--selector.relabel-config(-file)`. */
  relabel: Relabeler;
  consistencyDelayMs: number;
  ignoreDeletionMarksDelayMs: number;
  /** Per-request limits (0: none); the smaller of the current and the deprecated flag. */
  seriesLimit: number;
  samplesLimit: number;
  /** `--store.grpc.downloaded-bytes-limit` (0: none). */
  bytesLimit: number;
  seriesMaxConcurrency: number;
  /** `--store.enable-index-header-lazy-reader` and its idle timeout / download strategy. */
  lazyReader?: { idleTimeoutMs: number; downloadStrategy: "eager" | "lazy" };
  /** `--store.enable-lazy-expanded-postings`. */
  lazyExpandedPostings: boolean;
  /** `--store.posting-group-max-key-series-ratio` (0: no limit). */
  postingGroupMaxKeySeriesRatio: number;
  /** `--matcher-cache-size` (0: no cache). */
  matcherCacheSize: number;
  /**
   * The bucket web UI's "loaded" view (`--web.disable` off): served at the HTTP root (the
   * store has no `--web.route-prefix`).
   */
  web: BucketWebConfig & { disabled: boolean; label: string };
}

/** The smallest positive value, or 0 when none is positive. */
function minPositive(...vs: number[]): number {
  const pos = vs.filter((v) => v > 0);
  return pos.length === 0 ? 0 : Math.min(...pos);
}

/** `--<name>-file` or `--<name>` (mutually exclusive), "" when neither. */
function configText(
  flags: Flags<StoreFlag>,
  name: "index-cache.config" | "store.caching-bucket.config" | "objstore-parquet.config",
): string {
  const fileFlag = `${name}-file` as const;
  const file = flags.string(fileFlag);
  const inline = flags.string(name);
  if (file !== "" && inline !== "") {
    throw new UsageError(`--${fileFlag} and --${name} are mutually exclusive`);
  }
  return file !== "" ? flags.fileContents(fileFlag) : inline;
}

/** Reads and validates the flags of `thanos store`; throws UsageError on bad values. */
export function storeConfig(flags: Flags<StoreFlag>): StoreConfig {
  let indexCacheBytes = flags.bytes("index-cache-size");
  let indexCache: StoreConfig["indexCache"];
  let remoteIndexCache: StoreConfig["remoteIndexCache"];
  const cacheText = configText(flags, "index-cache.config");
  if (cacheText.trim() !== "") {
    try {
      const c = parseIndexCacheConfig(cacheText);
      if ("backend" in c) remoteIndexCache = c;
      else {
        // as Thanos: the config replaces --index-cache-size
        indexCacheBytes = c.maxBytes;
        indexCache = { maxItemBytes: c.maxItemBytes, enabledItems: c.enabledItems };
      }
    } catch (e) {
      if (e instanceof IndexCacheConfigError) {
        throw new UsageError(`--index-cache.config: ${e.message}`);
      }
      throw e;
    }
  }
  let cachingBucket: CachingBucketConfig | undefined;
  const bucketCacheText = configText(flags, "store.caching-bucket.config");
  if (bucketCacheText.trim() !== "") {
    try {
      cachingBucket = parseCachingBucketConfig(bucketCacheText);
    } catch (e) {
      if (e instanceof CachingBucketConfigError) {
        throw new UsageError(`--store.caching-bucket.config: ${e.message}`);
      }
      throw e;
    }
  }
  const relabel = selectorRelabelerFromFlags(flags);
  const grpc = grpcServerConfig(flags);
  const minTime = flags.time("min-time");
  const maxTime = flags.time("max-time");
  if (minTime > maxTime) {
    throw new UsageError(
      `--min-time (${new Date(minTime).toISOString()}) is after --max-time (${
        new Date(maxTime).toISOString()
      })`,
    );
  }
  const matcherCacheSize = flags.int("matcher-cache-size");
  if (matcherCacheSize < 0) throw new UsageError("--matcher-cache-size must not be negative");
  const keySeriesRatio = flags.float("store.posting-group-max-key-series-ratio");
  if (!(keySeriesRatio >= 0)) {
    throw new UsageError("--store.posting-group-max-key-series-ratio must not be negative");
  }
  const blockSyncConcurrency = flags.int("block-sync-concurrency");
  if (blockSyncConcurrency < 1) {
    throw new UsageError("--block-sync-concurrency must be at least 1");
  }
  const externalPrefix = flags.string("web.external-prefix");
  const parquetText = configText(flags, "objstore-parquet.config");
  return {
    web: {
      disabled: flags.bool("web.disable"),
      label: flags.string("bucket-web-label"),
      routePrefix: "",
      externalPrefix: externalPrefix === "" ? undefined : externalPrefix,
      prefixHeader: flags.string("web.prefix-header"),
      cors: !flags.bool("web.disable-cors"),
      disableAdminOperations: flags.bool("disable-admin-operations"),
    },
    http: httpConfig(flags),
    tracing: tracingConfig(flags.raw),
    grpc,
    objstoreConfig: objstoreConfigText(flags),
    parquetObjstoreConfig: parquetText,
    dataDir: flags.string("data-dir"),
    cacheIndexHeader: flags.bool("cache-index-header"),
    indexCacheBytes,
    indexCache,
    remoteIndexCache,
    cachingBucket,
    syncIntervalMs: flags.duration("sync-block-duration"),
    blockSyncConcurrency,
    metaFetchConcurrency: flags.int("block-meta-fetch-concurrency"),
    discoveryStrategy: flags.enum("block-discovery-strategy", BLOCK_DISCOVERY_STRATEGIES),
    minTime,
    maxTime,
    relabel,
    consistencyDelayMs: flags.duration("consistency-delay"),
    ignoreDeletionMarksDelayMs: flags.duration("ignore-deletion-marks-delay"),
    seriesLimit: minPositive(
      flags.int("store.limits.request-series"),
      flags.int("store.grpc.touched-series-limit"),
    ),
    samplesLimit: minPositive(
      flags.int("store.limits.request-samples"),
      flags.int("store.grpc.series-sample-limit"),
    ),
    bytesLimit: flags.int("store.grpc.downloaded-bytes-limit"),
    seriesMaxConcurrency: flags.int("store.grpc.series-max-concurrency"),
    lazyReader: flags.bool("store.enable-index-header-lazy-reader")
      ? {
        idleTimeoutMs: flags.duration("store.index-header-lazy-reader-idle-timeout"),
        downloadStrategy: flags.enum(
          "store.index-header-lazy-download-strategy",
          INDEX_HEADER_DOWNLOAD_STRATEGIES,
        ),
      }
      : undefined,
    lazyExpandedPostings: flags.bool("store.enable-lazy-expanded-postings"),
    postingGroupMaxKeySeriesRatio: keySeriesRatio,
    matcherCacheSize,
  };
}
