// The distributed mode's planning (query/distributed.ts): which label sets partition the leaf
// queriers, which aggregations are pushed down (whole, or in two levels with the partition labels
// added to the remote grouping) and which shapes stay central; and the merge of remote results
// into the central engine (stale markers where a series ends), against an in-memory leaf.

import { assert, assertEquals } from "../helpers/assert.ts";
import {
  distribute,
  evaluateDistributed,
  partitionLabelNames,
  type RemoteEngine,
  remoteEngines,
} from "../../query/distributed.ts";
import { parseExpr } from "../../promql/parser.ts";
import { exprToString } from "../../promql/printer.ts";
import { Engine } from "../../promql/engine.ts";
import type { Vector } from "../../promql/value.ts";
import {
  decodeQueryRangeRequest,
  decodeQueryRequest,
  encodeQueryResponseBatch,
  QUERY_METHODS,
  type QueryTimeSeries,
} from "../../storeapi/query.ts";
import type { Queryable } from "../../tsdb/series.ts";

const P = new Set(["region"]);

function plan(q: string, partition = P): [string, string[]] {
  const p = distribute(parseExpr(q), partition);
  return [exprToString(p.expr), p.parts.map((x) => x.query)];
}

Deno.test("distribute: aggregations pushed whole, in two levels, or kept central", () => {
  assertEquals(plan("sum(x)"), ["sum(__thanos_ts_remote_0)", ["sum by (region) (x)"]]);
  assertEquals(plan("count by (job) (rate(x[5m]))"), [
    "sum by (job) (__thanos_ts_remote_0)",
    ["count by (job, region) (rate(x[5m]))"],
  ]);
  assertEquals(plan("sum by (region, job) (x)"), [
    "__thanos_ts_remote_0",
    ["sum by (region, job) (x)"],
  ]);
  assertEquals(plan("max without (instance) (x)"), [
    "__thanos_ts_remote_0",
    ["max without (instance) (x)"],
  ]);
  assertEquals(plan("min without (region) (x)"), [
    "min without (region) (__thanos_ts_remote_0)",
    ["min without () (x)"],
  ]);
  assertEquals(plan("topk(3, x * 2)"), [
    "topk(3, __thanos_ts_remote_0)",
    ["topk by (region) (3, x * 2)"],
  ]);
  assertEquals(plan("sum(a) / sum(b)"), [
    "sum(__thanos_ts_remote_0) / sum(__thanos_ts_remote_1)",
    ["sum by (region) (a)", "sum by (region) (b)"],
  ]);
  // not distributive, but each engine's groups are its own: pushed whole
  assertEquals(plan("avg by (region) (x)"), ["__thanos_ts_remote_0", ["avg by (region) (x)"]]);
  assertEquals(plan('count_values without (instance) ("v", x)')[1], [
    'count_values without (instance) ("v", x)',
  ]);
  assertEquals(plan("quantile by (region, job) (0.9, x)")[1].length, 1);
  // central: not distributive, no selector, vector-vector binary, partition label rewritten,
  // subquery, @ modifier, scalar()
  for (
    const q of [
      "avg(x)",
      "quantile(0.5, x)",
      "sum(vector(1))",
      "sum(a * b)",
      'sum(label_replace(x, "region", "a", "", ""))',
      "max_over_time(sum(x)[5m:1m])",
      "sum(x @ 100)",
      "sum(scalar(x) * y)",
      "x",
    ]
  ) {
    assertEquals(plan(q)[1], [], q);
  }
  // a label_replace of another label is series-wise
  assertEquals(plan('sum(label_replace(x, "j", "$1", "job", "(.*)"))')[1].length, 1);
});

Deno.test("partition labels: external labels minus replica labels, or the named ones; overlaps refuse", () => {
  const e = (name: string, ...sets: string[][]): RemoteEngine => ({
    name,
    labelSets: sets,
    client: { stream: () => (async function* () {})() },
  });
  const a = e("a", ["cluster", "c", "region", "eu", "replica", "1"]);
  const b = e("b", ["cluster", "c", "region", "us", "replica", "1"]);
  assertEquals(
    [...partitionLabelNames([a, b], ["replica"], { partitionLabels: [] })!].sort(),
    ["cluster", "region"],
  );
  assertEquals(
    [...partitionLabelNames([a, b], [], { partitionLabels: ["region"] })!],
    ["region"],
  );
  // two engines with one partition label set overlap; an engine without label sets is unknown
  assertEquals(partitionLabelNames([a, b], [], { partitionLabels: ["cluster"] }), null);
  assertEquals(partitionLabelNames([a, e("c")], [], { partitionLabels: [] }), null);
  // an endpoint without the Query API: no remote engines at all
  const info = { componentType: "query", labelSets: [["region", "eu"]], minTime: 0, maxTime: 1 };
  const client = { stream: () => (async function* () {})() };
  assertEquals(remoteEngines([{ name: "q", info: { ...info, query: true }, client }]).length, 1);
  assertEquals(
    remoteEngines([
      { name: "q", info: { ...info, query: true }, client },
      { name: "s", info, client },
    ]),
    [],
  );
});

/** A leaf answering every Query/QueryRange with `series` (checking the request's times). */
function leaf(name: string, series: QueryTimeSeries[], seen: string[]): RemoteEngine {
  return {
    name,
    labelSets: [["region", name]],
    client: {
      async *stream(path: string, req: Uint8Array) {
        if (path === QUERY_METHODS.query) seen.push(decodeQueryRequest(req).query);
        else seen.push(decodeQueryRangeRequest(req).query);
        yield encodeQueryResponseBatch(series);
      },
    },
  };
}

const none: Queryable = {
  // deno-lint-ignore require-yield
  async *select() {
    return;
  },
  labelNames: () => Promise.resolve([]),
  labelValues: () => Promise.resolve([]),
};

Deno.test("evaluateDistributed: remote results merged on the steps, a series' end is stale", async () => {
  const seen: string[] = [];
  // leaf a: one series present at 0 and 60 s only; leaf b: one present throughout
  const a = leaf("a", [{ labels: ["region", "a"], ts: [0, 60_000], vs: [1, 2] }], seen);
  const b = leaf(
    "b",
    [{ labels: ["region", "b"], ts: [0, 60_000, 120_000], vs: [10, 20, 30] }],
    seen,
  );
  const engine = new Engine({ lookbackDelta: 300_000 });
  const call = {
    replicaLabels: [],
    dedup: true,
    partialResponse: false,
    lookbackDeltaMs: 300_000,
    timeoutMs: 10_000,
    maxSourceResolutionMs: 0,
  };
  const warnings: string[] = [];
  const r = await evaluateDistributed(
    engine,
    none,
    { kind: "range", expr: "sum(x)", start: 0, end: 120_000, step: 60_000 },
    [a, b],
    { partitionLabels: [] },
    call,
    warnings,
  );
  assertEquals(seen, ["sum by (region) (x)", "sum by (region) (x)"]);
  assert(r.value.type === "matrix");
  assertEquals(r.value.series.length, 1);
  // at 120 s only b's 30: a's series ended at 60 s (without a stale marker the lookback would
  // still see its 2)
  assertEquals([...r.value.series[0].vs], [11, 22, 30]);
  const inst = await evaluateDistributed(
    engine,
    none,
    { kind: "instant", expr: "count(x)", start: 60_000, end: 60_000, step: 0 },
    [a, b],
    { partitionLabels: [] },
    call,
    warnings,
  );
  // the leaves' counts are summed here
  assertEquals((inst.value as Vector).samples.map((s) => s.v), [22]);
  assertEquals(warnings, []);
});
