// RE2 → JavaScript translation and the linear-time engine behind re2/regex.ts: Go's regexp
// semantics as Prometheus 2.42 anchors them (shared table, through both engines), Go's error
// messages for invalid RE2, capture groups for label_replace, and a differential check against
// a real Prometheus when present.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { InvalidRegexError } from "../../re2/parser.ts";
import { translateRe2 } from "../../re2/translate.ts";
import { Re2Regex } from "../../re2/regex.ts";
import { goQuote } from "../../strconv/quote.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { LIMIT_CASES, REGEX_CASES, REJECTED_CASES } from "../helpers/re2_cases.ts";
import { parseExpr } from "../../promql/parser.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS, startPrometheus } from "../helpers/prometheus.ts";

Deno.test("both engines follow Prometheus 2.42 RE2 semantics on a table of cases", () => {
  for (const [pattern, input, want] of REGEX_CASES) {
    for (const engine of [undefined, "regexp", "re2js"] as const) {
      assertEquals(
        Re2Regex.compile(pattern, engine).test(input),
        want,
        `${pattern} on ${JSON.stringify(input)} (${engine ?? "chosen"})`,
      );
    }
  }
});

Deno.test("RE2 syntax that JS accepts but RE2 rejects fails with Prometheus's message", () => {
  for (const [pattern, msg] of REJECTED_CASES) {
    assertThrows(() => translateRe2(pattern), InvalidRegexError, `error parsing regexp: ${msg}`);
    assertThrows(
      () => Re2Regex.compile(pattern),
      InvalidRegexError,
      `error parsing regexp: ${msg}`,
    );
  }
});

Deno.test("translateRe2 keeps capture groups in Go's numbering for label_replace", () => {
  const t = translateRe2("(?P<host>[^:]+):(\\d+)");
  assertEquals(t.groupNames, ["", "host", ""]);
  const m = new RegExp(`^(?:${t.source})$`, "u").exec("example.org:9090");
  assert(m !== null);
  assertEquals([m[1], m[2]], ["example.org", "9090"]);
  assert(Re2Regex.compile("a.c").test("abc"));
  assert(!Re2Regex.compile("a.c").test("abcd"));
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
  "translated regexes and regex matchers agree with a real Prometheus 2.42 on every table case",
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
        const re = Re2Regex.compile(pattern);
        inputs.forEach((input, i) => {
          const theirs = got.get(String(i));
          if (theirs !== m.matches(input)) {
            diffs.push(`${pattern} on ${JSON.stringify(input)}: prometheus=${theirs}`);
          }
          if (theirs !== re.test(input)) {
            diffs.push(`${pattern} on ${JSON.stringify(input)}: prometheus=${theirs} (translated)`);
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

Deno.test("patterns at Go's repetition and nesting limits compile; deeper nesting is refused", () => {
  for (const p of LIMIT_CASES) Re2Regex.compile(p);
  for (const n of [1200, 5000, 100_000]) {
    for (const open of ["(", "(?:", "(?:a|"]) {
      const p = open.repeat(n) + "a" + ")".repeat(n);
      assertThrows(() => Re2Regex.compile(p), InvalidRegexError, "expression nests too deeply");
      assertThrows(
        () => new Matcher(MatchType.Regexp, "l", p),
        InvalidRegexError,
        "expression nests too deeply",
      );
    }
  }
});

e2eTest(
  "invalid patterns and Go's limits give Prometheus 2.42's parse errors in matchers",
  { peers: [PROMETHEUS] },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "re2_reject_oracle_" });
    const prom = await startPrometheus({ dataDir: `${dir}/data`, config: "global: {}\n" });
    try {
      const diffs: string[] = [];
      const patterns = [...REJECTED_CASES.map(([p]) => p), ...LIMIT_CASES];
      for (const p of patterns) {
        const q = `{__name__=~${goQuote(p)}}`;
        const body = new URLSearchParams({ query: q, time: "1" });
        const j = await (await fetch(`${prom.url}/api/v1/query`, { method: "POST", body })).json();
        const theirs = j.status === "success"
          ? "ok"
          : String(j.error ?? "").replace(/^invalid parameter "query": /, "");
        let mine = "ok";
        try {
          parseExpr(q);
        } catch (e) {
          mine = (e as Error).message;
        }
        if (mine !== theirs) diffs.push(`${p.slice(0, 40)}: ours ${mine} / theirs ${theirs}`);
      }
      assertEquals(diffs, []);
    } finally {
      await prom.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
