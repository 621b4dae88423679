// Label matchers: RE2 semantics of Prometheus 2.42 (anchoring, flags, classes, `.` vs newline),
// rejections, fast paths, and a differential check against a real Prometheus when present.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  compileAnchoredRe2,
  goQuote,
  InvalidRegexError,
  Matcher,
  MatchType,
  translateRe2,
} from "../../tsdb/matchers.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS, startPrometheus } from "../helpers/prometheus.ts";

/** (pattern, input, matches?) under `=~` semantics. */
const REGEX_CASES: [string, string, boolean][] = [
  // anchoring
  ["foo", "foo", true],
  ["foo", "foobar", false],
  ["foo", "xfoo", false],
  ["fo+", "fooo", true],
  ["a|b", "ab", false],
  ["a|bc", "bc", true],
  ["^foo$", "foo", true],
  ["", "", true],
  ["", "x", false],
  ["a|", "", true],
  // alternation and groups
  ["(a|b)c", "bc", true],
  ["(?:a|b)+", "abba", true],
  ["(?P<name>x)y", "xy", true],
  ["foo(bar|baz)", "foobaz", true],
  ["foo(bar|baz)", "foobax", false],
  // case-insensitivity: whole pattern, scoped, mid-pattern
  ["(?i)foo", "FoO", true],
  ["(?i:a)b", "Ab", true],
  ["(?i:a)b", "AB", false],
  ["a(?i)b", "aB", true],
  ["a(?i)b", "AB", false],
  ["a(?i)b|c", "C", true],
  ["(?i)a(?-i)b", "Ab", true],
  ["(?i)a(?-i)b", "AB", false],
  ["(?i)[a-c]+", "AbC", true],
  ["(?i)k", "\u212a", true], // Kelvin sign folds to k in Go and JS
  // `.` and newline (2.x: no match), (?s)
  [".*", "a\nb", false],
  [".+", "\n", false],
  ["(?s).*", "a\nb", true],
  ["(?s:.)", "\n", true],
  ["a.c", "a\rc", true], // Go's `.` matches \r (JS's does not without translation)
  ["a.c", "a\u2028c", true],
  ["foo.*", "foo\nbar", false],
  ["foo.*", "foobar", true],
  [".*bar.*", "xbarx", true],
  [".*bar.*", "x\nbarx", false],
  // multi-line flag
  ["(?m)^a$", "a", true],
  ["(?s)(?m)a$.b", "a\nb", true],
  ["(?s)a$.b", "a\nb", false],
  // \A \z
  ["\\Afoo\\z", "foo", true],
  ["foo\\z", "foo", true],
  // POSIX and Perl classes (ASCII, as RE2)
  ["[[:alpha:]]+", "abcXYZ", true],
  ["[[:alpha:]]+", "abc1", false],
  ["[[:digit:][:upper:]]+", "A1B2", true],
  ["[[:^alpha:]]+", "123-", true],
  ["[[:space:]]", "\v", true],
  ["\\s", "\v", false], // Perl \s excludes \v in RE2
  ["\\s", "\u00a0", false], // and is ASCII-only
  ["\\d+", "0123", true],
  ["\\d", "\u0663", false], // Arabic-Indic digit: not \d in RE2
  ["\\w+", "a_1", true],
  ["\\W", "é", true],
  ["[^a]", "\n", true],
  ["[]a]+", "]a]", true],
  ["[a-]+", "-a", true],
  ["[\\]\\-]+", "]-", true],
  ["x{2,3}", "xxx", true],
  ["x{2,3}", "xxxx", false],
  ["x{2}", "xx", true],
  ["x{,2}", "x{,2}", true], // not a repeat in RE2: literal text
  ["a{", "a{", true],
  // unicode
  ["\\pL+", "héllo", true],
  ["\\p{Greek}+", "αβγ", true],
  ["\\p{Greek}", "a", false],
  ["\\PL", "1", true],
  ["\\p{^L}", "1", true],
  ["[\\p{Lu}]", "É", true],
  ["\\x{1F600}", "😀", true],
  [".", "😀", true],
  ["^.$", "é", true],
  ["\\x41\\101\\x{42}", "AAB", true],
  ["\\Qa.b*\\E", "a.b*", true],
  ["\\Qa.b*\\E", "axb", false],
  ["\\.\\+\\_", ".+_", true],
  // lazy and ungreedy forms still match the whole string
  ["a+?", "aaa", true],
  ["(?U)a+", "aaa", true],
  ["^*a", "a", true],
];

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

