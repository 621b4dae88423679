// Prometheus's alert template language (rules/template.ts): Go text/template's actions and
// Prometheus's functions, with outputs as Prometheus 2.42 prints them.

import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import {
  DEFAULT_ALERT_QUERY_TEMPLATE,
  expandAlertTemplate,
  ExpressionLinkTemplate,
  humanize,
  humanize1024,
  humanizeDuration,
  humanizePercentage,
  humanizeTimestamp,
  queryEscape,
  Template,
  TemplateError,
} from "../../rules/template.ts";
import { formatG, sprintf } from "../../rules/gofmt.ts";
import type { QuerySample } from "../../rules/template.ts";

const data = {
  Labels: { instance: "host-1:9100", job: "node", __name__: "up" },
  ExternalLabels: { cluster: "eu" },
  ExternalURL: "http://thanos:10902",
  Value: 1234567.891,
};
const env = {
  externalURL: data.ExternalURL,
  query: (q: string): Promise<QuerySample[]> =>
    Promise.resolve<QuerySample[]>(
      q === "none" ? [] : [
        { Labels: { __name__: "m", instance: "i1" }, Value: 0.5 },
        { Labels: { instance: "i0" }, Value: 2 },
      ],
    ),
};
const x = (t: string) => expandAlertTemplate("t", t, data, env);

Deno.test("template: variables, fields and pipelines", async () => {
  assertEquals(await x("{{ $labels.instance }} of {{ $labels.job }}"), "host-1:9100 of node");
  assertEquals(await x("{{ .Labels.job }}|{{ $labels.missing }}|"), "node||");
  assertEquals(await x("{{ $externalLabels.cluster | toUpper }}"), "EU");
  assertEquals(await x("{{ $value }}"), "1.234567891e+06");
  assertEquals(await x("{{ $externalURL }}"), "http://thanos:10902");
  assertEquals(await x('{{ $x := "a" }}{{ $x = "b" }}{{ $x }}'), "b");
  assertEquals(await x("{{/* a comment */}}plain"), "plain");
  assertEquals(await x('a  {{- " b " -}}  c'), "a b c");
  assertEquals(await x('{{ (query "up" | first).Labels.instance }}'), "i1");
});

Deno.test("template: if/else if/else, with, range", async () => {
  const t = "{{ if gt $value 1e7 }}big{{ else if gt $value 10.0 }}mid{{ else }}small{{ end }}";
  assertEquals(await x(t), "mid");
  assertEquals(await x('{{ with query "none" }}some{{ else }}none{{ end }}'), "none");
  assertEquals(await x('{{ with query "up" }}{{ . | first | value }}{{ end }}'), "0.5");
  assertEquals(
    await x('{{ range query "up" }}{{ .Labels.instance }}={{ .Value }};{{ end }}'),
    "i1=0.5;i0=2;",
  );
  assertEquals(
    await x(
      '{{ range $i, $s := query "up" | sortByLabel "instance" }}{{ $i }}:{{ label "instance" $s }} {{ end }}',
    ),
    "0:i0 1:i1 ",
  );
  assertEquals(
    await x("{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}"),
    "__name__=up,instance=host-1:9100,job=node,",
  );
  assertEquals(await x('{{ if and (eq $labels.job "node") (not false) }}y{{ end }}'), "y");
  assertEquals(await x('{{ if or "" "z" }}{{ len $labels }}{{ end }}'), "3");
});

