// PromQL kernels: hand-checked cases taken from Prometheus 2.42's promqltest files
// (functions.test, aggregators.test, histograms.test), Go float formatting, and an e2e check of
// the kernels against a real Prometheus on the generated data set.

import { assert, assertAlmostEquals, assertEquals, assertThrows } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { labelsFromObject, labelsToObject, METRIC_NAME } from "../../tsdb/labels.ts";
import type { Labels } from "../../tsdb/series.ts";
import {
  avgOverTime,
  changes,
  clamp,
  clampMax,
  clampMin,
  dayOfMonth,
  dayOfWeek,
  dayOfYear,
  daysInMonth,
  delta,
  deriv,
  exp,
  FunctionArgumentError,
  goPow,
  holtWinters,
  hour,
  idelta,
  increase,
  irate,
  lastOverTime,
  ln,
  log2,
  maxOverTime,
  minOverTime,
  minute,
  month,
  predictLinear,
  quantileOverTime,
  RANGE_FUNCTIONS,
  rate,
  resets,
  round,
  sgn,
  SIMPLE_FUNCTIONS,
  stddevOverTime,
  stdvarOverTime,
  sumOverTime,
  year,
} from "../../promql/functions.ts";
import { formatSampleValue } from "../../strconv/float.ts";
import { aggregate, sortByValue } from "../../promql/aggregations.ts";
import type { AggregationOp, VectorSample } from "../../promql/aggregations.ts";
import { bucketQuantile, histogramQuantileVector, parseGoFloat } from "../../promql/histogram.ts";
import {
  compareResults,
  msToApiSeconds,
  queryPrometheus,
  setupDiffEnvironment,
} from "../e2e/promql_diff_harness.ts";
import type { QueryOutcome } from "../e2e/promql_diff_harness.ts";
import type { DatasetSeries } from "../../scripts/dataset.ts";

const MIN = 60_000;

/** promqltest `load <step>` series: values at 0, step, 2·step, … (null = missing point). */
function series(stepMs: number, values: (number | null)[]): { ts: Float64Array; vs: Float64Array } {
  const ts: number[] = [];
  const vs: number[] = [];
  values.forEach((v, i) => {
    if (v !== null) {
      ts.push(i * stepMs);
      vs.push(v);
    }
  });
  return { ts: Float64Array.from(ts), vs: Float64Array.from(vs) };
}

/** Expands promqltest `a+bxN` (N+1 values by repeated addition). */
function seq(a: number, b: number, n: number): number[] {
  const out = [a];
  let v = a;
  for (let i = 0; i < n; i++) out.push(v += b);
  return out;
}

/** Index range [from, to) of samples with t in [evalMs − rangeMs, evalMs] (2.x closed window). */
function window(ts: Float64Array, evalMs: number, rangeMs: number): [number, number] {
  let from = 0;
  while (from < ts.length && ts[from] < evalMs - rangeMs) from++;
  let to = from;
  while (to < ts.length && ts[to] <= evalMs) to++;
  return [from, to];
}

function evalRange(
  s: { ts: Float64Array; vs: Float64Array },
  evalMs: number,
  rangeMs: number,
  f: (ts: Float64Array, vs: Float64Array, from: number, to: number) => number | undefined,
): number | undefined {
  const [from, to] = window(s.ts, evalMs, rangeMs);
  return from < to ? f(s.ts, s.vs, from, to) : undefined;
}

function rateAt(
  s: { ts: Float64Array; vs: Float64Array },
  evalMs: number,
  rangeMs: number,
  fn: typeof rate,
): number | undefined {
  return evalRange(
    s,
    evalMs,
    rangeMs,
    (ts, vs, a, b) => fn(ts, vs, a, b, evalMs - rangeMs, evalMs),
  );
}

