// Thanos's gRPC service for forwarding writes between receivers, `thanos.WriteableStore` with the
// unary method `RemoteWrite` (https://github.com/thanos-io/thanos/blob/v0.42.0/pkg/store/storepb/rpc.proto):
//
//   message WriteRequest { repeated prometheus_copy.TimeSeries timeseries = 1;
//                          string tenant = 2; int64 replica = 3; }
//   message WriteResponse {}
//
// `replica` is 1-based on the wire (0 = not yet replicated). TimeSeries is prompb's message
// (labels = 1, samples = 2), encoded and validated by remote_write.ts. Served on the same gRPC
// server as the StoreAPI (register with `writeableService(fn).register(storeServer.grpc)`) and
// called through storeapi/grpc.ts's channel, snappy-compressed as `--receive.grpc-compression`.
//
// Errors cross the wire as gRPC codes, as Thanos's handler.go `RemoteWrite` maps them: conflicts
// (out of order / duplicate / out of bounds samples, invalid label sets) → AlreadyExists, target
// not ready or unavailable → Unavailable, bad replica → InvalidArgument, anything else →
// Internal. Added here: request limits → ResourceExhausted.

import {
  type CallOptions,
  type ClientTlsOptions,
  type Compression,
  GrpcChannel,
  GrpcError,
  type GrpcServer,
  GrpcStatus,
} from "../storeapi/grpc.ts";
import { ProtoDecodeError, ProtoReader, ProtoWriter, varintSize } from "../storeapi/wire.ts";
import {
  decodeTimeSeries,
  encodeTimeSeries,
  type PromSeries,
  RemoteWriteError,
} from "./remote_write.ts";

/** Full method path of Thanos's forward RPC. */
export const REMOTE_WRITE_METHOD = "/thanos.WriteableStore/RemoteWrite";
/** Service name (for health checks). */
export const WRITEABLE_SERVICE = "thanos.WriteableStore";

/** A `thanos.WriteRequest`. */
export interface ForwardRequest {
  tenant: string;
  series: PromSeries[];
  /** 1-based replica number; 0 = not replicated yet. */
  replica: number;
}

/** Encodes a `thanos.WriteRequest`. */
export function encodeForwardRequest(req: ForwardRequest): Uint8Array {
  const msgs = req.series.map(encodeTimeSeries);
  let size = 0;
  for (const m of msgs) size += 1 + varintSize(m.length) + m.length;
  const w = new ProtoWriter(new Uint8Array(size + 64 + req.tenant.length * 3), 0, true);
  for (const m of msgs) {
    w.byte(0x0a);
    w.varint(m.length);
    w.raw(m);
  }
  w.stringField(2, req.tenant);
  w.int64Field(3, req.replica);
  return w.finish();
}

/**
 * Decodes a `thanos.WriteRequest`; series are validated as remote write requires
 * (RemoteWriteError 409 for invalid label sets, 400 for malformed messages).
 */
