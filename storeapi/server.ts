// Serves any StoreBackend over gRPC: thanos.Store (Series, LabelNames, LabelValues, legacy Info),
// thanos.info.Info and grpc.health.v1.Health. Series are written straight into outgoing frame
// buffers (chunk bytes copied once), flushed in bounded batches that wait for the HTTP/2 stream
// to drain, so a slow querier slows the backend instead of growing memory.

import { SAMPLES_PER_CHUNK } from "../tsdb/chunkenc/xor.ts";
import type { Registry } from "../metrics/registry.ts";
import type { Logger } from "../logging/log.ts";
import { InvalidRegexError } from "../re2/parser.ts";
import type { Labels, SeriesWithChunks } from "../tsdb/series.ts";
import {
  decodeHealthCheckRequest,
  decodeLabelNamesRequest,
  decodeLabelValuesRequest,
  decodeSeriesRequest,
  encodeHealthCheckResponse,
  encodeInfoResponse,
  encodeLabelNamesResponse,
  encodeLabelValuesResponse,
  encodeLegacyInfoResponse,
  encodeSeriesResponseBatch,
  encodeSeriesResponseSeries,
  encodeSeriesResponseWarning,
  isInvalidRequestError,
  type LabelNamesRequest,
  type LabelValuesRequest,
  SeriesEncoder,
  type SeriesRequest,
  ServingStatus,
  type StoreChunk,
  type StoreInfo,
} from "./codec.ts";
import {
  type CallContext,
  GrpcError,
  GrpcServer,
  GrpcStatus,
  type ListenAddress,
  putFrameHeader,
  type ServerStreamWriter,
  type ServerTlsOptions,
} from "./grpc.ts";
import { ProtoDecodeError, ProtoWriter, varintSize } from "./wire.ts";
import { SPARE_BUFFER_MAX_BYTES, takeSpareBuffer } from "./h2server.ts";
import { traceServerCall } from "../tracing/tracer.ts";
import { TurnPacer } from "../runutil/loop_turn.ts";
import type { GrpcLogSettings } from "../server/request_log.ts";
import type { MatcherFactory, MatchersCache } from "./matchers_cache.ts";
import { TENANT_METADATA_KEY } from "../server/tenancy.ts";

/** One item of a backend's series stream: a series or a non-fatal warning. */
export type SeriesItem = SeriesWithChunks | { warning: string };

/** Anything that can answer StoreAPI calls: TSDB, block store, Prometheus, a remote store. */
export interface StoreBackend {
  /** Self-description for thanos.info.Info (label sets, time range, component type). */
  info(): Promise<StoreInfo>;
  /** Series sorted by labels; chunks may be `StoreChunk`s carrying downsampled aggregates. */
  series(
    req: SeriesRequest,
    signal: AbortSignal,
    call?: StoreCallContext,
  ): AsyncIterable<SeriesItem>;
  /**
   * Optional: the same items as `series`, handed over in batches (in order), so a server
   * answering a call walks each batch without an await per series.
   */
  seriesBatches?(
    req: SeriesRequest,
    signal: AbortSignal,
    call?: StoreCallContext,
  ): AsyncIterable<SeriesItem[]>;
  labelNames(
    req: LabelNamesRequest,
    signal: AbortSignal,
    call?: StoreCallContext,
  ): Promise<{ names: string[]; warnings: string[] }>;
  labelValues(
    req: LabelValuesRequest,
    signal: AbortSignal,
    call?: StoreCallContext,
  ): Promise<{ values: string[]; warnings: string[] }>;
}

/**
 * What a StoreAPI call carries besides its request: the caller's tenant, gRPC metadata
 * `thanos-tenant` (Thanos's proxy sets it on every call it makes:
 * https://github.com/thanos-io/thanos/blob/main/pkg/store/proxy.go).
 */
export interface StoreCallContext {
  tenant?: string;
}

/** The call context of incoming gRPC metadata. */
export function storeCallContext(metadata: Readonly<Record<string, string>>): StoreCallContext {
  const tenant = metadata[TENANT_METADATA_KEY];
  return tenant === undefined || tenant === "" ? {} : { tenant };
}

/** Per-request Series limits (Thanos `--store.limits.request-series/-samples`); 0 = unlimited. */
export interface StoreLimits {
  seriesLimit?: number;
  /** Samples, enforced as chunks × 120 like Thanos. */
  samplesLimit?: number;
}

