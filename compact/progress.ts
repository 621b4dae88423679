// `--compact.progress-interval`: how much work is left, computed in the background from the last
// synced metas without touching the bucket (Thanos's CompactionProgressCalculator,
// DownsampleProgressCalculator and RetentionProgressCalculator in
// https://github.com/thanos-io/thanos/blob/main/pkg/compact/compact.go, documented at
// https://thanos.io/tip/components/compact.md/#flags):
// - compactions: per group, the planner is run repeatedly on a simulation where each plan is
//   replaced by one merged block, counting plans (`thanos_compact_todo_compactions`) and the
//   blocks they take (`thanos_compact_todo_compaction_blocks`);
// - downsampling: the blocks downsampleCandidates would pick (`thanos_compact_todo_downsample_blocks`);
// - retention: blocks past their resolution's retention (`thanos_compact_todo_deletion_blocks`).

import type { Gauge, Registry } from "../metrics/registry.ts";
import type { BlockMeta } from "../tsdb/meta.ts";
import { groupBlocks } from "./group.ts";
import { plan } from "./planner.ts";
import { downsampleCandidates } from "./downsample.ts";
import type { RetentionByResolution } from "./retention.ts";

/** Work left, as the progress gauges report it. */
export interface Progress {
  compactions: number;
  compactionBlocks: number;
  downsampleBlocks: number;
  deletionBlocks: number;
}

/** The merged block a plan would produce (only what the planner reads). */
function simulatedMerge(p: readonly BlockMeta[], n: number): BlockMeta {
  const first = p[0];
  return {
    ...first,
    ulid: `simulated-${n}`,
    minTime: Math.min(...p.map((m) => m.minTime)),
    maxTime: Math.max(...p.map((m) => m.maxTime)),
    stats: { numSeries: 0, numSamples: 0, numChunks: 0 },
    compaction: {
      ...first.compaction,
      level: Math.max(...p.map((m) => m.compaction.level)) + 1,
      sources: [...new Set(p.flatMap((m) => m.compaction.sources ?? []))].sort(),
      failed: false,
    },
  };
}

/** Compactions left in `metas` (see the file comment); bounded by the number of blocks. */
export function compactionProgress(
  metas: Iterable<BlockMeta>,
  ranges: readonly number[],
  replicaLabels: readonly string[] = [],
  noCompact: ReadonlySet<string> = new Set(),
): { compactions: number; blocks: number } {
  let compactions = 0;
  let blocks = 0;
  let n = 0;
  for (const g of groupBlocks(metas, replicaLabels)) {
    let ms = [...g.metas];
    // each plan removes ≥ 2 blocks and adds 1, so this ends within ms.length rounds
    for (let round = 0; round <= g.metas.length; round++) {
      const p = plan(ranges, ms, noCompact);
      if (p.length === 0) break;
      compactions++;
      blocks += p.length;
      const taken = new Set(p.map((m) => m.ulid));
      ms = ms.filter((m) => !taken.has(m.ulid));
      ms.push(simulatedMerge(p, n++));
      ms.sort((a, b) => a.minTime - b.minTime || (a.ulid < b.ulid ? -1 : 1));
      if (p.length < 2) break;
    }
  }
  return { compactions, blocks };
}

/** Blocks whose maxTime is older than now minus the retention of their resolution. */
export function retentionProgress(
  metas: Iterable<BlockMeta>,
  r: RetentionByResolution,
  now: number,
): number {
  let n = 0;
  for (const m of metas) {
    const res = m.thanos?.downsample.resolution ?? 0;
    const keep = res === 300_000 ? r.fiveMin : res === 3_600_000 ? r.oneHour : r.raw;
    if (keep > 0 && now > Math.trunc(m.maxTime / 1000) * 1000 + keep) n++;
  }
  return n;
}

/** Computes all progress figures of `metas`. */
export function computeProgress(
  metas: ReadonlyMap<string, BlockMeta>,
  opts: {
    ranges: readonly number[];
    replicaLabels?: readonly string[];
    noCompact?: ReadonlySet<string>;
    downsampling: boolean;
    retention: RetentionByResolution;
    now: number;
  },
): Progress {
  const c = compactionProgress(metas.values(), opts.ranges, opts.replicaLabels, opts.noCompact);
  return {
    compactions: c.compactions,
    compactionBlocks: c.blocks,
    downsampleBlocks: opts.downsampling ? downsampleCandidates(metas).length : 0,
    deletionBlocks: retentionProgress(metas.values(), opts.retention, opts.now),
  };
}

/** Thanos's progress gauges (`thanos_compact_todo_compactions` is shared with the compactor). */
export interface ProgressGauges {
  compactions: Gauge;
  compactionBlocks: Gauge;
  downsampleBlocks: Gauge;
  deletionBlocks: Gauge;
}

/** Registers the progress gauges; `compactions` is the compactor's own todo gauge. */
export function progressGauges(reg: Registry, compactions: Gauge): ProgressGauges {
  const g = (name: string, help: string) => reg.gauge({ name, help });
  return {
    compactions,
    compactionBlocks: g(
      "thanos_compact_todo_compaction_blocks",
      "number of blocks planned to be compacted",
    ),
    downsampleBlocks: g(
      "thanos_compact_todo_downsample_blocks",
      "number of blocks to be downsampled",
    ),
    deletionBlocks: g(
      "thanos_compact_todo_deletion_blocks",
      "number of blocks that have crossed their retention period",
    ),
  };
}

/** Sets the gauges to `p`. */
export function setProgress(g: ProgressGauges, p: Progress): void {
  g.compactions.set(p.compactions);
  g.compactionBlocks.set(p.compactionBlocks);
  g.downsampleBlocks.set(p.downsampleBlocks);
  g.deletionBlocks.set(p.deletionBlocks);
}
