// A remote StoreAPI server as a StoreBackend: what the querier fans out to. Series frames that
// repeat the previous labels are merged into one series, batches are unpacked, warnings surface as
// items, and chunk bytes stay views of the received frames.

import { labelsEqual } from "../tsdb/labels.ts";
import type { SeriesWithChunks } from "../tsdb/series.ts";
import { TurnPacer } from "../runutil/loop_turn.ts";
import type { ByteConn } from "./h2frame.ts";
import {
  decodeHealthCheckResponse,
  decodeInfoResponse,
  decodeLabelNamesResponse,
  decodeLabelNamesResponseInSteps,
  decodeLabelValuesResponse,
  decodeLabelValuesResponseInSteps,
  decodeLegacyInfoResponse,
  decodeSeriesResponse,
  encodeHealthCheckRequest,
  encodeLabelNamesRequest,
  encodeLabelValuesRequest,
  encodeSeriesRequest,
  type LabelNamesRequest,
  type LabelNamesResponse,
  type LabelValuesRequest,
  type LabelValuesResponse,
  type SeriesRequest,
  type ServingStatus,
  type StoreInfo,
  StoreType,
} from "./codec.ts";
import {
  type CallOptions,
  type ClientTlsOptions,
  GrpcChannel,
  GrpcError,
  GrpcStatus,
} from "./grpc.ts";
import { ProtoDecodeError } from "./wire.ts";
import {
  type SeriesItem,
  STORE_METHODS,
  type StoreBackend,
  type StoreCallContext,
} from "./server.ts";
import { TENANT_METADATA_KEY } from "../server/tenancy.ts";
import { withTraceContext } from "../tracing/tracer.ts";

/** Options of {@link StoreClient}. */
export interface StoreClientOptions {
  /** TLS as `--grpc-client-tls-*`; plaintext when absent. */
  tls?: ClientTlsOptions;
  /** Deadline of each call in ms (a Series call's whole stream); none when absent. */
  timeoutMs?: number;
  /** Request compression, as `--grpc-compression` (`none` or `snappy`). */
  compression?: "none" | "snappy";
  /** Metadata sent with every call, e.g. `{ "thanos-tenant": "team-a" }`. */
  metadata?: Record<string, string>;
  /**
   * Decode LabelNames and LabelValues answers in steps, giving the event loop a turn every this
   * many ms (a thread that serves probes: the querier's HTTP thread); absent: in one go.
   */
  labelDecodeTurnEveryMs?: number;
  /** The channel's byte stream instead of a dial of `address` (GrpcChannelOptions.dial). */
  dial?: () => ByteConn;
}

const LEGACY_COMPONENT: Record<number, string> = {
  [StoreType.QUERY]: "query",
  [StoreType.RULE]: "rule",
  [StoreType.SIDECAR]: "sidecar",
  [StoreType.STORE]: "store",
  [StoreType.RECEIVE]: "receive",
  [StoreType.DEBUG]: "debug",
};

/** A StoreAPI endpoint at `host:port`. */
export class StoreClient implements StoreBackend {
  private readonly channel: GrpcChannel;
  private lastTenant: { tenant: string; metadata: Record<string, string> } | null = null;

  constructor(readonly address: string, private readonly opts: StoreClientOptions = {}) {
    this.channel = new GrpcChannel(address, {
      tls: opts.tls,
      compression: opts.compression,
      dial: opts.dial,
    });
  }

  /**
   * Options of one call; its metadata carries the caller's active trace context (W3C) and the
   * call's tenant (`thanos-tenant`).
   */
  private callOpts(signal?: AbortSignal, call?: StoreCallContext): CallOptions {
    const md = call?.tenant === undefined ? this.opts.metadata : this.tenantMetadata(call.tenant);
    return { signal, timeoutMs: this.opts.timeoutMs, metadata: withTraceContext(md) };
  }

  /**
   * The client's metadata with `thanos-tenant`, frozen and kept for the last tenant: nearly
   * every call is the default tenant's, and a frozen object lets the channel reuse the call's
   * header fields (storeapi/grpc.ts `requestHeaders`).
   */
  private tenantMetadata(tenant: string): Record<string, string> {
    const kept = this.lastTenant;
    if (kept !== null && kept.tenant === tenant) return kept.metadata;
    const metadata = Object.freeze({ ...this.opts.metadata, [TENANT_METADATA_KEY]: tenant });
    this.lastTenant = { tenant, metadata };
    return metadata;
  }

  /**
   * Calls `thanos.info.Info/Info`; falls back to the legacy `thanos.Store/Info` when the server
   * answers Unimplemented (Thanos ≤ v0.20). Throws GrpcError.
   */
  async info(signal?: AbortSignal): Promise<StoreInfo> {
    try {
      const res = await this.channel.unary(
        STORE_METHODS.info,
        new Uint8Array(0),
        this.callOpts(signal),
      );
      return decodeOrFail(() => decodeInfoResponse(res));
    } catch (e) {
      if (!(e instanceof GrpcError) || e.code !== GrpcStatus.UNIMPLEMENTED) throw e;
    }
    return await this.legacyInfo(signal);
  }

  /** Calls the legacy `thanos.Store/Info` and maps it onto StoreInfo. */
  async legacyInfo(signal?: AbortSignal): Promise<StoreInfo> {
    const res = await this.channel.unary(
      STORE_METHODS.legacyInfo,
      new Uint8Array(0),
      this.callOpts(signal),
    );
    const l = decodeOrFail(() => decodeLegacyInfoResponse(res));
    return {
      componentType: LEGACY_COMPONENT[l.storeType] ?? "unknown",
      labelSets: l.labelSets.length > 0 ? l.labelSets : (l.labels.length > 0 ? [l.labels] : []),
      minTime: l.minTime,
      maxTime: l.maxTime,
      storeApi: true,
    };
  }

