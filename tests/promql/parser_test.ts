// PromQL parser and printer: precedence, modifiers, literals, type checks and error messages
// of Prometheus 2.42; round trips through exprToString; and, when a real Prometheus is present,
// a differential check of error messages and printed forms against it.

import { assert, assertAlmostEquals, assertEquals, assertThrows } from "../helpers/assert.ts";
import { type Expr, typeOf } from "../../promql/ast.ts";
import { ParseError, parseExpr, parseMetricSelector } from "../../promql/parser.ts";
import { formatDuration, InvalidDurationError, parseDuration } from "../../tsdb/duration.ts";
import { exprToString } from "../../promql/printer.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS, startPrometheus } from "../helpers/prometheus.ts";

/** Compact structure of an expression: binary/unary ops as s-expressions, leaves as text. */
function sx(e: Expr): string {
  switch (e.kind) {
    case "BinaryExpr":
      return `(${e.op}${e.returnBool ? " bool" : ""} ${sx(e.lhs)} ${sx(e.rhs)})`;
    case "UnaryExpr":
      return `(u${e.op} ${sx(e.expr)})`;
    case "ParenExpr":
      return `[${sx(e.expr)}]`;
    case "AggregateExpr":
      return `(${e.op}${e.without ? " without" : e.grouping.length ? " by" : ""}${
        e.grouping.length ? `(${e.grouping.join(",")})` : ""
      }${e.param ? " " + sx(e.param) : ""} ${sx(e.expr)})`;
    case "Call":
      return `${e.func.name}(${e.args.map(sx).join(" ")})`;
    default:
      return exprToString(e);
  }
}

/** The tree without positions (for comparing a parse with the parse of its printed form). */
function shape(e: Expr): unknown {
  return JSON.parse(JSON.stringify(e, (k, v) => {
    if (k === "posRange") return undefined;
    if (k === "func") return v.name;
    if (k === "matchers") return (v as { toString(): string }[]).map(String).sort();
    if (typeof v === "number" && !Number.isFinite(v)) return String(v);
    return v;
  }));
}

function parseErr(q: string): ParseError {
  return assertThrows(() => parseExpr(q), ParseError) as ParseError;
}

Deno.test("binary operators follow Prometheus precedence and associativity", () => {
  const cases: [string, string][] = [
    ["1 + 2 * 3", "(+ 1 (* 2 3))"],
    ["1 * 2 + 3", "(+ (* 1 2) 3)"],
    ["2 ^ 3 ^ 2", "(^ 2 (^ 3 2))"],
    ["1 - 2 - 3", "(- (- 1 2) 3)"],
    ["8 / 4 / 2", "(/ (/ 8 4) 2)"],
    ["a or b and c", "(or a (and b c))"],
    ["a and b or c", "(or (and a b) c)"],
    ["a unless b and c", "(and (unless a b) c)"],
    ["a == b + c", "(== a (+ b c))"],
    ["a > bool b or c", "(or (> bool a b) c)"],
    ["a + b % c atan2 d", "(+ a (atan2 (% b c) d))"],
    ["(a + b) * c", "(* [(+ a b)] c)"],
    ["a + on(x) group_left(y) b * c", "(+ a (* b c))"],
  ];
  for (const [q, want] of cases) assertEquals(sx(parseExpr(q)), want, q);
});

Deno.test("unary minus binds tighter than * but looser than ^, and folds into number literals", () => {
  const cases: [string, string][] = [
    ["-2 ^ 2", "(u- (^ 2 2))"],
    ["-1", "-1"],
    ["--1", "1"],
    ["-(1)", "(u- [1])"],
    ["-a * b", "(* (u- a) b)"],
    ["2 * -3 * 4", "(* (* 2 -3) 4)"],
    ["2 + -a * b", "(+ 2 (* (u- a) b))"],
    ["a ^ -b ^ c", "(^ a (u- (^ b c)))"],
    ["2 ^ -1", "(^ 2 -1)"],
    ["+a", "(u+ a)"],
    ["-a offset 5m", "(u- a offset 5m)"],
  ];
  for (const [q, want] of cases) assertEquals(sx(parseExpr(q)), want, q);
  const n = parseExpr("  -1.5");
  assert(n.kind === "NumberLiteral");
  assertEquals(n.val, -1.5);
  assertEquals(n.posRange, { start: 2, end: 6 });
});

Deno.test("offset and @ may come in either order and compose on selectors and subqueries", () => {
  const a = parseExpr("x @ 100 offset 5m");
  const b = parseExpr("x offset 5m @ 100");
  assertEquals(shape(a), shape(b));
  assert(a.kind === "VectorSelector");
  assertEquals([a.timestamp, a.offset, a.startOrEnd], [100_000, 300_000, null]);
  assertEquals(a.posRange, { start: 0, end: 17 });
  const neg = parseExpr("x offset -1h30m");
  assert(neg.kind === "VectorSelector");
  assertEquals(neg.offset, -5_400_000);
  const ms = parseExpr("x[5m] @ end() offset 1m");
  assert(ms.kind === "MatrixSelector");
  assertEquals(
    [ms.range, ms.vectorSelector.offset, ms.vectorSelector.startOrEnd],
    [300_000, 60_000, "end"],
  );
  assertEquals(ms.posRange, { start: 0, end: 23 });
  const sq = parseExpr("rate(x[5m])[1h:] @ start() offset -2m");
  assert(sq.kind === "SubqueryExpr");
  assertEquals([sq.range, sq.step, sq.offset, sq.startOrEnd], [3_600_000, 0, -120_000, "start"]);
  const ts = parseExpr("x @ 1609746000.1234");
  assert(ts.kind === "VectorSelector");
  assertEquals(ts.timestamp, 1609746000123);
  const half = parseExpr("x @ -0.0005");
  assert(half.kind === "VectorSelector");
  assertEquals(half.timestamp, -1); // Go rounds halves away from zero
});

