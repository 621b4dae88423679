// Crash safety of out-of-order compaction: a writer process (tests/helpers/ooo_writer.ts)
// appends in-order and out-of-order samples with automatic compaction and prints each batch id
// only after its commit resolved; it is SIGKILLed many times — half at a random moment, half
// right after it logged that it wrote an out-of-order block (while the rest of that
// compaction — more blocks, the WBL's truncation — is still running). After each kill the DB is
// reopened here and every block and the head are read one by one: each sample of an
// acknowledged batch is stored exactly once (not lost, not in a block and again in the head or
// in a second block), the batch in flight at most once, and nothing else.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { startWriter } from "../helpers/writer_process.ts";
import {
  batchSamples,
  OOO_SERIES,
  oooLabels,
  oooValue,
  oooWriterOptions,
} from "../helpers/ooo_writer.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { DB, isOutOfOrderBlock } from "../../tsdb/db.ts";
import { labelsKey } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { BlocksQuerier } from "../../tsdb/querier.ts";
import type { Queryable } from "../../tsdb/series.ts";

const RUNS = 16;
const WRITER = new URL("../helpers/ooo_writer.ts", import.meta.url).pathname;

/**
 * Runs the writer until it printed `ready`, then SIGKILLs it after `ms` — or, with `aimMs`, that
 * many ms after the first `write out-of-order block` log line of a compaction (an in-order
 * block was logged first). Returns the acknowledged batch ids and the writer's stderr.
 */
async function runWriter(
  dir: string,
  ms: number,
  aimMs?: number,
): Promise<{ acked: number[]; stderr: string; aimed: boolean }> {
  let aimed = false;
  let fire!: () => void;
  const fireP = new Promise<void>((r) => fire = r);
  let pending = "";
  const w = startWriter(WRITER, dir, {
    onStderr: (text) => {
      pending += text;
      if (aimMs !== undefined && !aimed && pending.includes("write out-of-order block")) {
        aimed = true;
        setTimeout(() => fire(), aimMs);
      }
      pending = pending.slice(-100);
    },
  });
  await w.ready;
  if (aimMs === undefined) await new Promise((r) => setTimeout(r, ms));
  else await Promise.race([fireP, w.exited]);
  await w.kill();
  return { acked: w.acked, stderr: w.stderr(), aimed };
}

/** Adds one to `count` for each sample `q` holds, checking its value. */
async function countSamples(q: Queryable, count: Map<string, number>, what: string) {
  const keys = Array.from({ length: OOO_SERIES }, (_, s) => labelsKey(oooLabels(s)));
  for await (
    const s of q.select([new Matcher(MatchType.Equal, "__name__", "ooo_crash")], {
      start: -Infinity,
      end: Infinity,
    })
  ) {
    const i = keys.indexOf(labelsKey(s.labels));
    assert(i >= 0, `${what}: unexpected series`);
    for (const c of s.chunks) {
      const { ts, vs } = decodeXorSamples(c.data);
      for (let x = 0; x < ts.length; x++) {
        if (vs[x] !== oooValue(i, ts[x])) {
          assertEquals(vs[x], oooValue(i, ts[x]), `${what}: value of s=${i} at ${ts[x]}`);
        }
        const k = `${i}/${ts[x]}`;
        count.set(k, (count.get(k) ?? 0) + 1);
      }
    }
  }
}

Deno.test({
  name:
    "out-of-order compaction crash safety: SIGKILL the writer 16 times, each acknowledged sample stays stored exactly once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    const acked = new Set<number>();
    const maybe = new Set<number>();
    let seed = 4242;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    let aimedRuns = 0;
    let oooBlocks = 0;
    let stagedKills = 0;
    let committedKills = 0;
    for (let run = 0; run < RUNS; run++) {
      const r = run % 2 === 0
        ? await runWriter(dir, 300 + Math.floor(rnd() * 900))
        : await runWriter(dir, 0, rnd() * 4);
      if (r.aimed) aimedRuns++;
      assert(r.stderr.includes("WAL replay completed"), r.stderr.slice(-2000));
      for (const b of r.acked) acked.add(b);
      const last = Math.max(-1, ...acked);
      maybe.add(last + 1); // the batch in flight when killed

      // what the kill interrupted: blocks still being written, or committed but not moved
      const left = [...Deno.readDirSync(dir)].map((e) => e.name);
      const staged = left.includes("ooo-compaction.tmp-for-creation");
      const committed = left.includes("ooo-compaction.committed");
      if (staged) stagedKills++;
      if (committed) committedKills++;
      const db = await DB.open(dir, { ...oooWriterOptions(), autoCompact: false });
      assertEquals(
        [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("ooo-compaction")).length,
        0,
        "the interrupted compaction is rolled back or finished on open",
      );
      try {
        const count = new Map<string, number>();
        for (const b of db.blocks) {
          await countSamples(new BlocksQuerier([b]), count, `block ${b.meta.ulid}`);
        }
        await countSamples(db.head.querier(), count, "head");
        oooBlocks = db.blocks.filter((b) => isOutOfOrderBlock(b.meta)).length;
        let want = 0;
        for (const b of new Set([...acked, ...maybe])) {
          for (let s = 0; s < OOO_SERIES; s++) {
            const { inOrder, ooo } = batchSamples(b, s);
            for (const t of [...inOrder, ...ooo]) {
              const n = count.get(`${s}/${t}`) ?? 0;
              if (acked.has(b)) {
                if (n !== 1) assertEquals(n, 1, `run ${run}: batch ${b}, s=${s} t=${t} stored`);
              } else assert(n <= 1, `run ${run}: batch ${b} in flight, s=${s} t=${t} stored ${n}`);
              if (n > 0) want++;
              count.delete(`${s}/${t}`);
            }
          }
        }
        assertEquals([...count.keys()].slice(0, 5), [], `run ${run}: samples never written`);
        console.log(
          `run ${run}: ${r.acked.length} acked this run, ${acked.size} total, ${want} samples, ` +
            `${db.blocks.length} blocks (${oooBlocks} out-of-order)` +
            (r.aimed ? ", aimed kill" : "") + (staged ? ", blocks were being written" : "") +
            (committed ? ", blocks were committed" : ""),
        );
      } finally {
        await db.close();
      }
    }
    assert(acked.size > RUNS * 6, `writer made progress: ${acked.size} batches acknowledged`);
    assert(aimedRuns >= RUNS / 4, `kills aimed at an out-of-order compaction: ${aimedRuns}`);
    assert(oooBlocks > 0, "out-of-order blocks were written");
    console.log(
      `${aimedRuns} aimed kills: ${stagedKills} while out-of-order blocks were being written, ` +
        `${committedKills} after their commit`,
    );
  },
});
