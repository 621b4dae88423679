// `thanos store`: the store gateway. Syncs blocks from the bucket every
// `--sync-block-duration`, serves them over the StoreAPI (gRPC) and exposes `/metrics`,
// `/-/healthy` and `/-/ready` (ready once the first sync completed). On the run signal it stops
// accepting calls, lets in-flight ones finish within the grace periods and returns 0.

import { Registry } from "../../metrics/registry.ts";
import { StoreServer } from "../../storeapi/server.ts";
import { type Flags, parseListenAddress, UsageError } from "../flags.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import { openBucket } from "../objstore.ts";
import type { RunContext } from "../runtime.ts";
import { sleepUnlessAborted } from "../../runutil/sleep.ts";
import { serverTlsFromFlags } from "../grpc.ts";
import { BucketStore } from "../../store/bucket_store.ts";
import { parseRelabelConfigs, RelabelConfigError, Relabeler } from "../../relabel/relabel.ts";
import { MetaSyncer } from "../../block/fetcher.ts";

/** Delay between attempts of the initial sync while the bucket is unreachable. */
const INITIAL_SYNC_RETRY_MS = 5000;

/** The smallest positive value, or 0 when none is positive. */
function minPositive(...vs: number[]): number {
  const pos = vs.filter((v) => v > 0);
  return pos.length === 0 ? 0 : Math.min(...pos);
}

/** The selector relabel rules from `--selector.relabel-config(-file)`. */
export function relabelerFromFlags(flags: Flags): Relabeler {
  const fromFile = flags.fileContents("selector.relabel-config-file");
  const inline = flags.string("selector.relabel-config");
  if (fromFile !== "" && inline !== "") {
    throw new UsageError(
      "--selector.relabel-config-file and --selector.relabel-config are mutually exclusive",
    );
  }
  try {
    return new Relabeler(parseRelabelConfigs(fromFile || inline));
  } catch (e) {
    if (e instanceof RelabelConfigError) {
      throw new UsageError(`selector relabel config: ${e.message}`);
    }
    throw e;
  }
}

/** `thanos store` */
export async function runStore(flags: Flags, ctx: RunContext): Promise<number> {
  const log = ctx.logger;
  const signal = ctx.signal;
  const registry = new Registry();
  const probe = new Probe();
  probe.setNotReady("initial block sync not completed");

  const relabel = relabelerFromFlags(flags);
  const tls = serverTlsFromFlags(flags);
  const minTime = flags.time("min-time");
  const maxTime = flags.time("max-time");
  if (minTime > maxTime) {
    throw new UsageError(
      `--min-time (${new Date(minTime).toISOString()}) is after --max-time (${
        new Date(maxTime).toISOString()
      })`,
    );
  }
  const concurrency = flags.int("block-sync-concurrency");
  if (concurrency < 1) throw new UsageError("--block-sync-concurrency must be at least 1");
  const grpcAddr = parseListenAddress(flags.string("grpc-address"));
  const dataDir = flags.string("data-dir");
  await Deno.mkdir(dataDir, { recursive: true });

  const bucket = await openBucket(flags, { registry, logger: log, component: "store" });
  const syncer = new MetaSyncer(bucket, {
    cacheDir: `${dataDir}/meta-syncer`,
    concurrency: flags.int("block-meta-fetch-concurrency"),
    strategy: flags.string("block-discovery-strategy") as "concurrent" | "recursive",
    minTime,
    maxTime,
    relabel,
    consistencyDelayMs: flags.duration("consistency-delay"),
    ignoreDeletionMarksDelayMs: flags.duration("ignore-deletion-marks-delay"),
    registry,
    onCorrupt: (id, err) =>
      log.error("skipping block with a corrupt meta.json", { block: id, err: err.message }),
  });
  const store = new BucketStore(bucket, {
    syncer,
    logger: log,
    registry,
    dataDir,
    cacheIndexHeader: flags.bool("cache-index-header"),
    indexCacheBytes: flags.bytes("index-cache-size"),
    blockSyncConcurrency: concurrency,
    minTime,
    maxTime,
    seriesMaxConcurrency: flags.int("store.grpc.series-max-concurrency"),
    bytesLimit: flags.int("store.grpc.downloaded-bytes-limit"),
  });
  const server = new StoreServer(store, {
    registry,
    tls,
    limits: {
      seriesLimit: minPositive(
        flags.int("store.limits.request-series"),
        flags.int("store.grpc.touched-series-limit"),
      ),
      samplesLimit: minPositive(
        flags.int("store.limits.request-samples"),
        flags.int("store.grpc.series-sample-limit"),
      ),
    },
  });
  const http = new HttpServer({
    address: parseListenAddress(flags.string("http-address")),
    logger: log,
    registry,
    probe,
  });

  let listening = false;
  try {
    await http.start();
    const addr = await server.listen(grpcAddr.hostname, grpcAddr.port);
    listening = true;
    log.info("listening for serving gRPC", {
      service: "gRPC/server",
      component: "store",
      address: `${addr.hostname}:${addr.port}`,
    });

    const interval = flags.duration("sync-block-duration");
    let ready = false;
    while (!signal.aborted) {
      const began = performance.now();
      try {
        await store.syncBlocks(signal);
        if (!ready) {
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
  } finally {
    probe.setNotReady("shutting down");
    log.info("shutting down the store gateway", { reason: String(signal.reason ?? "") });
    if (listening) await server.close(flags.duration("grpc-grace-period"));
    else await server.close(0).catch(() => undefined);
    await http.shutdown(flags.duration("http-grace-period"));
    await store.close();
    await bucket.close();
  }
  log.info("store gateway stopped");
  return 0;
}
