// Wire compatibility of the Rules, Targets, Metadata and Exemplars codecs with an independent
// protobuf implementation: protobufjs compiling storeapi/proto/{rules,targets,metadata,exemplars}
// .proto (Thanos's definitions) decodes what we encode, and we decode what it encodes, field by
// field.

// deno-lint-ignore-file no-explicit-any
import { assertEquals } from "../helpers/assert.ts";
import {
  type AlertingRule,
  decodeRulesRequest,
  decodeRulesResponse,
  encodeRulesRequest,
  encodeRulesResponseGroup,
  type RuleGroup,
} from "../../storeapi/rules.ts";
import {
  decodeTargetsRequest,
  decodeTargetsResponse,
  encodeTargetsResponse,
  type TargetDiscovery,
} from "../../storeapi/targets.ts";
import {
  decodeExemplarsRequest,
  decodeExemplarsResponse,
  encodeExemplarsResponse,
} from "../../storeapi/exemplars.ts";
import {
  decodeMetadataRequest,
  decodeMetadataResponse,
  encodeMetadataResponse,
} from "../../storeapi/metadata.ts";

// a computed specifier keeps protobufjs's @types/node out of type checking (as interop_test.ts)
const PROTOBUFJS = "npm:protobufjs@7.6.6";
const protobuf: any = (await import(PROTOBUFJS)).default;
const PROTO_DIR = new URL("../../storeapi/proto/", import.meta.url).pathname;
const root: any = protobuf.loadSync(
  ["rules.proto", "targets.proto", "metadata.proto", "exemplars.proto"].map((f) => PROTO_DIR + f),
);
const T = {
  RulesRequest: root.lookupType("thanos.RulesRequest"),
  RulesResponse: root.lookupType("thanos.RulesResponse"),
  TargetsRequest: root.lookupType("thanos.TargetsRequest"),
  TargetsResponse: root.lookupType("thanos.TargetsResponse"),
  MetadataRequest: root.lookupType("thanos.MetricMetadataRequest"),
  MetadataResponse: root.lookupType("thanos.MetricMetadataResponse"),
  ExemplarsRequest: root.lookupType("thanos.ExemplarsRequest"),
  ExemplarsResponse: root.lookupType("thanos.ExemplarsResponse"),
};
const OBJ = { longs: Number, enums: String, defaults: false };

/** protobufjs's encoding of a plain object (enums by name, as `fromObject` takes them). */
function pb(type: any, obj: unknown): Uint8Array {
  return type.encode(type.fromObject(obj)).finish();
}

const group: RuleGroup = {
  name: "g",
  file: "/r.yml",
  rules: [
    {
      type: "alerting",
      state: "firing",
      name: "A",
      query: "vector(1)",
      duration: 90,
      labels: { severity: "page", replica: "a" },
      annotations: { summary: "s" },
      alerts: [{
        labels: { alertname: "A" },
        annotations: {},
        state: "firing",
        activeAt: "2026-01-02T03:04:05.25Z",
        value: "1e+00",
        partialResponseStrategy: "ABORT",
      }],
      health: "ok",
      lastError: "e",
      evaluationTime: 0.5,
      lastEvaluation: "2026-01-02T03:04:06Z",
      keepFiringFor: 30,
    },
    {
      type: "recording",
      name: "r",
      query: "sum(up)",
      labels: {},
      health: "err",
      lastError: "boom",
      evaluationTime: 0.25,
      lastEvaluation: "0001-01-01T00:00:00Z",
    },
  ],
  interval: 15,
  limit: 7,
  evaluationTime: 1.5,
  lastEvaluation: "2026-01-02T03:04:07.000000001Z",
  partialResponseStrategy: "ABORT",
};

