// The store gateway's start-up warm-up (store/warmup.ts): a synthetic block in a scratch folder
// is read by a bucket store of its own with every warm-up selector, rounds, the time budget and
// the role's shutdown signal bound it, and the folder is gone afterwards, also after a failure.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import {
  warmSeriesPath,
  WARMUP_INSTANCES,
  warmupSelectors,
  warmupSeries,
  WIRE_CALLS_PER_ROUND,
} from "../../store/warmup.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("store warm-up reads each selector's series from its block and removes its folder", async () => {
  const dirs = new TempDirs();
  try {
    const root = await dirs.make();
    const dir = `${root}/warmup`;
    // a folder left behind by a killed run is replaced
    await Deno.mkdir(`${dir}/bucket/junk`, { recursive: true });
    // a budget no loaded machine runs out of: this test is about what a round reads (the
    // default budget of 1.5 s ended the second round early at load 10)
    const r = await warmSeriesPath({ dir, rounds: 1, budgetMs: 120_000 });
    // 48 gauges, 24 of job api, 48 codes 5xx, 96 codes other than 200, 192 buckets, and the
    // gauges of the round's seven instances, read through the small index cache over the
    // in-memory StoreAPI connection
    assertEquals({ rounds: r.rounds, calls: r.calls, series: r.series, un: r.uncachedCalls }, {
      rounds: 1,
      calls: 5 + WIRE_CALLS_PER_ROUND,
      series: 408 + WIRE_CALLS_PER_ROUND,
      un: WIRE_CALLS_PER_ROUND,
    });
    assert(!(await exists(dir)), "the warm-up folder is left");
    const two = await warmSeriesPath({ dir, rounds: 2, budgetMs: 120_000 });
    assertEquals(
      [two.rounds, two.series, two.uncachedCalls],
      [2, 2 * (408 + WIRE_CALLS_PER_ROUND), 2 * WIRE_CALLS_PER_ROUND],
    );
    const none = await warmSeriesPath({ dir, rounds: 4, budgetMs: 0 });
    assertEquals(none.calls, 0);
  } finally {
    await dirs.cleanup();
  }
});

Deno.test("store warm-up stops on an aborted signal and removes its folder on failure", async () => {
  const dirs = new TempDirs();
  try {
    const root = await dirs.make();
    const ac = new AbortController();
    ac.abort(new Error("shutting down"));
    const r = await warmSeriesPath({ dir: `${root}/warmup`, signal: ac.signal }).catch(() => null);
    assert(r === null || r.calls === 0, JSON.stringify(r));
    assert(!(await exists(`${root}/warmup`)), "the warm-up folder is left");
    // a file where the folder's parent should be: writing fails, nothing is left behind
    await Deno.writeTextFile(`${root}/file`, "x");
    await assertRejects(() => warmSeriesPath({ dir: `${root}/file/warmup` }));
  } finally {
    await dirs.cleanup();
  }
});

Deno.test("warm-up series are sorted, unique, 480 samples each from the start given", () => {
  const s = warmupSeries(1_000_000);
  assertEquals(s.length, 8 * WARMUP_INSTANCES);
  const keys = s.map((x) => x.labels.join("\xff"));
  assertEquals(new Set(keys).size, s.length);
  assertEquals([...keys].sort(), keys);
  assert(s.every((x) => x.ts.length === 480 && x.ts[0] === 1_001_000), "sample times");
});

Deno.test("each warm-up call asks for the gauge of another instance, all instances in turn", () => {
  const gaugesOf = (round: number) => {
    const sel = warmupSelectors(round).slice(-WIRE_CALLS_PER_ROUND);
    for (const m of sel) assertEquals(m.map((x) => x.name), ["__name__", "instance"]);
    return sel.map((m) => m[1].value);
  };
  const walk: string[] = [];
  for (let r = 0; r < WARMUP_INSTANCES; r++) walk.push(...gaugesOf(r));
  // rounds continue the walk: each call another instance, every instance in turn
  for (let i = 0; i < walk.length; i++) {
    assertEquals(walk[i], `host-${i % WARMUP_INSTANCES}:9100`);
  }
  assertEquals(warmupSelectors(0).length, 5 + WIRE_CALLS_PER_ROUND);
  // every instance's gauge exists in the synthetic block
  const gauges = new Set(
    warmupSeries().filter((s) => s.labels[1] === "warmup_gauge").map((s) => s.labels[3]),
  );
  for (const i of new Set(walk)) assert(gauges.has(i), i);
});
