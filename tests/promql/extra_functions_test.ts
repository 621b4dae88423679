// Optional function sets: Prometheus's experimental functions
// (`--enable-feature=promql-experimental-functions`) and Thanos promql-engine's xrate,
// xincrease, xdelta (`--query.enable-x-functions`). Prometheus 2.42 (the differential peer) has
// none of them, so each expected value is computed here from the function's definition
// (https://prometheus.io/docs/prometheus/latest/querying/functions/ and promql-engine's
// ringbuffer/functions.go `extendedRate`).

import { assert, assertAlmostEquals, assertEquals, assertRejects } from "../helpers/assert.ts";
import { Engine, type EngineOptions } from "../../promql/engine.ts";
import { PromQLError } from "../../promql/errors.ts";
import { parseExpr } from "../../promql/parser.ts";
import { natLess } from "../../promql/aggregations.ts";
import type { QueryValue, Vector } from "../../promql/value.ts";
import { labelsToObject } from "../../tsdb/labels.ts";
import { xxhash64 } from "../../tsdb/label_hash.ts";
import { MemQueryable, type Point } from "../helpers/mem_queryable.ts";

const S = 1000;
const ALL: EngineOptions = { functions: { experimentalFunctions: true, xFunctions: true } };

async function instant(q: MemQueryable, expr: string, t: number, o = ALL): Promise<Vector> {
  const v: QueryValue = (await new Engine(o).instantQuery(q, expr, t)).value;
  assertEquals(v.type, "vector");
  return v as Vector;
}

async function one(q: MemQueryable, expr: string, t: number): Promise<number | undefined> {
  const v = await instant(q, expr, t);
  assert(v.samples.length <= 1, `${expr}: ${v.samples.length} samples`);
  return v.samples[0]?.v;
}

const series = (points: Point[]) => new MemQueryable([{ labels: { __name__: "x" }, points }]);

Deno.test("the optional functions are unknown unless enabled, with Prometheus v3's messages", () => {
  const fail = (expr: string, opts: Parameters<typeof parseExpr>[1], text: string) => {
    try {
      parseExpr(expr, opts);
    } catch (e) {
      assert((e as Error).message.includes(text), (e as Error).message);
      return;
    }
    throw new Error(`${expr} parsed`);
  };
  fail("xrate(x[5m])", {}, 'unknown function with name "xrate"');
  fail(
    "xincrease(x[5m])",
    { experimentalFunctions: true },
    'unknown function with name "xincrease"',
  );
  fail('sort_by_label(x, "a")', {}, 'function "sort_by_label" is not enabled');
  fail("mad_over_time(x[5m])", { xFunctions: true }, 'function "mad_over_time" is not enabled');
  fail("xdelta(x)", { xFunctions: true }, "expected type range vector");
  parseExpr("xdelta(x[1m]) + mad_over_time(x[1m])", {
    xFunctions: true,
    experimentalFunctions: true,
  });
});

Deno.test("the engine refuses a disabled function as a bad_data parse error", async () => {
  const q = series([[0, 1]]);
  const e = await assertRejects(
    () => new Engine().instantQuery(q, "ts_of_last_over_time(x[1m])", 0),
    PromQLError,
  );
  assertEquals((e as PromQLError).type, "bad_data");
  assert(e.message.includes('function "ts_of_last_over_time" is not enabled'), e.message);
});

Deno.test("xrate/xincrease/xdelta use the sample before the window and correct resets", async () => {
  // window (5s, 65s] holds 15s…60s; the sample at 0 precedes it by 5s, less than the 15s
  // average gap, so it is the first point; the drop 60 → 5 is a counter reset
  const q = series([[0, 0], [15 * S, 30], [30 * S, 60], [45 * S, 5], [60 * S, 35]]);
  // increase = 35 − 0 + 60 (reset) = 95; the points cover the range (first ≤ start, last 5s
  // before the end < 15s): scaled by 60s / 60s sampled; xrate divides by the 60s range
  assertAlmostEquals((await one(q, "xrate(x[1m])", 65 * S))!, 95 / 60, 1e-12);
  assertEquals(await one(q, "xincrease(x[1m])", 65 * S), 95);
  // xdelta: no reset correction, 35 − 0
  assertEquals(await one(q, "xdelta(x[1m])", 65 * S), 35);
  // 2.42's rate over [5s, 65s] sees 15s…60s only: a different answer
  const rate = await one(q, "rate(x[1m])", 65 * S);
  assert(rate !== undefined && Math.abs(rate - 95 / 60) > 0.01, String(rate));
});

