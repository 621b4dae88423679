// Settings of `thanos compact`, read once from its flags
// (https://thanos.io/tip/components/compact.md/).

import type { Relabeler } from "../../relabel/relabel.ts";
import { selectorRelabelerFromFlags } from "../selector.ts";
import {
  type BucketWebConfig,
  bucketWebConfig,
  type Flags,
  type HttpConfig,
  httpConfig,
  retentionConfig,
  UsageError,
} from "../flags.ts";
import { objstoreConfigText } from "../objstore.ts";
import { COMPACT_DEDUP_FUNCS, type CompactFlag } from "./flags.ts";
import type { CompactDedupFunc } from "../../compact/merge.ts";
import type { RetentionByResolution } from "../../compact/retention.ts";

/** Everything `thanos compact` is configured with. */
export interface CompactConfig {
  http: HttpConfig;
  objstoreConfig: string;
  dataDir: string;
  consistencyDelayMs: number;
  retention: RetentionByResolution;
  wait: boolean;
  waitIntervalMs: number;
  downsamplingDisabled: boolean;
  discoveryStrategy: "concurrent" | "recursive";
  metaFetchConcurrency: number;
  blockFilesConcurrency: number;
  cleanupIntervalMs: number;
  progressIntervalMs: number;
  downsampleConcurrency: number;
  concurrency: number;
  blocksFetchConcurrency: number;
  deleteDelayMs: number;
  enableVerticalCompaction: boolean;
  dedupFunc: CompactDedupFunc;
  replicaLabels: string[];
  haltOnError: boolean;
  maxCompactionLevel: number;
  hashFunc: string;
  minTime: number;
  maxTime: number;
  relabel: Relabeler;
  /** `--compact.block-max-index-size` in bytes. */
  maxBlockIndexSize: number;
  /** `--compact.skip-block-with-out-of-order-chunks` */
  skipOutOfOrderChunks: boolean;
  /** The bucket web UI (served with `--wait` unless `--web.disable`). */
  web: BucketWebConfig & {
    disabled: boolean;
    label: string;
    syncIntervalMs: number;
    syncTimeoutMs: number;
  };
}

function atLeastOne(flags: Flags<CompactFlag>, name: CompactFlag): number {
  const v = flags.int(name);
  if (!(v >= 1)) throw new UsageError(`--${name} must be at least 1`);
  return v;
}

/** Reads and validates the flags of `thanos compact`; throws UsageError on bad values. */
export function compactConfig(flags: Flags<CompactFlag>): CompactConfig {
  const replicaLabels = flags.strings("deduplication.replica-label")
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const dedupFunc = flags.enum("deduplication.func", COMPACT_DEDUP_FUNCS);
  if (dedupFunc === "penalty" && replicaLabels.length === 0) {
    throw new UsageError(
      "--deduplication.func=penalty needs at least one --deduplication.replica-label",
    );
  }
  const minTime = flags.time("min-time");
  const maxTime = flags.time("max-time");
  if (minTime > maxTime) throw new UsageError("--min-time is after --max-time");
  const maxLevel = flags.int("debug.max-compaction-level");
  if (maxLevel < 1 || maxLevel > 4) {
    throw new UsageError("--debug.max-compaction-level must be between 1 and 4");
  }
  return {
    http: httpConfig(flags),
    objstoreConfig: objstoreConfigText(flags),
    dataDir: flags.string("data-dir"),
    consistencyDelayMs: flags.duration("consistency-delay"),
    retention: retentionConfig(flags),
    wait: flags.bool("wait"),
    waitIntervalMs: flags.duration("wait-interval"),
    downsamplingDisabled: flags.bool("downsampling.disable"),
    discoveryStrategy: flags.enum("block-discovery-strategy", ["concurrent", "recursive"]),
    metaFetchConcurrency: atLeastOne(flags, "block-meta-fetch-concurrency"),
    blockFilesConcurrency: atLeastOne(flags, "block-files-concurrency"),
    cleanupIntervalMs: flags.duration("compact.cleanup-interval"),
    progressIntervalMs: flags.duration("compact.progress-interval"),
    downsampleConcurrency: atLeastOne(flags, "downsample.concurrency"),
    concurrency: atLeastOne(flags, "compact.concurrency"),
    blocksFetchConcurrency: atLeastOne(flags, "compact.blocks-fetch-concurrency"),
    deleteDelayMs: flags.duration("delete-delay"),
    // replica labels imply vertical compaction, as in Thanos
    enableVerticalCompaction: flags.bool("compact.enable-vertical-compaction") ||
      replicaLabels.length > 0,
    dedupFunc,
    replicaLabels,
    haltOnError: flags.bool("debug.halt-on-error"),
    maxCompactionLevel: maxLevel,
    hashFunc: flags.enum("hash-func", ["", "SHA256"]),
    minTime,
    maxTime,
    relabel: selectorRelabelerFromFlags(flags),
    maxBlockIndexSize: flags.bytes("compact.block-max-index-size"),
    skipOutOfOrderChunks: flags.bool("compact.skip-block-with-out-of-order-chunks"),
    web: {
      ...bucketWebConfig(flags),
      disabled: flags.bool("web.disable"),
      label: flags.string("bucket-web-label"),
      syncIntervalMs: flags.duration("block-viewer.global.sync-block-interval"),
      syncTimeoutMs: flags.duration("block-viewer.global.sync-block-timeout"),
    },
  };
}