/** Options of {@link StoreServer}. */
export interface StoreServerOptions {
  tls?: ServerTlsOptions;
  limits?: StoreLimits;
  /** A series whose chunk bytes exceed this is split over several frames (default 1 MiB, as Go). */
  maxFrameBytes?: number;
  /** Frames are handed to the socket in buffers of about this size (default 64 KiB). */
  flushBytes?: number;
  /** Initial health (default false: NOT_SERVING until `setServing(true)`). */
  serving?: boolean;
  /** Services reported by health checks besides "" (default the StoreAPI and Info services). */
  healthServices?: string[];
  /** Registry for the gRPC server metrics (`grpc_server_handled_total`…). */
  registry?: Registry;
  /** Cancel calls whose client stalls this long (see GrpcServerOptions.stallTimeoutMs). */
  stallTimeoutMs?: number;
  /** Where stalled calls are logged, and requests (`requestLog`). */
  logger?: Logger;
  /** Request logging (server/request_log.ts); default the role's installed config. */
  requestLog?: GrpcLogSettings | null;
  /** Compiled regex matchers reused across requests (`--matcher-cache-size`). */
  matchersCache?: MatchersCache;
}

/** Full method paths served. */
export const STORE_METHODS = {
  series: "/thanos.Store/Series",
  labelNames: "/thanos.Store/LabelNames",
  labelValues: "/thanos.Store/LabelValues",
  legacyInfo: "/thanos.Store/Info",
  info: "/thanos.info.Info/Info",
  healthCheck: "/grpc.health.v1.Health/Check",
  healthWatch: "/grpc.health.v1.Health/Watch",
} as const;

/**
 * Maps any error to the gRPC status Thanos would answer with (InvalidArgument for bad requests, as
 * in https://github.com/thanos-io/thanos/blob/main/pkg/store/bucket.go; Canceled for an aborted
 * call).
 */
export function toGrpcError(e: unknown): GrpcError {
  if (e instanceof GrpcError) return e;
  if (isInvalidRequestError(e) || e instanceof InvalidRegexError) {
    return new GrpcError(GrpcStatus.INVALID_ARGUMENT, (e as Error).message);
  }
  if (e instanceof DOMException && e.name === "AbortError") {
    return new GrpcError(GrpcStatus.CANCELLED, e.message);
  }
  return new GrpcError(GrpcStatus.UNKNOWN, e instanceof Error ? e.message : String(e));
}

const RPC_ATTRS = { "rpc.system": "grpc", "rpc.service": "thanos.Store" } as const;

/** A StoreAPI gRPC server over one backend. */
export class StoreServer {
  /** The underlying gRPC server, for registering further services (Rules, Exemplars…). */
  readonly grpc: GrpcServer;
  private serving: boolean;
  private readonly watchers = new Set<() => void>();
  private readonly healthServices: Set<string>;
  private readonly limits: Required<StoreLimits>;
  private readonly maxFrameBytes: number;
  private readonly flushBytes: number;

  /** How request matchers are built: through the matcher cache when configured. */
  private readonly makeMatcher?: MatcherFactory;
  /** Series encoders of finished calls, for the next ones (see {@link SeriesFrameSink}). */
  private readonly encoders: SeriesEncoder[] = [];
  constructor(private readonly backend: StoreBackend, opts: StoreServerOptions = {}) {
    this.makeMatcher = opts.matchersCache?.get;
    this.serving = opts.serving ?? false;
    this.limits = {
      seriesLimit: opts.limits?.seriesLimit ?? 0,
      samplesLimit: opts.limits?.samplesLimit ?? 0,
    };
    this.maxFrameBytes = opts.maxFrameBytes ?? 1 << 20;
    this.flushBytes = opts.flushBytes ?? 64 << 10;
    this.healthServices = new Set([
      "",
      ...(opts.healthServices ?? ["thanos.Store", "thanos.info.Info"]),
    ]);
    this.grpc = new GrpcServer({
      tls: opts.tls,
      registry: opts.registry,
      stallTimeoutMs: opts.stallTimeoutMs,
      logger: opts.logger,
      requestLog: opts.requestLog,
    });
    this.grpc
      // a server span per data call, continuing the caller's trace (W3C `traceparent` metadata)
      .serverStream(STORE_METHODS.series, (req, ctx, out) =>
        traceServerCall(
          STORE_METHODS.series,
          ctx.metadata,
          RPC_ATTRS,
          () => this.handleSeries(req, ctx, out),
        ))
      .unary(STORE_METHODS.labelNames, (req, ctx) =>
        traceServerCall(
          STORE_METHODS.labelNames,
          ctx.metadata,
          RPC_ATTRS,
          () => this.handleLabelNames(req, ctx),
        ))
      .unary(STORE_METHODS.labelValues, (req, ctx) =>
        traceServerCall(
          STORE_METHODS.labelValues,
          ctx.metadata,
          RPC_ATTRS,
          () => this.handleLabelValues(req, ctx),
        ))
      .unary(STORE_METHODS.legacyInfo, async () => encodeLegacyInfoResponse(await this.readyInfo()))
      .unary(STORE_METHODS.info, async () => encodeInfoResponse(await this.readyInfo()))
      .unary(STORE_METHODS.healthCheck, (req) => this.handleHealthCheck(req))
      .serverStream(
        STORE_METHODS.healthWatch,
        (req, ctx, out) => this.handleHealthWatch(req, ctx, out),
      );
  }

