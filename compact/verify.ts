// `thanos tools bucket verify` (https://thanos.io/tip/components/tools.md/#bucket-verify): checks
// the blocks of a bucket for Thanos's known issues and reports them; with `repair` options it
// repairs the issues Thanos repairs (compact/repair.ts): index_known_issues, duplicated_compaction.
// - `overlapped_blocks`: blocks of one compaction group (external labels + resolution) whose time
//   ranges overlap (Thanos's OverlappedBlocksIssue).
// - `index_known_issues`: each block's index read from the bucket (range reads, no download):
//   it must decode (CRC-checked), its series must be sorted with sorted, unique label names, and
//   every chunk must lie inside the block's time range and after the previous chunk of its series
//   (the checks of Thanos's GatherIndexHealthStats, pkg/block/index.go).
// - `duplicated_compaction`: blocks of one group holding the same set of compaction sources, the
//   mark of a compaction done twice (Thanos's DuplicatedCompactionBlocks).
// Blocks with a deletion mark and partial uploads are skipped, as Thanos's verifier does.

import type { Bucket } from "../objstore/bucket.ts";
import type { Logger } from "../logging/log.ts";
import { bucketByteSource } from "../objstore/bytesource.ts";
import type { ByteSource } from "../tsdb/bytesource.ts";
import { IndexReader } from "../tsdb/index/reader.ts";
import { type BlockMeta, parseBlockMeta } from "../tsdb/meta.ts";
import { compareStrings } from "../tsdb/labels.ts";
import { MetaSyncer } from "../block/fetcher.ts";
import { groupBlocks, labelsString } from "./group.ts";
import { backupAndDelete, duplicatedCopies, repairIndex, type RepairOptions } from "./repair.ts";

/** Thanos's issue IDs, in `--issues` order. */
export const VERIFY_ISSUES = [
  "overlapped_blocks",
  "index_known_issues",
  "duplicated_compaction",
] as const;
export type VerifyIssue = typeof VERIFY_ISSUES[number];

/** One problem found. */
export interface VerifyFinding {
  issue: VerifyIssue;
  /** Group key (`<resolution>@<hash>`) and its labels. */
  group: string;
  labels: string;
  /** The blocks involved. */
  blocks: string[];
  message: string;
}

/** Options of {@link verifyBucket}. */
export interface VerifyOptions {
  issues: readonly VerifyIssue[];
  /** Only these blocks (`--id`); all when empty. */
  ids?: readonly string[];
  logger?: Logger;
  signal?: AbortSignal;
  /** Repair what can be repaired (`--repair`); only the repairable issues may be asked. */
  repair?: RepairOptions;
}

/** Issues `--repair` can repair (Thanos's VerifierRepairers). */
export const REPAIRABLE_ISSUES: readonly VerifyIssue[] = [
  "index_known_issues",
  "duplicated_compaction",
];

/** What a verify run found and repaired. */
export interface VerifyResult {
  findings: VerifyFinding[];
  /** Old block → new block (index repairs), or old block → "" (removed copies). */
  repaired: Map<string, string>;
  /** Blocks whose repair failed, with why. */
  repairFailed: Map<string, string>;
}

/** Overlapping pairs among blocks sorted by minTime. */
function overlappingRuns(metas: readonly BlockMeta[]): BlockMeta[][] {
  const out: BlockMeta[][] = [];
  let run: BlockMeta[] = [];
  let maxt = -Infinity;
  for (const m of metas) {
    if (run.length > 0 && m.minTime < maxt) {
      run.push(m);
    } else {
      if (run.length > 1) out.push(run);
      run = [m];
    }
    maxt = Math.max(maxt, m.maxTime);
  }
  if (run.length > 1) out.push(run);
  return out;
}

function fmtRange(m: BlockMeta): string {
  return `${m.ulid} [${new Date(m.minTime).toISOString()}, ${new Date(m.maxTime).toISOString()})`;
}

