// Engine semantics over an in-memory Queryable whose chunks are real XOR chunks: lookback,
// staleness, offset/@, subquery alignment, hints, limits, and Prometheus' error messages.

import { assert, assertAlmostEquals, assertEquals, assertRejects } from "../helpers/assert.ts";
import { Engine, WorkLimitError } from "../../promql/engine.ts";
import { PromQLError } from "../../promql/errors.ts";
import type { Matrix, QueryValue, Scalar, Vector } from "../../promql/value.ts";
import {
  JSONPieces,
  resultToJSON,
  resultToJSONBytes,
  resultToJSONChunks,
  resultToJSONText,
} from "../../promql/value.ts";
import { labelsFromObject, labelsToObject } from "../../tsdb/labels.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";
import type { Labels, Queryable } from "../../tsdb/series.ts";
import {
  MemQueryable,
  type MemSeries,
  type Point,
  pts,
  toChunks,
} from "../helpers/mem_queryable.ts";

const M = 60_000;
const engine = new Engine();

function vec(v: QueryValue): Record<string, number> {
  assertEquals(v.type, "vector");
  const out: Record<string, number> = {};
  for (const s of (v as Vector).samples) out[JSON.stringify(labelsToObject(s.labels))] = s.v;
  return out;
}

function vecValues(v: QueryValue): number[] {
  assertEquals(v.type, "vector");
  return (v as Vector).samples.map((s) => s.v);
}

async function instant(q: Queryable, query: string, t: number): Promise<QueryValue> {
  return (await engine.instantQuery(q, query, t)).value;
}

async function rejects(p: Promise<unknown>, type: string, text: string): Promise<void> {
  const e = await assertRejects(() => p, PromQLError);
  assertEquals((e as PromQLError).type, type, e.message);
  assert(e.message.includes(text), `message "${e.message}" lacks "${text}"`);
}

const labelsOf = (o: Record<string, string>): Labels => labelsFromObject(o);

Deno.test("instant selector takes the newest sample in [t − 5m, t] (2.x closed lookback)", async () => {
  const q = new MemQueryable([{ labels: { __name__: "x" }, points: [[0, 1], [M, 2]] }]);
  assertEquals(vecValues(await instant(q, "x", 0)), [1]);
  assertEquals(vecValues(await instant(q, "x", M - 1)), [1]);
  assertEquals(vecValues(await instant(q, "x", M)), [2]);
  assertEquals(vecValues(await instant(q, "x", M + 5 * M)), [2]);
  assertEquals(vecValues(await instant(q, "x", M + 5 * M + 1)), []);
  assertEquals(vecValues(await instant(q, "x", -1)), []);
});

Deno.test("a lookback delta option changes how long a series stays visible", async () => {
  const q = new MemQueryable([{ labels: { __name__: "x" }, points: [[0, 1]] }]);
  const short = new Engine({ lookbackDelta: M });
  assertEquals(vecValues((await short.instantQuery(q, "x", M)).value), [1]);
  assertEquals(vecValues((await short.instantQuery(q, "x", M + 1)).value), []);
});

Deno.test("a stale marker ends the series at once and is dropped from range vectors", async () => {
  const points: Point[] = [[0, 1], [15_000, 2], [30_000, 3], [45_000, "stale"], [120_000, 9]];
  const q = new MemQueryable([{ labels: { __name__: "x", job: "a" }, points }]);
  assertEquals(vecValues(await instant(q, "x", 44_999)), [3]);
  assertEquals(vecValues(await instant(q, "x", 45_000)), []);
  assertEquals(vecValues(await instant(q, "x", 100_000)), []);
  assertEquals(vecValues(await instant(q, "x", 120_000)), [9]);
  assertEquals(vecValues(await instant(q, "count_over_time(x[1m])", 59_000)), [3]);
  const m = (await instant(q, "x[2m]", 120_000)) as Matrix;
  assertEquals(Array.from(m.series[0].ts), [0, 15_000, 30_000, 120_000]);
  // range query: present until the stale marker, absent until the next sample
  const r = (await engine.rangeQuery(q, "x", 0, 120_000, 15_000)).value as Matrix;
  assertEquals(Array.from(r.series[0].ts), [0, 15_000, 30_000, 120_000]);
});

Deno.test("offset, negative offset and @ shift the selection time; @ start()/end() use the range", async () => {
  const q = new MemQueryable([{
    labels: { __name__: "x" },
    points: pts(0, 60 * M, M, (t) => t / M),
  }]);
  const t = 30 * M;
  assertEquals(vecValues(await instant(q, "x offset 5m", t)), [25]);
  assertEquals(vecValues(await instant(q, "x offset -5m", t)), [35]);
  assertEquals(vecValues(await instant(q, "x @ 600", t)), [10]);
  assertEquals(vecValues(await instant(q, "x @ 600 offset 1m", t)), [9]);
  assertEquals(vecValues(await instant(q, "x offset 1m @ 600", t)), [9]);
  const r = (await engine.rangeQuery(q, "x @ start() + x @ end() - x", 10 * M, 12 * M, M))
    .value as Matrix;
  assertEquals(Array.from(r.series[0].vs), [10, 11, 12].map((v) => 10 + 12 - v));
  // sum over a window fixed with @ is the same at every step (step-invariant)
  const s = (await engine.rangeQuery(q, "sum_over_time(x[2m] @ 600)", 0, 3 * M, M))
    .value as Matrix;
  assertEquals(Array.from(s.series[0].vs), [27, 27, 27, 27]);
  // timestamp() of a selector gives the sample's own time
  assertEquals(vecValues(await instant(q, "timestamp(x)", t + 30_000)), [t / 1000]);
  assertEquals(vecValues(await instant(q, "timestamp(x @ 600)", t)), [600]);
});

