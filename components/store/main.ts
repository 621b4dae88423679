// `thanos store`: the store gateway. Syncs blocks from the bucket every
// `--sync-block-duration`, serves them over the StoreAPI (gRPC) and exposes `/metrics`,
// `/-/healthy` and `/-/ready` (ready once the first sync completed), and, unless
// `--web.disable`, the bucket web UI's "loaded" view (`/loaded`, `/api/v1/blocks?view=loaded`). On the run signal it stops
// accepting calls, lets in-flight ones finish within the grace periods and returns 0.

import { Registry } from "../../metrics/registry.ts";
import { registerTracingMetrics } from "../../tracing/stats.ts";
import { StoreServer } from "../../storeapi/server.ts";
import { MatchersCache } from "../../storeapi/matchers_cache.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import { serveUntilStopped } from "../../server/lifecycle.ts";
import { openBucket } from "../objstore.ts";
import type { RunContext } from "../runtime.ts";
import { sleepUnlessAborted } from "../../runutil/sleep.ts";
import { BucketStore } from "../../store/bucket_store.ts";
import { warmSeriesPath } from "../../store/warmup.ts";
import { MetaSyncer } from "../../block/fetcher.ts";
import { ParquetConvertedBlocks } from "../../block/parquet_filter.ts";
import { newCache } from "../../cache/factory.ts";
import { RemoteIndexCache } from "../../store/index_cache.ts";
import { CachingBucket } from "../../store/caching_bucket.ts";
import type { Bucket } from "../../objstore/bucket.ts";
import { GlobalBlocksView } from "../../block/blocks_view.ts";
import { bucketUiRoutes } from "../../ui/bucket_ui.ts";
import type { StoreConfig } from "./config.ts";

/** Delay between attempts of the initial sync while the bucket is unreachable. */
const INITIAL_SYNC_RETRY_MS = 5000;

