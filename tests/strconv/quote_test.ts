// goQuote / goQuoteRune: Go's strconv.Quote and strconv.QuoteRune (`%q`).

import { assert, assertEquals } from "../helpers/assert.ts";
import { goQuote, goQuoteRune, isGoPrintable } from "../../strconv/quote.ts";

Deno.test("goQuote quotes like strconv.Quote", () => {
  assertEquals(goQuote("plain"), '"plain"');
  assertEquals(goQuote('a"b\\c'), '"a\\"b\\\\c"');
  assertEquals(goQuote("new\nline\ttab\x01"), '"new\\nline\\ttab\\x01"');
  assertEquals(goQuote("café/日本"), '"café/日本"');
  assertEquals(goQuote("nb\u00a0sp"), '"nb\\u00a0sp"');
  assertEquals(goQuote('q"\\\n\t\x07\x00é\u200b'), '"q\\"\\\\\\n\\t\\a\\x00é\\u200b"');
  assertEquals(goQuote("\u{1F600}\u{E0001}"), '"\u{1F600}\\U000e0001"');
  assertEquals(goQuote("\x7f\ud800"), '"\\x7f\ufffd"');
});

Deno.test("goQuoteRune quotes like strconv.QuoteRune; end of input is U+FFFD", () => {
  assertEquals(goQuoteRune(0x61), "'a'");
  assertEquals(goQuoteRune(0x27), "'\\''");
  assertEquals(goQuoteRune(0x22), "'\"'");
  assertEquals(goQuoteRune(0x0a), "'\\n'");
  assertEquals(goQuoteRune(0xe9), "'é'");
  assertEquals(goQuoteRune(-1), "'\ufffd'");
});

Deno.test("isGoPrintable follows unicode.IsPrint (space yes, other spaces and controls no)", () => {
  assert(isGoPrintable(0x20));
  assert(isGoPrintable(0x61));
  assert(isGoPrintable(0x65e5));
  assert(!isGoPrintable(0x0a));
  assert(!isGoPrintable(0x7f));
  assert(!isGoPrintable(0xa0));
  assert(!isGoPrintable(0x200b));
});