Deno.test("subquery steps are multiples of the step from the first one ≥ t − range (2.x)", async () => {
  const q = new MemQueryable([{
    labels: { __name__: "x" },
    points: pts(0, 60 * M, 15_000, () => 1),
  }]);
  // t = 10m: inner times 5m, 6m, …, 10m (the boundary is included in 2.x)
  assertEquals(vecValues(await instant(q, "count_over_time(x[5m:1m])", 10 * M)), [6]);
  // t = 10m30s: first multiple ≥ 5m30s is 6m → 6m … 10m
  assertEquals(vecValues(await instant(q, "count_over_time(x[5m:1m])", 10 * M + 30_000)), [5]);
  const m = (await instant(q, "x[5m:2m] offset 1m", 10 * M)) as Matrix;
  assertEquals(Array.from(m.series[0].ts), [4 * M, 6 * M, 8 * M]);
  // no step: the default evaluation interval (1m)
  assertEquals(vecValues(await instant(q, "count_over_time(x[3m:])", 10 * M)), [4]);
  const e2 = new Engine({ defaultEvaluationInterval: 30_000 });
  assertEquals(
    vecValues((await e2.instantQuery(q, "count_over_time(x[3m:])", 10 * M)).value),
    [7],
  );
});

Deno.test("a range query's subquery runs to the query's end, past its last step (peakSamples)", async () => {
  const q = new MemQueryable([{
    labels: { __name__: "x" },
    points: pts(0, 60 * M, 15_000, () => 1),
  }]);
  // steps 20m07s + k·97s up to 30m (last step 29m49s: the end is off the step grid). Prometheus
  // evaluates the subquery on its 1m grid from 10m08s up to the evaluator's end, 30m: 11m … 30m,
  // 20 points held while the function runs; 7 results; the last window [19m49s, 29m49s] holds 10
  const start = 20 * M + 7_000;
  const r = await engine.rangeQuery(q, "avg_over_time(x[10m:1m])", start, 30 * M, 97_000);
  assertEquals((r.value as Matrix).series[0].ts.length, 7);
  assertEquals(r.stats?.samples.peakSamples, 20 + 7 + 10);
  // the subquery's last point (30m) is past every window: the answers are those of an end on
  // the last step
  const onGrid = await engine.rangeQuery(
    q,
    "avg_over_time(x[10m:1m])",
    start,
    start + 6 * 97_000,
    97_000,
  );
  assertEquals(
    Array.from((onGrid.value as Matrix).series[0].vs),
    Array.from((r.value as Matrix).series[0].vs),
  );
  assertEquals(onGrid.stats?.samples.peakSamples, 19 + 7 + 10);
  // a range function inside (its series streamed to the outer function one at a time): two
  // series, each 20 points held, 7 results each, the last window 10
  const q2 = new MemQueryable([
    { labels: { __name__: "y", a: "1" }, points: pts(0, 60 * M, 15_000, (t) => t / 1000) },
    { labels: { __name__: "y", a: "2" }, points: pts(0, 60 * M, 15_000, (t) => t / 500) },
  ]);
  const streamed = "max_over_time(rate(y[1m])[10m:1m])";
  const r2 = await engine.rangeQuery(q2, streamed, start, 30 * M, 97_000);
  assertEquals(r2.stats?.samples.peakSamples, 2 * 20 + 2 * 7 + 10);
  const r2OnGrid = await engine.rangeQuery(q2, streamed, start, start + 6 * 97_000, 97_000);
  assertEquals(r2OnGrid.stats?.samples.peakSamples, 2 * 19 + 2 * 7 + 10);
  // with @ (a step-invariant selector inside the subquery) the same
  const at = await engine.rangeQuery(q, "avg_over_time((x @ 600)[10m:1m])", start, 30 * M, 97_000);
  assertEquals(at.stats?.samples.peakSamples, 20 + 7 + 10);
});

Deno.test("range query steps are start + k·step ≤ end; scalars become a label-less series", async () => {
  const q = new MemQueryable([{
    labels: { __name__: "x" },
    points: pts(0, 60 * M, 15_000, (t) => t),
  }]);
  const r = (await engine.rangeQuery(q, "x", 0, 10 * M, 7 * M)).value as Matrix;
  assertEquals(Array.from(r.series[0].ts), [0, 7 * M]);
  const s = (await engine.rangeQuery(q, "time()", 1000, 3000, 1000)).value as Matrix;
  assertEquals(s.series[0].labels, []);
  assertEquals(Array.from(s.series[0].vs), [1, 2, 3]);
});

Deno.test("rate extrapolates and drops the metric name; last_over_time keeps it", async () => {
  const q = new MemQueryable([{
    labels: { __name__: "c", job: "a" },
    points: pts(0, 20 * M, 15_000, (t) => t / 1000),
  }]);
  const v = await instant(q, "rate(c[5m])", 10 * M);
  assertEquals(Object.keys(vec(v)), ['{"job":"a"}']);
  assertAlmostEquals(vecValues(v)[0], 1, 1e-12);
  assertEquals(Object.keys(vec(await instant(q, "last_over_time(c[5m])", 10 * M))), [
    '{"__name__":"c","job":"a"}',
  ]);
});

