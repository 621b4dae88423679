// `thanos query`: wires the endpoint set, the proxy (served again as a StoreAPI so queriers
// stack), the PromQL engine and the HTTP API, and runs until the launcher's stop signal.

import denoConfig from "../../deno.json" with { type: "json" };
import { StoreClient } from "../../storeapi/client.ts";
import { StoreProxy } from "../../storeapi/proxy.ts";
import { StoreServer } from "../../storeapi/server.ts";
import { Registry } from "../../metrics/registry.ts";
import { registerTracingMetrics } from "../../tracing/stats.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import { serveUntilStopped } from "../../server/lifecycle.ts";
import type { RunContext } from "../runtime.ts";
import { QueryApi } from "../../query/api.ts";
import { warmInstantQueryPath } from "../../query/warmup.ts";
import { LABEL_API_TURN_EVERY_MS } from "../../query/label_api.ts";
import {
  exemplarsAnswer,
  proxyBackends,
  type RulesApiOptions,
  rulesApiRoutes,
} from "../../query/rules_api.ts";
import { serveExemplars } from "../../storeapi/exemplars.ts";
import { advertising } from "../../storeapi/api_common.ts";
import { serveRules } from "../../storeapi/rules.ts";
import { serveTargets } from "../../storeapi/targets.ts";
import { serveMetadata } from "../../storeapi/metadata.ts";
import {
  type AdvertisedApi,
  type EndpointClient,
  EndpointSet,
  endpointSpecSource,
  selectedStatuses,
} from "../../query/endpoints.ts";
import { Relabeler } from "../../relabel/relabel.ts";
import { uiRoutes } from "../../ui/routes.ts";
import { EvalPool } from "../../query/eval_pool.ts";
import { QueryGrpcApi } from "../../query/grpc_api.ts";
import { QueryTelemetry } from "../../query/telemetry.ts";
import { ActiveQueryTracker } from "../../query/active_queries.ts";
import type { QueryConfig } from "./config.ts";

