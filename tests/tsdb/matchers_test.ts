// Label matchers: RE2 semantics of Prometheus 2.42 (anchoring, flags, classes, `.` vs newline)
// through the matcher, rejections, fast paths and set/prefix analysis. The translator itself and
// its differential check against a real Prometheus are in tests/re2/.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { InvalidRegexError } from "../../re2/parser.ts";
import { HOSTILE, REGEX_CASES, REJECTED_CASES } from "../helpers/re2_cases.ts";

Deno.test("regex matchers follow Prometheus 2.42 RE2 semantics on a table of cases", () => {
  for (const [pattern, input, want] of REGEX_CASES) {
    const m = new Matcher(MatchType.Regexp, "l", pattern);
    assertEquals(m.matches(input), want, `${pattern} =~ ${JSON.stringify(input)}`);
    const nm = new Matcher(MatchType.NotRegexp, "l", pattern);
    assertEquals(nm.matches(input), !want, `${pattern} !~ ${JSON.stringify(input)}`);
  }
});

Deno.test("equality matchers and the missing-label rule (a missing label is the empty value)", () => {
  assert(new Matcher(MatchType.Equal, "a", "").matches(""));
  assert(!new Matcher(MatchType.Equal, "a", "x").matches(""));
  assert(new Matcher(MatchType.NotEqual, "a", "x").matches(""));
  assert(new Matcher(MatchType.Regexp, "a", ".*").matches(""));
  assert(!new Matcher(MatchType.Regexp, "a", ".+").matches(""));
  assert(new Matcher(MatchType.NotRegexp, "a", ".+").matches(""));
});

Deno.test("regex matchers reject RE2 syntax that JS accepts, with Prometheus's message", () => {
  for (const [pattern, msg] of REJECTED_CASES) {
    assertThrows(
      () => new Matcher(MatchType.Regexp, "l", pattern),
      InvalidRegexError,
      `error parsing regexp: ${msg}`,
    );
  }
});

Deno.test("setMatches() lists the literal values of =~ matchers, null otherwise", () => {
  const sm = (t: MatchType, v: string) => new Matcher(t, "l", v).setMatches();
  assertEquals(sm(MatchType.Regexp, "foo"), ["foo"]);
  assertEquals(sm(MatchType.Regexp, "a|b|c"), ["a", "b", "c"]);
  assertEquals(sm(MatchType.Regexp, "(a|b)"), ["a", "b"]);
  assertEquals(sm(MatchType.Regexp, "foo(bar|baz)"), ["foobar", "foobaz"]);
  assertEquals(sm(MatchType.Regexp, "^(?:x|y)$"), ["x", "y"]);
  assertEquals(sm(MatchType.Regexp, "a|"), ["a", ""]);
  assertEquals(sm(MatchType.Regexp, "\\.\\*"), [".*"]);
  assertEquals(sm(MatchType.Regexp, "[ab]c"), ["ac", "bc"]);
  assertEquals(sm(MatchType.Equal, "x"), ["x"]);
  assertEquals(sm(MatchType.Regexp, "a.*"), null);
  assertEquals(sm(MatchType.Regexp, "(?i)a"), null);
  assertEquals(sm(MatchType.Regexp, "a+"), null);
  assertEquals(sm(MatchType.NotRegexp, "a|b"), null);
  assertEquals(sm(MatchType.NotEqual, "a"), null);
});

Deno.test("prefix() gives the literal prefix of =~ matchers", () => {
  const pre = (v: string) => new Matcher(MatchType.Regexp, "l", v).prefix();
  assertEquals(pre("foo.*"), "foo");
  assertEquals(pre("foo(bar|baz).*"), "foo");
  assertEquals(pre("^abc\\d+"), "abc");
  assertEquals(pre("a|b"), "");
  assertEquals(pre("(?i)foo.*"), "");
  assertEquals(pre(".*foo"), "");
  assertEquals(new Matcher(MatchType.NotRegexp, "l", "foo.*").prefix(), "");
});

Deno.test("fast paths (set, .*, .+, contains, literal checks) agree with the regex on random inputs", () => {
  const patterns = [
    "a|b|c",
    "foo|bar|",
    "[ab]c",
    ".*",
    ".+",
    "(?s).*",
    "(?s).+",
    "ab.*",
    "(?s)ab.*",
    ".*ab.*",
    "(?s).*ab.*",
    "a(b|c).*",
    "abc",
    "",
    "ab+",
    // on the RE2 automaton, behind the prefix / required-literal checks
    "(a|ab)+c",
    ".*ab.*c",
    "ab(a+)+c.*",
    "(?i)ab(a|b)+c",
    "a.*b.*ab",
  ];
  const alphabet = ["a", "b", "c", "\n", "é", "x"];
  // deterministic PRNG (mulberry32) so failures reproduce
  let seed = 42;
  const rnd = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (const p of patterns) {
    for (const type of [MatchType.Regexp, MatchType.NotRegexp]) {
      const m = new Matcher(type, "l", p);
      for (let i = 0; i < 300; i++) {
        const len = Math.floor(rnd() * 6);
        let s = "";
        for (let j = 0; j < len; j++) s += alphabet[Math.floor(rnd() * alphabet.length)];
        if (rnd() < 0.2) s = "ab" + s;
        assertEquals(m.matches(s), m.matchesSlow(s), `${type}${p} on ${JSON.stringify(s)}`);
      }
    }
  }
});

Deno.test("hostile regex matchers run on the RE2 automaton and answer correctly", () => {
  for (const p of HOSTILE) {
    assertEquals(new Matcher(MatchType.Regexp, "l", p).regexPath, "re2js", p);
  }
  assertEquals(new Matcher(MatchType.Regexp, "l", "10\\.0\\..*").regexPath, "regexp");
  assertEquals(new Matcher(MatchType.Equal, "l", "(a+)+$").regexPath, undefined);
  const a40 = "a".repeat(40);
  const re = new Matcher(MatchType.Regexp, "l40", "(a+)+$");
  assert(re.matches(a40));
  assert(!re.matches(a40 + "!"));
  const nre = new Matcher(MatchType.NotRegexp, "l40", "(a+)+$");
  assert(nre.matches(a40 + "!"));
  assert(!nre.matches(a40));
  // with a literal prefix checked before the automaton
  const pre = new Matcher(MatchType.Regexp, "l", "pre(a|aa)+x");
  assertEquals(pre.prefix(), "pre");
  for (const v of ["pre" + "a".repeat(30) + "x", "pre" + "a".repeat(30), "pr", "xpreax", "preax"]) {
    assertEquals(pre.matches(v), pre.matchesSlow(v), v);
  }
  assert(pre.matches("preaaax"));
  assert(!pre.matches("Preaaax"));
});

Deno.test("toString prints matchers with Go %q quoting", () => {
  assertEquals(new Matcher(MatchType.Equal, "a", "b").toString(), 'a="b"');
  assertEquals(new Matcher(MatchType.NotRegexp, "a", "x|y").toString(), 'a!~"x|y"');
  assertEquals(
    new Matcher(MatchType.Equal, "a", 'q"\\\n\t\x07\x00é\u200b').toString(),
    'a="q\\"\\\\\\n\\t\\a\\x00é\\u200b"',
  );
});
