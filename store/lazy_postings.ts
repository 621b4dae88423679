// Lazy expanded postings (`--store.enable-lazy-expanded-postings`, Thanos's
// https://github.com/thanos-io/thanos/blob/main/pkg/store/lazy_postings.go): before fetching the
// postings of a Series call's matchers, their sizes are estimated from the index-header's postings
// offset table; the label groups whose postings would cost more bytes than the series entries
// they would save are not fetched ("lazy"), and their matchers filter the fetched series entries
// by labels instead. A series is selected by a set of matchers exactly when its labels satisfy
// each of them (a missing label read as ""), so the answer is the same whichever groups are lazy,
// as long as one group that requires a label value is fetched, which the planner guarantees.

import type { Counter, Registry } from "../metrics/registry.ts";
import { type Matcher, MatchType } from "../tsdb/matchers.ts";
import type { Labels } from "../tsdb/series.ts";
import { compareStrings } from "../tsdb/labels.ts";

/** Thanos's EstimatedMaxSeriesSize (`--debug.estimated-max-series-size`, 64 KiB). */
export const ESTIMATED_MAX_SERIES_SIZE = 64 * 1024;
/** Thanos's series match ratio (WithSeriesMatchRatio(0.5) in cmd/thanos/store.go). */
export const SERIES_MATCH_RATIO = 0.5;

/** The index lookups the planner needs: postings sizes without fetching postings. */
export interface PostingsEstimator {
  estimatePostings(
    name: string,
    values: readonly string[] | ((value: string) => boolean),
  ): Promise<{ keys: number; refs: number } | null>;
}

/** Settings of one plan. */
export interface LazyPostingsOptions {
  /** Bytes one series entry may take (the block's `series_max_size`, else 64 KiB). */
  seriesMaxSize: number;
  /** `--store.posting-group-max-key-series-ratio` (0: no limit). */
  maxKeySeriesRatio: number;
  seriesMatchRatio?: number;
}

/** Why a group was left lazy (Thanos's `reason` label). */
export type LazyReason = "keys_limit" | "postings_size";

/** What to fetch: matchers whose postings are fetched, and matchers checked on the series. */
export type LazyPlan =
  | { kind: "empty" }
  | { kind: "eager" }
  | {
    kind: "lazy";
    fetch: Matcher[];
    filter: Matcher[];
    groups: { reason: LazyReason; refs: number }[];
  };

interface Group {
  name: string;
  matchers: Matcher[];
  /** Every matcher accepts "": the group only removes series (Thanos's addAll). */
  addAll: boolean;
  keys: number;
  refs: number;
  lazy?: LazyReason;
}

/** The values of `group`'s label whose postings the group would fetch (Thanos's keys). */
function groupKeys(g: Group): readonly string[] | ((v: string) => boolean) {
  if (g.addAll) return (v) => g.matchers.some((m) => !m.matches(v));
  const all = (v: string) => g.matchers.every((m) => m.matches(v));
  for (const m of g.matchers) {
    // a literal set narrows the candidates without scanning all values of the label
    const set = m.type === MatchType.Equal
      ? [m.value]
      : m.type === MatchType.Regexp
      ? m.setMatches()
      : null;
    if (set && set.length > 0) return set.filter(all);
  }
  return all;
}

/**
 * Chooses which label groups of `matchers` to fetch and which to apply to the series instead,
 * with Thanos's algorithm (optimizePostingsFetchByDownloadedBytes): groups sorted by estimated
 * postings count; the first group that requires a value is always fetched; each further group
 * is fetched only while its postings (4 bytes per ref) cost less than the series entries its
 * intersection is expected to save, and a group with more values than `maxKeySeriesRatio`
 * times the series the query can match is left lazy regardless.
 */