Deno.test("xrate drops a preceding sample farther than the average gap; xincrease keeps it", async () => {
  const q = series([[0, 1], [58 * S, 2], [60 * S, 5]]);
  // window (55s, 65s]: 58s, 60s and the preceding sample at 0; 55s before the start exceeds the
  // 30s average gap: dropped; then 58s…60s (3 in 2s), first > start: no scaling; 3 / 10s
  assertAlmostEquals((await one(q, "xrate(x[10s])", 65 * S))!, 0.3, 1e-12);
  assertEquals(await one(q, "xdelta(x[10s])", 65 * S), 3);
  // xincrease keeps every point and never extrapolates: 5 − 1
  assertEquals(await one(q, "xincrease(x[10s])", 65 * S), 4);
  // two points: the preceding one is within the average gap (60s); 5 − 1 scaled from the 60s
  // sampled to the 10s range, per second
  const two = series([[0, 1], [60 * S, 5]]);
  assertAlmostEquals((await one(two, "xrate(x[10s])", 65 * S))!, (4 * 10 / 60) / 10, 1e-12);
});

Deno.test("xincrease of a series that just appeared with one value is that value", async () => {
  const pts: Point[] = [];
  for (let t = 0; t <= 300 * S; t += 15 * S) pts.push([t, 7]);
  const q = series(pts);
  // until `range` after the first sample read: the value itself (a "zero" series before it)
  assertEquals(await one(q, "xincrease(x[1m])", 30 * S), 7);
  assertEquals(await one(q, "xincrease(x[1m])", 60 * S), 7);
  // later: the plain difference
  assertEquals(await one(q, "xincrease(x[1m])", 300 * S), 0);
  assertEquals(await one(q, "xrate(x[1m])", 300 * S), 0);
});

Deno.test("the preceding sample is looked for up to 1h before the window", async () => {
  const q = series([[0, 1]]);
  // window (1h − 30s, 1h + 30s] is empty; the sample at 0 is within 1h of its start
  assertEquals(await one(q, "xincrease(x[1m])", 3630 * S), 0);
  // 1s more and it is 1h + 1s before the start: nothing
  assertEquals(await one(q, "xincrease(x[1m])", 3661 * S), undefined);
  assertEquals(await one(q, "xrate(x[1m])", 3661 * S), undefined);
  // in a range query the sample stays read from the first step on; still only 1h is looked back
  const r = await new Engine(ALL).rangeQuery(q, "xincrease(x[1m])", 0, 7200 * S, 1800 * S);
  const m = r.value as { series: { ts: ArrayLike<number>; vs: ArrayLike<number> }[] };
  assertEquals(m.series.length, 1);
  // at 0 the just-appeared value itself; at 30m and 1h the preceding sample alone: 0
  assertEquals(Array.from(m.series[0].ts), [0, 1800 * S, 3600 * S]);
  assertEquals(Array.from(m.series[0].vs), [1, 0, 0]);
});

Deno.test("steps wider than the range: promql-engine's scanner decides the sample before", async () => {
  const range = async (q: MemQueryable, expr: string, end: number, step: number) => {
    const r = await new Engine(ALL).rangeQuery(q, expr, 0, end, step);
    const m = r.value as { series: { ts: ArrayLike<number>; vs: ArrayLike<number> }[] };
    return m.series.length === 0 ? [] : Array.from(m.series[0].ts).map((t, i) => [
      t / S,
      m.series[0].vs[i],
    ]);
  };
  // a sample read since the previous step counts however old: at 3h the newest sample at or
  // before the window (20s) is 3h old, read in this step (after the first one after the previous
  // window, 10s): xincrease of it alone is 0
  const fresh = series([[0, 1], [10 * S, 1], [20 * S, 1]]);
  assertEquals(await range(fresh, "xincrease(x[1m])", 10800 * S, 10800 * S), [[0, 1], [10800, 0]]);
  // the first sample after the previous window (10s) is never read into the next one: at 30m
  // the sample before the window is the one at 0, so xdelta is (7 − 1) scaled 60s / 1790s
  // overlapping windows (step = range): the sample at 0 is kept while less than 1h older
  // (until the range has passed since it appeared, xincrease answers its value)
  const one = series([[0, 1]]);
  assertEquals(await range(one, "xincrease(x[10m])", 7200 * S, 600 * S), [
    [0, 1],
    [600, 1],
    [1200, 0],
    [1800, 0],
    [2400, 0],
    [3000, 0],
    [3600, 0],
  ]);
  const skipped = series([[0, 1], [10 * S, 5], [1790 * S, 7]]);
  const got = await range(skipped, "xdelta(x[1m])", 1800 * S, 1800 * S);
  assertEquals(got.length, 2);
  assertEquals(got[1][0], 1800);
  assertAlmostEquals(got[1][1], 6 * 60 / 1790, 1e-12);
});

