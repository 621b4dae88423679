// The querier's `/api/v1/rules`, `/api/v1/alerts`, `/api/v1/targets` and `/api/v1/metadata`:
// each fans out to every healthy endpoint that advertises the matching gRPC API in its Info
// answer (Rules, Targets, Metadata), merges the answers and removes replica duplicates, as
// Thanos's querier does (https://thanos.io/tip/components/query.md/, "Rules API", "Targets API",
// "Metadata API"; https://github.com/thanos-io/thanos/blob/main/pkg/api/query/v1.go). With
// `partial_response` an endpoint that fails becomes a warning; without, the request fails.

import type { Route } from "../server/http.ts";
import { PartialResponseStrategy } from "../storeapi/codec.ts";
import {
  alertJSON,
  callRules,
  filterRuleGroups,
  mergeRuleGroups,
  type RuleGroup,
  ruleGroupJSON,
  type RulesBackend,
  type RulesRequest,
  type RuleTypeFilter,
} from "../storeapi/rules.ts";
import {
  callTargets,
  dedupTargets,
  filterTargets,
  type TargetsBackend,
  type TargetState,
} from "../storeapi/targets.ts";
import {
  callMetadata,
  mergeMetadata,
  type MetadataBackend,
  type MetricMetadata,
} from "../storeapi/metadata.ts";
import { ParseError, parseMetricSelector } from "../promql/parser.ts";
import {
  callExemplars,
  dedupExemplars,
  type ExemplarData,
  type ExemplarsBackend,
  exemplarsJSON,
  type ExemplarsRequest,
} from "../storeapi/exemplars.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import { ApiError, ApiParams } from "./api.ts";
import type { AdvertisedApi, ApiEndpoint } from "./endpoints.ts";

/** Options of {@link rulesApiRoutes}. */
export interface RulesApiOptions {
  /** Healthy endpoints advertising an API. */
  endpoints: (api: AdvertisedApi) => ApiEndpoint[];
  /** `--query.replica-label`: removed before rules and targets are compared. */
  replicaLabels: readonly string[];
  /** `--query.partial-response`: the default of the `partial_response` parameter. */
  partialResponse: boolean;
  /** Deadline of each endpoint call (`--store.response-timeout`); 0 or absent: none. */
  responseTimeoutMs?: number;
  /** Adds CORS headers (unless `--web.disable-cors`). */
  headers?: () => Record<string, string>;
}

const KIND: Record<AdvertisedApi, string> = {
  rules: "rules",
  targets: "targets",
  metricMetadata: "metadata",
  exemplars: "exemplars",
};

/**
 * Calls `call` on every endpoint serving `api`; returns the answers and warnings. A failed
 * endpoint is a warning under partial response, else the error of the whole request.
 */
export async function fanOut<T extends { warnings: string[] }>(
  endpoints: readonly ApiEndpoint[],
  api: AdvertisedApi,
  partial: boolean,
  signal: AbortSignal,
  timeoutMs: number,
  call: (ep: ApiEndpoint, signal: AbortSignal) => Promise<T>,
): Promise<{ results: T[]; warnings: string[] }> {
  const s = timeoutMs > 0 ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : signal;
  const settled = await Promise.allSettled(endpoints.map((ep) => call(ep, s)));
  const results: T[] = [];
  const warnings: string[] = [];
  settled.forEach((r, i) => {
    if (r.status === "fulfilled") {
      results.push(r.value);
      warnings.push(...r.value.warnings);
      return;
    }
    const msg = `fetching ${KIND[api]} from ${KIND[api]} client ${endpoints[i].name}: ${
      r.reason instanceof Error ? r.reason.message : String(r.reason)
    }`;
    if (!partial) throw new ApiError("internal", `error retrieving ${KIND[api]}: ${msg}`);
    warnings.push(msg);
  });
  return { results, warnings };
}

function boolParam(p: ApiParams, name: string, def: boolean): boolean {
  const v = p.get(name).toLowerCase();
  if (v === "") return def;
  if (["1", "t", "true"].includes(v)) return true;
  if (["0", "f", "false"].includes(v)) return false;
  throw new ApiError("bad_data", `invalid parameter "${name}": cannot parse "${v}" as bool`);
}

/** Rules of all endpoints, merged and deduplicated, with the request's filters applied. */
export async function fetchMergedRules(
  o: RulesApiOptions,
  req: RulesRequest,
  signal: AbortSignal,
): Promise<{ groups: RuleGroup[]; warnings: string[] }> {
  const partial = req.partialResponseStrategy === PartialResponseStrategy.WARN;
  const { results, warnings } = await fanOut(
    o.endpoints("rules"),
    "rules",
    partial,
    signal,
    o.responseTimeoutMs ?? 0,
    (ep, s) => callRules(ep.client, req, s),
  );
  // filters again here: an endpoint may ignore the filters it does not know
  const groups = filterRuleGroups(results.flatMap((r) => r.groups), req);
  const merged = mergeRuleGroups(groups, o.replicaLabels);
  return { groups: matchRuleLabels(merged, parseSelectors(req.matchers ?? [])), warnings };
}

