// `thanos sidecar`: serves one Prometheus over the StoreAPI (remote read, external labels
// attached), uploads its blocks to the bucket (shipper) and reloads its config (reloader).
// Start-up follows Thanos: check the block durations when uploading, read the version, the
// oldest sample time and the external labels (mandatory), retrying until Prometheus answers;
// then a heartbeat refreshes them every `--prometheus.get_config_interval`, and the sidecar is
// not ready (Info fails, health NOT_SERVING) while Prometheus is unreachable.

import denoConfig from "../../deno.json" with { type: "json" };
import { Registry } from "../../metrics/registry.ts";
import { withExternalLabels } from "../../storeapi/external_labels.ts";
import { type StoreBackend, StoreServer } from "../../storeapi/server.ts";
import { labelsEqual, labelsToObject, labelsToString } from "../../tsdb/labels.ts";
import type { Labels } from "../../tsdb/series.ts";
import { UsageError } from "../flags.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import { serveUntilStopped } from "../../server/lifecycle.ts";
import { openBucket } from "../objstore.ts";
import type { RunContext } from "../runtime.ts";
import { sleepUnlessAborted } from "../../runutil/sleep.ts";
import {
  HttpClientConfigError,
  parseHttpClientConfig,
  PrometheusClient,
} from "../../promclient/client.ts";
import { type PrometheusState, PrometheusStore } from "../../store/prometheus_store.ts";
import { PrometheusApis } from "../../store/prometheus_apis.ts";
import { serveRules } from "../../storeapi/rules.ts";
import { serveTargets } from "../../storeapi/targets.ts";
import { serveMetadata } from "../../storeapi/metadata.ts";
import { serveExemplars } from "../../storeapi/exemplars.ts";
import { advertising } from "../../storeapi/api_common.ts";
import { Reloader } from "../../promclient/reloader.ts";
import { Shipper } from "../../block/shipper.ts";
import {
  NO_EXTERNAL_LABELS_MESSAGE,
  PrometheusConfigError,
  validateBlockDurations,
} from "../../promclient/validate.ts";
import type { SidecarConfig } from "./config.ts";