Deno.test("x-functions drop the metric name, work in range queries and refuse subqueries", async () => {
  const pts: Point[] = [];
  for (let t = 0; t <= 600 * S; t += 10 * S) pts.push([t, t / S]);
  const q = new MemQueryable([{ labels: { __name__: "x", job: "a" }, points: pts }]);
  const v = await instant(q, "xrate(x[1m])", 300 * S);
  assertEquals(labelsToObject(v.samples[0].labels), { job: "a" });
  assertAlmostEquals(v.samples[0].v, 1, 1e-12);
  const r = await new Engine(ALL).rangeQuery(q, "xrate(x[1m])", 100 * S, 300 * S, 100 * S);
  assertEquals(r.value.type, "matrix");
  const m = r.value as { series: { vs: ArrayLike<number> }[] };
  assertEquals(Array.from(m.series[0].vs).map((x) => Math.round(x * 1e9) / 1e9), [1, 1, 1]);
  await assertRejects(
    () => new Engine(ALL).instantQuery(q, "xrate(x[1m:10s])", 300 * S),
    PromQLError,
    "subquery",
  );
});

Deno.test("mad_over_time, ts_of_*_over_time and first_over_time by their definitions", async () => {
  const q = series([[10 * S, 5], [20 * S, 9], [30 * S, 9], [40 * S, 1], [50 * S, 100]]);
  // values 5 9 9 1 100: median 9; |deviations| 4 0 0 8 91: median 4
  assertEquals(await one(q, "mad_over_time(x[1m])", 50 * S), 4);
  // the newest of equal extremes: max 100 at 50s; min 1 at 40s
  assertEquals(await one(q, "ts_of_max_over_time(x[1m])", 50 * S), 50);
  assertEquals(await one(q, "ts_of_max_over_time(x[1m])", 45 * S), 30);
  assertEquals(await one(q, "ts_of_min_over_time(x[1m])", 50 * S), 40);
  assertEquals(await one(q, "ts_of_first_over_time(x[1m])", 50 * S), 10);
  assertEquals(await one(q, "ts_of_last_over_time(x[1m])", 45 * S), 40);
  // first_over_time keeps the metric name, like last_over_time
  const f = await instant(q, "first_over_time(x[25s])", 50 * S);
  assertEquals(labelsToObject(f.samples[0].labels), { __name__: "x" });
  assertEquals(f.samples[0].v, 9);
});

Deno.test("double_exponential_smoothing is holt_winters' recursion", async () => {
  const vals = [3, 7, 4, 9, 12, 10];
  const q = series(vals.map((v, i) => [i * 10 * S, v] as Point));
  const sf = 0.3, tf = 0.6;
  // level s, trend b: s_i = sf·x_i + (1 − sf)(s_{i−1} + b_{i−1}), b_i = tf(s_i − s_{i−1}) + (1 − tf)b_{i−1}
  let s = vals[0], b = vals[1] - vals[0];
  for (let i = 1; i < vals.length; i++) {
    const next = sf * vals[i] + (1 - sf) * (s + b);
    b = tf * (next - s) + (1 - tf) * b;
    s = next;
  }
  const got = await one(q, `double_exponential_smoothing(x[1m], ${sf}, ${tf})`, 50 * S);
  assertAlmostEquals(got!, s, 1e-9);
  await assertRejects(
    () => new Engine(ALL).instantQuery(q, "double_exponential_smoothing(x[1m], 1, 0.5)", 50 * S),
    PromQLError,
    "invalid smoothing factor",
  );
});

