// The engine's cache of parsed expressions: one tree per (function options, text), bounded,
// failures and long expressions never kept, and repeated queries answered as the first time.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { ParseCache } from "../../promql/parse_cache.ts";
import { MAX_EXPR_DEPTH, ParseError } from "../../promql/parser.ts";
import { exprToString } from "../../promql/printer.ts";
import { children, type Expr } from "../../promql/ast.ts";
import { Engine } from "../../promql/engine.ts";
import { MemQueryable } from "../helpers/mem_queryable.ts";

Deno.test("parse cache: the same text gives the same tree, another text its own tree", () => {
  const c = new ParseCache();
  const a = c.parse('up{job="api"}', {});
  assertEquals(exprToString(a), 'up{job="api"}');
  assert(c.parse('up{job="api"}', {}) === a);
  const b = c.parse('up{job="db"}', {});
  assert(b !== a);
  assertEquals(exprToString(b), 'up{job="db"}');
  assertEquals(exprToString(c.parse('up{job="api"}', {})), 'up{job="api"}');
  assertEquals(c.size, 2);
});

Deno.test("parse cache: function options are part of the key", () => {
  const c = new ParseCache();
  const q = "xrate(http_requests_total[5m])";
  assertEquals(exprToString(c.parse(q, { xFunctions: true })), q);
  // the tree parsed with the x-functions is not handed to a parse without them
  assertThrows(() => c.parse(q, {}), ParseError, "unknown function");
  const e = "mad_over_time(x[5m])";
  assertEquals(exprToString(c.parse(e, { experimentalFunctions: true })), e);
  assertThrows(() => c.parse(e, {}), ParseError);
});

Deno.test("parse cache: keeps at most its entries, dropping the least recently used", () => {
  const c = new ParseCache(2);
  const a = c.parse("a", {});
  const b = c.parse("b", {});
  assert(c.parse("a", {}) === a); // a is now the most recent
  c.parse("c", {});
  assertEquals(c.size, 2);
  assert(c.parse("a", {}) === a);
  assert(c.parse("b", {}) !== b);
});

Deno.test("parse cache: long expressions, parse errors and too deep trees are not kept", () => {
  const c = new ParseCache(8, 10);
  const long = "sum(metric_with_a_long_name)";
  const t = c.parse(long, {});
  assertEquals(exprToString(t), long);
  assert(c.parse(long, {}) !== t);
  assertEquals(c.size, 0);
  assertThrows(() => c.parse("up{", {}), ParseError);
  assertEquals(c.size, 0);
  const deep = new ParseCache();
  // a chain of binary operators parses without recursion; only the evaluation depth check
  // refuses it
  const nested = "1" + "+1".repeat(MAX_EXPR_DEPTH + 1);
  assertThrows(() => deep.parse(nested, {}), ParseError, "nested too deeply");
  assertThrows(() => deep.parse(nested, {}), ParseError, "nested too deeply");
  assertEquals(deep.size, 0);
});

Deno.test("engine: a repeated expression (parsed once) answers like the first time", async () => {
  const q = new MemQueryable([
    { labels: { __name__: "m", job: "a" }, points: [[0, 1], [60_000, 2]] },
    { labels: { __name__: "m", job: "b" }, points: [[0, 5], [60_000, 7]] },
  ]);
  const engine = new Engine();
  const answers: string[] = [];
  for (const at of [60_000, 0, 60_000]) {
    for (const expr of ['m{job="a"}', 'm{job="b"}', "sum(m @ end())"]) {
      const r = await engine.instantQuery(q, expr, at);
      answers.push(JSON.stringify(r.value));
    }
  }
  const once = async (expr: string, at: number) =>
    JSON.stringify((await new Engine().instantQuery(q, `(${expr})`, at)).value);
  assertEquals(answers, [
    await once('m{job="a"}', 60_000),
    await once('m{job="b"}', 60_000),
    await once("sum(m @ end())", 60_000),
    await once('m{job="a"}', 0),
    await once('m{job="b"}', 0),
    await once("sum(m @ end())", 0),
    await once('m{job="a"}', 60_000),
    await once('m{job="b"}', 60_000),
    await once("sum(m @ end())", 60_000),
  ]);
  assert(answers[0] !== answers[1]);
  assert(answers[2] !== answers[5]);
});

/** Depth of a tree (the root is 1), as the evaluation depth check counts it. */
function treeDepth(e: Expr): number {
  let d = 0;
  for (const c of children(e)) d = Math.max(d, treeDepth(c));
  return d + 1;
}

Deno.test("parse cache: a text is never deeper than it is long, so short ones skip the walk", () => {
  // the cache checks the evaluation depth only of texts longer than the limit: the deepest
  // constructions per character must stay within their length
  const wraps: [string, string][] = [
    ["-", ""],
    ["(", ")"],
    ["abs(", ")"],
    ["sum(", ")"],
    ["last_over_time((", ")[1m:])"],
    ["", " + 1"],
    ["1+", ""],
    ["-(", ")"],
    ["topk(1,", ")"],
  ];
  let seed = 7;
  for (let n = 0; n < 300; n++) {
    let q = "x";
    while (q.length < 900) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const [pre, post] = wraps[seed % wraps.length];
      q = pre + q + post;
    }
    const e = new ParseCache().parse(q, {});
    assert(treeDepth(e) <= q.length, q);
  }
  const chain = "1" + "+1".repeat(MAX_EXPR_DEPTH / 2 - 1); // the longest chain within the limit
  assertEquals(treeDepth(new ParseCache().parse(chain, {})), MAX_EXPR_DEPTH / 2);
});
