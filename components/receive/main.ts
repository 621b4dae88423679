// `thanos receive` (https://thanos.io/tip/components/receive.md/): accepts Prometheus remote
// write on `--remote-write.address` (`POST /api/v1/receive`) and OTLP/HTTP metrics
// (`POST /api/v1/otlp`, translated by receive/otlp_translate.ts), routes each series by the
// hashring to its `--receive.replication-factor` owners (this node writes its share into the
// tenant's TSDB, the others get it over Thanos's gRPC `thanos.WriteableStore/RemoteWrite`),
// serves the tenants' TSDBs over the StoreAPI on `--grpc-address`, and ships cut blocks to the
// bucket. `/metrics`, `/-/healthy` and `/-/ready` are on `--http-address`; ready only once every
// tenant's WAL has been replayed. The hashrings file is re-read every refresh interval and on
// change; a bad file keeps the previous hashring and logs an error, as Thanos's ConfigWatcher.
// On the stop signal: not ready, stop accepting remote writes, close gRPC and HTTP within their
// grace periods, cut and ship what is due, close the TSDBs.

import { Registry } from "../../metrics/registry.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import { serveUntilStopped } from "../../server/lifecycle.ts";
import { sleepUnlessAborted } from "../../runutil/sleep.ts";
import { GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";
import { type SeriesItem, type StoreBackend, StoreServer } from "../../storeapi/server.ts";
import type {
  LabelNamesRequest,
  LabelValuesRequest,
  SeriesRequest,
  StoreInfo,
} from "../../storeapi/codec.ts";
import type { Bucket } from "../../objstore/bucket.ts";
import type { Logger } from "../../logging/log.ts";
import type { Labels } from "../../tsdb/series.ts";
import {
  type Hashring,
  newHashring,
  parseHashrings,
  singleNodeHashring,
} from "../../receive/hashring.ts";
import { MultiTSDB } from "../../receive/multitsdb.ts";
import { ReceiveHandler } from "../../receive/handler.ts";
import { writeableService } from "../../receive/writeable.ts";
import { headSeriesLimitFor } from "../../receive/limits.ts";
import type { PromSeries } from "../../receive/remote_write.ts";
import { Relabeler } from "../../relabel/relabel.ts";
import { advertising } from "../../storeapi/api_common.ts";
import { serveExemplars } from "../../storeapi/exemplars.ts";
import { exemplarsBackend } from "../../receive/exemplars.ts";
import { openBucket } from "../objstore.ts";
import type { RunContext } from "../runtime.ts";
import type { ReceiveConfig } from "./config.ts";

/** Upper bound of the interval between block cuts + uploads (Thanos's periodic uploader). */
const MAX_SYNC_INTERVAL_MS = 30_000;
/** Interval of the idle-tenant pruning (Thanos checks every minute). */
const PRUNE_INTERVAL_MS = 60_000;

/**
 * The StoreAPI backend before storage is open (and of a router-only receiver): no series, and
 * Info fails until the server is marked serving (StoreServer does that), so queriers wait.
 */
class LateStore implements StoreBackend {
  target: StoreBackend | null = null;

  info(): Promise<StoreInfo> {
    if (this.target) return this.target.info();
    return Promise.resolve({
      componentType: "receive",
      labelSets: [],
      minTime: Number.MAX_SAFE_INTEGER,
      maxTime: Number.MIN_SAFE_INTEGER,
      storeApi: true,
      supportsSharding: true,
      supportsWithoutReplicaLabels: true,
    });
  }

  series(req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesItem> {
    if (this.target) return this.target.series(req, signal);
    return (async function* () {})();
  }

  labelNames(req: LabelNamesRequest, signal: AbortSignal) {
    if (this.target) return this.target.labelNames(req, signal);
    return Promise.resolve({ names: [], warnings: [] });
  }

  labelValues(req: LabelValuesRequest, signal: AbortSignal) {
    if (this.target) return this.target.labelValues(req, signal);
    return Promise.resolve({ values: [], warnings: [] });
  }
}

/**
 * The address this receiver is known by to the handler. An ingestor-only receiver (no hashring)
 * owns every series even without `--receive.local-endpoint` (Thanos compares the single node's
 * "" with its own ""); a placeholder makes that explicit for the handler.
 */
function localEndpointOf(cfg: ReceiveConfig): string {
  return cfg.mode === "IngestorOnly" && cfg.localEndpoint === "" ? "local" : cfg.localEndpoint;
}

/** Keeps the current hashring; reloads the hashrings file (Thanos's ConfigWatcher). */
class HashringKeeper {
  current: Hashring;
  private lastContent = "";
  private readonly changes;
  private readonly errors;
  private readonly refreshes;
  private readonly success;
  private readonly successTime;
  private readonly nodes;
  private readonly tenants;

  constructor(private readonly cfg: ReceiveConfig, registry: Registry, private log: Logger) {
    this.changes = registry.counter({
      name: "thanos_receive_hashrings_file_changes_total",
      help: "The number of times the hashrings configuration file has changed.",
    });
    this.errors = registry.counter({
      name: "thanos_receive_hashrings_file_errors_total",
      help: "The number of errors watching the hashrings configuration file.",
    });
    this.refreshes = registry.counter({
      name: "thanos_receive_hashrings_file_refreshes_total",
      help: "The number of refreshes of the hashrings configuration file.",
    });
    this.success = registry.gauge({
      name: "thanos_receive_config_last_reload_successful",
      help: "Whether the last hashring configuration file reload attempt was successful.",
    });
    this.successTime = registry.gauge({
      name: "thanos_receive_config_last_reload_success_timestamp_seconds",
      help: "Timestamp of the last successful hashring configuration file reload.",
    });
    this.nodes = registry.gauge({
      name: "thanos_receive_hashring_nodes",
      help: "The number of nodes per hashring.",
      labelNames: ["name"],
    });
    this.tenants = registry.gauge({
      name: "thanos_receive_hashring_tenants",
      help: "The number of tenants per hashring.",
      labelNames: ["name"],
    });
    const src = cfg.hashrings;
    if (src.kind === "none") {
      this.current = singleNodeHashring(localEndpointOf(cfg));
      log.info("Empty hashring config. Set up single node hashring.");
    } else {
      // validated by config.ts already
      this.current = this.build(src.kind === "file" ? src.initial : src.content)!;
      this.lastContent = src.kind === "file" ? src.initial : src.content;
      this.changes.inc();
    }
  }

  /** The hashring of `content`, or null (with an error logged) when it is invalid. */
  private build(content: string): Hashring | null {
    try {
      const cfgs = parseHashrings(content);
      const ring = newHashring(cfgs, this.cfg.hashringsAlgorithm, this.cfg.replicationFactor);
      this.success.set(1);
      this.successTime.set(Date.now() / 1000);
      for (const c of cfgs) {
        this.nodes.set({ name: c.hashring }, c.endpoints.length);
        this.tenants.set({ name: c.hashring }, c.tenants.length);
      }
      const endpoints = ring.endpoints();
      if (this.cfg.localEndpoint !== "" && !endpoints.includes(this.cfg.localEndpoint)) {
        this.log.warn(
          "the local endpoint is in no hashring: this receiver only forwards writes",
          { local_endpoint: this.cfg.localEndpoint },
        );
      }
      this.log.info("Set up hashring for the given hashring config.", {
        endpoints: endpoints.length,
      });
      return ring;
    } catch (e) {
      this.success.set(0);
      this.errors.inc();
      this.log.error("failed to load configuration file; keeping the previous hashring", {
        err: (e as Error).message,
        path: this.cfg.hashrings.kind === "file" ? this.cfg.hashrings.path : "",
      });
      return null;
    }
  }

  /** Re-reads the hashrings file once; swaps the hashring when it changed and is valid. */
  async refresh(): Promise<void> {
    const src = this.cfg.hashrings;
    if (src.kind !== "file") return;
    this.refreshes.inc();
    let content: string;
    try {
      content = await Deno.readTextFile(src.path);
    } catch (e) {
      this.errors.inc();
      this.log.error("failed to load configuration file; keeping the previous hashring", {
        err: (e as Error).message,
        path: src.path,
      });
      return;
    }
    if (content === this.lastContent) return;
    this.lastContent = content;
    const ring = this.build(content);
    if (ring) {
      this.changes.inc();
      this.current = ring;
    }
  }

  /** Re-reads the file every refresh interval, and soon after it changes, until `signal`. */
  async watch(signal: AbortSignal): Promise<void> {
    const src = this.cfg.hashrings;
    if (src.kind !== "file") return;
    let watcher: Deno.FsWatcher | undefined;
    let wake: (() => void) | undefined;
    try {
      watcher = Deno.watchFs(src.path, { recursive: false });
      (async () => {
        for await (const _ of watcher!) wake?.();
      })().catch(() => {});
    } catch (e) {
      this.log.warn("cannot watch the hashrings file; relying on the refresh interval", {
        err: (e as Error).message,
        path: src.path,
      });
    }
    const onAbort = () => watcher?.close();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      while (!signal.aborted) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, this.cfg.hashringsRefreshMs);
          function done() {
            clearTimeout(t);
            signal.removeEventListener("abort", done);
            resolve();
          }
          wake = () => setTimeout(done, 100); // let the writer finish
          signal.addEventListener("abort", done, { once: true });
        });
        wake = undefined;
        if (!signal.aborted) await this.refresh();
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      try {
        watcher?.close();
      } catch { /* closed */ }
    }
  }
}

