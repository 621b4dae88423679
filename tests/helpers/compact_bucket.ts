// Buckets of 2h blocks for compactor tests: series written as blocks (tsdb/block_writer.ts) with a
// `thanos` section, uploaded with the shipper's upload protocol, plus readers of what a bucket
// holds after compaction (the blocks a store would serve, downloaded into one directory), and the
// compactor started as a process.

import type { Bucket } from "../../objstore/bucket.ts";
import { downloadBlock } from "../../block/download.ts";
import { type RawSeries, writeBlock } from "../../tsdb/block_writer.ts";
import type { BlockMeta } from "../../tsdb/meta.ts";
import { uploadBlock } from "../../block/shipper.ts";
import { MetaSyncer } from "../../block/fetcher.ts";
import { freePort } from "./ports.ts";
import { type Proc, spawnMain } from "./thanos.ts";

const TWO_HOURS = 7_200_000;

function lowerBound(ts: Float64Array, t: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Writes `series` (sorted by labels) as 2h blocks aligned to multiples of 2h, each spanning its
 * whole window like a block cut from Prometheus's head, under `dir`, and uploads them; returns
 * their metas in time order.
 */
export async function uploadSeriesBlocks(
  bucket: Bucket,
  dir: string,
  series: RawSeries[],
  labels: Record<string, string>,
): Promise<BlockMeta[]> {
  let mint = Infinity;
  let maxt = -Infinity;
  for (const s of series) {
    if (s.ts.length === 0) continue;
    mint = Math.min(mint, s.ts[0]);
    maxt = Math.max(maxt, s.ts[s.ts.length - 1]);
  }
  const metas: BlockMeta[] = [];
  for (let t = Math.floor(mint / TWO_HOURS) * TWO_HOURS; t <= maxt; t += TWO_HOURS) {
    const parts: RawSeries[] = [];
    for (const s of series) {
      const a = lowerBound(s.ts, t);
      const b = lowerBound(s.ts, t + TWO_HOURS);
      if (a < b) parts.push({ labels: s.labels, ts: s.ts.subarray(a, b), vs: s.vs.subarray(a, b) });
    }
    if (parts.length === 0) continue;
    const m = await writeBlock(dir, parts, {
      minTime: t,
      maxTime: t + TWO_HOURS,
      thanos: { labels, downsample: { resolution: 0 }, source: "sidecar" },
    });
    await uploadBlock(bucket, `${dir}/${m.ulid}`);
    metas.push(m);
  }
  return metas;
}

/** The blocks a reader (store gateway) would serve: complete, not deleted, not duplicated. */
export async function servedBlocks(bucket: Bucket): Promise<Map<string, BlockMeta>> {
  const res = await new MetaSyncer(bucket, { ignoreDeletionMarksDelayMs: -1 }).sync();
  return res.metas;
}

/** Downloads the given blocks (index, chunks, meta.json) into `dir/<ulid>/`. */
export async function downloadBlocks(bucket: Bucket, ids: Iterable<string>, dir: string) {
  for (const id of ids) await downloadBlock(bucket, id, `${dir}/${id}`);
}

/** Bucket config YAML of a FILESYSTEM bucket in `dir`. */
export function fsConfig(dir: string): string {
  return `type: FILESYSTEM\nconfig:\n  directory: ${dir}\n`;
}

/**
 * Starts `thanos compact` (one iteration, no --wait) over the bucket of `objstoreConfig` with no
 * consistency or deletion delay and downsampling off, plus `extra` flags (later flags win).
 */
export function spawnCompactor(
  objstoreConfig: string,
  dataDir: string,
  extra: string[] = [],
): Proc {
  const port = freePort();
  return spawnMain(
    [
      "compact",
      `--http-address=127.0.0.1:${port}`,
      `--objstore.config=${objstoreConfig}`,
      `--data-dir=${dataDir}`,
      "--consistency-delay=0s",
      "--delete-delay=0s",
      "--downsampling.disable",
      "--http-grace-period=0s",
      ...extra,
    ],
    port,
    "compact",
  );
}

/** Runs one compactor iteration; resolves to its exit code, logs and final /metrics. */
export async function runCompactor(
  objstoreConfig: string,
  dataDir: string,
  extra: string[] = [],
): Promise<{ code: number; logs: string; metrics: string }> {
  const p = spawnCompactor(objstoreConfig, dataDir, extra);
  let metrics = "";
  // poll /metrics while it runs: the last successful scrape is what it exposed at the end
  const poll = (async () => {
    while (p.alive) {
      try {
        const r = await fetch(`http://127.0.0.1:${p.port}/metrics`);
        metrics = await r.text();
      } catch { /* not up yet or gone */ }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const timer = setTimeout(() => p.stop(1000, "SIGKILL"), 180_000);
  const st = await p.status;
  clearTimeout(timer);
  await poll;
  return { code: st.code, logs: p.logs(), metrics };
}
