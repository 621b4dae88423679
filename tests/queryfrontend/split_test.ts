// Splitting and alignment keep every point of the original step grid exactly once; `@ start()`
// and `@ end()` are pinned to the original range before splitting.

import { assert, assertEquals } from "../helpers/assert.ts";
import {
  alignToStep,
  nextIntervalBoundary,
  resolveAtModifiers,
  splitIntervalFor,
  splitLabelsRange,
  splitRange,
} from "../../queryfrontend/split.ts";

function gridPoints(start: number, end: number, step: number): number[] {
  const out: number[] = [];
  for (let t = start; t <= end; t += step) out.push(t);
  return out;
}

Deno.test("splitRange: parts cover the original grid exactly, cut at interval boundaries", () => {
  const H = 3600_000;
  const cases: [number, number, number, number][] = [
    [0, 24 * H, 60_000, H],
    [7_000, 5 * H + 7_000, 97_000, H],
    [1_700_000_000_000, 1_700_000_000_000 + 7 * 24 * H, 3600_000, 24 * H],
    [1_700_000_000_500, 1_700_000_000_500 + 3 * H, 15_000, 24 * H],
    [H - 1000, H + 1000, 300_000, H],
    [5 * H, 5 * H, 60_000, H],
  ];
  for (const [start, end, step, interval] of cases) {
    const parts = splitRange({ start, end }, step, interval);
    const got = parts.flatMap((p) => gridPoints(p.start, p.end, step));
    assertEquals(got, gridPoints(start, end, step), `${start} ${end} ${step}`);
    for (const p of parts.slice(0, -1)) {
      // each part but the last ends before the boundary that follows its start
      assertEquals(Math.floor(p.start / interval), Math.floor(p.end / interval));
      assert(p.end + step >= (Math.floor(p.start / interval) + 1) * interval);
    }
  }
  assertEquals(splitRange({ start: 0, end: 10 * 3600_000 }, 60_000, 0).length, 1);
});

Deno.test("nextIntervalBoundary: the last grid point before the next boundary", () => {
  assertEquals(nextIntervalBoundary(0, 60_000, 3600_000), 3540_000);
  assertEquals(nextIntervalBoundary(7_000, 97_000, 3600_000), 7_000 + 37 * 97_000);
  assertEquals(nextIntervalBoundary(3599_000, 60_000, 3600_000), 3599_000);
});

Deno.test("alignToStep moves start and end down to multiples of the step", () => {
  assertEquals(alignToStep({ start: 125_000, end: 3_601_000 }, 60_000), {
    start: 120_000,
    end: 3_600_000,
  });
});

Deno.test("splitLabelsRange: contiguous ranges cut at boundaries", () => {
  const parts = splitLabelsRange({ start: 500, end: 2500 }, 1000);
  assertEquals(parts, [{ start: 500, end: 999 }, { start: 1000, end: 1999 }, {
    start: 2000,
    end: 2500,
  }]);
});

Deno.test("resolveAtModifiers pins start() and end() and reports the latest @ time", () => {
  const r = resolveAtModifiers("rate(x[5m] @ end()) + y @ start()", 1_000_000, 2_000_500);
  assertEquals(r.query, "rate(x[5m] @ 2000.500) + y @ 1000.000");
  assertEquals(r.maxAt, 2_000_500);
  assertEquals(resolveAtModifiers("up", 0, 1).query, "up");
  assertEquals(resolveAtModifiers("up @ 100", 0, 1), { query: "up @ 100", maxAt: 100_000 });
  assertEquals(resolveAtModifiers("sum(", 0, 1).query, "sum(");
});

Deno.test("splitIntervalFor: static interval, or Thanos' dynamic horizontal splitting", () => {
  const H = 3600_000;
  const dyn = {
    splitIntervalMs: 0,
    minSplitIntervalMs: H,
    maxSplitIntervalMs: 24 * H,
    horizontalShards: 4,
  };
  // the static interval wins
  assertEquals(
    splitIntervalFor({ ...dyn, splitIntervalMs: 2 * H }, { start: 0, end: 99 * H }),
    2 * H,
  );
  // at least twice max: max
  assertEquals(splitIntervalFor(dyn, { start: 0, end: 48 * H }), 24 * H);
  assertEquals(splitIntervalFor(dyn, { start: 0, end: 100 * H }), 24 * H);
  // below twice max but above min: range / shards (integer ms)
  assertEquals(splitIntervalFor(dyn, { start: 0, end: 47 * H }), 47 * H / 4);
  assertEquals(splitIntervalFor(dyn, { start: 0, end: 3 * H + 3 }), (3 * H) / 4);
  // at most min: min
  assertEquals(splitIntervalFor(dyn, { start: 0, end: H }), H);
  assertEquals(splitIntervalFor(dyn, { start: 5, end: 5 }), H);
  // nothing set: no splitting
  assertEquals(splitIntervalFor({ splitIntervalMs: 0 }, { start: 0, end: 99 * H }), 0);
});