Deno.test("Rules: protobufjs reads our RulesResponse field by field", () => {
  const m = T.RulesResponse.toObject(
    T.RulesResponse.decode(encodeRulesResponseGroup(group)),
    OBJ,
  );
  const g = m.group;
  assertEquals([g.name, g.file, g.interval, g.evaluationDurationSeconds, g.limit], [
    "g",
    "/r.yml",
    15,
    1.5,
    7,
  ]);
  assertEquals(g.PartialResponseStrategy, "ABORT");
  assertEquals(g.lastEvaluation, { seconds: 1767323047, nanos: 1 });
  const a = g.rules[0].alert;
  assertEquals([a.state, a.name, a.query, a.durationSeconds, a.keepFiringForSeconds], [
    "FIRING",
    "A",
    "vector(1)",
    90,
    30,
  ]);
  assertEquals(a.labels.labels, [
    { name: "replica", value: "a" },
    { name: "severity", value: "page" },
  ]);
  assertEquals([a.health, a.lastError, a.evaluationDurationSeconds], ["ok", "e", 0.5]);
  assertEquals(a.alerts[0].activeAt, { seconds: 1767323045, nanos: 250_000_000 });
  assertEquals([a.alerts[0].state, a.alerts[0].value, a.alerts[0].PartialResponseStrategy], [
    "FIRING",
    "1e+00",
    "ABORT",
  ]);
  const r = g.rules[1].recording;
  assertEquals([r.name, r.query, r.health, r.lastError], ["r", "sum(up)", "err", "boom"]);
  assertEquals(r.lastEvaluation, { seconds: -62135596800 });
});

Deno.test("Rules: we read protobufjs's RulesResponse and RulesRequest", () => {
  const bytes = pb(T.RulesResponse, {
    group: {
      name: "g",
      file: "f",
      interval: 30,
      lastEvaluation: { seconds: 10, nanos: 5 },
      rules: [{
        alert: {
          state: "PENDING",
          name: "A",
          durationSeconds: 60,
          labels: { labels: [{ name: "a", value: "1" }] },
          alerts: [{ state: "PENDING", activeAt: { seconds: 1 }, value: "2" }],
        },
      }, { recording: { name: "r", query: "up" } }],
    },
  });
  const f = decodeRulesResponse(bytes)!;
  if (!("group" in f)) throw new Error("no group");
  assertEquals(f.group.lastEvaluation, "1970-01-01T00:00:10.000000005Z");
  const a = f.group.rules[0] as AlertingRule;
  assertEquals([a.state, a.name, a.duration, a.labels], ["pending", "A", 60, { a: "1" }]);
  assertEquals(a.alerts[0].activeAt, "1970-01-01T00:00:01Z");
  assertEquals(f.group.rules[1].name, "r");
  assertEquals(decodeRulesResponse(pb(T.RulesResponse, { warning: "w" })), { warning: "w" });

  const req = decodeRulesRequest(pb(T.RulesRequest, {
    type: "RECORD",
    partialResponseStrategy: "ABORT",
    matcherString: ['{a="b"}'],
    ruleName: ["x"],
    ruleGroup: ["g"],
    file: ["f"],
  }));
  assertEquals(req, {
    type: "record",
    partialResponseStrategy: 1,
    matchers: ['{a="b"}'],
    ruleName: ["x"],
    ruleGroup: ["g"],
    file: ["f"],
  });
  const back = T.RulesRequest.toObject(T.RulesRequest.decode(encodeRulesRequest(req)), OBJ);
  assertEquals(back.type, "RECORD");
  assertEquals(back.ruleName, ["x"]);
});

