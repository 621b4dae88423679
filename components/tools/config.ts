// Settings of `thanos tools …`, read once from each command's flags
// (https://thanos.io/tip/components/tools.md/).

import type { BucketInspectOptions, BucketLsOptions } from "../../block/inspect.ts";
import type { Matcher } from "../../tsdb/matchers.ts";
import { ParseError, parseMetricSelector } from "../../promql/parser.ts";
import {
  type BucketWebConfig,
  bucketWebConfig,
  type Flags,
  type HttpConfig,
  httpConfig,
  parseDurationFlag,
  parseLabelFlag,
  retentionConfig,
  UsageError,
} from "../flags.ts";
import { objstoreConfigText } from "../objstore.ts";
import { selectorRelabelerFromFlags, type SelectorRelabelFlag } from "../selector.ts";
import { type RelabelConfig, RelabelConfigError, type Relabeler } from "../../relabel/relabel.ts";
import { parseRelabelConfigs } from "../../relabel/parse.ts";
import {
  DeletionConfigError,
  type DeletionRequest,
  parseDeletionRequests,
} from "../../compact/rewrite.ts";
import type { RetentionByResolution } from "../../compact/retention.ts";
import { REPAIRABLE_ISSUES, VERIFY_ISSUES, type VerifyIssue } from "../../compact/verify.ts";
import { isULID } from "../../tsdb/ulid.ts";
import {
  type BucketCleanupFlag,
  type BucketDownsampleFlag,
  type BucketInspectFlag,
  type BucketLsFlag,
  type BucketMarkFlag,
  type BucketReplicateFlag,
  type BucketRetentionFlag,
  type BucketRewriteFlag,
  type BucketUploadBlocksFlag,
  type BucketVerifyFlag,
  type BucketWebFlag,
  INSPECT_OUTPUTS,
  LS_OUTPUTS,
  MARKERS,
  type RulesCheckFlag,
  type TsdbAnalyzeFlag,
  type TsdbDumpFlag,
} from "./flags.ts";

/** `tools bucket ls` */
export interface BucketLsConfig {
  /** The bucket configuration (YAML), "" when none was given. */
  objstoreConfig: string;
  output: BucketLsOptions["output"];
  excludeDelete: boolean;
  timeoutMs: number;
  /** Listed time range (ms, inclusive; blocks overlapping it). */
  minTime: number;
  maxTime: number;
  /** `--selector.relabel-config(-file)`. */
  relabel: Relabeler;
}

/** `tools bucket inspect` */
export interface BucketInspectConfig {
  objstoreConfig: string;
  /** Label pairs the blocks' external labels must include. */
  selector: Record<string, string>;
  sortBy: string[];
  output: NonNullable<BucketInspectOptions["output"]>;
  timeoutMs: number;
}

/** `tools tsdb dump` */
export interface TsdbDumpConfig {
  dbPath: string;
  /** Inclusive bounds, ms. */
  minTime: number;
  maxTime: number;
  matchers: Matcher[];
}

/** `tools tsdb analyze` */
export interface TsdbAnalyzeConfig {
  blockDir: string;
  limit: number;
}

/** Reads the flags of `tools bucket ls`. */
export function bucketLsConfig(flags: Flags<BucketLsFlag>): BucketLsConfig {
  const out = flags.enum("output", LS_OUTPUTS);
  return {
    objstoreConfig: objstoreConfigText(flags),
    output: out === "" ? "text" : out,
    excludeDelete: flags.bool("exclude-delete"),
    timeoutMs: flags.duration("timeout"),
    minTime: flags.time("min-time"),
    maxTime: flags.time("max-time"),
    relabel: selectorRelabelerFromFlags(flags),
  };
}

/** Reads the flags of `tools bucket inspect`; UsageError on a bad `--selector`. */
export function bucketInspectConfig(flags: Flags<BucketInspectFlag>): BucketInspectConfig {
  const selector: Record<string, string> = {};
  for (const s of flags.strings("selector")) {
    const [k, v] = parseLabelFlag("selector", s);
    selector[k] = v;
  }
  return {
    objstoreConfig: objstoreConfigText(flags),
    selector,
    sortBy: flags.strings("sort-by"),
    output: flags.enum("output", INSPECT_OUTPUTS),
    timeoutMs: flags.duration("timeout"),
  };
}