Deno.test("aggregations stream over series with Prometheus' output labels", async () => {
  const q = new MemQueryable([
    { labels: { __name__: "x", job: "a", i: "1" }, points: [[0, 1]] },
    { labels: { __name__: "x", job: "a", i: "2" }, points: [[0, 2]] },
    { labels: { __name__: "x", job: "b", i: "1" }, points: [[0, 4]] },
  ]);
  assertEquals(vec(await instant(q, "sum by (job) (x)", 0)), {
    '{"job":"a"}': 3,
    '{"job":"b"}': 4,
  });
  assertEquals(vec(await instant(q, "avg without (i) (x)", 0)), {
    '{"job":"a"}': 1.5,
    '{"job":"b"}': 4,
  });
  assertEquals(vec(await instant(q, "count(x)", 0)), { "{}": 3 });
  assertEquals(vecValues(await instant(q, "topk(2, x)", 0)), [4, 2]);
  assertEquals(vecValues(await instant(q, "sort_desc(x)", 0)), [4, 2, 1]);
});

Deno.test("label sets whose values hold U+00FF stay apart in functions, joins and histograms", async () => {
  // {a="x\xffb\xffy"} and {a="x", b="y"} once shared a map key (labels joined by "\xff"): once
  // their names were dropped they were taken for one series
  const q = new MemQueryable([
    { labels: { __name__: "m1", a: "x\xffb\xffy", i: "1" }, points: [[0, -1]] },
    { labels: { __name__: "m2", a: "x", b: "y\xffi\xff1" }, points: [[0, -2]] },
    { labels: { __name__: "w", i: "1" }, points: [[0, 10]] },
    { labels: { __name__: "h", a: "x\xffb\xffy", le: "1" }, points: [[0, 1]] },
    { labels: { __name__: "h", a: "x\xffb\xffy", le: "+Inf" }, points: [[0, 1]] },
    { labels: { __name__: "h", a: "x", b: "y", le: "1" }, points: [[0, 0]] },
    { labels: { __name__: "h", a: "x", b: "y", le: "2" }, points: [[0, 2]] },
    { labels: { __name__: "h", a: "x", b: "y", le: "+Inf" }, points: [[0, 2]] },
  ]);
  const both = {
    '{"a":"x\xffb\xffy","i":"1"}': 1,
    '{"a":"x","b":"y\xffi\xff1"}': 2,
  };
  assertEquals(vec(await instant(q, 'abs({__name__=~"m1|m2"})', 0)), both);
  assertEquals(vec(await instant(q, '{__name__=~"m1|m2"} * -1', 0)), both);
  assertEquals(
    vec(await instant(q, '-{__name__=~"m1|m2"} + ignoring (a, b, i) group_left w', 0)),
    { '{"a":"x\xffb\xffy","i":"1"}': 11, '{"a":"x","b":"y\xffi\xff1"}': 12 },
  );
  assertEquals(vec(await instant(q, "histogram_quantile(0.5, h)", 0)), {
    '{"a":"x\xffb\xffy"}': 0.5,
    '{"a":"x","b":"y"}': 1.5,
  });
});

Deno.test("aggregation groups stay apart when label values hold separator characters", async () => {
  // a value holding the characters a group key could join labels with ("\xff") must not make
  // {a="x\xffb\xffy"} and {a="x", b="y"} one group: Prometheus keeps them apart
  const q = new MemQueryable([
    { labels: { __name__: "x", a: "x\xffb\xffy", i: "1" }, points: [[0, 1]] },
    { labels: { __name__: "x", a: "x", b: "y", i: "2" }, points: [[0, 2]] },
    { labels: { __name__: "x", a: "1\xffx", i: "3" }, points: [[0, 4]] },
    { labels: { __name__: "x", a: "1", b: "x", i: "4" }, points: [[0, 8]] },
  ]);
  const split = {
    '{"a":"x\xffb\xffy"}': 1,
    '{"a":"x","b":"y"}': 2,
    '{"a":"1\xffx"}': 4,
    '{"a":"1","b":"x"}': 8,
  };
  assertEquals(vec(await instant(q, "sum by (a, b) (x)", 0)), split);
  assertEquals(vec(await instant(q, "sum without (i) (x)", 0)), split);
  const q2 = new MemQueryable([
    { labels: { __name__: "y", a: "p\xffq", i: "1" }, points: [[0, 1]] },
    { labels: { __name__: "y", a: "p", b: "q\xff", i: "2" }, points: [[0, 2]] },
    { labels: { __name__: "z", a: "p", b: "q\xff", i: "3" }, points: [[0, 4]] },
  ]);
  const split2 = { '{"a":"p\xffq"}': 1, '{"a":"p","b":"q\xff"}': 6 };
  assertEquals(vec(await instant(q2, "sum by (a, b) (y or z)", 0)), split2);
  // `without` also leaves the metric name out of the group
  assertEquals(vec(await instant(q2, "sum without (i) (y or z)", 0)), split2);
  // the per-step aggregation (topk, quantile, count_values) groups the same way
  assertEquals(vecValues(await instant(q, "topk by (a, b) (1, x)", 0)), [8, 4, 2, 1]);
  assertEquals(vecValues(await instant(q, "bottomk without (i) (1, x)", 0)), [8, 4, 2, 1]);
  // a label with an empty value is an absent one: one group for `by (b)` without b, and `by`
  // with one label groups by its value alone
  assertEquals(vec(await instant(q, "count by (b) (x)", 0)), {
    "{}": 2,
    '{"b":"y"}': 1,
    '{"b":"x"}': 1,
  });
  assertEquals(vec(await instant(q, "count by (zz) (x)", 0)), { "{}": 4 });
  assertEquals(vec(await instant(q, "count by (b, zz) (x)", 0)), {
    "{}": 2,
    '{"b":"y"}': 1,
    '{"b":"x"}': 1,
  });
});

