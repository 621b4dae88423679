// PromQL lexer: token kinds, byte positions, keywords, numbers vs durations, strings, comments
// and the lexer's own error messages (as Prometheus 2.42).

import { assertEquals } from "../helpers/assert.ts";
import { isLabelName, type Item, itemDesc, lex } from "../../promql/lexer.ts";

/** `TYPE:val` for every token but EOF. */
function kinds(input: string): string[] {
  return lex(input).filter((t) => t.type !== "EOF").map((t) => `${t.type}:${t.val}`);
}

Deno.test("lexer splits operators, brackets and selectors into Prometheus's token kinds", () => {
  assertEquals(kinds("a+b-c*d/e%f^g"), [
    "IDENTIFIER:a",
    "ADD:+",
    "IDENTIFIER:b",
    "SUB:-",
    "IDENTIFIER:c",
    "MUL:*",
    "IDENTIFIER:d",
    "DIV:/",
    "IDENTIFIER:e",
    "MOD:%",
    "IDENTIFIER:f",
    "POW:^",
    "IDENTIFIER:g",
  ]);
  assertEquals(kinds("== != <= < >= > ="), [
    "EQLC:==",
    "NEQ:!=",
    "LTE:<=",
    "LSS:<",
    "GTE:>=",
    "GTR:>",
    "EQL:=",
  ]);
  assertEquals(kinds('foo:bar{a="b", c!~`d`, e=~"f", g!="h"}'), [
    "METRIC_IDENTIFIER:foo:bar",
    "LEFT_BRACE:{",
    "IDENTIFIER:a",
    "EQL:=",
    'STRING:"b"',
    "COMMA:,",
    "IDENTIFIER:c",
    "NEQ_REGEX:!~",
    "STRING:`d`",
    "COMMA:,",
    "IDENTIFIER:e",
    "EQL_REGEX:=~",
    'STRING:"f"',
    "COMMA:,",
    "IDENTIFIER:g",
    "NEQ:!=",
    'STRING:"h"',
    "RIGHT_BRACE:}",
  ]);
  assertEquals(kinds("x[5m:1m] @ 10"), [
    "IDENTIFIER:x",
    "LEFT_BRACKET:[",
    "DURATION:5m",
    "COLON::",
    "DURATION:1m",
    "RIGHT_BRACKET:]",
    "AT:@",
    "NUMBER:10",
  ]);
});

Deno.test("keywords are case-insensitive outside braces and plain identifiers inside them", () => {
  assertEquals(kinds("SUM by (On) AND Offset"), [
    "SUM:SUM",
    "BY:by",
    "LEFT_PAREN:(",
    "ON:On",
    "RIGHT_PAREN:)",
    "LAND:AND",
    "OFFSET:Offset",
  ]);
  assertEquals(kinds('{by="x", offset="y"}').filter((k) => k.startsWith("IDENTIFIER")), [
    "IDENTIFIER:by",
    "IDENTIFIER:offset",
  ]);
  assertEquals(kinds("start end bool atan2 group_left group_right ignoring without"), [
    "START:start",
    "END:end",
    "BOOL:bool",
    "ATAN2:atan2",
    "GROUP_LEFT:group_left",
    "GROUP_RIGHT:group_right",
    "IGNORING:ignoring",
    "WITHOUT:without",
  ]);
});

Deno.test("numbers and durations: decimal, hex, exponent, Inf/NaN and composite durations", () => {
  assertEquals(kinds("1 1.5 .5 5. 1e3 1E-3 0x1F 0777 Inf nAn"), [
    "NUMBER:1",
    "NUMBER:1.5",
    "NUMBER:.5",
    "NUMBER:5.",
    "NUMBER:1e3",
    "NUMBER:1E-3",
    "NUMBER:0x1F",
    "NUMBER:0777",
    "NUMBER:Inf",
    "NUMBER:nAn",
  ]);
  assertEquals(kinds("5m 1h30m 54s321ms 2y 1w"), [
    "DURATION:5m",
    "DURATION:1h30m",
    "DURATION:54s321ms",
    "DURATION:2y",
    "DURATION:1w",
  ]);
});

Deno.test("strings in all three quote styles keep their raw text, comments are tokens", () => {
  assertEquals(kinds(`"a\\"b" 'c\\'d' \`e\\nf\``), [
    'STRING:"a\\"b"',
    "STRING:'c\\'d'",
    "STRING:`e\\nf`",
  ]);
  assertEquals(kinds("foo # a comment\n+ 1"), [
    "IDENTIFIER:foo",
    "COMMENT:# a comment",
    "ADD:+",
    "NUMBER:1",
  ]);
  assertEquals(kinds("`multi\nline`"), ["STRING:`multi\nline`"]);
});