/** Reads the flags of `tools tsdb dump`; UsageError on a bad `--match`. */
export function tsdbDumpConfig(flags: Flags<TsdbDumpFlag>): TsdbDumpConfig {
  let matchers;
  try {
    matchers = parseMetricSelector(flags.string("match"));
  } catch (e) {
    if (e instanceof ParseError) throw new UsageError(`invalid --match: ${e.message}`);
    throw e;
  }
  return {
    dbPath: flags.arg(0),
    minTime: flags.int("min-time"),
    maxTime: flags.int("max-time"),
    matchers,
  };
}

/** Reads the flags of `tools tsdb analyze`. */
export function tsdbAnalyzeConfig(flags: Flags<TsdbAnalyzeFlag>): TsdbAnalyzeConfig {
  return { blockDir: flags.arg(0), limit: flags.int("limit") };
}

/** `tools rules-check` */
export interface RulesCheckConfig {
  /** `--rules` patterns. */
  rules: string[];
}

/** `tools rules-check` settings. */
export function rulesCheckConfig(flags: Flags<RulesCheckFlag>): RulesCheckConfig {
  return { rules: flags.strings("rules") };
}

// ---------------------------------------------------------------------------------------------
// `tools bucket verify|mark|cleanup|retention|downsample`

/** `tools bucket verify` */
export interface BucketVerifyConfig {
  objstoreConfig: string;
  issues: VerifyIssue[];
  ids: string[];
  /** `--repair`: the backup bucket (YAML) and the other repair settings. */
  repair: { backupConfig: string; deleteDelayMs: number; tmpDir: string } | null;
}

/**
 * Reads the flags of `tools bucket verify`; UsageError on bad issues or IDs, and (as Thanos)
 * on `--repair` without a backup bucket or with an issue it cannot repair.
 */
export function bucketVerifyConfig(flags: Flags<BucketVerifyFlag>): BucketVerifyConfig {
  const issues: VerifyIssue[] = [];
  for (const s of flags.strings("issues").flatMap((x) => x.split(","))) {
    const i = s.trim();
    if (i === "") continue;
    if (!(VERIFY_ISSUES as readonly string[]).includes(i)) {
      throw new UsageError(
        `unknown issue ${JSON.stringify(i)} in --issues (one of ${VERIFY_ISSUES.join(", ")})`,
      );
    }
    if (!issues.includes(i as VerifyIssue)) issues.push(i as VerifyIssue);
  }
  const ids = flags.strings("id");
  for (const id of ids) {
    if (!isULID(id)) throw new UsageError(`invalid ULID found in --id flag: ${JSON.stringify(id)}`);
  }
  let repair: BucketVerifyConfig["repair"] = null;
  if (flags.bool("repair")) {
    const backupConfig = (flags.fileContents("objstore-backup.config-file") ||
      flags.string("objstore-backup.config")) ?? "";
    // Thanos's messages (cmd/thanos/tools_bucket.go, pkg/verifier)
    if (backupConfig.trim() === "") {
      throw new UsageError("repair is specified, so backup client is required");
    }
    for (const i of issues) {
      if (!REPAIRABLE_ISSUES.includes(i)) {
        throw new UsageError(
          `no such issue ID ${i} (--repair repairs only ${REPAIRABLE_ISSUES.join(", ")}; ` +
            "pass -i with those)",
        );
      }
    }
    if (ids.length > 0 && issues.includes("duplicated_compaction")) {
      throw new UsageError("id matching is not supported (duplicated_compaction with --id)");
    }
    repair = {
      backupConfig,
      deleteDelayMs: flags.duration("delete-delay"),
      tmpDir: flags.string("repair.tmp-dir"),
    };
  }
  return { objstoreConfig: objstoreConfigText(flags), issues, ids, repair };
}