function parseSelectors(exprs: readonly string[]): Matcher[][] {
  return exprs.map((e) => {
    try {
      return parseMetricSelector(e);
    } catch (err) {
      if (err instanceof ParseError) {
        throw new ApiError("bad_data", `invalid parameter "match[]": ${err.message}`);
      }
      throw err;
    }
  });
}

/**
 * `match[]` as Prometheus applies it to `/api/v1/rules` (from v2.48; 2.42 ignores it, so the
 * querier applies it to the merged answer): rules whose labels satisfy any selector; groups
 * left without rules are dropped.
 */
export function matchRuleLabels(groups: RuleGroup[], sets: Matcher[][]): RuleGroup[] {
  if (sets.length === 0) return groups;
  const out: RuleGroup[] = [];
  for (const g of groups) {
    const rules = g.rules.filter((r) =>
      sets.some((ms) => ms.every((m) => m.matches(r.labels?.[m.name] ?? "")))
    );
    if (rules.length > 0) out.push({ ...g, rules });
  }
  return out;
}

function rulesRequest(p: ApiParams, o: RulesApiOptions, type: RuleTypeFilter): RulesRequest {
  const partial = boolParam(p, "partial_response", o.partialResponse);
  return {
    type,
    partialResponseStrategy: partial ? PartialResponseStrategy.WARN : PartialResponseStrategy.ABORT,
    matchers: p.all("match[]"),
    ruleName: p.all("rule_name[]"),
    ruleGroup: p.all("rule_group[]"),
    file: p.all("file[]"),
  };
}

/** The four routes (paths relative to the route prefix). */
export function rulesApiRoutes(o: RulesApiOptions): Route[] {
  const headers = () => ({ "content-type": "application/json", ...(o.headers?.() ?? {}) });
  const ok = (data: unknown, warnings: string[]) => {
    const body: Record<string, unknown> = { status: "success", data };
    const h: Record<string, string> = headers();
    if (warnings.length > 0) {
      body.warnings = warnings;
      h["cache-control"] = "no-store";
    }
    return new Response(JSON.stringify(body), { status: 200, headers: h });
  };
  const fail = (e: unknown) => {
    const type = e instanceof ApiError ? e.type : "internal";
    const status = type === "bad_data" ? 400 : type === "internal" ? 500 : 422;
    const msg = e instanceof Error ? e.message : String(e);
    return new Response(JSON.stringify({ status: "error", errorType: type, error: msg }), {
      status,
      headers: headers(),
    });
  };
  const route = (
    path: string,
    fn: (p: ApiParams, signal: AbortSignal) => Promise<Response>,
  ): Route => ({
    method: ["GET", "POST"],
    path,
    name: path,
    handler: async (req, _params, info) => {
      try {
        return await fn(await ApiParams.from(req, info), info.signal);
      } catch (e) {
        return fail(e);
      }
    },
  });
  return [
    route("/api/v1/rules", async (p, signal) => {
      const t = p.get("type").toLowerCase();
      if (t !== "" && t !== "alert" && t !== "record") {
        throw new ApiError("bad_data", `invalid rules parameter type='${t}'`);
      }
      const req = rulesRequest(p, o, t === "" ? "all" : t as RuleTypeFilter);
      parseSelectors(req.matchers ?? []); // a bad selector is bad_data before any fan-out
      const r = await fetchMergedRules(o, req, signal);
      return ok({ groups: r.groups.map(ruleGroupJSON) }, r.warnings);
    }),
    route("/api/v1/alerts", async (p, signal) => {
      const r = await fetchMergedRules(o, rulesRequest(p, o, "alert"), signal);
      const alerts = r.groups.flatMap((g) =>
        g.rules.flatMap((x) => x.type === "alerting" ? x.alerts ?? [] : [])
      );
      return ok({ alerts: alerts.map(alertJSON) }, r.warnings);
    }),
    route("/api/v1/targets", async (p, signal) => {
      const st = p.get("state").toLowerCase();
      if (st !== "" && st !== "any" && st !== "active" && st !== "dropped") {
        throw new ApiError("bad_data", `invalid targets parameter state='${st}'`);
      }
      const state = (st === "" ? "any" : st) as TargetState;
      const partial = boolParam(p, "partial_response", o.partialResponse);
      const { results, warnings } = await fanOut(
        o.endpoints("targets"),
        "targets",
        partial,
        signal,
        o.responseTimeoutMs ?? 0,
        (ep, s) =>
          callTargets(ep.client, {
            state,
            partialResponseStrategy: partial ? 0 : PartialResponseStrategy.ABORT,
          }, s),
      );
      const all = filterTargets({
        activeTargets: results.flatMap((r) => r.targets.activeTargets),
        droppedTargets: results.flatMap((r) => r.targets.droppedTargets),
      }, state);
      return ok(dedupTargets(all, o.replicaLabels), warnings);
    }),
    route("/api/v1/metadata", async (p, signal) => {
      let limit = -1;
      const l = p.get("limit");
      if (l !== "") {
        limit = Number(l);
        if (!/^[+-]?\d+$/.test(l) || !Number.isSafeInteger(limit)) {
          throw new ApiError("bad_data", "limit must be a number");
        }
      }
      const metric = p.get("metric");
      const partial = boolParam(p, "partial_response", o.partialResponse);
      const { results, warnings } = await fanOut(
        o.endpoints("metricMetadata"),
        "metricMetadata",
        partial,
        signal,
        o.responseTimeoutMs ?? 0,
        (ep, s) =>
          callMetadata(ep.client, {
            metric,
            limit,
            partialResponseStrategy: partial ? 0 : PartialResponseStrategy.ABORT,
          }, s),
      );
      const merged = mergeMetadata(results.flatMap((r) => r.metadata), limit);
      // Go writes map keys sorted
      const sorted: MetricMetadata = {};
      for (const k of Object.keys(merged).sort()) sorted[k] = merged[k];
      return ok(sorted, warnings);
    }),
  ];
}

