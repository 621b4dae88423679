// Unanchored search with Go's regexp semantics (Re2Regex.compileSearch): MatchString, the
// leftmost-first successive matches of FindAll (empty matches abutting a match skipped) and
// ReplaceAllString with Expand templates; always on the automaton, so time stays linear.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { InvalidRegexError } from "../../re2/parser.ts";
import { Re2Regex } from "../../re2/regex.ts";

Deno.test("compileSearch: matches anywhere, unlike the anchored compile", () => {
  const r = Re2Regex.compileSearch("o+");
  assertEquals(r.anchored, false);
  assertEquals(r.engine, "re2js");
  assert(r.test("foo bar"));
  assert(!r.test("bar"));
  assert(!Re2Regex.compile("o+").test("foo"));
  assertEquals(r.exec("xfoooy"), ["ooo"]);
  assertThrows(() => Re2Regex.compileSearch("a("), InvalidRegexError, "missing closing )");
});

Deno.test("replaceAll: Go's ReplaceAllString results (empty matches, groups, $$)", () => {
  const cases: [string, string, string, string][] = [
    // pattern, template, input, Go's regexp.MustCompile(p).ReplaceAllString(in, t)
    ["a*", "-", "baaac", "-b-c-"],
    ["", "-", "abc", "-a-b-c-"],
    ["x*", "-", "", "-"],
    ["(\\w+):(\\d+)", "$2@${1}", "host-1:9100 web:80", "host-9100@1 80@web"],
    ["(?P<h>[a-z]+)", "<${h}>", "ab 12 cd", "<ab> 12 <cd>"],
    ["b", "$$", "abc", "a$c"],
    ["(a)", "$1x", "aa", ""], // `$1x` names group "1x": empty
    ["é", "e", "café é", "cafe e"],
    ["", "-", "😀", "-😀-"],
  ];
  for (const [p, t, input, want] of cases) {
    assertEquals(Re2Regex.compileSearch(p).replaceAll(input, t), want, `${p} on ${input}`);
  }
});

Deno.test("matchAll: leftmost-first successive matches with offsets, bounded by limit", () => {
  const r = Re2Regex.compileSearch("a|ab");
  assertEquals([...r.matchAll("abab")].map((m) => [m.index, m.end, m.groups[0]]), [
    [0, 1, "a"],
    [2, 3, "a"],
  ]);
  assertEquals([...Re2Regex.compileSearch("\\d").matchAll("1a2b3", 2)].length, 2);
  assertThrows(() => [...Re2Regex.compile("a").matchAll("a")], Error, "search regex");
});

Deno.test("search stays linear on a pattern that backtracks badly (no blow-up)", () => {
  const r = Re2Regex.compileSearch("(a+)+$");
  const input = "a".repeat(5000) + "b";
  // a backtracking engine takes exponential time here; the automaton answers at once
  assert(!r.test(input));
  assertEquals(r.replaceAll(input, "x"), input);
});
