// Compaction groups (Thanos's `DefaultGrouper` in
// https://github.com/thanos-io/thanos/blob/main/pkg/compact/compact.go): blocks are compacted only
// with blocks of the same external labels and the same downsampling resolution. Replica labels
// (`--deduplication.replica-label`) are removed from the external labels first, so the blocks of
// all replicas of one source land in one group and vertical compaction deduplicates them.

import type { BlockMeta } from "../tsdb/meta.ts";
import { compareStrings } from "../tsdb/labels.ts";

/** One compaction group. */
export interface Group {
  /** `<resolution>@<hash of the labels>`, as Thanos's group keys. */
  key: string;
  /** External labels of the group (replica labels removed). */
  labels: Record<string, string>;
  /** Downsampling resolution in ms. */
  resolution: number;
  /** Blocks of the group sorted by minTime (then ULID). */
  metas: BlockMeta[];
}

/** External labels of a block without the replica labels. */
export function groupLabels(
  meta: BlockMeta,
  replicaLabels: readonly string[] = [],
): Record<string, string> {
  const out: Record<string, string> = {};
  const src = meta.thanos?.labels ?? {};
  for (const k of Object.keys(src).sort(compareStrings)) {
    if (!replicaLabels.includes(k)) out[k] = src[k];
  }
  return out;
}

/** 64-bit FNV-1a of a string, as 16 hex digits (stable across runs and processes). */
export function fnv64(s: string): string {
  let h = 0xcbf29ce484222325n;
  const p = 0x100000001b3n;
  for (const b of new TextEncoder().encode(s)) {
    h ^= BigInt(b);
    h = (h * p) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, "0");
}

/** Group key of labels and resolution: `<resolution>@<hash>`. */
export function groupKeyOf(labels: Record<string, string>, resolution: number): string {
  const text = Object.keys(labels).sort(compareStrings).map((k) => `${k}\xff${labels[k]}\xff`)
    .join("");
  return `${resolution}@${fnv64(text)}`;
}

/** Readable form of a group's labels, e.g. `{cluster="eu",env="prod"}`. */
export function labelsString(labels: Record<string, string>): string {
  return `{${
    Object.keys(labels).sort(compareStrings).map((k) => `${k}=${JSON.stringify(labels[k])}`).join(
      ",",
    )
  }}`;
}

function byMinTime(a: BlockMeta, b: BlockMeta): number {
  return a.minTime - b.minTime || compareStrings(a.ulid, b.ulid);
}

/** Splits blocks into groups, sorted by key; each group's blocks sorted by minTime. */
export function groupBlocks(
  metas: Iterable<BlockMeta>,
  replicaLabels: readonly string[] = [],
): Group[] {
  const groups = new Map<string, Group>();
  for (const m of metas) {
    const labels = groupLabels(m, replicaLabels);
    const resolution = m.thanos?.downsample.resolution ?? 0;
    const key = groupKeyOf(labels, resolution);
    let g = groups.get(key);
    if (!g) groups.set(key, g = { key, labels, resolution, metas: [] });
    g.metas.push(m);
  }
  const out = [...groups.values()].sort((a, b) => compareStrings(a.key, b.key));
  for (const g of out) g.metas.sort(byMinTime);
  return out;
}
