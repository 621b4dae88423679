// What a range answer's arrays and JSON pieces share (issue 19, the querier's memory): dense series
// share the step times, a subquery's series reach the range function through reused arrays, JSON
// pieces are encoded in one scratch buffer. Each test checks the answer's values as well.

import { assert, assertEquals } from "../helpers/assert.ts";
import { Engine } from "../../promql/engine.ts";
import type { Matrix, QueryValue, Vector } from "../../promql/value.ts";
import { JSONPieces, resultToJSONText } from "../../promql/value.ts";
import { labelsToObject } from "../../tsdb/labels.ts";
import { MemQueryable, type Point } from "../helpers/mem_queryable.ts";

const M = 60_000;
const engine = new Engine();

/** Series `x{s=…}`: `a` every minute 0…30 with value k, `b` only minutes 0…9 with 10·k. */
function data(): MemQueryable {
  return new MemQueryable([
    {
      labels: { __name__: "x", s: "a" },
      points: Array.from({ length: 31 }, (_, k): Point => [k * M, k]),
    },
    {
      labels: { __name__: "x", s: "b" },
      points: Array.from({ length: 10 }, (_, k): Point => [k * M, 10 * k]),
    },
  ]);
}

/** The matrix's points as `{series: [[t, v], …]}`. */
function points(v: QueryValue): Record<string, [number, number][]> {
  assertEquals(v.type, "matrix");
  const out: Record<string, [number, number][]> = {};
  for (const s of (v as Matrix).series) {
    out[labelsToObject(s.labels).s ?? ""] = Array.from(s.ts, (t, i) => [t / M, s.vs[i]]);
  }
  return out;
}

Deno.test("a range answer's dense series share the step times; a gappy one gets its own", async () => {
  const q = new MemQueryable([
    ...["a", "c"].map((s) => ({
      labels: { __name__: "x", s },
      points: Array.from({ length: 11 }, (_, k): Point => [k * M, k]),
    })),
    {
      labels: { __name__: "x", s: "b" },
      points: Array.from({ length: 3 }, (_, k): Point => [k * M, 5]),
    },
  ]);
  // the lookback (5m) carries b's last sample to minute 7
  const r = await new Engine({ lookbackDelta: 5 * M }).rangeQuery(q, "x * 2", 0, 10 * M, M);
  const m = r.value as Matrix;
  const p = points(m);
  assertEquals(p.a, Array.from({ length: 11 }, (_, k) => [k, 2 * k]));
  assertEquals(p.c, p.a);
  assertEquals(p.b, Array.from({ length: 8 }, (_, k) => [k, 10]));
  const [a, b, c] = m.series;
  assert(a.ts === c.ts, "dense series share one step-times array");
  assert(b.ts !== a.ts && b.ts.length === 8);
});

Deno.test("a range function over a subquery reads each inner series whole, the longest first too", async () => {
  // inner grid 1m: a has 31 points, b 10 (a step without a sample past the lookback has none)
  const r = await new Engine({ lookbackDelta: M / 2 }).rangeQuery(
    data(),
    "max_over_time(x[3m:1m])",
    3 * M,
    30 * M,
    3 * M,
  );
  // the inner grid is minutes 0…30: a has a point at each of its 31 steps
  assertEquals(points(r.value), {
    a: [[3, 3], [6, 6], [9, 9], [12, 12], [15, 15], [18, 18], [21, 21], [24, 24], [27, 27], [
      30,
      30,
    ]],
    b: [[3, 30], [6, 60], [9, 90], [12, 90]],
  });
  const c = await new Engine({ lookbackDelta: M / 2 }).rangeQuery(
    data(),
    "count_over_time(x[3m:1m])",
    0,
    30 * M,
    5 * M,
  );
  assertEquals(points(c.value), {
    a: [[0, 1], [5, 4], [10, 4], [15, 4], [20, 4], [25, 4], [30, 4]],
    b: [[0, 1], [5, 4], [10, 3]],
  });
});

Deno.test("JSON pieces of answers encoded in turn stay whole and each piece keeps its bytes", async () => {
  // 8 series × 1,801 steps: several 64 KiB text chunks per answer
  const q = new MemQueryable(Array.from({ length: 8 }, (_, i) => ({
    labels: { __name__: "x", s: `s${i}` },
    points: Array.from({ length: 31 }, (_, k): Point => [k * M, k * (i + 1)]),
  })));
  const r1 = await engine.rangeQuery(q, "x", 0, 30 * M, 1000);
  const r2 = await engine.rangeQuery(q, "x * 3", 0, 30 * M, 1000);
  const a = new JSONPieces(r1.value, 300);
  const b = new JSONPieces(r2.value, 500);
  const pa: Uint8Array[] = [];
  const pb: Uint8Array[] = [];
  let doneA = false;
  let doneB = false;
  while (!doneA || !doneB) {
    if (!doneA) {
      const p = a.next();
      pa.push(p.data);
      doneA = p.done;
    }
    if (!doneB) {
      const p = b.next();
      pb.push(p.data);
      doneB = p.done;
    }
  }
  assert(pa.length >= 2 && pb.length >= 2, `${pa.length} and ${pb.length} pieces`);
  const join = (ps: Uint8Array[]) => ps.map((p) => new TextDecoder().decode(p)).join("");
  assertEquals(join(pa), resultToJSONText(r1.value));
  assertEquals(join(pb), resultToJSONText(r2.value));
  // a piece is its own buffer, of its own size: it is transferred to another thread
  for (const p of [...pa, ...pb]) assertEquals(p.byteLength, p.buffer.byteLength);
});

