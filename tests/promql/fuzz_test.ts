// Hostile queries (tests/helpers/fuzz.ts): mutated dashboard queries must parse or fail with a
// ParseError, print to a text that parses again, and evaluate or fail with a PromQL error of a
// user-facing type — never a JavaScript error, never a hang.

import { assert } from "../helpers/assert.ts";
import { fuzz, isCrash, mutateText, pick } from "../helpers/fuzz.ts";
import { ParseError, parseExpr, parseMetricSelector } from "../../promql/parser.ts";
import { exprToString } from "../../promql/printer.ts";
import { Engine } from "../../promql/engine.ts";
import { PromQLError } from "../../promql/errors.ts";
import type { FunctionOptions } from "../../promql/functions_table.ts";
import { MemQueryable, type MemSeries } from "../helpers/mem_queryable.ts";

const FUNCTIONS: FunctionOptions = { experimentalFunctions: true, xFunctions: true };

const CORPUS = [
  "up",
  "absent(nonexistent_metric)",
  'node_load1{job="api"}',
  "count by (job) (up == 1)",
  'sum without (instance, mode) (rate(c{mode=~"i.."}[5m]))',
  "topk(2, sum by (instance) (rate(c[5m])))",
  "100 * (1 - c / ignoring(mode) up)",
  "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
  "rate(c[5m]) * on (job, instance) group_left(mode) up",
  "max_over_time(sum by (job) (rate(c[5m]))[10m:1m] offset -5m @ start())",
  'label_replace(up, "host", "$1", "instance", "(.*):.*")',
  'label_join(c, "x", ",", "job", "instance")',
  'count_values("v", c)',
  "quantile(0.5, c) > bool 3",
  "c unless ignoring(mode) up or c and up",
  "-1e10 ^ +Inf % NaN atan2 2",
  'c{job!~"j1", mode=~"\\\\w*"}[5m:] @ 1000.5',
  "vector(time()) / scalar(up)",
  '{__name__=~"c|up"}',
  "0x1F + 1.5e-3 - 3d2h",
  "`raw` == 'single'",
  "predict_linear(c[10m], 3600) + deriv(c[10m]) - holt_winters(c[10m], 0.5, 0.5)",
  "sort_desc(clamp(c, 1, 0)) + round(c, 0.3) + timestamp(c)",
  "quantile_over_time(0.5, c[1h]) + changes(c[1h]) + resets(c[1h])",
  "xrate(c[5m]) + xincrease(c[5m]) + irate(c[1m])",
  "absent_over_time(nope[5m])",
  "year(c) + sgn(c) + stddev by (job) (c) + group(c) by (job)",
  "(((((-(-(c)))))))",
];

const TOKENS = [
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  ",",
  "=",
  "!=",
  "=~",
  "!~",
  '"',
  "'",
  "`",
  "+",
  "-",
  "*",
  "/",
  "%",
  "^",
  "==",
  ">",
  "<=",
  "and",
  "or",
  "unless",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "offset",
  "@",
  "start()",
  "end()",
  ":",
  "5m",
  "1h",
  "1ms",
  "0",
  "1e308",
  "-Inf",
  "NaN",
  "c",
  "up",
  "__name__",
  "sum",
  "rate",
  "topk",
  "count_values",
  "quantile",
  "label_replace",
  "histogram_quantile",
  "[1ms:1ms]",
  "offset -1y",
  "@ 1e15",
  "9007199254740993",
  "\\",
  "\n",
  "#",
  "999999999999999999999y",
  "0x",
  "é",
  "\ud800",
  "\0",
];

Deno.test("fuzz: mutated queries parse or fail with a ParseError, and their print parses again", async () => {
  await fuzz(
    "parse",
    1,
    80_000,
    (r) => mutateText(r, pick(r, CORPUS), TOKENS, CORPUS),
    (q) => {
      let printed: string | undefined;
      try {
        printed = exprToString(parseExpr(q, FUNCTIONS));
      } catch (e) {
        assert(e instanceof ParseError, `not a ParseError: ${e}`);
      }
      // the printed text parses again (not always to the same text: like Prometheus's String,
      // a number literal prints with its sign, so `Inf ^ 2` prints `+Inf ^ 2`, which parses as
      // unary plus over `Inf ^ 2` and prints `++Inf ^ 2` — the same value)
      if (printed !== undefined) exprToString(parseExpr(printed, FUNCTIONS));
      try {
        parseMetricSelector(q);
      } catch (e) {
        assert(e instanceof ParseError, `selector: not a ParseError: ${e}`);
      }
    },
  );
});

const M = 60_000;

function data(): MemSeries[] {
  const out: MemSeries[] = [];
  for (let i = 0; i < 6; i++) {
    const base = { job: `j${i % 2}`, instance: `i${i}` };
    for (const le of ["0.1", "1", "+Inf", "NaN"]) {
      out.push({
        labels: { __name__: "h_bucket", le, ...base },
        points: Array.from({ length: 60 }, (_, t) => [t * 15_000, t * (1 + i)]),
      });
    }
    out.push({
      labels: { __name__: "up", ...base },
      points: [[0, 1], [M, i % 2], [10 * M, Infinity]],
    });
    out.push({
      labels: { __name__: "c", mode: i % 2 ? "idle" : "user", ...base },
      points: Array.from({ length: 60 }, (_, t) => [t * 20_000, i === 4 ? NaN : (t * 7 + i) % 13]),
    });
  }
  return out;
}

Deno.test("fuzz: mutated queries evaluate or fail with a user-facing PromQL error", async () => {
  const q = new MemQueryable(data());
  const engine = new Engine({ timeout: 60_000, maxSamples: 5_000_000, functions: FUNCTIONS });
  let evaluated = 0;
  await fuzz(
    "eval",
    2,
    40_000,
    (r) => ({
      q: mutateText(r, pick(r, CORPUS), TOKENS, CORPUS),
      range: r() < 0.5,
      t: Math.floor(r() * 40) * M - M,
      step: pick(r, [1_000, 15_000, 60_000]),
    }),
    async ({ q: text, range, t, step }) => {
      try {
        parseExpr(text, FUNCTIONS);
      } catch {
        return; // the parse test's part
      }
      evaluated++;
      try {
        if (range) await engine.rangeQuery(q, text, t - 10 * M, t, step);
        else await engine.instantQuery(q, text, t);
      } catch (e) {
        assert(e instanceof PromQLError && !isCrash(e), `not a PromQL error: ${e}`);
        assert(e.type !== "internal", `internal error: ${e.message}`);
      }
    },
  );
  assert(evaluated > 2_000, `only ${evaluated} mutated queries parsed`);
});
