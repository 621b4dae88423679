// The receive write path, as Thanos's pkg/receive/handler.go
// (https://github.com/thanos-io/thanos/blob/v0.42.0/pkg/receive/handler.go): `POST
// /api/v1/receive` (Prometheus remote write), `POST /api/v1/otlp` (OTLP/HTTP metrics, Thanos's
// handler_otlp.go; translated to series first) and the forwarded gRPC writes of other receivers
// all end in one fan-out: every series goes to the owners of its replicas on the hashring (this
// receiver's own ones straight into the local TSDB, the others over
// `thanos.WriteableStore/RemoteWrite` with the 1-based replica number, so the peer stores it
// without replicating again), and a series is written when a write quorum of its replicas
// succeeded: ⌊RF/2⌋+1, except RF=2 → 1 (Thanos's `writeQuorum`); 1 for an already replicated
// write.
//
// Outcome → status (Thanos's `writeErrors`/`replicationErrors` `Cause`): a series that failed
// quorum is classified by its replicas' errors — the kind that reaches the quorum threshold
// (conflict, then not ready, then unavailable, on ties), otherwise "unavailable" (some replica
// might succeed on retry); over the request, unavailable/not ready win over conflicts. HTTP:
// 200 success, 503 unavailable/not ready (Prometheus retries), 409 conflicts only (out of order,
// duplicate, out of bounds samples; Prometheus drops the batch), 400 bad replica header /
// invalid data, 413 request limits, 429 head series limit, 500 anything else. gRPC: see
// writeable.ts. Replies return as soon as every series is decided; the remaining forwards then
// finish in the background (until the forward timeout) to reach full replication.

import type { Logger } from "../logging/log.ts";
import type { Counter, Gauge, Histogram, Registry } from "../metrics/registry.ts";
import { Gate } from "../runutil/gate.ts";
import { sleepUnlessAborted } from "../runutil/sleep.ts";
import { HttpError, type RequestInfo, type Route } from "../server/http.ts";
import {
  type CertificateTenantField,
  isTenantValid,
  type PeerCertificate,
  TenantError,
  tenantFromRequest,
} from "../server/tenancy.ts";
import { type ClientTlsOptions, GrpcError, GrpcStatus } from "../storeapi/grpc.ts";
import type { Relabeler } from "../relabel/relabel.ts";
import { labelsEqual } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";
import type { Hashring } from "./hashring.ts";
import { checkRequestLimits, limitsFor, type ReceiveLimits } from "./limits.ts";
import {
  countSamples,
  decodeWriteRequest,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  type PromSeries,
  RemoteWriteError,
  withLabels,
} from "./remote_write.ts";
import { ReceiveWriteError, WriteableClient, type WriteErrorCause } from "./writeable.ts";
import { decodeOtlpRequest, OtlpDecodeError } from "./otlp_decode.ts";
import {
  DEFAULT_OTLP_OPTIONS,
  OtlpTranslateError,
  type OtlpTranslateOptions,
  translateOtlp,
} from "./otlp_translate.ts";

/** Thanos's default replica header. */
export const DEFAULT_REPLICA_HEADER = "THANOS-REPLICA";

/**
 * Thanos's receiver modes, derived from the flags: a hashrings configuration and a local endpoint
 * → RouterIngestor; a hashring without local endpoint → RouterOnly; no hashring → IngestorOnly
 * (with `singleNodeHashring(localEndpoint)`).
 */
export type ReceiverMode = "RouterIngestor" | "RouterOnly" | "IngestorOnly";

/** What a local write reports (MultiTSDB.write): conflicting samples are counted, not thrown. */
export interface LocalWriteOutcome {
  appended: number;
  outOfOrder: number;
  outOfBounds: number;
  duplicate: number;
  tooOld?: number;
  exemplarsOutOfOrder?: number;
  exemplarsLabelLength?: number;
}

/** The local storage (MultiTSDB). */
export interface LocalWriter {
  write(tenant: string, series: readonly PromSeries[]): Promise<LocalWriteOutcome>;
}

/** Sends series to one peer receiver (WriteableClient). */
export interface Forwarder {
  /** `replica` is 1-based, as on the wire. Throws GrpcError. */
  remoteWrite(
    tenant: string,
    series: PromSeries[],
    replica: number,
    signal?: AbortSignal,
  ): Promise<void>;
  close(): void;
}

