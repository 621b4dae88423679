// The engine of every user regex: which engine it picks, capture groups and Go's Expand
// templates through both engines, and correct answers on ReDoS patterns.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { InvalidRegexError } from "../../re2/parser.ts";
import { expandTemplate, Re2Regex } from "../../re2/regex.ts";
import { HOSTILE } from "../helpers/re2_cases.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS, startPrometheus } from "../helpers/prometheus.ts";
import { goQuote } from "../../strconv/quote.ts";

Deno.test("hostile patterns compile to the RE2 automaton, common ones to a RegExp", () => {
  for (const p of HOSTILE) assertEquals(Re2Regex.compile(p).engine, "re2js", p);
  assertEquals(Re2Regex.compile("10\\.0\\..*").engine, "regexp");
  assertEquals(Re2Regex.compile("(?P<host>[^:]+):(\\d+)").engine, "regexp");
});

Deno.test("(.*):.* runs as a RegExp on inputs without a newline and on RE2 on the others", () => {
  const re = Re2Regex.compile("(.*):.*");
  const re2 = Re2Regex.compile("(.*):.*", "re2js");
  assertEquals(re.engine, "regexp-unless-newline");
  // many ':' then a newline: the backtracking engine would retry the final .* from every ':'
  const hostile = ":".repeat(5000) + "\n";
  assertEquals(re.engineFor(hostile), "re2js");
  assertEquals(re.engineFor("\n"), "re2js");
  assertEquals(re.engineFor("host:9100"), "regexp");
  for (
    const s of [hostile, "host:9100", "a:b:c", "a\nb:c", "a:b\n", "\n:", ":", "", "no-colon", "é:ü"]
  ) {
    assertEquals(re.exec(s), re2.exec(s), JSON.stringify(s));
    assertEquals(re.test(s), re2.test(s), JSON.stringify(s));
  }
  assertEquals(re.exec("a:b:c"), ["a:b:c", "a:b"]);
  assertEquals(re.exec("a\nb:c"), null);
  // (?s) lets . take the newline too: always the RegExp
  assertEquals(Re2Regex.compile("(?s)(.*):.*").engine, "regexp");
});

Deno.test("hostile patterns answer correctly on inputs that make backtracking explode", () => {
  const a28 = "a".repeat(28);
  const cases: [string, string, boolean][] = [
    ["(a+)+$", a28, true],
    ["(a+)+$", a28 + "!", false],
    ["(a+)+", "a".repeat(5000) + "b", false],
    ["(a|aa)+", "a".repeat(100) + "!", false],
    ["(a*)*b", "a".repeat(100), false],
    ["(a*)*b", "a".repeat(100) + "b", true],
    [".*a.*a.*a.*b", "a".repeat(3000), false],
    ["(\\w+\\s?)+$", "word ".repeat(200) + "!", false],
    ["(x+x+)+y", "x".repeat(64), false],
    ["(x+x+)+y", "x".repeat(64) + "y", true],
    ["(?:a?){30}a{30}", "a".repeat(30), true],
    ["a?".repeat(25) + "a".repeat(25), "a".repeat(25), true],
    ["a?".repeat(25) + "a".repeat(25), "a".repeat(24), false],
  ];
  for (const [p, input, want] of cases) {
    assertEquals(Re2Regex.compile(p).test(input), want, `${p} on ${input.length} chars`);
  }
});

Deno.test("both engines return the same capture groups (Go's leftmost-first submatches)", () => {
  const cases: [string, string][] = [
    ["(?P<host>[^:]+):(\\d+)", "example.org:9090"],
    ["((a|aa)+)(!)", "aaaa!"],
    ["(a+)+$", "aaaa"],
    ["(a)|(b)", "b"],
    ["(a*)(a*)", "aaa"],
    ["(a*?)(a*)", "aaa"],
    ["(?i)(K)(s)", "\u212a\u017f"],
    ["(x)?y", "y"],
    ["(.*)-(.*)", "a-b-c"],
    ["(\\p{Greek}+)(\\d)", "αβ1"],
  ];
  for (const [p, input] of cases) {
    const js = Re2Regex.compile(p, "regexp").exec(input);
    const re2 = Re2Regex.compile(p, "re2js").exec(input);
    assertEquals(re2, js, p);
  }
  assertEquals(Re2Regex.compile("(a)|(b)", "re2js").exec("b"), ["b", undefined, "b"]);
  assertEquals(Re2Regex.compile("(a)|(b)").exec("c"), null);
});

Deno.test("the automaton refuses programs too large to compile quickly, with a clear error", () => {
  const unit = "(?:[a-z]{1000}|x)"; // ~1000 instructions, and not safe for backtracking
  const ok = Re2Regex.compile(unit.repeat(20));
  assertEquals(ok.engine, "re2js");
  assert(ok.test("x".repeat(20)));
  assertThrows(
    () => Re2Regex.compile(unit.repeat(60)),
    InvalidRegexError,
    "error parsing regexp: expression too large",
  );
  // as long as backtracking is provably linear the RegExp takes it, whatever its size
  assertEquals(Re2Regex.compile("[a-z]{1000}".repeat(60)).engine, "regexp");
  // a pattern that falls back to the automaton on inputs with a newline is refused when compiled
  assertThrows(
    () => Re2Regex.compile("(.*):" + "[a-z]{1000}".repeat(60) + ".*"),
    InvalidRegexError,
    "error parsing regexp: expression too large",
  );
});