Deno.test("Targets: both directions agree", () => {
  const d: TargetDiscovery = {
    activeTargets: [{
      discoveredLabels: { __address__: "h:1" },
      labels: { instance: "h:1", job: "j" },
      scrapePool: "j",
      scrapeUrl: "http://h:1/metrics",
      globalUrl: "http://g:1/metrics",
      lastError: "",
      lastScrape: "2026-01-02T03:04:05.5Z",
      lastScrapeDuration: 0.01,
      health: "up",
    }],
    droppedTargets: [{ discoveredLabels: { __address__: "h:2" } }],
  };
  const m = T.TargetsResponse.toObject(T.TargetsResponse.decode(encodeTargetsResponse(d)), OBJ);
  const t = m.targets.activeTargets[0];
  assertEquals([t.scrapePool, t.scrapeUrl, t.globalUrl, t.health, t.lastScrapeDuration], [
    "j",
    "http://h:1/metrics",
    "http://g:1/metrics",
    "UP",
    0.01,
  ]);
  assertEquals(t.lastScrape, { seconds: 1767323045, nanos: 500_000_000 });
  assertEquals(t.labels.labels, [{ name: "instance", value: "h:1" }, {
    name: "job",
    value: "j",
  }]);
  assertEquals(m.targets.droppedTargets[0].discoveredLabels.labels, [{
    name: "__address__",
    value: "h:2",
  }]);
  const ours = decodeTargetsResponse(pb(T.TargetsResponse, {
    targets: {
      activeTargets: [{
        scrapeUrl: "u",
        health: "UNKNOWN",
        lastScrape: { seconds: 0 },
        labels: { labels: [{ name: "a", value: "b" }] },
      }],
    },
  }))!;
  if (!("targets" in ours)) throw new Error("no targets");
  assertEquals(ours.targets.activeTargets[0].health, "unknown");
  assertEquals(ours.targets.activeTargets[0].labels, { a: "b" });
  assertEquals(ours.targets.activeTargets[0].lastScrape, "1970-01-01T00:00:00Z");
  assertEquals(decodeTargetsRequest(pb(T.TargetsRequest, { state: "ACTIVE" })).state, "active");
});

Deno.test("Metadata: the map and the int32 limit agree both ways", () => {
  const m = T.MetadataResponse.toObject(
    T.MetadataResponse.decode(
      encodeMetadataResponse({ up: [{ type: "gauge", help: "Up.", unit: "" }] }),
    ),
    OBJ,
  );
  assertEquals(m.metadata.metadata.up.metas, [{ type: "gauge", help: "Up." }]);
  const ours = decodeMetadataResponse(pb(T.MetadataResponse, {
    metadata: {
      metadata: {
        a: { metas: [{ type: "counter", help: "A.", unit: "s" }] },
        b: { metas: [] },
      },
    },
  }));
  assertEquals(ours, {
    metadata: { a: [{ type: "counter", help: "A.", unit: "s" }], b: [] },
  });
  const req = decodeMetadataRequest(pb(T.MetadataRequest, { metric: "up", limit: -1 }));
  assertEquals([req.metric, req.limit], ["up", -1]);
});

Deno.test("Exemplars: both directions agree (negative int64 start too)", () => {
  const m = T.ExemplarsResponse.toObject(
    T.ExemplarsResponse.decode(encodeExemplarsResponse({
      seriesLabels: { __name__: "x", job: "j" },
      exemplars: [{ labels: { trace_id: "t" }, value: 2.5, ts: 1700000000123 }],
    })),
    OBJ,
  );
  assertEquals(m.data.seriesLabels.labels, [{ name: "__name__", value: "x" }, {
    name: "job",
    value: "j",
  }]);
  assertEquals(m.data.exemplars[0].value, 2.5);
  assertEquals(m.data.exemplars[0].ts, 1700000000123);
  const ours = decodeExemplarsResponse(pb(T.ExemplarsResponse, {
    data: {
      seriesLabels: { labels: [{ name: "a", value: "b" }] },
      exemplars: [{ value: 1, ts: 5 }],
    },
  }));
  assertEquals(ours, {
    data: { seriesLabels: { a: "b" }, exemplars: [{ labels: {}, value: 1, ts: 5 }] },
  });
  const req = decodeExemplarsRequest(pb(T.ExemplarsRequest, {
    query: "up",
    start: -1000,
    end: 2000,
    partialResponseStrategy: "ABORT",
  }));
  assertEquals(req, { query: "up", start: -1000, end: 2000, partialResponseStrategy: 1 });
});
