// Time arithmetic of the frontend: step alignment and splitting a range query at interval
// boundaries so every part stays on the original step grid (Cortex's split_by_interval.go and
// step_align.go, which Thanos' query frontend embeds:
// https://thanos.io/tip/components/query-frontend.md/#splitting), splitting label/series
// requests by interval, and rewriting `@ start()`/`@ end()` to the original times before a
// query is split.

import { parseExpr } from "../promql/parser.ts";
import type { FunctionOptions } from "../promql/functions_table.ts";
import { exprToString } from "../promql/printer.ts";
import { inspect } from "../promql/ast.ts";

/** A time range in ms, both ends inclusive. */
export interface TimeRange {
  start: number;
  end: number;
}

/** The split interval settings: a static interval, or dynamic horizontal splitting. */
export interface SplitSettings {
  /** `--query-range.split-interval` (ms; 0: not static). */
  splitIntervalMs: number;
  /** `--query-range.min-split-interval` (ms; 0 with the two others: no dynamic splitting). */
  minSplitIntervalMs?: number;
  /** `--query-range.max-split-interval` (ms). */
  maxSplitIntervalMs?: number;
  /** `--query-range.horizontal-shards`. */
  horizontalShards?: number;
}

/**
 * The interval a range query is split by (Thanos' dynamicIntervalFn,
 * https://thanos.io/tip/components/query-frontend.md/#flags): the static interval when set;
 * else a range at least twice `max-split-interval` is cut into `max-split-interval` pieces, a
 * range longer than `min-split-interval` into `horizontal-shards` equal pieces, and anything
 * shorter by `min-split-interval` (i.e. not split). 0: no splitting.
 */
export function splitIntervalFor(o: SplitSettings, r: TimeRange): number {
  if (o.splitIntervalMs !== 0) return o.splitIntervalMs;
  const min = o.minSplitIntervalMs ?? 0;
  const max = o.maxSplitIntervalMs ?? 0;
  const shards = o.horizontalShards ?? 0;
  if (min <= 0 || max <= 0 || shards <= 0) return 0;
  const length = r.end - r.start;
  // Go's integer division of durations
  if (Math.trunc(length / max) >= 2) return max;
  if (length > min) return Math.max(1, Math.trunc(length / shards));
  return min;
}

/**
 * Parts one request is split into at most. A range far longer than the split interval (a
 * client's `start=0`, a hostile ten-century range) would otherwise fan out into a downstream
 * request per interval — 20,000 for a label request since 1970 at the default 24h — where
 * Thanos sends them all; see {@link boundedSplitInterval}.
 */
export const MAX_SPLIT_PARTS = 1_000;

/**
 * `interval`, or its smallest multiple that cuts `r` into at most {@link MAX_SPLIT_PARTS} parts
 * (boundaries stay at multiples of `interval`; the answer is the same, only the parts are
 * fewer and wider). 0 (no splitting) stays 0.
 */
export function boundedSplitInterval(r: TimeRange, interval: number): number {
  if (!(interval > 0)) return interval;
  // a range touches floor(end / i) - floor(start / i) + 1 ≤ (end - start) / i + 2 intervals
  const parts = Math.floor(r.end / interval) - Math.floor(r.start / interval) + 1;
  if (parts <= MAX_SPLIT_PARTS) return interval;
  return interval * Math.ceil((r.end - r.start) / (interval * (MAX_SPLIT_PARTS - 2)));
}

/** `--query-range.align-range-with-step`: start and end moved down to multiples of step. */
export function alignToStep(r: TimeRange, step: number): TimeRange {
  return { start: r.start - mod(r.start, step), end: r.end - mod(r.end, step) };
}

function mod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

/** The last grid point (start + k·step) before the boundary that follows `t`. */
export function nextIntervalBoundary(t: number, step: number, interval: number): number {
  const target = (Math.floor(t / interval) + 1) * interval - 1;
  // the last point of t's grid at or before target
  return t + Math.floor((target - t) / step) * step;
}

/**
 * Splits a range query at multiples of `interval`. Each part starts on the original grid (the
 * step after the previous part's end), so the union of the parts' points is the original's.
 */
export function splitRange(r: TimeRange, step: number, interval: number): TimeRange[] {
  if (interval <= 0 || r.start === r.end) return [r];
  const out: TimeRange[] = [];
  for (let s = r.start, guard = 0; s < r.end && guard < 1_000_000; guard++) {
    let e = nextIntervalBoundary(s, step, interval);
    if (e + step >= r.end) e = r.end;
    out.push({ start: s, end: e });
    s = e + step;
  }
  return out;
}

/** Splits a labels/series range at multiples of `interval` (no step: contiguous ms ranges). */
export function splitLabelsRange(r: TimeRange, interval: number): TimeRange[] {
  if (interval <= 0) return [r];
  const out: TimeRange[] = [];
  for (let s = r.start, guard = 0; s <= r.end && guard < 100_000; guard++) {
    const e = Math.min(r.end, (Math.floor(s / interval) + 1) * interval - 1);
    out.push({ start: s, end: e });
    s = e + 1;
  }
  return out;
}

/**
 * Replaces `@ start()` / `@ end()` with the original query's times, so every split part keeps
 * the whole query's meaning. Returns the query text to send (unchanged when it has none or does
 * not parse; the querier then reports the error) and the latest `@` time in it (or null).
 */
export function resolveAtModifiers(
  query: string,
  start: number,
  end: number,
  functions: FunctionOptions = {},
): { query: string; maxAt: number | null } {
  if (!query.includes("@")) return { query, maxAt: null };
  let expr;
  try {
    expr = parseExpr(query, functions);
  } catch {
    return { query, maxAt: null };
  }
  let changed = false;
  let maxAt: number | null = null;
  inspect(expr, (node) => {
    if (node.kind === "VectorSelector" || node.kind === "SubqueryExpr") {
      if (node.startOrEnd === "start" || node.startOrEnd === "end") {
        node.timestamp = node.startOrEnd === "start" ? start : end;
        node.startOrEnd = null;
        changed = true;
      }
      if (node.timestamp !== null) maxAt = Math.max(maxAt ?? -Infinity, node.timestamp);
    }
    return true;
  });
  return { query: changed ? exprToString(expr) : query, maxAt };
}