Deno.test("setting offset or @ twice, or on a non-selector, is an error", () => {
  assertEquals(
    parseErr("foo offset 1s offset 2s").message,
    "1:1: parse error: offset may not be set multiple times",
  );
  assertEquals(
    parseErr("foo @ 1 @ 2").message,
    "1:1: parse error: @ <timestamp> may not be set multiple times",
  );
  assertEquals(
    parseErr("sum(x) offset 5m").detail,
    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
  );
});

Deno.test("string literals decode Go escapes in double and single quotes, not in backticks", () => {
  const str = (q: string) => {
    const e = parseExpr(q);
    assert(e.kind === "StringLiteral");
    return e.val;
  };
  assertEquals(str(String.raw`"\a\b\f\n\r\t\v\\\""`), '\x07\b\f\n\r\t\v\\"');
  assertEquals(str(String.raw`'\'\a'`), "'\x07");
  assertEquals(str(String.raw`"\x41\101\u00e9\U0001F600"`), "AAé😀");
  assertEquals(str(String.raw`"\xc3\xa9"`), "é"); // raw bytes forming UTF-8
  assertEquals(str(String.raw`"\377"`), "\ufffd"); // a lone invalid byte
  assertEquals(str("`a\\nb\"'\nc`"), "a\\nb\"'\nc");
  assertEquals(str(`"ünï"`), "ünï");
  const m = parseExpr(String.raw`x{a="\"q\"", b='\'', c=` + "`\\d+`}");
  assert(m.kind === "VectorSelector");
  assertEquals(m.matchers.map((x) => x.value), ['"q"', "'", "\\d+", "x"]);
});

Deno.test("number literals: decimal, float, exponent, hex, octal, Inf and NaN in any case", () => {
  const num = (q: string) => {
    const e = parseExpr(q);
    assert(e.kind === "NumberLiteral", q);
    return e.val;
  };
  assertEquals(num("42"), 42);
  assertEquals(num("1.5"), 1.5);
  assertEquals(num(".5"), 0.5);
  assertEquals(num("5."), 5);
  assertEquals(num("1e3"), 1000);
  assertEquals(num("2.5E-3"), 0.0025);
  assertEquals(num("0x1F"), 31);
  assertEquals(num("0XfF"), 255);
  assertEquals(num("0777"), 511);
  assertEquals(num("09"), 9);
  assertEquals(num("Inf"), Infinity);
  assertEquals(num("-iNF"), -Infinity);
  assert(Number.isNaN(num("NaN")));
  assertEquals(num("9223372036854775807"), 9223372036854775807);
  assertAlmostEquals(num("1e308"), 1e308);
  assertEquals(
    parseErr("1e400").message,
    '1:1: parse error: error parsing number: strconv.ParseFloat: parsing "1e400": value out of range',
  );
});

Deno.test("durations parse like model.ParseDuration and print like model.Duration.String", () => {
  assertEquals(parseDuration("5m"), 300_000);
  assertEquals(parseDuration("1h30m"), 5_400_000);
  assertEquals(parseDuration("54s321ms"), 54_321);
  assertEquals(
    parseDuration("1y2w3d4h5m6s7ms"),
    31536e6 + 2 * 6048e5 + 3 * 864e5 + 4 * 36e5 + 306_007,
  );
  assertEquals(parseDuration("0"), 0);
  assertEquals(parseDuration("0s"), 0);
  for (const bad of ["", "5", "1m1h", "1mm", "5y1hs", "1.5h", "-5m", "1h 30m"]) {
    assertThrows(() => parseDuration(bad), InvalidDurationError);
  }
  assertThrows(() => parseDuration("300000y"), InvalidDurationError, "duration out of range");
  assertEquals(formatDuration(0), "0s");
  assertEquals(formatDuration(5_400_000), "1h30m");
  assertEquals(formatDuration(90 * 864e5), "90d"); // weeks only when exact
  assertEquals(formatDuration(14 * 864e5), "2w");
  assertEquals(formatDuration(365 * 864e5), "1y");
  assertEquals(formatDuration(366 * 864e5), "366d");
  assertEquals(formatDuration(54_321), "54s321ms");
  assertEquals(formatDuration(-60_000), "-1m");
  assertEquals(parseErr("foo[0m]").detail, "duration must be greater than 0");
});

Deno.test("subqueries with and without step, nested, with modifiers", () => {
  const sq = parseExpr("max_over_time(rate(x[5m])[1h:30s])");
  assert(sq.kind === "Call");
  const inner = sq.args[0];
  assert(inner.kind === "SubqueryExpr");
  assertEquals([inner.range, inner.step], [3_600_000, 30_000]);
  assertEquals(typeOf(inner), "matrix");
  const nested = parseExpr("min_over_time(max_over_time(x[5m:])[1h:1m])");
  assert(nested.kind === "Call" && nested.args[0].kind === "SubqueryExpr");
  const s2 = parseExpr("x offset 5m [10m:]");
  assert(s2.kind === "SubqueryExpr" && s2.expr.kind === "VectorSelector");
  assertEquals([s2.expr.offset, s2.range, s2.step], [300_000, 600_000, 0]);
  assertEquals(s2.posRange, { start: 0, end: 18 });
  assertEquals(
    parseErr("test[5d] OFFSET 10s [10m:5s]").message,
    "1:1: parse error: subquery is only allowed on instant vector, got matrix instead",
  );
});