  /**
   * Streams series (merged across frames with equal labels) and warnings. Aborting `signal` or
   * leaving the loop cancels the gRPC call. Throws GrpcError with the server's status.
   */
  series(
    req: SeriesRequest,
    signal?: AbortSignal,
    call?: StoreCallContext,
  ): AsyncGenerator<SeriesItem> {
    // the options (and trace context) of the caller's context now, not of the first next()
    return flatten(this.seriesBatchStream(req, this.callOpts(signal, call)));
  }

  /**
   * {@link series} by the batch: the items decoded from one read of the stream (never empty), in
   * stream order. A series whose frames span two reads is held back and merged.
   */
  seriesBatches(
    req: SeriesRequest,
    signal?: AbortSignal,
    call?: StoreCallContext,
  ): AsyncGenerator<SeriesItem[]> {
    return this.seriesBatchStream(req, this.callOpts(signal, call));
  }

  private async *seriesBatchStream(
    req: SeriesRequest,
    opts: CallOptions,
  ): AsyncGenerator<SeriesItem[]> {
    let pending: SeriesWithChunks | null = null;
    const reads = this.channel.serverStreamBatches(
      STORE_METHODS.series,
      encodeSeriesRequest(req),
      opts,
    );
    for await (const msgs of reads) {
      const out: SeriesItem[] = [];
      for (const msg of msgs) {
        const res = decodeOrFail(() => decodeSeriesResponse(msg));
        if (res === null || "hints" in res) continue;
        if ("warning" in res) {
          out.push({ warning: res.warning });
          continue;
        }
        if ("series" in res) pending = follow(pending, res.series, out);
        else {
          const batch = res.batch;
          for (let i = 0; i < batch.length; i++) pending = follow(pending, batch[i], out);
        }
      }
      if (out.length > 0) yield out;
    }
    if (pending !== null) yield [pending];
  }

  /** Calls `thanos.Store/LabelNames`. */
  async labelNames(
    req: LabelNamesRequest,
    signal?: AbortSignal,
    call?: StoreCallContext,
  ): Promise<LabelNamesResponse> {
    const res = await this.channel.unary(
      STORE_METHODS.labelNames,
      encodeLabelNamesRequest(req),
      this.callOpts(signal, call),
    );
    const every = this.opts.labelDecodeTurnEveryMs;
    if (every === undefined) return decodeOrFail(() => decodeLabelNamesResponse(res));
    return await decodeOrFailAsync(() =>
      decodeLabelNamesResponseInSteps(res, new TurnPacer(every))
    );
  }

  /** Calls `thanos.Store/LabelValues`. */
  async labelValues(
    req: LabelValuesRequest,
    signal?: AbortSignal,
    call?: StoreCallContext,
  ): Promise<LabelValuesResponse> {
    const res = await this.channel.unary(
      STORE_METHODS.labelValues,
      encodeLabelValuesRequest(req),
      this.callOpts(signal, call),
    );
    const every = this.opts.labelDecodeTurnEveryMs;
    if (every === undefined) return decodeOrFail(() => decodeLabelValuesResponse(res));
    return await decodeOrFailAsync(() =>
      decodeLabelValuesResponseInSteps(res, new TurnPacer(every))
    );
  }

  /**
   * Any server-streaming call on this endpoint's connection (Rules, Targets, Metadata), with the
   * client's deadline and metadata.
   */
  stream(path: string, request: Uint8Array, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    return this.channel.serverStream(path, request, this.callOpts(signal));
  }

  /** Calls `grpc.health.v1.Health/Check` for `service` ("" = the whole server). */
  async health(service = "", signal?: AbortSignal): Promise<ServingStatus> {
    const res = await this.channel.unary(
      STORE_METHODS.healthCheck,
      encodeHealthCheckRequest(service),
      this.callOpts(signal),
    );
    return decodeOrFail(() => decodeHealthCheckResponse(res));
  }

  /** Closes the connection. */
  close(): void {
    this.channel.close();
  }
}

/**
 * The series after `pending` in a Series stream: merged into it when the labels repeat (returns
 * `pending`), else `pending` goes to `out` and `s` is the one held back.
 */
function follow(
  pending: SeriesWithChunks | null,
  s: SeriesWithChunks,
  out: SeriesItem[],
): SeriesWithChunks {
  if (pending === null) return s;
  if (labelsEqual(pending.labels, s.labels)) {
    for (const c of s.chunks) pending.chunks.push(c);
    return pending;
  }
  out.push(pending);
  return s;
}

/** One item at a time from a stream of batches. */
async function* flatten<T>(batches: AsyncIterable<T[]>): AsyncGenerator<T> {
  for await (const b of batches) {
    for (let i = 0; i < b.length; i++) yield b[i];
  }
}

function decodeOrFail<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw malformedResponse(e);
  }
}

/** {@link decodeOrFail} for a decode in steps. */
async function decodeOrFailAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw malformedResponse(e);
  }
}

/** A decode error as the gRPC error a caller sees; other errors as they are. */
function malformedResponse(e: unknown): unknown {
  return e instanceof ProtoDecodeError
    ? new GrpcError(GrpcStatus.INTERNAL, `malformed response: ${e.message}`)
    : e;
}
