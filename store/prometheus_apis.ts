// The sidecar's Rules, Targets and Metadata backends: each calls its Prometheus's HTTP API
// (`/api/v1/rules`, `/api/v1/targets`, `/api/v1/metadata`,
// https://prometheus.io/docs/prometheus/2.42/querying/api/) and adds the external labels to rules,
// alerts and targets, as Thanos's sidecar does
// (https://github.com/thanos-io/thanos/blob/main/pkg/rules/prometheus.go,
// https://github.com/thanos-io/thanos/blob/main/pkg/targets/prometheus.go). Request filters are
// passed on and applied again here, so a Prometheus that ignores one still answers correctly.

import type { PrometheusClient } from "../promclient/client.ts";
import type { Labels } from "../tsdb/series.ts";
import {
  filterRuleGroups,
  type RuleGroup,
  type RulesBackend,
  type RulesRequest,
  withExternalLabelsOnRules,
} from "../storeapi/rules.ts";
import {
  filterTargets,
  type TargetDiscovery,
  type TargetsBackend,
  type TargetsRequest,
  withExternalLabelsOnTargets,
} from "../storeapi/targets.ts";
import type { MetadataBackend, MetadataRequest, MetricMetadata } from "../storeapi/metadata.ts";
import {
  type ExemplarData,
  type ExemplarsBackend,
  type ExemplarsRequest,
  fromPromExemplars,
  type PromExemplarJSON,
  withExternalLabelsOnExemplars,
} from "../storeapi/exemplars.ts";

/** Rules, Targets, Metadata and Exemplars of one Prometheus, with its current external labels. */
export class PrometheusApis
  implements RulesBackend, TargetsBackend, MetadataBackend, ExemplarsBackend {
  constructor(
    private readonly client: PrometheusClient,
    private readonly externalLabels: () => Labels,
  ) {}

  async rules(req: RulesRequest, signal: AbortSignal) {
    const params: [string, string][] = [];
    if (req.type !== "all") params.push(["type", req.type]);
    for (const n of req.ruleName ?? []) params.push(["rule_name[]", n]);
    for (const g of req.ruleGroup ?? []) params.push(["rule_group[]", g]);
    for (const f of req.file ?? []) params.push(["file[]", f]);
    const data = await this.client.apiData("/api/v1/rules", params, signal) as {
      groups?: RuleGroup[];
    };
    const groups = (data?.groups ?? []).map((g) => ({ ...g, rules: g.rules ?? [] }));
    return {
      groups: withExternalLabelsOnRules(filterRuleGroups(groups, req), this.externalLabels()),
      warnings: [],
    };
  }

  async targets(req: TargetsRequest, signal: AbortSignal) {
    const params: [string, string][] = req.state === "any" ? [] : [["state", req.state]];
    const data = await this.client.apiData("/api/v1/targets", params, signal) as Partial<
      TargetDiscovery
    >;
    const d = filterTargets({
      activeTargets: data?.activeTargets ?? [],
      droppedTargets: data?.droppedTargets ?? [],
    }, req.state);
    return { targets: withExternalLabelsOnTargets(d, this.externalLabels()), warnings: [] };
  }

  async exemplars(req: ExemplarsRequest, signal: AbortSignal) {
    const params: [string, string][] = [
      ["query", req.query],
      ["start", String(req.start / 1000)],
      ["end", String(req.end / 1000)],
    ];
    const data = await this.client.apiData("/api/v1/query_exemplars", params, signal) as
      | PromExemplarJSON[]
      | null;
    const out: ExemplarData[] = fromPromExemplars(data ?? []);
    return { data: withExternalLabelsOnExemplars(out, this.externalLabels()), warnings: [] };
  }

  async metricMetadata(req: MetadataRequest, signal: AbortSignal) {
    const params: [string, string][] = [];
    if (req.metric !== "") params.push(["metric", req.metric]);
    if (req.limit >= 0) params.push(["limit", String(req.limit)]);
    const data = await this.client.apiData("/api/v1/metadata", params, signal) as MetricMetadata;
    return { metadata: data ?? {}, warnings: [] };
  }
}