Deno.test("sort_by_label orders instant results naturally by the labels, then the label set", async () => {
  const q = new MemQueryable(
    ["host10", "host9", "host1", "host9"].map((h, i) => ({
      labels: { __name__: "x", instance: h, idx: String(i) },
      points: [[0, i]] as Point[],
    })),
  );
  const order = async (expr: string) =>
    (await instant(q, expr, 0)).samples.map((s) => {
      const o = labelsToObject(s.labels);
      return `${o.instance}/${o.idx}`;
    });
  assertEquals(await order('sort_by_label(x, "instance")'), [
    "host1/2",
    "host9/1",
    "host9/3",
    "host10/0",
  ]);
  assertEquals(await order('sort_by_label_desc(x, "instance")'), [
    "host10/0",
    "host9/3",
    "host9/1",
    "host1/2",
  ]);
  // no label: the whole label set
  assertEquals(await order("sort_by_label(x)"), ["host10/0", "host9/1", "host1/2", "host9/3"]);
});

Deno.test("natural order compares digit runs as integers", () => {
  assert(natLess("a2", "a10"));
  assert(!natLess("a10", "a2"));
  assert(natLess("a", "b"));
  // as in Go: an empty string precedes nothing (no chunks to compare)
  assert(!natLess("", "a"));
  assert(natLess("x1y", "x1z"));
  // a digit run that overflows int64 compares as text
  assert(natLess("10000000000000000000", "9"));
  assert(!natLess("1000000000000000000", "9"));
});

Deno.test("limitk and limit_ratio are refused unless enabled, as in Prometheus v3", () => {
  for (const q of ["limitk(2, x)", "limit_ratio(0.5, x)"]) {
    try {
      parseExpr(q);
      throw new Error(`${q} parsed`);
    } catch (e) {
      assert(
        (e as Error).message.includes(
          "() is experimental and must be enabled with --enable-feature=promql-experimental-functions",
        ),
        (e as Error).message,
      );
    }
  }
  // still a metric name
  parseExpr("limitk");
  parseExpr("limitk(2, x) by (job)", { experimentalFunctions: true });
});

Deno.test("limitk keeps the first k series of each group; limit_ratio samples by label hash", async () => {
  const defs = [];
  for (let i = 0; i < 40; i++) {
    defs.push({
      labels: { __name__: "x", job: i % 2 === 0 ? "a" : "b", i: String(i).padStart(2, "0") },
      points: [[0, i]] as Point[],
    });
  }
  const q = new MemQueryable(defs);
  const ids = async (expr: string) =>
    (await instant(q, expr, 0)).samples.map((s) => labelsToObject(s.labels).i).sort();
  // series come sorted by labels: i=00…39; per job the first two
  assertEquals(await ids("limitk(2, x) by (job)"), ["00", "01", "02", "03"]);
  assertEquals(await ids("limitk(3, x)"), ["00", "01", "02"]);
  assertEquals(await ids("limitk(0, x)"), []);
  // limit_ratio(r): hash(labels) / 2^64 < r, computed here with xxHash64 of name\xffvalue\xff…
  const offsets = new Map<string, number>();
  for (const d of defs) {
    const o = d.labels;
    // each string's UTF-8 bytes followed by a raw 0xff byte
    const bytes = ["__name__", o.__name__, "i", o.i, "job", o.job].flatMap((t) => [
      ...new TextEncoder().encode(t),
      0xff,
    ]);
    offsets.set(o.i, Number(xxhash64(new Uint8Array(bytes))) / 2 ** 64);
  }
  const below = [...offsets].filter(([, v]) => v < 0.3).map(([k]) => k).sort();
  const atOrAbove = [...offsets].filter(([, v]) => v >= 0.3).map(([k]) => k).sort();
  assert(below.length > 0 && atOrAbove.length > 0);
  assertEquals(await ids("limit_ratio(0.3, x)"), below);
  // the complement: r − 1 selects exactly the others
  assertEquals(await ids("limit_ratio(-0.7, x)"), atOrAbove);
  assertEquals((await ids("limit_ratio(1, x)")).length, 40);
  assertEquals(await ids("limit_ratio(0, x)"), []);
  await assertRejects(
    () => new Engine(ALL).instantQuery(q, "limit_ratio(NaN, x)", 0),
    PromQLError,
    "Ratio value is NaN",
  );
});
