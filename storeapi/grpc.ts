// A small gRPC-over-HTTP/2 transport on our own HTTP/2 (h2server.ts, h2client.ts): unary and server-streaming calls, status
// trailers, deadlines, cancellation, TLS/mTLS and per-message compression including the
// Thanos "snappy" compressor (snappy framing format). We own the transport instead of using
// @grpc/grpc-js because grpc-js hard-codes its compressors (identity/deflate/gzip) and answers
// `grpc-encoding: snappy` with UNIMPLEMENTED, which Go receivers and queriers send.
// Messages are opaque bytes here; the StoreAPI codecs live in codec.ts.

import type { Counter, CounterChild, Registry } from "../metrics/registry.ts";
import type { Logger } from "../logging/log.ts";
import {
  type GrpcCallFacts,
  type GrpcLogSettings,
  GrpcRequestLogger,
  requestLogConfig,
} from "../server/request_log.ts";
import { newULID } from "../tsdb/ulid.ts";
import { afterMs, type Deadline } from "../runutil/deadline.ts";
import type tls from "node:tls";
import type * as nodeZlib from "node:zlib";
import type * as snappyCodec from "./snappy.ts";
import { H2Server, WRITE_TAKEN } from "./h2server.ts";
import {
  H2ClientConnection,
  type H2ClientStream,
  H2StreamError,
  type KeepaliveOptions,
  THANOS_CLIENT_KEEPALIVE,
} from "./h2client.ts";
import { type ByteConn, H2Error } from "./h2frame.ts";