/** `thanos query` */
export async function runQuery(cfg: QueryConfig, ctx: RunContext): Promise<number> {
  const logger = ctx.logger.with({ component: "query" });
  // Prometheus's active query tracker, sized by --query.max-concurrent (Thanos's query.go)
  const activeQueries = cfg.activeQueryPath === ""
    ? undefined
    : await ActiveQueryTracker.open(cfg.activeQueryPath, cfg.maxConcurrent, logger);
  const registry = new Registry();
  if (cfg.tracing) registerTracingMetrics(registry);
  const probe = new Probe();
  const specs = endpointSpecSource({
    staticSpecs: [...cfg.staticEndpoints, ...cfg.inlineEndpoints],
    configFile: cfg.endpointConfigFile,
    sdFiles: cfg.sdFiles,
    logger,
  });

  const healthGauge = registry.gauge({
    name: "thanos_store_nodes_grpc_connections",
    help: "Number of gRPC connection to Store APIs. Opened connection means healthy store APIs " +
      "available for Querier.",
    labelNames: cfg.connMetricLabels,
  });
  const endpointUp = registry.gauge({
    name: "thanos_query_endpoint_healthy",
    help: "1 when the endpoint answered its last Info call, else 0.",
    labelNames: ["address"],
  });
  const endpoints = new EndpointSet({
    specs,
    // the role's thread serves probes: huge label answers are decoded in steps (without
    // evaluation Workers the label APIs run here; the Workers' own clients decode in one go)
    newClient: (address): EndpointClient =>
      new StoreClient(address, { ...cfg.client, labelDecodeTurnEveryMs: LABEL_API_TURN_EVERY_MS }),
    logger,
    infoTimeoutMs: cfg.infoTimeoutMs,
    dnsIntervalMs: cfg.dnsIntervalMs,
    unhealthyTimeoutMs: cfg.unhealthyTimeoutMs,
    onUpdate: (statuses) => {
      healthGauge.reset();
      endpointUp.reset();
      for (const s of statuses) {
        endpointUp.set({ address: s.name }, s.healthy ? 1 : 0);
        if (!s.healthy) continue;
        const ext = (s.info?.labelSets ?? []).map((ls) => `{${ls.join(",")}}`).join(",");
        const all = { external_labels: ext, store_type: s.info?.componentType ?? "" };
        healthGauge.inc(Object.fromEntries(cfg.connMetricLabels.map((l) => [l, all[l]])));
      }
    },
  });

  const tsdbSelector = cfg.tsdbSelector.length > 0 ? new Relabeler(cfg.tsdbSelector) : undefined;
  const proxy = new StoreProxy({
    endpoints: () => endpoints.queryable(),
    unavailable: () => endpoints.unavailable(),
    responseTimeoutMs: cfg.responseTimeoutMs,
    selectorLabels: cfg.selectorLabels,
    tsdbSelector,
  });
  // the launcher starts the workers when queries need them (`--query.eval-workers`); none:
  // evaluate on this thread
  const evalWorkers = ctx.evalWorkers;
  const evalPool = evalWorkers !== undefined && evalWorkers.max > 0
    ? new EvalPool({
      workers: evalWorkers,
      client: cfg.client,
      tracing: cfg.tracing,
      tsdbSelector: cfg.tsdbSelector,
      environment: () => ({
        endpoints: endpoints.queryable().map((e) => ({
          name: e.name,
          info: e.info,
          members: endpoints.groupMembers(e.name),
        })),
        unavailable: endpoints.unavailable(),
        responseTimeoutMs: cfg.responseTimeoutMs,
        selectorLabels: cfg.selectorLabels,
      }),
    })
    : undefined;
  evalWorkers?.onExit((id, cause) => {
    logger.warn("query evaluation worker died; its running queries failed", { worker: id, cause });
    evalPool?.workerExited(id, `crashed (${cause})`);
  });
  // distributed mode: no remote engines while an endpoint is down, so the query is evaluated as
  // local mode does, with its partial-response warning or error (query/distributed.ts)
  const distributedEndpoints = () =>
    endpoints.unavailable().length > 0 ? [] : endpoints.queryable();
  const api = new QueryApi({
    proxy,
    evalPool,
    logger,
    registry,
    endpoints: () => selectedStatuses(endpoints.statuses(), tsdbSelector),
    replicaLabels: cfg.replicaLabels,
    dedupFunc: cfg.dedupFunc,
    partialResponse: cfg.partialResponse,
    queryTimeoutMs: cfg.queryTimeoutMs,
    lookbackDeltaMs: cfg.lookbackDeltaMs,
    maxSamples: cfg.maxSamples,
    maxConcurrent: cfg.maxConcurrent,
    maxConcurrentSelect: cfg.maxConcurrentSelect,
    defaultStepMs: cfg.defaultStepMs,
    defaultEvaluationIntervalMs: cfg.defaultEvaluationIntervalMs,
    autoDownsampling: cfg.autoDownsampling,
    enableCors: cfg.enableCors,
    tenancy: cfg.tenancy,
    exemplars: (req, signal) => exemplarsAnswer(apisOpts, req, signal),
    flags: cfg.flagValues,
    version: denoConfig.version,
    distributed: cfg.distributed && {
      options: cfg.distributed,
      endpoints: distributedEndpoints,
    },
    promql: cfg.promql,
    activeQueries,
    metadataDefaultTimeRangeMs: cfg.metadataDefaultTimeRangeMs,
    telemetry: {
      histogram: new QueryTelemetry(registry, cfg.telemetry),
      tenantHeader: cfg.tenancy.header,
      defaultTenant: cfg.tenancy.defaultTenant,
    },
  });
  if (cfg.promql.defaultEngine === "thanos") {
    logger.info(
      "--query.promql-engine=thanos: this build evaluates every query with its own engine, " +
        "which follows Prometheus's semantics; 'thanos' makes xrate, xincrease and xdelta " +
        "known when --query.enable-x-functions is set",
    );
  }

  const http = new HttpServer({
    address: cfg.http.address,
    web: cfg.http.web,
    logger,
    registry,
    probe,
    routePrefix: cfg.routePrefix === "" ? undefined : cfg.routePrefix,
    tenantLabel: { header: cfg.tenancy.header, defaultTenant: cfg.tenancy.defaultTenant },
  });
  http.add(api.routes());
  const apisOpts: RulesApiOptions = {
    endpoints: (which: AdvertisedApi) => endpoints.withApi(which),
    replicaLabels: cfg.replicaLabels,
    partialResponse: cfg.partialResponse,
    responseTimeoutMs: cfg.responseTimeoutMs,
    headers: () => api.corsHeaders(),
  };
  http.add(rulesApiRoutes(apisOpts));
  http.add(uiRoutes({
    routePrefix: cfg.routePrefix,
    externalPrefix: cfg.externalPrefix,
    prefixHeader: cfg.prefixHeader,
  }));
  probe.setNotReady("waiting for the first endpoint discovery round");

  // the querier serves the Rules, Targets, Metadata and Exemplars proxies too, so queriers stack
  // and the gRPC Query API (query/grpc_api.ts), advertised in Info as Thanos's querier does
  const advertised = {
    rules: true,
    targets: true,
    metricMetadata: true,
    exemplars: true,
    query: true,
  };
  const grpc = new StoreServer(advertising(proxy, advertised), {
    registry,
    logger,
    tls: cfg.grpc.tls,
    limits: cfg.limits,
  });

  const proxies = proxyBackends(apisOpts);
  serveRules(grpc.grpc, proxies);
  serveTargets(grpc.grpc, proxies);
  serveMetadata(grpc.grpc, proxies);
  serveExemplars(grpc.grpc, proxies);
  new QueryGrpcApi({
    proxy,
    evalPool,
    replicaLabels: cfg.replicaLabels,
    dedupFunc: cfg.dedupFunc,
    queryTimeoutMs: cfg.queryTimeoutMs,
    lookbackDeltaMs: cfg.lookbackDeltaMs,
    maxSamples: cfg.maxSamples,
    maxConcurrentSelect: cfg.maxConcurrentSelect,
    defaultEvaluationIntervalMs: cfg.defaultEvaluationIntervalMs,
    gate: (fn) => api.gate(fn),
    distributed: cfg.distributed && {
      options: cfg.distributed,
      endpoints: distributedEndpoints,
    },
  }).register(grpc.grpc);

  return serveUntilStopped({
    http,
    httpGracePeriodMs: cfg.http.gracePeriodMs,
    grpc,
    grpcAddress: cfg.grpc.address,
    grpcGracePeriodMs: cfg.grpc.gracePeriodMs,
    probe,
    logger,
    signal: ctx.signal,
    shutdownLog: {
      message: "shutting down",
      fields: () => ({ reason: String(ctx.signal.reason?.message ?? "signal") }),
    },
    beforeClose: async () => {
      evalPool?.close();
      await endpoints.close();
      await activeQueries?.close();
    },
  }, async () => {
    // the instant-query path is compiled (query/warmup.ts) while the first discovery round runs;
    // ready waits for both, so the first dashboards are not served by cold code
    const warmed = warmInstantQueryPath({ signal: ctx.signal }).then(
      (r) => logger.debug("instant-query path warmed", { ...r, ms: Math.round(r.ms) }),
      (e) => logger.warn("instant-query warm-up failed", { err: String(e) }),
    );
    const discovery = Promise.all([endpoints.start(), warmed]).then(() => {
      probe.setReady();
      grpc.setServing(true);
      logger.info("first endpoint discovery round done; ready", {
        endpoints: endpoints.statuses().length,
      });
    });
    const stopped = new Promise<void>((r) => {
      if (ctx.signal.aborted) r();
      else ctx.signal.addEventListener("abort", () => r(), { once: true });
    });
    // a failed first discovery round still fails the command, unless it is already stopping
    await Promise.race([discovery, stopped]);
  });
}