Deno.test("dropping the metric name keeps the other labels when one sorts before it", async () => {
  // label names with capitals sort before __name__
  const q = new MemQueryable([{
    labels: { __name__: "c", A: "1", job: "a", zone: "z" },
    points: pts(0, 20 * M, 15_000, (t) => t / 1000),
  }]);
  assertEquals(Object.keys(vec(await instant(q, "rate(c[5m])", 10 * M))), [
    '{"A":"1","job":"a","zone":"z"}',
  ]);
  assertEquals(Object.keys(vec(await instant(q, "c * 2", 10 * M))), [
    '{"A":"1","job":"a","zone":"z"}',
  ]);
});

Deno.test("select hints carry the data range, step, range, enclosing function and grouping", async () => {
  const q = new MemQueryable([{ labels: { __name__: "x", job: "a" }, points: [[0, 1]] }]);
  await engine.instantQuery(q, "sum by (job) (rate(x[5m] offset 1m))", 10 * M);
  assertEquals(q.hints[0], { start: 4 * M, end: 9 * M, step: 0, range: 5 * M, func: "rate" });
  await engine.rangeQuery(q, "max by (job) (x)", 10 * M, 20 * M, M);
  assertEquals(q.hints[1], {
    start: 5 * M,
    end: 20 * M,
    step: M,
    range: 0,
    func: "max",
    by: true,
    grouping: ["job"],
  });
});

Deno.test("parse errors are bad_data with Prometheus' text; range queries need vector or scalar", async () => {
  const q = new MemQueryable([]);
  await rejects(engine.instantQuery(q, "sum(", 0), "bad_data", "1:5: parse error: ");
  await rejects(
    engine.instantQuery(q, "rate(x)", 0),
    "bad_data",
    "parse error: expected type range vector",
  );
  await rejects(
    engine.rangeQuery(q, "x[5m]", 0, M, M),
    "bad_data",
    'invalid expression type "range vector" for range query, must be Scalar or instant Vector',
  );
  await rejects(
    engine.rangeQuery(q, "x", 0, M, 0),
    "bad_data",
    "zero or negative query resolution step widths are not accepted",
  );
});

Deno.test("vector matching errors carry Prometheus' messages", async () => {
  const q = new MemQueryable([
    { labels: { __name__: "a", job: "x", i: "1" }, points: [[0, 1]] },
    { labels: { __name__: "a", job: "x", i: "2" }, points: [[0, 1]] },
    { labels: { __name__: "b", job: "x" }, points: [[0, 1]] },
    { labels: { __name__: "c", job: "x", i: "1" }, points: [[0, 1]] },
  ]);
  await rejects(
    instant(q, "b + on(job) a", 0),
    "execution",
    'found duplicate series for the match group {job="x"} on the right hand-side of the operation: ' +
      '[{__name__="a", i="2", job="x"}, {__name__="a", i="1", job="x"}];many-to-many matching not allowed: matching labels must be unique on one side',
  );
  await rejects(
    instant(q, "a + on(job) b", 0),
    "execution",
    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
  );
  await rejects(
    instant(q, '{__name__=~"a|c"} + on(job) group_left b', 0),
    "execution",
    "multiple matches for labels: grouping labels must ensure unique matches",
  );
  assertEquals(Object.keys(vec(await instant(q, "a * on(job) group_left b", 0))).length, 2);
  await rejects(
    instant(q, 'abs({__name__=~"a|c"})', 0),
    "execution",
    "vector cannot contain metrics with the same labelset",
  );
  await rejects(
    instant(q, 'label_replace(a, "i", "", "i", ".*")', 0),
    "execution",
    "vector cannot contain metrics with the same labelset",
  );
});

Deno.test("label_replace and label_join outputs that coincide fail at a step or merge over time", async () => {
  const q = new MemQueryable([
    { labels: { __name__: "x", i: "1", j: "a" }, points: [[0, 1], [5 * M, 2]] },
    { labels: { __name__: "x", i: "2", j: "a" }, points: [[20 * M, 3], [25 * M, 4]] },
    { labels: { __name__: "x", i: "3", j: "a" }, points: [[20 * M, 5]] },
  ]);
  // a new label: the outputs differ as their inputs do
  assertEquals(vec(await instant(q, 'label_replace(x, "k", "b$1", "i", "(.*)")', 5 * M)), {
    '{"__name__":"x","i":"1","j":"a","k":"b1"}': 2,
  });
  assertEquals(
    Object.keys(vec(await instant(q, 'label_join(x, "k", "-", "i", "j")', 20 * M))),
    ['{"__name__":"x","i":"2","j":"a","k":"2-a"}', '{"__name__":"x","i":"3","j":"a","k":"3-a"}'],
  );
  // an existing label made equal: an error where both have a sample at the step …
  await rejects(
    instant(q, 'label_join(x, "i", "", "j")', 20 * M),
    "execution",
    "vector cannot contain metrics with the same labelset",
  );
  await rejects(
    instant(q, 'label_replace(x, "i", "z", "j", ".*")', 20 * M),
    "execution",
    "vector cannot contain metrics with the same labelset",
  );
  // … and one series where they never share a step (rangeEval merges them)
  const r = (await engine.rangeQuery(
    q,
    'label_replace(x{i!="3"}, "i", "z", "j", "a")',
    0,
    25 * M,
    5 * M,
  )).value as Matrix;
  assertEquals(r.series.map((s) => labelsToObject(s.labels)), [{ __name__: "x", i: "z", j: "a" }]);
  assertEquals(Array.from(r.series[0].vs), [1, 2, 2, 3, 4]);
});