/** `thanos receive` */
export async function runReceive(cfg: ReceiveConfig, ctx: RunContext): Promise<number> {
  const log = ctx.logger.with({ component: "receive" });
  const signal = ctx.signal;
  const registry = new Registry();
  const probe = new Probe();
  probe.setNotReady("storage not open yet");
  log.info("running receive", { mode: cfg.mode });

  const ingest = cfg.mode !== "RouterOnly";
  let bucket: Bucket | undefined;
  if (ingest && cfg.objstoreConfig.trim() !== "") {
    bucket = await openBucket(cfg.objstoreConfig, { registry, logger: log, component: "receive" });
  } else if (ingest) {
    log.info("no supported bucket was configured, uploads will be disabled");
  }

  const ring = new HashringKeeper(cfg, registry, log.with({ component: "config-watcher" }));
  const lateStore = new LateStore();
  let handler: ReceiveHandler | null = null;
  let db: MultiTSDB | null = null;

  const writeable = writeableService(
    (tenant: string, series: PromSeries[], replica: number, sig: AbortSignal): Promise<void> => {
      if (handler === null) {
        return Promise.reject(new GrpcError(GrpcStatus.UNAVAILABLE, "receiver not ready"));
      }
      return handler.onForward(tenant, series, replica, sig);
    },
  );
  // Thanos's receiver always advertises and serves the Exemplars API (empty without
  // --tsdb.max-exemplars)
  const server = new StoreServer(advertising(lateStore, { exemplars: true }), {
    registry,
    logger: log,
    tls: cfg.grpc.tls,
    limits: cfg.storeLimits,
    healthServices: ["thanos.Store", "thanos.info.Info", writeable.service],
  });
  writeable.register(server.grpc);
  serveExemplars(server.grpc, exemplarsBackend(() => db));

  const http = new HttpServer({
    address: cfg.http.address,
    web: cfg.http.web,
    logger: log,
    registry,
    probe,
  });
  const rwProbe = new Probe();
  const rwTls = cfg.remoteWriteTls;
  const rwLog = log.with({ service: "remote-write" });
  // HTTPS with `--remote-write.server-tls-cert/-key`. A client CA (Go's
  // RequireAndVerifyClientCert) or TLS 1.3 only (the default minimum) is served by HttpServer's
  // node:https listener (server/mtls.ts)
  if (rwTls && (rwTls.minVersion === "1.0" || rwTls.minVersion === "1.1")) {
    // the runtime's TLS speaks 1.2 and 1.3 only
    log.warn("the remote-write server accepts TLS 1.2 and 1.3 only", {
      "remote-write.server-tls-min-version": rwTls.minVersion,
    });
  }
  const rwServer = new HttpServer({
    address: cfg.remoteWriteAddress,
    logger: rwLog,
    registry,
    probe: rwProbe,
    web: rwTls
      ? {
        path: "",
        tls: {
          cert: { file: rwTls.certFile },
          key: { file: rwTls.keyFile },
          ...(rwTls.clientCaFile !== undefined
            ? {
              clientAuth: "RequireAndVerifyClientCert" as const,
              clientCA: { file: rwTls.clientCaFile },
            }
            : {}),
          ...(rwTls.minVersion === "1.3" ? { minVersion: "TLSv1.3" as const } : {}),
        },
        headers: {},
        users: new Map(),
      }
      : undefined,
  });
  let rwStarted = false;
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
    listenFields: { component: "receive" },
    shutdownLog: {
      message: "shutting down the receiver",
      fields: () => ({ reason: String(signal.reason ?? "") }),
    },
    onStop: () => {
      rwProbe.setNotReady("shutting down");
      loops.abort();
    },
    beforeClose: async () => {
      // no more writes: the remote-write endpoint goes first
      if (rwStarted) await rwServer.shutdown(cfg.http.gracePeriodMs);
      await Promise.allSettled(running);
      handler?.close();
    },
    afterClose: async () => {
      if (db) {
        try {
          log.info("uploading the final cut blocks before exiting");
          await db.sync();
        } catch (e) {
          log.error("the final upload failed", { err: (e as Error).message });
        }
        await db.close();
        log.info("storage is closed");
      }
      await bucket?.close();
    },
    stoppedMessage: "receiver stopped",
  }, async () => {
    if (ingest) {
      const began = performance.now();
      db = await MultiTSDB.open({
        dir: cfg.dataDir,
        tenantLabelName: cfg.tenantLabelName,
        defaultTenant: cfg.defaultTenant,
        externalLabels: cfg.externalLabels as Labels,
        retentionMs: cfg.retentionMs,
        maxBytes: cfg.maxRetentionBytes,
        blockRangeMs: cfg.blockRangeMs,
        walCompression: cfg.walCompression,
        bucket,
        hashFunc: cfg.hashFunc,
        shipperSkipCorruptedBlocks: cfg.shipperSkipCorruptedBlocks,
        shipperAllowOutOfOrderUploads: cfg.shipperAllowOutOfOrderUploads,
        headSeriesLimit: (tenant) => headSeriesLimitFor(cfg.limits, tenant),
        tooFarInFutureMs: cfg.tooFarInFutureMs,
        oooWindowMs: cfg.oooWindowMs,
        oooCapMax: cfg.oooCapMax,
        maxExemplars: cfg.maxExemplars,
        logger: log.with({ component: "multi-tsdb" }),
        registry,
      });
      log.info("storage started", {
        tenants: db.tenants().length,
        replay_duration: `${((performance.now() - began) / 1000).toFixed(3)}s`,
      });
      lateStore.target = db.store();
    }
    if (signal.aborted) return;
    handler = new ReceiveHandler({
      hashring: () => ring.current,
      localEndpoint: localEndpointOf(cfg),
      replicationFactor: cfg.replicationFactor,
      tenantHeader: cfg.tenantHeader,
      defaultTenant: cfg.defaultTenant,
      tenantCertificateField: cfg.tenantCertificateField,
      replicaHeader: cfg.replicaHeader,
      db,
      limits: cfg.limits,
      forwardTimeoutMs: cfg.forwardTimeoutMs,
      logger: log,
      registry,
      mode: cfg.mode,
      grpcCompression: cfg.forwardCompression,
      clientTls: cfg.forwardTls,
      asyncForwardWorkers: cfg.forwardWorkers,
      maxBackoffMs: cfg.forwardMaxBackoffMs,
      relabel: new Relabeler(cfg.relabelConfigs),
      splitTenantLabelName: cfg.splitTenantLabelName,
      otlp: cfg.otlp,
      maxArtificialDelayMs: cfg.maxArtificialDelayMs,
    });
    rwServer.add(handler.routes());
    await rwServer.start();
    rwStarted = true;
    rwProbe.setReady();
    server.setServing(true);
    probe.setReady();
    log.info("storage started, and server is ready to receive requests");

    running.push(ring.watch(loops.signal));
    if (db) {
      const tsdbs = db;
      const syncEvery = Math.max(1000, Math.min(MAX_SYNC_INTERVAL_MS, cfg.blockRangeMs / 4));
      running.push((async () => {
        while (!loops.signal.aborted) {
          await sleepUnlessAborted(syncEvery, loops.signal);
          if (loops.signal.aborted) break;
          try {
            await tsdbs.sync();
          } catch (e) {
            log.error("cutting or uploading blocks failed", { err: (e as Error).message });
          }
        }
      })());
      if (cfg.retentionMs > 0) {
        running.push((async () => {
          while (!loops.signal.aborted) {
            await sleepUnlessAborted(PRUNE_INTERVAL_MS, loops.signal);
            if (loops.signal.aborted) break;
            try {
              await tsdbs.pruneIdle(cfg.retentionMs);
            } catch (e) {
              log.error("pruning idle tenants failed", { err: (e as Error).message });
            }
          }
        })());
      }
    }
  });
}
