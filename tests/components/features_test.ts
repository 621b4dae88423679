// `--enable-feature` (components/features.ts): Thanos v0.42's feature names per role; a name
// whose feature is not in this build is refused at start on one line (exit 2), no-op names and
// unknown names are accepted and logged, as the real CLI shows.

import { assert, assertEquals } from "../helpers/assert.ts";
import { prepareRole } from "../../main.ts";
import { featureCheck, featureNames, QUERY_FEATURES } from "../../components/features.ts";
import { findCommand } from "../../components/commands.ts";
import { noEffectNotes, parseFlags } from "../../components/flags.ts";
import { startComponent } from "../helpers/thanos.ts";

Deno.test("feature names are split at commas, trimmed, empty ones dropped", () => {
  assertEquals(featureNames(["a,b", " c ", "", "d,,"]), ["a", "b", "c", "d"]);
});

Deno.test("query's feature table: accepts experimental functions, notes no-ops and unknowns", () => {
  const check = featureCheck(QUERY_FEATURES);
  const r = check(["promql-at-modifier", "promql-experimental-functions"]);
  assertEquals(r.refuse, undefined);
  assert(r.notes![1].includes("Experimental PromQL functions enabled"), JSON.stringify(r));
  const ok = check(["promql-at-modifier,promql-negative-offset", "query-pushdown", "bogus"]);
  assertEquals(ok.refuse, undefined);
  assertEquals(ok.notes?.length, 4);
  assert(ok.notes![0].includes("permanently enabled"), ok.notes![0]);
  assert(ok.notes![2].includes("deprecated and therefore ignored"), ok.notes![2]);
  assert(ok.notes![3].startsWith("--enable-feature=bogus is not a feature name"), ok.notes![3]);
  assertEquals(check([""]), { notes: [] });
});

Deno.test("the launcher refuses a feature not in this build on each role, one line, code 2", async () => {
  const cases: [string[], string][] = [
    [["receive", "--enable-feature=metric-names-filter"], "metric-names-filter"],
    [["receive", "--enable-feature=x,metric-names-filter"], "metric-names-filter"],
  ];
  for (const [argv, want] of cases) {
    const r = await prepareRole(argv);
    assert("kind" in r, `${argv.join(" ")} was accepted`);
    assertEquals(r.code, 2, r.text);
    assertEquals(r.text.split("\n").length, 1, r.text);
    assert(r.text.includes("--enable-feature=") && r.text.includes(want), r.text);
    assert(r.text.includes("not supported by this build"), r.text);
  }
  for (
    const argv of [
      ["query", "--enable-feature=query-pushdown"],
      ["rule", "--enable-feature="],
      ["query", "--enable-feature=promql-at-modifier,promql-experimental-functions"],
      ["rule", "--enable-feature=promql-experimental-functions"],
      ["query-frontend", "--enable-feature=promql-experimental-functions"],
    ]
  ) {
    const r = await prepareRole(argv);
    assert(!("kind" in r), `${argv.join(" ")}: ${"kind" in r ? r.text : ""}`);
  }
  const spec = findCommand(["rule"])!;
  assertEquals(noEffectNotes(spec, parseFlags(spec, ["--enable-feature=x"])).length, 1);
});

Deno.test({
  name:
    "thanos query with accepted feature names starts and logs each; experimental and x-functions answer",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const q = await startComponent("query", [
      "--enable-feature=promql-at-modifier",
      "--enable-feature=query-pushdown,unknown-thing",
    ], { name: "query-features" });
    try {
      const r = await fetch(
        `${q.http}/api/v1/query?query=${
          encodeURIComponent("absent(nothing @ 50 offset -1m)")
        }&time=100`,
      );
      assertEquals(r.status, 200, await r.text());
    } finally {
      await q.stop();
    }
    const logs = q.logs();
    assert(logs.includes("promql-at-modifier: this option for --enable-feature is now"), logs);
    assert(logs.includes("query-pushdown: this option"), logs);
    assert(logs.includes("--enable-feature=unknown-thing is not a feature name"), logs);

    // the experimental functions and the x-functions through the real CLI (and its workers)
    const x = await startComponent("query", [
      "--enable-feature=promql-experimental-functions",
      "--query.enable-x-functions",
      "--query.promql-engine=thanos",
      "--log.level=info",
    ], { name: "query-x-functions" });
    try {
      for (
        const expr of [
          'sort_by_label(vector(1), "a")',
          "limitk(1, vector(2))",
          "xrate(nothing[5m])",
        ]
      ) {
        const r = await fetch(`${x.http}/api/v1/query?query=${encodeURIComponent(expr)}&time=100`);
        assertEquals(r.status, 200, `${expr}: ${await r.text()}`);
      }
      const r = await fetch(
        `${x.http}/api/v1/query?query=${
          encodeURIComponent("xrate(nothing[5m])")
        }&engine=prometheus`,
      );
      const body = await r.json();
      assertEquals(r.status, 400);
      assert(body.error.includes('unknown function with name "xrate"'), body.error);
    } finally {
      await x.stop();
    }
    const xlogs = x.logs();
    assert(xlogs.includes("Experimental PromQL functions enabled"), xlogs);
    assert(xlogs.includes("--query.promql-engine=thanos: this build evaluates every query"), xlogs);
  },
});