Deno.test("function argument errors are execution errors with Prometheus' text", async () => {
  const q = new MemQueryable([{
    labels: { __name__: "x" },
    points: pts(0, 10 * M, 15_000, () => 1),
  }]);
  await rejects(
    instant(q, "holt_winters(x[5m], 0, 0.5)", 10 * M),
    "execution",
    "invalid smoothing factor. Expected: 0 < sf < 1, got: 0.000000",
  );
  await rejects(
    instant(q, 'label_replace(x, "a", "b", "c", "(")', 0),
    "execution",
    "invalid regular expression in label_replace(): (",
  );
  await rejects(
    instant(q, 'label_replace(x, "1a", "b", "c", ".*")', 0),
    "execution",
    "invalid destination label name in label_replace(): 1a",
  );
  await rejects(instant(q, "topk(NaN, x)", 0), "execution", "Scalar value NaN overflows int64");
  await rejects(instant(q, 'count_values("1x", x)', 0), "execution", 'invalid label name "1x"');
});

Deno.test("max samples: Prometheus' error when a query would hold too many samples", async () => {
  const q = new MemQueryable(
    Array.from({ length: 5 }, (_, i) => ({
      labels: { __name__: "x", i: String(i) },
      points: pts(0, 10 * M, 15_000, () => i),
    })),
  );
  const small = new Engine({ maxSamples: 4 });
  await rejects(
    small.instantQuery(q, "x", M),
    "execution",
    "query processing would load too many samples into memory in query execution",
  );
  await rejects(
    small.instantQuery(q, 'rate(x{i="1"}[5m])', 10 * M),
    "execution",
    "query processing would load too many samples into memory in query execution",
  );
  assertEquals(
    vecValues((await new Engine({ maxSamples: 5 }).instantQuery(q, "x", M)).value).length,
    5,
  );
});

Deno.test("a query past its timeout fails with timeout, and a caller's abort cancels it", async () => {
  const q = new MemQueryable(
    Array.from(
      { length: 50 },
      (_, i) => ({ labels: { __name__: "x", i: String(i) }, points: [[0, 1]] }),
    ),
    5,
  );
  await rejects(
    new Engine({ timeout: 20 }).instantQuery(q, "sum(x)", 0),
    "timeout",
    "query timed out in expression evaluation",
  );
  const ac = new AbortController();
  const p = engine.instantQuery(q, "sum(x)", 0, ac.signal);
  setTimeout(() => ac.abort(), 20);
  await rejects(p, "canceled", "query was canceled in expression evaluation");
});

Deno.test("native histogram chunks fail with a clear not-supported error", async () => {
  const q = new MemQueryable([{
    labels: { __name__: "h" },
    points: [[0, 1]],
    encoding: ChunkEncoding.Histogram,
  }]);
  await rejects(instant(q, "h", 0), "execution", "native histograms are not supported yet");
});

Deno.test("absent() builds labels from equality matchers as Prometheus", async () => {
  const q = new MemQueryable([]);
  assertEquals(vec(await instant(q, 'absent(nope{job="a", instance=~"x.*"})', 0)), {
    '{"job":"a"}': 1,
  });
  assertEquals(vec(await instant(q, 'absent(nope{job="a", job="b", env="p"})', 0)), {
    '{"env":"p"}': 1,
  });
  assertEquals(vec(await instant(q, 'absent_over_time(nope{job="z"}[5m])', 0)), {
    '{"job":"z"}': 1,
  });
});

Deno.test("results render as Prometheus' API JSON (timestamps, value formats)", () => {
  const v: Vector = {
    type: "vector",
    samples: [{ labels: labelsOf({ a: 'q"<' }), t: 1500, v: 1e-7 }, {
      labels: [],
      t: 1050,
      v: -Infinity,
    }],
  };
  assertEquals(
    resultToJSONText(v),
    '{"resultType":"vector","result":[{"metric":{"a":"q\\"<"},"value":[1.500,"1e-07"]},' +
      '{"metric":{},"value":[1.050,"-Inf"]}]}',
  );
  const s: Scalar = { type: "scalar", t: 1500, v: 1e-7 };
  assertEquals(resultToJSONText(s), '{"resultType":"scalar","result":[1.5,"0.0000001"]}');
  assertEquals(resultToJSON(s), { resultType: "scalar", result: [1.5, "0.0000001"] });
  assertEquals(
    resultToJSONText({ type: "string", t: 2000, v: "<a>" }),
    '{"resultType":"string","result":[2,"\\u003ca\\u003e"]}',
  );
  const m: Matrix = {
    type: "matrix",
    series: [{
      labels: labelsOf({ __name__: "x" }),
      ts: Float64Array.of(1000, 2001),
      vs: Float64Array.of(1.5e21, NaN),
    }],
  };
  assertEquals(
    resultToJSONText(m),
    '{"resultType":"matrix","result":[{"metric":{"__name__":"x"},"values":[[1,"1.5e+21"],[2.001,"NaN"]]}]}',
  );
});

/** Series `x` as two overlapping chunks (two blocks): 1 at 0 … 10m, then 2 at 5m … 15m. */
function overlappingChunks(): Queryable {
  const a = toChunks(pts(0, 10 * M, M, () => 1), 120, ChunkEncoding.XOR)[0];
  const b = toChunks(pts(5 * M, 15 * M, M, () => 2), 120, ChunkEncoding.XOR)[0];
  return {
    select: () =>
      (async function* () {
        yield { labels: labelsOf({ __name__: "x" }), chunks: [a, b] };
      })(),
    labelNames: () => Promise.resolve([]),
    labelValues: () => Promise.resolve([]),
  };
}

