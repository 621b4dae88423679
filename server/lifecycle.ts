// The run/shutdown lifecycle every serving role shares: start HTTP, listen gRPC, run the role
// until the stop signal, then set not ready, close gRPC within its grace period and shut HTTP
// down within its own (the `--grpc-grace-period` / `--http-grace-period` flags of
// https://thanos.io/tip/components/store.md/#flags).

import type { Logger } from "../logging/log.ts";
import { hostPort, type HttpServer, type Probe } from "./http.ts";

/** The gRPC server a role serves on (structural: the StoreAPI server lives in a higher layer). */
export interface GrpcServing {
  listen(hostname: string, port: number): Promise<{ hostname: string; port: number }>;
  /** Stops serving; running calls get `graceMs` to finish. */
  close(graceMs: number): Promise<void>;
}

/** How one role serves and shuts down. */
export interface ServeOptions {
  http: HttpServer;
  httpGracePeriodMs: number;
  /** The role's gRPC server, when it has one (the query frontend serves HTTP only). */
  grpc?: GrpcServing;
  grpcAddress?: { hostname: string; port: number };
  grpcGracePeriodMs?: number;
  probe: Probe;
  logger: Logger;
  /** Stop signal (the launcher's SIGINT/SIGTERM). */
  signal: AbortSignal;
  /** Extra fields of the `listening for serving gRPC` line (e.g. `component`). */
  listenFields?: Record<string, unknown>;
  /** The line logged when shutting down, with its fields (read at that moment). */
  shutdownLog: { message: string; fields: () => Record<string, unknown> };
  /** Called first on shutdown, before the probe flips (e.g. to stop background loops). */
  onStop?: () => void;
  /** Called after the shutdown line, before gRPC closes (e.g. to stop discovery). */
  beforeClose?: () => Promise<void>;
  /** Called after HTTP shut down (release what the role holds: stores, buckets, clients). */
  afterClose?: () => Promise<void>;
  /** Logged once everything is closed after a clean stop. */
  stoppedMessage?: string;
}

/**
 * Runs a serving role: starts HTTP, listens on gRPC (logging `listening for serving gRPC`), then
 * runs `body` (start-up work and loops; it may return early) and waits for the stop signal.
 * On stop, or when anything above fails, it marks the role not ready, logs the shutdown line,
 * closes gRPC (within its grace period after a clean run, at once after a failure), shuts HTTP
 * down the same way and releases the role's resources. Resolves to exit code 0 after a stop
 * signal; rethrows a failure after cleaning up.
 */
export async function serveUntilStopped(
  o: ServeOptions,
  body: () => Promise<void>,
): Promise<number> {
  let listening = false;
  let failed = false;
  try {
    await o.http.start();
    if (o.grpc && o.grpcAddress) {
      const addr = await o.grpc.listen(o.grpcAddress.hostname, o.grpcAddress.port);
      o.logger.info("listening for serving gRPC", {
        service: "gRPC/server",
        ...o.listenFields,
        address: hostPort(addr.hostname, addr.port),
      });
    }
    listening = true;
    await body();
    await new Promise<void>((resolve) => {
      if (o.signal.aborted) return resolve();
      o.signal.addEventListener("abort", () => resolve(), { once: true });
    });
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    o.onStop?.();
    o.probe.setNotReady("shutting down");
    o.logger.info(o.shutdownLog.message, o.shutdownLog.fields());
    await o.beforeClose?.();
    if (o.grpc) {
      if (listening && !failed) await o.grpc.close(o.grpcGracePeriodMs ?? 0);
      else await o.grpc.close(0).catch(() => undefined);
    }
    await o.http.shutdown(failed ? 0 : o.httpGracePeriodMs);
    await o.afterClose?.();
  }
  if (o.stoppedMessage) o.logger.info(o.stoppedMessage);
  return 0;
}
