// The gRPC client's own HTTP/2 (RFC 9113, https://www.rfc-editor.org/rfc/rfc9113): one
// connection to a server, over plaintext TCP (Deno.connect, h2c with prior knowledge) or TLS
// (node:tls with ALPN "h2"). Written instead of using node:http2 because Deno 2.9.6's nghttp2 can
// abort the whole process when a GOAWAY arrives on a connection that carried large streams and
// then sat idle (issue 20; https://github.com/denoland/deno/issues/36788). Every frame the
// server sends is parsed by code that can fail one stream or this connection, never the process.
//
// Flow control (RFC 9113 §5.2): a stream's receive window is credited back only as its consumer
// reads, so a slow consumer stops the server instead of buffering without bound (at most one
// stream window per stream); the connection window is credited as data arrives. Request bodies
// are sent within the server's stream and connection windows. GOAWAY: streams above the
// server's last stream id fail as unprocessed (the channel retries them on a new connection);
// the others finish, and no new stream opens on this connection.
//
// Keepalive, as Thanos v0.42 dials its stores (pkg/extgrpc/client.go:
// `keepalive.ClientParameters{Time: 10s, Timeout: 5s}`, PermitWithoutStream false) with grpc-go's
// semantics (https://github.com/grpc/grpc-go/blob/master/Documentation/keepalive.md, gRPC A8
// https://github.com/grpc/proposal/blob/master/A8-client-side-keepalive.md): after `timeMs` with
// nothing read from the server while calls are open, a PING goes out; when nothing at all arrives
// within `timeoutMs` after it, the connection is closed and its calls fail as a lost connection
// (gRPC UNAVAILABLE; the next call dials anew). A dead peer (a proxy that stops forwarding, a
// black-holed route) is so detected in time + timeout instead of at the call's deadline. Without
// open calls no PINGs are sent; the first call after such a pause sends one at once.

import type tls from "node:tls";
import { HpackDecoder, HpackEncoder } from "./hpack.ts";
import { type LoopTimeout, loopTimeout } from "../runutil/loop_clock.ts";
import {
  type ByteConn,
  ConnectionError,
  dataHeader,
  dataPayload,
  decodeHeaderBlock,
  F_ACK,
  frameOf,
  goawayFrame,
  H2Error,
  HeaderBlockAssembler,
  headersFrames,
  MAX_HEADER_BLOCK,
  MAX_WINDOW,
  nodeSocketConn,
  parseSettings,
  PREFACE,
  readFrames,
  S_ENABLE_PUSH,
  S_HEADER_TABLE_SIZE,
  S_INITIAL_WINDOW_SIZE,
  S_MAX_CONCURRENT_STREAMS,
  S_MAX_FRAME_SIZE,
  S_MAX_HEADER_LIST_SIZE,
  settingsFrame,
  T_CONT,
  T_DATA,
  T_GOAWAY,
  T_HEADERS,
  T_PING,
  T_PRIORITY,
  T_PUSH,
  T_RST,
  T_SETTINGS,
  T_WINDOW,
  u32,
  windowIncrement,
} from "./h2frame.ts";

/**
 * Our SETTINGS_INITIAL_WINDOW_SIZE: response bytes one stream may have unread. Larger than most
 * instant queries' Series answers (a few hundred KB), so they arrive without waiting for a
 * WINDOW_UPDATE round trip (issue 19: a 290 KB answer stalled on a 256 KiB window); grpc-go grows
 * its windows by BDP estimation up to 16 MiB, Thanos's querier so streams as freely.
 */
export const CLIENT_STREAM_WINDOW = 1 << 20;
const CONN_WINDOW = 16 << 20;
/**
 * Our SETTINGS_MAX_FRAME_SIZE: DATA frames up to this size from servers that honour it (ours;
 * grpc-go writes 16 KiB frames whatever we announce). A 1 MB Series answer is four frames instead
 * of sixty-four: per frame the server cuts and frames a payload and we parse, copy, queue and hand
 * one to the gRPC layer (issue 19). Memory stays one partial frame per connection.
 */
export const CLIENT_MAX_FRAME = 256 << 10;
/** Control frames (acks, resets, window updates) waiting for the socket beyond this end it. */
const MAX_CONTROL_BACKLOG = 1 << 20;
/** A socket write pending this long when a call gives up ends the connection (ms). */
const WRITE_STALL_MS = 1000;
/** Streams allowed before the server's SETTINGS say otherwise. */
const DEFAULT_MAX_STREAMS = 100;