Deno.test("resets() and changes() count like functions.test", () => {
  const foo = series(5 * MIN, [1, 2, 3, 0, 1, 0, 0, 1, 2, 0]);
  const bar = series(5 * MIN, [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]);
  const biz = series(5 * MIN, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  const at = 50 * MIN;
  assertEquals([20, 30, 50].map((r) => evalRange(foo, at, r * MIN, resets)), [1, 2, 3]);
  assertEquals([20, 30, 50].map((r) => evalRange(bar, at, r * MIN, resets)), [0, 1, 1]);
  assertEquals([5, 20, 30, 50].map((r) => evalRange(foo, at, r * MIN, changes)), [0, 3, 4, 8]);
  assertEquals([5, 20, 30, 50].map((r) => evalRange(bar, at, r * MIN, changes)), [0, 3, 5, 9]);
  assertEquals([30, 50].map((r) => evalRange(biz, at, r * MIN, changes)), [1, 1]);
  assertEquals(evalRange(series(5 * MIN, [NaN, NaN, NaN]), 15 * MIN, 15 * MIN, changes), 0);
  assertEquals(evalRange(series(5 * MIN, [0, NaN, 0]), 15 * MIN, 15 * MIN, changes), 2);
});

Deno.test("rate(), increase() and delta() extrapolate and correct resets like Prometheus 2.42", () => {
  const foo = series(5 * MIN, seq(0, 10, 10));
  const bar = series(5 * MIN, [...seq(0, 10, 5), ...seq(0, 10, 5)]);
  assertEquals(rateAt(foo, 50 * MIN, 50 * MIN, increase), 100);
  assertEquals(rateAt(bar, 50 * MIN, 50 * MIN, increase), 90);
  assertEquals(rateAt(foo, 50 * MIN, 100 * MIN, increase), 100);
  assertEquals(rateAt(series(5 * MIN, [0, 1, 2, 3, 2, 3, 4]), 30 * MIN, 30 * MIN, increase), 7);
  const middle = series(5 * MIN, [...seq(0, 10, 4), ...seq(0, 10, 5)]);
  assertAlmostEquals(rateAt(middle, 50 * MIN, 50 * MIN, rate)!, 0.03, 1e-12);
  const end = series(5 * MIN, [...seq(0, 10, 9), 0, 10]);
  assertEquals(rateAt(end, 50 * MIN, 5 * MIN, rate), 0);
  assertAlmostEquals(
    rateAt(series(5 * MIN, seq(0, 80, 10)), 50 * MIN, 50 * MIN, rate)!,
    0.26666666666666666,
    1e-12,
  );
  // offset 5m: window [35m, 45m]
  const offA = series(5 * MIN, seq(0, 10, 10));
  const [f, t] = window(offA.ts, 45 * MIN, 10 * MIN);
  assertAlmostEquals(rate(offA.ts, offA.vs, f, t, 35 * MIN, 45 * MIN)!, 0.03333333333333333, 1e-12);
  // zero cutoff of the left-side extrapolation (load 4m)
  const want10m = [0.5, 0.55, 0.6, 0.65, 0.7, 0.6];
  for (let k = 0; k < 6; k++) {
    const s = series(4 * MIN, seq(60 * k, 240, 10));
    assertAlmostEquals(rateAt(s, 10 * MIN, 20 * MIN, rate)!, want10m[k], 1e-12);
    assertAlmostEquals(rateAt(s, 50 * MIN, 20 * MIN, rate)!, 0.6, 1e-12);
  }
  const d = series(5 * MIN, [0, 50, 100, 150, 200]);
  assertEquals(rateAt(d, 20 * MIN, 20 * MIN, delta), 200);
  assertEquals(rateAt(series(5 * MIN, [200, 150, 100, 50, 0]), 20 * MIN, 20 * MIN, delta), -200);
  // fewer than two samples: no output
  assertEquals(rate(Float64Array.of(0), Float64Array.of(1), 0, 1, -MIN, 0), undefined);
});

Deno.test("irate() and idelta() use the last two samples", () => {
  const foo = series(5 * MIN, seq(0, 10, 10));
  const bar = series(5 * MIN, [...seq(0, 10, 5), ...seq(0, 10, 5)]);
  assertAlmostEquals(evalRange(foo, 50 * MIN, 50 * MIN, irate)!, 0.03333333333333333, 1e-12);
  assertAlmostEquals(evalRange(bar, 50 * MIN, 50 * MIN, irate)!, 0.03333333333333333, 1e-12);
  assertEquals(evalRange(bar, 30 * MIN, 50 * MIN, irate), 0);
  assertEquals(evalRange(series(5 * MIN, [0, 50, 100, 150]), 20 * MIN, 20 * MIN, idelta), 50);
  assertEquals(evalRange(series(5 * MIN, [0, 50, 100, 50]), 20 * MIN, 20 * MIN, idelta), -50);
});

Deno.test("deriv() and predict_linear() fit the least-squares line of functions.test", () => {
  const s = series(5 * MIN, [...seq(0, 10, 4), ...seq(0, 10, 5)]);
  assertAlmostEquals(evalRange(s, 50 * MIN, 100 * MIN, deriv)!, 0.010606060606060607, 1e-12);
  const pl = (evalMs: number, selMs: number) =>
    evalRange(s, selMs, 100 * MIN, (ts, vs, a, b) => predictLinear(ts, vs, a, b, evalMs, 3600));
  assertAlmostEquals(pl(50 * MIN, 50 * MIN)!, 76.81818181818181, 1e-12);
  // `@ 3000` fixes the window, the intercept stays at the evaluation time
  assertAlmostEquals(pl(10 * MIN, 50 * MIN)!, 51.36363636363637, 1e-12);
  assertAlmostEquals(pl(70 * MIN, 50 * MIN)!, 89.54545454545455, 1e-12);
  const c = series(5 * MIN, seq(0, 80, 10));
  assertAlmostEquals(evalRange(c, 50 * MIN, 50 * MIN, deriv)!, 0.26666666666666666, 1e-12);
  // constant values: slope 0; constant infinities: NaN
  assertEquals(deriv(Float64Array.of(0, 1000), Float64Array.of(5, 5), 0, 2), 0);
  assert(Number.isNaN(deriv(Float64Array.of(0, 1000), Float64Array.of(Infinity, Infinity), 0, 2)));
});

Deno.test("holt_winters() smooths trends and validates its factors", () => {
  const hw = (values: number[]) => {
    const s = series(10_000, values);
    return evalRange(s, 8_000_000, MIN, (ts, vs, a, b) => holtWinters(ts, vs, a, b, 0.01, 0.1));
  };
  assertAlmostEquals(hw([...seq(0, 10, 1000), ...seq(100, 30, 1000)])!, 8000, 1e-9);
  assertAlmostEquals(hw([...seq(0, 20, 1000), ...seq(200, 30, 1000)])!, 16000, 1e-9);
  assertAlmostEquals(hw(seq(0, 40, 2000))!, 32000, 1e-9);
  assertAlmostEquals(hw(seq(8000, -10, 1000))!, 0, 1e-9);
  assertAlmostEquals(hw([...seq(0, -40, 1000), ...seq(0, 40, 1000)])!, -32000, 1e-9);
  const e = assertThrows(
    () => holtWinters(Float64Array.of(0, 1), Float64Array.of(0, 1), 0, 2, 0, 0.5),
    FunctionArgumentError,
  );
  assertEquals(e.message, "invalid smoothing factor. Expected: 0 < sf < 1, got: 0.000000");
  assertThrows(
    () => holtWinters(Float64Array.of(0), Float64Array.of(0), 0, 1, 0.5, 1),
    FunctionArgumentError,
    "invalid trend factor. Expected: 0 < tf < 1, got: 1.000000",
  );
  assertEquals(holtWinters(Float64Array.of(0), Float64Array.of(0), 0, 1, 0.5, 0.5), undefined);
});

Deno.test("*_over_time kernels handle infinities, NaN and overflow like functions.test", () => {
  const over = (
    values: number[],
    f: (ts: Float64Array, vs: Float64Array, a: number, b: number) => number,
  ) => f(new Float64Array(values.length), Float64Array.from(values), 0, values.length);
  const I = Infinity;
  const cases: [number[], number][] = [
    [[1, 2, 3, 4, 5], 3],
    [[1, 2, 3, 4, I], I],
    [[1, 2, 3, 4, -I], -I],
    [[1, 2, 3, I, -I], NaN],
    [[I, 0, I], I],
    [[I, I, I, -I], NaN],
    [[1, 2, 3, -I, -I], -I],
    [[-I, 0, -I], -I],
    [[-I, -I, -I, I], NaN],
    [[1, 2, -I, -I, I], NaN],
    [[9.988465674311579e+307, 9.988465674311579e+307], 9.988465674311579e+307],
    [
      [-9.988465674311579e+307, -9.988465674311579e+307, -9.988465674311579e+307],
      -9.988465674311579e+307,
    ],
    [[-9.988465674311579e+307, 9.988465674311579e+307], 0],
  ];
  for (const [vals, want] of cases) {
    const got = over(vals, avgOverTime);
    assert(Object.is(got, want) || got === want, `avg_over_time(${vals}) = ${got}, want ${want}`);
  }
  assertEquals(over([9.988465674311579e+307, 9.988465674311579e+307], sumOverTime), Infinity);
  assertAlmostEquals(over([0, 8, 8, 2, 3], stdvarOverTime), 10.56, 1e-12);
  assertAlmostEquals(over([0, 8, 8, 2, 3], stddevOverTime), 3.249615, 1e-6);
  const c = 1.5990505637277868;
  assertEquals(over([c, c, c], stdvarOverTime), 0);
  assertEquals(over([c, c, c], stddevOverTime), 0);
  const data = [[2, 0, 3], [2, 0, NaN], [2, NaN, 1], [NaN, 0, 1], [NaN, NaN, NaN]];
  assertEquals(data.map((d) => over(d, minOverTime)), [0, 0, 1, 0, NaN]);
  assertEquals(data.map((d) => over(d, maxOverTime)), [3, 2, 2, 1, NaN]);
  assertEquals(data.map((d) => over(d, lastOverTime)), [3, NaN, 1, 1, NaN]);
});

Deno.test("quantile_over_time() interpolates linearly between sorted samples", () => {
  const sets = [[0, 1], [0, 1, 2], [0, 1, 4]];
  const q = (phi: number) =>
    sets.map((s) =>
      quantileOverTime(phi, new Float64Array(s.length), Float64Array.from(s), 0, s.length)
    );
  assertEquals(q(0), [0, 0, 0]);
  assertEquals(q(0.5), [0.5, 1, 1]);
  assertEquals(q(0.75), [0.75, 1.5, 2.5]);
  q(0.8).forEach((v, i) => assertAlmostEquals(v, [0.8, 1.6, 2.8][i], 1e-12));
  assertEquals(q(1), [1, 2, 4]);
  assertEquals(q(-1), [-Infinity, -Infinity, -Infinity]);
  assertEquals(q(2), [Infinity, Infinity, Infinity]);
  assert(q(NaN).every(Number.isNaN));
});

Deno.test("math, clamp, round and sgn kernels match functions.test values", () => {
  assertEquals(exp(10), 22026.465794806718);
  assertAlmostEquals(exp(20), 485165195.4097903, 1e-15);
  assertAlmostEquals(exp(-10), 4.5399929762484854e-05, 1e-15);
  assertEquals(ln(10), 2.302585092994046);
  assertEquals(ln(0), -Infinity);
  assert(Number.isNaN(ln(-10)));
  assertAlmostEquals(log2(10), 3.3219280948873626, 1e-15);
  assertEquals(log2(8), 3);
  assertEquals(log2(5e-324), -1074);
  assertAlmostEquals(ln(5e-324), -709.0895657128241, 1e-15);
  assertEquals([-50, 0, 100].map((v) => clampMax(v, 75)), [-50, 0, 75]);
  assertEquals([-50, 0, 100].map((v) => clampMin(v, -25)), [-25, 0, 100]);
  assertEquals([-50, 0, 100].map((v) => clamp(v, -25, 75)), [-25, 0, 75]);
  assert(Number.isNaN(clamp(5, 0, NaN)) && Number.isNaN(clamp(5, NaN, 0)));
  assertEquals([-Infinity, Infinity, -50, 0, 100].map(sgn), [-1, 1, -1, 0, 1]);
  assert(Number.isNaN(sgn(NaN)));
  assertEquals(round(2.5), 3);
  assertEquals(round(-2.5), -2);
  assertEquals(round(12.34, 0.1), 12.3);
  assertEquals(round(17, 5), 15);
  assertEquals(goPow(-1, Infinity), 1);
  assertEquals(goPow(1, NaN), 1);
  assertEquals(goPow(2, 10), 1024);
});

Deno.test("date functions compute UTC calendar fields like functions.test", () => {
  const t = 1136239445; // 2006-01-02T22:04:05Z
  assertEquals([year(t), month(t), dayOfMonth(t), dayOfYear(t), dayOfWeek(t), hour(t), minute(t)], [
    2006,
    1,
    2,
    2,
    1,
    22,
    4,
  ]);
  assertEquals([year(0), month(0), dayOfMonth(0), dayOfYear(0), dayOfWeek(0)], [1970, 1, 1, 1, 4]);
  assertEquals(year(1230767999), 2008);
  assertEquals(year(1230768000), 2009);
  assertEquals(month(1456790399) + dayOfMonth(1456790399) / 100, 2.29);
  assertEquals(month(1456790400) + dayOfMonth(1456790400) / 100, 3.01);
  assertEquals(dayOfYear(1483191420), 366);
  assertEquals(dayOfYear(1672493820), 365);
  assertEquals(daysInMonth(1454284800), 29);
  assertEquals(daysInMonth(1485907200), 28);
  // negative times and fractional seconds truncate toward zero like Go's int64()
  assertEquals([year(-1), month(-1), dayOfMonth(-1), hour(-1), minute(-1)], [1969, 12, 31, 23, 59]);
  assertEquals(dayOfWeek(-86400), 3);
  assertEquals(hour(3599.9), 0);
  // NaN, ±Inf and values beyond int64 become math.MinInt64 seconds, which Go's time wraps
  assertEquals([year(NaN), month(Infinity), dayOfMonth(-Infinity), dayOfYear(1e19)], [
    292277026596,
    12,
    4,
    339,
  ]);
  assertEquals([hour(NaN), minute(NaN), daysInMonth(NaN)], [15, 30, 31]);
});

function vec(rows: [Record<string, string>, number][]): VectorSample[] {
  return rows.map(([o, value]) => ({ labels: labelsFromObject(o), value }));
}

function plain(v: VectorSample[]): [Record<string, string>, number][] {
  return v.map((s) => [labelsToObject(s.labels), s.value]);
}

/** aggregators.test's http_requests at 50m, in storage (label) order. */
const HTTP = vec([
  [{ __name__: "r", group: "canary", instance: "0", job: "api-server" }, 300],
  [{ __name__: "r", group: "canary", instance: "0", job: "app-server" }, 700],
  [{ __name__: "r", group: "canary", instance: "1", job: "api-server" }, 400],
  [{ __name__: "r", group: "canary", instance: "1", job: "app-server" }, 800],
  [{ __name__: "r", group: "production", instance: "0", job: "api-server" }, 100],
  [{ __name__: "r", group: "production", instance: "0", job: "app-server" }, 500],
  [{ __name__: "r", group: "production", instance: "1", job: "api-server" }, 200],
  [{ __name__: "r", group: "production", instance: "1", job: "app-server" }, 600],
  [{ __name__: "r", group: "production", instance: "2", job: "api-server" }, NaN],
]);

function agg(
  op: AggregationOp,
  v: VectorSample[],
  grouping: string[],
  without = false,
  param?: number | string,
) {
  return plain(aggregate(op, v, { grouping, without, param }));
}

Deno.test("topk/bottomk select, order and keep labels like aggregators.test", () => {
  const noNaN = HTTP.filter((s) => !Number.isNaN(s.value));
  assertEquals(agg("topk", HTTP, [], false, 3).map((r) => r[1]), [800, 700, 600]);
  assertEquals(agg("bottomk", HTTP, [], false, 3).map((r) => r[1]), [100, 200, 300]);
  assertEquals(agg("topk", HTTP, [], false, 3)[0][0], {
    __name__: "r",
    group: "canary",
    instance: "1",
    job: "app-server",
  });
  const prodApi = HTTP.filter((s) =>
    s.labels.includes("production") && s.labels.includes("api-server")
  );
  assertEquals(agg("topk", prodApi, [], false, 3).map((r) => r[1]), [200, 100, NaN]);
  assertEquals(agg("bottomk", prodApi, [], false, 3).map((r) => r[1]), [100, 200, NaN]);
  assertEquals(agg("topk", prodApi, [], false, 9999999999).map((r) => r[1]), [200, 100, NaN]);
  assertEquals(agg("topk", noNaN, ["group"], false, 1).map((r) => r[1]), [800, 600]);
  assertEquals(agg("bottomk", noNaN, ["group"], false, 2).map((r) => r[1]), [300, 400, 100, 200]);
  assertEquals(agg("topk", HTTP, [], false, 0), []);
  assertThrows(() => agg("topk", HTTP, [], false, NaN), Error, "Scalar value NaN overflows int64");
  // ties: Go's heap keeps the earliest series
  const ties = vec([[{ i: "a" }, 1], [{ i: "b" }, 1], [{ i: "c" }, 1], [{ i: "d" }, 1]]);
  assertEquals(agg("topk", ties, [], false, 2).map((r) => r[0].i).sort(), ["a", "b"]);
});

Deno.test("sum/avg/count/min/max/stddev/stdvar/quantile/group follow 2.42 numerics", () => {
  const api = HTTP.filter((s) => s.labels.includes("api-server") && !Number.isNaN(s.value));
  assertEquals(agg("avg", api, ["group"]), [[{ group: "canary" }, 350], [
    { group: "production" },
    150,
  ]]);
  assertEquals(agg("count", api, ["group"]), [[{ group: "canary" }, 2], [
    { group: "production" },
    2,
  ]]);
  assertEquals(agg("sum", api, ["group"]), [[{ group: "canary" }, 700], [
    { group: "production" },
    300,
  ]]);
  const noNaN = HTTP.filter((s) => !Number.isNaN(s.value));
  assertAlmostEquals(agg("stddev", noNaN, [])[0][1], 229.12878474779, 1e-12);
  assertAlmostEquals(agg("stdvar", noNaN, [])[0][1], 52500, 1e-12);
  assertEquals(agg("stdvar", noNaN, ["instance"]).map((r) => r[1]), [50000, 50000]);
  assertEquals(agg("max", HTTP, []), [[{}, 800]]);
  assertEquals(agg("min", HTTP, []), [[{}, 100]]);
  assertEquals(agg("group", HTTP, ["job"]).map((r) => r[1]), [1, 1]);
  assertEquals(agg("sum", HTTP, ["instance"], true).map((r) => r[0]), [
    { group: "canary", job: "api-server" },
    { group: "canary", job: "app-server" },
    { group: "production", job: "api-server" },
    { group: "production", job: "app-server" },
  ]);
  const I = Infinity;
  const avgOf = (xs: number[]) =>
    agg("avg", vec(xs.map((v, i) => [{ p: String(i) }, v])), [])[0][1];
  assertEquals(avgOf([8, 10, 12]), 10);
  assertEquals(avgOf([0, I, I, 0]), I);
  assertEquals(avgOf([I, 0, I]), I);
  assert(Number.isNaN(avgOf([I, I, -I])));
  assertEquals(avgOf([-I, -I, 0]), -I);
  assert(Number.isNaN(avgOf([-I, 0, I])));
  const big = 9.988465674311579e+307;
  assertEquals(avgOf([big, big, big, big]), big);
  assertEquals(avgOf([-big, -big, big, big]), 0);
  const q = vec([
    [{ test: "two", point: "a" }, 0],
    [{ test: "two", point: "b" }, 1],
    [{ test: "three", point: "a" }, 0],
    [{ test: "three", point: "b" }, 1],
    [{ test: "three", point: "c" }, 2],
    [{ test: "uneven", point: "a" }, 0],
    [{ test: "uneven", point: "b" }, 1],
    [{ test: "uneven", point: "c" }, 4],
  ]);
  agg("quantile", q, ["point"], true, 0.8).forEach((r, i) =>
    assertAlmostEquals(r[1], [0.8, 1.6, 2.8][i], 1e-12)
  );
  assert(agg("quantile", q, ["point"], true, NaN).every((r) => Number.isNaN(r[1])));
});

Deno.test("count_values formats values with Go's 'f' format and may overwrite labels", () => {
  const version = vec([
    [{ group: "production", instance: "0", job: "api-server" }, 6],
    [{ group: "production", instance: "1", job: "api-server" }, 6],
    [{ group: "production", instance: "2", job: "api-server" }, 6],
    [{ group: "canary", instance: "0", job: "api-server" }, 8],
    [{ group: "canary", instance: "1", job: "api-server" }, 8],
    [{ group: "production", instance: "0", job: "app-server" }, 6],
    [{ group: "production", instance: "1", job: "app-server" }, 6],
    [{ group: "canary", instance: "0", job: "app-server" }, 7],
    [{ group: "canary", instance: "1", job: "app-server" }, 7],
  ]);
  assertEquals(agg("count_values", version, [], false, "version"), [
    [{ version: "6" }, 5],
    [{ version: "8" }, 2],
    [{ version: "7" }, 2],
  ]);
  assertEquals(agg("count_values", version, ["instance"], true, "job"), [
    [{ group: "production", job: "6" }, 5],
    [{ group: "canary", job: "8" }, 2],
    [{ group: "canary", job: "7" }, 2],
  ]);
  assertEquals(agg("count_values", version, ["job", "group"], false, "job"), [
    [{ group: "production", job: "6" }, 5],
    [{ group: "canary", job: "8" }, 2],
    [{ group: "canary", job: "7" }, 2],
  ]);
  assertEquals(agg("count_values", vec([[{}, 1e-7], [{}, 1e21]]), [], false, "v"), [
    [{ v: "0.0000001" }, 1],
    [{ v: "1000000000000000000000" }, 1],
  ]);
  assertThrows(
    () => agg("count_values", version, [], false, "1x"),
    Error,
    'invalid label name "1x"',
  );
});

Deno.test("sortByValue puts NaN last in both directions", () => {
  const v = vec([[{ a: "1" }, 2], [{ a: "2" }, NaN], [{ a: "3" }, -Infinity], [{ a: "4" }, 5]]);
  assertEquals(sortByValue(v, false).map((s) => s.value), [-Infinity, 2, 5, NaN]);
  assertEquals(sortByValue(v, true).map((s) => s.value), [5, 2, -Infinity, NaN]);
});

Deno.test("bucketQuantile reproduces histograms.test quantiles and edge cases", () => {
  const bq = (q: number, b: [number, number][]) =>
    bucketQuantile(
      q,
      Float64Array.from(b.map((x) => x[0])),
      Float64Array.from(b.map((x) => x[1])),
      b.length,
    );
  const pos: [number, number][] = [[0.1, 50], [0.2, 70], [1, 110], [Infinity, 120]];
  const neg: [number, number][] = [[-0.2, 10], [-0.1, 20], [0.3, 20], [Infinity, 30]];
  assertEquals([bq(-0.1, pos), bq(1.01, pos)], [-Infinity, Infinity]);
  assert(Number.isNaN(bq(NaN, pos)));
  assertEquals([bq(0, pos), bq(0, neg)], [0, -0.2]);
  assertEquals([bq(1, pos), bq(1, neg)], [1, 0.3]);
  assertAlmostEquals(bq(0.2, pos), 0.048, 1e-12);
  assertAlmostEquals(bq(0.2, neg), -0.2, 1e-12);
  assertAlmostEquals(bq(0.5, pos), 0.15, 1e-12);
  assertAlmostEquals(bq(0.5, neg), -0.15, 1e-12);
  assertAlmostEquals(bq(0.8, pos), 0.72, 1e-12);
  assertAlmostEquals(bq(0.8, neg), 0.3, 1e-12);
  const h2: [number, number][] = [[0, 0], [2, 10], [4, 20], [6, 30], [Infinity, 30]];
  assertAlmostEquals(bq(1 / 6, h2), 1, 1e-12);
  assertAlmostEquals(bq(0.5, h2), 3, 1e-12);
  assertAlmostEquals(bq(5 / 6, h2), 5, 1e-12);
  // unsorted input, duplicate bounds (le="0.2", "2e-1", "2.0e-1") and a missing +Inf bucket
  const mixed: [number, number][] = [[Infinity, 40], [0.2, 10], [0.1, 10], [0.2, 10], [0.2, 10]];
  assertAlmostEquals(bq(0.5, mixed), 0.15, 1e-12);
  assertAlmostEquals(bq(0.75, mixed), 0.2, 1e-12);
  assertAlmostEquals(bq(1, mixed), 0.2, 1e-12);
  assert(Number.isNaN(bq(0.5, [[0.1, 1], [0.2, 2]])));
  assert(Number.isNaN(bq(0.5, [[Infinity, 5]])), "< 2 buckets");
  assert(Number.isNaN(bq(0.5, [[0.1, 0], [Infinity, 0]])), "no observations");
  // non-monotonic counts are raised to the running maximum
  const nonmono: [number, number][] = [[0.1, 20], [1, 10], [10, 50], [100, 40], [1000, 90], [
    Infinity,
    80,
  ]];
  assertAlmostEquals(bq(0.01, nonmono), 0.0045, 1e-12);
  assertAlmostEquals(bq(0.5, nonmono), 8.5, 1e-12);
  assertAlmostEquals(bq(0.99, nonmono), 979.75, 1e-12);
});

Deno.test("histogramQuantileVector groups by labels without le and drops the name", () => {
  const v = vec([
    [{ __name__: "x_bucket", job: "a", le: "0.1" }, 1],
    [{ __name__: "x_bucket", job: "a", le: "0.2" }, 3],
    [{ __name__: "x_bucket", job: "a", le: "+Inf" }, 4],
    [{ __name__: "x_bucket", job: "b", le: "bogus" }, 4],
    [{ __name__: "x_bucket", job: "b" }, 4],
  ]);
  const out = histogramQuantileVector(0.3, v);
  assertEquals(out.length, 1);
  assertEquals(labelsToObject(out[0].labels), { job: "a" });
  assertAlmostEquals(out[0].value, 0.11, 1e-12);
  assertEquals([
    parseGoFloat("1e0"),
    parseGoFloat(".2"),
    parseGoFloat("+inf"),
    parseGoFloat("0x1p-2"),
  ], [
    1,
    0.2,
    Infinity,
    0.25,
  ]);
  assertEquals(parseGoFloat("bogus"), undefined);
  assertEquals(parseGoFloat("0x10"), undefined);
});

// ---------------------------------------------------------------------------------------------
// The kernels against a real Prometheus on the generated data set: a minimal evaluator (range
// windows [t−r, t], instant lookback 5m) applies them to the in-memory samples.

function lowerBound(ts: Float64Array, t: number): number {
  let lo = 0, hi = ts.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (ts[m] < t) lo = m + 1;
    else hi = m;
  }
  return lo;
}

