// The querier's /api/v1/rules, /alerts, /targets and /metadata over fake endpoints that answer
// with encoded gRPC frames: fan-out to the endpoints advertising each API, merge, replica dedup,
// filters, and partial response (warning) versus abort (error).

import { assert, assertEquals } from "../helpers/assert.ts";
import { directRequestInfo, type Route } from "../../server/http.ts";
import { rulesApiRoutes } from "../../query/rules_api.ts";
import type { AdvertisedApi, ApiEndpoint } from "../../query/endpoints.ts";
import {
  type AlertingRule,
  decodeRulesRequest,
  encodeRulesResponseGroup,
  filterRuleGroups,
  type RuleGroup,
  RULES_METHOD,
} from "../../storeapi/rules.ts";
import {
  type ActiveTarget,
  decodeTargetsRequest,
  encodeTargetsResponse,
  filterTargets,
  TARGETS_METHOD,
} from "../../storeapi/targets.ts";
import {
  decodeMetadataRequest,
  encodeMetadataResponse,
  METADATA_METHOD,
} from "../../storeapi/metadata.ts";

const T = "2026-01-02T03:04:05Z";

function groups(replica: string): RuleGroup[] {
  const alert: AlertingRule = {
    type: "alerting",
    state: "firing",
    name: "AlwaysFiring",
    query: "vector(1)",
    duration: 0,
    labels: { replica, severity: "page" },
    annotations: {},
    alerts: [{
      labels: { alertname: "AlwaysFiring", replica, severity: "page" },
      annotations: {},
      state: "firing",
      activeAt: T,
      value: "1e+00",
    }],
    health: "ok",
    evaluationTime: 0,
    lastEvaluation: T,
  };
  return [{
    name: "g",
    file: "/r.yaml",
    rules: [alert, {
      type: "recording",
      name: "job:up:sum",
      query: "sum by (job) (up)",
      labels: { replica },
      health: "ok",
      evaluationTime: 0,
      lastEvaluation: T,
    }],
    interval: 15,
    evaluationTime: 0,
    lastEvaluation: T,
  }];
}

function target(replica: string): ActiveTarget {
  return {
    discoveredLabels: { __address__: "h:1", replica },
    labels: { instance: "h:1", job: "p", replica },
    scrapePool: "p",
    scrapeUrl: "http://h:1/metrics",
    globalUrl: "http://h:1/metrics",
    lastError: "",
    lastScrape: T,
    lastScrapeDuration: 0.01,
    health: "up",
  };
}

/** An endpoint answering all three APIs for one replica, or failing. */
function endpoint(name: string, replica: string, fail = false): ApiEndpoint {
  return {
    name,
    client: {
      stream: async function* (path, req) {
        await Promise.resolve();
        if (fail) throw new Error("connection refused");
        if (path === RULES_METHOD) {
          for (const g of filterRuleGroups(groups(replica), decodeRulesRequest(req))) {
            yield encodeRulesResponseGroup(g);
          }
        } else if (path === TARGETS_METHOD) {
          const st = decodeTargetsRequest(req).state;
          yield encodeTargetsResponse(filterTargets({
            activeTargets: [target(replica)],
            droppedTargets: [{ discoveredLabels: { __address__: "h:9", replica } }],
          }, st));
        } else if (path === METADATA_METHOD) {
          const limit = decodeMetadataRequest(req).limit;
          const all = {
            up: [{ type: "gauge", help: "Up.", unit: "" }],
            [`only_${replica}`]: [{ type: "counter", help: "x", unit: "" }],
          };
          yield encodeMetadataResponse(limit === 1 ? { up: all.up } : all);
        }
      },
    },
  };
}

function api(eps: ApiEndpoint[], partialResponse = true): Route[] {
  return rulesApiRoutes({
    endpoints: (_: AdvertisedApi) => eps,
    replicaLabels: ["replica"],
    partialResponse,
  });
}

async function get(routes: Route[], url: string) {
  const path = new URL(url, "http://x").pathname;
  const route = routes.find((r) => r.path === path)!;
  const req = new Request(`http://x${url}`);
  const res = await route.handler(req, {}, directRequestInfo(req));
  return { status: res.status, body: await res.json() };
}

const PAIR = () => [endpoint("a:1", "a"), endpoint("b:1", "b")];

