// Rules API codecs (byte layout of thanos.RulesRequest / RulesResponse), the request filters,
// external labels, the querier's merge and replica dedup, and a gRPC round trip.

import { assert, assertEquals } from "../helpers/assert.ts";
import {
  type AlertingRule,
  callRules,
  decodeRulesRequest,
  decodeRulesResponse,
  dedupRules,
  encodeRulesRequest,
  encodeRulesResponseGroup,
  encodeRulesResponseWarning,
  filterRuleGroups,
  mergeRuleGroups,
  type RecordingRule,
  type RuleGroup,
  type RulesRequest,
  serveRules,
  withExternalLabelsOnRules,
} from "../../storeapi/rules.ts";
import { StoreServer } from "../../storeapi/server.ts";
import { StoreClient } from "../../storeapi/client.ts";

const T1 = "2026-01-02T03:04:05.123456789Z";
const T2 = "2026-01-02T03:04:35.5Z";

function alert(
  name: string,
  labels: Record<string, string>,
  state: AlertingRule["state"] = "firing",
  lastEvaluation = T1,
): AlertingRule {
  return {
    type: "alerting",
    state,
    name,
    query: "vector(1)",
    duration: 60,
    labels,
    annotations: { summary: "s" },
    alerts: state === "inactive" ? [] : [{
      labels: { alertname: name, ...labels },
      annotations: { summary: "s" },
      state,
      activeAt: T1,
      value: "1e+00",
      partialResponseStrategy: "WARN",
    }],
    health: "ok",
    evaluationTime: 0.001,
    lastEvaluation,
    keepFiringFor: 0,
  };
}

function rec(name: string, labels: Record<string, string>, lastEvaluation = T1): RecordingRule {
  return {
    type: "recording",
    name,
    query: "sum(up)",
    labels,
    health: "ok",
    evaluationTime: 0.5,
    lastEvaluation,
  };
}

function group(name: string, file: string, rules: RuleGroup["rules"]): RuleGroup {
  return {
    name,
    file,
    rules,
    interval: 15,
    limit: 0,
    evaluationTime: 0.25,
    lastEvaluation: T2,
    partialResponseStrategy: "WARN",
  };
}

const ALL: RulesRequest = { type: "all", partialResponseStrategy: 0 };

Deno.test("RulesRequest: field numbers as rpc.proto (type=1, partial=2, name=4, group=5, file=6)", () => {
  const req: RulesRequest = {
    type: "alert",
    partialResponseStrategy: 1,
    matchers: ['{a="b"}'],
    ruleName: ["x"],
    ruleGroup: ["g"],
    file: ["f"],
  };
  const b = encodeRulesRequest(req);
  assertEquals(
    [...b],
    [
      0x08,
      1,
      0x10,
      1,
      0x1a,
      7,
      ...new TextEncoder().encode('{a="b"}'),
      0x22,
      1,
      0x78,
      0x2a,
      1,
      0x67,
      0x32,
      1,
      0x66,
    ],
  );
  assertEquals(decodeRulesRequest(b), req);
  assertEquals(decodeRulesRequest(new Uint8Array(0)).type, "all");
  assertEquals(decodeRulesRequest(new Uint8Array([0x08, 2])).type, "record");
});

Deno.test("RulesResponse: a group round-trips, times keep nanoseconds, the zero time survives", () => {
  const g = group("g1", "/etc/rules.yaml", [
    alert("A", { severity: "page" }),
    rec("r:sum", {}, "0001-01-01T00:00:00Z"),
    { ...rec("r:err", { x: "y" }), health: "err", lastError: "boom" },
  ]);
  const back = decodeRulesResponse(encodeRulesResponseGroup(g));
  assert(back !== null && "group" in back);
  assertEquals(back.group, g);
  const w = decodeRulesResponse(encodeRulesResponseWarning("careful"));
  assertEquals(w, { warning: "careful" });
});

Deno.test("RulesResponse: the Timestamp of a group is google.protobuf.Timestamp (1: seconds, 2: nanos)", () => {
  const g = group("g", "f", []);
  g.lastEvaluation = "1970-01-01T00:00:10.000000005Z";
  const b = encodeRulesResponseGroup(g);
  // group(1) { name(1) "g", file(2) "f", interval(4) double, evaluation(5) double, last_evaluation(6) {…} }
  const at = b.indexOf(0x32);
  assertEquals([...b.subarray(at, at + 6)], [0x32, 4, 0x08, 10, 0x10, 5]);
});

