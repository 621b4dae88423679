// Shared RE2 test tables: how Go's regexp (as Prometheus 2.42 anchors it) matches and rejects
// patterns. Used by the translator's tests (tests/re2/) and the matcher's (tests/tsdb/).

/** (pattern, input, matches?) under `=~` semantics. */
export const REGEX_CASES: [string, string, boolean][] = [
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

/** (pattern, Go's error message after `error parsing regexp: `): RE2 syntax JS accepts but RE2 rejects. */
export const REJECTED_CASES: [string, string][] = [
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
  // Go bounds nested counted repetition and the tree's height (regexp/syntax)
  ["(a{2}){501}", "invalid repeat count: `{501}`"],
  ["(?:(?:a{10}){10}x){11}", "invalid repeat count: `{11}`"],
  ["(a{1000}){1000}", "invalid repeat count: `{1000}`"],
  [
    "(".repeat(999) + "a" + ")".repeat(999),
    `expression nests too deeply: \`^(?:${"(".repeat(999)}a${")".repeat(999)})$\``,
  ],
  [
    "(?:a*".repeat(499) + "b" + ")*".repeat(499),
    `expression nests too deeply: \`^(?:${"(?:a*".repeat(499)}b${")*".repeat(499)})$\``,
  ],
];

/**
 * Patterns at Go's limits that are still valid: nested repetition up to 1000, capture groups
 * nested 998 deep (the tree Go compiles is then exactly 1000 high), deep non-capturing groups.
 */
export const LIMIT_CASES: string[] = [
  "(a{2}){500}",
  "(?:(?:a{10}){10}x){10}",
  "(".repeat(998) + "a" + ")".repeat(998),
  "(?:".repeat(999) + "a" + ")".repeat(999),
  "(?:a*".repeat(498) + "b" + ")*".repeat(498), // each level is a repetition and a concatenation
  "(?:a|".repeat(900) + "b" + ")".repeat(900),
];

/** Patterns whose backtracking is exponential or polynomial in the input length. */
export const HOSTILE = [
  "(a+)+$",
  "(a+)+",
  "(a|a)+",
  "(a|aa)+",
  "(a*)*b",
  "(.*)*x",
  "(?:a?){30}a{30}",
  "a?".repeat(25) + "a".repeat(25), // ambiguous choices without nesting
  "[ab]?[bc]?[ac]?".repeat(8) + "x",
  ".*a.*a.*a.*b",
  "(\\w+\\s?)+$",
  "([a-z]+)*[0-9]",
  "^(a+)+$",
  "(x+x+)+y",
  "a*a*a*a*a*b",
  "(?s).*.*=.*",
  "\\d+\\d+\\d+x",
  "(?i)(k|K|\u212a)+!",
];