Deno.test("/api/v1/rules: an HA pair's rules once each, replica labels gone", async () => {
  const r = await get(api(PAIR()), "/api/v1/rules");
  assertEquals(r.status, 200);
  const g = r.body.data.groups;
  assertEquals(g.length, 1);
  assertEquals(g[0].rules.map((x: { name: string }) => x.name), ["AlwaysFiring", "job:up:sum"]);
  assertEquals(g[0].rules[0].labels, { severity: "page" });
  assertEquals(g[0].partialResponseStrategy, "WARN");
  assertEquals(r.body.warnings, undefined);
});

Deno.test("/api/v1/rules: type and rule_name[] filters; a bad type is bad_data", async () => {
  const rec = await get(api(PAIR()), "/api/v1/rules?type=record");
  assertEquals(rec.body.data.groups[0].rules.map((x: { type: string }) => x.type), ["recording"]);
  const byName = await get(api(PAIR()), "/api/v1/rules?rule_name[]=nope");
  assertEquals(byName.body.data.groups, []);
  const bad = await get(api(PAIR()), "/api/v1/rules?type=foo");
  assertEquals(bad.status, 400);
  assertEquals(bad.body.errorType, "bad_data");
});

Deno.test("/api/v1/alerts: the firing alert once", async () => {
  const r = await get(api(PAIR()), "/api/v1/alerts");
  assertEquals(r.body.data.alerts.length, 1);
  assertEquals(r.body.data.alerts[0].labels.alertname, "AlwaysFiring");
  assertEquals(r.body.data.alerts[0].state, "firing");
});

Deno.test("partial response: a failed endpoint is a warning, or the error when disabled", async () => {
  const eps = [endpoint("a:1", "a"), endpoint("down:1", "b", true)];
  const warn = await get(api(eps), "/api/v1/rules");
  assertEquals(warn.status, 200);
  assertEquals(warn.body.data.groups.length, 1);
  assert(warn.body.warnings[0].includes("down:1"), warn.body.warnings[0]);
  const abort = await get(api(eps), "/api/v1/rules?partial_response=false");
  assertEquals(abort.status, 500);
  assert(abort.body.error.includes("connection refused"), abort.body.error);
  const byFlag = await get(api(eps, false), "/api/v1/targets");
  assertEquals(byFlag.status, 500);
});

Deno.test("/api/v1/targets: deduplicated; state filter; bad state is bad_data", async () => {
  const all = await get(api(PAIR()), "/api/v1/targets");
  assertEquals(all.body.data.activeTargets.length, 1);
  assertEquals(all.body.data.activeTargets[0].labels, { instance: "h:1", job: "p" });
  assertEquals(all.body.data.droppedTargets.length, 1);
  const active = await get(api(PAIR()), "/api/v1/targets?state=active");
  assertEquals(active.body.data.droppedTargets, []);
  const bad = await get(api(PAIR()), "/api/v1/targets?state=sleeping");
  assertEquals(bad.status, 400);
});

Deno.test("/api/v1/metadata: merged, limit passed on and applied; bad limit is bad_data", async () => {
  const all = await get(api(PAIR()), "/api/v1/metadata");
  assertEquals(Object.keys(all.body.data), ["only_a", "only_b", "up"]);
  assertEquals(all.body.data.up, [{ type: "gauge", help: "Up.", unit: "" }]);
  const one = await get(api(PAIR()), "/api/v1/metadata?limit=1");
  assertEquals(Object.keys(one.body.data), ["up"]);
  const bad = await get(api(PAIR()), "/api/v1/metadata?limit=x");
  assertEquals(bad.status, 400);
  const none = await get(api([]), "/api/v1/metadata");
  assertEquals(none.body.data, {});
});

Deno.test("/api/v1/rules: match[] keeps rules whose labels match; a bad selector is bad_data", async () => {
  const r = await get(
    api(PAIR()),
    `/api/v1/rules?match[]=${encodeURIComponent('{severity="page"}')}`,
  );
  assertEquals(
    r.body.data.groups.map((g: { rules: { name: string }[] }) => g.rules.map((x) => x.name)),
    [[
      "AlwaysFiring",
    ]],
  );
  const none = await get(
    api(PAIR()),
    `/api/v1/rules?match[]=${encodeURIComponent('{severity="x"}')}`,
  );
  assertEquals(none.body.data.groups, []);
  const bad = await get(api(PAIR()), `/api/v1/rules?match[]=${encodeURIComponent("{a=")}`);
  assertEquals(bad.status, 400);
  assertEquals(bad.body.errorType, "bad_data");
});