Deno.test("overlapping chunks of one series (several blocks) are merged, first sample wins", async () => {
  const q = overlappingChunks();
  assertEquals(vecValues(await instant(q, "count_over_time(x[20m])", 15 * M)), [16]);
  assertEquals(vecValues(await instant(q, "x", 7 * M)), [1]);
  assertEquals(vecValues(await instant(q, "x", 12 * M)), [2]);
});

Deno.test("a chunk straddling the window: samples exactly at both ends count, earlier ones not", async () => {
  // one 120-sample chunk at 15 s; stale markers just before the window and on its start
  const points: Point[] = pts(0, 119 * 15_000, 15_000, (t) => t / 1000);
  points[99] = [points[99][0], "stale"];
  const q = new MemQueryable([{ labels: { __name__: "x" }, points }]);
  const t = 110 * 15_000; // window [t − 5m, t] = samples 90 … 110
  assertEquals(vecValues(await instant(q, "count_over_time(x[5m])", t)), [20]); // stale skipped
  assertEquals(vecValues(await instant(q, "min_over_time(x[5m])", t)), [1350]);
  assertEquals(vecValues(await instant(q, "x", t)), [1650]);
  assertEquals(vecValues(await instant(q, "x", t - 1)), [1635]);
  // the stale marker at sample 99 ends the series within the lookback of t = sample 100
  assertEquals(vecValues(await instant(q, "x", 99 * 15_000 + 100)), []);
  assertEquals(vecValues(await instant(q, "count_over_time(x[5m])", 119 * 15_000 + 1)), [20]);
  // overlapping chunks (two blocks) read over a window that starts inside both
  const two = overlappingChunks();
  assertEquals(vecValues(await instant(two, "count_over_time(x[3m])", 9 * M)), [4]);
  assertEquals(vecValues(await instant(two, "sum_over_time(x[3m])", 12 * M)), [6]);
});

Deno.test("hostile regexes (ReDoS) in label_replace and matchers give Prometheus's answers", async () => {
  // 28 and 40 `a`s with a non-matching last character: exponential for a backtracking engine
  const defs: MemSeries[] = [];
  for (const n of [28, 40]) {
    for (const tail of ["", "!"]) {
      defs.push({ labels: { __name__: "x", l: "a".repeat(n) + tail }, points: [[0, 1]] });
    }
  }
  const q = new MemQueryable(defs);
  const rows = vec(await instant(q, 'label_replace(x, "y", "$1", "l", "(a+)+$")', 0));
  const want: Record<string, number> = {};
  for (const n of [28, 40]) {
    const a = "a".repeat(n);
    want[JSON.stringify({ __name__: "x", l: a, y: a })] = 1;
    want[JSON.stringify({ __name__: "x", l: a + "!" })] = 1;
  }
  assertEquals(rows, want);
  const sel = vec(await instant(q, 'x{l=~"(a+)+$"}', 0));
  assertEquals(Object.keys(sel).map((k) => JSON.parse(k).l.length).sort(), [28, 40]);
  const neg = vec(await instant(q, 'x{l!~"(a|aa)+"}', 0));
  assertEquals(Object.keys(neg).map((k) => JSON.parse(k).l.length).sort(), [29, 41]);
  const groups = vec(await instant(q, 'label_replace(x, "y", "${2}-$1", "l", "((a|aa)+)(!)")', 0));
  assertEquals(Object.keys(groups).filter((k) => k.includes('"y"')).length, 2);
  assert(Object.keys(groups).some((k) => k.includes(`"y":"a-${"a".repeat(28)}"`)));
});

/** The query's value, and how many times a 1 ms timer ran while it was evaluated. */
async function timerTicksDuring(
  query: () => Promise<{ value: QueryValue }>,
): Promise<{ value: QueryValue; ticks: number }> {
  let ticks = 0;
  let running = true;
  const tick = () => {
    if (!running) return;
    ticks++;
    setTimeout(tick, 1);
  };
  const res = query();
  setTimeout(tick, 1);
  try {
    return { value: (await res).value, ticks };
  } finally {
    running = false;
  }
}

Deno.test("a long evaluation gives the event loop turns (timers run while it works)", async () => {
  // 20 series × 1 h at 1 s; quantile over 30 min windows at 15 s steps: seconds of pure work
  const defs: MemSeries[] = [];
  for (let s = 0; s < 20; s++) {
    const points: Point[] = [];
    for (let t = 0; t < 3600; t++) points.push([t * 1000, (t * 7919 + s * 104729) % 1000]);
    defs.push({ labels: { __name__: "busy", s: String(s) }, points });
  }
  const q = new MemQueryable(defs);
  const { value, ticks } = await timerTicksDuring(() =>
    engine.rangeQuery(q, "quantile_over_time(0.5, busy[30m])", 30 * M, 60 * M, 15_000)
  );
  const r = value as Matrix;
  assertEquals(r.series.length, 20);
  // without the engine's yields no timer callback could run before the query finished
  assert(ticks >= 2, `timers ran ${ticks} times during the evaluation`);
});