/** gRPC status codes. */
export enum GrpcStatus {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

/** A call ended with a non-OK gRPC status; `details` is the status message. */
export class GrpcError extends Error {
  override name = "GrpcError";
  constructor(readonly code: GrpcStatus, readonly details: string) {
    super(`rpc error: code = ${statusName(code)} desc = ${details}`);
  }
}

/** Go-style name of a status code, e.g. `ResourceExhausted`. */
export function statusName(code: GrpcStatus): string {
  // Go's codes.Code.String() spells these two differently from the gRPC spec's names.
  if (code === GrpcStatus.OK) return "OK";
  if (code === GrpcStatus.CANCELLED) return "Canceled";
  const n = GrpcStatus[code];
  if (n === undefined) return `Code(${code})`;
  return n.toLowerCase().replace(/(^|_)([a-z])/g, (_m, _u, c: string) => c.toUpperCase());
}

/** Message compressions understood on both sides; `snappy` is Thanos's framing-format snappy. */
export type Compression = "identity" | "snappy" | "gzip" | "deflate";

const SUPPORTED_ENCODINGS: readonly Compression[] = ["snappy", "gzip", "deflate", "identity"];
const ACCEPT_ENCODING = SUPPORTED_ENCODINGS.join(",");

function isSupportedEncoding(e: string): e is Compression {
  return (SUPPORTED_ENCODINGS as readonly string[]).includes(e);
}

/** The compressors' modules, loaded by {@link loadCodecs}. */
interface Codecs {
  zlib: typeof nodeZlib;
  snappy: typeof snappyCodec;
}

let codecs: Codecs | undefined;
let loadingCodecs: Promise<Codecs> | undefined;

/**
 * Loads the compressors (node:zlib, snappyjs) when a call first needs one: most calls are not
 * compressed, and an evaluation Worker that loads them at start is ready ~10 ms later. Every
 * path that compresses or decompresses awaits this first (a request about to be compressed, a
 * request or a response whose grpc-encoding is not identity), so the functions below can stay
 * synchronous.
 */
function loadCodecs(): Promise<Codecs> {
  return loadingCodecs ??= Promise.all([import("node:zlib"), import("./snappy.ts")]).then(
    ([zlib, snappy]) => codecs = { zlib, snappy },
    (e) => {
      loadingCodecs = undefined; // a later call tries again
      throw e;
    },
  );
}

function loadedCodecs(): Codecs {
  if (codecs === undefined) throw new Error("gRPC compressors used before loadCodecs()");
  return codecs;
}

function compressMessage(enc: Compression, data: Uint8Array): Uint8Array {
  switch (enc) {
    case "snappy":
      return loadedCodecs().snappy.snappyFrameEncode(data);
    case "gzip":
      return loadedCodecs().zlib.gzipSync(data);
    case "deflate":
      return loadedCodecs().zlib.deflateSync(data);
    default:
      return data;
  }
}

function decompressMessage(enc: string, data: Uint8Array, max: number): Uint8Array {
  let out: Uint8Array;
  switch (enc) {
    case "snappy":
      return loadedCodecs().snappy.snappyFrameDecode(data, max);
    case "gzip":
      out = loadedCodecs().zlib.gunzipSync(data, { maxOutputLength: max });
      break;
    case "deflate":
      out = loadedCodecs().zlib.inflateSync(data, { maxOutputLength: max });
      break;
    case "identity":
    case "":
      // grpc-go: a message flagged compressed on a call without a compression is an error
      throw new GrpcError(
        GrpcStatus.INTERNAL,
        "grpc: compressed flag set with identity or empty encoding",
      );
    default:
      throw new GrpcError(
        GrpcStatus.UNIMPLEMENTED,
        `message compressed with unsupported encoding "${enc}" (supported: ${ACCEPT_ENCODING})`,
      );
  }
  return out;
}

/** grpc-message is percent-encoded outside printable ASCII (gRPC HTTP/2 protocol). */
function encodeGrpcMessage(s: string): string {
  // nearly every call ends with "" (OK) or a plain ASCII message: nothing to encode
  let plain = true;
  for (let i = 0; i < s.length && plain; i++) {
    const c = s.charCodeAt(i);
    plain = c >= 0x20 && c <= 0x7e && c !== 0x25;
  }
  if (plain) return s;
  let out = "";
  for (const b of new TextEncoder().encode(s)) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

function decodeGrpcMessage(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Parses a `grpc-timeout` header value (e.g. `5000m`) into ms; undefined when invalid. */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const mult: Record<string, number> = { H: 3600e3, M: 60e3, S: 1e3, m: 1, u: 1e-3, n: 1e-6 };
  return n * mult[m[2]];
}

function formatGrpcTimeout(ms: number): string {
  const v = Math.max(1, Math.ceil(ms));
  return v < 1e8 ? `${v}m` : `${Math.min(99999999, Math.ceil(v / 1000))}S`;
}

/** Writes the 5-byte gRPC message prefix (compressed flag + big-endian length) at `p`. */
export function putFrameHeader(buf: Uint8Array, p: number, compressed: boolean, len: number) {
  buf[p] = compressed ? 1 : 0;
  buf[p + 1] = (len >>> 24) & 0xff;
  buf[p + 2] = (len >>> 16) & 0xff;
  buf[p + 3] = (len >>> 8) & 0xff;
  buf[p + 4] = len & 0xff;
}

function frame(msg: Uint8Array, compressed: boolean): Uint8Array {
  const out = new Uint8Array(5 + msg.length);
  putFrameHeader(out, 0, compressed, msg.length);
  out.set(msg, 5);
  return out;
}

/**
 * Splits a byte stream into gRPC messages. A message inside one received chunk is returned as a
 * view (no copy); one spanning chunks is assembled into its own buffer (one copy). Chunks are
 * kept until their message is complete: the caller must not reuse them (readFrames hands over
 * a copy of each DATA payload).
 */
class FrameParser {
  private header = new Uint8Array(5);
  private headerLen = 0;
  /** Parts of the message being assembled; memory follows the bytes received, never the
   * announced length (a 4 GiB announcement with a few bytes costs a few bytes). */
  private parts: Uint8Array[] | null = null;
  private msgLen = 0;
  private msgFill = 0;
  private msgCompressed = false;

  constructor(private readonly maxMessageBytes: number) {}

  /** Feeds bytes; calls `emit` for each complete message. */
  push(chunk: Uint8Array, emit: (msg: Uint8Array, compressed: boolean) => void): void {
    let p = 0;
    const n = chunk.length;
    while (p < n) {
      if (this.parts !== null) {
        const take = Math.min(this.msgLen - this.msgFill, n - p);
        // kept as it is: chunks are the HTTP/2 layer's payload copies, never reused
        this.parts.push(chunk.subarray(p, p + take));
        this.msgFill += take;
        p += take;
        if (this.msgFill === this.msgLen) {
          const parts = this.parts;
          this.parts = null;
          let m: Uint8Array;
          if (parts.length === 1) m = parts[0];
          else {
            m = new Uint8Array(this.msgLen);
            let o = 0;
            for (const x of parts) {
              m.set(x, o);
              o += x.length;
            }
          }
          emit(m, this.msgCompressed);
        }
        continue;
      }
      if (this.headerLen === 0 && n - p >= 5) {
        // fast path: header and maybe the whole message in this chunk
        const flag = chunk[p];
        const len = ((chunk[p + 1] << 24) | (chunk[p + 2] << 16) | (chunk[p + 3] << 8) |
          chunk[p + 4]) >>> 0;
        this.checkLen(len, flag);
        p += 5;
        if (n - p >= len) {
          emit(chunk.subarray(p, p + len), flag === 1);
          p += len;
        } else {
          this.startMessage(len, flag === 1);
        }
        continue;
      }
      while (this.headerLen < 5 && p < n) this.header[this.headerLen++] = chunk[p++];
      if (this.headerLen === 5) {
        const h = this.header;
        const len = ((h[1] << 24) | (h[2] << 16) | (h[3] << 8) | h[4]) >>> 0;
        this.checkLen(len, h[0]);
        this.headerLen = 0;
        if (len === 0) emit(new Uint8Array(0), h[0] === 1);
        else this.startMessage(len, h[0] === 1);
      }
    }
  }

  private checkLen(len: number, flag: number): void {
    if (flag > 1) {
      throw new GrpcError(GrpcStatus.INTERNAL, `invalid gRPC message flag ${flag}`);
    }
    if (len > this.maxMessageBytes) {
      throw new GrpcError(
        GrpcStatus.RESOURCE_EXHAUSTED,
        `received message larger than max (${len} vs. ${this.maxMessageBytes})`,
      );
    }
  }

  private startMessage(len: number, compressed: boolean): void {
    this.parts = [];
    this.msgLen = len;
    this.msgFill = 0;
    this.msgCompressed = compressed;
  }

  /** True when no partial message is pending. */
  idle(): boolean {
    return this.parts === null && this.headerLen === 0;
  }
}

// ---------------------------------------------------------------------------------------------
// TLS

/** Server TLS, as Thanos `--grpc-server-tls-cert/-key/-client-ca` (client CA ⇒ mutual TLS). */
export interface ServerTlsOptions {
  certFile: string;
  keyFile: string;
  /** When set, clients must present a certificate signed by this CA. */
  clientCaFile?: string;
  /** `--grpc-server-tls-min-version`; Thanos defaults to TLS 1.3. */
  minVersion?: "TLSv1.2" | "TLSv1.3";
}

/**
 * Client TLS, as Thanos `--grpc-client-tls-secure` (presence of this object), `-cert`, `-key`,
 * `-ca`, `-server-name` and `-skip-verify`.
 */
export interface ClientTlsOptions {
  certFile?: string;
  keyFile?: string;
  /** CA to verify the server with; the system roots when absent. */
  caFile?: string;
  /** Name to verify the server certificate against (and to send as SNI). */
  serverName?: string;
  /** Do not verify the server certificate. */
  skipVerify?: boolean;
  /** Lowest TLS version offered (Thanos's `--grpc-client-tls-min-version`); the runtime's default when absent. */
  minVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
}

function readPem(path: string, what: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    throw new Error(`cannot read TLS ${what} file ${path}: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Server

/** What a handler knows about its call. */
export interface CallContext {
  /** Aborted when the client cancels, the deadline passes or the server shuts down. */
  readonly signal: AbortSignal;
  /** Request metadata (HTTP/2 headers that are not pseudo or reserved gRPC headers). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Sends the messages of a server-streaming response, waiting when the transport is full. */
export interface ServerStreamWriter {
  /** True when responses are compressed; then only `send` may be used. */
  readonly compressed: boolean;
  /** Sends one message. */
  send(message: Uint8Array): Promise<void>;
  /**
   * Sends bytes already framed with 5-byte gRPC prefixes (uncompressed streams only). The buffer
   * is handed to the socket: the caller must not reuse it. `spare`: the rest of `frames.buffer`
   * (before and after the view) is unused too, and the transport may write its own frames there
   * instead of copying `frames` next to them.
   */
  sendFramed(frames: Uint8Array, spare?: boolean): Promise<void>;
}

/** Unary handler: request bytes in, response bytes out; throw GrpcError for a status. */
export type UnaryHandler = (request: Uint8Array, ctx: CallContext) => Promise<Uint8Array>;
/** Server-streaming handler. */
export type ServerStreamHandler = (
  request: Uint8Array,
  ctx: CallContext,
  out: ServerStreamWriter,
) => Promise<void>;

/** Options of {@link GrpcServer}. */
export interface GrpcServerOptions {
  tls?: ServerTlsOptions;
  /** Largest request message accepted (default 64 MiB). */
  maxRequestBytes?: number;
  /**
   * Where `grpc_server_started_total` / `grpc_server_handled_total` are recorded (the names and
   * labels of go-grpc-prometheus, as Thanos exposes them), and
   * `thanos_grpc_server_stalled_calls_total`; none when absent.
   */
  registry?: Registry;
  /**
   * A call whose client reads nothing (flow control closed) or sends nothing of its request for
   * this long is cancelled, freeing what it holds (default {@link DEFAULT_STALL_TIMEOUT_MS}).
   */
  stallTimeoutMs?: number;
  /** Where stalled calls are logged (warn), and requests (`requestLog`); none when absent. */
  logger?: Logger;
  /** Request logging (server/request_log.ts); default the role's installed config. */
  requestLog?: GrpcLogSettings | null;
  /** Shortest interval between a client's keepalive PINGs tolerated (default 10 s, as Thanos). */
  keepaliveMinTimeMs?: number;
}

/**
 * Default stall timeout. A querier reads its store streams continuously; one pauses only while
 * its merge waits on another, slower store, which the querier's own timeouts (Thanos
 * `--query.timeout`, default 2m) bound. 30 s is far above that pause for a healthy querier and
 * frees a `--store.grpc.series-max-concurrency` slot four times sooner than the default query
 * timeout would end the query holding it.
 */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

type Route =
  | { kind: "unary"; handler: UnaryHandler }
  | { kind: "stream"; handler: ServerStreamHandler };

/** Address a server listens on. */
export interface ListenAddress {
  hostname: string;
  port: number;
}

/**
 * What a call needs from its HTTP/2 stream (h2server.ts's H2Stream, plaintext and TLS).
 * Methods never throw; `write` rejects once the stream is gone.
 */
interface CallStream {
  readonly headers: Readonly<Record<string, string>>;
  readonly closed: boolean;
  onData: (chunk: Uint8Array) => void;
  onEnd: () => void;
  onClose: () => void;
  respond(headers: Record<string, string>, endStream: boolean): void;
  /**
   * Resolves when the stream can take more; rejects when it closed. `spare`: as
   * {@link ServerStreamWriter.sendFramed}'s.
   */
  write(data: Uint8Array, spare?: boolean): Promise<void>;
  end(trailers: Record<string, string>): void;
  /** RST_STREAM(CANCEL): the client sees the call cancelled. */
  reset(): void;
}

/** A gRPC server: register routes by full method path, then `listen`. */
export class GrpcServer {
  private readonly routes = new Map<string, Route>();
  private readonly services = new Set<string>();
  private readonly h2: H2Server;
  private readonly tls?: ServerTlsOptions;
  private readonly calls = new Set<ServerCall>();
  private readonly maxRequestBytes: number;
  private closed = false;
  private readonly started?: Counter;
  private readonly handled?: Counter;
  /**
   * The started and handled series per method, by call kind and path (see `record`): the path
   * as the request named it, whose hash the route lookup already computed.
   */
  private readonly methodSeries = {
    unary: new Map<string, MethodSeries>(),
    stream: new Map<string, MethodSeries>(),
  };
  private readonly stalled?: Counter;
  private readonly logger?: Logger;
  /** @internal Thanos's request logging of calls, when configured. */
  readonly requestLog?: GrpcRequestLogger;
  /** @internal */
  readonly stallTimeoutMs: number;

  constructor(opts: GrpcServerOptions = {}) {
    this.maxRequestBytes = opts.maxRequestBytes ?? 64 << 20;
    this.stallTimeoutMs = opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.logger = opts.logger;
    const rl = opts.requestLog !== undefined ? opts.requestLog : requestLogConfig().grpc;
    if (rl && opts.logger) this.requestLog = new GrpcRequestLogger(rl, opts.logger);
    const labelNames = ["grpc_type", "grpc_service", "grpc_method"];
    this.started = opts.registry?.counter({
      name: "grpc_server_started_total",
      help: "Total number of RPCs started on the server.",
      labelNames,
    });
    this.handled = opts.registry?.counter({
      name: "grpc_server_handled_total",
      help: "Total number of RPCs completed on the server, regardless of success or failure.",
      labelNames: [...labelNames, "grpc_code"],
    });
    this.stalled = opts.registry?.counter({
      name: "thanos_grpc_server_stalled_calls_total",
      help: "Calls cancelled because the client read nothing of the response (or sent nothing " +
        "of the request) for the stall timeout.",
      labelNames: [...labelNames, "direction"],
    });
    this.h2 = new H2Server((s) => this.onStream(s), {
      keepaliveMinTimeMs: opts.keepaliveMinTimeMs,
    });
    this.tls = opts.tls;
  }

  /** Registers a unary method, e.g. `/thanos.Store/LabelNames`. */
  unary(path: string, handler: UnaryHandler): this {
    this.routes.set(path, { kind: "unary", handler });
    this.services.add(path.slice(1, path.lastIndexOf("/")));
    return this;
  }

  /** Registers a server-streaming method, e.g. `/thanos.Store/Series`. */
  serverStream(path: string, handler: ServerStreamHandler): this {
    this.routes.set(path, { kind: "stream", handler });
    this.services.add(path.slice(1, path.lastIndexOf("/")));
    return this;
  }

  /**
   * Serves one connection over any byte stream, beside the listener's (the start-up warm-ups'
   * in-memory connection, storeapi/loopback.ts); {@link close} ends it with the others.
   */
  serveConnection(conn: ByteConn): void {
    this.h2.serve(conn);
  }

  /** Starts listening on `hostname:port` (port 0 picks a free one); returns the bound address. */
  async listen(hostname: string, port: number): Promise<ListenAddress> {
    const t = this.tls;
    if (t === undefined) return { hostname, port: this.h2.listen(hostname, port) };
    const mutual = t.clientCaFile !== undefined && t.clientCaFile !== "";
    const bound = await this.h2.listenTls(hostname, port, {
      cert: readPem(t.certFile, "certificate"),
      key: readPem(t.keyFile, "key"),
      ca: mutual ? readPem(t.clientCaFile!, "client CA") : undefined,
      requestCert: mutual,
      rejectUnauthorized: mutual,
      minVersion: t.minVersion ?? "TLSv1.3",
    });
    return { hostname, port: bound };
  }

  /**
   * Stops accepting connections, lets running calls finish for `graceMs`, then cancels them and
   * closes every connection.
   */
  async close(graceMs = 0): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.h2.shutdown();
    const deadline = Date.now() + graceMs;
    while (this.calls.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
    for (const c of this.calls) {
      c.cancel(new GrpcError(GrpcStatus.UNAVAILABLE, "server shutting down"));
    }
    // let the cancelled calls' trailers go out before the connections drop
    await new Promise((r) => setTimeout(r, 20));
    this.h2.destroy();
  }

  private onStream(stream: CallStream): void {
    const headers = stream.headers;
    const ct = headers["content-type"] ?? "";
    // grpc-go answers a request that is not gRPC with HTTP 415
    // (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md)
    if (
      headers[":method"] !== "POST" ||
      (ct !== "application/grpc" && !/^application\/grpc($|[+;])/.test(ct))
    ) {
      stream.respond({ ":status": "415", "content-type": "text/plain" }, true);
      return;
    }
    const path = headers[":path"] ?? "";
    const route = this.routes.get(path);
    if (!route) {
      // grpc-go's messages for an unknown service and an unknown method of a known one
      const slash = path.lastIndexOf("/");
      const service = path.slice(1, Math.max(1, slash));
      const msg = this.services.has(service)
        ? `unknown method ${path.slice(slash + 1)} for service ${service}`
        : `unknown service ${service}`;
      trailersOnly(stream, GrpcStatus.UNIMPLEMENTED, msg);
      return;
    }
    new ServerCall(this, stream, route).run();
  }

  /** @internal Records the start (code undefined) or the end of a call in the metrics. */
  record(path: string, kind: "unary" | "stream", code?: GrpcStatus): void {
    if (this.started === undefined || this.handled === undefined) return;
    // the series of a method, looked up once: per call, label objects and keys cost more than
    // the increments
    const series = this.methodSeries[kind];
    let s = series.get(path);
    if (s === undefined) {
      const labels = callLabels(path, kind);
      s = { labels, started: this.started.with(labels), handled: new Map() };
      series.set(path, s);
    }
    if (code === undefined) {
      s.started.inc();
      return;
    }
    let h = s.handled.get(code);
    if (h === undefined) {
      h = this.handled.with({ ...s.labels, grpc_code: statusName(code) });
      s.handled.set(code, h);
    }
    h.inc();
  }

  /** @internal A call was cancelled for stalling. */
  recordStall(path: string, kind: "unary" | "stream", direction: "send" | "receive"): void {
    this.stalled?.inc({ ...callLabels(path, kind), direction });
    this.logger?.warn("gRPC call cancelled: the client stalled", {
      method: path,
      direction,
      stall_timeout: `${this.stallTimeoutMs}ms`,
    });
  }

  /** @internal */
  track(call: ServerCall, on: boolean): void {
    if (on) this.calls.add(call);
    else this.calls.delete(call);
  }

  /** @internal */
  get requestLimit(): number {
    return this.maxRequestBytes;
  }
}

/** A method's series of `grpc_server_started_total` and, per code, `grpc_server_handled_total`. */
interface MethodSeries {
  labels: ReturnType<typeof callLabels>;
  started: CounterChild;
  handled: Map<GrpcStatus, CounterChild>;
}

function callLabels(path: string, kind: "unary" | "stream") {
  const slash = path.lastIndexOf("/");
  return {
    grpc_type: kind === "unary" ? "unary" : "server_stream",
    grpc_service: path.slice(1, slash),
    grpc_method: path.slice(slash + 1),
  };
}

function trailersOnly(stream: CallStream, code: GrpcStatus, msg: string): void {
  stream.respond({
    ":status": "200",
    "content-type": "application/grpc",
    "grpc-status": String(code),
    "grpc-message": encodeGrpcMessage(msg),
  }, true);
}

const RESERVED_HEADERS = new Set([
  "content-type",
  "te",
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "user-agent",
]);

class ServerCall implements ServerStreamWriter {
  private readonly ac = new AbortController();
  private headersSent = false;
  private finished = false;
  private responseEncoding: Compression = "identity";
  private timer: Deadline | undefined;
  /** Set when the call is request-logged. */
  private logged: GrpcCallFacts | undefined;
  private readonly startedAt = performance.now();
  /**
   * Fails the pending request read when the call is cancelled: a hook called by
   * {@link cancel}, instead of an abort listener per call (its options object and listener
   * bookkeeping in the runtime's EventTarget cost every call a few microseconds, issue 19).
   */
  private onCancel: ((reason: unknown) => void) | undefined;

  constructor(
    private readonly server: GrpcServer,
    private readonly stream: CallStream,
    private readonly route: Route,
  ) {}

  get compressed(): boolean {
    return this.responseEncoding !== "identity";
  }

  private get path(): string {
    return this.stream.headers[":path"] ?? "";
  }

  async run(): Promise<void> {
    const { stream } = this;
    const headers = stream.headers;
    this.server.track(this, true);
    this.server.record(this.path, this.route.kind);
    const rl = this.server.requestLog;
    if (rl?.decides(this.path)) {
      const t = parseGrpcTimeout(headers["grpc-timeout"]);
      this.logged = {
        path: this.path,
        kind: this.route.kind,
        requestId: headers["x-request-id"] || newULID(),
        startTime: new Date(),
        deadline: t === undefined ? undefined : new Date(Date.now() + t),
      };
      rl.start(this.logged);
    }
    stream.onClose = () => {
      if (!this.finished) this.cancel(new GrpcError(GrpcStatus.CANCELLED, "call cancelled"));
      this.cleanup();
    };
    const timeout = parseGrpcTimeout(headers["grpc-timeout"]);
    if (timeout !== undefined) {
      this.timer = afterMs(timeout, () => {
        const err = new GrpcError(GrpcStatus.DEADLINE_EXCEEDED, "context deadline exceeded");
        this.cancel(err);
        this.finish(err.code, err.details);
      });
    }
    const reqEncoding = headers["grpc-encoding"] ?? "identity";
    // like grpc-go: answer in the request's compression when the client accepts it
    if (
      reqEncoding !== "identity" && isSupportedEncoding(reqEncoding) &&
      (headers["grpc-accept-encoding"] ?? "").split(",").some((s) => s.trim() === reqEncoding)
    ) {
      this.responseEncoding = reqEncoding;
    }
    const metadata: Record<string, string> = {};
    for (const k in headers) {
      if (k.startsWith(":") || RESERVED_HEADERS.has(k)) continue;
      metadata[k] = headers[k];
    }
    const ctx: CallContext = { signal: this.ac.signal, metadata };
    try {
      // grpc-go refuses an unknown grpc-encoding before reading the message
      if (reqEncoding !== "identity" && !isSupportedEncoding(reqEncoding)) {
        throw new GrpcError(
          GrpcStatus.UNIMPLEMENTED,
          `grpc: Decompressor is not installed for grpc-encoding "${reqEncoding}"`,
        );
      }
      const request = await this.readRequest(reqEncoding);
      // answered compressed (a request may name an encoding yet send its message uncompressed)
      if (this.responseEncoding !== "identity" && codecs === undefined) await loadCodecs();
      if (this.route.kind === "unary") {
        const res = await this.route.handler(request, ctx);
        await this.send(res);
      } else {
        await this.route.handler(request, ctx, this);
      }
      this.finish(GrpcStatus.OK, "");
    } catch (e) {
      const reason = this.ac.signal.aborted ? this.ac.signal.reason : e;
      if (reason instanceof GrpcError) this.finish(reason.code, reason.details);
      else {this.finish(
          GrpcStatus.UNKNOWN,
          reason instanceof Error ? reason.message : String(reason),
        );}
    }
  }

  private logFinish(code: GrpcStatus, message: string): void {
    if (!this.logged) return;
    const ms = performance.now() - this.startedAt;
    this.server.requestLog!.finish(this.logged, code, statusName(code), message, ms);
  }

  private cleanup(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.server.track(this, false);
  }

  /** Cancels a call whose client stopped reading (send) or sending (receive). */
  private stall(direction: "send" | "receive"): void {
    if (this.finished || this.ac.signal.aborted) return;
    this.server.recordStall(this.path, this.route.kind, direction);
    const err = new GrpcError(
      GrpcStatus.RESOURCE_EXHAUSTED,
      `client ${
        direction === "send" ? "read" : "sent"
      } nothing for ${this.server.stallTimeoutMs}ms`,
    );
    this.cancel(err);
    // the client is not reading: a status cannot reach it, the reset frees the stream now
    this.finished = true;
    this.server.record(this.path, this.route.kind, err.code);
    this.logFinish(err.code, err.details);
    this.stream.reset();
    this.cleanup();
  }

  /** @internal Aborts the call's signal with `reason` (first reason wins). */
  cancel(reason: unknown): void {
    if (this.ac.signal.aborted) return;
    this.ac.abort(reason);
    const onCancel = this.onCancel;
    this.onCancel = undefined;
    onCancel?.(reason);
  }

  private readRequest(encoding: string): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const parser = new FrameParser(this.server.requestLimit);
      let msg: Uint8Array | undefined;
      let compressedFlag = false;
      let failed = false;
      const fail = (e: unknown) => {
        if (failed) return;
        failed = true;
        stallTimer.cancel();
        this.onCancel = undefined;
        this.stream.onData = () => {};
        reject(e);
      };
      this.onCancel = fail;
      // the whole request must arrive within the stall timeout (on the shared deadline timer:
      // a runtime timer armed and cleared per call costs the store a thread wake-up, issue 19)
      const stallTimer = afterMs(this.server.stallTimeoutMs, () => this.stall("receive"));
      this.stream.onData = (chunk) => {
        try {
          parser.push(chunk, (m, c) => {
            if (msg !== undefined) {
              // grpc-go: a second request message of a unary/server-streaming call
              throw new GrpcError(
                GrpcStatus.INTERNAL,
                "grpc: client streaming protocol violation: get <nil>, want <EOF>",
              );
            }
            msg = m;
            compressedFlag = c;
          });
        } catch (e) {
          fail(e);
        }
      };
      this.stream.onEnd = () => {
        if (failed) return;
        failed = true;
        stallTimer.cancel();
        this.onCancel = undefined;
        if (msg === undefined || !parser.idle()) {
          reject(
            new GrpcError(
              GrpcStatus.INTERNAL,
              msg === undefined && parser.idle()
                ? "grpc: request ended without a message"
                : "grpc: request ended inside a message (unexpected EOF)",
            ),
          );
          return;
        }
        const m = msg;
        const decode = () => {
          try {
            resolve(
              compressedFlag ? decompressMessage(encoding, m, this.server.requestLimit) : m,
            );
          } catch (e) {
            reject(
              e instanceof GrpcError ? e : new GrpcError(
                GrpcStatus.INTERNAL,
                `grpc: failed to decompress the message: ${e}`,
              ),
            );
          }
        };
        // the compressors load when a compressed request first arrives (see loadCodecs)
        if (compressedFlag && codecs === undefined) loadCodecs().then(decode, reject);
        else decode();
      };
    });
  }

  private sendHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    const h: Record<string, string> = {
      ":status": "200",
      "content-type": "application/grpc",
      "grpc-accept-encoding": ACCEPT_ENCODING,
    };
    if (this.responseEncoding !== "identity") h["grpc-encoding"] = this.responseEncoding;
    this.stream.respond(h, false);
  }

  send(message: Uint8Array): Promise<void> {
    const enc = this.responseEncoding;
    return this.sendFramed(
      enc === "identity" ? frame(message, false) : frame(compressMessage(enc, message), true),
    );
  }

  async sendFramed(frames: Uint8Array, spare = false): Promise<void> {
    const signal = this.ac.signal;
    if (signal.aborted) throw signal.reason;
    if (this.finished || this.stream.closed) {
      throw new GrpcError(GrpcStatus.CANCELLED, "stream already closed");
    }
    this.sendHeaders();
    const written = this.stream.write(frames, spare);
    // taken below the high-water mark: no wait, so no stall timer to arm
    if (written === WRITE_TAKEN) return;
    // Backpressure: wait until the stream takes more, the call dies, or the client has read
    // nothing for the stall timeout (then the call is cancelled and its slot freed).
    let stallTimer: Deadline | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        written,
        new Promise<never>((_, reject) => {
          onAbort = () => reject(signal.reason);
          signal.addEventListener("abort", onAbort, { once: true });
          stallTimer = afterMs(this.server.stallTimeoutMs, () => this.stall("send"));
        }),
      ]);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw new GrpcError(GrpcStatus.CANCELLED, `stream closed: ${(e as Error).message}`);
    } finally {
      stallTimer?.cancel();
      if (onAbort) signal.removeEventListener("abort", onAbort);
    }
  }

  private finish(code: GrpcStatus, message: string): void {
    if (this.finished) return;
    this.finished = true;
    this.server.record(this.path, this.route.kind, code);
    this.logFinish(code, message);
    this.cleanup();
    const stream = this.stream;
    if (stream.closed) return;
    if (!this.headersSent) {
      trailersOnly(stream, code, message);
      return;
    }
    stream.end({ "grpc-status": String(code), "grpc-message": encodeGrpcMessage(message) });
  }
}

// ---------------------------------------------------------------------------------------------
// Client

/** Options of {@link GrpcChannel}. */
export interface GrpcChannelOptions {
  /** TLS (Thanos `--grpc-client-tls-secure` and friends); plaintext HTTP/2 when absent. */
  tls?: ClientTlsOptions;
  /** Compress request messages (`--grpc-compression`); responses are decompressed either way. */
  compression?: "none" | Compression;
  /** Largest response message accepted (default 2 GiB - 1, as Thanos). */
  maxMessageBytes?: number;
  /** Keepalive PINGs (default Thanos's, {@link THANOS_CLIENT_KEEPALIVE}); `null`: none. */
  keepalive?: KeepaliveOptions | null;
  /**
   * Opens the channel's byte stream instead of dialling `address` (which then only names the
   * peer in `:authority`): the start-up warm-ups' in-memory connection (storeapi/loopback.ts).
   * Such a stream sends no keepalive PINGs: it cannot go silent.
   */
  dial?: () => ByteConn;
}

/** Per-call options. */
export interface CallOptions {
  signal?: AbortSignal;
  /** Deadline relative to now; sent as `grpc-timeout` and enforced locally. */
  timeoutMs?: number;
  /** Extra request metadata, e.g. `{ "thanos-tenant": "t1" }`. */
  metadata?: Record<string, string>;
}

const HTTP_TO_GRPC: Record<number, GrpcStatus> = {
  400: GrpcStatus.INTERNAL,
  401: GrpcStatus.UNAUTHENTICATED,
  403: GrpcStatus.PERMISSION_DENIED,
  404: GrpcStatus.UNIMPLEMENTED,
  429: GrpcStatus.UNAVAILABLE,
  502: GrpcStatus.UNAVAILABLE,
  503: GrpcStatus.UNAVAILABLE,
  504: GrpcStatus.UNAVAILABLE,
};

/** Attempts of a call the server never processed (REFUSED_STREAM, above a GOAWAY's last id). */
const MAX_UNPROCESSED_ATTEMPTS = 3;

/** Splits `host:port` / `[v6]:port`. */
function splitHostPort(address: string): { hostname: string; port: number } {
  const i = address.lastIndexOf(":");
  const port = Number(address.slice(i + 1));
  let host = i < 0 ? address : address.slice(0, i);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (i < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new GrpcError(GrpcStatus.UNAVAILABLE, `invalid gRPC address ${JSON.stringify(address)}`);
  }
  return { hostname: host || "localhost", port };
}

/** Resolves with `p` unless `signal` aborts first (then rejects with its reason). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** gRPC status of a stream that failed in HTTP/2 (as grpc-go maps RST_STREAM codes). */
function streamError(path: string, e: H2StreamError): GrpcError {
  if (e.kind === "connection" || e.kind === "goaway" || e.unprocessed) {
    return new GrpcError(GrpcStatus.UNAVAILABLE, `${path}: ${e.message}`);
  }
  const code = e.h2Code === H2Error.CANCEL
    ? GrpcStatus.CANCELLED
    : e.h2Code === H2Error.ENHANCE_YOUR_CALM
    ? GrpcStatus.RESOURCE_EXHAUSTED
    : e.h2Code === H2Error.INADEQUATE_SECURITY
    ? GrpcStatus.PERMISSION_DENIED
    : GrpcStatus.INTERNAL;
  return new GrpcError(code, `${path}: ${e.message}`);
}

/**
 * Connections (re-established on demand) to a gRPC server at `host:port`, on our own HTTP/2
 * client (h2client.ts). Calls share one connection up to the server's concurrent-stream limit;
 * after a GOAWAY or a lost connection the next call opens a new one.
 */
export class GrpcChannel {
  private conn: H2ClientConnection | null = null;
  private connecting: Promise<H2ClientConnection> | null = null;
  /** Where to dial, or why the address cannot be dialled (each call fails with it). */
  private readonly target: { hostname: string; port: number } | GrpcError;
  private readonly tls?: tls.ConnectionOptions;
  private readonly compression: Compression;
  private readonly maxMessageBytes: number;
  private keepalive?: KeepaliveOptions;
  private readonly dial?: () => ByteConn;
  private closed = false;
  /** The last reusable call's header fields ({@link requestHeaders}). */
  private lastCall: {
    path: string;
    metadata: Record<string, string> | undefined;
    headers: readonly (readonly [string, string])[];
  } | null = null;

  constructor(readonly address: string, opts: GrpcChannelOptions = {}) {
    this.keepalive = opts.keepalive === null
      ? undefined
      : { ...(opts.keepalive ?? THANOS_CLIENT_KEEPALIVE) };
    const t = opts.tls;
    this.dial = opts.dial;
    try {
      this.target = splitHostPort(address);
    } catch (e) {
      this.target = e as GrpcError;
    }
    if (t) {
      this.tls = {
        ca: t.caFile ? readPem(t.caFile, "CA") : undefined,
        cert: t.certFile ? readPem(t.certFile, "certificate") : undefined,
        key: t.keyFile ? readPem(t.keyFile, "key") : undefined,
        servername: t.serverName || undefined,
        rejectUnauthorized: !t.skipVerify,
        minVersion: t.minVersion,
      };
    }
    this.compression = !opts.compression || opts.compression === "none"
      ? "identity"
      : opts.compression;
    this.maxMessageBytes = opts.maxMessageBytes ?? 0x7fffffff;
  }

  /** The current connection when it can take a new call now, else null (`close` clears it). */
  private liveConnection(): H2ClientConnection | null {
    const c = this.conn;
    return c !== null && c.usable ? c : null;
  }

  /** A usable connection: the current one, or a new one (one dial shared by waiting calls). */
  private connection(signal: AbortSignal): Promise<H2ClientConnection> {
    if (this.closed) {
      return Promise.reject(new GrpcError(GrpcStatus.CANCELLED, "channel closed"));
    }
    const target = this.target;
    if (target instanceof GrpcError && this.dial === undefined) return Promise.reject(target);
    const c = this.conn;
    if (c !== null && c.usable) return Promise.resolve(c);
    if (this.connecting === null) {
      if (c?.tooManyPings && this.keepalive) {
        // the server found our PINGs too frequent: halve their rate, as grpc-go does (gRPC A8)
        this.keepalive.timeMs *= 2;
      }
      const open = this.dial;
      const opened = open !== undefined
        ? Promise.resolve().then(() => H2ClientConnection.over(open()))
        : H2ClientConnection.connect({
          ...(target as { hostname: string; port: number }),
          tls: this.tls,
          keepalive: this.keepalive,
        });
      const dial = opened.then((nc) => {
        if (this.closed) {
          nc.close();
          throw new GrpcError(GrpcStatus.CANCELLED, "channel closed");
        }
        this.conn = nc;
        return nc;
      });
      this.connecting = dial;
      // a dial nobody waits for any more must not surface as an unhandled rejection
      dial.catch(() => {}).finally(() => {
        if (this.connecting === dial) this.connecting = null;
      });
    }
    return abortable(this.connecting, signal);
  }

  /** Idle time before a keepalive PING (doubled after each "too_many_pings"); none: undefined. */
  get keepaliveTimeMs(): number | undefined {
    return this.keepalive?.timeMs;
  }

  /** Closes the connection; running calls are cancelled. */
  close(): void {
    this.closed = true;
    const c = this.conn;
    this.conn = null;
    c?.close();
  }

  /**
   * A call's request header fields. A call without a deadline whose metadata is frozen (or
   * absent) takes the previous call's list when it is of the same method and metadata object:
   * a client's calls repeat their fields, and its connection then sends the same header block
   * again without encoding it (issue 19). The kept list is frozen: calls in flight share it.
   */
  private requestHeaders(
    path: string,
    timeoutMs: number | undefined,
    metadata: Record<string, string> | undefined,
  ): readonly (readonly [string, string])[] {
    const reusable = timeoutMs === undefined &&
      (metadata === undefined || Object.isFrozen(metadata));
    const last = this.lastCall;
    if (reusable && last !== null && last.path === path && last.metadata === metadata) {
      return last.headers;
    }
    const headers: [string, string][] = [
      [":method", "POST"],
      [":scheme", this.tls ? "https" : "http"],
      [":path", path],
      [":authority", this.address],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["grpc-accept-encoding", ACCEPT_ENCODING],
      ["user-agent", "thanos-ts-grpc/1"],
    ];
    if (timeoutMs !== undefined) headers.push(["grpc-timeout", formatGrpcTimeout(timeoutMs)]);
    if (this.compression !== "identity") headers.push(["grpc-encoding", this.compression]);
    for (const [k, v] of Object.entries(metadata ?? {})) headers.push([k.toLowerCase(), v]);
    if (reusable) this.lastCall = { path, metadata, headers: Object.freeze(headers) };
    return headers;
  }

  /** Unary call; resolves with the response bytes or throws GrpcError. */
  async unary(path: string, request: Uint8Array, opts: CallOptions = {}): Promise<Uint8Array> {
    let res: Uint8Array | undefined;
    for await (const m of this.serverStream(path, request, opts)) {
      if (res !== undefined) {
        throw new GrpcError(GrpcStatus.INTERNAL, `${path}: more than one response message`);
      }
      res = m;
    }
    if (res === undefined) {
      throw new GrpcError(GrpcStatus.INTERNAL, `${path}: no response message`);
    }
    return res;
  }

  /**
   * Server-streaming call: yields response messages as they arrive (pulled: the stream's HTTP/2
   * window is credited only as the consumer reads, so a slow consumer stops the server).
   * Breaking out of the loop cancels the call (RST_STREAM).
   */
  async *serverStream(
    path: string,
    request: Uint8Array,
    opts: CallOptions = {},
  ): AsyncGenerator<Uint8Array> {
    for await (const batch of this.serverStreamBatches(path, request, opts)) {
      for (let i = 0; i < batch.length; i++) yield batch[i];
    }
  }

  /**
   * {@link serverStream} by the batch: the response messages that arrived in one read of the
   * stream (one or more HTTP/2 DATA frames), never empty. A consumer of many small messages (a
   * Series stream: one message per series) pays one await per read instead of one per message.
   */
  async *serverStreamBatches(
    path: string,
    request: Uint8Array,
    opts: CallOptions = {},
  ): AsyncGenerator<Uint8Array[]> {
    const outer = opts.signal;
    // The call's own AbortController only when it has a deadline (or no caller's signal): without
    // a deadline the caller's signal is the call's, one signal and one listener fewer per call
    // (issue 19). Either way a cancelled call fails with the reason `aborted()` gives.
    const ac = opts.timeoutMs !== undefined || outer === undefined
      ? new AbortController()
      : undefined;
    const signal = ac === undefined ? outer! : ac.signal;
    const cancelled = () =>
      new GrpcError(GrpcStatus.CANCELLED, `${path}: call cancelled by the caller`);
    const aborted = (): unknown => ac === undefined ? cancelled() : ac.signal.reason;
    const onOuterAbort = () => ac!.abort(cancelled());
    if (ac !== undefined && outer !== undefined) {
      if (outer.aborted) onOuterAbort();
      outer.addEventListener("abort", onOuterAbort, { once: true });
    }
    let timer: Deadline | undefined;
    const headers = this.requestHeaders(path, opts.timeoutMs, opts.metadata);
    if (opts.timeoutMs !== undefined) {
      timer = afterMs(
        opts.timeoutMs,
        () => ac!.abort(new GrpcError(GrpcStatus.DEADLINE_EXCEEDED, `${path}: deadline exceeded`)),
      );
    }

    let stream: H2ClientStream | undefined;
    const onAbort = () => stream?.cancel();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      if (this.compression !== "identity" && codecs === undefined) await loadCodecs();
      const body = this.compression === "identity"
        ? frame(request, false)
        : frame(compressMessage(this.compression, request), true);
      for (let attempt = 1;; attempt++) {
        if (signal.aborted) throw aborted();
        try {
          // the usual case, a live connection, without a promise and an abort listener per call
          const conn = this.liveConnection() ?? await this.connection(signal);
          stream = await conn.request(headers, body, signal);
          await stream.waitHeaders();
          break;
        } catch (e) {
          // never processed by the server: try again on a (new) connection
          if (
            e instanceof H2StreamError && e.unprocessed && attempt < MAX_UNPROCESSED_ATTEMPTS &&
            !signal.aborted
          ) continue;
          throw e;
        }
      }
      const s = stream;
      const responseHeaders = s.headers ?? {};
      const enc = responseHeaders["grpc-encoding"] ?? "identity";
      if (enc !== "identity" && codecs === undefined) await loadCodecs();
      const parser = new FrameParser(this.maxMessageBytes);
      let ready: Uint8Array[] = [];
      const onMessage = (m: Uint8Array, compressed: boolean) =>
        ready.push(compressed ? decompressMessage(enc, m, this.maxMessageBytes) : m);
      while (true) {
        const chunk = await s.read();
        if (chunk === null) break;
        parser.push(chunk, onMessage);
        if (ready.length === 0) continue;
        const batch = ready;
        ready = [];
        yield batch;
      }
      if (signal.aborted) throw aborted();
      const trailers = s.trailers;
      const st = trailers?.["grpc-status"] ?? responseHeaders["grpc-status"];
      if (st === undefined) {
        const http = Number(responseHeaders[":status"] ?? 0);
        if (http !== 200 && http !== 0) {
          throw new GrpcError(
            HTTP_TO_GRPC[http] ?? GrpcStatus.UNKNOWN,
            `${path}: unexpected HTTP status ${http}`,
          );
        }
        throw new GrpcError(GrpcStatus.INTERNAL, `${path}: stream ended without a grpc-status`);
      }
      const code = Number(st);
      if (code !== GrpcStatus.OK) {
        const msg = trailers?.["grpc-message"] ?? responseHeaders["grpc-message"] ?? "";
        throw new GrpcError(
          Number.isInteger(code) && code >= 0 ? code : GrpcStatus.UNKNOWN,
          decodeGrpcMessage(String(msg)),
        );
      }
      if (!parser.idle()) {
        throw new GrpcError(GrpcStatus.INTERNAL, `${path}: stream ended inside a message`);
      }
    } catch (e) {
      if (signal.aborted) throw aborted();
      if (e instanceof H2StreamError) throw streamError(path, e);
      throw e instanceof GrpcError ? e : transportError(path, e);
    } finally {
      timer?.cancel();
      if (ac !== undefined) outer?.removeEventListener("abort", onOuterAbort);
      signal.removeEventListener("abort", onAbort);
      // early exit by the consumer: tell the server to stop
      stream?.cancel();
    }
  }
}

function transportError(path: string, e: unknown): GrpcError {
  if (e instanceof GrpcError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new GrpcError(GrpcStatus.UNAVAILABLE, `${path}: connection error: ${msg}`);
}
