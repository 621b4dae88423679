// Thanos's default compaction planner (`tsdbBasedPlanner` in
// https://github.com/thanos-io/thanos/blob/main/pkg/compact/planner.go, itself Prometheus's
// leveled planner working on metas instead of directories) with the handling of
// `no-compact-mark.json`: overlapping blocks first (vertical compaction), else the oldest range of
// the level ranges (2h → 8h → 2d → 14d by default) that is complete, never including the most
// recent block, and finally a large block with more than 5 % tombstones.

import type { BlockMeta } from "../tsdb/meta.ts";

const HOUR = 3600_000;

/** Thanos's compaction levels: 2h, 8h, 2d, 14d (`--debug.max-compaction-level` 4). */
export const DEFAULT_RANGES: readonly number[] = [2 * HOUR, 8 * HOUR, 48 * HOUR, 14 * 24 * HOUR];

/** The first `maxLevel` ranges (Thanos's `--debug.max-compaction-level`). */
export function compactionRanges(maxLevel = DEFAULT_RANGES.length): number[] {
  return DEFAULT_RANGES.slice(0, Math.max(1, Math.min(maxLevel, DEFAULT_RANGES.length)));
}

/**
 * The blocks to compact next, in minTime order, or [] when nothing is to be done.
 * `metasByMinTime` are one group's blocks sorted by minTime; `noCompact` the ULIDs carrying a
 * no-compact mark.
 */
export function plan(
  ranges: readonly number[],
  metasByMinTime: readonly BlockMeta[],
  noCompact: ReadonlySet<string> = new Set(),
): BlockMeta[] {
  if (metasByMinTime.length === 0) return [];
  let notExcluded = metasByMinTime.filter((m) => !noCompact.has(m.ulid));
  const overlapping = selectOverlapping(notExcluded);
  if (overlapping.length > 0) return overlapping;

  // The most recent block (max minTime) is never compacted: a window of one block size for
  // maintenance after upload.
  if (!noCompact.has(metasByMinTime[metasByMinTime.length - 1].ulid)) {
    notExcluded = notExcluded.slice(0, -1);
  }
  const res = selectMetas(ranges, noCompact, metasByMinTime.slice(0, -1));
  if (res.length > 0) return res;

  // a large enough block with more than 5 % tombstones is rewritten alone
  for (let i = notExcluded.length - 1; i >= 0; i--) {
    const m = notExcluded[i];
    if (m.maxTime - m.minTime < ranges[Math.floor(ranges.length / 2)]) break;
    if ((m.stats.numTombstones ?? 0) / ((m.stats.numSeries ?? 0) + 1) > 0.05) return [m];
  }
  return [];
}

/** Prometheus's `selectMetas` with Thanos's exclusion of no-compact-marked blocks. */
export function selectMetas(
  ranges: readonly number[],
  noCompact: ReadonlySet<string>,
  metasByMinTime: readonly BlockMeta[],
): BlockMeta[] {
  if (ranges.length < 2 || metasByMinTime.length < 1) return [];
  const highTime = metasByMinTime[metasByMinTime.length - 1].minTime;
  for (const iv of ranges.slice(1)) {
    const parts = splitByRange(metasByMinTime, iv);
    outer: for (const p of parts) {
      for (const m of p) if (m.compaction.failed) continue outer;
      if (p.length < 2) continue;
      const mint = p[0].minTime;
      const maxt = p[p.length - 1].maxTime;
      // the range must be complete (gaps allowed), or entirely before the most recent block
      if (maxt - mint !== iv && maxt > highTime) continue;
      // excluded blocks split the range without introducing gaps
      let lastExcluded = 0;
      for (let i = 0; i < p.length; i++) {
        if (!noCompact.has(p[i].ulid)) continue;
        if (i - lastExcluded > 1) return p.slice(lastExcluded, i);
        lastExcluded = i + 1;
      }
      if (p.length - lastExcluded > 1) return p.slice(lastExcluded);
    }
  }
  return [];
}

/** The first run of blocks whose time ranges overlap, in input order. */
export function selectOverlapping(metasByMinTime: readonly BlockMeta[]): BlockMeta[] {
  if (metasByMinTime.length < 2) return [];
  const out: BlockMeta[] = [];
  let globalMaxt = metasByMinTime[0].maxTime;
  for (let i = 1; i < metasByMinTime.length; i++) {
    const m = metasByMinTime[i];
    if (m.minTime < globalMaxt) {
      if (out.length === 0) out.push(metasByMinTime[i - 1]);
      out.push(m);
    } else if (out.length > 0) break;
    if (m.maxTime > globalMaxt) globalMaxt = m.maxTime;
  }
  return out;
}

/**
 * Splits blocks into runs falling into aligned windows of `tr` ms (windows start at multiples of
 * `tr`); blocks that do not fit in one window are skipped.
 */
export function splitByRange(metasByMinTime: readonly BlockMeta[], tr: number): BlockMeta[][] {
  const out: BlockMeta[][] = [];
  for (let i = 0; i < metasByMinTime.length;) {
    const m = metasByMinTime[i];
    const t0 = m.minTime >= 0
      ? tr * Math.trunc(m.minTime / tr)
      : tr * Math.trunc((m.minTime - tr + 1) / tr);
    if (m.maxTime > t0 + tr) {
      i++;
      continue;
    }
    const group: BlockMeta[] = [];
    for (; i < metasByMinTime.length; i++) {
      if (metasByMinTime[i].maxTime > t0 + tr) break;
      group.push(metasByMinTime[i]);
    }
    if (group.length > 0) out.push(group);
  }
  return out;
}