/** Client keepalive (see the top of this file). */
export interface KeepaliveOptions {
  /** Idle time (nothing read) after which a PING is sent (ms). */
  timeMs: number;
  /** Time to wait for anything from the server after that PING before closing (ms). */
  timeoutMs: number;
  /** Also ping while no call is open (grpc-go's PermitWithoutStream; default false). */
  permitWithoutStream?: boolean;
}

/** Thanos v0.42's client keepalive (pkg/extgrpc/client.go): PING after 10 s idle, 5 s for the ACK. */
export const THANOS_CLIENT_KEEPALIVE: KeepaliveOptions = { timeMs: 10_000, timeoutMs: 5_000 };
const KEEPALIVE_PING = new Uint8Array(8);

/** Why a stream failed. `unprocessed`: the server never handled it (safe to retry). */
export class H2StreamError extends Error {
  override name = "H2StreamError";
  constructor(
    readonly kind: "reset" | "goaway" | "connection" | "cancelled",
    readonly h2Code: number,
    message: string,
    readonly unprocessed = false,
  ) {
    super(message);
  }
}

/** Where and how to connect. */
export interface H2ConnectOptions {
  hostname: string;
  port: number;
  /** TLS (node:tls options; ALPN "h2" is added); plaintext when absent. */
  tls?: tls.ConnectionOptions;
  /** Keepalive PINGs; none when absent. */
  keepalive?: KeepaliveOptions;
}

/** One request stream as its caller sees it. */
export class H2ClientStream {
  /** Response headers, once received. */
  headers?: Readonly<Record<string, string>>;
  /** Trailers, once received. */
  trailers?: Readonly<Record<string, string>>;
  /** @internal */ sendWindow: number;
  /** @internal bytes received and not yet credited back */ windowUsed = 0;
  /** @internal */ remoteEnded = false;
  /** @internal */ error?: H2StreamError;
  private chunks: Uint8Array[] = [];
  private consumedUnacked = 0;
  private wake?: () => void;
  private windowWake?: () => void;
  /** @internal */ finished = false;

  constructor(readonly id: number, private readonly conn: H2ClientConnection, sendWindow: number) {
    this.sendWindow = sendWindow;
  }

  /** @internal */ notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
    this.notifyWindow();
  }

  /** @internal */ notifyWindow(): void {
    const w = this.windowWake;
    this.windowWake = undefined;
    w?.();
  }

  /** @internal */ pushData(d: Uint8Array): void {
    this.chunks.push(d);
    this.notify();
  }

  /** @internal */ waitWindow(): Promise<void> {
    return new Promise((r) => this.windowWake = r);
  }

  /** Resolves once the response headers arrived (or the stream ended); throws its failure. */
  async waitHeaders(): Promise<void> {
    while (this.headers === undefined) {
      if (this.error) throw this.error;
      if (this.remoteEnded) return;
      await new Promise<void>((r) => this.wake = r);
    }
  }

  /** The next chunk of the response body; null at its end. Throws the stream's failure. */
  async read(): Promise<Uint8Array | null> {
    while (true) {
      if (this.error) throw this.error;
      const c = this.chunks.shift();
      if (c !== undefined) {
        this.consumed(c.length);
        return c;
      }
      if (this.remoteEnded) return null;
      await new Promise<void>((r) => this.wake = r);
    }
  }

  /** @internal Credits `n` bytes (read by the consumer, or padding) back to the server. */
  consumed(n: number): void {
    this.consumedUnacked += n;
    if (this.remoteEnded || this.error) return;
    if (this.consumedUnacked >= CLIENT_STREAM_WINDOW / 2) {
      this.windowUsed -= this.consumedUnacked;
      this.conn.control(frameOf(T_WINDOW, 0, this.id, u32(this.consumedUnacked)));
      this.consumedUnacked = 0;
    }
  }

  /** Abandons the stream: RST_STREAM(code) unless it already ended; readers see `cancelled`. */
  cancel(code: number = H2Error.CANCEL): void {
    if (this.finished) return;
    this.conn.resetStream(this, code);
    this.fail(new H2StreamError("cancelled", code, "stream cancelled"));
  }

  /** @internal */ fail(e: H2StreamError): void {
    if (this.error === undefined && !this.finished) this.error = e;
    this.finished = true;
    this.chunks = [];
    this.notify();
  }
}

