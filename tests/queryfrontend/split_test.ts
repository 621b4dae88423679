// Splitting and alignment keep every point of the original step grid exactly once; `@ start()`
// and `@ end()` are pinned to the original range before splitting.

import { assert, assertEquals } from "../helpers/assert.ts";
import {
  alignToStep,
  boundedSplitInterval,
  MAX_SPLIT_PARTS,
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

Deno.test("boundedSplitInterval: at most MAX_SPLIT_PARTS parts, boundaries on the configured ones", () => {
  const H = 3600_000;
  const D = 24 * H;
  // ranges with few parts keep the configured interval
  assertEquals(boundedSplitInterval({ start: 0, end: 30 * D }, D), D);
  assertEquals(boundedSplitInterval({ start: 0, end: (MAX_SPLIT_PARTS - 1) * D }, D), D);
  assertEquals(boundedSplitInterval({ start: 0, end: 10 * D }, 0), 0);
  for (
    const [start, end, step, interval] of [
      [0, 1_700_000_000_000, 3_600_000, D], // a label request since 1970
      [-9_999_999_999_000, 9_999_999_999_000, 2_000_000_000, H], // 634 years, 10,000 points
      [1_000, 1_000 + 1001 * D, 60_000, D], // just over the bound
      [7_000, 7_000 + 5000 * H + 13, 97_000, H],
      // off the boundaries, exactly twice the bound: a part more at each end than the length
      [500, 500 + 2 * MAX_SPLIT_PARTS * 1000, 7, 1000],
    ] as const
  ) {
    const bounded = boundedSplitInterval({ start, end }, interval);
    assertEquals(bounded % interval, 0, "a multiple of the configured interval");
    assert(bounded > interval, `${start}..${end} widened`);
    const labels = splitLabelsRange({ start, end }, bounded);
    assert(labels.length <= MAX_SPLIT_PARTS, `${labels.length} label parts`);
    assertEquals(labels[0].start, start);
    assertEquals(labels[labels.length - 1].end, end);
    for (let i = 1; i < labels.length; i++) assertEquals(labels[i].start, labels[i - 1].end + 1);
    const parts = splitRange({ start, end }, step, bounded);
    assert(parts.length <= MAX_SPLIT_PARTS, `${parts.length} range parts`);
    // every part on the original grid, the next one a step after the previous one's end
    assertEquals(parts[0].start, start);
    for (let i = 1; i < parts.length; i++) assertEquals(parts[i].start, parts[i - 1].end + step);
    assert(parts[parts.length - 1].end <= end && parts[parts.length - 1].end > end - step);
  }
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