/**
 * `/api/v1/query_exemplars` behind the querier: every endpoint advertising Exemplars, series
 * equal once replica labels are removed kept once. `start`/`end` in ms.
 */
export async function fetchExemplars(
  o: RulesApiOptions,
  req: ExemplarsRequest,
  signal: AbortSignal,
): Promise<{ data: ExemplarData[]; warnings: string[] }> {
  const r = await fanOut(
    o.endpoints("exemplars"),
    "exemplars",
    req.partialResponseStrategy !== PartialResponseStrategy.ABORT,
    signal,
    o.responseTimeoutMs ?? 0,
    (ep, s) => callExemplars(ep.client, req, s),
  );
  return {
    data: dedupExemplars(r.results.flatMap((x) => x.data), o.replicaLabels),
    warnings: r.warnings,
  };
}

/** `fetchExemplars` for the query API's `/api/v1/query_exemplars`, in Prometheus's JSON. */
export async function exemplarsAnswer(
  o: RulesApiOptions,
  req: { query: string; start: number; end: number; partialResponse: boolean },
  signal: AbortSignal,
): Promise<{ data: unknown; warnings: string[] }> {
  const r = await fetchExemplars(o, {
    query: req.query,
    start: req.start,
    end: req.end,
    partialResponseStrategy: req.partialResponse
      ? PartialResponseStrategy.WARN
      : PartialResponseStrategy.ABORT,
  }, signal);
  return { data: exemplarsJSON(r.data), warnings: r.warnings };
}

/**
 * The querier's own Rules, Targets and Metadata gRPC services, so queriers stack as in Thanos
 * (its querier serves those proxies too): the request goes to every endpoint advertising the
 * API and the answers are passed on as they are; deduplication is the HTTP API's, at the top.
 */
export function proxyBackends(
  o: RulesApiOptions,
): RulesBackend & TargetsBackend & MetadataBackend & ExemplarsBackend {
  const partialOf = (s: PartialResponseStrategy) => s !== PartialResponseStrategy.ABORT;
  return {
    rules: async (req, signal) => {
      const r = await fanOut(
        o.endpoints("rules"),
        "rules",
        partialOf(req.partialResponseStrategy),
        signal,
        o.responseTimeoutMs ?? 0,
        (ep, s) => callRules(ep.client, req, s),
      );
      return { groups: r.results.flatMap((x) => x.groups), warnings: r.warnings };
    },
    targets: async (req, signal) => {
      const r = await fanOut(
        o.endpoints("targets"),
        "targets",
        partialOf(req.partialResponseStrategy),
        signal,
        o.responseTimeoutMs ?? 0,
        (ep, s) => callTargets(ep.client, req, s),
      );
      return {
        targets: {
          activeTargets: r.results.flatMap((x) => x.targets.activeTargets),
          droppedTargets: r.results.flatMap((x) => x.targets.droppedTargets),
        },
        warnings: r.warnings,
      };
    },
    exemplars: async (req, signal) => {
      const r = await fanOut(
        o.endpoints("exemplars"),
        "exemplars",
        partialOf(req.partialResponseStrategy),
        signal,
        o.responseTimeoutMs ?? 0,
        (ep, s) => callExemplars(ep.client, req, s),
      );
      return { data: r.results.flatMap((x) => x.data), warnings: r.warnings };
    },
    metricMetadata: async (req, signal) => {
      const r = await fanOut(
        o.endpoints("metricMetadata"),
        "metricMetadata",
        partialOf(req.partialResponseStrategy),
        signal,
        o.responseTimeoutMs ?? 0,
        (ep, s) => callMetadata(ep.client, req, s),
      );
      return {
        metadata: mergeMetadata(r.results.flatMap((x) => x.metadata), req.limit),
        warnings: r.warnings,
      };
    },
  };
}
