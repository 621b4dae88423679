// How the lexer and parser read a query's text: ASCII queries are lexed and sliced as the string
// itself, others through their UTF-8 bytes; both must give the same trees, byte positions and
// errors, and quoted values must decode as Go's strconv.Unquote does.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import type { Expr, VectorSelector } from "../../promql/ast.ts";
import { lex } from "../../promql/lexer.ts";
import { ParseError, parseExpr } from "../../promql/parser.ts";
import { goQuote } from "../../strconv/quote.ts";

/** A deterministic PRNG (mulberry32), so a failure names a reproducible case. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A tree as text with its properties in their order (hidden classes matter downstream); a
 * matcher's regex closures are left out, numbers that JSON cannot spell are spelled.
 */
function treeText(e: Expr): string {
  return JSON.stringify(e, (_k, v) => {
    if (typeof v === "number" && !Number.isFinite(v)) return String(v);
    if (typeof v === "object" && v !== null && "reTest" in v) {
      return { class: v.constructor.name, ...v, re: v.re?.pattern };
    }
    return v;
  });
}

function selector(e: Expr): VectorSelector {
  assert(e.kind === "VectorSelector", e.kind);
  return e;
}

// queries of the shapes dashboards send, and corner cases of the lexer
const QUERIES = [
  'node_load1{instance="host-123:9100"}',
  'up{job="api",instance="host-1:9100",env!="dev"}',
  "up{job=~'api|db', path!~`/x/.*`}",
  'rate(http_requests_total{job="api"}[5m] offset 1h @ 1700000000)',
  'sum by (job) (rate(http_requests_total{instance="h1"}[5m]))',
  'histogram_quantile(0.9, sum by (le) (rate(x_bucket{job="j"}[5m:30s])))',
  '{__name__=~"a.*", job="x"}\n  # a comment\n + on (a) group_left (b) y',
  '-1.5e3 * -x{a="\\n\\t\\"\\x41\\101\\u00e9\\U0001F600"} ^ 2',
  'count_values("v", x) or topk(3, x) unless bottomk(1, x) and quantile(0.5, x)',
  "0x1F + 017 + Inf + nan + .5 - 1e-3 % 2 atan2 3",
  "sum without (offset, by, on, bool) (constructor{on=\"1\", by='2'})",
  "x[1h30m] @ start()",
  "x offset -5m @ end()",
];

Deno.test("a query gives the same tree when its text has non-ASCII characters after it", () => {
  // the comment makes the text non-ASCII: the byte path must agree with the ASCII path
  for (const q of QUERIES) {
    assertEquals(treeText(parseExpr(q + " # é😀")), treeText(parseExpr(q)), q);
    assertEquals(treeText(parseExpr(q + "\n#\ufeff")), treeText(parseExpr(q)), q);
  }
});

Deno.test("tokens of a non-ASCII query keep UTF-8 byte positions and their text", () => {
  const toks = lex('x{a="é😀", b=`ü`} / ü');
  assertEquals(toks.map((t) => [t.type, t.pos, t.end, t.val]), [
    ["IDENTIFIER", 0, 1, "x"],
    ["LEFT_BRACE", 1, 2, "{"],
    ["IDENTIFIER", 2, 3, "a"],
    ["EQL", 3, 4, "="],
    ["STRING", 4, 12, '"é😀"'],
    ["COMMA", 12, 13, ","],
    ["IDENTIFIER", 14, 15, "b"],
    ["EQL", 15, 16, "="],
    ["STRING", 16, 20, "`ü`"],
    ["RIGHT_BRACE", 20, 21, "}"],
    ["DIV", 22, 23, "/"],
    ["ERROR", 24, 26, "unexpected character: 'ü'"],
  ]);
  // an unpaired surrogate is U+FFFD in UTF-8, refused inside a string as Prometheus refuses it
  const err = assertThrows(() => parseExpr('x{a="\ud800"}'), ParseError);
  assertEquals(err.message, "1:5: parse error: invalid UTF-8 rune");
  assertEquals(
    assertThrows(() => parseExpr('"é" + x{a="b"} + ü'), ParseError).message,
    "1:19: parse error: unexpected character: 'ü'",
  );
});

Deno.test("quoted label values decode as Go's Unquote of Go's %q, in every quoting", () => {
  const alphabet = ["a", "Z", "0", " ", "-", ":", '"', "'", "`", "\\", "\n", "\t", "\x07", "\x7f"]
    .concat(["é", "ü", "€", "😀", "\ufeff", "\u2028", "\u0000", "{", "}", "#"]);
  const next = rng(20);
  for (let n = 0; n < 3000; n++) {
    let v = "";
    const len = Math.floor(next() * 8);
    for (let i = 0; i < len; i++) v += alphabet[Math.floor(next() * alphabet.length)];
    const dq = goQuote(v);
    assertEquals(selector(parseExpr(`x{a=${dq}}`)).matchers[0].value, v, dq);
    // the same value in single quotes: `"` needs no escape there, `'` does
    const sq = "'" + dq.slice(1, -1).replaceAll('\\"', '"').replaceAll("'", "\\'") + "'";
    assertEquals(selector(parseExpr(`x{a=${sq}}`)).matchers[0].value, v, sq);
    if (!v.includes("`")) {
      assertEquals(selector(parseExpr(`x{a=\`${v}\`}`)).matchers[0].value, v, JSON.stringify(v));
    }
  }
});

Deno.test("\\u and \\U escapes encode code points of every UTF-8 length", () => {
  const cps = [0x0, 0x7f, 0x80, 0x85, 0x7ff, 0x800, 0xfeff, 0xffff, 0x10000, 0x1f600, 0x10ffff];
  for (const cp of cps) {
    const hex = cp.toString(16).padStart(8, "0");
    const want = String.fromCodePoint(cp);
    if (cp <= 0xffff) {
      const q = `x{a="\\u${hex.slice(4)}"}`;
      assertEquals(selector(parseExpr(q)).matchers[0].value, want, q);
    }
    const q = `x{a='\\U${hex}'}`;
    assertEquals(selector(parseExpr(q)).matchers[0].value, want, q);
  }
  // a surrogate is refused, as Prometheus's lexer refuses it
  assertEquals(
    assertThrows(() => parseExpr('x{a="\\U0000d800"}'), ParseError).message,
    "1:5: parse error: escape sequence is an invalid Unicode code point",
  );
});

Deno.test("a leading U+FEFF stays in a string, written or escaped, as in Prometheus", () => {
  for (
    const q of ['x{a="\ufeffb"}', 'x{a="\\ufeffb"}', "x{a=`\ufeffb`}", 'x{a="\\xef\\xbb\\xbfb"}']
  ) {
    assertEquals(selector(parseExpr(q)).matchers[0].value, "\ufeffb", q);
  }
  const s = parseExpr('"\\ufeff"');
  assert(s.kind === "StringLiteral");
  assertEquals(s.val, "\ufeff");
});

Deno.test("words Object.prototype has are metric names and labels, not keywords", () => {
  for (const name of ["constructor", "__proto__", "Constructor", "hasOwnProperty", "toString"]) {
    const vs = selector(parseExpr(name));
    assertEquals(vs.name, name);
    const agg = parseExpr(`sum by (${name}) (x)`);
    assert(agg.kind === "AggregateExpr");
    assertEquals(agg.grouping, [name]);
  }
  // keywords still lex as keywords in any case, and a long word is never one
  assertEquals(lex("COUNT_VALUES Offset count_valuesx").map((t) => t.type), [
    "COUNT_VALUES",
    "OFFSET",
    "IDENTIFIER",
    "EOF",
  ]);
});