Deno.test("RE2 syntax that JS accepts but RE2 rejects fails with Prometheus's message", () => {
  const cases: [string, string][] = [
    ["(a)\\1", "invalid escape sequence: `\\1`"],
    ["(?=a)", "invalid or unsupported Perl syntax: `(?=`"],
    ["(?!a)", "invalid or unsupported Perl syntax: `(?!`"],
    ["(?<=a)b", "invalid or unsupported Perl syntax: `(?<`"],
    ["(?<n>a)", "invalid or unsupported Perl syntax: `(?<`"],
    ["a**", "invalid nested repetition operator: `**`"],
    ["a{2}{3}", "invalid nested repetition operator: `{2}{3}`"],
    ["*", "missing argument to repetition operator: `*`"],
    ["a|+", "missing argument to repetition operator: `+`"],
    ["a{1001}", "invalid repeat count: `{1001}`"],
    ["a{3,2}", "invalid repeat count: `{3,2}`"],
    ["[z-a]", "invalid character class range: `z-a`"],
    ["[[:foo:]]", "invalid character class range: `[:foo:]`"],
    ["\\p{NoSuchScript}", "invalid character class range: `\\p{NoSuchScript}`"],
    ["(abc", "missing closing ): `^(?:(abc)$`"],
    ["abc)", "unexpected ): `^(?:abc))$`"],
    ["[a", "missing closing ]: `[a)$`"],
    ["a\\", "missing closing ): `^(?:a\\)$`"],
    ["\\Qabc", "missing closing ): `^(?:\\Qabc)$`"],
    ["\\q", "invalid escape sequence: `\\q`"],
    ["\\Z", "invalid escape sequence: `\\Z`"],
    ["\\8", "invalid escape sequence: `\\8`"],
    ["(?x)a", "invalid or unsupported Perl syntax: `(?x`"],
    ["(?P<1-2>a)", "invalid named capture: `(?P<1-2>`"],
  ];
  for (const [pattern, msg] of cases) {
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

Deno.test("fast paths (set, .*, .+, prefix, contains) agree with the RegExp on random inputs", () => {
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

Deno.test("toString prints matchers with Go %q quoting", () => {
  assertEquals(new Matcher(MatchType.Equal, "a", "b").toString(), 'a="b"');
  assertEquals(new Matcher(MatchType.NotRegexp, "a", "x|y").toString(), 'a!~"x|y"');
  assertEquals(
    new Matcher(MatchType.Equal, "a", 'q"\\\n\t\x07\x00é\u200b').toString(),
    'a="q\\"\\\\\\n\\t\\a\\x00é\\u200b"',
  );
  assertEquals(goQuote("\u{1F600}\u{E0001}"), '"\u{1F600}\\U000e0001"');
});

Deno.test("translateRe2 keeps capture groups in Go's numbering for label_replace", () => {
  const t = translateRe2("(?P<host>[^:]+):(\\d+)");
  assertEquals(t.groupNames, ["", "host", ""]);
  const m = new RegExp(`^(?:${t.source})$`, "u").exec("example.org:9090");
  assert(m !== null);
  assertEquals([m[1], m[2]], ["example.org", "9090"]);
  assert(compileAnchoredRe2("a.c").test("abc"));
  assert(!compileAnchoredRe2("a.c").test("abcd"));
});

// ---------------------------------------------------------------------------------------------
// Differential check against Prometheus 2.42: label_replace anchors regexes exactly as matchers.

/** PromQL that yields one sample per input, labelled m="1" when the regex matches it. */
function oracleQuery(pattern: string, inputs: string[]): string {
  return inputs.map((input, i) =>
    `label_replace(label_replace(label_replace(vector(1), "i", "${i}", "", ""), ` +
    `"src", ${goQuote(input)}, "", ""), "m", "1", "src", ${goQuote(pattern)})`
  ).join(" or ");
}

e2eTest(
  "regex matchers agree with a real Prometheus 2.42 on every table case",
  { peers: [PROMETHEUS] },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "matchers_oracle_" });
    const prom = await startPrometheus({ dataDir: `${dir}/data`, config: "global: {}\n" });
    try {
      const byPattern = new Map<string, string[]>();
      for (const [p, input] of REGEX_CASES) {
        byPattern.set(p, [...(byPattern.get(p) ?? []), input]);
      }
      const diffs: string[] = [];
      for (const [pattern, inputs] of byPattern) {
        const body = new URLSearchParams({ query: oracleQuery(pattern, inputs), time: "1" });
        const res = await fetch(`${prom.url}/api/v1/query`, { method: "POST", body });
        const j = await res.json();
        assertEquals(j.status, "success", `${pattern}: ${JSON.stringify(j)}`);
        const got = new Map<string, boolean>();
        for (const r of j.data.result as { metric: Record<string, string> }[]) {
          got.set(r.metric.i, r.metric.m === "1");
        }
        const m = new Matcher(MatchType.Regexp, "l", pattern);
        inputs.forEach((input, i) => {
          const theirs = got.get(String(i));
          if (theirs !== m.matches(input)) {
            diffs.push(`${pattern} on ${JSON.stringify(input)}: prometheus=${theirs}`);
          }
        });
      }
      assertEquals(diffs, []);
    } finally {
      await prom.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
