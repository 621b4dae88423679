// Validates the differential harness and corpus with Prometheus alone: the corpus is run against
// Prometheus 2.42 on both sides (the lead later swaps in our engine as `engineFn`), which must
// give zero differences, and every query must produce the outcome class the corpus declares.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { CORPUS } from "./promql_corpus.ts";
import {
  compareResults,
  formatFailures,
  prometheusEngine,
  runCorpus,
  setupDiffEnvironment,
} from "./promql_diff_harness.ts";
import type { QueryOutcome } from "./promql_diff_harness.ts";

/** Every function of Prometheus 2.42's function table. */
const FUNCTIONS_2_42 = [
  "abs",
  "absent",
  "absent_over_time",
  "acos",
  "acosh",
  "asin",
  "asinh",
  "atan",
  "atanh",
  "avg_over_time",
  "ceil",
  "changes",
  "clamp",
  "clamp_max",
  "clamp_min",
  "cos",
  "cosh",
  "count_over_time",
  "days_in_month",
  "day_of_month",
  "day_of_week",
  "day_of_year",
  "deg",
  "delta",
  "deriv",
  "exp",
  "floor",
  "histogram_count",
  "histogram_fraction",
  "histogram_quantile",
  "histogram_sum",
  "holt_winters",
  "hour",
  "idelta",
  "increase",
  "irate",
  "label_replace",
  "label_join",
  "ln",
  "log10",
  "log2",
  "last_over_time",
  "max_over_time",
  "min_over_time",
  "minute",
  "month",
  "pi",
  "predict_linear",
  "present_over_time",
  "quantile_over_time",
  "rad",
  "rate",
  "resets",
  "round",
  "scalar",
  "sgn",
  "sin",
  "sinh",
  "sort",
  "sort_desc",
  "sqrt",
  "stddev_over_time",
  "stdvar_over_time",
  "sum_over_time",
  "tan",
  "tanh",
  "time",
  "timestamp",
  "vector",
  "year",
];

const AGGREGATIONS = [
  "sum",
  "avg",
  "count",
  "min",
  "max",
  "group",
  "stddev",
  "stdvar",
  "topk",
  "bottomk",
  "count_values",
  "quantile",
];

const OPERATORS = [
  "+",
  "-",
  "*",
  "/",
  "%",
  "^",
  "atan2",
  "==",
  "!=",
  ">",
  "<",
  ">=",
  "<=",
  " bool ",
  " and ",
  " or ",
  " unless ",
  "on(",
  "ignoring(",
  "group_left",
  "group_right",
  "offset -",
  " offset ",
  "@ start()",
  "@ end()",
  ":]",
];

Deno.test("PromQL corpus has ≥ 400 unique queries covering every 2.42 function, aggregation and operator", () => {
  const queries = CORPUS.map((e) => e.query);
  const overDataset = CORPUS.filter((e) => e.plan !== "staleness").length;
  assert(overDataset >= 400, `corpus has only ${overDataset} queries over the data set`);
  assertEquals(new Set(queries).size, queries.length, "corpus has duplicate queries");
  const text = queries.join("\n");
  for (const f of FUNCTIONS_2_42) {
    assert(new RegExp(`\\b${f}\\(`).test(text), `no corpus query calls ${f}()`);
  }
  for (const a of AGGREGATIONS) {
    assert(new RegExp(`\\b${a}( by| without)? ?\\(`).test(text), `no corpus query uses ${a}`);
  }
  for (const op of OPERATORS) assert(text.includes(op), `no corpus query uses "${op}"`);
  assert(CORPUS.some((e) => e.expectError === "bad_data"), "no parse errors in corpus");
  assert(CORPUS.some((e) => e.expectError === "execution"), "no runtime errors in corpus");
});

Deno.test("compareResults reports value, series, timestamp, order and error-class differences", () => {
  const vec = (xs: [Record<string, string>, number, string][]): QueryOutcome => ({
    status: "success",
    data: {
      resultType: "vector",
      result: xs.map(([metric, t, v]) => ({ metric, value: [t, v] as [number, string] })),
    },
  });
  const a = vec([[{ job: "a" }, 10, "1"], [{ job: "b" }, 10, "NaN"]]);
  assertEquals(compareResults(a, a), []);
  assertEquals(
    compareResults(a, vec([[{ job: "a" }, 10, "1.0000000000001"], [{ job: "b" }, 10, "NaN"]])),
    [],
  );
  assertEquals(
    compareResults(a, vec([[{ job: "a" }, 10, "1.001"], [{ job: "b" }, 10, "NaN"]])).length,
    1,
  );
  assertEquals(
    compareResults(a, vec([[{ job: "a" }, 11, "1"], [{ job: "b" }, 10, "NaN"]])).length,
    1,
  );
  assertEquals(compareResults(a, vec([[{ job: "a" }, 10, "1"]])).length, 1);
  assertEquals(compareResults(a, vec([[{ job: "b" }, 10, "NaN"], [{ job: "a" }, 10, "1"]])), []);
  assertEquals(
    compareResults(a, vec([[{ job: "b" }, 10, "NaN"], [{ job: "a" }, 10, "1"]]), { ordered: true })
      .length,
    1,
  );
  // ties may swap in ordered results
  const t = vec([[{ job: "a" }, 10, "1"], [{ job: "b" }, 10, "1"]]);
  assertEquals(
    compareResults(t, vec([[{ job: "b" }, 10, "1"], [{ job: "a" }, 10, "1"]]), { ordered: true }),
    [],
  );
  const err = (e: "bad_data" | "execution"): QueryOutcome => ({
    status: "error",
    errorType: e,
    error: "x",
  });
  assertEquals(compareResults(err("bad_data"), err("bad_data")), []);
  assertEquals(compareResults(err("bad_data"), err("execution")).length, 1);
  assertEquals(compareResults(err("bad_data"), a).length, 1);
  const m = (pts: [number, string][]): QueryOutcome => ({
    status: "success",
    data: { resultType: "matrix", result: [{ metric: {}, values: pts }] },
  });
  assertEquals(compareResults(m([[1, "1"], [2, "2"]]), m([[1, "1"], [2, "2"]])), []);
  assertEquals(compareResults(m([[1, "1"], [2, "2"]]), m([[1, "1"], [3, "2"]])).length, 2);
  assertEquals(compareResults(m([[1, "+Inf"]]), m([[1, "-Inf"]])).length, 1);
});

e2eTest(
  "PromQL corpus gives identical answers from Prometheus 2.42 on both sides of the harness",
  { peers: ["prometheus", "promtool"] },
  async () => {
    const env = await setupDiffEnvironment();
    try {
      const prom = prometheusEngine(env.prometheus.url);
      const report = await runCorpus(prom, {
        expected: prom,
        corpus: CORPUS,
        plan: env.plan,
        stalenessPlan: env.stalenessPlan,
        concurrency: 4,
      });
      assert(env.stalenessPlan.instantTimes.length > 0, "no stale-marker evaluation points");
      console.log(
        `promql oracle: ${CORPUS.length} queries, ${report.evaluations} evaluations in ` +
          `${Math.round(report.elapsedMs)} ms; outcomes ${JSON.stringify(report.outcomeCounts)}`,
      );
      assert(
        report.failures.length === 0,
        `${report.failures.length} evaluations failed:\n${formatFailures(report.failures)}`,
      );
    } finally {
      await env.cleanup();
    }
  },
);