/** `tools bucket mark` */
export interface BucketMarkConfig {
  objstoreConfig: string;
  ids: string[];
  marker: typeof MARKERS[number];
  details: string;
  remove: boolean;
}

/** Reads the flags of `tools bucket mark`; UsageError on a bad ID or missing --details. */
export function bucketMarkConfig(flags: Flags<BucketMarkFlag>): BucketMarkConfig {
  const ids = flags.strings("id");
  for (const id of ids) {
    if (!isULID(id)) throw new UsageError(`block.id is not a valid UUID, got: ${id}`);
  }
  const remove = flags.bool("remove");
  const details = flags.string("details");
  if (!remove && details === "") throw new UsageError("required flag --details not provided");
  return {
    objstoreConfig: objstoreConfigText(flags),
    ids,
    marker: flags.enum("marker", MARKERS),
    details,
    remove,
  };
}

/** `tools bucket cleanup` and `tools bucket retention` */
export interface BucketSyncConfig {
  objstoreConfig: string;
  deleteDelayMs: number;
  consistencyDelayMs: number;
  blockSyncConcurrency: number;
  relabel: Relabeler;
}

function bucketSyncConfig(
  flags: Flags<
    | "delete-delay"
    | "consistency-delay"
    | "block-sync-concurrency"
    | SelectorRelabelFlag
    | "objstore.config"
    | "objstore.config-file"
  >,
): BucketSyncConfig {
  const n = flags.int("block-sync-concurrency");
  if (!(n >= 1)) throw new UsageError("--block-sync-concurrency must be at least 1");
  return {
    objstoreConfig: objstoreConfigText(flags),
    deleteDelayMs: flags.duration("delete-delay"),
    consistencyDelayMs: flags.duration("consistency-delay"),
    blockSyncConcurrency: n,
    relabel: selectorRelabelerFromFlags(flags),
  };
}

/** Reads the flags of `tools bucket cleanup`. */
export function bucketCleanupConfig(flags: Flags<BucketCleanupFlag>): BucketSyncConfig {
  return bucketSyncConfig(flags);
}

/** `tools bucket retention` */
export interface BucketRetentionConfig extends BucketSyncConfig {
  retention: RetentionByResolution;
}

/** Reads the flags of `tools bucket retention`. */
export function bucketRetentionConfig(flags: Flags<BucketRetentionFlag>): BucketRetentionConfig {
  return {
    ...bucketSyncConfig(flags),
    retention: retentionConfig(flags),
  };
}

/** `tools bucket downsample` */
export interface BucketDownsampleConfig {
  objstoreConfig: string;
  http: HttpConfig;
  waitIntervalMs: number;
  concurrency: number;
  blockFilesConcurrency: number;
  dataDir: string;
  hashFunc: string;
}

/** Reads the flags of `tools bucket downsample`. */
export function bucketDownsampleConfig(
  flags: Flags<BucketDownsampleFlag>,
): BucketDownsampleConfig {
  const atLeastOne = (name: "downsample.concurrency" | "block-files-concurrency") => {
    const v = flags.int(name);
    if (!(v >= 1)) throw new UsageError(`--${name} must be at least 1`);
    return v;
  };
  return {
    objstoreConfig: objstoreConfigText(flags),
    http: httpConfig(flags),
    waitIntervalMs: flags.duration("wait-interval"),
    concurrency: atLeastOne("downsample.concurrency"),
    blockFilesConcurrency: atLeastOne("block-files-concurrency"),
    dataDir: flags.string("data-dir"),
    hashFunc: flags.enum("hash-func", ["", "SHA256"]),
  };
}

/** `tools bucket replicate` */
export interface BucketReplicateConfig {
  /** Source bucket (YAML). */
  objstoreConfig: string;
  /** Target bucket (YAML). */
  objstoreToConfig: string;
  http: HttpConfig;
  /** Allowed resolutions, ms. */
  resolutions: number[];
  compactionLevels: number[];
  /** External-label matchers. */
  matchers: Matcher[];
  singleRun: boolean;
  minTime: number;
  maxTime: number;
  ids: string[];
  ignoreMarkedForDeletion: boolean;
}