/** Options of {@link ReceiveHandler}. */
export interface HandlerOptions {
  /** The current hashring (reloaded by the role); null/undefined until one is loaded (→ 503). */
  hashring: () => Hashring | null | undefined;
  /** `--receive.local-endpoint`: this receiver's address in the hashring ("" = none). */
  localEndpoint: string;
  /** `--receive.replication-factor`. */
  replicationFactor: number;
  /** `--receive.tenant-header` (THANOS-TENANT). */
  tenantHeader: string;
  /** `--receive.default-tenant-id` (default-tenant). */
  defaultTenant: string;
  /** `--receive.tenant-certificate-field`: the tenant is this client certificate field. */
  tenantCertificateField?: CertificateTenantField | "";
  /** `--receive.replica-header` (THANOS-REPLICA). */
  replicaHeader: string;
  /** Local storage; null for a router-only receiver. */
  db: LocalWriter | null;
  limits: ReceiveLimits;
  /** `--receive-forward-timeout` (5 s): deadline of one fan-out, local and remote writes. */
  forwardTimeoutMs: number;
  logger: Logger;
  registry: Registry;
  /** Receiver mode (default: RouterIngestor with a db, RouterOnly without). */
  mode?: ReceiverMode;
  /** `--receive.grpc-compression` for forwards (default snappy). */
  grpcCompression?: "none" | "snappy";
  /** `--grpc-client-tls-*` for forwards. */
  clientTls?: ClientTlsOptions;
  /** `--receive.forward.async-workers` (5): concurrent forwards per peer. */
  asyncForwardWorkers?: number;
  /** `--receive-forward-max-backoff` (5 s): longest pause of a peer that answered Unavailable. */
  maxBackoffMs?: number;
  /** Bound on a decompressed request without size limit (remote_write's default, 32 MiB). */
  maxDecompressedBytes?: number;
  /** Extra readiness condition (e.g. WAL replay done); requests get 503 until true. */
  ready?: () => boolean;
  /**
   * `--receive.relabel-config(-file)`: applied to the series of each remote-write HTTP request
   * after the request limits, before routing (Thanos's `Handler.relabel`); forwarded writes
   * were relabeled by the receiver that took them.
   */
  relabel?: Relabeler;
  /**
   * `--receive.split-tenant-label-name` ("" = off): a series carrying this label is written to
   * the tenant it names (the label removed), whatever the tenant header said.
   */
  splitTenantLabelName?: string;
  /**
   * `--receive.artificial-max-delay` in ms (hidden, for testing; 0 = off): every write to the
   * second endpoint this receiver writes to (local or peer, in the order first used) waits a
   * random time below it, at least 1 s, as Thanos's peer group.
   */
  maxArtificialDelayMs?: number;
  /**
   * `--receive.otlp-enable-target-info` and `--receive.otlp-promote-resource-attributes` for
   * `POST /api/v1/otlp` (default: target_info on, nothing promoted).
   */
  otlp?: OtlpTranslateOptions;
  /** Builds the client of a peer (default WriteableClient); tests inject fakes. */
  forwarder?: (address: string) => Forwarder;
}

// ---------------------------------------------------------------------------------------------
// error classification (Thanos's isConflict / isNotReady / isUnavailable on error causes)

interface WriteFailure {
  /** Classification of the failure. */
  reason: WriteErrorCause | "grpc";
  code?: GrpcStatus;
  message: string;
}

function isConflict(f: WriteFailure): boolean {
  return f.reason === "conflict" || f.code === GrpcStatus.ALREADY_EXISTS;
}
function isNotReady(f: WriteFailure): boolean {
  return f.reason === "notReady" || f.code === GrpcStatus.UNAVAILABLE;
}
function isUnavailable(f: WriteFailure): boolean {
  return f.reason === "unavailable" || f.code === GrpcStatus.UNAVAILABLE;
}
function isLimit(f: WriteFailure): boolean {
  return f.reason === "limit" || f.code === GrpcStatus.RESOURCE_EXHAUSTED;
}

function failureOf(e: unknown): WriteFailure {
  if (e instanceof ReceiveWriteError) return { reason: e.reason, message: e.message };
  if (e instanceof GrpcError) return { reason: "grpc", code: e.code, message: e.message };
  if (e instanceof RemoteWriteError) {
    const reason: WriteErrorCause = e.status === 409
      ? "conflict"
      : e.status === 429 || e.status === 413
      ? "limit"
      : e.status === 400
      ? "validation"
      : e.status === 503
      ? "unavailable"
      : "internal";
    return { reason, message: e.message };
  }
  if (e instanceof DOMException && e.name === "TimeoutError") {
    return { reason: "internal", message: "context deadline exceeded" };
  }
  return { reason: "internal", message: e instanceof Error ? e.message : String(e) };
}

/** Sorted, deduplicated reasons as Thanos's errorSet prints them. */
function joinReasons(reasons: Iterable<string>): string {
  const r = [...new Set(reasons)].sort();
  return r.length > 1 ? `${r.length} errors: ${r.join("; ")}` : (r[0] ?? "");
}

/**
 * Thanos's replicationErrors.Cause: the kind of error that reached `threshold` (most frequent,
 * conflict > notReady > unavailable on ties); otherwise "unavailable" when the errors together
 * reach it (retrying may succeed); null below it.
 */
function replicationCause(
  errs: readonly WriteFailure[],
  threshold: number,
): WriteErrorCause | null {
  if (errs.length === 0) return null;
  const kinds: [WriteErrorCause, (f: WriteFailure) => boolean][] = [
    ["conflict", isConflict],
    ["notReady", isNotReady],
    ["unavailable", isUnavailable],
    ["limit", isLimit],
  ];
  let best: WriteErrorCause | null = null;
  let bestCount = 0;
  for (const [k, is] of kinds) {
    let c = 0;
    for (const e of errs) if (is(e)) c++;
    if (c > bestCount) {
      best = k;
      bestCount = c;
    }
  }
  if (best !== null && bestCount >= threshold) return best;
  if (errs.length >= threshold) return "unavailable";
  return null;
}

