// The differential PromQL corpus: queries over the data set of scripts/dataset.ts (families
// http_requests_total{job,instance,method,code}, process_resident_memory_bytes,
// node_temperature_celsius{sensor}, http_request_duration_seconds_{bucket,sum,count}{method,le},
// up, weird_values{kind}, label_escapes_total{path}) covering every Prometheus 2.42 function,
// aggregation, operator, matching mode and modifier, plus queries Prometheus rejects.
// Data starts at 1699999200 s (2023-11-14T22:00:00Z) and lasts 6h. Entries with
// `plan: "staleness"` query the scraped `stale_demo` series whose stale markers come from a
// real Prometheus scrape (see promql_diff_harness.ts).

/** One corpus query. */
export interface CorpusEntry {
  query: string;
  /** Query kinds to run (default both). Range-vector and string results are instant-only. */
  kinds?: ("instant" | "range")[];
  /** The vector result order is defined (sort, sort_desc, topk, bottomk). */
  ordered?: boolean;
  /** Prometheus rejects the query with this error class at every evaluation point. */
  expectError?: "bad_data" | "execution";
  /**
   * Which evaluation points apply: the data set's (default), or those around the scrapes of
   * `stale_demo{phase}` / `stale_demo_total{phase}` that carry real stale markers.
   */
  plan?: "dataset" | "staleness";
}

const INSTANT: ("instant" | "range")[] = ["instant"];

/** Range-vector functions without extra arguments. */
const RANGE_FUNCTIONS = [
  "rate",
  "increase",
  "delta",
  "irate",
  "idelta",
  "resets",
  "changes",
  "deriv",
  "avg_over_time",
  "min_over_time",
  "max_over_time",
  "sum_over_time",
  "count_over_time",
  "stddev_over_time",
  "stdvar_over_time",
  "last_over_time",
  "present_over_time",
];

/** Range selectors: dense and sparse windows, gauges, special values, offsets. */
const RANGE_SELECTORS = [
  "http_requests_total[5m]",
  'http_requests_total{code="500"}[1m]',
  "node_temperature_celsius[10m]",
  "weird_values[2m]",
  "up[30s]",
  "process_resident_memory_bytes[1h] offset 10m",
];

/** Instant math functions of one argument. */
const MATH_FUNCTIONS = [
  "abs",
  "ceil",
  "floor",
  "exp",
  "sqrt",
  "ln",
  "log2",
  "log10",
  "sgn",
  "deg",
  "rad",
  "sin",
  "cos",
  "tan",
  "asin",
  "acos",
  "atan",
  "sinh",
  "cosh",
  "tanh",
  "asinh",
  "acosh",
  "atanh",
];

const DATE_FUNCTIONS = [
  "day_of_month",
  "day_of_week",
  "day_of_year",
  "days_in_month",
  "hour",
  "minute",
  "month",
  "year",
];

const SIMPLE_AGGREGATIONS = ["sum", "avg", "count", "min", "max", "group", "stddev", "stdvar"];

const ARITHMETIC = ["+", "-", "*", "/", "%", "^", "atan2"];
const COMPARISONS = ["==", "!=", ">", "<", ">=", "<="];

function generated(): CorpusEntry[] {
  const out: CorpusEntry[] = [];
  for (const f of RANGE_FUNCTIONS) {
    for (const sel of RANGE_SELECTORS) out.push({ query: `${f}(${sel})` });
  }
  for (const f of MATH_FUNCTIONS) {
    out.push({ query: `${f}(node_temperature_celsius)` });
    out.push({ query: `${f}(weird_values)` });
  }
  for (const f of DATE_FUNCTIONS) {
    out.push({ query: `${f}()` });
    out.push({ query: `${f}(vector(time()))` });
    out.push({ query: `${f}(timestamp(up{job="api"}))` });
    out.push({ query: `${f}(process_resident_memory_bytes)` });
  }
  for (const op of SIMPLE_AGGREGATIONS) {
    out.push({ query: `${op}(up)` });
    out.push({ query: `${op} by (job) (process_resident_memory_bytes)` });
    out.push({ query: `${op} without (instance) (http_requests_total)` });
    out.push({ query: `${op} by (job, code) (rate(http_requests_total[5m]))` });
    out.push({ query: `${op}(weird_values)` });
    out.push({ query: `${op}(node_temperature_celsius) by (sensor)` });
  }
  for (const op of ARITHMETIC) {
    out.push({ query: `node_temperature_celsius ${op} 3` });
    out.push({ query: `2 ${op} node_temperature_celsius` });
    out.push({ query: `http_requests_total ${op} http_requests_total offset 5m` });
    out.push({ query: `7 ${op} 2` });
    out.push({ query: `weird_values ${op} -2` });
  }
  for (const op of COMPARISONS) {
    out.push({ query: `node_temperature_celsius ${op} 20` });
    out.push({ query: `20 ${op} node_temperature_celsius` });
    out.push({ query: `node_temperature_celsius ${op} bool 20` });
    out.push({ query: `http_requests_total ${op} http_requests_total offset 1m` });
    out.push({ query: `http_requests_total ${op} bool http_requests_total offset 1m` });
    out.push({ query: `3 ${op} bool 3` });
  }
  return out;
}

