// The ruler's `/api/v1/rules` and `/api/v1/alerts` in Prometheus's JSON
// (https://prometheus.io/docs/prometheus/2.42/querying/api/#rules and #alerts), with Thanos's
// `partialResponseStrategy` on each group as Thanos's ruler adds it. Rule queries are printed
// as Prometheus prints the parsed expression; alert values use Go's 'e' format; times are
// RFC 3339 with nanoseconds, the zero time for "never".

import { rfc3339Nano } from "../block/shipper.ts";
import { parseExpr } from "../promql/parser.ts";
import { exprToString } from "../promql/printer.ts";
import { json, type Route } from "../server/http.ts";
import { formatFloatGoExp } from "../strconv/float.ts";
import { labelsToObject } from "../tsdb/labels.ts";
import { type Alert, AlertingRule, type Rule } from "./alerting.ts";
import type { Group, RuleManager } from "./manager.ts";
import type { Labels } from "../tsdb/series.ts";
import {
  filterRuleGroups,
  type RuleGroup,
  type RulesBackend,
  withExternalLabelsOnRules,
} from "../storeapi/rules.ts";

const ZERO_TIME = "0001-01-01T00:00:00Z";

function time(ms: number): string {
  return ms === 0 ? ZERO_TIME : rfc3339Nano(new Date(ms));
}

function printed(expr: string): string {
  try {
    // the rule files were validated with the ruler's function options; printing evaluates nothing
    return exprToString(parseExpr(expr, { xFunctions: true, experimentalFunctions: true }));
  } catch {
    return expr;
  }
}

function alertJSON(a: Alert) {
  return {
    labels: labelsToObject(a.labels),
    annotations: labelsToObject(a.annotations),
    state: a.state,
    activeAt: time(a.activeAt),
    value: formatFloatGoExp(a.value),
  };
}

function ruleJSON(r: Rule) {
  const common = {
    health: r.health,
    ...(r.lastError !== "" ? { lastError: r.lastError } : {}),
    evaluationTime: r.evaluationTime,
    lastEvaluation: time(r.lastEvaluation),
  };
  if (r instanceof AlertingRule) {
    return {
      state: r.state(),
      name: r.name,
      query: printed(r.expr),
      duration: r.holdDurationMs / 1000,
      keepFiringFor: r.keepFiringForMs / 1000,
      labels: labelsToObject(r.labels),
      annotations: labelsToObject(r.annotations),
      alerts: r.activeAlerts().map(alertJSON),
      ...common,
      type: "alerting",
    };
  }
  return {
    name: r.name,
    query: printed(r.expr),
    labels: labelsToObject(r.labels),
    ...common,
    type: "recording",
  };
}

/** The `groups` of `/api/v1/rules`; `type` = "alert" or "record" keeps one kind. */
export function rulesData(groups: readonly Group[], type?: "alert" | "record") {
  return {
    groups: groups.map((g) => ({
      name: g.name,
      file: g.file,
      rules: g.rules.filter((r) =>
        type === undefined || (type === "alert") === (r instanceof AlertingRule)
      ).map(ruleJSON),
      interval: g.intervalMs / 1000,
      limit: g.limit,
      evaluationTime: g.evaluationTime,
      lastEvaluation: time(g.lastEvaluation),
      partialResponseStrategy: g.strategy,
    })),
  };
}

/** `GET /api/v1/rules` and `GET /api/v1/alerts` over the manager's current groups. */
export function rulesRoutes(manager: () => RuleManager): Route[] {
  return [
    {
      method: ["GET", "POST"],
      path: "/api/v1/rules",
      name: "rules",
      handler: (req) => {
        const t = new URL(req.url).searchParams.get("type");
        if (t !== null && t !== "" && t !== "alert" && t !== "record") {
          return json(400, {
            status: "error",
            errorType: "bad_data",
            error: `invalid query parameter type='${t}', must be one of: alert,record`,
          });
        }
        const type = t === "alert" || t === "record" ? t : undefined;
        return json(200, { status: "success", data: rulesData(manager().groups, type) });
      },
    },
    {
      method: ["GET", "POST"],
      path: "/api/v1/alerts",
      name: "alerts",
      handler: () =>
        json(200, {
          status: "success",
          data: { alerts: manager().activeAlerts().map((x) => alertJSON(x.alert)) },
        }),
    },
  ];
}

/**
 * The ruler's `thanos.Rules/Rules` backend: the manager's groups as `/api/v1/rules` shows them,
 * filtered by the request, with the ruler's external labels on rules and alerts (Thanos's ruler
 * answers so: https://github.com/thanos-io/thanos/blob/main/pkg/rules/manager.go).
 */
export function managerRulesBackend(manager: () => RuleManager, ext: Labels): RulesBackend {
  return {
    rules: (req) => {
      const groups = rulesData(manager().groups).groups as RuleGroup[];
      return Promise.resolve({
        groups: withExternalLabelsOnRules(filterRuleGroups(groups, req), ext),
        warnings: [],
      });
    },
  };
}
