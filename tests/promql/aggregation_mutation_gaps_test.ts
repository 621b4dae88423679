// Gaps found by the mutation check (scripts/mutations.ts): `max`/`min` over a group whose first
// value is NaN. Prometheus 2.42 (promql/engine.go, aggregation()) replaces the running value when
// `group.value < s.V || math.IsNaN(group.value)` (mirrored for min), so NaN is ignored unless
// every value of the group is NaN:
// https://github.com/prometheus/prometheus/blob/v2.42.0/promql/engine.go
// https://prometheus.io/docs/prometheus/latest/querying/operators/#aggregation-operators
// Both implementations are covered: the engine's column aggregator (every query's max/min) and
// the exported per-step `aggregate()` (promql/aggregations.ts).

import { assertEquals } from "../helpers/assert.ts";
import { Engine } from "../../promql/engine.ts";
import { aggregate, type AggregationOp } from "../../promql/aggregations.ts";
import type { QueryValue } from "../../promql/value.ts";
import { XorAppender } from "../../tsdb/chunkenc/xor.ts";
import { compareLabels, labelsFromObject, labelsToObject } from "../../tsdb/labels.ts";
import type { Matcher } from "../../tsdb/matchers.ts";
import {
  ChunkEncoding,
  type Queryable,
  type SeriesSet,
  type SeriesWithChunks,
} from "../../tsdb/series.ts";

/** In-memory Queryable: one XOR chunk per series, yielded in label order. */
function memQueryable(defs: { labels: Record<string, string>; points: [number, number][] }[]) {
  const series: SeriesWithChunks[] = defs.map((d) => {
    const app = new XorAppender();
    for (const [t, v] of d.points) app.append(t, v);
    return {
      labels: labelsFromObject(d.labels),
      chunks: [{
        minTime: d.points[0][0],
        maxTime: d.points[d.points.length - 1][0],
        encoding: ChunkEncoding.XOR,
        data: app.bytes().slice(),
      }],
    };
  }).sort((a, b) => compareLabels(a.labels, b.labels));
  const q: Queryable = {
    select(matchers: Matcher[]): SeriesSet {
      return (async function* () {
        for (const s of series) {
          const o = labelsToObject(s.labels);
          if (matchers.every((m) => m.matches(o[m.name] ?? ""))) yield s;
        }
      })();
    },
    labelNames: () => Promise.resolve([]),
    labelValues: () => Promise.resolve([]),
  };
  return q;
}

const M = 60_000;

// Series in label order a, b, c (the order the aggregator sees them), one sample a minute at
// 0..3m. `a` leads with NaN at 0m and 1m; at 2m every value is NaN; at 3m only the last is NaN.
const STORE = memQueryable([
  {
    labels: { __name__: "x", i: "a", job: "j" },
    points: [[0, NaN], [M, NaN], [2 * M, NaN], [3 * M, 7]],
  },
  {
    labels: { __name__: "x", i: "b", job: "j" },
    points: [[0, 5], [M, -2], [2 * M, NaN], [3 * M, 4]],
  },
  {
    labels: { __name__: "x", i: "c", job: "j" },
    points: [[0, 9], [M, -8], [2 * M, NaN], [3 * M, NaN]],
  },
]);

const engine = new Engine();

/** Values of a single-series result as strings ("NaN" compares exactly). */
function values(v: QueryValue): [number, string][] {
  if (v.type === "vector") return v.samples.map((s) => [s.t, String(s.v)]);
  if (v.type !== "matrix") throw new Error(`unexpected ${v.type}`);
  assertEquals(v.series.length, 1);
  const s = v.series[0];
  return [...s.ts].map((t, i) => [t, String(s.vs[i])]);
}

Deno.test("engine max/min ignore a leading NaN; NaN only when every value is NaN", async () => {
  const range = async (q: string) => values((await engine.rangeQuery(STORE, q, 0, 3 * M, M)).value);
  assertEquals(await range("max(x)"), [[0, "9"], [M, "-2"], [2 * M, "NaN"], [3 * M, "7"]]);
  assertEquals(await range("min(x)"), [[0, "5"], [M, "-8"], [2 * M, "NaN"], [3 * M, "4"]]);
  assertEquals(await range("max by (job) (x)"), [
    [0, "9"],
    [M, "-2"],
    [2 * M, "NaN"],
    [3 * M, "7"],
  ]);
  // instant queries take the same path
  assertEquals(values((await engine.instantQuery(STORE, "max(x)", M)).value), [[M, "-2"]]);
  assertEquals(values((await engine.instantQuery(STORE, "min(x)", 0)).value), [[0, "5"]]);
  // a NaN after a number is ignored too (NaN < v and v < NaN are both false)
  assertEquals(values((await engine.instantQuery(STORE, "max(x)", 3 * M)).value), [[3 * M, "7"]]);
});

Deno.test("aggregate(): max/min of a group whose first sample is NaN", () => {
  const run = (op: AggregationOp, vals: number[]) =>
    aggregate(
      op,
      vals.map((value, i) => ({ labels: labelsFromObject({ i: String(i), job: "j" }), value })),
      { grouping: ["job"], without: false },
    ).map((s) => [labelsToObject(s.labels), String(s.value)]);
  assertEquals(run("max", [NaN, 1, 3, 2]), [[{ job: "j" }, "3"]]);
  assertEquals(run("min", [NaN, 1, -3, 2]), [[{ job: "j" }, "-3"]]);
  assertEquals(run("max", [NaN, -5]), [[{ job: "j" }, "-5"]]);
  assertEquals(run("min", [NaN, 5]), [[{ job: "j" }, "5"]]);
  assertEquals(run("max", [4, NaN]), [[{ job: "j" }, "4"]]);
  assertEquals(run("max", [NaN, NaN]), [[{ job: "j" }, "NaN"]]);
  assertEquals(run("min", [NaN, NaN]), [[{ job: "j" }, "NaN"]]);
});