function upperBound(ts: Float64Array, t: number): number {
  let lo = 0, hi = ts.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (ts[m] <= t) lo = m + 1;
    else hi = m;
  }
  return lo;
}

function toOutcome(rows: VectorSample[], evalMs: number): QueryOutcome {
  return {
    status: "success",
    data: {
      resultType: "vector",
      result: rows.map((r) => ({
        metric: labelsToObject(r.labels),
        value: [Number(msToApiSeconds(evalMs)), formatSampleValue(r.value)] as [number, string],
      })),
    },
  };
}

function withoutName(ls: Labels): Labels {
  const out: string[] = [];
  for (let i = 0; i < ls.length; i += 2) if (ls[i] !== METRIC_NAME) out.push(ls[i], ls[i + 1]);
  return out;
}

function ofMetric(all: DatasetSeries[], name: string): DatasetSeries[] {
  return all.filter((s) => labelsToObject(s.labels)[METRIC_NAME] === name);
}

/** Instant selector: newest sample in [t − 5m, t]. */
function instantVector(ss: DatasetSeries[], t: number): VectorSample[] {
  const out: VectorSample[] = [];
  for (const s of ss) {
    const i = upperBound(s.ts, t) - 1;
    if (i >= 0 && s.ts[i] >= t - 300_000) out.push({ labels: s.labels, value: s.vs[i] });
  }
  return out;
}