Deno.test("template: Prometheus's functions", async () => {
  assertEquals(await x("{{ $value | humanize }}"), "1.235M");
  assertEquals(await x("{{ humanize1024 2048 }}"), "2ki");
  assertEquals(await x("{{ humanizeDuration 3661 }}"), "1h 1m 1s");
  assertEquals(await x("{{ humanizePercentage 0.1234 }}"), "12.34%");
  assertEquals(await x("{{ humanizeTimestamp 1700000000.5 }}"), "2023-11-14 22:13:20.5 +0000 UTC");
  assertEquals(await x('{{ printf "%.2f %s %d %q" $value "a" 3 "b" }}'), '1234567.89 a 3 "b"');
  assertEquals(await x('{{ reReplaceAll "(.*):(.*)" "$2@${1}" $labels.instance }}'), "9100@host-1");
  assertEquals(await x('{{ match "^host" $labels.instance }}'), "true");
  assertEquals(await x('{{ title "hello world" }} {{ toLower "AbC" }}'), "Hello World abc");
  assertEquals(await x('{{ "up" | query | first | label "instance" }}'), "i1");
  assertEquals(
    await x('{{ tableLink "rate(x[5m])" }}'),
    "/graph?g0.expr=rate%28x%5B5m%5D%29&g0.tab=1",
  );
  assertEquals(await x('{{ parseDuration "1m30s" }}'), "90");
  assertEquals(await x("{{ pathPrefix }}"), "");
});

Deno.test("template: humanize functions at their edges", () => {
  assertEquals(humanize(0), "0");
  assertEquals(humanize(0.000123), "123u");
  assertEquals(humanize(999), "999");
  assertEquals(humanize(1000), "1k");
  assertEquals(humanize(-1234567), "-1.235M");
  assertEquals(humanize(NaN), "NaN");
  assertEquals(humanize(Infinity), "+Inf");
  assertEquals(humanize1024(1), "1");
  assertEquals(humanize1024(1048576), "1Mi");
  assertEquals(humanizeDuration(0), "0s");
  assertEquals(humanizeDuration(0.25), "250ms");
  assertEquals(humanizeDuration(59.5), "59.5s");
  assertEquals(humanizeDuration(90061), "1d 1h 1m 1s");
  assertEquals(humanizeDuration(-65), "-1m 5s");
  assertEquals(humanizePercentage(1), "100%");
  assertEquals(humanizeTimestamp(0), "1970-01-01 00:00:00 +0000 UTC");
});

Deno.test("template: Go %g/%f/%e and printf verbs", () => {
  assertEquals(formatG(1234.5678, 4), "1235");
  assertEquals(formatG(12.5, 4), "12.5");
  assertEquals(formatG(100000, 4), "1e+05");
  assertEquals(formatG(0.0001234, 2), "0.00012");
  assertEquals(formatG(0.00001234, 2), "1.2e-05");
  assertEquals(sprintf("%5.1f|%-4d|%04d|%x|%%", [3.14159, 7, 42, 255]), "  3.1|7   |0042|ff|%");
  assertEquals(sprintf("%e", [1234.5]), "1.234500e+03");
  assertEquals(sprintf("%d", [1.5]), "%!d(float64=1.5)");
  assertEquals(sprintf("%s %s", ["a"]), "a %!s(MISSING)");
  assertEquals(sprintf("%s", ["a", "b"]), "a%!(EXTRA string=b)");
  assertEquals(queryEscape("a b&c/é"), "a+b%26c%2F%C3%A9");
});

Deno.test("template: parse errors name the template and line", () => {
  assertThrows(
    () => Template.parse("n", "{{ nosuch }}"),
    TemplateError,
    'function "nosuch" not defined',
  );
  assertThrows(() => Template.parse("n", "a\n{{ if 1 }}x"), TemplateError, "unexpected EOF");
  assertThrows(
    () => Template.parse("n", "{{ end }}"),
    TemplateError,
    "template: n:1: unexpected {{end}}",
  );
  assertThrows(
    () => Template.parse("n", "x\n{{ .a "),
    TemplateError,
    "template: n:2: unclosed action",
  );
  assertThrows(
    () => Template.parse("n", '{{ define "x" }}{{ end }}'),
    TemplateError,
    "not supported",
  );
});