/** Resolutions a block can have (ms): raw, 5m, 1h. */
const RESOLUTIONS = [0, 300_000, 3_600_000];

/** Reads the flags of `tools bucket replicate`; UsageError on bad values or a missing target. */
export function bucketReplicateConfig(flags: Flags<BucketReplicateFlag>): BucketReplicateConfig {
  const objstoreToConfig = (flags.fileContents("objstore-to.config-file") ||
    flags.string("objstore-to.config")) ?? "";
  if (objstoreToConfig.trim() === "") {
    throw new UsageError(
      "no target object storage configured: set --objstore-to.config-file or " +
        "--objstore-to.config",
    );
  }
  const resolutions: number[] = [];
  for (const r of flags.strings("resolution")) {
    let ms;
    try {
      ms = parseDurationFlag(r);
    } catch (e) {
      throw new UsageError(`invalid --resolution ${JSON.stringify(r)}: ${(e as Error).message}`);
    }
    if (!RESOLUTIONS.includes(ms)) {
      throw new UsageError(`invalid --resolution ${JSON.stringify(r)}: one of 0s, 5m, 1h`);
    }
    resolutions.push(ms);
  }
  let compactionLevels: number[];
  const levels = flags.strings("compaction");
  if (levels.length > 0) {
    compactionLevels = levels.map((l) => {
      const n = Number(l);
      if (!/^[0-9]+$/.test(l) || n < 1) {
        throw new UsageError(`invalid --compaction ${JSON.stringify(l)}: a level >= 1`);
      }
      return n;
    });
  } else {
    const lo = flags.int("compaction-min"), hi = flags.int("compaction-max");
    if (!(lo >= 1) || !(hi >= lo)) {
      throw new UsageError("--compaction-min must be at least 1 and at most --compaction-max");
    }
    compactionLevels = [];
    for (let l = lo; l <= hi; l++) compactionLevels.push(l);
  }
  const matchers: Matcher[] = [];
  for (const m of [flags.string("matcher")].filter((v) => v !== "")) {
    try {
      matchers.push(...parseMetricSelector(m.trim().startsWith("{") ? m : `{${m}}`));
    } catch (e) {
      if (e instanceof ParseError) {
        throw new UsageError(`invalid --matcher ${JSON.stringify(m)}: ${e.message}`);
      }
      throw e;
    }
  }
  const ids = flags.strings("id");
  for (const id of ids) {
    if (!isULID(id)) throw new UsageError(`invalid ULID found in --id flag: ${JSON.stringify(id)}`);
  }
  return {
    objstoreConfig: objstoreConfigText(flags),
    objstoreToConfig,
    http: httpConfig(flags),
    resolutions,
    compactionLevels,
    matchers,
    singleRun: flags.bool("single-run"),
    minTime: flags.time("min-time"),
    maxTime: flags.time("max-time"),
    ids,
    ignoreMarkedForDeletion: flags.bool("ignore-marked-for-deletion"),
  };
}

/** `tools bucket rewrite` */
export interface BucketRewriteConfig {
  objstoreConfig: string;
  ids: string[];
  tmpDir: string;
  dryRun: boolean;
  deleteBlocks: boolean;
  hashFunc: string;
  deletions: DeletionRequest[];
  relabelConfigs: RelabelConfig[];
  /** `--rewrite.add-change-log`: `<tmp.dir>/<new ULID>/change.log`. */
  changeLog: boolean;
  /** `--prom-blocks`: upload without external labels. */
  promBlocks: boolean;
}

