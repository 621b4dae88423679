// Load generator for the out-of-order compaction crash test
// (tests/e2e/ooo_compaction_crash_test.ts): opens a DB with an out-of-order window in the
// directory given as the first argument (replaying WAL and WBL), then appends batches forever
// with automatic compaction, printing `ack <batch>` on stdout only after that batch's commit()
// resolved (per-commit fsync). Batch b holds, for each of OOO_SERIES series, the in-order
// samples of [b·STEP, (b+1)·STEP) every 15 s and OOO_PER_SERIES out-of-order samples inside the
// window behind b·STEP (`batchSamples`). Blocks are 30 minutes: every sixth batch cuts an
// in-order block, and the out-of-order blocks are written right after it (the DB logs
// `write block`, then `write out-of-order block` per block), which the test aims kills at.
// On start the writer resumes after the newest batch whose in-order samples are stored (one
// that was committed but not acknowledged is not written twice) and prints `ready <batch>`.

import { DB, type DBOptions, isOutOfOrderBlock } from "../../tsdb/db.ts";
import { Logger } from "../../logging/log.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import type { Labels } from "../../tsdb/series.ts";

const M = 60_000;
export const STEP = 5 * M;
export const OOO_SERIES = 60;
export const OOO_PER_SERIES = 4;
const WINDOW = 40 * M;

/** Options of the writer's DB (the test opens the directory with them too). */
export function oooWriterOptions(logger?: Logger): DBOptions {
  return { oooWindowMs: WINDOW, oooCapMax: 8, chunkRangeMs: 30 * M, logger };
}

/** Labels of series `s`. */
export function oooLabels(s: number): Labels {
  return labelsFromObject({ __name__: "ooo_crash", s: String(s) });
}

/** Value of series `s` at `t` (exact in a float64). */
export function oooValue(s: number, t: number): number {
  return t * 2 + s;
}

/**
 * Timestamps of batch `b` for series `s`: in-order ones on the 15 s grid, then out-of-order
 * ones behind the batch's start, inside the window. An out-of-order timestamp's milliseconds
 * are 1 + b mod 998, so no two batches within 998 of each other (the window spans 8) share one.
 */
export function batchSamples(b: number, s: number): { inOrder: number[]; ooo: number[] } {
  const inOrder: number[] = [];
  for (let t = b * STEP; t < (b + 1) * STEP; t += 15_000) inOrder.push(t);
  const ooo: number[] = [];
  if (b === 0) return { inOrder, ooo };
  let x = (b * 7919 + s * 104729) >>> 0 || 1;
  const seconds = new Set<number>();
  for (let k = 0; k < 32 && seconds.size < OOO_PER_SERIES; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const back = 1 + (x % (WINDOW / 1000 - 2)); // seconds behind the batch start
    const sec = (b * STEP) / 1000 - back;
    if (sec >= 0) seconds.add(sec);
  }
  for (const sec of seconds) ooo.push(sec * 1000 + 1 + (b % 998));
  return { inOrder, ooo };
}

if (import.meta.main) {
  const dir = Deno.args[0];
  const db = await DB.open(dir, oooWriterOptions(new Logger("info", "logfmt")));
  let newest = db.head.maxTime;
  for (const blk of db.blocks) {
    if (!isOutOfOrderBlock(blk.meta)) newest = Math.max(newest, blk.meta.maxTime - 1);
  }
  let b = newest === -Infinity ? 0 : Math.floor(newest / STEP) + 1;
  const labels = Array.from({ length: OOO_SERIES }, (_, s) => oooLabels(s));
  const enc = new TextEncoder();
  const out = (s: string) => Deno.stdout.writeSync(enc.encode(s + "\n"));
  out(`ready ${b}`);
  for (;; b++) {
    const app = db.appender();
    for (let s = 0; s < OOO_SERIES; s++) {
      const { inOrder, ooo } = batchSamples(b, s);
      for (const t of inOrder) app.append(labels[s], t, oooValue(s, t));
      for (const t of ooo) app.append(labels[s], t, oooValue(s, t));
    }
    await app.commit();
    out(`ack ${b}`);
    // about 100 batches (eight hours) a second: compaction keeps up, as with a real ingest rate
    await new Promise((r) => setTimeout(r, 10));
  }
}