export function decodeForwardRequest(buf: Uint8Array): ForwardRequest {
  const r = new ProtoReader(buf, "thanos.WriteRequest");
  const out: ForwardRequest = { tenant: "", series: [], replica: 0 };
  try {
    while (!r.eof()) {
      const t = r.tag();
      switch (t) {
        case 0x0a:
          out.series.push(decodeTimeSeries(r.bytes()));
          break;
        case 0x12:
          out.tenant = r.string();
          break;
        case 0x18:
          out.replica = r.int64();
          break;
        default:
          r.skip(t & 7);
      }
    }
  } catch (e) {
    if (e instanceof ProtoDecodeError || e instanceof RangeError) {
      throw new RemoteWriteError(400, `cannot decode thanos.WriteRequest: ${e.message}`);
    }
    throw e;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * Why a write failed, in Thanos's terms (handler.go's sentinel errors): `conflict` (errConflict
 * and the storage/label conflicts), `notReady` (errNotReady, tsdb.ErrNotReady), `unavailable`
 * (errUnavailable), `badReplica` (errBadReplica), `validation` (errValidation), `limit` (request
 * or head series limits; not a Thanos sentinel), `internal` (anything else).
 */
export type WriteErrorCause =
  | "conflict"
  | "notReady"
  | "unavailable"
  | "badReplica"
  | "validation"
  | "limit"
  | "internal";

/** A write failed; `reason` classifies it for status codes and quorum accounting. */
export class ReceiveWriteError extends Error {
  override name = "ReceiveWriteError";
  constructor(readonly reason: WriteErrorCause, message: string) {
    super(message);
  }
}

/** The gRPC code a failed forwarded write answers with (Thanos handler.go `RemoteWrite`). */
export function grpcCodeOf(reason: WriteErrorCause): GrpcStatus {
  switch (reason) {
    case "conflict":
      return GrpcStatus.ALREADY_EXISTS;
    case "notReady":
    case "unavailable":
      return GrpcStatus.UNAVAILABLE;
    case "badReplica":
      return GrpcStatus.INVALID_ARGUMENT;
    case "limit":
      return GrpcStatus.RESOURCE_EXHAUSTED;
    default:
      return GrpcStatus.INTERNAL;
  }
}

/** Maps any error thrown by a write handler to the gRPC error to answer with. */
export function toWriteGrpcError(e: unknown): GrpcError {
  if (e instanceof GrpcError) return e;
  if (e instanceof ReceiveWriteError) return new GrpcError(grpcCodeOf(e.reason), e.message);
  if (e instanceof RemoteWriteError) {
    // 409 = invalid label sets (Thanos counts them as conflicts); 400 = the message did not
    // decode (grpc-go answers Internal for an undecodable request); 413/429 = limits
    const code = e.status === 409
      ? GrpcStatus.ALREADY_EXISTS
      : e.status === 413 || e.status === 429
      ? GrpcStatus.RESOURCE_EXHAUSTED
      : e.status === 503
      ? GrpcStatus.UNAVAILABLE
      : GrpcStatus.INTERNAL;
    return new GrpcError(code, e.message);
  }
  if (e instanceof DOMException && (e.name === "AbortError" || e.name === "TimeoutError")) {
    return new GrpcError(GrpcStatus.CANCELLED, e.message);
  }
  return new GrpcError(GrpcStatus.INTERNAL, e instanceof Error ? e.message : String(e));
}

// ---------------------------------------------------------------------------------------------
// Server

/** Handles one forwarded write: tenant, series and the 1-based replica (0 = not replicated). */
export type ForwardHandler = (
  tenant: string,
  series: PromSeries[],
  replica: number,
  signal: AbortSignal,
) => Promise<void>;

/** A service to register on a gRPC server (e.g. `StoreServer.grpc`). */
export interface GrpcServiceRegistration {
  /** Service name, e.g. for `StoreServerOptions.healthServices`. */
  readonly service: string;
  register(server: GrpcServer): void;
}

/** The `thanos.WriteableStore` service calling `handler` for each RemoteWrite. */
export function writeableService(handler: ForwardHandler): GrpcServiceRegistration {
  return {
    service: WRITEABLE_SERVICE,
    register(server: GrpcServer): void {
      server.unary(REMOTE_WRITE_METHOD, async (request, ctx) => {
        try {
          const req = decodeForwardRequest(request);
          await handler(req.tenant, req.series, req.replica, ctx.signal);
        } catch (e) {
          if (ctx.signal.aborted) throw ctx.signal.reason;
          throw toWriteGrpcError(e);
        }
        return new Uint8Array(0); // WriteResponse {}
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Client

/** Options of {@link WriteableClient}. */
export interface WriteableClientOptions {
  tls?: ClientTlsOptions;
  /** `--receive.grpc-compression`: "snappy" (Thanos's default) or "none". */
  compression?: "none" | Compression;
  /** Deadline of each call (Thanos's `--receive-forward-timeout`, 5 s). */
  timeoutMs?: number;
}

/** Forwards writes to one receiver over `thanos.WriteableStore/RemoteWrite`. */
export class WriteableClient {
  private readonly channel: GrpcChannel;
  private readonly timeoutMs?: number;

  constructor(readonly address: string, opts: WriteableClientOptions = {}) {
    this.channel = new GrpcChannel(address, {
      tls: opts.tls,
      compression: opts.compression ?? "snappy",
    });
    this.timeoutMs = opts.timeoutMs;
  }

  /**
   * Sends `series` of `tenant` as replica `replica` (1-based; 0 = let the peer replicate).
   * Throws GrpcError: AlreadyExists for conflicts, Unavailable when the peer is down or not
   * ready, DeadlineExceeded on timeout, Cancelled when `signal` aborts.
   */
  async remoteWrite(
    tenant: string,
    series: PromSeries[],
    replica: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const opts: CallOptions = { signal, timeoutMs: this.timeoutMs };
    await this.channel.unary(
      REMOTE_WRITE_METHOD,
      encodeForwardRequest({ tenant, series, replica }),
      opts,
    );
  }

  /** Closes the connection. */
  close(): void {
    this.channel.close();
  }
}