Deno.test("aggregation modifiers before or after the arguments give the same tree", () => {
  const pairs: [string, string][] = [
    ["sum by (a, b) (x)", "sum(x) by (a, b)"],
    ["avg without (a) (x)", "avg(x) without (a)"],
    ["topk by (job) (3, x)", "topk(3, x) by (job)"],
    ['count_values without (i) ("v", x)', 'count_values("v", x) without (i)'],
  ];
  for (const [a, b] of pairs) {
    assertEquals(shape(parseExpr(a)), shape(parseExpr(b)), `${a} vs ${b}`);
  }
  const q = parseExpr("quantile by (le) (0.9, rate(x[5m]))");
  assert(q.kind === "AggregateExpr");
  assertEquals([q.op, q.grouping, q.without], ["quantile", ["le"], false]);
  assert(q.param !== null && q.param.kind === "NumberLiteral" && q.param.val === 0.9);
  const kw = parseExpr("sum by (on, offset, bool, sum) (x)");
  assert(kw.kind === "AggregateExpr");
  assertEquals(kw.grouping, ["on", "offset", "bool", "sum"]);
  const cv = parseExpr('count_values("l", x)');
  assert(cv.kind === "AggregateExpr" && cv.param?.kind === "StringLiteral");
});

Deno.test("vector matching modifiers are parsed into VectorMatching", () => {
  const b = parseExpr("a + on(x, y) group_left(z) b");
  assert(b.kind === "BinaryExpr");
  assertEquals(b.vectorMatching, {
    card: "many-to-one",
    matchingLabels: ["x", "y"],
    on: true,
    include: ["z"],
  });
  const s = parseExpr("a and ignoring(x) b");
  assert(s.kind === "BinaryExpr");
  assertEquals(s.vectorMatching?.card, "many-to-many");
  assertEquals(s.vectorMatching?.on, false);
  const r = parseExpr("a / ignoring(x) group_right b");
  assert(r.kind === "BinaryExpr");
  assertEquals([r.vectorMatching?.card, r.vectorMatching?.include], ["one-to-many", []]);
  const sc = parseExpr("a + 1");
  assert(sc.kind === "BinaryExpr");
  assertEquals(sc.vectorMatching, null); // not between two vectors
  const cmp = parseExpr("1 > bool 2");
  assert(cmp.kind === "BinaryExpr" && cmp.returnBool);
  assertEquals(typeOf(cmp), "scalar");
});

Deno.test("keywords serve as metric names where Prometheus allows, selectors keep __name__", () => {
  for (const name of ["sum", "by", "and", "offset", "start", "end", "without", "topk"]) {
    const e = parseExpr(name);
    assert(e.kind === "VectorSelector", name);
    assertEquals(e.name, name);
    assertEquals(e.matchers.map(String), [`__name__="${name}"`]);
  }
  const e = parseExpr('foo{a="b", c=~"d"}');
  assert(e.kind === "VectorSelector");
  assertEquals(e.matchers.map(String), ['a="b"', 'c=~"d"', '__name__="foo"']);
  const and = parseExpr("foo and and");
  assert(and.kind === "BinaryExpr" && and.rhs.kind === "VectorSelector");
  assertEquals(and.rhs.name, "and");
});

Deno.test("parseMetricSelector returns matchers and accepts selectors without non-empty matchers", () => {
  assertEquals(parseMetricSelector('up{job="api"}').map(String), ['job="api"', '__name__="up"']);
  assertEquals(parseMetricSelector('{__name__=~"a.*"}').map(String), ['__name__=~"a.*"']);
  assertEquals(parseMetricSelector("{}"), []);
  assertEquals(parseMetricSelector("sum").map(String), ['__name__="sum"']);
  assertEquals(
    assertThrows(() => parseMetricSelector("rate(x)"), ParseError).message,
    '1:5: parse error: unexpected "("',
  );
  assertEquals(
    assertThrows(() => parseMetricSelector("up offset 5m"), ParseError).message,
    "1:4: parse error: unexpected <offset>",
  );
  assertEquals(
    assertThrows(() => parseMetricSelector(""), ParseError).message,
    "1:1: parse error: unexpected end of input",
  );
});

Deno.test("ParseError exposes position, line and column of the first error", () => {
  const e = parseErr("foo +\n  bar )");
  assertEquals([e.line, e.column], [2, 8]);
  assertEquals(e.position.start, 13); // just past the `)`, as Prometheus's lexer reports it
  assertEquals(e.detail, "unexpected right parenthesis ')'");
  const u = parseErr('"é" + é');
  assertEquals(u.message, "1:8: parse error: unexpected character: 'é'"); // byte column
  const multi = parseErr("foo[0m] + bar offset 0s");
  assertEquals(multi.errors.length, 2);
});

Deno.test("exprToString prints canonical forms as Prometheus does", () => {
  const cases: [string, string][] = [
    ['sum by() (task:errors:rate10s{job="s"})', 'sum(task:errors:rate10s{job="s"})'],
    ['sum by(code) (task:errors:rate10s{job="s"})', 'sum by (code) (task:errors:rate10s{job="s"})'],
    ["sum without() (x)", "sum without () (x)"],
    ["sum(x) by (a,b)", "sum by (a, b) (x)"],
    ['topk(5, x{job="s"})', 'topk(5, x{job="s"})'],
    ["a - on() c", "a - on () c"],
    ["a - on(b) group_left c", "a - on (b) group_left () c"],
    ["a - on(b) group_left(x, y) c", "a - on (b) group_left (x, y) c"],
    ["a - ignoring(b) c", "a - ignoring (b) c"],
    ["a - ignoring() c", "a - c"],
    ["up > bool 0", "up > bool 0"],
    ["a offset -7m", "a offset -7m"],
    ["a offset 90m", "a offset 1h30m"],
    ['a{c="d"}[5m] offset 1m', 'a{c="d"}[5m] offset 1m'],
    ["a[1h:5m] offset 1m", "a[1h:5m] offset 1m"],
    ["a[1h:]", "a[1h:]"],
    ['{__name__="a"}', '{__name__="a"}'],
    ['a{z="1",b!~"c"}', 'a{b!~"c",z="1"}'],
    ["a @ 10", "a @ 10.000"],
    ["a offset 5m @ 10.5", "a @ 10.500 offset 5m"],
    ["a[1m] @ start()", "a[1m] @ start()"],
    ["a @ end()", "a @ end()"],
    ["-2^2", "-2 ^ 2"],
    ["1e6 + 0x10", "1e+06 + 16"],
  ];
  for (const [q, want] of cases) assertEquals(exprToString(parseExpr(q)), want, q);
  assertEquals(exprToString(parseExpr(`'a"b\n'`.replace("\n", "\\n"))), '"a\\"b\\n"');
  assertEquals(exprToString(parseExpr("`\\d`")), '"\\\\d"');
});