/** Thanos's writeErrors.Cause over the causes of the failed series. */
function requestCause(causes: readonly (WriteErrorCause | null)[]): WriteErrorCause {
  for (const want of ["unavailable", "notReady", "conflict", "limit"] as const) {
    if (causes.includes(want)) return want;
  }
  return causes.find((c) => c !== null) ?? "internal";
}

/** Reads the request body with a byte cap (the server's `RequestInfo.readBody`). */
type BodyReader = RequestInfo["readBody"];

/** HTTP status of a failed write (Thanos receiveHTTP). */
export function httpStatusOf(reason: WriteErrorCause): number {
  switch (reason) {
    case "notReady":
    case "unavailable":
      return 503;
    case "conflict":
      return 409;
    case "badReplica":
    case "validation":
      return 400;
    case "limit":
      return 429;
    default:
      return 500;
  }
}

function textResponse(status: number, body: string): Response {
  return new Response(body + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" },
  });
}

// ---------------------------------------------------------------------------------------------

interface Batch {
  endpoint: string;
  /** The tenant of every series (the request's, or the split tenant label's). */
  tenant: string;
  /** 0-based replica. */
  replica: number;
  ids: number[];
  series: PromSeries[];
}

interface Peer {
  client: Forwarder;
  gate: Gate;
}

interface BackoffState {
  attempt: number;
  nextAllowed: number;
}

const MAX_U64 = 18446744073709551615n;

/** Serves remote write and forwarded writes for one receiver. */
export class ReceiveHandler {
  private readonly log: Logger;
  private readonly mode: ReceiverMode;
  private readonly peers = new Map<string, Peer>();
  private readonly backoff = new Map<string, BackoffState>();
  private lastRing: Hashring | null | undefined = undefined;
  private readonly writeGate: Gate | null;
  private readonly rf: number;
  private pending = 0;
  /** Endpoints written to so far, and the one delayed by `maxArtificialDelayMs`. */
  private readonly usedEndpoints = new Set<string>();
  private delayedEndpoint: string | null = null;

  private readonly forwardRequests: Counter;
  private readonly replications: Counter;
  private readonly writeTimeseries: Histogram;
  private readonly writeSamples: Histogram;
  private readonly pendingWrites: Gauge;
  private readonly forwardDelay: Histogram;
  private readonly otlpRejected: Counter;

  constructor(private readonly opts: HandlerOptions) {
    this.log = opts.logger.with({ component: "receive-handler" });
    this.mode = opts.mode ?? (opts.db ? "RouterIngestor" : "RouterOnly");
    this.rf = Math.max(1, Math.floor(opts.replicationFactor));
    this.writeGate = opts.limits.maxConcurrency > 0 ? new Gate(opts.limits.maxConcurrency) : null;
    const r = opts.registry;
    this.forwardRequests = r.counter({
      name: "thanos_receive_forward_requests_total",
      help: "The number of forward requests.",
      labelNames: ["result"],
    });
    this.replications = r.counter({
      name: "thanos_receive_replications_total",
      help:
        "The number of replication operations done by the receiver. The success of replication is fulfilled when a quorum is met.",
      labelNames: ["result"],
    });
    for (const result of ["success", "error"]) {
      this.forwardRequests.inc({ result }, 0);
      this.replications.inc({ result }, 0);
    }
    r.gauge({
      name: "thanos_receive_replication_factor",
      help: "The number of times to replicate incoming write requests.",
    }).set(this.rf);
    const sizeBuckets = [10, 50, 100, 500, 1000, 5000, 10000];
    this.writeTimeseries = r.histogram({
      name: "thanos_receive_write_timeseries",
      help: "The number of timeseries received in the incoming write requests.",
      labelNames: ["code", "tenant"],
      buckets: sizeBuckets,
    });
    this.writeSamples = r.histogram({
      name: "thanos_receive_write_samples",
      help: "The number of sampled received in the incoming write requests.",
      labelNames: ["code", "tenant"],
      buckets: sizeBuckets,
    });
    this.pendingWrites = r.gauge({
      name: "thanos_receive_pending_write_requests",
      help: "The number of pending write requests.",
    });
    this.otlpRejected = r.counter({
      name: "thanos_receive_otlp_requests_rejected_total",
      help: "OTLP write requests answered 400 because they could not be decoded or translated " +
        "(delta temporality, exponential histograms, invalid names).",
      labelNames: ["reason"],
    });
    for (const reason of ["decode", "translate"]) this.otlpRejected.inc({ reason }, 0);
    this.forwardDelay = r.histogram({
      name: "thanos_receive_forward_delay_seconds",
      help:
        "The delay between the time the request was received and the time it was forwarded to a worker. ",
      labelNames: ["worker"],
      buckets: Array.from({ length: 16 }, (_, i) => 0.001 * 2 ** i),
    });
  }