/** A response's `:status` is 1xx (informational: the answer's headers follow). */
function informational(status: string): boolean {
  return status.length === 3 && status.charCodeAt(0) === 0x31 && isDigit(status, 1) &&
    isDigit(status, 2);
}

function isDigit(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 0x30 && c <= 0x39;
}

/** One HTTP/2 client connection. */
export class H2ClientConnection {
  private readonly streams = new Map<number, H2ClientStream>();
  private readonly decoder = new HpackDecoder();
  /** Request header blocks: encoded just before they are queued, in queue order. */
  private readonly encoder = new HpackEncoder();
  private readonly blocks = new HeaderBlockAssembler();
  private nextId = 1;
  private sendWindow = 65535;
  private peerInitialWindow = 65535;
  private peerMaxFrame = 16384;
  private peerMaxStreams = DEFAULT_MAX_STREAMS;
  private recvUnacked = 0;
  private closed = false;
  private goawayReceived = false;
  private slotWaiters: (() => void)[] = [];
  private windowWaiters = new Set<H2ClientStream>();
  private writeChain: Promise<void> = Promise.resolve();
  /** Frames (groups of parts) waiting for the next socket write, and that write's promise. */
  private outQueue: Uint8Array[][] = [];
  private outBatch: Promise<void> | null = null;
  private controlPending = 0;
  /** When the socket write in progress started (0 when none). */
  private writeStartedAt = 0;
  /** When the last frame was read (ms). */
  private lastReadAt = Date.now();
  /** Frames read so far (the keepalive ACK check compares it). */
  private framesRead = 0;
  private kaTimer?: ReturnType<typeof setTimeout>;
  /** `lastReadAt` seen by the previous keepalive check. */
  private kaPrevRead = this.lastReadAt;
  /** The wait for anything after our PING (event-loop time: a stall of ours is not counted). */
  private kaAckWait?: LoopTimeout;
  /** No open calls: the keepalive timer waits for the next one. */
  private kaDormant = false;
  /** The server ended the connection with GOAWAY ENHANCE_YOUR_CALM "too_many_pings". */
  tooManyPings = false;
  /** Resolves when the connection is gone. */
  readonly done: Promise<void>;

  private constructor(private readonly conn: ByteConn, private readonly ka?: KeepaliveOptions) {
    this.control(PREFACE);
    this.control(settingsFrame([
      [S_ENABLE_PUSH, 0],
      [S_INITIAL_WINDOW_SIZE, CLIENT_STREAM_WINDOW],
      [S_MAX_HEADER_LIST_SIZE, MAX_HEADER_BLOCK],
      [S_MAX_FRAME_SIZE, CLIENT_MAX_FRAME],
    ]));
    this.control(frameOf(T_WINDOW, 0, 0, u32(CONN_WINDOW - 65535)));
    if (ka) this.armKeepalive(ka.timeMs);
    this.done = this.run();
  }

  private armKeepalive(ms: number): void {
    const t = setTimeout(() => this.keepaliveCheck(), Math.max(0, ms));
    Deno.unrefTimer(t); // an idle connection does not keep the process alive
    this.kaTimer = t;
  }

  /** The keepalive timer: a PING once `timeMs` passed without reads while calls are open. */
  private keepaliveCheck(): void {
    this.kaTimer = undefined;
    const ka = this.ka!;
    if (this.closed) return;
    if (this.lastReadAt > this.kaPrevRead) {
      // the server was heard from: next check `timeMs` after that
      this.kaPrevRead = this.lastReadAt;
      this.armKeepalive(this.lastReadAt + ka.timeMs - Date.now());
      return;
    }
    if (this.streams.size === 0 && !ka.permitWithoutStream) {
      this.kaDormant = true; // woken by the next request
      return;
    }
    this.keepalivePing();
  }

  /**
   * Sends a PING unless one is waiting for its answer; the connection fails when nothing at all
   * is read within `timeoutMs` of loop time. The wait counts only time this thread was free to
   * read (runutil/loop_clock.ts), so a stall of our own (a long evaluation, GC) does not blame the
   * server for an answer that is already in the socket buffer.
   */
  private keepalivePing(): void {
    const ka = this.ka!;
    this.armKeepalive(ka.timeMs);
    if (this.kaAckWait !== undefined) return;
    this.control(frameOf(T_PING, 0, 0, KEEPALIVE_PING));
    const mark = this.framesRead;
    const wait = loopTimeout(ka.timeoutMs);
    this.kaAckWait = wait;
    wait.signal.addEventListener("abort", () => {
      this.kaAckWait = undefined;
      if (!this.closed && this.framesRead === mark) {
        this.fatal(`keepalive ping not acknowledged within ${ka.timeoutMs}ms`);
      }
    }, { once: true });
  }

