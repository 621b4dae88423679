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
import { type Flags, parseDurationFlag, parseListenAddress, UsageError } from "../flags.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import type { Logger } from "../../logging/log.ts";
import { objstoreConfigText, openBucket } from "../objstore.ts";
import type { RunContext } from "../runtime.ts";
import { sleepUnlessAborted } from "../../runutil/sleep.ts";
import { serverTlsFromFlags } from "../grpc.ts";
import {
  HttpClientConfigError,
  parseHttpClientConfig,
  PrometheusClient,
} from "../../promclient/client.ts";
import { type PrometheusState, PrometheusStore } from "../../store/prometheus_store.ts";
import { Reloader } from "../../promclient/reloader.ts";
import { Shipper } from "../../block/shipper.ts";

/** Message when Prometheus has no external labels (the sidecar refuses to start). */
export const NO_EXTERNAL_LABELS_MESSAGE =
  "no external labels configured on Prometheus server, uniquely identifying external labels " +
  "must be configured; see https://thanos.io/tip/thanos/storage.md#external-labels for " +
  "details. Add them to prometheus.yml, e.g.\n  global:\n    external_labels:\n" +
  "      cluster: eu1\n      replica: A\nthen reload or restart Prometheus";

function durationMs(s: string): number | null {
  try {
    return parseDurationFlag(s);
  } catch {
    return null;
  }
}

/**
 * Checks Prometheus's block durations before uploading (spec/thanos.md §12 start-up step 1):
 * local compaction must be off (min == max block duration) unless Prometheus delays compaction
 * until the shipper uploaded. Throws UsageError with what to change; null flags (404) pass.
 */
export function validateBlockDurations(
  promFlags: Record<string, string> | null,
  shipperFile: string,
  log?: Logger,
): void {
  if (promFlags === null) {
    log?.warn("Prometheus has no flags API (too old): block durations are not validated");
    return;
  }
  const delay = promFlags["storage.tsdb.delay-compact-file.path"] ?? "";
  const min = promFlags["storage.tsdb.min-block-duration"] ?? "";
  const max = promFlags["storage.tsdb.max-block-duration"] ?? "";
  if (delay !== "") {
    if (delay !== shipperFile && !delay.endsWith(`/${shipperFile.split("/").pop()}`)) {
      throw new UsageError(
        `Prometheus delays compaction on ${delay} but the shipper writes ${shipperFile}: set ` +
          `Prometheus's --storage.tsdb.delay-compact-file.path to the shipper file`,
      );
    }
    return;
  }
  const minMs = durationMs(min);
  const maxMs = durationMs(max);
  if (minMs === null || maxMs === null ? min !== max : minMs !== maxMs) {
    throw new UsageError(
      `found that TSDB Max time is ${max} and Min time is ${min}. Compaction needs to be ` +
        "disabled (storage.tsdb.min-block-duration = storage.tsdb.max-block-duration): start " +
        "Prometheus with --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h",
    );
  }
  if (maxMs !== 7_200_000) {
    log?.warn("found that TSDB block time is not 2h. Only 2h block time is recommended.", {
      block_time: max,
    });
  }
}