/** 40 counters `y{g, i}` over 2 h at 15 s, with gaps of different lengths and resets. */
function gappy(): MemQueryable {
  return new MemQueryable(Array.from({ length: 40 }, (_, i) => ({
    labels: { __name__: "y", g: `g${i % 3}`, i: String(i) },
    points: Array.from({ length: 480 }, (_, k): Point => [k * 15_000, (k % (50 + i)) * (i + 1)])
      .filter(([t]) => (t / M + i) % (7 + (i % 5)) > 2),
  })));
}

Deno.test("range aggregations of a range function give its series back and answer as without", async () => {
  for (const agg of ["sum", "avg", "max", "count", "stddev"]) {
    for (const f of ["rate(y[5m])", "max_over_time(y[2m])", "rate(y[5m])[20m:1m]"]) {
      const inner = f.endsWith(":1m]") ? `max_over_time(${f})` : f;
      const given = await engine.rangeQuery(
        gappy(),
        `${agg} by (g) (${inner})`,
        0,
        7200_000,
        30_000,
      );
      // an operand the aggregation does not give back: a binary operator's results
      const kept = await engine.rangeQuery(
        gappy(),
        `${agg} by (g) (${inner} * 1)`,
        0,
        7200_000,
        30_000,
      );
      assertEquals(resultToJSONText(given.value), resultToJSONText(kept.value), `${agg} ${f}`);
    }
  }
});

Deno.test("a range function over a subquery answers at each step as an instant query does", async () => {
  const expr = "max_over_time(rate(y[5m])[20m:1m])";
  const r = await engine.rangeQuery(gappy(), expr, 3_600_000, 7_200_000, 300_000);
  const m = r.value as Matrix;
  assert(m.series.length === 40);
  for (let t = 3_600_000; t <= 7_200_000; t += 300_000) {
    const v = await engine.instantQuery(gappy(), expr, t);
    assertEquals(v.value.type, "vector");
    const want = new Map<string, number>();
    for (const s of (v.value as Vector).samples) {
      want.set(JSON.stringify(s.labels), s.v);
    }
    const got = new Map<string, number>();
    for (const s of m.series) {
      const i = Array.prototype.indexOf.call(s.ts, t);
      if (i >= 0) got.set(JSON.stringify(s.labels), s.vs[i]);
    }
    assertEquals(got, want, `at ${t}`);
  }
});

Deno.test("vector matching over many steps gives the many side back and answers as instant queries", async () => {
  const q = () =>
    new MemQueryable([
      ...Array.from({ length: 30 }, (_, i) => ({
        labels: { __name__: "y", g: `g${i % 3}`, i: String(i) },
        points: Array.from({ length: 240 }, (_, k): Point => [k * 30_000, k * (i + 1)])
          .filter(([t]) => (t / M + i) % (5 + (i % 4)) > 1),
      })),
      ...[0, 1, 2].map((g) => ({
        labels: { __name__: "z", g: `g${g}` },
        points: Array.from({ length: 120 }, (_, k): Point => [k * M, g + 1])
          .filter(([t]) => (t / M) % (9 + g) !== 0),
      })),
    ]);
  for (
    const expr of [
      "y * on (g) group_left z",
      "z * on (g) group_right y",
      "y > on (g) group_left z",
      "y / y",
    ]
  ) {
    // one step per instant query: arrays too small to be given back
    await sameAsInstantQueries(q(), expr, 0, 7_200_000, 150_000);
  }
});

/** Asserts that the range query of `expr` answers at each step what an instant query does. */
async function sameAsInstantQueries(
  q: MemQueryable,
  expr: string,
  start: number,
  end: number,
  step: number,
): Promise<void> {
  const m = (await engine.rangeQuery(q, expr, start, end, step)).value as Matrix;
  assert(m.series.length > 0, expr);
  for (let t = start; t <= end; t += step) {
    const v = (await engine.instantQuery(q, expr, t)).value as Vector;
    const want = new Map<string, number>();
    for (const s of v.samples) want.set(JSON.stringify(s.labels), s.v);
    const got = new Map<string, number>();
    for (const s of m.series) {
      const i = Array.prototype.indexOf.call(s.ts, t);
      if (i >= 0) got.set(JSON.stringify(s.labels), s.vs[i]);
    }
    assertEquals(got, want, `${expr} at ${t}`);
  }
}

Deno.test("a range function's subquery read as its series stream answers as one read whole", async () => {
  for (
    const [streamed, whole] of [
      ["max_over_time(rate(y[5m])[20m:1m])", "max_over_time((rate(y[5m]) + 0)[20m:1m])"],
      ["sum_over_time(increase(y[3m])[7m:30s])", "sum_over_time((increase(y[3m]) + 0)[7m:30s])"],
      [
        "count_over_time(max_over_time(y[2m])[9m:2m])",
        "count_over_time((max_over_time(y[2m]) + 0)[9m:2m])",
      ],
    ]
  ) {
    for (const step of [30_000, 300_000]) {
      const a = await engine.rangeQuery(gappy(), streamed, 600_000, 7_200_000, step);
      // a binary operator's results are read whole, as Prometheus reads every subquery
      const b = await engine.rangeQuery(gappy(), whole, 600_000, 7_200_000, step);
      assert((a.value as Matrix).series.length > 0, streamed);
      assertEquals(
        resultToJSONText(a.value),
        resultToJSONText(b.value),
        `${streamed} step ${step}`,
      );
    }
  }
});