Deno.test("filterRuleGroups: type, rule_name[], rule_group[], file[] as Prometheus filters", () => {
  const gs = [
    group("g1", "a.yaml", [alert("A", {}), rec("r1", {})]),
    group("g2", "b.yaml", [rec("r2", {})]),
  ];
  const names = (x: RuleGroup[]) => x.map((g) => `${g.name}:${g.rules.map((r) => r.name)}`);
  assertEquals(names(filterRuleGroups(gs, ALL)), ["g1:A,r1", "g2:r2"]);
  // a type filter keeps groups that end up empty (rpc.proto's note)
  assertEquals(names(filterRuleGroups(gs, { ...ALL, type: "alert" })), ["g1:A", "g2:"]);
  assertEquals(names(filterRuleGroups(gs, { ...ALL, type: "record" })), ["g1:r1", "g2:r2"]);
  // a rule_name filter drops groups with no matching rule
  assertEquals(names(filterRuleGroups(gs, { ...ALL, ruleName: ["r2"] })), ["g2:r2"]);
  assertEquals(names(filterRuleGroups(gs, { ...ALL, ruleGroup: ["g1"] })), ["g1:A,r1"]);
  assertEquals(names(filterRuleGroups(gs, { ...ALL, file: ["b.yaml"] })), ["g2:r2"]);
  assertEquals(names(filterRuleGroups(gs, { ...ALL, file: ["c.yaml"] })), []);
});

Deno.test("withExternalLabelsOnRules: rule and alert labels get the external labels (which win)", () => {
  const [g] = withExternalLabelsOnRules([group("g", "f", [alert("A", { replica: "x", s: "1" })])], [
    "replica",
    "a",
  ]);
  const r = g.rules[0] as AlertingRule;
  assertEquals(r.labels, { replica: "a", s: "1" });
  assertEquals(r.alerts[0].labels, { alertname: "A", replica: "a", s: "1" });
  assertEquals(Object.keys(r.labels), ["replica", "s"]);
});

Deno.test("mergeRuleGroups: an HA pair's groups become one, each rule once without replica labels", () => {
  const a = group("g", "f", [
    alert("A", { replica: "a", sev: "1" }, "pending"),
    rec("r", { replica: "a" }, T1),
  ]);
  const b = group("g", "f", [
    alert("A", { replica: "b", sev: "1" }, "firing"),
    rec("r", { replica: "b" }, T2),
  ]);
  const other = group("h", "f", [rec("r", { replica: "a" })]);
  const merged = mergeRuleGroups([other, a, b], ["replica"]);
  assertEquals(merged.map((g) => g.name), ["g", "h"]);
  const g = merged[0];
  assertEquals(g.rules.map((r) => [r.type, r.name, r.labels]), [
    ["alerting", "A", { sev: "1" }],
    ["recording", "r", {}],
  ]);
  // the firing alert wins over the pending one; the later evaluation wins among recordings
  assertEquals((g.rules[0] as AlertingRule).state, "firing");
  assertEquals(g.rules[1].lastEvaluation, T2);
  // without replica labels nothing is merged
  assertEquals(mergeRuleGroups([a, b], [])[0].rules.length, 4);
  // a group of the same name in another file stays apart (Thanos's key: file;name)
  const elsewhere = group("g", "other.yaml", [rec("r", { replica: "a" })]);
  assertEquals(mergeRuleGroups([a, elsewhere], ["replica"]).map((g) => g.file), [
    "f",
    "other.yaml",
  ]);
  // rules that differ in another label are kept apart
  const c = group("g", "f", [alert("A", { replica: "b", sev: "2" })]);
  assertEquals(mergeRuleGroups([a, c], ["replica"])[0].rules.length, 3);
});

Deno.test("dedupRules: alerting rules sort before recording rules, then by name", () => {
  const out = dedupRules([rec("b", {}), alert("z", {}), rec("a", {}), alert("c", {})], []);
  assertEquals(out.map((r) => r.name), ["c", "z", "a", "b"]);
});

Deno.test("serveRules/callRules: a gRPC round trip with warnings and the request passed on", async () => {
  let seen: RulesRequest | undefined;
  const server = new StoreServer({
    info: () => Promise.resolve({ componentType: "rule", labelSets: [], minTime: 0, maxTime: 0 }),
    series: async function* () {},
    labelNames: () => Promise.resolve({ names: [], warnings: [] }),
    labelValues: () => Promise.resolve({ values: [], warnings: [] }),
  }, { serving: true });
  serveRules(server.grpc, {
    rules: (req) => {
      seen = req;
      return Promise.resolve({
        groups: filterRuleGroups([group("g", "f", [alert("A", {}), rec("r", {})])], req),
        warnings: ["w1"],
      });
    },
  });
  const { port } = await server.listen("127.0.0.1", 0);
  const client = new StoreClient(`127.0.0.1:${port}`, { timeoutMs: 10_000 });
  try {
    const r = await callRules(client, { ...ALL, type: "record", ruleName: ["r"] });
    assertEquals(seen?.ruleName, ["r"]);
    assertEquals(r.warnings, ["w1"]);
    assertEquals(r.groups.map((g) => g.rules.map((x) => x.name)), [["r"]]);
  } finally {
    client.close();
    await server.close();
  }
});