/** `thanos store` */
export async function runStore(cfg: StoreConfig, ctx: RunContext): Promise<number> {
  const log = ctx.logger;
  const signal = ctx.signal;
  const registry = new Registry();
  if (cfg.tracing) registerTracingMetrics(registry);
  const probe = new Probe();
  probe.setNotReady("initial block sync not completed");

  const dataDir = cfg.dataDir;
  await Deno.mkdir(dataDir, { recursive: true });

  let bucket: Bucket = await openBucket(cfg.objstoreConfig, {
    registry,
    logger: log,
    component: "store",
  });
  if (cfg.cachingBucket) {
    // Thanos names the caches' clients "caching-bucket" and "index-cache" (the `name` label)
    const cache = newCache(cfg.cachingBucket.backend, {
      name: "caching-bucket",
      registry,
      logger: log,
    });
    const id = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(cfg.objstoreConfig)),
    );
    bucket = new CachingBucket(bucket, cache, cfg.cachingBucket, {
      registry,
      bucketId: [...id.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(""),
    });
  }
  const remoteIndexCache = cfg.remoteIndexCache
    ? new RemoteIndexCache(
      newCache(cfg.remoteIndexCache.backend, { name: "index-cache", registry, logger: log }),
      {
        registry,
        enabledItems: cfg.remoteIndexCache.enabledItems,
        ttlMs: cfg.remoteIndexCache.ttlMs,
      },
    )
    : undefined;
  // --objstore-parquet.config: blocks a parquet gateway serves are left out (read-only, no metrics)
  const parquetBucket = cfg.parquetObjstoreConfig.trim() === ""
    ? undefined
    : await openBucket(cfg.parquetObjstoreConfig, { logger: log, component: "store-parquet" });
  const syncer = new MetaSyncer(bucket, {
    parquetConverted: parquetBucket
      ? new ParquetConvertedBlocks(parquetBucket, cfg.metaFetchConcurrency)
      : undefined,
    cacheDir: `${dataDir}/meta-syncer`,
    concurrency: cfg.metaFetchConcurrency,
    strategy: cfg.discoveryStrategy,
    minTime: cfg.minTime,
    maxTime: cfg.maxTime,
    relabel: cfg.relabel,
    consistencyDelayMs: cfg.consistencyDelayMs,
    ignoreDeletionMarksDelayMs: cfg.ignoreDeletionMarksDelayMs,
    registry,
    onCorrupt: (id, err) =>
      log.error("skipping block with a corrupt meta.json", { block: id, err: err.message }),
  });
  const store = new BucketStore(bucket, {
    syncer,
    logger: log,
    registry,
    dataDir,
    cacheIndexHeader: cfg.cacheIndexHeader,
    indexCacheBytes: cfg.indexCacheBytes,
    indexCache: cfg.indexCache,
    remoteIndexCache,
    blockSyncConcurrency: cfg.blockSyncConcurrency,
    minTime: cfg.minTime,
    maxTime: cfg.maxTime,
    seriesMaxConcurrency: cfg.seriesMaxConcurrency,
    bytesLimit: cfg.bytesLimit,
    lazyReader: cfg.lazyReader,
    lazyExpandedPostings: cfg.lazyExpandedPostings
      ? { maxKeySeriesRatio: cfg.postingGroupMaxKeySeriesRatio }
      : undefined,
  });
  const server = new StoreServer(store, {
    registry,
    logger: log,
    tls: cfg.grpc.tls,
    limits: { seriesLimit: cfg.seriesLimit, samplesLimit: cfg.samplesLimit },
    matchersCache: cfg.matcherCacheSize > 0
      ? new MatchersCache(cfg.matcherCacheSize, registry)
      : undefined,
  });
  const http = new HttpServer({
    address: cfg.http.address,
    web: cfg.http.web,
    logger: log,
    registry,
    probe,
  });
  // the bucket web UI's "loaded" view: the blocks this store serves, set after every sync
  // (Thanos's store: `BlocksAPI.SetLoaded`); the global view is never refreshed here
  const view = cfg.web.disabled ? undefined : new GlobalBlocksView(bucket, {
    label: cfg.web.label,
    logger: log,
    cors: cfg.web.cors,
    disableAdminOperations: cfg.web.disableAdminOperations,
    readOnly: "the store gateway reads its bucket read-only; mark blocks with " +
      "`thanos tools bucket mark` or from the compactor's web UI",
  });
  if (view) http.add(bucketUiRoutes(view, { ...cfg.web, component: "store" }));

  return await serveUntilStopped({
    http,
    httpGracePeriodMs: cfg.http.gracePeriodMs,
    grpc: server,
    grpcAddress: cfg.grpc.address,
    grpcGracePeriodMs: cfg.grpc.gracePeriodMs,
    probe,
    logger: log,
    signal,
    listenFields: { component: "store" },
    shutdownLog: {
      message: "shutting down the store gateway",
      fields: () => ({ reason: String(signal.reason ?? "") }),
    },
    afterClose: async () => {
      await store.close();
      await bucket.close();
      await parquetBucket?.close();
    },
    stoppedMessage: "store gateway stopped",
  }, async () => {
    const interval = cfg.syncIntervalMs;
    let ready = false;
    while (!signal.aborted) {
      const began = performance.now();
      try {
        await store.syncBlocks(signal);
        view?.setLoaded(store.loadedBlocks().map((b) => b.meta));
        if (!ready) {
          // the Series path is compiled on a synthetic block (store/warmup.ts) before the first
          // calls come: the first queries after a start are not served by cold code
          await warmSeriesPath({ dir: `${dataDir}/warmup`, signal }).then(
            (r) => log.debug("Series path warmed", { ...r, ms: Math.round(r.ms) }),
            (e) => log.warn("Series path warm-up failed", { err: (e as Error).message }),
          );
          ready = true;
          probe.setReady();
          server.setServing(true);
          log.info("bucket store ready", {
            blocks: store.loadedBlocks().length,
            init_duration: `${((performance.now() - began) / 1000).toFixed(3)}s`,
          });
        }
      } catch (e) {
        if (signal.aborted) break;
        view?.setLoaded([], (e as Error).message);
        // keep serving what is loaded; before the first sync the store stays not ready
        log.warn("syncing blocks from the bucket failed", {
          err: (e as Error).message,
          ready,
        });
      }
      await sleepUnlessAborted(
        ready ? interval : Math.min(interval, INITIAL_SYNC_RETRY_MS),
        signal,
      );
    }
  });
}