Deno.test("template: execution errors", async () => {
  await assertRejects(
    () => x('{{ query "none" | first }}'),
    TemplateError,
    "first() called on vector with no elements",
  );
  await assertRejects(() => x("{{ $nope }}"), TemplateError, "undefined variable: $nope");
  await assertRejects(() => x('{{ humanize "abc" }}'), TemplateError, "error calling humanize");
  // an argument of the wrong type (a map or a list for a string, a number for a query result,
  // nil or a map for a sample): Go's wrong-type error, not "[object Object]" or a JavaScript one
  const wrongType: [string, string][] = [
    [
      "{{ parseDuration $labels }}",
      "error calling parseDuration: wrong type for value; expected string; got a map",
    ],
    ['{{ toUpper (query "up") }}', "expected string; got a list"],
    [
      '{{ sortByLabel "job" $value }}',
      "error calling sortByLabel: wrong type for value; expected a query result; got number",
    ],
    [
      "{{ strvalue nil }}",
      "error calling strvalue: wrong type for value; expected a sample; got nil",
    ],
    [
      "{{ value $labels }}",
      "error calling value: wrong type for value; expected a sample; got a map",
    ],
  ];
  for (const [text, message] of wrongType) {
    await assertRejects(() => x(text), TemplateError, message);
  }
  // range over a small integer (Go 1.22); an alert value of 1e9 or 1e300 is refused, not looped
  assertEquals(
    await x("{{ range 3 }}{{ . }}{{ end }}|{{ range 0 }}x{{ else }}none{{ end }}"),
    "012|none",
  );
  for (const value of [1e9, 1e300]) {
    await assertRejects(
      () =>
        expandAlertTemplate("t", "{{ range $value }}.{{ end }}", { ...data, Value: value }, env),
      TemplateError,
      `range can't iterate over ${value === 1e9 ? "1e+09" : "1e+300"}`,
    );
  }
});

Deno.test("--alert.query-template: Go text/template over .Expr (escaped); bad templates refused like Thanos", async () => {
  const t = await ExpressionLinkTemplate.parse(DEFAULT_ALERT_QUERY_TEMPLATE);
  assertEquals(
    await t.link('up{job="a"} == 0'),
    "/graph?g0.expr=up%7Bjob%3D%22a%22%7D+%3D%3D+0&g0.tab=1",
  );
  const p = await ExpressionLinkTemplate.parse(
    '/q?e={{ .Expr }}&n={{ len .Expr }}{{ printf "&x=%s" "y" }}',
  );
  assertEquals(await p.link("a b"), "/q?e=a+b&n=3&x=y");
  const refused: [string, string][] = [
    ["/graph?g0.expr={{.Expr}", "unclosed action"],
    ["/graph?g0.expr={{.Query}}", "can't evaluate field Query in type main.Expression"],
    ["/graph?g0.expr={{.Expr.Inner}}", "can't evaluate field Inner"],
    // Prometheus's template functions are not Go's builtins: Thanos's template has none of them
    ["/graph?g0.expr={{ humanize .Expr }}", 'function "humanize" not defined'],
    ["{{if .Expr}}", "unexpected EOF"],
  ];
  for (const [text, msg] of refused) {
    const e = await assertRejects(() => ExpressionLinkTemplate.parse(text), TemplateError);
    assert(e.message.includes(msg), `${text}: ${e.message}`);
  }
});

Deno.test("template: match and reReplaceAll use Go's regexp semantics in linear time", async () => {
  const t = (text: string) => Template.parse("t", text).execute({});
  // a pattern a backtracking RegExp takes exponential time on: the RE2 automaton finishes
  const input = "a".repeat(5000) + "b";
  assertEquals(await t(`{{ match "(a+)+$" "${input}" }}`), "false");
  assertEquals(await t(`{{ reReplaceAll "(a+)+$" "x" "${input}" | len }}`), "5001");
  // Go's Expand: `$1x` names a group "1x" (empty); empty matches abutting a match are skipped
  assertEquals(await t('{{ reReplaceAll "(a)" "$1x" "aa" }}'), "");
  assertEquals(await t('{{ reReplaceAll "a*" "-" "baaac" }}'), "-b-c-");
  assertEquals(
    await t('{{ reReplaceAll "(?P<h>[a-z]+):(\\\\d+)" "${2}/${h}" "web:80" }}'),
    "80/web",
  );
});
