// `thanos rule`: evaluates Prometheus rule files over the global view through queriers' HTTP API
// (rules/), stores the results in a local TSDB with WAL under `--data-dir` (tsdb/db.ts), serves
// them over the StoreAPI (store/tsdb_store.ts) and ships cut blocks to the bucket
// (block/shipper.ts), sends alerts to Alertmanagers (rules/notifier.ts), and serves
// `/api/v1/rules`, `/api/v1/alerts`, `POST /-/reload` and `/metrics` on `--http-address`.
// A bad rule file at start is fatal (exit 1, the error names file and line); on reload (SIGHUP
// or `POST /-/reload`) it keeps the old rules, logs the error and sets
// `thanos_rule_config_last_reload_successful` to 0 (https://thanos.io/tip/components/rule.md/).

import { Registry } from "../../metrics/registry.ts";
import { HttpServer, Probe, type Route } from "../../server/http.ts";
import { serveUntilStopped } from "../../server/lifecycle.ts";
import { sleepUnlessAborted } from "../../runutil/sleep.ts";
import { StoreServer } from "../../storeapi/server.ts";
import { dbMinTime, TsdbStore } from "../../store/tsdb_store.ts";
import { DB } from "../../tsdb/db.ts";
import { labelsToObject } from "../../tsdb/labels.ts";
import { Shipper } from "../../block/shipper.ts";
import {
  type HttpClientConfig,
  httpClientConfigFrom,
  httpClientFor,
  PrometheusClient,
} from "../../promclient/client.ts";
import { endpointURL } from "../../promclient/endpoints_config.ts";
import { RemoteWriteStorage } from "../../receive/remote_write_queue.ts";
import type { StoreBackend } from "../../storeapi/server.ts";
import {
  denoResolver,
  EndpointSet,
  endpointSpecSource,
  resolveAddress,
} from "../../query/endpoints.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { callQuery } from "../../storeapi/query.ts";
import type { QueryFunc } from "../../rules/alerting.ts";
import { RuleManager } from "../../rules/manager.ts";
import { rangeQueryable } from "../../rules/range_queryable.ts";
import { loadRuleFiles, RuleLoadError } from "../../rules/loader.ts";
import { type AlertmanagerTargets, Notifier } from "../../rules/notifier.ts";
import { ExpressionLinkTemplate } from "../../rules/template.ts";
import { managerRulesBackend, rulesRoutes } from "../../rules/api.ts";
import { serveRules } from "../../storeapi/rules.ts";
import { advertising } from "../../storeapi/api_common.ts";
import { uiRoutes } from "../../ui/routes.ts";
import type { PartialResponseStrategy } from "../../rules/rulefmt.ts";
import type { Bucket } from "../../objstore/bucket.ts";
import { Relabeler } from "../../relabel/relabel.ts";
import { openBucket } from "../objstore.ts";
import type { RunContext } from "../runtime.ts";
import { UsageError } from "../flags.ts";
import { queryBaseURL, type RuleConfig } from "./config.ts";

/** Interval of block uploads (Thanos's ruler ships every 30 s). */
const SHIP_INTERVAL_MS = 30_000;

/** Series per Query API response message the ruler asks for (Thanos's DefaultResponseBatchSize). */
const QUERY_RESPONSE_BATCH_SIZE = 64;