/**
 * Checks the index of block `m` in the bucket; resolves to the problems found (empty when
 * healthy). At most a few examples per kind are named.
 */
export async function indexIssues(
  bucket: Bucket,
  m: BlockMeta,
  signal?: AbortSignal,
): Promise<string[]> {
  return await indexSourceIssues(() => bucketByteSource(bucket, `${m.ulid}/index`), m, signal);
}

/** {@link indexIssues} of an index read from `open()` (a bucket object or a local file). */
export async function indexSourceIssues(
  open: () => Promise<ByteSource>,
  m: Pick<BlockMeta, "minTime" | "maxTime">,
  signal?: AbortSignal,
): Promise<string[]> {
  const problems: string[] = [];
  let reader: IndexReader;
  try {
    reader = await IndexReader.open(await open());
  } catch (e) {
    return [`index cannot be opened: ${(e as Error).message}`];
  }
  const counts = { outOfOrderSeries: 0, badLabels: 0, outside: 0, outOfOrderChunks: 0 };
  const examples: string[] = [];
  const note = (s: string) => {
    if (examples.length < 3) examples.push(s);
  };
  try {
    let prev: string[] | null = null;
    for await (const s of reader.seriesMany(await reader.allPostings(), { signal })) {
      const names: string[] = [];
      for (let i = 0; i < s.labels.length; i += 2) names.push(s.labels[i]);
      for (let i = 1; i < names.length; i++) {
        if (compareStrings(names[i - 1], names[i]) >= 0) {
          counts.badLabels++;
          note(`series ref ${s.ref}: label names not sorted or duplicated`);
          break;
        }
      }
      const flat = [...s.labels];
      if (prev !== null && compareLabelLists(prev, flat) >= 0) {
        counts.outOfOrderSeries++;
        note(`series ref ${s.ref}: not after the previous series`);
      }
      prev = flat;
      let lastMax = -Infinity;
      for (const c of s.chunks) {
        if (c.minTime < m.minTime || c.maxTime > m.maxTime || c.minTime > c.maxTime) {
          counts.outside++;
          note(`series ref ${s.ref}: chunk [${c.minTime}, ${c.maxTime}] outside the block`);
        }
        if (c.minTime <= lastMax) {
          counts.outOfOrderChunks++;
          note(`series ref ${s.ref}: chunk at ${c.minTime} overlaps the previous chunk`);
        }
        lastMax = Math.max(lastMax, c.maxTime);
      }
    }
  } catch (e) {
    problems.push(`index is corrupt: ${(e as Error).message}`);
  } finally {
    await reader.close().catch(() => undefined);
  }
  if (counts.outOfOrderSeries > 0) problems.push(`${counts.outOfOrderSeries} series out of order`);
  if (counts.badLabels > 0) problems.push(`${counts.badLabels} series with unsorted labels`);
  if (counts.outside > 0) problems.push(`${counts.outside} chunks outside the block's range`);
  if (counts.outOfOrderChunks > 0) {
    problems.push(`${counts.outOfOrderChunks} chunks overlapping their predecessor`);
  }
  if (problems.length > 0 && examples.length > 0) problems.push(`e.g. ${examples.join("; ")}`);
  return problems;
}

