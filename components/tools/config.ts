// Settings of `thanos tools …`, read once from each command's flags
// (https://thanos.io/tip/components/tools.md/).

import type { BucketInspectOptions, BucketLsOptions } from "../../block/inspect.ts";
import type { Matcher } from "../../tsdb/matchers.ts";
import { ParseError, parseMetricSelector } from "../../promql/parser.ts";
import { type Flags, parseLabelFlag, UsageError } from "../flags.ts";
import { objstoreConfigText } from "../objstore.ts";
import { selectorRelabelerFromFlags } from "../selector.ts";
import type { Relabeler } from "../../relabel/relabel.ts";
import {
  type BucketInspectFlag,
  type BucketLsFlag,
  INSPECT_OUTPUTS,
  LS_OUTPUTS,
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