/** `thanos sidecar` */
export async function runSidecar(flags: Flags, ctx: RunContext): Promise<number> {
  const log = ctx.logger;
  // aborted on SIGTERM, and by us when start-up fails, so background loops always end
  const stopAll = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stopAll.signal]);
  const registry = new Registry();
  const probe = new Probe();
  probe.setNotReady("waiting for Prometheus");

  const tls = serverTlsFromFlags(flags);
  const grpcAddr = parseListenAddress(flags.string("grpc-address"));
  const httpClientFile = flags.fileContents("prometheus.http-client-file");
  const httpClientInline = flags.string("prometheus.http-client");
  if (httpClientFile !== "" && httpClientInline !== "") {
    throw new UsageError(
      "--prometheus.http-client-file and --prometheus.http-client are mutually exclusive",
    );
  }
  let client: PrometheusClient;
  try {
    const http = await parseHttpClientConfig(
      httpClientFile || httpClientInline,
      (p) => Deno.readTextFile(p),
    );
    client = new PrometheusClient(flags.string("prometheus.url"), {
      http,
      userAgent: `Thanos/${denoConfig.version}`,
    });
  } catch (e) {
    if (e instanceof HttpClientConfigError) throw new UsageError(e.message);
    throw e;
  }
  const minTimeFlag = flags.time("min-time");
  const getConfigInterval = flags.duration("prometheus.get_config_interval");
  const getConfigTimeout = flags.duration("prometheus.get_config_timeout");
  const readyTimeout = flags.duration("prometheus.ready_timeout");
  const tsdbPath = flags.string("tsdb.path");
  // `?? ""`: the launcher turns an unset --objstore.config into an empty value list
  const uploads = (objstoreConfigText(flags) ?? "").trim() !== "";

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
  const backend: StoreBackend = {
    info: () => wrapped.info(),
    series: (req, s) => wrapped.series(req, s),
    labelNames: (req, s) => wrapped.labelNames(req, s),
    labelValues: (req, s) => wrapped.labelValues(req, s),
  };
  const server = new StoreServer(backend, {
    registry,
    tls,
    limits: {
      seriesLimit: flags.int("store.limits.request-series"),
      samplesLimit: flags.int("store.limits.request-samples"),
    },
  });
  const http = new HttpServer({
    address: parseListenAddress(flags.string("http-address")),
    logger: log,
    registry,
    probe,
  });

  const bucket = uploads
    ? await openBucket(flags, { registry, logger: log, component: "sidecar" })
    : undefined;
  const shipper = bucket
    ? new Shipper({
      dir: tsdbPath,
      bucket,
      labels: () => labelsToObject(extLabels),
      source: "sidecar",
      uploadCompacted: flags.bool("shipper.upload-compacted"),
      metaFileName: flags.string("shipper.meta-file-name"),
      hashFunc: flags.string("hash-func"),
      uploadConcurrency: flags.int("shipper.upload-concurrency"),
      registry,
      logger: log.with({ component: "shipper" }),
    })
    : undefined;
  const reloaderCfg = flags.string("reloader.config-file");
  const ruleDirs = flags.strings("reloader.rule-dir");
  const reloader = reloaderCfg !== "" || ruleDirs.length > 0
    ? new Reloader({
      configFile: reloaderCfg,
      configEnvsubstFile: flags.string("reloader.config-envsubst-file"),
      ruleDirs,
      watchIntervalMs: flags.duration("reloader.watch-interval"),
      retryIntervalMs: flags.duration("reloader.retry-interval"),
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
      if (initial) throw new UsageError(NO_EXTERNAL_LABELS_MESSAGE);
      log.error("Prometheus has no external labels anymore; keeping the previous ones", {
        external_labels: labelsToString(extLabels),
      });
    } else setLabels(labels);
  };

  const tasks: Promise<void>[] = [];
  let listening = false;
  let failed = false;
  try {
    await http.start();
    const addr = await server.listen(grpcAddr.hostname, grpcAddr.port);
    listening = true;
    log.info("listening for serving gRPC", {
      service: "gRPC/server",
      component: "sidecar",
      address: `${addr.hostname}:${addr.port}`,
    });
    if (reloader) tasks.push(reloader.run(signal));

    // start-up: retried until Prometheus answers
    const began = Date.now();
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        await refresh(true);
        break;
      } catch (e) {
        if (e instanceof UsageError || signal.aborted) throw e;
        promUp.set(0);
        log.warn("failed to fetch initial external labels. Is Prometheus running? Retrying", {
          err: (e as Error).message,
          attempt,
        });
        if (uploads && Date.now() - began > readyTimeout) {
          throw new Error(
            `aborting as no external labels found after waiting ${
              flags.string("prometheus.ready_timeout")
            }: ${(e as Error).message}`,
          );
        }
      }
      await sleepUnlessAborted(Math.min(getConfigInterval, 5000 * attempt), signal);
    }
    if (signal.aborted) return 0;
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
      const every = flags.duration("shipper.sync-interval");
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
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    stopAll.abort(new Error("sidecar stopping"));
    probe.setNotReady("shutting down");
    log.info("shutting down the sidecar", { reason: String(ctx.signal.reason ?? "") });
    if (listening && !failed) await server.close(flags.duration("grpc-grace-period"));
    else await server.close(0).catch(() => undefined);
    await http.shutdown(failed ? 0 : flags.duration("http-grace-period"));
    await Promise.allSettled(tasks);
    await bucket?.close();
    client.close();
  }
  log.info("sidecar stopped");
  return 0;
}