/** Compares flat label lists (name, value, …) as Prometheus orders series. */
function compareLabelLists(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareStrings(a[i], b[i]);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** Verifies the bucket for `opts.issues`; logs each finding as a warning and returns them all. */
export async function verifyBucket(
  bucket: Bucket,
  opts: VerifyOptions,
): Promise<VerifyFinding[]> {
  return (await verifyAndRepair(bucket, opts)).findings;
}

/**
 * Verifies the bucket for `opts.issues` and, with `opts.repair`, repairs the findings of the
 * repairable issues (a failed repair is logged and recorded; the run goes on).
 */
export async function verifyAndRepair(
  bucket: Bucket,
  opts: VerifyOptions,
): Promise<VerifyResult> {
  const repaired = new Map<string, string>();
  const repairFailed = new Map<string, string>();
  const log = opts.logger;
  // like Thanos's verifier: only blocks with a meta.json and without a deletion mark
  const res = await new MetaSyncer(bucket, { ignoreDeletionMarksDelayMs: 0 }).sync(opts.signal);
  const all = new Map(res.metas);
  // the duplicate filter hides exactly the blocks duplicated_compaction must see
  for (const [id, why] of res.filtered) {
    if (why !== "duplicate") continue;
    try {
      const text = new TextDecoder().decode(await bucket.get(`${id}/meta.json`, opts.signal));
      all.set(id, parseBlockMeta(text, `${id}/meta.json`));
    } catch { /* gone meanwhile */ }
  }
  const ids = new Set(opts.ids ?? []);
  const wanted = (m: BlockMeta) => ids.size === 0 || ids.has(m.ulid);
  const findings: VerifyFinding[] = [];
  const report = (f: VerifyFinding) => {
    findings.push(f);
    log?.warn(`found ${f.issue.replaceAll("_", " ")} issue`, {
      issue: f.issue,
      group: f.group,
      labels: f.labels,
      blocks: f.blocks.join(","),
      details: f.message,
    });
  };
  const groups = groupBlocks(all.values());
  for (const issue of opts.issues) {
    log?.info("verifying issue", { issue });
    for (const g of groups) {
      const labels = labelsString(g.labels);
      if (issue === "overlapped_blocks") {
        for (const run of overlappingRuns(g.metas)) {
          if (!run.some(wanted)) continue;
          report({
            issue,
            group: g.key,
            labels,
            blocks: run.map((m) => m.ulid),
            message: `overlapping blocks: ${run.map(fmtRange).join(", ")}`,
          });
        }
      } else if (issue === "duplicated_compaction") {
        const bySources = new Map<string, BlockMeta[]>();
        for (const m of g.metas) {
          const k = [...(m.compaction.sources ?? [])].sort().join(",");
          bySources.set(k, [...(bySources.get(k) ?? []), m]);
        }
        for (const [k, ms] of bySources) {
          if (ms.length < 2 || !ms.some(wanted)) continue;
          report({
            issue,
            group: g.key,
            labels,
            blocks: ms.map((m) => m.ulid),
            message: `${ms.length} blocks with the same compaction sources (${k})`,
          });
          if (!opts.repair) continue;
          const kill = duplicatedCopies(ms);
          if (kill.length === 0) {
            log?.warn(
              "found blocks with the same sources, but they are not copies (range, level or " +
                "stats differ); not repaired",
              { group: g.key, blocks: ms.map((m) => m.ulid).join(",") },
            );
          }
          for (const id of kill) {
            try {
              await backupAndDelete(bucket, id, opts.repair);
              repaired.set(id, "");
              log?.info("Removed duplicated block", { id });
            } catch (e) {
              if (opts.signal?.aborted) throw e;
              repairFailed.set(id, (e as Error).message);
              log?.error("could not remove duplicated block", {
                id,
                err: (e as Error).message,
              });
            }
          }
        }
      } else {
        for (const m of g.metas) {
          if (!wanted(m)) continue;
          opts.signal?.throwIfAborted();
          const problems = await indexIssues(bucket, m, opts.signal);
          if (problems.length === 0) continue;
          report({ issue, group: g.key, labels, blocks: [m.ulid], message: problems.join("; ") });
          if (!opts.repair) continue;
          try {
            const fixed = await repairIndex(bucket, m, opts.repair);
            repaired.set(m.ulid, fixed.ulid);
            log?.info("all good, continuing", { id: m.ulid, newID: fixed.ulid });
          } catch (e) {
            if (opts.signal?.aborted) throw e;
            repairFailed.set(m.ulid, (e as Error).message);
            log?.error("could not repair index", { id: m.ulid, err: (e as Error).message });
          }
        }
      }
    }
    log?.info("verified issue", {
      issue,
      found: findings.filter((f) => f.issue === issue).length,
    });
  }
  return { findings, repaired, repairFailed };
}