Deno.test("expandTemplate follows Go's Regexp.Expand", () => {
  const re = Re2Regex.compile("(?P<host>[^:]+):(?P<port>\\d+)");
  const g = re.exec("example.org:9090")!;
  const x = (t: string) => expandTemplate(t, g, re.groupNames);
  assertEquals(x("$1"), "example.org");
  assertEquals(x("${1}x"), "example.orgx");
  assertEquals(x("$1x"), ""); // the name is "1x"
  assertEquals(x("$host/$port"), "example.org/9090");
  assertEquals(x("${host}_${port}"), "example.org_9090");
  assertEquals(x("$$1"), "$1");
  assertEquals(x("${1"), "${1");
  assertEquals(x("$-"), "$-");
  assertEquals(x("$"), "$");
  assertEquals(x("$9 $nope"), " ");
  assertEquals(x("$0"), "example.org:9090");
  assertEquals(x("$01"), "example.org");
});

/** Deterministic random RE2 patterns and inputs over a small alphabet (mulberry32 PRNG). */
function randomCorpus(seed: number, patterns: number, inputs: number): [string, string[]][] {
  const rnd = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const atoms = ["a", "b", ".", "[ab]", "[^a]", "(?i:a)", "\\w", "(?s:.)", "\\b", "^", "$", "x"];
  const quants = ["", "", "*", "+", "?", "{1,2}", "*?", "+?", "??", "{2}"];
  const gen = (depth: number): string => {
    const n = 1 + Math.floor(rnd() * 3);
    let out = "";
    for (let i = 0; i < n; i++) {
      let item = pick(atoms);
      if (depth > 0 && rnd() < 0.35) {
        const inner = rnd() < 0.5 ? gen(depth - 1) : `${gen(depth - 1)}|${gen(depth - 1)}`;
        item = `${rnd() < 0.5 ? "(" : "(?:"}${inner})`;
      }
      const q = pick(quants);
      out += item === "^" || item === "$" || item === "\\b" ? item : item + q;
    }
    return out;
  };
  const alphabet = ["a", "b", "A", "x", "\n", " "];
  const out: [string, string[]][] = [];
  for (let i = 0; i < patterns; i++) {
    const p = gen(2);
    const ins: string[] = [];
    for (let k = 0; k < inputs; k++) {
      let s = "";
      const len = Math.floor(rnd() * 7);
      for (let j = 0; j < len; j++) s += pick(alphabet);
      ins.push(s);
    }
    out.push([p, ins]);
  }
  return out;
}

Deno.test("the two engines agree on random patterns and inputs (matches and submatches)", () => {
  let compared = 0;
  let safeCount = 0;
  for (const [p, inputs] of randomCorpus(7, 400, 15)) {
    const js = Re2Regex.compile(p, "regexp");
    const re2 = Re2Regex.compile(p, "re2js");
    const chosen = Re2Regex.compile(p);
    if (chosen.engine !== "re2js") safeCount++;
    for (const s of inputs) {
      assertEquals(re2.test(s), js.test(s), `${p} on ${JSON.stringify(s)}`);
      assertEquals(chosen.test(s), js.test(s), `${p} (${chosen.engine}) on ${JSON.stringify(s)}`);
      // JS resets captures per iteration and refuses empty iterations where Go does not, so
      // submatches agree only where the RegExp is used: on safe patterns and inputs
      if (chosen.engineFor(s) === "regexp") {
        assertEquals(re2.exec(s), js.exec(s), `${p} groups on ${JSON.stringify(s)}`);
        assertEquals(chosen.exec(s), js.exec(s), `${p} (${chosen.engine}) on ${JSON.stringify(s)}`);
      }
      compared++;
    }
  }
  assertEquals(compared, 6000);
  assert(safeCount > 20, `only ${safeCount} safe patterns`);
});

e2eTest(
  "label_replace submatches agree with a real Prometheus 2.42 on random patterns",
  { peers: [PROMETHEUS] },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "re2_submatch_oracle_" });
    const prom = await startPrometheus({ dataDir: `${dir}/data`, config: "global: {}\n" });
    try {
      const corpus: [string, string[]][] = [
        // JS would reset (a) on the second iteration, Go keeps the last value it took
        ["(?:(a)|b)+", ["ab", "ba", "bb"]],
        ["((a)|(b))*", ["ab", "aab", ""]],
        ["(a?)?", ["", "a"]],
        ["(a+)+$", ["aaaa", "aaa!"]],
        ...randomCorpus(11, 120, 8),
      ];
      const diffs: string[] = [];
      const tpl = "<$0|$1|$2|$3|$4>";
      for (const [pattern, inputs] of corpus) {
        const query = inputs.map((input, i) =>
          `label_replace(label_replace(label_replace(vector(1), "i", "${i}", "", ""), ` +
          `"src", ${goQuote(input)}, "", ""), "out", "${tpl}", "src", ${goQuote(pattern)})`
        ).join(" or ");
        const body = new URLSearchParams({ query, time: "1" });
        const res = await fetch(`${prom.url}/api/v1/query`, { method: "POST", body });
        const j = await res.json();
        assertEquals(j.status, "success", `${pattern}: ${JSON.stringify(j)}`);
        const theirs = new Map<string, string | undefined>();
        for (const r of j.data.result as { metric: Record<string, string> }[]) {
          theirs.set(r.metric.i, r.metric.out);
        }
        const re = Re2Regex.compile(pattern);
        inputs.forEach((input, i) => {
          const m = re.exec(input);
          const ours = m === null ? undefined : expandTemplate(tpl, m, re.groupNames);
          if (ours !== theirs.get(String(i))) {
            diffs.push(
              `${pattern} (${re.engine}) on ${JSON.stringify(input)}: ours=${ours} ` +
                `prometheus=${theirs.get(String(i))}`,
            );
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