  /** `POST /api/v1/receive` (remote write) and `POST /api/v1/otlp` (OTLP/HTTP metrics). */
  routes(): Route[] {
    return [{
      method: "POST",
      path: "/api/v1/receive",
      name: "receive",
      handler: (req, _params, info) =>
        this.receiveHTTP(req, info.readBody, "remote-write", info.peerCertificate),
    }, {
      method: "POST",
      path: "/api/v1/otlp",
      name: "otlp",
      handler: (req, _params, info) =>
        this.receiveHTTP(req, info.readBody, "otlp", info.peerCertificate),
    }];
  }

  /** Write quorum of a not yet replicated series (Thanos `writeQuorum`). */
  writeQuorum(): number {
    return this.rf === 2 ? 1 : Math.floor(this.rf / 2) + 1;
  }

  /** Closes the peer connections. */
  close(): void {
    for (const p of this.peers.values()) p.client.close();
    this.peers.clear();
  }

  private ring(): Hashring | null {
    const ring = this.opts.hashring() ?? null;
    if (ring !== this.lastRing) {
      // a new hashring: drop the clients of endpoints that left, forget peer backoffs
      if (ring) {
        const keep = new Set(ring.endpoints());
        for (const [addr, p] of this.peers) {
          if (!keep.has(addr)) {
            p.client.close();
            this.peers.delete(addr);
          }
        }
      }
      this.backoff.clear();
      this.lastRing = ring;
    }
    return ring;
  }