/** `thanos rule` */
export async function runRule(cfg: RuleConfig, ctx: RunContext): Promise<number> {
  const log = ctx.logger.with({ component: "rules" });
  const signal = ctx.signal;
  // Thanos checks the template once at start, executing it on "test_expr" (cmd/thanos/rule.go)
  let queryTemplate: ExpressionLinkTemplate;
  try {
    queryTemplate = await ExpressionLinkTemplate.parse(cfg.alertQueryTemplate);
  } catch (e) {
    throw new UsageError(
      `--alert.query-template ${JSON.stringify(cfg.alertQueryTemplate)}: invalid alert source ` +
        `template: ${(e as Error).message}`,
    );
  }
  const registry = new Registry();
  const probe = new Probe();
  probe.setNotReady("starting");

  const reloadOk = registry.gauge({
    name: "thanos_rule_config_last_reload_successful",
    help: "Whether the last configuration reload attempt was successful.",
  });
  const reloadTime = registry.gauge({
    name: "thanos_rule_config_last_reload_success_timestamp_seconds",
    help: "Timestamp of the last successful configuration reload.",
  });
  const loadedRules = registry.gauge({
    name: "thanos_rule_loaded_rules",
    help: "Loaded rules partitioned by file and group.",
    labelNames: ["strategy", "file", "group"],
  });
  const withWarnings = registry.counter({
    name: "thanos_rule_evaluation_with_warnings_total",
    help: "The total number of rule evaluation that were successful but had warnings which " +
      "can indicate partial error.",
    labelNames: ["strategy"],
  });

  // Rule files first: a bad file at start is fatal, naming file and line.
  let files;
  try {
    files = await loadRuleFiles(cfg.ruleFiles, cfg.functions);
  } catch (e) {
    const errs = e instanceof RuleLoadError ? e.errors : [(e as Error).message];
    for (const err of errs) log.error("loading rule files failed", { err });
    return 1;
  }

  // The queriers: static --query URLs, dns+/dnssrv+ addresses and --query.sd-files targets, or
  // the groups of --query.config (each with its scheme, path prefix and http_config), re-read
  // and re-resolved every refresh interval (query/endpoints.ts does the same for the querier's
  // own endpoints).
  const readFile = (p: string) => Deno.readTextFile(p);
  let queryGroups: {
    source: () => Promise<{ address: string }[]>;
    toURL: (hostPort: string) => string;
    http: HttpClientConfig;
  }[];
  let alertGroups: {
    source: () => Promise<{ address: string }[]>;
    toURL: (hostPort: string) => string;
    targets: Omit<AlertmanagerTargets, "urls">;
  }[];
  try {
    queryGroups = cfg.queryGroups.length === 0
      ? [{
        source: endpointSpecSource({
          staticSpecs: cfg.queryAddresses.map((address) => ({ address, strict: false })),
          sdFiles: cfg.querySdFiles,
          logger: log.with({ component: "query-discovery" }),
        }),
        toURL: queryBaseURL,
        http: {},
      }]
      : await Promise.all(cfg.queryGroups.map(async (g, i) => ({
        source: endpointSpecSource({
          staticSpecs: g.staticAddresses.map((address) => ({ address, strict: false })),
          sdFiles: g.sdFiles,
          logger: log.with({ component: "query-discovery" }),
        }),
        toURL: (a: string) => endpointURL(g, a),
        http: await httpClientConfigFrom(g.httpConfig, readFile, `query config [${i}] http_config`),
      })));
    alertGroups = await Promise.all(cfg.alertmanagerGroups.map(async (g, i) => {
      const http = await httpClientConfigFrom(
        g.httpConfig,
        readFile,
        `alertmanagers[${i}].http_config`,
      );
      return {
        source: endpointSpecSource({
          staticSpecs: g.staticAddresses.map((address) => ({ address, strict: false })),
          sdFiles: g.sdFiles,
          logger: log.with({ component: "alertmanager-discovery" }),
        }),
        toURL: (a: string) => endpointURL(g, a),
        targets: { ...httpClientFor(http, "thanos-ts-rule"), timeoutMs: g.timeoutMs },
      };
    }));
  } catch (e) {
    log.error("bad query or alertmanagers configuration", { err: (e as Error).message });
    return 1;
  }
  /** Base URLs of one group's current targets (DNS resolved; a failed lookup is logged). */
  const discover = async (
    g: { source: () => Promise<{ address: string }[]>; toURL: (a: string) => string },
  ): Promise<string[]> => {
    const urls: string[] = [];
    for (const spec of await g.source()) {
      if (/^https?:\/\//.test(spec.address)) {
        urls.push(spec.address);
        continue;
      }
      try {
        for (const a of await resolveAddress(spec.address, denoResolver)) urls.push(g.toURL(a));
      } catch (e) {
        log.warn("cannot resolve address", { address: spec.address, err: (e as Error).message });
      }
    }
    return urls;
  };
  const clientsByURL = new Map<string, PrometheusClient>();
  let clients: PrometheusClient[] = [];
  const refreshQueriers = async (): Promise<void> => {
    const urls = new Map<string, HttpClientConfig>();
    for (const g of queryGroups) for (const u of await discover(g)) urls.set(u, g.http);
    for (const [u, c] of clientsByURL) {
      if (!urls.has(u)) {
        c.close();
        clientsByURL.delete(u);
      }
    }
    for (const [u, http] of urls) {
      if (!clientsByURL.has(u)) {
        clientsByURL.set(u, new PrometheusClient(u, { userAgent: "thanos-ts-rule", http }));
      }
    }
    clients = [...clientsByURL.values()];
  };
  await refreshQueriers();
  // --grpc-query-endpoint: an endpoint set (Info checks, dns+/dnssrv+ re-resolved) whose
  // members advertising the Query API evaluate rules when no HTTP querier answers, as Thanos's
  // ruler does (cmd/thanos/rule.go queryFuncCreator: the HTTP queriers first, then gRPC)
  const grpcQueriers = cfg.grpcQueryEndpoints.length === 0 ? undefined : new EndpointSet({
    specs: endpointSpecSource({
      staticSpecs: cfg.grpcQueryEndpoints.map((address) => ({ address, strict: false })),
      sdFiles: [],
      logger: log.with({ component: "grpc-query-discovery" }),
    }),
    newClient: (address) => new StoreClient(address),
    logger: log.with({ component: "grpc-query-discovery" }),
    dnsIntervalMs: cfg.queryRefreshMs,
  });
  const queryFor = (strategy: PartialResponseStrategy): QueryFunc => async (expr, t, sig) => {
    // every querier in random order until one answers (Thanos's ruler)
    const order = clients.map((c) => c).sort(() => Math.random() - 0.5);
    let last: Error | null = null;
    for (const c of order) {
      try {
        const r = await c.queryInstant(expr, t, {
          method: cfg.queryMethod,
          extra: [
            ["dedup", "true"],
            ["partial_response", strategy === "WARN" ? "true" : "false"],
          ],
          signal: sig,
        });
        if (r.warnings.length > 0) {
          withWarnings.labels(strategy.toLowerCase()).inc();
          log.warn("rule evaluation returned warnings", {
            strategy: strategy.toLowerCase(),
            query: expr,
            warnings: r.warnings.join("; "),
          });
        }
        return r.samples.map((s) => ({ labels: s.labels, v: s.v }));
      } catch (e) {
        if (sig?.aborted) throw e;
        last = e as Error;
      }
    }
    const apis = (grpcQueriers?.withApi("query") ?? []).sort(() => Math.random() - 0.5);
    for (const e of apis) {
      try {
        // Thanos's remote engine: whole seconds, dedup on, partial response by the strategy
        const r = await callQuery(e.client, {
          query: expr,
          timeSeconds: Math.floor(t / 1000),
          enableDedup: true,
          enablePartialResponse: strategy === "WARN",
          responseBatchSize: QUERY_RESPONSE_BATCH_SIZE,
        }, sig);
        if (r.warnings.length > 0) {
          withWarnings.labels(strategy.toLowerCase()).inc();
          log.warn("rule evaluation returned warnings", {
            strategy: strategy.toLowerCase(),
            query: expr,
            warnings: r.warnings.join("; "),
          });
        }
        return r.series.map((s) => ({ labels: s.labels, v: s.vs[0] }));
      } catch (err) {
        if (sig?.aborted) throw err;
        last = err as Error;
      }
    }
    throw new Error(`no query API server reachable: ${last?.message ?? "none discovered"}`);
  };
  withWarnings.labels("warn");
  withWarnings.labels("abort");

  let bucket: Bucket | undefined;
  if (cfg.objstoreConfig.trim() !== "") {
    bucket = await openBucket(cfg.objstoreConfig, { registry, logger: log, component: "rule" });
  } else {
    log.info("no supported bucket was configured, uploads will be disabled");
  }

  const thanosMeta = {
    labels: labelsToObject(cfg.externalLabels),
    downsample: { resolution: 0 },
    source: "ruler",
  };
  // Stateless mode (--remote-write.config): a WAL only, sent by remote write; no StoreAPI.
  let remote: RemoteWriteStorage | null = null;
  let db: DB | null = null;
  if (cfg.remoteWrite.length > 0) {
    try {
      remote = await RemoteWriteStorage.open(cfg.dataDir, {
        configs: cfg.remoteWrite,
        httpConfigs: await Promise.all(
          cfg.remoteWrite.map((c) =>
            httpClientConfigFrom(c.httpConfig, readFile, `remote_write ${c.name}`)
          ),
        ),
        externalLabels: cfg.externalLabels,
        walCompression: cfg.walCompression,
        logger: log.with({ component: "remote-write" }),
        registry,
      });
    } catch (e) {
      log.error("opening the remote write WAL failed", { err: (e as Error).message });
      return 1;
    }
    log.info("stateless mode: rule results are sent by remote write", {
      remote_write: cfg.remoteWrite.map((c) => c.url).join(","),
    });
  } else {
    db = await DB.open(cfg.dataDir, {
      chunkRangeMs: cfg.blockDurationMs,
      retentionMs: cfg.retentionMs,
      walCompression: cfg.walCompression,
      blockThanosMeta: thanosMeta,
      logger: log.with({ component: "tsdb" }),
    });
  }
  const shipper = bucket && db
    ? new Shipper({
      dir: cfg.dataDir,
      bucket,
      labels: () => labelsToObject(cfg.externalLabels),
      source: "ruler",
      uploadCompacted: cfg.uploadCompacted,
      metaFileName: cfg.shipperMetaFileName,
      hashFunc: cfg.hashFunc,
      uploadConcurrency: cfg.uploadConcurrency,
      registry,
      logger: log.with({ component: "shipper" }),
    })
    : null;
  const tsdb = db;
  const store: StoreBackend = tsdb
    ? new TsdbStore(tsdb.querier(), {
      externalLabels: cfg.externalLabels,
      minTime: () => dbMinTime(tsdb),
      componentType: "rule",
    })
    : {
      // stateless: Info advertises the rules API only (Thanos's ruler serves no StoreAPI then)
      info: () =>
        Promise.resolve({
          componentType: "rule",
          labelSets: [cfg.externalLabels],
          minTime: 0,
          maxTime: 0,
          storeApi: false,
        }),
      series: async function* () {},
      labelNames: () => Promise.resolve({ names: [], warnings: [] }),
      labelValues: () => Promise.resolve({ values: [], warnings: [] }),
    };
  // the ruler serves its rules over gRPC too, advertised in Info (Thanos's ruler)
  const server = new StoreServer(advertising(store, { rules: true }), {
    registry,
    logger: log,
    tls: cfg.grpc.tls,
    limits: cfg.storeLimits,
  });

  const notifier = new Notifier({
    urls: cfg.alertmanagers,
    sendTimeoutMs: cfg.sendTimeoutMs,
    externalLabels: cfg.externalLabels,
    labelDrop: cfg.alertLabelDrop,
    queryURL: cfg.alertQueryURL,
    queryTemplate,
    relabel: cfg.alertRelabelConfigs.length > 0
      ? new Relabeler(cfg.alertRelabelConfigs)
      : undefined,
    logger: log.with({ component: "alert-sender" }),
    registry,
  });
  const manager = new RuleManager({
    query: queryFor,
    appendable: remote ?? db!,
    notify: (expr, alerts) => notifier.send(expr, alerts),
    evalIntervalMs: cfg.evalIntervalMs,
    queryOffsetMs: cfg.ruleQueryOffsetMs,
    resendDelayMs: cfg.resendDelayMs,
    externalLabels: cfg.externalLabels,
    externalURL: cfg.alertQueryURL,
    logger: log,
    registry,
    // stateless: the `for` state is read back from the queriers (Thanos's ruler)
    restore: {
      queryable: db ? db.querier() : rangeQueryable(async (expr, start, end, step, sig) => {
        let last: Error | null = null;
        for (const c of clients.map((c) => c).sort(() => Math.random() - 0.5)) {
          try {
            const r = await c.queryRange(expr, start, end, step, {
              method: cfg.queryMethod,
              extra: [["dedup", "true"], ["partial_response", "false"]],
              signal: sig,
            });
            return r.series;
          } catch (e) {
            if (sig?.aborted) throw e;
            last = e as Error;
          }
        }
        throw new Error(`no query API server reachable: ${last?.message ?? "none discovered"}`);
      }, { stepMs: cfg.queryDefaultStepMs, ignoredLabels: cfg.restoreIgnoredLabels }),
      outageToleranceMs: cfg.forOutageToleranceMs,
      forGracePeriodMs: cfg.forGracePeriodMs,
    },
  });

  const setLoaded = () => {
    loadedRules.reset();
    for (const g of manager.groups) {
      loadedRules.labels(g.strategy.toLowerCase(), g.file, g.name).set(g.rules.length);
    }
  };
  // one reload at a time
  let reloading: Promise<string | null> = Promise.resolve(null);
  const reload = (): Promise<string | null> => {
    reloading = reloading.then(async () => {
      try {
        const next = await loadRuleFiles(cfg.ruleFiles, cfg.functions);
        await manager.update(next);
        setLoaded();
        reloadOk.set(1);
        reloadTime.set(Date.now() / 1000);
        log.info("reloaded rule files", { groups: manager.groups.length });
        return null;
      } catch (e) {
        reloadOk.set(0);
        const msg = e instanceof RuleLoadError ? e.errors.join("\n") : (e as Error).message;
        log.error("reloading rule files failed; keeping the previous rules", { err: msg });
        return msg;
      }
    });
    return reloading;
  };
  ctx.onReload?.(() => void reload());

  const http = new HttpServer({
    address: cfg.http.address,
    web: cfg.http.web,
    logger: log,
    registry,
    probe,
    routePrefix: cfg.routePrefix === "" ? undefined : cfg.routePrefix,
  });
  const reloadRoute: Route = {
    method: "POST",
    path: "/-/reload",
    name: "reload",
    handler: async () => {
      const err = await reload();
      return err === null
        ? new Response("", { status: 200 })
        : new Response(`failed to reload config: ${err}\n`, {
          status: 500,
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
    },
  };
  serveRules(server.grpc, managerRulesBackend(() => manager, cfg.externalLabels));
  http.add([...rulesRoutes(() => manager), reloadRoute]);
  http.add(uiRoutes({
    routePrefix: cfg.routePrefix,
    externalPrefix: cfg.externalPrefix,
    prefixHeader: cfg.prefixHeader,
    component: "rule",
  }));
  if (cfg.routePrefix !== "") {
    // `/` redirects to the route prefix (Thanos's ruler)
    http.add([{
      method: ["GET", "HEAD"],
      path: "/",
      name: "/",
      handler: () => new Response(null, { status: 302, headers: { location: cfg.routePrefix } }),
    }], false);
  }

  const loops = new AbortController();
  const running: Promise<void>[] = [];

  return await serveUntilStopped({
    http,
    httpGracePeriodMs: cfg.http.gracePeriodMs,
    grpc: server,
    grpcAddress: cfg.grpc.address,
    grpcGracePeriodMs: cfg.grpc.gracePeriodMs,
    probe,
    logger: log,
    signal,
    listenFields: { component: "rule" },
    shutdownLog: {
      message: "shutting down the ruler",
      fields: () => ({ reason: String(signal.reason ?? "") }),
    },
    onStop: () => loops.abort(),
    beforeClose: async () => {
      await manager.stop();
      await Promise.allSettled(running);
      await grpcQueriers?.close();
    },
    afterClose: async () => {
      await db?.close();
      await remote?.close();
      for (const c of clientsByURL.values()) c.close();
      for (const g of alertGroups) g.targets.client?.close();
      await bucket?.close();
    },
    stoppedMessage: "ruler stopped",
  }, async () => {
    // the first Info round, so the first evaluations find the gRPC Query APIs
    await grpcQueriers?.start();
    await manager.update(files);
    setLoaded();
    reloadOk.set(1);
    reloadTime.set(Date.now() / 1000);
    server.setServing(true);
    probe.setReady();
    log.info("ruler started", { groups: manager.groups.length });
    running.push(notifier.run(loops.signal));
    if (remote) running.push(remote.run(loops.signal));
    if (alertGroups.length > 0) {
      // --alertmanagers.config: static, file SD and DNS targets, re-discovered every
      // --alertmanagers.sd-dns-interval
      const refreshAlertmanagers = async () => {
        const groups: AlertmanagerTargets[] = [];
        for (const g of alertGroups) groups.push({ ...g.targets, urls: await discover(g) });
        notifier.setConfigTargets(groups);
      };
      await refreshAlertmanagers();
      running.push((async () => {
        while (!loops.signal.aborted) {
          await sleepUnlessAborted(cfg.alertmanagersDnsIntervalMs, loops.signal);
          if (loops.signal.aborted) break;
          await refreshAlertmanagers().catch((e) =>
            log.warn("refreshing Alertmanagers failed", { err: (e as Error).message })
          );
        }
      })());
    }
    if (cfg.alertmanagers.some((u) => !/^https?:/.test(u))) {
      // dns+/dnssrv+ Alertmanagers: resolved now and every --alertmanagers.sd-dns-interval
      const resolve = (a: string) => resolveAddress(a, denoResolver);
      await notifier.refresh(resolve);
      running.push((async () => {
        while (!loops.signal.aborted) {
          await sleepUnlessAborted(cfg.alertmanagersDnsIntervalMs, loops.signal);
          if (loops.signal.aborted) break;
          await notifier.refresh(resolve);
        }
      })());
    }
    if (
      cfg.querySdFiles.length > 0 || cfg.queryAddresses.some((a) => !/^https?:/.test(a)) ||
      cfg.queryGroups.some((g) =>
        g.sdFiles.length > 0 || g.staticAddresses.some((a) => a.includes("+"))
      )
    ) {
      running.push((async () => {
        while (!loops.signal.aborted) {
          await sleepUnlessAborted(cfg.queryRefreshMs, loops.signal);
          if (loops.signal.aborted) break;
          await refreshQueriers().catch((e) =>
            log.warn("refreshing query API servers failed", { err: (e as Error).message })
          );
        }
      })());
    }
    if (shipper) {
      running.push((async () => {
        // Thanos's runutil.Repeat: a sync at start, then every 30 s
        while (!loops.signal.aborted) {
          try {
            await shipper.sync();
          } catch (e) {
            log.error("uploading blocks failed", { err: (e as Error).message });
          }
          await sleepUnlessAborted(SHIP_INTERVAL_MS, loops.signal);
        }
      })());
    }
  });
}