Deno.test("a range function over one long series takes turns and resumes at the same step", async () => {
  // one series × 6 h at 1 s; quantile_over_time over 1 h windows at 1 s steps: long enough that
  // the window loop of this one series must give the event loop turns, and each result must be
  // the one of its own step after a turn
  const points: Point[] = [];
  for (let t = 0; t < 6 * 3600; t++) points.push([t * 1000, t]);
  const q = new MemQueryable([{ labels: { __name__: "busy" }, points }]);
  const start = 60 * M;
  const end = 6 * 60 * M - 1000;
  const { value, ticks } = await timerTicksDuring(() =>
    engine.rangeQuery(q, "quantile_over_time(0.5, busy[60m])", start, end, 1000)
  );
  const r = value as Matrix;
  assertEquals(r.series.length, 1);
  const s = r.series[0];
  assertEquals(s.ts.length, (end - start) / 1000 + 1);
  for (let i = 0; i < s.ts.length; i++) {
    // the window [t − 1 h, t] (2.x includes its start) holds t/1000 − 3600 … t/1000
    if (s.vs[i] !== s.ts[i] / 1000 - 1800) {
      throw new Error(`step ${i} at ${s.ts[i]}: ${s.vs[i]}`);
    }
  }
  assert(ticks >= 2, `timers ran ${ticks} times during the evaluation`);
});

Deno.test("a large result's JSON text comes in bounded pieces, made as they are pulled", () => {
  const n = 2000;
  const m: Matrix = {
    type: "matrix",
    series: Array.from({ length: 30 }, (_, k) => ({
      labels: labelsOf({ __name__: "x", id: String(k) }),
      ts: Float64Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 60_000),
      vs: Float64Array.from({ length: n }, (_, i) => i * 0.25 + k),
    })),
  };
  const it = resultToJSONChunks(m);
  const first = it.next();
  assert(!first.done && first.value.length < 70_000, "the first piece comes alone");
  const pieces = [first.value];
  for (let p = it.next(); !p.done; p = it.next()) pieces.push(p.value);
  assert(pieces.length > 10, `${pieces.length} pieces`);
  for (const p of pieces) assert(p.length < 70_000, `a piece of ${p.length} chars`);
  const text = pieces.join("");
  assertEquals(text, resultToJSONText(m));
  // whole-second timestamps and plain labels: the same text as the JSON values' stringification
  assertEquals(text, JSON.stringify(resultToJSON(m)));
  const v: Vector = {
    type: "vector",
    samples: Array.from({ length: 5000 }, (_, k) => ({
      labels: labelsOf({ __name__: "y", id: String(k) }),
      t: 1_700_000_000_000,
      v: k / 8,
    })),
  };
  const vp = [...resultToJSONChunks(v)];
  assert(vp.length > 2, `${vp.length} pieces`);
  assertEquals(vp.join(""), JSON.stringify(resultToJSON(v)));
});

Deno.test("a result's JSON bytes, encoded piece by piece, are the UTF-8 of its text", () => {
  // multi-byte label values across many pieces: the buffer grows and nothing is cut
  const m: Matrix = {
    type: "matrix",
    series: Array.from({ length: 40 }, (_, k) => ({
      labels: labelsOf({ __name__: "x", city: `Zürich-東京-${"é".repeat(k * 50)}`, id: String(k) }),
      ts: Float64Array.from({ length: 1500 }, (_, i) => 1_700_000_000_123 + i * 60_000),
      vs: Float64Array.from({ length: 1500 }, (_, i) => i / 3 + k),
    })),
  };
  const bytes = resultToJSONBytes(m);
  assert(bytes.length > 1 << 20, `${bytes.length} bytes`);
  assertEquals(new TextDecoder().decode(bytes), resultToJSONText(m));
  const empty: Vector = { type: "vector", samples: [] };
  assertEquals(new TextDecoder().decode(resultToJSONBytes(empty)), resultToJSONText(empty));
});

Deno.test("between I/O turns, the engine's cheap turns deliver a MessagePort cancel (eval workers)", async () => {
  // as in an eval worker: the pool's cancel arrives on a MessagePort; no socket-reading turn is
  // due for the whole query (ioTurnEvery 1 h), so only the message turns can let it in
  const defs: MemSeries[] = [];
  for (let s = 0; s < 20; s++) {
    const points: Point[] = [];
    for (let t = 0; t < 3600; t++) points.push([t * 1000, (t * 7919 + s * 104729) % 1000]);
    defs.push({ labels: { __name__: "busy", s: String(s) }, points });
  }
  const q = new MemQueryable(defs);
  const e = new Engine({ ioTurnEvery: 3_600_000 });
  const ch = new MessageChannel();
  const ctrl = new AbortController();
  ch.port2.onmessage = () => ctrl.abort(new DOMException("query canceled", "AbortError"));
  const p = e.rangeQuery(
    q,
    "quantile_over_time(0.5, busy[30m])",
    30 * M,
    60 * M,
    1000,
    ctrl.signal,
  );
  // sent once the evaluation holds the thread: delivered only at one of its turns
  setTimeout(() => ch.port1.postMessage("cancel"), 1);
  try {
    await rejects(p, "canceled", "query was canceled in expression evaluation");
  } finally {
    ch.port1.close();
    ch.port2.close();
  }
});