/** Queries that parse; each must print to a string that parses to the same tree. */
const VALID_CORPUS = [
  "1",
  "1 + 2 * 3",
  "2 ^ 3 ^ 2",
  "-2 ^ 2",
  "(-2) ^ 2",
  "-(2)",
  "--1",
  "+1",
  "- -1",
  "1 - -1",
  "2 * -3 * 4",
  "2 + -a * b",
  "a ^ -b ^ c",
  "1e6",
  "1E-5",
  "0x1F",
  "0777",
  ".5",
  "5.",
  "1e+3",
  "Inf",
  "-inf",
  "NaN",
  "123456",
  "1234567",
  "0.0001",
  "0.00001",
  '"double\\tquoted\\n"',
  "'single \\' quote'",
  "`raw \\n string`",
  '"\\a\\b\\f\\n\\r\\t\\v\\\\\\""',
  '"\\x41\\101\\u00e9\\U0001F600"',
  '"\u00fcn\u00efc\u00f6d\u00e9"',
  "foo",
  "foo:bar:baz",
  '{__name__="foo"}',
  '{__name__=~"foo|bar"}',
  "foo{}",
  'foo{a="b"}',
  'foo{a="b",}',
  'foo{a="b", c!="d", e=~"f.*", g!~"h"}',
  "foo{a='b'}",
  "foo{a=`b\\d`}",
  'foo{z="1", a="2"}',
  '{a="b"}',
  '{a=~".+"}',
  "foo offset 5m",
  "foo offset -5m",
  "foo offset 1h30m",
  "foo offset 90s",
  "foo offset 1w",
  "foo offset 1y",
  "foo offset 400d",
  "foo offset 100ms",
  "foo @ 100",
  "foo @ 100.5",
  "foo @ -100",
  "foo @ 1.0001",
  "foo @ start()",
  "foo @ end()",
  "foo @ 100 offset 5m",
  "foo offset 5m @ 100",
  "foo[5m]",
  "foo[5m] offset 1h",
  "foo[5m] @ 100 offset 1h",
  "foo[1h30m]",
  'foo{a="b"}[30s]',
  "foo[5m:]",
  "foo[5m:1m]",
  "foo[1h:5m] offset 1m",
  "foo[1h:5m] @ 100",
  "foo offset 5m[10m:]",
  "rate(foo[5m])[1h:]",
  "rate(foo[5m])[1h:] offset -10m",
  "max_over_time(rate(foo[5m])[1h:1m])",
  "(foo + bar)[5m:]",
  "sum(foo)",
  "sum by (a) (foo)",
  "sum by (a, b) (foo)",
  "sum by (a,) (foo)",
  "sum(foo) by (a)",
  "sum without (a) (foo)",
  "sum(foo) without (a)",
  "sum by () (foo)",
  "sum without () (foo)",
  "SUM BY (a) (foo)",
  "avg(foo)",
  "count(foo)",
  "min(foo)",
  "max(foo)",
  "group(foo)",
  "stddev(foo)",
  "stdvar(foo)",
  "topk(3, foo)",
  "bottomk(3, foo)",
  "quantile(0.9, foo)",
  'count_values("label", foo)',
  "topk by (a) (3, foo)",
  "sum by (sum, by, on, offset, bool) (foo)",
  "rate(foo[5m])",
  "irate(foo[1m])",
  "increase(foo[1h])",
  "histogram_quantile(0.9, sum by (le) (rate(foo_bucket[5m])))",
  'label_replace(foo, "dst", "$1", "src", "(.*)")',
  'label_join(foo, "dst", ",", "a", "b", "c")',
  "round(foo)",
  "round(foo, 5)",
  "hour()",
  "hour(foo)",
  "time()",
  "pi()",
  "vector(1)",
  "scalar(foo)",
  'absent(foo{a="b"})',
  "clamp(foo, 0, 1)",
  "holt_winters(foo[5m], 0.5, 0.5)",
  "predict_linear(foo[5m], 3600)",
  "quantile_over_time(0.5, foo[5m])",
  "sort_desc(foo)",
  "timestamp(foo)",
  "a + b",
  "a - b",
  "a * b",
  "a / b",
  "a % b",
  "a ^ b",
  "a atan2 b",
  "a == b",
  "a != b",
  "a > b",
  "a < b",
  "a >= b",
  "a <= b",
  "a > bool b",
  "a == bool 1",
  "1 == bool 1",
  "a and b",
  "a or b",
  "a unless b",
  "a or b and c",
  "a and b or c",
  "a or b or c",
  "a + b * c",
  "a * b + c",
  "(a + b) * c",
  "a + on(x) b",
  "a + on() b",
  "a + ignoring(x) b",
  "a + ignoring() b",
  "a + on(x) group_left(y) b",
  "a + on(x) group_left b",
  "a + on(x) group_left() (b)",
  "a + on(x) group_right(y, z) b",
  "a + ignoring(x) group_left(y) b",
  "a > bool on(x) group_left(y) b",
  "a and on(x) b",
  "a unless ignoring(x) b",
  "a / on(job) group_left sum by (job) (b)",
  "foo AND bar",
  "foo Or bar",
  "foo and and",
  "sum",
  "sum + 1",
  "by",
  "offset",
  "start",
  "end",
  "-foo",
  "-foo offset 5m",
  "-rate(foo[5m])",
  "-sum(foo)",
  "foo # comment",
  "foo",
  'foo{a="b"}  or  on ( a )  bar',
  "1 < bool 2",
  "-1 ^ 2",
  "2 ^ -1",
  "foo * -1",
  "-(foo)",
  "+foo",
  "a - -b",
  "a - - - b",
  'foo{a="\\\\"}',
  'foo{a="\\""}',
  'foo{a="\\n"}',
  'foo{a="\u00e9"}',
  'foo{a="\ufeffb", b="\\ufeffc", c=`\ufeff`}',
  "sum by (constructor) (constructor{__proto__='x'})",
  'foo{a=~"(?i)abc"}',
  'foo{a=~"a|b|c"}',
  'foo{a!~"^$"}',
  "foo @ 1609746000",
  "foo @ 1609746000.123",
  "sum(rate(foo[5m] @ end())) by (job)",
  "min_over_time(foo[5m:1m] @ 100 offset 1m)",
  "absent_over_time(foo[5m])",
  "present_over_time(foo[5m])",
  "last_over_time(foo[5m])",
  "count_over_time(foo[1d])",
  "stddev_over_time(foo[1w])",
  "changes(foo[1h])",
  "resets(foo[1h])",
  "deriv(foo[5m])",
  "delta(foo[5m])",
  "idelta(foo[5m])",
  "sgn(foo)",
  "histogram_count(foo)",
  "histogram_sum(foo)",
  "histogram_fraction(0, 1, foo)",
  "days_in_month(foo)",
  "day_of_week()",
  "year(vector(time()))",
  "# leading comment\nfoo",
  "sum(\n  rate(foo[5m]) # per second\n)",
];

