// Tenant enforcement in PromQL (promql/enforce.ts), prom-label-proxy's `PromQLEnforcer` with
// errorOnReplace off as Thanos's `--query.enforce-tenancy` uses it: every selector gets the
// matcher, a matcher of the query on the same label is dropped, and the text printed back parses
// to the same tree (round trip).

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { enforceMatchers, enforceQuery } from "../../promql/enforce.ts";
import { inspect } from "../../promql/ast.ts";
import { ParseError, parseExpr, parseMetricSelector } from "../../promql/parser.ts";
import { exprToString } from "../../promql/printer.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

const CASES: [string, string][] = [
  ["up", 'up{tenant_id="a"}'],
  ['up{job="x"}', 'up{job="x",tenant_id="a"}'],
  // a matcher on the tenant label is replaced, whatever its operator or value
  ['up{tenant_id="b"}', 'up{tenant_id="a"}'],
  ['up{tenant_id!="a"}', 'up{tenant_id="a"}'],
  ['up{tenant_id=~".+"}', 'up{tenant_id="a"}'],
  ['up{tenant_id!~"a"}', 'up{tenant_id="a"}'],
  ['{__name__=~"up|down",tenant_id="b"}', '{__name__=~"up|down",tenant_id="a"}'],
  [
    'sum by (job) (rate(http_requests_total{code="500"}[5m]))',
    'sum by (job) (rate(http_requests_total{code="500",tenant_id="a"}[5m]))',
  ],
  ["max_over_time(up[1h:1m] offset 5m)", 'max_over_time(up{tenant_id="a"}[1h:1m] offset 5m)'],
  ["a / on (x) group_left () b", 'a{tenant_id="a"} / on (x) group_left () b{tenant_id="a"}'],
  ["-up @ 100", '-up{tenant_id="a"} @ 100.000'],
  ["topk(3, x) or vector(1) > bool 2", 'topk(3, x{tenant_id="a"}) or vector(1) > bool 2'],
  [
    'label_replace(up, "d", "$1", "s", "(.*)")',
    'label_replace(up{tenant_id="a"}, "d", "$1", "s", "(.*)")',
  ],
  ['count_values("v", (up))', 'count_values("v", (up{tenant_id="a"}))'],
  ["1 + 2", "1 + 2"],
  ['"text"', '"text"'],
];

Deno.test("enforceQuery: every selector gets the tenant; conflicting matchers are replaced", () => {
  for (const [q, want] of CASES) {
    assertEquals(enforceQuery(q, "tenant_id", "a"), want, q);
  }
});

Deno.test("enforceQuery: the output parses back to the same text, every selector enforced", () => {
  for (const [q] of CASES) {
    const out = enforceQuery(q, "tenant_id", "a");
    const tree = parseExpr(out);
    assertEquals(exprToString(tree), out, q);
    // enforcing again changes nothing
    assertEquals(enforceQuery(out, "tenant_id", "a"), out, q);
    inspect(tree, (n) => {
      if (n.kind !== "VectorSelector") return;
      const own = n.matchers.filter((m) => m.name === "tenant_id");
      assertEquals(own.map(String), ['tenant_id="a"'], `${q}: ${out}`);
    });
  }
});

Deno.test("enforceQuery: quoting of the tenant and other label names", () => {
  assertEquals(
    enforceQuery("up", "team", 'we"ird\\ten ant'),
    'up{team="we\\"ird\\\\ten ant"}',
  );
  const back = parseExpr(enforceQuery("up", "team", 'we"ird\\ten ant'));
  assert(back.kind === "VectorSelector");
  assertEquals(back.matchers.find((m) => m.name === "team")?.value, 'we"ird\\ten ant');
});

Deno.test("enforceQuery: a query that does not parse throws the parser's error", () => {
  assertThrows(() => enforceQuery("sum(", "tenant_id", "a"), ParseError);
});

Deno.test("enforceMatchers: drops the label's matchers and appends the enforced one", () => {
  const enforced = new Matcher(MatchType.Equal, "tenant_id", "a");
  const got = enforceMatchers(
    parseMetricSelector('up{tenant_id=~"b|c",job="x",tenant_id!="z"}'),
    enforced,
  );
  assertEquals(got.map(String), ['job="x"', '__name__="up"', 'tenant_id="a"']);
  assertThrows(
    () => enforceMatchers([], new Matcher(MatchType.Regexp, "tenant_id", "a")),
    Error,
    "only an equality matcher",
  );
});