  /**
   * A connection over any byte stream: tests count its socket writes, the start-up warm-ups run
   * it over an in-memory one (storeapi/memory_conn.ts).
   */
  static over(conn: ByteConn): H2ClientConnection {
    return new H2ClientConnection(conn);
  }

  /** Connects (plaintext or TLS) and sends the preface; rejects when the socket cannot open. */
  static async connect(opts: H2ConnectOptions): Promise<H2ClientConnection> {
    if (opts.tls === undefined) {
      const c = await Deno.connect({ hostname: opts.hostname, port: opts.port });
      try {
        c.setNoDelay(true);
      } catch { /* not TCP */ }
      return new H2ClientConnection(c, opts.keepalive);
    }
    // imported here: a process that never dials TLS (an evaluation Worker) starts without it
    const { default: nodeTls } = await import("node:tls");
    const sock = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = nodeTls.connect({
        ...opts.tls,
        host: opts.hostname,
        port: opts.port,
        ALPNProtocols: ["h2"],
      }, () => resolve(s));
      // registered for the socket's whole life, at once: an error event without a listener
      // (e.g. the server's alert refusing our certificate, right after the handshake) would be
      // thrown out of the event loop and end the process
      s.on("error", reject);
    });
    try {
      sock.setNoDelay(true);
    } catch { /* not TCP */ }
    return new H2ClientConnection(nodeSocketConn(sock), opts.keepalive);
  }

  /** True while new streams may open here (not closed, no GOAWAY, ids left). */
  get usable(): boolean {
    return !this.closed && !this.goawayReceived && this.nextId < MAX_WINDOW - 2;
  }

  /** Open streams. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /**
   * Opens a stream: waits for a slot under the server's SETTINGS_MAX_CONCURRENT_STREAMS, sends
   * the header block, then `body` (END_STREAM after it) within the flow-control windows.
   * Rejects with an unprocessed H2StreamError when this connection can take no new stream.
   */
  async request(
    headers: readonly (readonly [string, string])[],
    body: Uint8Array,
    signal: AbortSignal,
  ): Promise<H2ClientStream> {
    while (this.usable && this.streams.size >= this.peerMaxStreams) {
      if (signal.aborted) throw signal.reason;
      const wait = new Promise<void>((r) => this.slotWaiters.push(r));
      const onAbort = () => this.wakeSlots();
      signal.addEventListener("abort", onAbort, { once: true });
      await wait;
      signal.removeEventListener("abort", onAbort);
    }
    if (signal.aborted) throw signal.reason;
    if (!this.usable) {
      throw new H2StreamError(
        this.closed ? "connection" : "goaway",
        H2Error.REFUSED_STREAM,
        "connection is going away",
        true,
      );
    }
    const id = this.nextId;
    this.nextId += 2;
    const s = new H2ClientStream(id, this, this.peerInitialWindow);
    this.streams.set(id, s);
    // a client sends the same fields call after call (a Series call's nine): the same block
    const block = this.encoder.encodeRepeated(headers);
    this.control(headersFrames(id, block, false, this.peerMaxFrame));
    if (this.kaDormant) {
      // the first call after a pause: is the server still there?
      this.kaDormant = false;
      this.keepalivePing();
    }
    this.sendBody(s, body).catch(() => {}); // failures reach the stream itself
    return s;
  }

  /** Sends a request body as DATA frames within the windows; the last carries END_STREAM. */
  private async sendBody(s: H2ClientStream, body: Uint8Array): Promise<void> {
    let o = 0;
    do {
      if (s.finished || this.closed || s.remoteEnded) return;
      const n = Math.min(body.length - o, s.sendWindow, this.sendWindow, this.peerMaxFrame);
      if (n <= 0 && body.length > o) {
        this.windowWaiters.add(s);
        await s.waitWindow();
        this.windowWaiters.delete(s);
        continue;
      }
      const end = o + n >= body.length;
      s.sendWindow -= n;
      this.sendWindow -= n;
      const chunk = body.subarray(o, o + n);
      o += n;
      await this.write(dataHeader(s.id, n, end), chunk);
    } while (o < body.length);
  }

  /** Sends GOAWAY and closes once open streams finished (or at once with `now`). */
  close(now = true): void {
    if (this.closed) return;
    if (!now && this.streams.size > 0) {
      this.goawayReceived = true; // no new streams; the last one to finish closes
      return;
    }
    this.control(goawayFrame(0, H2Error.NO_ERROR));
    this.closed = true;
    // let the GOAWAY go out, bounded
    const t = setTimeout(() => this.closeSocket(), 100);
    this.writeChain.finally(() => {
      clearTimeout(t);
      this.closeSocket();
    });
    this.teardown(new H2StreamError("connection", H2Error.CANCEL, "connection closed"));
  }

  private closeSocket(): void {
    clearTimeout(this.kaTimer);
    this.kaAckWait?.clear();
    try {
      this.conn.close();
    } catch { /* closed */ }
  }

  /** @internal Queues a control frame; a server that provokes frames it does not read is dropped. */
  control(f: Uint8Array): void {
    if (this.closed) return;
    this.controlPending += f.length;
    if (this.controlPending > MAX_CONTROL_BACKLOG) {
      this.fatal("the server does not read its connection");
      return;
    }
    this.write(f).finally(() => this.controlPending -= f.length).catch(() => {});
  }

  /**
   * Writes frames in order; rejects (and the connection ends) when the socket fails. Frames
   * queued before the previous write finished (a request's HEADERS and DATA, window updates)
   * go out together in one socket write: one syscall instead of one per frame.
   */
  private write(...parts: Uint8Array[]): Promise<void> {
    this.outQueue.push(parts);
    if (this.outBatch !== null) return this.outBatch;
    const p = this.writeChain.then(async () => {
      this.outBatch = null; // later frames make the next batch
      let groups = this.outQueue;
      this.outQueue = [];
      let refused = false;
      if (this.closed) {
        // after close only the GOAWAY goes out
        const n = groups.length;
        groups = groups.filter((g) => g[0] !== undefined && g[0][3] === T_GOAWAY);
        refused = groups.length < n;
      }
      this.writeStartedAt = Date.now();
      try {
        let size = 0;
        for (const g of groups) for (const b of g) size += b.length;
        let buf: Uint8Array;
        if (groups.length === 1 && groups[0].length === 1) buf = groups[0][0];
        else {
          buf = new Uint8Array(size);
          let o = 0;
          for (const g of groups) {
            for (const b of g) {
              buf.set(b, o);
              o += b.length;
            }
          }
        }
        let o = 0;
        while (o < buf.length) o += await this.conn.write(buf.subarray(o));
      } finally {
        this.writeStartedAt = 0;
      }
      if (refused) throw new Error("connection closed");
    });
    this.outBatch = p;
    this.writeChain = p.catch(() => {
      this.fatal("write failed");
    });
    return p;
  }

  /** @internal */ resetStream(s: H2ClientStream, code: number): void {
    if (this.forget(s)) this.control(frameOf(T_RST, 0, s.id, u32(code)));
    // a server that has not taken a write for a while would hold every later call too
    if (this.writeStartedAt !== 0 && Date.now() - this.writeStartedAt > WRITE_STALL_MS) {
      this.fatal("the server stopped reading the connection");
    }
  }

  private forget(s: H2ClientStream): boolean {
    const had = this.streams.delete(s.id);
    if (!had) return false;
    this.windowWaiters.delete(s);
    this.wakeSlots();
    if (this.goawayReceived && this.streams.size === 0) {
      // a draining connection closes with its last stream
      queueMicrotask(() => this.close());
    }
    return true;
  }

  private wakeSlots(): void {
    const w = this.slotWaiters;
    this.slotWaiters = [];
    for (const r of w) r();
  }

  private async run(): Promise<void> {
    let reason = new H2StreamError("connection", H2Error.INTERNAL_ERROR, "connection lost");
    try {
      await readFrames(
        this.conn,
        (type, flags, id, p) => this.onFrame(type, flags, id, p),
        () => this.closed,
        { maxFrame: CLIENT_MAX_FRAME },
      );
    } catch (e) {
      if (e instanceof ConnectionError) {
        this.control(goawayFrame(0, e.code, e.message));
        reason = new H2StreamError(
          "connection",
          e.code,
          `connection error from the server's frames: ${e.message}`,
        );
      } else {
        reason = new H2StreamError("connection", H2Error.INTERNAL_ERROR, String(e));
      }
    }
    this.fatal(reason.message, reason);
  }

  /** Ends the connection; its streams fail with `reason`. */
  private fatal(msg: string, reason?: H2StreamError): void {
    if (this.closed && this.streams.size === 0 && this.slotWaiters.length === 0) {
      this.closeSocket();
      return;
    }
    this.closed = true;
    const t = setTimeout(() => this.closeSocket(), 100);
    this.writeChain.finally(() => {
      clearTimeout(t);
      this.closeSocket();
    });
    this.teardown(reason ?? new H2StreamError("connection", H2Error.INTERNAL_ERROR, msg));
  }

  private teardown(reason: H2StreamError): void {
    clearTimeout(this.kaTimer);
    this.kaAckWait?.clear();
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.windowWaiters.clear();
    for (const s of streams) s.fail(reason);
    this.wakeSlots();
  }

  private onFrame(type: number, flags: number, id: number, p: Uint8Array): void {
    this.lastReadAt = Date.now();
    this.framesRead++;
    if (this.blocks.open && type !== T_CONT) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "expected CONTINUATION");
    }
    switch (type) {
      case T_DATA:
        return this.onData(flags, id, p);
      case T_HEADERS: {
        if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "HEADERS on stream 0");
        const b = this.blocks.headers(flags, id, p);
        if (b !== null) this.headerBlock(id, b.block, b.end);
        return;
      }
      case T_CONT: {
        const b = this.blocks.continuation(flags, id, p);
        if (b !== null) this.headerBlock(b.id, b.block, b.end);
        return;
      }
      case T_PRIORITY:
        if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (p.length !== 5) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "PRIORITY size");
        return;
      case T_RST: {
        if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "RST_STREAM on stream 0");
        if (p.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "RST size");
        if (id >= this.nextId) {
          throw new ConnectionError(H2Error.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
        }
        const s = this.streams.get(id);
        if (s) {
          const code = new DataView(p.buffer, p.byteOffset).getUint32(0);
          this.forget(s);
          s.fail(
            new H2StreamError(
              "reset",
              code,
              `stream reset by the server (HTTP/2 error code ${code})`,
              code === H2Error.REFUSED_STREAM,
            ),
          );
        }
        return;
      }
      case T_SETTINGS:
        return this.onSettings(flags, id, p);
      case T_PUSH:
        // we sent SETTINGS_ENABLE_PUSH = 0
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, "PUSH_PROMISE with push disabled");
      case T_PING:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "PING on a stream");
        if (p.length !== 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "PING size");
        if ((flags & F_ACK) === 0) this.control(frameOf(T_PING, F_ACK, 0, p));
        return;
      case T_GOAWAY:
        return this.onGoaway(id, p);
      case T_WINDOW:
        return this.onWindowUpdate(id, p);
      default:
        return; // unknown frame types are ignored
    }
  }

  private onGoaway(id: number, p: Uint8Array): void {
    if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "GOAWAY on a stream");
    if (p.length < 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "GOAWAY size");
    const dv = new DataView(p.buffer, p.byteOffset, p.length);
    const last = dv.getUint32(0) & MAX_WINDOW;
    const code = dv.getUint32(4);
    this.goawayReceived = true;
    this.tooManyPings = code === H2Error.ENHANCE_YOUR_CALM &&
      new TextDecoder().decode(p.subarray(8)) === "too_many_pings";
    // streams the server never saw: unprocessed, the channel retries them elsewhere
    for (const s of [...this.streams.values()]) {
      if (s.id > last) {
        this.forget(s);
        s.fail(
          new H2StreamError(
            "goaway",
            code,
            `server sent GOAWAY (code ${code}) before handling the stream`,
            true,
          ),
        );
      }
    }
    this.wakeSlots();
    if (this.streams.size === 0) this.close();
  }

  private onWindowUpdate(id: number, p: Uint8Array): void {
    const inc = windowIncrement(p);
    if (id === 0) {
      if (inc === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "window increment 0");
      this.sendWindow += inc;
      if (this.sendWindow > MAX_WINDOW) {
        throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, "connection window overflow");
      }
      for (const s of this.windowWaiters) s.notifyWindow();
      return;
    }
    const s = this.streams.get(id);
    if (s === undefined) return;
    if (inc === 0 || s.sendWindow + inc > MAX_WINDOW) {
      const code = inc === 0 ? H2Error.PROTOCOL_ERROR : H2Error.FLOW_CONTROL_ERROR;
      this.resetStream(s, code);
      s.fail(new H2StreamError("reset", code, "invalid WINDOW_UPDATE from the server"));
      return;
    }
    s.sendWindow += inc;
    s.notifyWindow();
  }

  private onSettings(flags: number, id: number, p: Uint8Array): void {
    const settings = parseSettings(flags, id, p);
    if (settings === null) return;
    for (const [key, v] of settings) {
      if (key === S_INITIAL_WINDOW_SIZE) {
        const delta = v - this.peerInitialWindow;
        this.peerInitialWindow = v;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) {
            throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, "stream window overflow");
          }
          s.notifyWindow();
        }
      } else if (key === S_MAX_FRAME_SIZE) {
        this.peerMaxFrame = v;
      } else if (key === S_MAX_CONCURRENT_STREAMS) {
        this.peerMaxStreams = v;
        this.wakeSlots();
      } else if (key === S_HEADER_TABLE_SIZE) {
        this.encoder.setPeerMaxTableSize(v);
      }
    }
    this.control(frameOf(T_SETTINGS, F_ACK, 0, new Uint8Array(0)));
  }

  private headerBlock(id: number, block: Uint8Array, endStream: boolean): void {
    // a server repeats its answers' header and trailer blocks: decoded once while the table stays
    const h = decodeHeaderBlock(this.decoder, block);
    if (id % 2 === 0 || id >= this.nextId) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, `HEADERS on stream ${id} we did not open`);
    }
    const s = this.streams.get(id);
    if (s === undefined) return; // a stream we already reset
    if (s.headers === undefined) {
      const status = h[":status"] ?? "";
      if (informational(status) && !endStream) return; // the answer follows
      s.headers = h;
    } else if (s.trailers === undefined && endStream) {
      s.trailers = h;
    } else {
      // a second header block must be the trailers (END_STREAM)
      this.resetStream(s, H2Error.PROTOCOL_ERROR);
      s.fail(new H2StreamError("reset", H2Error.PROTOCOL_ERROR, "malformed response headers"));
      return;
    }
    if (endStream) this.remoteEnd(s);
    else s.notify();
  }

  private onData(flags: number, id: number, p: Uint8Array): void {
    if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "DATA on stream 0");
    // all DATA counts against the connection window, even for streams already gone
    this.recvUnacked += p.length;
    if (this.recvUnacked > CONN_WINDOW) {
      throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, "connection window exceeded");
    }
    if (this.recvUnacked >= CONN_WINDOW / 2) {
      this.control(frameOf(T_WINDOW, 0, 0, u32(this.recvUnacked)));
      this.recvUnacked = 0;
    }
    const data = dataPayload(flags, p);
    const s = this.streams.get(id);
    if (s === undefined) {
      if (id >= this.nextId || id % 2 === 0) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, "DATA on an idle stream");
      }
      return; // a stream we already finished or reset
    }
    if (s.remoteEnded || s.headers === undefined) {
      const code = s.remoteEnded ? H2Error.STREAM_CLOSED : H2Error.PROTOCOL_ERROR;
      this.resetStream(s, code);
      s.fail(new H2StreamError("reset", code, "DATA outside the response body"));
      return;
    }
    // the stream window: the server may not send more than we credited
    s.windowUsed += p.length;
    if (s.windowUsed > CLIENT_STREAM_WINDOW) {
      this.resetStream(s, H2Error.FLOW_CONTROL_ERROR);
      s.fail(
        new H2StreamError("reset", H2Error.FLOW_CONTROL_ERROR, "server overran the stream window"),
      );
      return;
    }
    if (p.length > data.length) s.consumed(p.length - data.length); // padding
    if (data.length > 0) s.pushData(data);
    if (flags & 0x1) this.remoteEnd(s);
  }

  private remoteEnd(s: H2ClientStream): void {
    if (s.remoteEnded) return;
    s.remoteEnded = true;
    // our request half may still be sending (an early answer): the stream is done either way
    this.forget(s);
    s.finished = true;
    s.notify();
  }
}