/** Reads the flags of `tools bucket rewrite`; UsageError on bad configs or IDs. */
export function bucketRewriteConfig(flags: Flags<BucketRewriteFlag>): BucketRewriteConfig {
  const text = (file: "rewrite.to-delete-config" | "rewrite.to-relabel-config") =>
    (flags.fileContents(`${file}-file`) || flags.string(file)) ?? "";
  let deletions: DeletionRequest[];
  try {
    deletions = parseDeletionRequests(text("rewrite.to-delete-config"));
  } catch (e) {
    if (e instanceof DeletionConfigError) {
      throw new UsageError(`invalid --rewrite.to-delete-config: ${e.message}`);
    }
    throw e;
  }
  let relabelConfigs: RelabelConfig[];
  try {
    relabelConfigs = parseRelabelConfigs(text("rewrite.to-relabel-config"));
  } catch (e) {
    if (e instanceof RelabelConfigError) {
      throw new UsageError(`invalid --rewrite.to-relabel-config: ${e.message}`);
    }
    throw e;
  }
  if (deletions.length === 0 && relabelConfigs.length === 0) {
    throw new UsageError("rewrite configuration should be provided");
  }
  const ids = flags.strings("id");
  for (const id of ids) {
    if (!isULID(id)) throw new UsageError(`id is not a valid block ULID, got: ${id}`);
  }
  return {
    objstoreConfig: objstoreConfigText(flags),
    ids,
    tmpDir: flags.string("tmp.dir"),
    dryRun: flags.bool("dry-run"),
    deleteBlocks: flags.bool("delete-blocks"),
    hashFunc: flags.enum("hash-func", ["", "SHA256"]),
    deletions,
    relabelConfigs,
    changeLog: flags.bool("rewrite.add-change-log"),
    promBlocks: flags.bool("prom-blocks"),
  };
}

/** `tools bucket web` */
export interface BucketWebToolConfig {
  objstoreConfig: string;
  http: HttpConfig;
  web: BucketWebConfig;
  refreshMs: number;
  timeoutMs: number;
  label: string;
  minTime: number;
  maxTime: number;
  relabel: Relabeler;
}

/** Reads the flags of `tools bucket web`; UsageError on bad values. */
export function bucketWebToolConfig(flags: Flags<BucketWebFlag>): BucketWebToolConfig {
  const minTime = flags.time("min-time");
  const maxTime = flags.time("max-time");
  if (minTime > maxTime) throw new UsageError("--min-time is after --max-time");
  const refreshMs = flags.duration("refresh");
  const timeoutMs = flags.duration("timeout");
  if (refreshMs <= 0) throw new UsageError("--refresh must be positive");
  if (timeoutMs <= 0) throw new UsageError("--timeout must be positive");
  return {
    objstoreConfig: objstoreConfigText(flags),
    http: httpConfig(flags),
    web: bucketWebConfig(flags),
    refreshMs,
    timeoutMs,
    label: flags.string("label"),
    minTime,
    maxTime,
    relabel: selectorRelabelerFromFlags(flags),
  };
}

/** `tools bucket upload-blocks` */
export interface BucketUploadBlocksConfig {
  objstoreConfig: string;
  path: string;
  labels: Record<string, string>;
  uploadCompacted: boolean;
  uploadConcurrency: number;
}

/** Reads the flags of `tools bucket upload-blocks`; UsageError without labels. */
export function bucketUploadBlocksConfig(
  flags: Flags<BucketUploadBlocksFlag>,
): BucketUploadBlocksConfig {
  const labels: Record<string, string> = {};
  for (const l of flags.strings("label")) {
    const [k, v] = parseLabelFlag("label", l);
    labels[k] = v;
  }
  if (Object.keys(labels).length === 0) {
    // Thanos's message (cmd/thanos/tools_bucket.go)
    throw new UsageError(
      "no external labels configured, uniquely identifying external labels must be " +
        "configured; see https://thanos.io/tip/thanos/storage.md#external-labels for details.",
    );
  }
  const n = flags.int("shipper.upload-concurrency");
  if (!(n >= 1)) throw new UsageError("--shipper.upload-concurrency must be at least 1");
  return {
    objstoreConfig: objstoreConfigText(flags),
    path: flags.string("path"),
    labels,
    uploadCompacted: flags.bool("shipper.upload-compacted"),
    uploadConcurrency: n,
  };
}
