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
    // gauge of the round's instance, read through the small index cache
    assertEquals({ rounds: r.rounds, calls: r.calls, series: r.series, un: r.uncachedCalls }, {
      rounds: 1,
      calls: 6,
      series: 409,
      un: 1,
    });
    assert(!(await exists(dir)), "the warm-up folder is left");
    const two = await warmSeriesPath({ dir, rounds: 2, budgetMs: 120_000 });
    assertEquals([two.rounds, two.series, two.uncachedCalls], [2, 818, 2]);
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

Deno.test("each warm-up round asks for the gauge of another instance, all instances in turn", () => {
  const instanceOf = (round: number) => {
    const last = warmupSelectors(round).at(-1)!;
    assertEquals(last.map((m) => m.name), ["__name__", "instance"]);
    return last[1].value;
  };
  const seen = new Set<string>();
  for (let r = 0; r < WARMUP_INSTANCES; r++) seen.add(instanceOf(r));
  assertEquals(seen.size, WARMUP_INSTANCES);
  assertEquals(instanceOf(0), "host-0:9100");
  assertEquals(instanceOf(WARMUP_INSTANCES - 1), `host-${WARMUP_INSTANCES - 1}:9100`);
  assertEquals(instanceOf(WARMUP_INSTANCES), "host-0:9100");
  // every instance's gauge exists in the synthetic block
  const gauges = new Set(
    warmupSeries().filter((s) => s.labels[1] === "warmup_gauge").map((s) => s.labels[3]),
  );
  for (const i of seen) assert(gauges.has(i), i);
});