  /** Listens on `hostname:port` (0 = any free port). */
  listen(hostname: string, port: number): Promise<ListenAddress> {
    return this.grpc.listen(hostname, port);
  }

  /** Sets the health of service "" (and the StoreAPI services): SERVING or NOT_SERVING. */
  setServing(serving: boolean): void {
    if (this.serving === serving) return;
    this.serving = serving;
    for (const w of this.watchers) w();
  }

  /** Stops the server; running calls get `graceMs` to finish. */
  close(graceMs = 0): Promise<void> {
    this.setServing(false);
    return this.grpc.close(graceMs);
  }

  private async readyInfo(): Promise<StoreInfo> {
    // Go components fail Info until ready, so queriers keep the endpoint out of rotation
    if (!this.serving) throw new GrpcError(GrpcStatus.UNAVAILABLE, "Not ready");
    try {
      return await this.backend.info();
    } catch (e) {
      throw toGrpcError(e);
    }
  }

  private healthStatus(service: string): ServingStatus | undefined {
    if (!this.healthServices.has(service)) return undefined;
    return this.serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  }

  private handleHealthCheck(req: Uint8Array): Promise<Uint8Array> {
    const service = decodeRequest(() => decodeHealthCheckRequest(req));
    const st = this.healthStatus(service);
    if (st === undefined) {
      return Promise.reject(new GrpcError(GrpcStatus.NOT_FOUND, "unknown service"));
    }
    return Promise.resolve(encodeHealthCheckResponse(st));
  }

  private async handleHealthWatch(req: Uint8Array, ctx: CallContext, out: ServerStreamWriter) {
    const service = decodeRequest(() => decodeHealthCheckRequest(req));
    let changed: (() => void) | null = null;
    const wake = () => changed?.();
    this.watchers.add(wake);
    const onAbort = () => changed?.();
    ctx.signal.addEventListener("abort", onAbort);
    try {
      let last = -1;
      while (!ctx.signal.aborted) {
        const st = this.healthStatus(service) ?? ServingStatus.SERVICE_UNKNOWN;
        if (st !== last) {
          await out.send(encodeHealthCheckResponse(st));
          last = st;
        }
        await new Promise<void>((r) => changed = r);
      }
      throw ctx.signal.reason;
    } finally {
      this.watchers.delete(wake);
      ctx.signal.removeEventListener("abort", onAbort);
    }
  }

  private async handleLabelNames(buf: Uint8Array, ctx: CallContext): Promise<Uint8Array> {
    const req = decodeRequest(() => decodeLabelNamesRequest(buf, this.makeMatcher));
    let res;
    try {
      res = await this.backend.labelNames(req, ctx.signal, storeCallContext(ctx.metadata));
    } catch (e) {
      throw toGrpcError(e);
    }
    let names = res.names;
    if (req.limit && req.limit > 0 && names.length > req.limit) names = names.slice(0, req.limit);
    return encodeLabelNamesResponse({ names, warnings: res.warnings });
  }

