// Issue 13 must-show 3: a writer process (tests/helpers/head_writer.ts) appends batches through
// the head and prints each batch id only after commit() resolved; it is SIGKILLed at random
// moments ≥20 times. After each kill the head is reopened here (WAL replay): every
// acknowledged batch is present in full, a batch is never partially present, no sample is
// duplicated, and torn tails are repaired with a log line.
// Half the kills land at a random moment. The other half are aimed at a big commit: the writer
// announces the segment and offset its ~1.4 MB samples record will start at and waits for the
// test's go-ahead (a file); the WAL writes the record page by page (as Prometheus does), and
// the kill is sent once that segment has started to grow, plus a random 0–300 µs — while the
// record is only partly written (~45 page writes over several milliseconds).
// Measured over 6 runs of this test (144 kills, on 2 cores, partly beside other e2e tests):
// 10–13 torn tails per run (70/144), of which aimed kills 9–12 of 12 per run (64/72) and
// random kills 6/72; before (1 MiB writes, kills ≤62 ms after the writer *announced* a big
// batch, i.e. while it was still appending) it was ~1 per run. A miss of the aimed kills only
// happens when this process is descheduled for the whole record write. The assertion (≥ 3
// per run) is well under the measured minimum of 10 and well above what the old workload got.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { startWriter } from "../helpers/writer_process.ts";
import {
  batchSize,
  batchValue,
  goFile,
  WRITER_SERIES,
  writerLabels,
} from "../helpers/head_writer.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { Head } from "../../tsdb/head.ts";
import { Logger } from "../../logging/log.ts";
import { labelsKey } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

const RUNS = 24;
const WRITER = new URL("../helpers/head_writer.ts", import.meta.url).pathname;

/** Busy-waits `us` microseconds (a timer cannot wait less than a millisecond). */
function spin(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end) { /* spin */ }
}

/**
 * Runs the writer until it printed `ready`, then SIGKILLs it after `ms` — or, with `aimUs`,
 * `aimUs` µs after the segment named by the first `big` line started to grow past the size it
 * announced (the big record is being written). Returns the acknowledged batch ids.
 */
async function runWriter(
  dir: string,
  ms: number,
  aimUs?: number,
): Promise<{ acked: number[]; stderr: string; aimed: boolean }> {
  let big!: () => void;
  const bigP = new Promise<void>((r) => big = r);
  let aimed = false;
  const aim = (line: string) => {
    // `big <batch> <segment> <size>`: poll the segment synchronously (a few µs per stat) until
    // the commit's first page is in it, bounded by 5 s
    const [, , seg, size] = line.split(" ");
    Deno.writeFileSync(goFile(dir), new Uint8Array(0));
    const deadline = performance.now() + 5000;
    while (performance.now() < deadline) {
      try {
        const now = Deno.statSync(seg).size;
        if (now > Number(size)) {
          spin(aimUs!);
          w.killNow();
          const after = Deno.statSync(seg).size;
          console.log(
            `aimed kill: record's bytes in the file +${now - Number(size)} at detection, ` +
              `+${after - Number(size)} after the kill (${aimUs} µs later)`,
          );
          aimed = true;
          return;
        }
      } catch { /* not created yet */ }
    }
  };
  const w = startWriter(WRITER, dir, {
    onLine: (line) => {
      if (!line.startsWith("big ")) return;
      if (aimUs !== undefined && !aimed) aim(line);
      else Deno.writeFileSync(goFile(dir), new Uint8Array(0));
      big();
    },
  });
  await w.ready;
  if (aimUs === undefined) {
    await new Promise((r) => setTimeout(r, ms));
  } else {
    await Promise.race([bigP, w.exited]);
  }
  await w.kill();
  return { acked: w.acked, stderr: w.stderr(), aimed };
}

Deno.test({
  name: "head crash safety: SIGKILL the writer ≥20 times, acknowledged batches survive",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    const acked = new Set<number>();
    let repairs = 0;
    let aimedRepairs = 0;
    let aimedRuns = 0;
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const keys = Array.from({ length: WRITER_SERIES }, (_, i) => labelsKey(writerLabels(i)));
    for (let run = 0; run < RUNS; run++) {
      // even runs: a random moment; odd runs: while a big record is being written
      const r = run % 2 === 0
        ? await runWriter(dir, 50 + Math.floor(rnd() * 400))
        : await runWriter(dir, 0, Math.floor(rnd() * 300));
      if (r.aimed) aimedRuns++;
      assert(r.stderr.includes("WAL replay completed"), r.stderr.slice(-2000));
      for (const b of r.acked) acked.add(b);

      const lines: string[] = [];
      const logger = new Logger("info", "logfmt", {}, (l) => lines.push(l));
      const head = await Head.open(dir, { logger });
      const repaired = lines.some((l) => l.includes("level=warn") && l.includes("repaired"));
      if (repaired && repairs === 0) {
        console.log(lines.find((l) => l.includes("level=warn") && l.includes("repaired")));
      }
      if (repaired) repairs++;
      if (repaired && r.aimed) aimedRepairs++;
      // samples per series: t → value; batches present
      const present = new Map<number, number>();
      let n = 0;
      for await (
        const s of head.querier().select([new Matcher(MatchType.Equal, "__name__", "crash_test")], {
          start: -Infinity,
          end: Infinity,
        })
      ) {
        const i = keys.indexOf(labelsKey(s.labels));
        assert(i >= 0);
        let prev = -Infinity;
        for (const c of s.chunks) {
          const { ts, vs } = decodeXorSamples(c.data);
          for (let x = 0; x < ts.length; x++) {
            const t = ts[x];
            assert(t > prev, `series ${i}: sample at ${t} duplicated or out of order`);
            prev = t;
            const b = Math.floor(t / 1000);
            const j = t - b * 1000;
            const want = batchValue(b, i, j);
            if (vs[x] !== want) assertEquals(vs[x], want, `value of series ${i} at ${t}`);
            present.set(b, (present.get(b) ?? 0) + 1);
            n++;
          }
        }
      }
      for (const [b, cnt] of present) {
        assertEquals(cnt, batchSize(b) * WRITER_SERIES, `batch ${b} partially present`);
      }
      for (const b of acked) assert(present.has(b), `acknowledged batch ${b} lost (run ${run})`);
      await head.close();
      console.log(
        `run ${run}: ${r.acked.length} acked this run, ${acked.size} total, ${present.size} ` +
          `batches / ${n} samples present, ${r.aimed ? "aimed kill, " : ""}` +
          `torn tail ${repaired ? "repaired" : "none"}, repairs so far ${repairs}`,
      );
    }
    assert(acked.size > RUNS, `writer made progress: ${acked.size} batches acknowledged`);
    console.log(
      `TORN_TAILS ${repairs}/${RUNS} kills (aimed: ${aimedRepairs}/${aimedRuns} aimed kills)`,
    );
    assert(repairs >= 3, `torn tails repaired: ${repairs} (≥ 3 expected, ~12 typical)`);
  },
});
