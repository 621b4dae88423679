// Load generator for the head crash test (tests/e2e/head_crash_test.ts): opens the head in the
// directory given as the first argument (replaying its WAL), then appends batches forever and
// prints `ack <batch>` on stdout only after that batch's commit() resolved (per-commit fsync).
// Batch b covers timestamps [b·1000, b·1000 + k) of 200 series, value = b·7 + j + i (see
// `batchValue`); every 8th batch is big (640 samples per series: one samples record of
// ~1.4 MB). The WAL writes page by page (`walPagesPerWrite: 1`, as Prometheus's wlog does), so
// such a record reaches the file in ~45 writes over a few milliseconds and a kill landing
// meanwhile leaves a torn tail. Before committing a big batch the writer prints
// `big <batch> <segment path> <size>`: the active segment and its size, which the commit can
// only grow, and waits (≤ 10 s) until the test created the file `<dir>/go` — so that the test
// is already watching the segment when the record's first page is written; the crash test
// aims some kills at the moment that file starts growing.

import { Head } from "../../tsdb/head.ts";
import { segmentName } from "../../tsdb/wal/wal.ts";
import { Logger } from "../../logging/log.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import type { Labels } from "../../tsdb/series.ts";

export const WRITER_SERIES = 200;

/** The file the test creates to let the writer commit a big batch. */
export function goFile(dir: string): string {
  return `${dir}/go`;
}

function removeGo(dir: string): void {
  try {
    Deno.removeSync(goFile(dir));
  } catch { /* absent */ }
}

/** Busy-waits until `path` exists, at most `ms`. */
function waitForFile(path: string, ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    try {
      Deno.statSync(path);
      return;
    } catch { /* not yet */ }
  }
}

/** Samples per series of batch `b`. */
export function batchSize(b: number): number {
  return b % 8 === 7 ? 640 : 5;
}

/** Labels of series `i`. */
export function writerLabels(i: number): Labels {
  return labelsFromObject({ __name__: "crash_test", series: String(i) });
}

/** Value of sample j of series i in batch b. */
export function batchValue(b: number, i: number, j: number): number {
  return b * 7 + j + i;
}

if (import.meta.main) {
  const dir = Deno.args[0];
  const logger = new Logger("info", "logfmt");
  removeGo(dir);
  // HEAD_WRITER_PAGES_PER_WRITE=32 gives the WAL's default 1 MiB writes (to compare rates)
  const pages = Number(Deno.env.get("HEAD_WRITER_PAGES_PER_WRITE") ?? 1);
  const head = await Head.open(dir, { logger, walPagesPerWrite: pages });
  const enc = new TextEncoder();
  const out = (s: string) => Deno.stdout.writeSync(enc.encode(s + "\n"));
  let b = head.maxTime === -Infinity ? 0 : Math.floor(head.maxTime / 1000) + 1;
  const labels = Array.from({ length: WRITER_SERIES }, (_, i) => writerLabels(i));
  out(`ready ${b}`);
  for (;; b++) {
    const app = head.appender();
    const k = batchSize(b);
    for (let i = 0; i < WRITER_SERIES; i++) {
      for (let j = 0; j < k; j++) app.append(labels[i], b * 1000 + j, batchValue(b, i, j));
    }
    if (k > 5) {
      // every earlier commit is written: the segment's size is where this record will start
      const seg = segmentName(`${dir}/wal`, head.wal!.currentSegment);
      out(`big ${b} ${seg} ${Deno.statSync(seg).size}`);
      waitForFile(goFile(dir), 10_000);
      removeGo(dir);
    }
    await app.commit();
    out(`ack ${b}`);
  }
}