Deno.test("token positions are UTF-8 byte offsets", () => {
  const toks = lex('"é" + x');
  assertEquals(toks.map((t) => [t.type, t.pos, t.end]), [
    ["STRING", 0, 4],
    ["ADD", 5, 6],
    ["IDENTIFIER", 7, 8],
    ["EOF", 8, 8],
  ]);
});

Deno.test("lexer errors carry Prometheus's messages and stop the token stream", () => {
  const err = (input: string): [string, number] => {
    const toks = lex(input);
    const last = toks[toks.length - 1];
    assertEquals(last.type, "ERROR", `expected an error for ${JSON.stringify(input)}`);
    return [last.val, last.pos];
  };
  assertEquals(err("."), ["unexpected character: '.'", 0]);
  assertEquals(err("2.5."), ["unexpected character: '.'", 3]);
  assertEquals(err("0deadbeef"), ['bad number or duration syntax: "0de"', 0]);
  assertEquals(err("(1))"), ["unexpected right parenthesis ')'", 4]);
  assertEquals(err("((1)"), ["unclosed left parenthesis", 4]);
  assertEquals(err("1 =~ 1"), ["unexpected character after '=': '~'", 2]);
  assertEquals(err("1 !"), ["unexpected character after '!': '\ufffd'", 2]);
  assertEquals(err("{"), ["unexpected end of input inside braces", 1]);
  assertEquals(err("}"), ["unexpected character: '}'", 0]);
  assertEquals(err("foo{a:b}"), ["unexpected character inside braces: ':'", 5]);
  assertEquals(err("foo{{"), ["unexpected left brace '{'", 4]);
  assertEquals(err("foo[5mm]"), ['bad duration syntax: "5mm"', 4]);
  assertEquals(err("foo[]"), ["missing unit character in duration", 4]);
  assertEquals(err("foo[5m:1m1]"), ['bad number or duration syntax: "1m1"', 7]);
  assertEquals(err("foo[5m"), ["unclosed left bracket", 6]);
  assertEquals(err("foo]"), ["unexpected right bracket ']'", 3]);
  assertEquals(err("foo[[5m]"), ["missing unit character in duration", 4]);
  assertEquals(err("foo[5m:[1m]]"), ["unexpected left bracket '['", 7]);
  assertEquals(err('"abc'), ["unterminated quoted string", 0]);
  assertEquals(err("`abc"), ["unterminated raw string", 0]);
  assertEquals(err('"\\'), ["escape sequence not terminated", 0]);
  assertEquals(err('"\\c"'), ["unknown escape sequence U+0063 'c'", 0]);
  assertEquals(err('"\\x."'), ["illegal character U+002E '.' in escape sequence", 0]);
  assertEquals(err('"\\400"'), ["escape sequence is an invalid Unicode code point", 0]);
  assertEquals(err('"\\ud800"'), ["escape sequence is an invalid Unicode code point", 0]);
  assertEquals(err("'\\\"'"), ["unknown escape sequence U+0022 '\"'", 0]);
  assertEquals(err('"\ufffd"'), ["invalid UTF-8 rune", 0]);
  assertEquals(err("é"), ["unexpected character: 'é'", 0]);
});

Deno.test("token descriptions match Prometheus's 'unexpected …' wording", () => {
  const d = (type: Item["type"], val: string) => itemDesc({ type, pos: 0, end: 0, val });
  assertEquals(d("EOF", ""), "end of input");
  assertEquals(d("IDENTIFIER", "foo"), 'identifier "foo"');
  assertEquals(d("METRIC_IDENTIFIER", "a:b"), 'metric identifier "a:b"');
  assertEquals(d("NUMBER", "1"), 'number "1"');
  assertEquals(d("DURATION", "5m"), 'duration "5m"');
  assertEquals(d("STRING", '"abcdefghijkl"'), 'string "\\"abcdefghi"...');
  assertEquals(d("ADD", "+"), "<op:+>");
  assertEquals(d("LAND", "AND"), "<op:AND>");
  assertEquals(d("SUM", "sum"), "<aggr:sum>");
  assertEquals(d("BY", "by"), "<by>");
  assertEquals(d("COMMA", ","), '","');
  assertEquals(d("START", "start"), '"start"');
  assertEquals(d("AT", "@"), '"<Item 57385>" <op:@>');
});

Deno.test("isLabelName accepts [a-zA-Z_][a-zA-Z0-9_]* only", () => {
  assertEquals(["a", "_x1", "A_b"].map(isLabelName), [true, true, true]);
  assertEquals(["", "1a", "a:b", "a-b", "é"].map(isLabelName), [false, false, false, false, false]);
});