  private async handleLabelValues(buf: Uint8Array, ctx: CallContext): Promise<Uint8Array> {
    const req = decodeRequest(() => decodeLabelValuesRequest(buf, this.makeMatcher));
    if (req.label === "") {
      throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, "label name parameter cannot be empty");
    }
    let res;
    try {
      res = await this.backend.labelValues(req, ctx.signal, storeCallContext(ctx.metadata));
    } catch (e) {
      throw toGrpcError(e);
    }
    let values = res.values;
    if (req.limit && req.limit > 0 && values.length > req.limit) {
      values = values.slice(0, req.limit);
    }
    return encodeLabelValuesResponse({ values, warnings: res.warnings });
  }

  private async handleSeries(buf: Uint8Array, ctx: CallContext, out: ServerStreamWriter) {
    const req = decodeRequest(() => decodeSeriesRequest(buf, this.makeMatcher));
    const { seriesLimit, samplesLimit } = this.limits;
    const sink = new SeriesFrameSink(out, this.flushBytes, this.maxFrameBytes, this.encoders);
    const batchSize = (req.responseBatchSize ?? 0) > 1 ? req.responseBatchSize! : 0;
    const batch: SeriesWithChunks[] = [];
    const skipChunks = req.skipChunks === true;
    const maxSeries = req.limit ?? 0;
    let series = 0;
    let chunks = 0;
    try {
      const call = storeCallContext(ctx.metadata);
      /** Sends one item: STOP at the request's limit, a promise only when it must be awaited. */
      const take = (item: SeriesItem): Promise<void> | undefined | typeof STOP => {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        if ("warning" in item) return sink.message(encodeSeriesResponseWarning(item.warning));
        if (maxSeries > 0 && series >= maxSeries) return STOP;
        series++;
        if (seriesLimit > 0 && series > seriesLimit) {
          throw new GrpcError(
            GrpcStatus.RESOURCE_EXHAUSTED,
            `exceeded series limit: limit ${seriesLimit} violated (got ${series})`,
          );
        }
        const cs = skipChunks ? NO_CHUNKS : item.chunks;
        chunks += cs.length;
        if (samplesLimit > 0 && chunks * SAMPLES_PER_CHUNK > samplesLimit) {
          throw new GrpcError(
            GrpcStatus.RESOURCE_EXHAUSTED,
            `exceeded samples limit: limit ${samplesLimit} violated (got ${
              chunks * SAMPLES_PER_CHUNK
            })`,
          );
        }
        if (batchSize === 0) return sink.series(item.labels, cs);
        batch.push(skipChunks ? { labels: item.labels, chunks: NO_CHUNKS } : item);
        if (batch.length < batchSize) return undefined;
        // encoded here: the sink may keep the array until the frame is written
        return sink.batch(batch.splice(0));
      };
      const backend = this.backend;
      // labels only (`/api/v1/series`): cached entries and no chunk reads, so nothing else
      // gives the thread a turn; 60,000 series held it for 10-50 ms steps (issue 20)
      const pacer = skipChunks ? new TurnPacer(SKIP_CHUNKS_TURN_EVERY_MS) : undefined;
      if (backend.seriesBatches) {
        // a batch is walked without an await per series (only when a frame fills the buffer)
        outer: for await (const items of backend.seriesBatches(req, ctx.signal, call)) {
          for (let i = 0; i < items.length; i++) {
            sink.ahead = items.length - 1 - i;
            const r = take(items[i]);
            if (r === STOP) break outer;
            if (r !== undefined) await r;
            const turn = pacer?.pause();
            if (turn) await turn;
          }
        }
      } else {
        for await (const item of backend.series(req, ctx.signal, call)) {
          const r = take(item);
          if (r === STOP) break;
          if (r !== undefined) await r;
          const turn = pacer?.pause();
          if (turn) await turn;
        }
      }
      if (batch.length > 0) await sink.batch(batch);
      await sink.flush();
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw toGrpcError(e);
    } finally {
      sink.release();
    }
  }
}

const NO_CHUNKS: StoreChunk[] = [];

/** Encoders kept for reuse at most: one per call in flight in the usual case. */
const MAX_POOLED_ENCODERS = 4;

/**
 * Longest stretch (ms) of a Series call without chunks between two event-loop turns (an I/O
 * turn, ≈0.03 ms; ≈2 ms when it falls back to a timer turn: see store/bucket_store.ts's label
 * calls).
 */
const SKIP_CHUNKS_TURN_EVERY_MS = 2;