/** `thanos sidecar` */
export async function runSidecar(cfg: SidecarConfig, ctx: RunContext): Promise<number> {
  const log = ctx.logger;
  // aborted on SIGTERM, and by us when start-up fails, so background loops always end
  const stopAll = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stopAll.signal]);
  const registry = new Registry();
  const probe = new Probe();
  probe.setNotReady("waiting for Prometheus");

  let client: PrometheusClient;
  try {
    const http = await parseHttpClientConfig(
      cfg.prometheus.httpClientConfig,
      (p) => Deno.readTextFile(p),
    );
    client = new PrometheusClient(cfg.prometheus.url, {
      http,
      userAgent: `Thanos/${denoConfig.version}`,
    });
  } catch (e) {
    if (e instanceof HttpClientConfigError) throw new UsageError(e.message);
    throw e;
  }
  const minTimeFlag = cfg.minTime;
  const getConfigInterval = cfg.prometheus.getConfigIntervalMs;
  const getConfigTimeout = cfg.prometheus.getConfigTimeoutMs;
  const readyTimeout = cfg.prometheus.readyTimeoutMs;
  const uploads = cfg.objstoreConfig.trim() !== "";

  const promUp = registry.gauge({
    name: "thanos_sidecar_prometheus_up",
    help: "Boolean indicator whether the sidecar can reach its Prometheus peer.",
  });
  promUp.set(0);
  const lastHeartbeat = registry.gauge({
    name: "thanos_sidecar_last_heartbeat_success_time_seconds",
    help: "Timestamp of the last successful heartbeat in seconds.",
  });

  const state: PrometheusState = { version: "0", minTime: minTimeFlag };
  let extLabels: Labels = [];
  const store = new PrometheusStore(client, { state: () => state, minTimeFlag });
  let wrapped: StoreBackend = withExternalLabels(store, extLabels, { resort: true });
  // the sidecar also serves Prometheus's rules, targets, metadata and exemplars (Thanos's sidecar)
  const backend: StoreBackend = advertising({
    info: () => wrapped.info(),
    series: (req, s, call) => wrapped.series(req, s, call),
    labelNames: (req, s, call) => wrapped.labelNames(req, s, call),
    labelValues: (req, s, call) => wrapped.labelValues(req, s, call),
  }, { rules: true, targets: true, metricMetadata: true, exemplars: true });
  const server = new StoreServer(backend, {
    registry,
    logger: log,
    tls: cfg.grpc.tls,
    limits: { seriesLimit: cfg.seriesLimit, samplesLimit: cfg.samplesLimit },
  });
  const apis = new PrometheusApis(client, () => extLabels);
  serveRules(server.grpc, apis);
  serveTargets(server.grpc, apis);
  serveMetadata(server.grpc, apis);
  serveExemplars(server.grpc, apis);
  const http = new HttpServer({
    address: cfg.http.address,
    web: cfg.http.web,
    logger: log,
    registry,
    probe,
  });

  const bucket = uploads
    ? await openBucket(cfg.objstoreConfig, { registry, logger: log, component: "sidecar" })
    : undefined;
  const shipper = bucket
    ? new Shipper({
      dir: cfg.tsdbPath,
      bucket,
      labels: () => labelsToObject(extLabels),
      source: "sidecar",
      uploadCompacted: cfg.shipper.uploadCompacted,
      metaFileName: cfg.shipper.metaFileName,
      hashFunc: cfg.shipper.hashFunc,
      uploadConcurrency: cfg.shipper.uploadConcurrency,
      registry,
      logger: log.with({ component: "shipper" }),
    })
    : undefined;
  const reloader = cfg.reloader
    ? new Reloader({
      configFile: cfg.reloader.configFile,
      configEnvsubstFile: cfg.reloader.configEnvsubstFile,
      ruleDirs: cfg.reloader.ruleDirs,
      watchIntervalMs: cfg.reloader.watchIntervalMs,
      retryIntervalMs: cfg.reloader.retryIntervalMs,
      reload: (s) => client.reload(s),
      // the role reads the environment only when the launcher granted it
      env: (name) => Deno.env.get(name),
      logger: log.with({ component: "reloader" }),
      registry,
    })
    : undefined;

  const setLabels = (ls: Labels) => {
    if (labelsEqual(ls, extLabels)) return;
    extLabels = ls;
    wrapped = withExternalLabels(store, ls, { resort: true });
  };

  /** Reads min time and external labels (and version at start); throws when unreachable. */
  const refresh = async (initial: boolean) => {
    const s = AbortSignal.any([signal, AbortSignal.timeout(getConfigTimeout)]);
    if (initial) {
      if (shipper) validateBlockDurations(await client.flags(s), shipper.metaFilePath, log);
      state.version = await client.version(s);
    }
    const lowest = await client.lowestTimestamp(s);
    const labels = await client.externalLabels(s);
    state.minTime = Math.max(minTimeFlag, lowest);
    if (labels.length === 0) {
      if (initial) throw new PrometheusConfigError(NO_EXTERNAL_LABELS_MESSAGE);
      log.error("Prometheus has no external labels anymore; keeping the previous ones", {
        external_labels: labelsToString(extLabels),
      });
    } else setLabels(labels);
  };

  const tasks: Promise<void>[] = [];
  return await serveUntilStopped({
    http,
    httpGracePeriodMs: cfg.http.gracePeriodMs,
    grpc: server,
    grpcAddress: cfg.grpc.address,
    grpcGracePeriodMs: cfg.grpc.gracePeriodMs,
    probe,
    logger: log,
    signal: ctx.signal,
    listenFields: { component: "sidecar" },
    onStop: () => stopAll.abort(new Error("sidecar stopping")),
    shutdownLog: {
      message: "shutting down the sidecar",
      fields: () => ({ reason: String(ctx.signal.reason ?? "") }),
    },
    afterClose: async () => {
      await Promise.allSettled(tasks);
      await bucket?.close();
      client.close();
    },
    stoppedMessage: "sidecar stopped",
  }, async () => {
    if (reloader) tasks.push(reloader.run(signal));

    // start-up: retried until Prometheus answers
    const began = Date.now();
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        await refresh(true);
        break;
      } catch (e) {
        // a misconfigured Prometheus is the user's to fix: exit 2 with what to change
        if (e instanceof PrometheusConfigError) throw new UsageError(e.message);
        if (signal.aborted) throw e;
        promUp.set(0);
        log.warn("failed to fetch initial external labels. Is Prometheus running? Retrying", {
          err: (e as Error).message,
          attempt,
        });
        if (uploads && Date.now() - began > readyTimeout) {
          throw new Error(
            `aborting as no external labels found after waiting ${cfg.prometheus.readyTimeoutText}: ${
              (e as Error).message
            }`,
          );
        }
      }
      await sleepUnlessAborted(Math.min(getConfigInterval, 5000 * attempt), signal);
    }
    if (signal.aborted) return;
    promUp.set(1);
    lastHeartbeat.set(Date.now() / 1000);
    log.info("successfully loaded prometheus external labels", {
      external_labels: labelsToString(extLabels),
      prometheus_version: state.version,
    });
    probe.setReady();
    server.setServing(true);

    tasks.push((async () => {
      while (!signal.aborted) {
        await sleepUnlessAborted(getConfigInterval, signal);
        if (signal.aborted) break;
        try {
          await refresh(false);
          promUp.set(1);
          lastHeartbeat.set(Date.now() / 1000);
          if (!probe.ready) log.info("Prometheus is reachable again, sidecar ready");
          probe.setReady();
          server.setServing(true);
        } catch (e) {
          if (signal.aborted) break;
          promUp.set(0);
          const msg = (e as Error).message;
          if (probe.ready) log.warn("heartbeat failed, sidecar not ready", { err: msg });
          probe.setNotReady(`cannot reach Prometheus: ${msg}`);
          server.setServing(false);
        }
      }
    })());

    if (shipper) {
      const every = cfg.shipper.syncIntervalMs;
      tasks.push((async () => {
        while (!signal.aborted) {
          try {
            await shipper.sync(signal);
          } catch (e) {
            if (signal.aborted) break;
            log.warn("shipper sync failed", { err: (e as Error).message });
          }
          await sleepUnlessAborted(every, signal);
        }
      })());
    } else {
      log.info("no supported bucket was configured, uploads will be disabled");
    }
  });
}