Deno.test("round trip: parse(exprToString(parse(q))) equals parse(q) over the query corpus", () => {
  assert(VALID_CORPUS.length >= 100);
  for (const q of VALID_CORPUS) {
    const e = parseExpr(q);
    const printed = exprToString(e);
    const again = parseExpr(printed);
    assertEquals(shape(again), shape(e), `${q} → ${printed}`);
    assertEquals(exprToString(again), printed, `printing is stable for ${q}`);
  }
});

/** [query, Prometheus 2.42's exact error message]. */
const ERROR_CASES: [string, string][] = [
  ["# only a comment", "1:1: parse error: no expression found in input"],
  ["1 +", "1:4: parse error: unexpected end of input"],
  ["1 + +", "1:6: parse error: unexpected end of input"],
  ["*1", "1:1: parse error: unexpected <op:*>"],
  ["(1))", "1:5: parse error: unexpected right parenthesis ')'"],
  ["((1)", "1:5: parse error: unclosed left parenthesis"],
  ["(", "1:2: parse error: unclosed left parenthesis"],
  [")", "1:2: parse error: unexpected right parenthesis ')'"],
  ["1 and 1", '1:1: parse error: set operator "and" not allowed in binary scalar expression'],
  ["1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"],
  ["1 !~ 1", "1:3: parse error: unexpected character after '!': '~'"],
  ["1 =~ 1", "1:3: parse error: unexpected character after '=': '~'"],
  ["1 !", "1:3: parse error: unexpected character after '!': '�'"],
  [
    '-"s"',
    '1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got "string"',
  ],
  [
    "-foo[5m]",
    '1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got "range vector"',
  ],
  [
    "1 offset 1d",
    "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
  ],
  ["foo offset 1s offset 2s", "1:1: parse error: offset may not be set multiple times"],
  ["foo offset 0s", "1:12: parse error: duration must be greater than 0"],
  ["foo offset 5", '1:12: parse error: unexpected number "5" in offset, expected duration'],
  ["foo offset", "1:11: parse error: unexpected end of input in offset, expected duration"],
  ["foo offset -", "1:13: parse error: unexpected end of input in offset, expected duration"],
  ["a - on(b) ignoring(c) d", "1:11: parse error: unexpected <ignoring>"],
  ["foo and 1", '1:1: parse error: set operator "and" not allowed in binary scalar expression'],
  ["1 or foo", '1:1: parse error: set operator "or" not allowed in binary scalar expression'],
  ["1 or on(bar) foo", "1:1: parse error: vector matching only allowed between instant vectors"],
  ["foo == on(bar) 10", "1:1: parse error: vector matching only allowed between instant vectors"],
  ["foo + group_left(baz) bar", "1:7: parse error: unexpected <group_left>"],
  [
    "foo and on(bar) group_left(baz) bar",
    '1:1: parse error: no grouping allowed for "and" operation',
  ],
  [
    "foo or on(bar) group_right(baz) bar",
    '1:1: parse error: no grouping allowed for "or" operation',
  ],
  [
    "foo + on(instance) group_left(job,instance) bar",
    '1:5: parse error: label "instance" must not occur in ON and GROUP clause at once',
  ],
  ["foo + bool bar", "1:5: parse error: bool modifier can only be used on comparison operators"],
  ["foo and bool 10", "1:5: parse error: bool modifier can only be used on comparison operators"],
  ["foo @ +Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"],
  ["foo @ -Inf", "1:1: parse error: timestamp out of bounds for @ modifier: -Inf"],
  ["foo @ NaN", "1:1: parse error: timestamp out of bounds for @ modifier: NaN"],
  [
    "foo @ 1e19",
    "1:1: parse error: timestamp out of bounds for @ modifier: 10000000000000000000.000000",
  ],
  ["foo @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times"],
  ["foo @ start() @ 1", "1:1: parse error: @ <timestamp> may not be set multiple times"],
  ["foo @", "1:6: parse error: unexpected end of input in @, expected timestamp"],
  ["foo @ start", "1:12: parse error: unexpected end of input in @, expected timestamp"],
  ["foo @ start(", "1:13: parse error: unclosed left parenthesis"],
  ["foo @ x", '1:7: parse error: unexpected identifier "x" in @, expected timestamp'],
  ["foo @ 1m", '1:7: parse error: unexpected duration "1m" in @, expected timestamp'],
  ["foo[5m] @ 1m", '1:11: parse error: unexpected duration "1m" in @, expected timestamp'],
  [
    "sum(foo) @ 1",
    "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
  ],
  ["{", "1:2: parse error: unexpected end of input inside braces"],
  ["}", "1:1: parse error: unexpected character: '}'"],
  ["some{", "1:6: parse error: unexpected end of input inside braces"],
  ["some}", "1:5: parse error: unexpected character: '}'"],
  ["foo{a=b}", '1:7: parse error: unexpected identifier "b" in label matching, expected string'],
  ['foo{a:b="b"}', "1:6: parse error: unexpected character inside braces: ':'"],
  ['foo{a*"b"}', "1:6: parse error: unexpected character inside braces: '*'"],
  ['foo{a>="b"}', "1:6: parse error: unexpected character inside braces: '>'"],
  [
    "foo{gibberish}",
    '1:14: parse error: unexpected "}" in label matching, expected label matching operator',
  ],
  ["foo{1}", "1:5: parse error: unexpected character inside braces: '1'"],
  ["{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"],
  ['{x=""}', "1:1: parse error: vector selector must contain at least one non-empty matcher"],
  ['{x=~".*"}', "1:1: parse error: vector selector must contain at least one non-empty matcher"],
  ['{x!~".+"}', "1:1: parse error: vector selector must contain at least one non-empty matcher"],
  ['{x!="a"}', "1:1: parse error: vector selector must contain at least one non-empty matcher"],
  ['foo{__name__="bar"}', '1:1: parse error: metric name must not be set twice: "foo" or "bar"'],
  ["foo{__name__= =}", '1:15: parse error: unexpected "=" in label matching, expected string'],
  ["foo{,}", '1:5: parse error: unexpected "," in label matching, expected identifier or "}"'],
  [
    'foo{__name__ == "bar"}',
    '1:15: parse error: unexpected "=" in label matching, expected string',
  ],
  [
    'foo{__name__="bar" lol}',
    '1:20: parse error: unexpected identifier "lol" in label matching, expected "," or "}"',
  ],
  [
    'foo{a="b",,}',
    '1:11: parse error: unexpected "," in label matching, expected identifier or "}"',
  ],
  ['foo{a=~"("}', "1:5: parse error: error parsing regexp: missing closing ): `^(?:()$`"],
  [
    'foo{a=~"a**"}',
    "1:5: parse error: error parsing regexp: invalid nested repetition operator: `**`",
  ],
  [
    'foo{a=~"(?=x)"}',
    "1:5: parse error: error parsing regexp: invalid or unsupported Perl syntax: `(?=`",
  ],
  ['foo{a=~"\\\\1"}', "1:5: parse error: error parsing regexp: invalid escape sequence: `\\1`"],
  ['foo{a="\\c"}', "1:7: parse error: unknown escape sequence U+0063 'c'"],
  ['foo{a="\\x."}', "1:7: parse error: illegal character U+002E '.' in escape sequence"],
  ['foo{a="\\xZ1"}', "1:7: parse error: illegal character U+005A 'Z' in escape sequence"],
  ['foo{a="\\u12"}', "1:7: parse error: illegal character U+0022 '\"' in escape sequence"],
  ['foo{a="\\400"}', "1:7: parse error: escape sequence is an invalid Unicode code point"],
  ['foo{a="\\ud800"}', "1:7: parse error: escape sequence is an invalid Unicode code point"],
  ['foo{a="b', "1:7: parse error: unterminated quoted string"],
  ["foo{a!b}", "1:6: parse error: unexpected character after '!' inside braces: 'b'"],
  ["foo{{}", "1:5: parse error: unexpected left brace '{'"],
  ["foo[5mm]", '1:5: parse error: bad duration syntax: "5mm"'],
  ["foo[5m1]", '1:5: parse error: bad duration syntax: "5m1"'],
  ["foo[5m:1m1]", '1:8: parse error: bad number or duration syntax: "1m1"'],
  ["foo[5y1hs]", '1:5: parse error: not a valid duration string: "5y1hs"'],
  ["foo[5m1h]", '1:5: parse error: not a valid duration string: "5m1h"'],
  ["foo[5m1m]", '1:5: parse error: not a valid duration string: "5m1m"'],
  ["foo[0m]", "1:5: parse error: duration must be greater than 0"],
  ["foo[]", "1:5: parse error: missing unit character in duration"],
  ["foo[1]", "1:5: parse error: missing unit character in duration"],
  ["foo[5m", "1:7: parse error: unclosed left bracket"],
  [
    "foo[5m 5m]",
    '1:8: parse error: unexpected duration "5m" in subquery or range, expected ":" or "]"',
  ],
  [
    "foo[5m:5]",
    '1:8: parse error: unexpected number "5" in subquery selector, expected duration or "]"',
  ],
  ["foo[5m:5m 1]", '1:11: parse error: unexpected number "1" in subquery selector, expected "]"'],
  ["foo[[5m]", "1:5: parse error: missing unit character in duration"],
  ["foo]", "1:4: parse error: unexpected right bracket ']'"],
  [
    "some_metric[5m] OFFSET 1",
    '1:24: parse error: unexpected number "1" in offset, expected duration',
  ],
  ["some_metric[5m] OFFSET 1mm", '1:24: parse error: bad number or duration syntax: "1mm"'],
  ["some_metric OFFSET 1m[5m]", "1:22: parse error: no offset modifiers allowed before range"],
  ["some_metric @ 1234 [5m]", "1:20: parse error: no @ modifiers allowed before range"],
  ["(foo + bar)[5m]", "1:12: parse error: ranges only allowed for vector selectors"],
  ["foo[5m][5m]", "1:8: parse error: ranges only allowed for vector selectors"],
  ["foo[5m:][5m]", "1:9: parse error: ranges only allowed for vector selectors"],
  ["rate(foo[1m])[1h] offset 1h", "1:14: parse error: ranges only allowed for vector selectors"],
  [
    "test[5d] OFFSET 10s [10m:5s]",
    "1:1: parse error: subquery is only allowed on instant vector, got matrix instead",
  ],
  [
    "sum without(==)(some_metric)",
    "1:13: parse error: unexpected <op:==> in grouping opts, expected label",
  ],
  [
    "sum without(,)(some_metric)",
    '1:13: parse error: unexpected "," in grouping opts, expected label',
  ],
  [
    "sum without(foo,,)(some_metric)",
    '1:17: parse error: unexpected "," in grouping opts, expected label',
  ],
  ["sum some_metric by (test)", '1:5: parse error: unexpected identifier "some_metric"'],
  [
    "sum (some_metric) by test",
    '1:22: parse error: unexpected identifier "test" in grouping opts, expected "("',
  ],
  ["sum () by (test)", "1:1: parse error: no arguments for aggregate expression provided"],
  ["MIN keep_common (some_metric)", '1:5: parse error: unexpected identifier "keep_common"'],
  ["MIN (some_metric) keep_common", '1:19: parse error: unexpected identifier "keep_common"'],
  ["sum (some_metric) without (test) by (test)", "1:34: parse error: unexpected <by>"],
  ["sum without (test) (some_metric) by (test)", "1:34: parse error: unexpected <by>"],
  [
    "sum by (a b) (foo)",
    '1:11: parse error: unexpected identifier "b" in grouping opts, expected "," or ")"',
  ],
  [
    "sum by (foo:bar) (foo)",
    '1:9: parse error: unexpected metric identifier "foo:bar" in grouping opts, expected label',
  ],
  [
    "sum by (without) (foo)",
    "1:9: parse error: unexpected <without> in grouping opts, expected label",
  ],
  [
    "sum by (nan) (foo)",
    '1:9: parse error: unexpected number "nan" in grouping opts, expected label',
  ],
  ["sum by a (foo)", '1:8: parse error: unexpected identifier "a" in grouping opts, expected "("'],
  ["sum by (a", "1:10: parse error: unclosed left parenthesis"],
  [
    "sum(foo, bar)",
    "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 1, got 2",
  ],
  [
    "topk(some_metric)",
    "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1",
  ],
  ["topk(some_metric,)", "1:17: parse error: trailing commas not allowed in function call args"],
  [
    "topk(some_metric, other_metric)",
    "1:6: parse error: expected type scalar in aggregation parameter, got instant vector",
  ],
  [
    "count_values(5, other_metric)",
    "1:14: parse error: expected type string in aggregation parameter, got scalar",
  ],
  [
    'quantile("a", foo)',
    "1:10: parse error: expected type scalar in aggregation parameter, got string",
  ],
  [
    "sum(rate(foo))",
    '1:10: parse error: expected type range vector in call to function "rate", got instant vector',
  ],
  [
    "sum(1)",
    "1:5: parse error: expected type instant vector in aggregation expression, got scalar",
  ],
  ["sum(foo +)", '1:10: parse error: unexpected ")" in aggregation'],
  ["sum(rate(foo bar))", '1:14: parse error: unexpected identifier "bar" in aggregation'],
  ["sum by (a) foo", '1:12: parse error: unexpected identifier "foo" in aggregation'],
  ["count(sum foo)", '1:11: parse error: unexpected identifier "foo" in aggregation'],
  ["floor()", '1:1: parse error: expected 1 argument(s) in call to "floor", got 0'],
  [
    "floor(some_metric, other_metric)",
    '1:1: parse error: expected 1 argument(s) in call to "floor", got 2',
  ],
  [
    "floor(1)",
    '1:7: parse error: expected type instant vector in call to function "floor", got scalar',
  ],
  [
    "hour(some_metric, some_metric, some_metric)",
    '1:1: parse error: expected at most 1 argument(s) in call to "hour", got 3',
  ],
  ["time(some_metric)", '1:1: parse error: expected 0 argument(s) in call to "time", got 1'],
  [
    "non_existent_function_far_bar()",
    '1:1: parse error: unknown function with name "non_existent_function_far_bar"',
  ],
  [
    "rate(some_metric)",
    '1:6: parse error: expected type range vector in call to function "rate", got instant vector',
  ],
  ["rate(foo bar)", '1:10: parse error: unexpected identifier "bar"'],
  ["rate(foo,)", "1:9: parse error: trailing commas not allowed in function call args"],
  ["rate(foo,,)", "1:9: parse error: trailing commas not allowed in function call args"],
  ["rate(,)", '1:6: parse error: unexpected ","'],
  [
    "label_join(foo)",
    '1:1: parse error: expected at least 3 argument(s) in call to "label_join", got 1',
  ],
  [
    'label_replace(foo, "a", "b", "c")',
    '1:1: parse error: expected 5 argument(s) in call to "label_replace", got 4',
  ],
  [
    "round(foo, 1, 2)",
    '1:1: parse error: expected at most 2 argument(s) in call to "round", got 3',
  ],
  [
    "holt_winters(foo, 0.5, 0.5)",
    '1:14: parse error: expected type range vector in call to function "holt_winters", got instant vector',
  ],
  ["-=", '1:2: parse error: unexpected "="'],
  ["++-++-+-+-<", "1:11: parse error: unexpected <op:<>"],
  ["e-+=/(0)", '1:4: parse error: unexpected "="'],
  ["a>b()", '1:3: parse error: unknown function with name "b"'],
  [
    "rate(avg)",
    '1:6: parse error: expected type range vector in call to function "rate", got instant vector',
  ],
  ["start()", '1:6: parse error: unexpected "("'],
  ["end()", '1:4: parse error: unexpected "("'],
  ["foo bar", '1:5: parse error: unexpected identifier "bar"'],
  ["foo 1", '1:5: parse error: unexpected number "1"'],
  ["1 foo", '1:3: parse error: unexpected identifier "foo"'],
  [
    '"a" + 1',
    "1:1: parse error: binary expression must contain only scalar and instant vector types",
  ],
  [
    'foo + "a"',
    "1:7: parse error: binary expression must contain only scalar and instant vector types",
  ],
  [
    "foo[5m] + 1",
    "1:1: parse error: binary expression must contain only scalar and instant vector types",
  ],
  [
    "foo unless 1",
    '1:1: parse error: set operator "unless" not allowed in binary scalar expression',
  ],
  [
    '-"a"',
    '1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got "string"',
  ],
  ["foo @ start() offset 1m offset 2m", "1:1: parse error: offset may not be set multiple times"],
  [
    "(foo) offset 5m",
    "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
  ],
  [".", "1:1: parse error: unexpected character: '.'"],
  ["2.5.", "1:4: parse error: unexpected character: '.'"],
  ["100..4", '1:5: parse error: unexpected number ".4"'],
  ["0deadbeef", '1:1: parse error: bad number or duration syntax: "0de"'],
  [
    "0x",
    '1:1: parse error: error parsing number: strconv.ParseFloat: parsing "0x": invalid syntax',
  ],
  [
    "1e",
    '1:1: parse error: error parsing number: strconv.ParseFloat: parsing "1e": invalid syntax',
  ],
  ["1_000", '1:1: parse error: bad number or duration syntax: "1"'],
  ["foo 5m", '1:5: parse error: unexpected duration "5m"'],
  ["@", '1:1: parse error: unexpected "<Item 57385>" <op:@>'],
  ["[5m]", '1:1: parse error: unexpected "["'],
  ["foo.bar", "1:4: parse error: unexpected character: '.'"],
  ['foo{a="b"} {c="d"}', '1:12: parse error: unexpected "{"'],
  ["é", "1:1: parse error: unexpected character: 'é'"],
  ['"unterminated', "1:1: parse error: unterminated quoted string"],
  ["'unterminated", "1:1: parse error: unterminated quoted string"],
  ["`unterminated", "1:1: parse error: unterminated raw string"],
  ['"\\', "1:1: parse error: escape sequence not terminated"],
  ['"\\U00110000"', "1:1: parse error: escape sequence is an invalid Unicode code point"],
  ['"', "1:1: parse error: unterminated quoted string"],
  ["foo !", "1:5: parse error: unexpected character after '!': '�'"],
  ["foo != ", "1:8: parse error: unexpected end of input"],
  ["foo =~ bar", "1:5: parse error: unexpected character after '=': '~'"],
  [
    'foo{a=~"[z-a]"}',
    "1:5: parse error: error parsing regexp: invalid character class range: `z-a`",
  ],
  ["1 + on(a) 2", "1:1: parse error: vector matching only allowed between instant vectors"],
  ["topk(3, foo) by (a) by (b)", "1:21: parse error: unexpected <by>"],
  ["avg without (a) by (b) (foo)", "1:17: parse error: unexpected <by> in aggregation"],
  ["foo offset 1m @ start() [5m]", "1:25: parse error: no offset modifiers allowed before range"],
  ["", "1:1: parse error: no expression found in input"],
  ["# only a comment\n\n", "1:1: parse error: no expression found in input"],
  ["foo +\n  bar )", "2:8: parse error: unexpected right parenthesis ')'"],
  [
    "foo\n+ on(a b) bar",
    '2:8: parse error: unexpected identifier "b" in grouping opts, expected "," or ")"',
  ],
  ["sum(\n  foo\n  bar\n)", '3:3: parse error: unexpected identifier "bar" in aggregation'],
];