export async function planLazyPostings(
  ix: PostingsEstimator,
  matchers: readonly Matcher[],
  opts: LazyPostingsOptions,
): Promise<LazyPlan> {
  const byName = new Map<string, Matcher[]>();
  for (const m of matchers) {
    if (m.name === "") return { kind: "eager" };
    let l = byName.get(m.name);
    if (!l) byName.set(m.name, l = []);
    l.push(m);
  }
  if (byName.size <= 1) return { kind: "eager" };
  const groups: Group[] = [];
  for (const [name, ms] of [...byName].sort((a, b) => compareStrings(a[0], b[0]))) {
    groups.push({ name, matchers: ms, addAll: ms.every((m) => m.matches("")), keys: 0, refs: 0 });
  }
  // only groups that remove series: every series is a candidate, nothing to optimise
  if (groups.every((g) => g.addAll)) return { kind: "eager" };
  for (const g of groups) {
    const est = await ix.estimatePostings(g.name, groupKeys(g));
    if (est === null) return { kind: "eager" };
    g.keys = est.keys;
    g.refs = est.refs;
    // a label that must have one of no existing values: nothing matches
    if (!g.addAll && g.keys === 0) return { kind: "empty" };
  }
  groups.sort((a, b) => a.refs - b.refs || compareStrings(a.name, b.name));

  const ratio = opts.seriesMatchRatio ?? SERIES_MATCH_RATIO;
  let negative = 0;
  let i = 0;
  while (i < groups.length && groups[i].addAll) negative += groups[i++].refs;
  if (i >= groups.length - 1) return { kind: "eager" };
  let seriesMatched = groups[i].refs - Math.ceil(negative * ratio);
  const maxSeriesMatched = seriesMatched;
  i++;
  for (; i < groups.length; i++) {
    const g = groups[i];
    if (seriesMatched <= 0) break;
    if (
      opts.maxKeySeriesRatio > 0 && maxSeriesMatched > 0 &&
      g.keys / maxSeriesMatched > opts.maxKeySeriesRatio
    ) {
      g.lazy = "keys_limit";
      continue;
    }
    let saved: number;
    if (g.addAll) {
      const under = Math.ceil(Math.min(g.refs, seriesMatched) * ratio);
      seriesMatched -= under;
      saved = under * opts.seriesMaxSize;
    } else {
      saved = opts.seriesMaxSize * Math.ceil(seriesMatched * (1 - ratio));
      seriesMatched = Math.ceil(seriesMatched * ratio);
    }
    if (g.refs * 4 > saved) break;
  }
  for (; i < groups.length; i++) groups[i].lazy ??= "postings_size";
  const lazy = groups.filter((g) => g.lazy);
  if (lazy.length === 0) return { kind: "eager" };
  return {
    kind: "lazy",
    fetch: groups.filter((g) => !g.lazy).flatMap((g) => g.matchers),
    filter: lazy.flatMap((g) => g.matchers),
    groups: lazy.map((g) => ({ reason: g.lazy!, refs: g.refs })),
  };
}

/** True when `labels` (name, value pairs) satisfy every matcher, a missing label read as "". */
export function labelsMatch(labels: Labels, matchers: readonly Matcher[]): boolean {
  for (const m of matchers) {
    let v = "";
    for (let k = 0; k < labels.length; k += 2) {
      if (labels[k] === m.name) {
        v = labels[k + 1];
        break;
      }
    }
    if (!m.matches(v)) return false;
  }
  return true;
}

/** Thanos's lazy expanded postings metrics. */
export interface LazyPostingsMetrics {
  applied: Counter;
  groups: Counter;
  sizeBytes: Counter;
}

/** Registers Thanos's lazy expanded postings metrics. */
export function lazyPostingsMetrics(reg: Registry): LazyPostingsMetrics {
  return {
    applied: reg.counter({
      name: "thanos_bucket_store_lazy_expanded_postings_total",
      help: "Total number of times when lazy expanded posting optimization applies.",
    }),
    groups: reg.counter({
      name: "thanos_bucket_store_lazy_expanded_posting_groups_total",
      help: "Total number of posting groups that are marked as lazy and corresponding reason",
      labelNames: ["reason"],
    }),
    sizeBytes: reg.counter({
      name: "thanos_bucket_store_lazy_expanded_posting_size_bytes_total",
      help: "Total number of lazy posting group size in bytes.",
    }),
  };
}