/** What a Series call's item handler returns at the request's `limit`. */
const STOP = Symbol("stop");

function decodeRequest<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    // grpc-go fails a request its codec cannot unmarshal with Internal, before any handler
    if (e instanceof ProtoDecodeError) {
      throw new GrpcError(GrpcStatus.INTERNAL, `grpc: error unmarshalling request: ${e.message}`);
    }
    if (e instanceof InvalidRegexError) {
      throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, e.message);
    }
    throw e;
  }
}

const NO_BYTES = new Uint8Array(0);
/** First size of a {@link SeriesFrameSink} buffer. */
const MIN_SINK_BYTES = 4096;
/**
 * Bytes a {@link SeriesFrameSink} buffer leaves free before and after its frames: the HTTP/2
 * layer writes the response HEADERS and the DATA frame header there, and the trailers after the
 * last frames, instead of copying the answer into a new array (issue 19).
 */
const SINK_HEAD_ROOM = 256, SINK_TAIL_ROOM = 64;

/**
 * Packs SeriesResponse frames into buffers of about `flushBytes` and sends them; splits series
 * with more than `maxFrameBytes` of chunk data over several frames with the same labels.
 */
class SeriesFrameSink {
  /**
   * Allocated on demand and grown by doubling up to `flushBytes`: most answers to instant
   * queries are a few hundred bytes, and two 64 KiB buffers per call (zeroed, outside the V8
   * heap) cost the store gateway more garbage collection than the rest of a small call.
   */
  private buf: Uint8Array = NO_BYTES;
  private pos = 0;
  /**
   * Series of the backend's current batch still to come after the one being queued (set by the
   * caller): a buffer that must grow is sized for them at the size of the frame in hand (at
   * most `flushBytes` plus that frame), instead of doubling from 4 KiB with a copy per step (a
   * 100 KiB answer took nine arrays and 120 KiB of copies; issue 19).
   */
  ahead = 0;
  /**
   * Taken from `pool` at the first series, handed back by {@link release}: an encoder's four
   * typed arrays (each with its own buffer, about a microsecond apiece in Deno) were made for
   * every call, even one answering nothing (issue 19). A call has its encoder to itself: a frame
   * is measured and written without an await between (the flush comes after), but an encoder
   * shared by concurrent calls would break as soon as one came back.
   */
  private encoder: SeriesEncoder | null = null;

  constructor(
    private readonly out: ServerStreamWriter,
    private readonly flushBytes: number,
    private readonly maxFrameBytes: number,
    private readonly pool: SeriesEncoder[],
  ) {}

  private get enc(): SeriesEncoder {
    return this.encoder ??= this.pool.pop() ?? new SeriesEncoder();
  }

  /** Hands the encoder back to the pool; the sink must not encode afterwards. */
  release(): void {
    const enc = this.encoder;
    if (enc === null) return;
    this.encoder = null;
    if (this.pool.length < MAX_POOLED_ENCODERS) {
      enc.forget();
      this.pool.push(enc);
    }
  }

