// `thanos query-frontend`: the caches, the frontend's routes in front of the downstream
// querier, and the HTTP server, until the launcher's stop signal.

import { Registry } from "../../metrics/registry.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import { serveUntilStopped } from "../../server/lifecycle.ts";
import { newCache } from "../../cache/factory.ts";
import type { Cache } from "../../cache/cache.ts";
import { QueryFrontend } from "../../queryfrontend/frontend.ts";
import type { RunContext } from "../runtime.ts";
import type { QueryFrontendConfig } from "./config.ts";

/** `thanos query-frontend` */
export function runQueryFrontend(cfg: QueryFrontendConfig, ctx: RunContext): Promise<number> {
  const logger = ctx.logger.with({ component: "query-frontend" });
  const registry = new Registry();
  const probe = new Probe();
  const caches: Cache[] = [];
  const rangeCache = cfg.rangeCache
    ? newCache(cfg.rangeCache, { name: "query-range", registry, logger })
    : undefined;
  if (rangeCache) caches.push(rangeCache);
  const labelsCache = cfg.labelsCache
    ? newCache(cfg.labelsCache, { name: "labels", registry, logger })
    : undefined;
  if (labelsCache) caches.push(labelsCache);

  const frontend = new QueryFrontend({
    downstreamUrl: cfg.downstreamUrl,
    logger,
    registry,
    splitIntervalMs: cfg.splitIntervalMs,
    minSplitIntervalMs: cfg.minSplitIntervalMs,
    maxSplitIntervalMs: cfg.maxSplitIntervalMs,
    horizontalShards: cfg.horizontalShards,
    verticalShards: cfg.verticalShards,
    alignRangeWithStep: cfg.alignRangeWithStep,
    maxQueryLengthMs: cfg.maxQueryLengthMs,
    maxQueryParallelism: cfg.maxQueryParallelism,
    maxRetries: cfg.maxRetries,
    instantMaxRetries: cfg.instantMaxRetries,
    requestDownsampled: cfg.requestDownsampled,
    maxFreshnessMs: cfg.maxFreshnessMs,
    partialResponse: cfg.partialResponse,
    labelsPartialResponse: cfg.labelsPartialResponse,
    rangeCache,
    labelsSplitIntervalMs: cfg.labelsSplitIntervalMs,
    labelsMaxRetries: cfg.labelsMaxRetries,
    labelsMaxQueryParallelism: cfg.labelsMaxQueryParallelism,
    labelsMaxFreshnessMs: cfg.labelsMaxFreshnessMs,
    labelsDefaultTimeRangeMs: cfg.labelsDefaultTimeRangeMs,
    labelsCache,
    snappy: cfg.snappy,
    compressResponses: cfg.compressResponses,
    logQueriesLongerThanMs: cfg.logQueriesLongerThanMs,
    forwardHeaders: cfg.forwardHeaders,
    tenantHeader: cfg.tenantHeader,
    orgIdHeaders: cfg.orgIdHeaders,
    slowQueryLogsUserHeader: cfg.slowQueryLogsUserHeader,
    forceQueryStats: cfg.forceQueryStats,
    ...(cfg.tenantCertificateField ? { tenantCertificateField: cfg.tenantCertificateField } : {}),
    downstreamTimeoutMs: cfg.downstreamTimeoutMs,
    enableCors: cfg.enableCors,
    functions: cfg.functions,
  });
  const http = new HttpServer({
    address: cfg.http.address,
    web: cfg.http.web,
    logger,
    registry,
    probe,
    tenantLabel: { header: cfg.tenantHeader, defaultTenant: cfg.defaultTenant },
  });
  http.add(frontend.routes());
  probe.setReady();
  logger.info("starting query frontend", { downstream: cfg.downstreamUrl });

  return serveUntilStopped({
    http,
    httpGracePeriodMs: cfg.http.gracePeriodMs,
    probe,
    logger,
    signal: ctx.signal,
    shutdownLog: {
      message: "shutting down",
      fields: () => ({ reason: String(ctx.signal.reason?.message ?? "signal") }),
    },
    afterClose: () => {
      for (const c of caches) c.close();
      return Promise.resolve();
    },
  }, () => Promise.resolve());
}