Deno.test("a result's JSON in UTF-8 pieces: each within its size, joined the bytes of its text", () => {
  // multi-byte label values, and one label value longer than a piece (a piece grows to hold it)
  const m: Matrix = {
    type: "matrix",
    series: Array.from({ length: 30 }, (_, k) => ({
      labels: labelsOf({
        __name__: "x",
        city: `Zürich-東京-${"é".repeat(k * 40)}`,
        id: String(k),
        ...(k === 7 ? { long: "ü".repeat(200_000) } : {}),
      }),
      ts: Float64Array.from({ length: 900 }, (_, i) => 1_700_000_000_123 + i * 60_000),
      vs: Float64Array.from({ length: 900 }, (_, i) => i / 3 + k),
    })),
  };
  const size = 256 * 1024;
  const p = new JSONPieces(m, size);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 1000; i++) {
    const { data, done } = p.next();
    parts.push(data);
    if (done) break;
  }
  assert(parts.length > 3, `${parts.length} pieces`);
  // only the piece holding the long label goes past the size
  assertEquals(parts.filter((x) => x.length > size).length, 1);
  const all = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
  let off = 0;
  for (const x of parts) {
    all.set(x, off);
    off += x.length;
  }
  assertEquals(new TextDecoder().decode(all), resultToJSONText(m));
  // a small result is one piece, and the last
  const one = new JSONPieces({ type: "scalar", t: 1000, v: 2 } as Scalar).next();
  assert(one.done);
  assertEquals(
    new TextDecoder().decode(one.data),
    resultToJSONText({ type: "scalar", t: 1000, v: 2 } as Scalar),
  );
});

Deno.test("workLimit stops an evaluation past its selected samples plus steps, with WorkLimitError", async () => {
  // 3 series, 11 samples each in [0, 10m]; a range query over [0, 10m] at 1m selects
  // [−5m (lookback), 10m]: 15 steps and 11 samples per series, 26 units, 78 for the query
  const series = [0, 1, 2].map((i) => ({
    labels: { __name__: "x", i: String(i) },
    points: Array.from({ length: 11 }, (_, k): Point => [k * M, i]),
  }));
  const q = new MemQueryable(series);
  const unbounded = await new Engine().rangeQuery(q, "sum(x)", 0, 10 * M, M);
  // within the bound: the same answer
  const within = await new Engine({ workLimit: 78 }).rangeQuery(q, "sum(x)", 0, 10 * M, M);
  assertEquals(resultToJSONText(within.value), resultToJSONText(unbounded.value));
  // one unit short: refused as not an answer
  const e = await assertRejects(
    () => new Engine({ workLimit: 77 }).rangeQuery(q, "sum(x)", 0, 10 * M, M),
    WorkLimitError,
  );
  assert(e.message.includes("77"), e.message);
  // a bound counts every selector of the query
  await assertRejects(
    () => new Engine({ workLimit: 150 }).rangeQuery(q, "sum(x) + sum(x)", 0, 10 * M, M),
    WorkLimitError,
  );
});

Deno.test("an instant query's selector and an aggregation of it answer as the selector as an operand", async () => {
  // the top-level selector of an instant query is read straight into samples; a one-step range
  // query reads it through the step arrays every operand uses: same samples and same stats
  const points: Point[] = pts(0, 40 * M, 15_000, (t) => (t / 15_000) % 7);
  points[30] = [points[30][0], "stale"];
  points[77] = [points[77][0], "stale"];
  const gappy: Point[] = [[0, 1], [2 * M, 2], [9 * M, 3], [9 * M + 1, "stale"], [20 * M, 4]];
  const q = new MemQueryable([
    { labels: { __name__: "x", job: "a" }, points, perChunk: 13 },
    { labels: { __name__: "x", job: "b" }, points: gappy, perChunk: 2 },
    { labels: { __name__: "x", job: "c" }, points: pts(10 * M, 12 * M, M, () => -0) },
  ]);
  const queries = ["x", "(x)", "x offset 1m", "x offset -2m", "x @ 540", 'x{job=~"a|c"}'];
  for (const query of queries) {
    for (let t = -M; t <= 42 * M; t += 7_500) {
      for (const at of [t, t + 1]) {
        const one = await engine.instantQuery(q, query, at);
        const steps = await engine.rangeQuery(q, query, at, at, 15_000);
        const got = (one.value as Vector).samples.map((s) => ({
          labels: s.labels,
          t: s.t,
          v: Object.is(s.v, -0) ? "-0" : s.v,
        }));
        const want = (steps.value as Matrix).series.map((s) => ({
          labels: s.labels,
          t: s.ts[0],
          v: Object.is(s.vs[0], -0) ? "-0" : s.vs[0],
        }));
        assertEquals(got, want, `${query} at ${at}`);
        assertEquals(one.stats?.samples, steps.stats?.samples, `${query} at ${at}`);
      }
    }
  }
  // an aggregation reads its selector's series through one shared set of step arrays; `x * 1`
  // goes through the binary operator's own series instead
  const aggs = ["sum by (job) (X)", "count(X)", "max by (job) (X)", "stddev(X)", "group(X)"];
  for (const agg of aggs) {
    for (const sel of ["x", "(x)", "x offset 1m", 'x{job!="c"}']) {
      for (let t = 0; t <= 42 * M; t += 15_000) {
        const direct = await instant(q, agg.replace("X", sel), t);
        const through = await instant(q, agg.replace("X", `${sel} * 1`), t);
        assertEquals(vec(direct), vec(through), `${agg.replace("X", sel)} at ${t}`);
      }
    }
  }
  // the overlapping chunks of two blocks: first sample wins on equal times
  const two = overlappingChunks();
  for (let t = 0; t <= 21 * M; t += 30_000) {
    const one = await engine.instantQuery(two, "x", t);
    const steps = await engine.rangeQuery(two, "x", t, t, 15_000);
    assertEquals(
      vecValues(one.value),
      (steps.value as Matrix).series.map((s) => s.vs[0]),
      `at ${t}`,
    );
  }
});