const HANDWRITTEN: CorpusEntry[] = [
  // selectors and matchers
  { query: "up" },
  { query: 'up{job="api"}' },
  { query: 'up{job!="api"}' },
  { query: 'up{job=~"a.*|we."}' },
  { query: 'up{job!~"a.*"}' },
  { query: 'up{job=~"api"}' },
  { query: 'up{instance=~".*:9100", job="db"}' },
  { query: '{__name__="up"}' },
  { query: '{__name__=~"up|process_resident_memory_bytes", job="web"}' },
  { query: '{job="cache", __name__=~"node_.*"}' },
  { query: 'http_requests_total{code=~"4..|5.."}' },
  { query: 'http_requests_total{method="GET", code="200"}' },
  { query: 'http_requests_total{nonexistent=""}' },
  { query: 'http_requests_total{code=""}' },
  { query: "label_escapes_total" },
  { query: 'label_escapes_total{path=~".*quoted.*"}' },
  { query: "weird_values" },
  { query: 'weird_values{kind="nan"}' },
  { query: "nonexistent_metric" },
  { query: 'http_request_duration_seconds_bucket{job="api", method="GET"}' },
  { query: "http_request_duration_seconds_count" },
  { query: "http_request_duration_seconds_sum / http_request_duration_seconds_count" },
  // range vectors as results (instant only)
  { query: 'up{job="api"}[1m]', kinds: INSTANT },
  { query: "weird_values[1m]", kinds: INSTANT },
  { query: 'http_requests_total{code="500", job="db"}[2m] offset 3m', kinds: INSTANT },
  { query: "label_escapes_total[45s]", kinds: INSTANT },
  // offsets and @
  { query: "up offset 5m" },
  { query: "up offset -5m" },
  { query: "up offset 1h30m" },
  { query: "http_requests_total offset -1h" },
  { query: "rate(http_requests_total[5m] offset 1h)" },
  { query: "rate(http_requests_total[5m] offset -10m)" },
  { query: "up @ 1700003000" },
  { query: "up @ 1700003007.5" },
  { query: "up @ 1700003000 offset 10m" },
  { query: "up offset 10m @ 1700003000" },
  { query: "rate(http_requests_total[5m] @ 1700010000)" },
  { query: "up @ start()" },
  { query: "up @ end()" },
  { query: "rate(http_requests_total[10m] @ end())" },
  { query: "sum(rate(http_requests_total[5m] @ start()))" },
  { query: "process_resident_memory_bytes - process_resident_memory_bytes @ start()" },
  { query: "max_over_time(node_temperature_celsius[1h] @ 1700006400)" },
  { query: "up @ 1699990000" },
  // subqueries
  { query: "max_over_time(rate(http_requests_total[5m])[30m:1m])" },
  { query: "avg_over_time(node_temperature_celsius[10m:])" },
  { query: "min_over_time(sum by (job) (rate(http_requests_total[5m]))[1h:5m])" },
  { query: "rate(http_requests_total[5m:30s])" },
  { query: "deriv(process_resident_memory_bytes[20m:1m])" },
  { query: "max_over_time(up[10m:1m] offset 5m)" },
  { query: "count_over_time(up[7m:45s])" },
  { query: "sum_over_time(node_temperature_celsius[13m:2m] @ 1700010000)" },
  { query: 'rate(http_requests_total{job="api"}[5m])[30m:1m]', kinds: INSTANT },
  {
    query: "max_over_time(max_over_time(node_temperature_celsius[5m])[20m:3m])[1h:10m]",
    kinds: INSTANT,
  },
  { query: "quantile_over_time(0.9, node_temperature_celsius[30m:1m])" },
  { query: "last_over_time(up[1h:7m])" },
  // functions with arguments
  { query: "quantile_over_time(0.5, node_temperature_celsius[10m])" },
  { query: "quantile_over_time(0, http_requests_total[5m])" },
  { query: "quantile_over_time(1, http_requests_total[5m])" },
  { query: "quantile_over_time(0.33, weird_values[5m])" },
  { query: "quantile_over_time(-1, up[5m])" },
  { query: "quantile_over_time(1.5, up[5m])" },
  { query: "quantile_over_time(NaN, up[5m])" },
  { query: "predict_linear(process_resident_memory_bytes[30m], 3600)" },
  { query: "predict_linear(node_temperature_celsius[10m], 600)" },
  { query: "predict_linear(http_requests_total[5m], -300)" },
  { query: "predict_linear(weird_values[5m], 60)" },
  { query: "holt_winters(node_temperature_celsius[30m], 0.3, 0.7)" },
  { query: "holt_winters(process_resident_memory_bytes[1h], 0.5, 0.5)" },
  { query: "holt_winters(http_requests_total[5m], 0.1, 0.9)" },
  { query: "holt_winters(up[10m], 0, 0.5)", expectError: "execution" },
  { query: "holt_winters(up[10m], 0.5, 1)", expectError: "execution" },
  { query: "round(node_temperature_celsius)" },
  { query: "round(node_temperature_celsius, 0.5)" },
  { query: "round(node_temperature_celsius, 5)" },
  { query: "round(weird_values, 0.1)" },
  { query: "round(process_resident_memory_bytes, 1e6)" },
  { query: "round(-node_temperature_celsius)" },
  { query: "clamp(node_temperature_celsius, 0, 50)" },
  { query: "clamp(node_temperature_celsius, 50, 0)" },
  { query: "clamp(weird_values, -10, 10)" },
  { query: "clamp_min(node_temperature_celsius, 10)" },
  { query: "clamp_max(node_temperature_celsius, 10)" },
  { query: "clamp_min(weird_values, NaN)" },
  { query: "timestamp(up)" },
  { query: "timestamp(up offset 5m)" },
  { query: "timestamp(rate(http_requests_total[5m]))" },
  { query: "timestamp(up @ 1700003000)" },
  { query: "time()" },
  { query: "time() - 1700000000" },
  { query: "pi()" },
  { query: "vector(1)" },
  { query: "vector(time())" },
  { query: "vector(pi()) * 2" },
  { query: 'scalar(up{job="api", instance="host-000:9100"})' },
  { query: "scalar(up)" },
  { query: "scalar(nonexistent_metric)" },
  { query: "up * scalar(count(up))" },
  { query: "absent(up)" },
  { query: "absent(nonexistent_metric)" },
  { query: 'absent(nonexistent_metric{job="x", instance=~"a.*"})' },
  { query: 'absent(nonexistent_metric{job="x", job="y", env="prod"})' },
  { query: "absent(sum(nonexistent_metric))" },
  { query: "absent_over_time(up[5m])" },
  { query: 'absent_over_time(nonexistent_metric{job="z"}[5m])' },
  { query: 'absent_over_time(up{job="nope"}[1m] offset 1h)' },
  { query: 'present_over_time(up{job="api"}[10m])' },
  { query: 'label_replace(up, "host", "$1", "instance", "(.*):.*")' },
  { query: 'label_replace(up, "job", "", "job", "api")' },
  { query: 'label_replace(up, "new", "x-${1}-y", "job", "(a)(p)i")' },
  { query: 'label_replace(up, "instance", "$2", "instance", "nomatch(.*)")' },
  { query: 'label_replace(rate(http_requests_total[5m]), "__name__", "renamed", "", "")' },
  { query: 'label_replace(up, "1bad", "x", "job", ".*")', expectError: "execution" },
  { query: 'label_replace(up, "x", "y", "job", "(")', expectError: "execution" },
  { query: 'label_join(up, "combined", "-", "job", "instance")' },
  { query: 'label_join(up, "job", "", "nonexistent")', expectError: "execution" },
  { query: 'label_join(http_requests_total, "mc", ",", "method", "code", "method")' },
  { query: "sort(node_temperature_celsius)", ordered: true },
  { query: "sort_desc(node_temperature_celsius)", ordered: true },
  { query: "sort(weird_values)", ordered: true },
  { query: "sort_desc(rate(http_requests_total[5m]))", ordered: true },
  { query: "sort(up)", ordered: true },
  { query: "histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[5m]))" },
  {
    query:
      "histogram_quantile(0.5, sum by (job, le) (rate(http_request_duration_seconds_bucket[10m])))",
  },
  { query: "histogram_quantile(0.99, http_request_duration_seconds_bucket)" },
  { query: "histogram_quantile(0, http_request_duration_seconds_bucket)" },
  { query: "histogram_quantile(1, sum by (le) (http_request_duration_seconds_bucket))" },
  { query: "histogram_quantile(-0.5, http_request_duration_seconds_bucket)" },
  { query: "histogram_quantile(1.5, http_request_duration_seconds_bucket)" },
  { query: "histogram_quantile(NaN, http_request_duration_seconds_bucket)" },
  {
    query: 'histogram_quantile(0.75, http_request_duration_seconds_bucket{le!="+Inf"})',
  },
  {
    query: 'histogram_quantile(0.75, http_request_duration_seconds_bucket{le=~"0.1|\\\\+Inf"})',
  },
  { query: "histogram_quantile(0.8, rate(http_request_duration_seconds_bucket[1m]))" },
  { query: "histogram_quantile(0.9, up)" },
  { query: "histogram_count(http_request_duration_seconds_count)" },
  { query: "histogram_sum(http_request_duration_seconds_sum)" },
  { query: "histogram_fraction(0, 0.5, http_request_duration_seconds_bucket)" },
  // aggregations with parameters
  { query: "topk(3, http_requests_total)", ordered: true },
  { query: "topk(1, up)", ordered: true },
  { query: "topk(5, up)", ordered: true },
  { query: "topk by (job) (2, process_resident_memory_bytes)", ordered: true },
  { query: "topk(2, weird_values)", ordered: true },
  { query: "topk(3.9, node_temperature_celsius)", ordered: true },
  { query: "topk(0, up)" },
  { query: "topk(-1, up)" },
  { query: "topk(100000, node_temperature_celsius)" },
  { query: "bottomk(3, http_requests_total)", ordered: true },
  { query: "bottomk(1, up)", ordered: true },
  { query: "bottomk without (instance) (2, node_temperature_celsius)", ordered: true },
  { query: "bottomk(2, weird_values)", ordered: true },
  {
    query: "topk(scalar(count(up) / 10), rate(http_requests_total[5m]))",
    kinds: INSTANT,
    ordered: true,
  },
  { query: "topk(NaN, up)", expectError: "execution" },
  { query: "topk(1e30, up)", expectError: "execution" },
  { query: "quantile(0.5, node_temperature_celsius)" },
  { query: "quantile by (job) (0.9, rate(http_requests_total[5m]))" },
  { query: "quantile(0, up)" },
  { query: "quantile(1, weird_values)" },
  { query: "quantile(0.25, weird_values)" },
  { query: "quantile(-1, up)" },
  { query: "quantile(2, up)" },
  { query: "quantile(NaN, up)" },
  { query: 'count_values("value", up)' },
  { query: 'count_values by (job) ("v", up)' },
  { query: 'count_values without (instance) ("v", floor(node_temperature_celsius))' },
  { query: 'count_values("value", weird_values)' },
  { query: 'count_values("value", http_requests_total / 7)' },
  { query: 'count_values("job", up)' },
  { query: 'count_values("1bad", up)', expectError: "execution" },
  { query: "sum(http_requests_total) by (job, method)" },
  { query: "sum by (__name__) (up)" },
  { query: "sum without () (up)" },
  { query: "sum by () (up)" },
  { query: "count by (code) (http_requests_total)" },
  { query: "avg(process_resident_memory_bytes * 1e300)" },
  { query: "sum(process_resident_memory_bytes * 1e300)" },
  { query: "avg by (job) (rate(http_requests_total[5m]))" },
  { query: "stddev by (method) (rate(http_requests_total[5m]))" },
  { query: "max(weird_values) by (kind)" },
  { query: "min(weird_values) by (kind)" },
  { query: "sum(sum by (job) (up))" },
  { query: "group by (job) (http_requests_total)" },
  // vector matching
  { query: "http_requests_total / on(job, instance) group_left up" },
  { query: "up * on(job, instance) group_right http_requests_total" },
  {
    query:
      'http_requests_total * on(job, instance) group_left(sensor) node_temperature_celsius{sensor="cpu"}',
  },
  {
    query:
      'node_temperature_celsius{sensor="outside"} + ignoring(sensor) group_right process_resident_memory_bytes',
  },
  {
    query: "process_resident_memory_bytes / ignoring(sensor) node_temperature_celsius",
    expectError: "execution",
  },
  {
    query:
      'process_resident_memory_bytes / ignoring(sensor) node_temperature_celsius{sensor="cpu"}',
  },
  { query: 'up + on(instance) node_temperature_celsius{sensor="cpu"}', expectError: "execution" },
  { query: 'up > on(job, instance) node_temperature_celsius{sensor="cpu"} - 100' },
  {
    query: 'up == bool on(job, instance) group_left node_temperature_celsius{sensor="cpu"} * 0 + 1',
  },
  { query: "rate(http_requests_total[5m]) / on() group_left scalar(sum(up))" },
  { query: "sum by (job) (http_requests_total) / on(job) group_left sum by (job) (up)" },
  {
    query:
      "sum by (job, method) (rate(http_requests_total[5m])) / ignoring(method) group_left sum by (job) (rate(http_requests_total[5m]))",
  },
  { query: "up * on(instance) group_left(job) up", expectError: "execution" },
  { query: "http_requests_total + on(job) up", expectError: "execution" },
  { query: "http_requests_total + on(instance) up", expectError: "execution" },
  { query: "http_requests_total + ignoring(code) http_requests_total", expectError: "execution" },
  { query: "up + node_temperature_celsius" },
  { query: 'abs({__name__=~"up|process_resident_memory_bytes"})', expectError: "execution" },
  {
    query: 'label_replace(up, "instance", "same", "instance", ".*")',
    expectError: "execution",
  },
  // set operators
  { query: 'up and up{job="api"}' },
  { query: 'up and on(job) up{job="db"}' },
  { query: "up and on() vector(1)" },
  { query: 'http_requests_total and ignoring(code, method) up{job=~"api|web"}' },
  { query: 'up or up{job="api"} * 2' },
  { query: "up or vector(0)" },
  { query: "nonexistent_metric or up" },
  {
    query:
      'node_temperature_celsius{sensor="cpu"} or on(job, instance) process_resident_memory_bytes',
  },
  { query: 'up unless up{job="web"}' },
  { query: 'up unless on(job) up{job="web"}' },
  { query: "http_requests_total unless ignoring(method, code) up == 0" },
  { query: "up and nonexistent_metric" },
  {
    query:
      '(up or process_resident_memory_bytes) unless on(instance) node_temperature_celsius{sensor="cpu"} > 60',
  },
  // scalars, literals, strings, unary
  { query: "1" },
  { query: "-1.5e3" },
  { query: "0x1F" },
  { query: "Inf" },
  { query: "-inf" },
  { query: "NaN" },
  { query: "1 + 2 * 3 - 4 / 2" },
  { query: "2 ^ 3 ^ 2" },
  { query: "-2 ^ 2" },
  { query: "(1 + 2) * -3" },
  { query: "10 % 3" },
  { query: "-7 % 3" },
  { query: "1 / 0" },
  { query: "-1 / 0" },
  { query: "0 / 0" },
  { query: "(-1) ^ Inf" },
  { query: "1 ^ NaN" },
  { query: "atan2(1, 2)", expectError: "bad_data" },
  { query: "1 atan2 2" },
  { query: "-up" },
  { query: "+up" },
  { query: "-(-node_temperature_celsius)" },
  { query: '"hello"', kinds: INSTANT },
  { query: "'single \\t quoted'", kinds: INSTANT },
  { query: "`raw \\n string`", kinds: INSTANT },
  { query: "(up)" },
  { query: "((node_temperature_celsius * 2) + 1) / 3" },
  // nested expressions
  {
    query:
      "sum by (job) (rate(http_requests_total[5m])) / sum by (job) (rate(http_requests_total[1h]))",
  },
  { query: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))' },
  {
    query:
      "max by (job) (avg_over_time(node_temperature_celsius[15m])) - min by (job) (node_temperature_celsius)",
  },
  { query: "increase(http_requests_total[1h]) > 100000" },
  { query: "count(rate(http_requests_total[5m]) > 10) by (job)" },
  { query: "abs(delta(node_temperature_celsius[30m])) > bool 1" },
  { query: "ln(sum(rate(http_requests_total[5m])) by (method))" },
  { query: "topk(3, sum by (instance) (rate(http_requests_total[5m])))", ordered: true },
  { query: "sort_desc(sum by (job) (increase(http_requests_total[30m])))", ordered: true },
  { query: "1 - avg by (job) (up)" },
  { query: "changes(up[1h]) > 0" },
  { query: "resets(http_requests_total[6h])" },
  { query: "rate(http_requests_total[6h])" },
  { query: "idelta(process_resident_memory_bytes[2m]) / 1e6" },
  { query: "stddev_over_time(rate(http_requests_total[5m])[30m:1m])" },
  { query: "count(count by (job) (up))" },
  { query: "sum(up == 1) by (job) / count(up) by (job)" },
  {
    query:
      '(up == 0) * on(job, instance) group_left(sensor) node_temperature_celsius{sensor="cpu"}',
  },
  // rejected by the parser or the API
  { query: "sum(", expectError: "bad_data" },
  { query: "rate(up)", expectError: "bad_data" },
  { query: "up[5m] + 1", expectError: "bad_data" },
  { query: "{}", expectError: "bad_data" },
  { query: '{job=~".*"}', expectError: "bad_data" },
  { query: "sum(up) offset 5m", expectError: "bad_data" },
  { query: "histogram_quantile(0.9)", expectError: "bad_data" },
  { query: "nonexistent_function(up)", expectError: "bad_data" },
  { query: 'topk("a", up)', expectError: "bad_data" },
  { query: "count_values(1, up)", expectError: "bad_data" },
  { query: "1 == 1", expectError: "bad_data" },
  { query: "up and 1", expectError: "bad_data" },
  { query: "up + on(job) group_left group_right up", expectError: "bad_data" },
  { query: "up and on(job) group_left up", expectError: "bad_data" },
  { query: "up[5m:1m:1m]", expectError: "bad_data" },
  { query: "up[5x]", expectError: "bad_data" },
  { query: "up @ foo", expectError: "bad_data" },
  { query: "up @ 1 @ 2", expectError: "bad_data" },
  { query: "up offset 1m offset 2m", expectError: "bad_data" },
  { query: "rate(http_requests_total[5m]", expectError: "bad_data" },
  { query: 'up{job="a"', expectError: "bad_data" },
  { query: "sum by (job) (up) by (instance)", expectError: "bad_data" },
  { query: "up[5m]", kinds: ["range"], expectError: "bad_data" },
  { query: '"a string"', kinds: ["range"], expectError: "bad_data" },
  { query: "rate(up[5m])[10m:1m]", kinds: ["range"], expectError: "bad_data" },
  { query: "", expectError: "bad_data" },
  { query: "abs(up, up)", expectError: "bad_data" },
  { query: 'label_replace(up, "a")', expectError: "bad_data" },
  { query: "time(1)", expectError: "bad_data" },
  { query: "sum(up) bool", expectError: "bad_data" },
];

const STALE_QUERIES = [
  "stale_demo",
  'stale_demo{phase="b"}',
  "stale_demo_total",
  "stale_demo offset 1s",
  "sum(stale_demo)",
  "count(stale_demo_total)",
  "stale_demo * 2",
  "timestamp(stale_demo)",
  'absent(stale_demo{phase="b"})',
  "rate(stale_demo_total[5s])",
  "increase(stale_demo_total[1m])",
  "changes(stale_demo[1m])",
  "count_over_time(stale_demo[1m])",
  "last_over_time(stale_demo[1m])",
  "present_over_time(stale_demo[3s])",
  "absent_over_time(stale_demo[2s])",
  "max_over_time(stale_demo[1m:1s])",
  "stale_demo and stale_demo_total",
  "stale_demo unless on(phase) stale_demo_total > 20",
  'up{job="stale_demo"}',
];

/** The committed corpus (≥ 400 queries over the data set, plus the stale-marker queries). */
export const CORPUS: CorpusEntry[] = [
  ...HANDWRITTEN,
  ...generated(),
  ...STALE_QUERIES.map((query): CorpusEntry => ({ query, plan: "staleness" })),
];