e2eTest(
  "function and aggregation kernels agree with Prometheus 2.42 on the generated data set",
  { peers: ["prometheus", "promtool"] },
  async () => {
    const env = await setupDiffEnvironment({
      dataset: {
        series: 200,
        start: 1_699_999_200_000,
        end: 1_699_999_200_000 + 3 * 3_600_000,
        stepMs: 15_000,
        seed: 7,
      },
      staleMarkers: false,
    });
    const problems: string[] = [];
    let checks = 0;
    let nonEmpty = 0;
    const check = async (query: string, t: number, mine: VectorSample[], ordered = false) => {
      checks++;
      if (mine.length > 0) nonEmpty++;
      const exp = await queryPrometheus(env.prometheus.url, "instant", query, { time: t });
      const d = compareResults(exp, toOutcome(mine, t), { ordered });
      if (d.length) problems.push(`${query} @ ${t}: ${d.slice(0, 3).join("; ")}`);
    };
    try {
      const all = env.dataset.series;
      const times = [env.dataset.start + 3_600_000, env.dataset.start + 7_200_000 + 7_500];
      const rangeSel: [string, number][] = [
        ["http_requests_total", 300_000],
        ["node_temperature_celsius", 600_000],
        ["weird_values", 120_000],
        ["up", 30_000],
      ];
      for (const t of times) {
        for (const [metric, r] of rangeSel) {
          const ss = ofMetric(all, metric);
          const rs = `${metric}[${r / 1000}s]`;
          const kernels: [
            string,
            (ts: Float64Array, vs: Float64Array, a: number, b: number) => number | undefined,
          ][] = [
            ...Object.entries(RANGE_FUNCTIONS).map(([n, f]) =>
              [`${n}(${rs})`, f] as [string, typeof f]
            ),
            [`rate(${rs})`, (ts, vs, a, b) => rate(ts, vs, a, b, t - r, t)],
            [`increase(${rs})`, (ts, vs, a, b) => increase(ts, vs, a, b, t - r, t)],
            [`delta(${rs})`, (ts, vs, a, b) => delta(ts, vs, a, b, t - r, t)],
            [
              `quantile_over_time(0.3, ${rs})`,
              (ts, vs, a, b) => quantileOverTime(0.3, ts, vs, a, b),
            ],
            [`predict_linear(${rs}, 600)`, (ts, vs, a, b) => predictLinear(ts, vs, a, b, t, 600)],
            [
              `holt_winters(${rs}, 0.3, 0.6)`,
              (ts, vs, a, b) => holtWinters(ts, vs, a, b, 0.3, 0.6),
            ],
          ];
          for (const [q, f] of kernels) {
            const out: VectorSample[] = [];
            for (const s of ss) {
              const a = lowerBound(s.ts, t - r);
              const b = upperBound(s.ts, t);
              if (a >= b) continue;
              const v = f(s.ts, s.vs, a, b);
              if (v === undefined) continue;
              out.push({
                labels: q.startsWith("last_over_time") ? s.labels : withoutName(s.labels),
                value: v,
              });
            }
            await check(q, t, out);
          }
        }
        for (
          const metric of [
            "node_temperature_celsius",
            "weird_values",
            "process_resident_memory_bytes",
          ]
        ) {
          const iv = instantVector(ofMetric(all, metric), t);
          for (const [name, f] of Object.entries(SIMPLE_FUNCTIONS)) {
            if (
              metric === "weird_values" &&
              !["abs", "ceil", "exp", "sgn", "sqrt", "ln", "deg", "sin", "atanh", "log2"].includes(
                name,
              )
            ) continue;
            await check(
              `${name}(${metric})`,
              t,
              iv.map((s) => ({ labels: withoutName(s.labels), value: f(s.value) })),
            );
          }
          const ops: [AggregationOp, number | string | undefined, boolean][] = [
            ["sum", undefined, false],
            ["avg", undefined, false],
            ["count", undefined, false],
            ["min", undefined, false],
            ["max", undefined, false],
            ["group", undefined, false],
            ["stddev", undefined, false],
            ["stdvar", undefined, false],
            ["quantile", 0.4, false],
            ["topk", 3, true],
            ["bottomk", 2, true],
            ["count_values", "v", false],
          ];
          for (const [op, param, ordered] of ops) {
            const p = param === undefined
              ? ""
              : `${typeof param === "string" ? `"${param}"` : param}, `;
            await check(
              `${op}(${p}${metric})`,
              t,
              aggregate(op, iv, { grouping: [], without: false, param }),
              ordered,
            );
            await check(
              `${op} by (job) (${p}${metric})`,
              t,
              aggregate(op, iv, { grouping: ["job"], without: false, param }),
              ordered,
            );
            await check(
              `${op} without (instance) (${p}${metric})`,
              t,
              aggregate(op, iv, { grouping: ["instance"], without: true, param }),
              ordered,
            );
          }
        }
        const buckets = instantVector(ofMetric(all, "http_request_duration_seconds_bucket"), t);
        for (const q of [0, 0.25, 0.9, 1, -1, 2]) {
          await check(
            `histogram_quantile(${q}, http_request_duration_seconds_bucket)`,
            t,
            histogramQuantileVector(q, buckets),
          );
        }
      }
      console.log(`kernels vs Prometheus: ${checks} queries, ${nonEmpty} with a non-empty result`);
      assert(checks > 500 && nonEmpty > 450, `only ${checks} checks (${nonEmpty} non-empty)`);
      assert(
        problems.length === 0,
        `${problems.length} mismatches:\n${problems.slice(0, 40).join("\n")}`,
      );
    } finally {
      await env.cleanup();
    }
  },
);

Deno.test("clamp functions follow Go's math.Max/Min: an infinite bound beats NaN", () => {
  assertEquals(clampMin(Infinity, NaN), Infinity);
  assertEquals(clampMax(-Infinity, NaN), -Infinity);
  assert(Number.isNaN(clampMin(1, NaN)));
  assertEquals(clamp(NaN, -Infinity, -Infinity), -Infinity);
});