Deno.test("errors have Prometheus's messages and positions for a table of bad queries", () => {
  for (const [q, msg] of ERROR_CASES) {
    assertEquals(parseErr(q).message, msg, JSON.stringify(q));
  }
});

// ---------------------------------------------------------------------------------------------
// Differential checks against Prometheus 2.42 (rules API prints Expr.String(); the query API
// reports parse errors).

e2eTest(
  "error messages and printed forms agree with a real Prometheus 2.42",
  { peers: [PROMETHEUS] },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "parser_oracle_" });
    const rules = {
      groups: [{
        name: "corpus",
        interval: "1h",
        rules: VALID_CORPUS.map((q, i) => ({ record: `r${i}`, expr: q })),
      }],
    };
    await Deno.writeTextFile(`${dir}/rules.json`, JSON.stringify(rules));
    const prom = await startPrometheus({
      dataDir: `${dir}/data`,
      config: `rule_files: [${JSON.stringify(`${dir}/rules.json`)}]\n`,
    });
    try {
      const diffs: string[] = [];
      const res = await (await fetch(`${prom.url}/api/v1/rules`)).json();
      const printed = res.data.groups[0].rules as { name: string; query: string }[];
      assertEquals(printed.length, VALID_CORPUS.length);
      for (const r of printed) {
        const q = VALID_CORPUS[Number(r.name.slice(1))];
        const mine = exprToString(parseExpr(q));
        if (mine !== r.query) diffs.push(`print ${q}: ours ${mine} / theirs ${r.query}`);
      }
      for (const [q] of ERROR_CASES) {
        const body = new URLSearchParams({ query: q, time: "1" });
        const j = await (await fetch(`${prom.url}/api/v1/query`, { method: "POST", body })).json();
        const theirs = String(j.error ?? "").replace(/^invalid parameter "query": /, "");
        const mine = parseErr(q).message;
        if (j.errorType !== "bad_data" || theirs !== mine) {
          diffs.push(`error ${JSON.stringify(q)}: ours ${mine} / theirs ${JSON.stringify(j)}`);
        }
      }
      assertEquals(diffs, []);
    } finally {
      await prom.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("very long operator chains parse, type-check and print without deep recursion", () => {
  const q = Array(20_000).fill("a").join(" + ");
  assertEquals(exprToString(parseExpr(q)), q);
  assertEquals(typeOf(parseExpr(Array(20_000).fill("1").join(" * "))), "scalar");
  assertEquals(
    parseErr("(" + "-{}-1".repeat(10_000) + ")" + "[1m:]".repeat(1_000)).message,
    "1:3: parse error: vector selector must contain at least one non-empty matcher",
  );
});