  private isReady(): boolean {
    return this.ring() !== null && (this.opts.ready?.() ?? true);
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  private async receiveHTTP(
    req: Request,
    read: BodyReader,
    protocol: "remote-write" | "otlp",
    cert?: PeerCertificate,
  ): Promise<Response> {
    if (!this.isReady()) return new Response("Service Unavailable", { status: 503 });
    let tenant: string;
    try {
      tenant = tenantFromRequest(
        req.headers,
        this.opts.tenantHeader,
        this.opts.defaultTenant,
        this.opts.tenantCertificateField,
        cert,
      );
    } catch (e) {
      if (!(e instanceof TenantError)) throw e;
      this.log.error("error getting tenant from HTTP", { err: e.message });
      return textResponse(400, e.message);
    }
    if (!isTenantValid(tenant)) {
      this.log.error("error getting tenant from HTTP", { tenant, err: "tenant name not valid" });
      return textResponse(400, "tenant name not valid");
    }
    const log = this.log.with({ tenant });
    if (this.writeGate) {
      try {
        await this.writeGate.acquire(req.signal);
      } catch (e) {
        log.error("internal server error", { err: e });
        return textResponse(500, String(e instanceof Error ? e.message : e));
      }
    }
    try {
      return protocol === "otlp"
        ? await this.receiveOtlpGated(req, read, tenant, log)
        : await this.receiveGated(req, read, tenant, log);
    } finally {
      this.writeGate?.release();
    }
  }

  /**
   * Reads the body of a write request: never more than a body that could pass the limits
   * (size_bytes_limit when set, else `cap`). A Response when it is refused.
   */
  private async readWriteBody(
    req: Request,
    read: BodyReader,
    tenant: string,
    cap: number,
    log: Logger,
  ): Promise<Uint8Array | Response> {
    const sizeBytesLimit = limitsFor(this.opts.limits, tenant).request.sizeBytesLimit;
    try {
      return await read(sizeBytesLimit > 0 ? sizeBytesLimit : cap);
    } catch (e) {
      if (e instanceof HttpError) {
        const announced = req.headers.get("content-length");
        // Thanos's message when the length is announced; the rest of the body is never read
        const msg = e.status !== 413 || sizeBytesLimit <= 0
          ? e.message
          : announced !== null
          ? `write request too large: ${announced} bytes exceeds the size_bytes_limit of ${sizeBytesLimit} for tenant ${tenant}`
          : `write request too large: over the size_bytes_limit of ${sizeBytesLimit} for tenant ${tenant}`;
        log.debug("write request rejected", { status: e.status, err: msg });
        return textResponse(e.status, msg);
      }
      return textResponse(500, `read compressed request body: ${(e as Error).message}`);
    }
  }

  /** The bound on a decompressed request body: size_bytes_limit when set, else the default. */
  private decompressedBound(tenant: string): number {
    const sizeLimit = limitsFor(this.opts.limits, tenant).request.sizeBytesLimit;
    return sizeLimit > 0
      ? sizeLimit
      : this.opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  }

  private async receiveGated(
    req: Request,
    read: BodyReader,
    tenant: string,
    log: Logger,
  ): Promise<Response> {
    // without size limit: the largest snappy encoding of the decompressed bound (32 + n + n/6)
    const decompressed = this.opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
    const body = await this.readWriteBody(
      req,
      read,
      tenant,
      32 + decompressed + Math.floor(decompressed / 6),
      log,
    );
    if (body instanceof Response) return body;
    let series: PromSeries[];
    try {
      checkRequestLimits(this.opts.limits, tenant, body.length);
      const wreq = decodeWriteRequest(body, {
        maxDecompressedBytes: this.decompressedBound(tenant),
      });
      series = wreq.series;
      if (series.length > 0) checkRequestLimits(this.opts.limits, tenant, body.length, wreq);
    } catch (e) {
      if (e instanceof RemoteWriteError) {
        log.debug("write request rejected", { status: e.status, err: e.message });
        return textResponse(e.status, e.message);
      }
      throw e;
    }
    return await this.ingest(req, tenant, series, log);
  }

  /**
   * `POST /api/v1/otlp` (Thanos's receiveOTLPHTTP): an OTLP/HTTP metrics export request,
   * protobuf or JSON, optionally gzip-compressed, translated to series (receive/otlp_translate.ts)
   * and then written exactly as a remote write.
   */
  private async receiveOtlpGated(
    req: Request,
    read: BodyReader,
    tenant: string,
    log: Logger,
  ): Promise<Response> {
    const body = await this.readWriteBody(req, read, tenant, this.decompressedBound(tenant), log);
    if (body instanceof Response) return body;
    let series: PromSeries[];
    try {
      checkRequestLimits(this.opts.limits, tenant, body.length);
      const otlp = decodeOtlpRequest(
        body,
        req.headers.get("content-type") ?? "",
        req.headers.get("content-encoding") ?? "",
        this.decompressedBound(tenant),
      );
      series = translateOtlp(otlp, this.opts.otlp ?? DEFAULT_OTLP_OPTIONS);
      if (series.length > 0) checkRequestLimits(this.opts.limits, tenant, body.length, { series });
    } catch (e) {
      if (e instanceof OtlpDecodeError || e instanceof OtlpTranslateError) {
        this.otlpRejected.inc({ reason: e instanceof OtlpDecodeError ? "decode" : "translate" });
        log.warn("OTLP write request rejected", { status: 400, err: e.message });
        return textResponse(400, e.message);
      }
      if (e instanceof RemoteWriteError) {
        log.debug("write request rejected", { status: e.status, err: e.message });
        return textResponse(e.status, e.message);
      }
      throw e;
    }
    return await this.ingest(req, tenant, series, log);
  }

  /** The part every HTTP write shares: replica header, relabeling, fan-out, metrics. */
  private async ingest(
    req: Request,
    tenant: string,
    series: PromSeries[],
    log: Logger,
  ): Promise<Response> {
    let rep = 0;
    const replicaRaw = req.headers.get(this.opts.replicaHeader) ?? "";
    if (replicaRaw !== "") {
      if (!/^[0-9]{1,20}$/.test(replicaRaw) || BigInt(replicaRaw) > MAX_U64) {
        return textResponse(400, "could not parse replica header");
      }
      rep = Number(replicaRaw);
    }
    if (series.length === 0) {
      // Thanos accepts (metadata-only or empty) requests without storing anything
      log.debug("empty remote write request; skipping");
      return new Response(null, { status: 200 });
    }
    if (this.opts.relabel && !this.opts.relabel.empty) {
      series = relabelSeries(this.opts.relabel, series);
      if (series.length === 0) {
        log.debug("remote write request dropped due to relabeling.");
        return new Response(null, { status: 200 });
      }
    }
    let status = 200;
    let response: Response = new Response(null, { status: 200 });
    try {
      await this.handleRequest(rep, tenant, series, log);
    } catch (e) {
      const f = e instanceof ReceiveWriteError ? e : new ReceiveWriteError("internal", String(e));
      status = httpStatusOf(f.reason);
      if (status === 500) log.error("internal server error", { err: f.message });
      else log.debug("failed to handle request", { err: f.message });
      response = textResponse(status, f.message);
    }
    const samples = countSamples(series);
    const labels = { code: String(status), tenant };
    this.writeTimeseries.observe(labels, series.length);
    this.writeSamples.observe(labels, samples);
    return response;
  }

  // -------------------------------------------------------------------------------------------
  // gRPC

  /**
   * Handles a forwarded write (`thanos.WriteableStore/RemoteWrite`); `replica` is the wire value
   * (1-based, 0 = not replicated). Throws ReceiveWriteError, mapped to gRPC codes by
   * writeable.ts.
   */
  async onForward(
    tenant: string,
    series: PromSeries[],
    replica: number,
    _signal?: AbortSignal,
  ): Promise<void> {
    this.pendingWrites.set(++this.pending);
    try {
      if (!isTenantValid(tenant)) {
        throw new ReceiveWriteError(
          "validation",
          `tenant name not valid: ${JSON.stringify(tenant)}`,
        );
      }
      const log = this.log.with({ tenant });
      if (this.mode === "IngestorOnly") {
        // the router already chose this receiver: write locally (Thanos's fast path)
        await this.writeLocal(tenant, series);
        return;
      }
      if (this.ring() === null) throw new ReceiveWriteError("notReady", "target not ready");
      if (replica < 0) {
        throw new ReceiveWriteError(
          "badReplica",
          "request replica exceeds receiver replication factor",
        );
      }
      await this.handleRequest(replica, tenant, series, log);
    } finally {
      this.pendingWrites.set(--this.pending);
    }
  }

  // -------------------------------------------------------------------------------------------
  // fan-out

  private handleRequest(
    rep: number,
    tenant: string,
    series: PromSeries[],
    log: Logger,
  ): Promise<void> {
    // Thanos ignores the replica of requests to router-only and ingestor-only receivers (acyclic
    // topologies), https://github.com/thanos-io/thanos/issues/4359
    if (this.mode === "RouterOnly" || this.mode === "IngestorOnly") rep = 0;
    if (rep > this.rf) {
      log.error("write request rejected", {
        err: "request replica exceeds receiver replication factor",
        request_replica: rep,
        replication_factor: this.rf,
      });
      return Promise.reject(
        new ReceiveWriteError("badReplica", "request replica exceeds receiver replication factor"),
      );
    }
    const replicated = rep !== 0;
    const replicas = replicated ? [rep - 1] : Array.from({ length: this.rf }, (_, i) => i);
    return this.fanout(tenant, series, replicas, replicated, log);
  }

  private distribute(tenant: string, series: PromSeries[], replicas: number[]): Batch[] {
    const ring = this.ring();
    if (ring === null) throw new ReceiveWriteError("notReady", "target not ready");
    const split = this.opts.splitTenantLabelName ?? "";
    if (split !== "") return this.distributeSplit(ring, split, tenant, series, replicas);
    if (ring.soleOwner !== undefined && replicas.length === 1 && replicas[0] === 0) {
      // one owner for everything (ingestor-only): one batch, without a lookup per series
      if (series.length === 0) return [];
      const ids: number[] = new Array(series.length);
      for (let i = 0; i < ids.length; i++) ids[i] = i;
      return [{ endpoint: ring.soleOwner, tenant, replica: 0, ids, series }];
    }
    const batches = new Map<string, Batch>();
    for (let i = 0; i < series.length; i++) {
      const s = series[i];
      for (const rn of replicas) {
        let endpoint: string;
        try {
          endpoint = ring.get(tenant, s.labels, rn);
        } catch (e) {
          throw new ReceiveWriteError("internal", (e as Error).message);
        }
        const key = `${rn}\u0000${endpoint}`;
        let b = batches.get(key);
        if (!b) {
          b = { endpoint, tenant, replica: rn, ids: [], series: [] };
          batches.set(key, b);
        }
        b.ids.push(i);
        b.series.push(s);
      }
    }
    return [...batches.values()];
  }

  /**
   * `distribute` with `--receive.split-tenant-label-name` (Thanos's
   * `distributeTimeseriesToReplicas`): a series whose label `split` is set goes to that tenant,
   * without the label; the others stay with `tenant`. An invalid tenant name is a validation
   * error (400) for the whole request.
   */
  private distributeSplit(
    ring: Hashring,
    split: string,
    tenant: string,
    series: PromSeries[],
    replicas: number[],
  ): Batch[] {
    const batches = new Map<string, Batch>();
    for (let i = 0; i < series.length; i++) {
      let s = series[i];
      let t = tenant;
      const v = labelValue(s.labels, split);
      if (v !== "") {
        if (!isTenantValid(v)) {
          throw new ReceiveWriteError("validation", `tenant name not valid: ${JSON.stringify(v)}`);
        }
        t = v;
        s = withLabels(s, withoutLabel(s.labels, split));
        series[i] = s;
      }
      for (const rn of replicas) {
        let endpoint: string;
        try {
          endpoint = ring.get(t, s.labels, rn);
        } catch (e) {
          throw new ReceiveWriteError("internal", (e as Error).message);
        }
        const key = `${rn}\u0000${endpoint}\u0000${t}`;
        let b = batches.get(key);
        if (!b) {
          b = { endpoint, tenant: t, replica: rn, ids: [], series: [] };
          batches.set(key, b);
        }
        b.ids.push(i);
        b.series.push(s);
      }
    }
    return [...batches.values()];
  }

  private async fanout(
    tenant: string,
    series: PromSeries[],
    replicas: number[],
    alreadyReplicated: boolean,
    log: Logger,
  ): Promise<void> {
    let batches: Batch[];
    try {
      batches = this.distribute(tenant, series, replicas);
    } catch (e) {
      log.error("failed to distribute timeseries to replicas", { err: e });
      throw e;
    }
    // detached from the incoming request, as Thanos: the forward timeout alone bounds it
    const cancel = new AbortController();
    const signal = cancel.signal;
    const timer = setTimeout(
      () => cancel.abort(new DOMException("context deadline exceeded", "TimeoutError")),
      this.opts.forwardTimeoutMs,
    );
    if (batches.length === 0) clearTimeout(timer);

    const results: { b: Batch; f: WriteFailure | null }[] = [];
    let wake: (() => void) | null = null;
    let outstanding = batches.length;
    let returned = false;
    for (const b of batches) {
      this.sendBatch(b, alreadyReplicated, signal).then(
        () => null,
        (e) => failureOf(e),
      ).then((f) => {
        if (--outstanding === 0) clearTimeout(timer);
        if (f !== null) {
          const fields = { peer: b.endpoint, replica: b.replica, err: f.message };
          if (returned) log.debug("request failed, but not needed to achieve quorum", fields);
          else if (isConflict(f) || f.message.includes("backing off")) {
            log.debug("write failed", fields);
          } else log.warn("write failed", fields);
        }
        results.push({ b, f });
        const w = wake;
        wake = null;
        w?.();
      });
    }

    const successThreshold = alreadyReplicated ? 1 : this.writeQuorum();
    const failureThreshold = replicas.length - successThreshold + 1;
    const n = series.length;
    const successes = new Int32Array(n);
    const failures = new Int32Array(n);
    const conflicts = new Int32Array(n);
    const seriesErrs: (WriteFailure[] | undefined)[] = new Array(n);
    let next = 0;
    let failed = false;
    try {
      for (;;) {
        while (next < results.length) {
          const { b, f } = results[next++];
          if (f === null) {
            for (const id of b.ids) successes[id]++;
          } else {
            const conflict = isConflict(f);
            for (const id of b.ids) {
              (seriesErrs[id] ??= []).push(f);
              failures[id]++;
              if (conflict) conflicts[id]++;
            }
          }
        }
        const done = outstanding === 0 && next === results.length;
        if (done || canReturnEarly(successes, conflicts, successThreshold, failureThreshold)) {
          const causes: (WriteErrorCause | null)[] = [];
          const reasons: string[] = [];
          for (let i = 0; i < n; i++) {
            if (failures[i] < failureThreshold) continue;
            const errs = seriesErrs[i]!;
            causes.push(replicationCause(errs, successThreshold));
            for (const e of errs) reasons.push(e.message);
          }
          if (causes.length === 0) return;
          failed = true;
          throw new ReceiveWriteError(requestCause(causes), joinReasons(reasons));
        }
        await new Promise<void>((r) => wake = r);
      }
    } finally {
      returned = true;
      // on success the remaining forwards may finish (better replication); on failure stop them
      if (failed) {
        clearTimeout(timer);
        cancel.abort(new GrpcError(GrpcStatus.CANCELLED, "context canceled"));
      }
    }
  }

  /** Writes one batch locally or to its peer; throws on failure. Updates metrics. */
  private async sendBatch(
    b: Batch,
    alreadyReplicated: boolean,
    signal: AbortSignal,
  ): Promise<void> {
    // an ingestor-only receiver owns every series (Thanos compares "" with its own "")
    const local = this.mode === "IngestorOnly" ||
      (this.opts.localEndpoint !== "" && b.endpoint === this.opts.localEndpoint);
    const where = `forwarding request to endpoint ${b.endpoint}`;
    const delayed = this.artificiallyDelayed(b.endpoint);
    try {
      if (local) {
        if (delayed) await this.artificialDelay(signal);
        await raceAbort(this.writeLocal(b.tenant, b.series), signal);
      } else {
        if (!this.isPeerUp(b.endpoint)) {
          throw new ReceiveWriteError(
            "unavailable",
            `backing off forward request for endpoint ${b.endpoint}: target not available`,
          );
        }
        const peer = this.peer(b.endpoint);
        const queued = performance.now();
        await peer.gate.run(async () => {
          if (delayed) await this.artificialDelay(signal);
          this.forwardDelay.observe({ worker: b.endpoint }, (performance.now() - queued) / 1000);
          await peer.client.remoteWrite(b.tenant, b.series, b.replica + 1, signal);
        }, signal);
      }
    } catch (e) {
      const f = failureOf(signal.aborted && !(e instanceof GrpcError) ? signal.reason : e);
      // Thanos counts AlreadyExists answers of peers as neither success nor error
      if (f.code !== GrpcStatus.ALREADY_EXISTS) {
        this.forwardRequests.inc({ result: "error" });
        if (!alreadyReplicated) this.replications.inc({ result: "error" });
      }
      if (!local && f.code === GrpcStatus.UNAVAILABLE) this.markPeerUnavailable(b.endpoint);
      const msg = local && f.reason !== "grpc" ? `writing locally: ${f.message}` : f.message;
      if (f.reason === "grpc") throw new GrpcError(f.code!, `${where}: ${msg}`);
      throw new ReceiveWriteError(f.reason, `${where}: ${msg}`);
    }
    this.forwardRequests.inc({ result: "success" });
    if (!alreadyReplicated) this.replications.inc({ result: "success" });
    if (!local) this.backoff.delete(b.endpoint);
  }

  /** Whether writes to `endpoint` get the artificial delay (it is the second one used). */
  private artificiallyDelayed(endpoint: string): boolean {
    if (!((this.opts.maxArtificialDelayMs ?? 0) > 0)) return false;
    if (!this.usedEndpoints.has(endpoint)) {
      this.usedEndpoints.add(endpoint);
      if (this.usedEndpoints.size === 2) this.delayedEndpoint = endpoint;
    }
    return endpoint === this.delayedEndpoint;
  }

  /** Waits a random time below the maximum artificial delay, at least 1 s (or until abort). */
  private artificialDelay(signal: AbortSignal): Promise<void> {
    const ms = Math.max(1000, Math.floor(Math.random() * this.opts.maxArtificialDelayMs!));
    return sleepUnlessAborted(ms, signal);
  }

  /** Appends to the local TSDB; conflicts become a "conflict" error naming the counts. */
  private async writeLocal(tenant: string, series: PromSeries[]): Promise<void> {
    const db = this.opts.db;
    if (db === null) {
      throw new ReceiveWriteError("internal", "this receiver has no local storage (router only)");
    }
    let o: LocalWriteOutcome;
    try {
      o = await db.write(tenant, series);
    } catch (e) {
      const f = failureOf(e);
      throw new ReceiveWriteError(f.reason === "grpc" ? "internal" : f.reason, f.message);
    }
    // Thanos's writer: errors.Wrapf(storage.Err…, "add %d samples") per kind, joined
    const reasons: string[] = [];
    if (o.outOfOrder > 0) reasons.push(`add ${o.outOfOrder} samples: out of order sample`);
    if (o.duplicate > 0) {
      reasons.push(`add ${o.duplicate} samples: duplicate sample for timestamp`);
    }
    if (o.outOfBounds > 0) reasons.push(`add ${o.outOfBounds} samples: out of bounds`);
    if ((o.tooOld ?? 0) > 0) reasons.push(`add ${o.tooOld} samples: too old sample`);
    // Prometheus's storage.ErrOutOfOrderExemplar and ErrExemplarLabelLength (conflicts in Thanos)
    if ((o.exemplarsOutOfOrder ?? 0) > 0) {
      reasons.push(`add ${o.exemplarsOutOfOrder} exemplars: out of order exemplar`);
    }
    if ((o.exemplarsLabelLength ?? 0) > 0) {
      reasons.push(
        `add ${o.exemplarsLabelLength} exemplars: label length for exemplar exceeds maximum ` +
          "of 128 UTF-8 characters",
      );
    }
    if (reasons.length > 0) {
      this.log.warn("Error on ingesting samples", { tenant, err: joinReasons(reasons) });
      throw new ReceiveWriteError("conflict", joinReasons(reasons));
    }
  }

  private peer(address: string): Peer {
    let p = this.peers.get(address);
    if (!p) {
      const client = this.opts.forwarder?.(address) ?? new WriteableClient(address, {
        tls: this.opts.clientTls,
        compression: this.opts.grpcCompression ?? "snappy",
        timeoutMs: this.opts.forwardTimeoutMs,
      });
      p = { client, gate: new Gate(this.opts.asyncForwardWorkers ?? 5) };
      this.peers.set(address, p);
    }
    return p;
  }

  private isPeerUp(address: string): boolean {
    const s = this.backoff.get(address);
    return s === undefined || Date.now() > s.nextAllowed;
  }

  /** Exponential backoff (factor 2 from 100 ms to maxBackoffMs, jittered) as Thanos's peer group. */
  private markPeerUnavailable(address: string): void {
    const s = this.backoff.get(address) ?? { attempt: -1, nextAllowed: 0 };
    s.attempt++;
    const min = 100;
    const max = this.opts.maxBackoffMs ?? 5000;
    const d = Math.min(max, min * 2 ** s.attempt);
    s.nextAllowed = Date.now() + min + Math.random() * Math.max(0, d - min);
    this.backoff.set(address, s);
  }
}

/** The value of label `name` ("" when absent). */
function labelValue(ls: Labels, name: string): string {
  for (let i = 0; i < ls.length; i += 2) if (ls[i] === name) return ls[i + 1];
  return "";
}

/** `ls` without label `name`. */
function withoutLabel(ls: Labels, name: string): Labels {
  const out: string[] = [];
  for (let i = 0; i < ls.length; i += 2) if (ls[i] !== name) out.push(ls[i], ls[i + 1]);
  return out;
}

/** The series the relabel rules keep, relabeled (Thanos's `Handler.relabel`). */
function relabelSeries(r: Relabeler, series: PromSeries[]): PromSeries[] {
  const out: PromSeries[] = [];
  for (const s of series) {
    const ls = r.process(s.labels);
    if (ls === null) continue;
    out.push(labelsEqual(ls, s.labels) ? s : withLabels(s, ls));
  }
  return out;
}

/** Thanos's canReturnEarly: every series reached quorum or can no longer reach it by conflicts. */
function canReturnEarly(
  successes: Int32Array,
  conflicts: Int32Array,
  successThreshold: number,
  failureThreshold: number,
): boolean {
  for (let i = 0; i < successes.length; i++) {
    if (successes[i] < successThreshold && conflicts[i] < failureThreshold) return false;
  }
  return true;
}

/** Rejects with the signal's reason when it aborts first (the work itself goes on). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