  /**
   * Room for `total` more bytes, sized for `expected` bytes (≥ `total`) when that is larger. A
   * frame always joins the buffer, which is sent once it holds `flushBytes` (so it holds less
   * than `flushBytes` plus one frame): flushing before a frame that would pass `flushBytes` sent
   * the querier's 40 KB batch frames one buffer each, and the HTTP/2 layer copied the buffers
   * of one socket write into a new array (issue 19).
   */
  private reserve(total: number, expected = total): void {
    if (this.pos + total <= this.buf.length) return;
    let size = Math.max(this.buf.length * 2, MIN_SINK_BYTES, this.pos + expected);
    if (size > this.flushBytes + total) size = this.flushBytes + total;
    if (size < this.pos + total) size = this.pos + total;
    // lent by the HTTP/2 layer, which takes it back once written (its bytes are not zeroed)
    const bytes = SINK_HEAD_ROOM + size + SINK_TAIL_ROOM;
    let grown: Uint8Array;
    if (bytes <= SPARE_BUFFER_MAX_BYTES) {
      const b = takeSpareBuffer(bytes);
      grown = new Uint8Array(b, SINK_HEAD_ROOM, b.byteLength - SINK_HEAD_ROOM - SINK_TAIL_ROOM);
    } else grown = new Uint8Array(bytes).subarray(SINK_HEAD_ROOM, SINK_HEAD_ROOM + size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
  }

  /** Queues one series; a promise only when the caller must wait for it. */
  series(labels: Labels, chunks: readonly StoreChunk[]): Promise<void> | undefined {
    let bytes = 0;
    for (const c of chunks) bytes += c.data.length;
    if (chunks.length <= 1 || bytes <= this.maxFrameBytes) {
      return this.frame(labels, chunks, 0, chunks.length);
    }
    return this.seriesSplit(labels, chunks);
  }

  /** A series with more than `maxFrameBytes` of chunk data, over several frames. */
  private async seriesSplit(labels: Labels, chunks: readonly StoreChunk[]): Promise<void> {
    let from = 0;
    do {
      let to = from;
      let bytes = 0;
      // at least one chunk per frame, then as many as fit in maxFrameBytes
      while (
        to < chunks.length && (to === from || bytes + chunks[to].data.length <= this.maxFrameBytes)
      ) {
        bytes += chunks[to].data.length;
        to++;
      }
      await this.frame(labels, chunks, from, to);
      from = to;
    } while (from < chunks.length);
  }

  private frame(
    labels: Labels,
    chunks: readonly StoreChunk[],
    from: number,
    to: number,
  ): Promise<void> | undefined {
    if (this.out.compressed) {
      return this.out.send(encodeSeriesResponseSeries({ labels, chunks: chunks.slice(from, to) }));
    }
    const size = this.enc.measure(labels, chunks, from, to);
    const total = 5 + 1 + varintSize(size) + size;
    this.reserve(total, total * (1 + this.ahead));
    return this.put(labels, chunks, from, to, size);
  }

  /** Writes a measured series frame into the reserved room. */
  private put(
    labels: Labels,
    chunks: readonly StoreChunk[],
    from: number,
    to: number,
    size: number,
  ): Promise<void> | undefined {
    putFrameHeader(this.buf, this.pos, false, 1 + varintSize(size) + size);
    const w = new ProtoWriter(this.buf, this.pos + 5);
    w.byte(0x0a);
    w.varint(size);
    this.enc.write(w, labels, chunks, from, to);
    this.pos = w.pos;
    return this.pos >= this.flushBytes ? this.flush() : undefined;
  }

  /** Queues a `SeriesResponse{batch}` of `series`; a promise only when the caller must wait. */
  batch(series: readonly SeriesWithChunks[]): Promise<void> | undefined {
    if (this.out.compressed) return this.message(encodeSeriesResponseBatch(series));
    const size = this.enc.measureBatch(series);
    const total = 5 + 1 + varintSize(size) + size;
    // the series of the backend's batch still to come, in frames of this one's size
    this.reserve(total, total * (1 + this.ahead / series.length));
    return this.putBatch(series, size);
  }

  /** Writes a measured batch frame into the reserved room. */
  private putBatch(series: readonly SeriesWithChunks[], size: number): Promise<void> | undefined {
    putFrameHeader(this.buf, this.pos, false, 1 + varintSize(size) + size);
    const w = new ProtoWriter(this.buf, this.pos + 5);
    w.byte(0x22);
    w.varint(size);
    this.enc.writeBatch(w, series);
    this.pos = w.pos;
    return this.pos >= this.flushBytes ? this.flush() : undefined;
  }

  /** Sends an already-encoded SeriesResponse message (warnings). */
  message(msg: Uint8Array): Promise<void> | undefined {
    if (this.out.compressed) return this.flush().then(() => this.out.send(msg));
    const total = 5 + msg.length;
    this.reserve(total);
    return this.putMessage(msg);
  }

  private putMessage(msg: Uint8Array): Promise<void> | undefined {
    putFrameHeader(this.buf, this.pos, false, msg.length);
    this.buf.set(msg, this.pos + 5);
    this.pos += 5 + msg.length;
    return this.pos >= this.flushBytes ? this.flush() : undefined;
  }

  async flush(): Promise<void> {
    if (this.pos === 0) return;
    const full = this.buf.subarray(0, this.pos);
    // the socket keeps the buffer until written, so the next batch needs a fresh one (if any);
    // the bytes around `full` are free for the transport's frames
    this.buf = NO_BYTES;
    this.pos = 0;
    await this.out.sendFramed(full, true);
  }
}
