// The gRPC server's own HTTP/2 (RFC 9113, https://www.rfc-editor.org/rfc/rfc9113) over plaintext
// TCP (h2c with prior knowledge, what gRPC clients speak without TLS). Written in TypeScript over
// Deno.listen instead of node:http2 because Deno 2.9.6's node:http2 server aborts the whole
// process inside nghttp2 when a peer's GOAWAY arrives after large streams (issue 20; Deno
// issue https://github.com/denoland/deno/issues/36788). Here every peer frame is parsed by
// code that can only fail one stream or one connection, never the process.
//
// Scope: what gRPC needs. Client-initiated streams only (no push), literal header encoding, no
// priorities. Bounded per connection: one frame (16 KiB), one header block (64 KiB), the
// control-frame backlog, the request of each stream (the gRPC layer's limit), and the response
// bytes buffered per stream (`write` waits below a high-water mark).

import type tls from "node:tls";
import { HpackDecoder, hpackEncode, HpackEncoder } from "./hpack.ts";
import {
  type ByteConn,
  concat,
  ConnectionError,
  dataHeader,
  dataPayload,
  decodeHeaderBlock,
  F_ACK,
  F_END_STREAM,
  frameOf,
  goawayFrame,
  H2Error,
  HeaderBlockAssembler,
  headersFrames,
  MAX_HEADER_BLOCK,
  MAX_WINDOW,
  nodeSocketConn,
  parseSettings,
  readFrames,
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

export { H2Error };

const STREAM_WINDOW = 1 << 20; // our SETTINGS_INITIAL_WINDOW_SIZE
const CONN_WINDOW = 16 << 20;
/** Control frames (acks, resets, window updates) queued beyond this close the connection. */
const MAX_CONTROL_BACKLOG = 1 << 20;
/** Response bytes buffered per stream before `write` waits. */
const STREAM_HIGH_WATER = 64 << 10;
/**
 * What {@link H2Stream.write} returns when the stream took the bytes without waiting: a caller
 * may compare against it and skip arming its own backpressure timers.
 */
export const WRITE_TAKEN: Promise<void> = Promise.resolve();
/**
 * Microtask turns the writer waits before a round: a gRPC handler's last message, its return
 * through a few async frames and its trailers take about this many, so a short answer's DATA and
 * trailers usually leave in the same write (one wake-up of the client instead of two). Costs
 * nothing measurable: no timer, no I/O turn.
 */
const PUMP_DEFER_TICKS = 12;

/** The default of a stream's callbacks (one function for all streams, not three per stream). */
const NOOP = (): void => {};
/** A connection must send the HTTP/2 preface within this (ms). */
const PREFACE_TIMEOUT_MS = 10_000;
/** Bytes handed to one socket write. */
const WRITE_BATCH = 256 << 10;
/**
 * Client PINGs: Thanos v0.42's gRPC server enforces `keepalive.EnforcementPolicy{MinTime: 10s}`
 * (pkg/server/grpc/grpc.go; PermitWithoutStream false) with grpc-go's rules
 * (https://github.com/grpc/grpc-go/blob/master/Documentation/keepalive.md): a PING sooner than
 * MinTime after the previous one (2 h when no call is open) is a strike, sending response headers
 * or data forgives them, and more than 2 strikes end the connection with GOAWAY
 * ENHANCE_YOUR_CALM "too_many_pings".
 */
export const KEEPALIVE_MIN_TIME_MS = 10_000;
const PING_WITHOUT_STREAM_MIN_MS = 2 * 3600_000;
const MAX_PING_STRIKES = 2;

/** Options of {@link H2Server}. */
export interface H2ServerOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS per connection (default 1000). */
  maxConcurrentStreams?: number;
  /** Shortest interval between client PINGs tolerated (default {@link KEEPALIVE_MIN_TIME_MS}). */
  keepaliveMinTimeMs?: number;
}

/** One request stream; the gRPC layer answers it. Methods never throw. */
export class H2Stream {
  /**
   * Request headers (lower-case names; repeated names joined with ","), frozen: a client's
   * repeated header block gives the same object to each of its streams.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** Request body bytes (called synchronously from the read loop). */
  onData: (chunk: Uint8Array) => void = NOOP;
  /** The request is complete (END_STREAM). */
  onEnd: () => void = NOOP;
  /** The stream is gone (peer reset, connection lost) before the server finished it. */
  onClose: () => void = NOOP;

  /** @internal */ sendWindow: number;
  /** @internal */ recvWindow = STREAM_WINDOW;
  /** @internal */ recvUnacked = 0;
  /** @internal */ remoteEnded = false;
  /** @internal */ queue: Uint8Array[] = [];
  /** @internal */ queued = 0;
  /** @internal */ trailers: Uint8Array | null = null;
  /** @internal */ done = false;
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private headersSent = false;

  constructor(
    readonly id: number,
    private readonly conn: H2Connection,
    sendWindow: number,
    headers: Readonly<Record<string, string>>,
  ) {
    this.sendWindow = sendWindow;
    this.headers = headers;
  }

  /** True once the stream can take no more output. */
  get closed(): boolean {
    return this.done;
  }

  /** Sends the response headers; `endStream` makes it a headers-only (trailers-only) answer. */
  respond(headers: Record<string, string>, endStream = false): void {
    if (this.done || this.headersSent) return;
    this.headersSent = true;
    // an answer's headers are the same call after call: the same block while the table stays
    const block = this.conn.encoder.encodeRepeated(Object.entries(headers));
    this.conn.pingStrikesForgiven = true;
    if (endStream) {
      this.done = true;
      this.conn.streamFinished(this, block);
      return;
    }
    this.conn.control(this.conn.headersFrames(this.id, block, false), true);
  }

  /**
   * Queues response bytes; resolves once this stream's buffer is below the high-water mark.
   * `spare`: the rest of `data.buffer`, before and after the view, is unused, and the frames
   * written with it may be placed there (see {@link joinFrames}).
   */
  write(data: Uint8Array, spare = false): Promise<void> {
    if (this.done) return Promise.reject(new Error("stream closed"));
    if (data.length > 0) {
      if (spare) this.conn.spare.add(data);
      this.queue.push(data);
      this.queued += data.length;
      this.conn.pump();
    }
    if (this.queued < STREAM_HIGH_WATER) return WRITE_TAKEN;
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Ends the response with trailers, after the queued data. */
  end(trailers: Record<string, string>): void {
    if (this.done) return;
    this.done = true;
    this.trailers = hpackEncode(Object.entries(trailers));
    this.conn.pump();
  }

  /** Abandons the stream: RST_STREAM(code), buffered output dropped. */
  reset(code: number = H2Error.CANCEL): void {
    if (this.conn.forget(this)) this.conn.control(frameOf(T_RST, 0, this.id, u32(code)));
    this.fail(new Error("stream reset"));
    // a socket that has not taken a write for a while carries no stream forward: drop it
    if (this.conn.writeBlockedMs > 1000) this.conn.closeNow();
  }

  /** @internal Output drained below the mark: wake writers. */
  drained(): void {
    if (this.queued >= STREAM_HIGH_WATER) return;
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.resolve();
  }

  /** @internal The stream is gone: fail writers, drop buffers. */
  fail(e: Error): void {
    this.done = true;
    this.queue = [];
    this.queued = 0;
    this.trailers = null;
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.reject(e);
  }
}

/** One HTTP/2 connection: the read loop, flow control and the write pump. */
export class H2Connection {
  /** @internal Queued pieces whose buffers' unused bytes may take the frames around them. */
  readonly spare = new WeakSet<Uint8Array>();
  private readonly streams = new Map<number, H2Stream>();
  private readonly decoder = new HpackDecoder();
  /**
   * @internal Response header blocks, which all go out through the control queue (FIFO) as they
   * are encoded; trailers, written later by the pump, stay literals without indexing.
   */
  readonly encoder = new HpackEncoder();
  private lastStreamId = 0;
  private sendWindow = 65535;
  private peerInitialWindow = 65535;
  private peerMaxFrame = 16384;
  private recvUnacked = 0;
  private controlQueue: Uint8Array[] = [];
  private controlBytes = 0;
  private pumping = false;
  /** Set by `pump` calls during a round: run another before stopping. */
  private pumpWanted = false;
  private closed = false;
  private goawaySent = false;
  private peerGoaway = false;
  /** Round-robin cursor over streams with data. */
  private rr: H2Stream[] = [];
  /** Header block being assembled from HEADERS + CONTINUATION. */
  private readonly blocks = new HeaderBlockAssembler();
  private writeStartedAt = 0;
  private prefaceSeen = false;
  private readonly maxStreams: number;
  private readonly pingMinMs: number;
  private lastPingAt = 0;
  private pingStrikes = 0;
  /** @internal Set when response headers or data go out: the next PING clears the strikes. */
  pingStrikesForgiven = false;

  constructor(
    private readonly conn: ByteConn,
    private readonly onStream: (s: H2Stream) => void,
    opts: H2ServerOptions,
    private readonly onGone: (c: H2Connection) => void,
  ) {
    this.maxStreams = opts.maxConcurrentStreams ?? 1000;
    this.pingMinMs = opts.keepaliveMinTimeMs ?? KEEPALIVE_MIN_TIME_MS;
  }

  /** Milliseconds the current socket write has been pending (0 when none). */
  get writeBlockedMs(): number {
    return this.writeStartedAt === 0 ? 0 : Date.now() - this.writeStartedAt;
  }

  /** Number of open streams. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** Serves the connection until it closes; never rejects. */
  async run(): Promise<void> {
    try {
      // our SETTINGS, then a larger connection window
      this.control(settingsFrame([
        [S_MAX_CONCURRENT_STREAMS, this.maxStreams],
        [S_INITIAL_WINDOW_SIZE, STREAM_WINDOW],
        [S_MAX_HEADER_LIST_SIZE, MAX_HEADER_BLOCK],
      ]));
      this.control(frameOf(T_WINDOW, 0, 0, u32(CONN_WINDOW - 65535)));
      await this.readLoop();
    } catch (e) {
      if (e instanceof ConnectionError) {
        this.goaway(e.code, e.message);
        await this.flush(200);
      }
    } finally {
      this.teardown();
    }
  }

  /** Waits (bounded) until queued frames are written. */
  private async flush(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while ((this.pumping || this.controlQueue.length > 0) && !this.closed && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private async readLoop(): Promise<void> {
    // a peer that does not even send the connection preface in time is dropped
    const prefaceTimer = setTimeout(() => {
      if (!this.prefaceSeen) this.closeNow();
    }, PREFACE_TIMEOUT_MS);
    try {
      await this.readFrames();
    } finally {
      clearTimeout(prefaceTimer);
    }
  }

  private readFrames(): Promise<void> {
    return readFrames(
      this.conn,
      (type, flags, id, p) => this.onFrame(type, flags, id, p),
      () => this.closed,
      { preface: true, onPreface: () => this.prefaceSeen = true },
    );
  }

  private onFrame(type: number, flags: number, id: number, p: Uint8Array): void {
    if (this.blocks.open && type !== T_CONT) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "expected CONTINUATION");
    }
    switch (type) {
      case T_DATA:
        return this.onData(flags, id, p);
      case T_HEADERS:
        return this.onHeaders(flags, id, p);
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
        if (id > this.lastStreamId) {
          throw new ConnectionError(H2Error.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
        }
        const s = this.streams.get(id);
        if (s) {
          this.forget(s);
          s.fail(new Error("stream reset by the client"));
          safe(() => s.onClose());
        }
        return;
      }
      case T_SETTINGS:
        return this.onSettings(flags, id, p);
      case T_PUSH:
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      case T_PING:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "PING on a stream");
        if (p.length !== 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "PING size");
        if ((flags & F_ACK) === 0) this.onPing(p);
        return;
      case T_GOAWAY:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "GOAWAY on a stream");
        if (p.length < 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "GOAWAY size");
        // the peer opens no new streams; running ones finish, then we close
        this.peerGoaway = true;
        this.maybeFinish();
        return;
      case T_WINDOW: {
        const inc = windowIncrement(p);
        if (id === 0) {
          if (inc === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "window increment 0");
          this.sendWindow += inc;
          if (this.sendWindow > MAX_WINDOW) {
            throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, "connection window overflow");
          }
        } else {
          const s = this.streams.get(id);
          if (s === undefined) return;
          if (inc === 0 || s.sendWindow + inc > MAX_WINDOW) {
            s.reset(inc === 0 ? H2Error.PROTOCOL_ERROR : H2Error.FLOW_CONTROL_ERROR);
            safe(() => s.onClose());
            return;
          }
          s.sendWindow += inc;
        }
        this.pump();
        return;
      }
      default:
        return; // unknown frame types are ignored
    }
  }

  /** Answers a client PING and counts it against the keepalive policy (see MAX_PING_STRIKES). */
  private onPing(p: Uint8Array): void {
    this.control(frameOf(T_PING, F_ACK, 0, p));
    const now = Date.now();
    const prev = this.lastPingAt;
    this.lastPingAt = now;
    if (this.pingStrikesForgiven) {
      this.pingStrikesForgiven = false;
      this.pingStrikes = 0;
      return;
    }
    const min = this.streams.size === 0 ? PING_WITHOUT_STREAM_MIN_MS : this.pingMinMs;
    if (prev !== 0 && now - prev < min) this.pingStrikes++;
    if (this.pingStrikes > MAX_PING_STRIKES) {
      this.goaway(H2Error.ENHANCE_YOUR_CALM, "too_many_pings");
    }
  }

  private onSettings(flags: number, id: number, p: Uint8Array): void {
    const settings = parseSettings(flags, id, p);
    if (settings === null) return;
    for (const [key, v] of settings) {
      if (key === S_INITIAL_WINDOW_SIZE) {
        const delta = v - this.peerInitialWindow;
        this.peerInitialWindow = v;
        for (const s of this.streams.values()) s.sendWindow += delta;
      } else if (key === S_MAX_FRAME_SIZE) {
        this.peerMaxFrame = v;
      } else if (key === S_HEADER_TABLE_SIZE) {
        this.encoder.setPeerMaxTableSize(v);
      }
    }
    this.control(frameOf(T_SETTINGS, F_ACK, 0, new Uint8Array(0)));
    this.pump();
  }

  private onHeaders(flags: number, id: number, p: Uint8Array): void {
    if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "HEADERS on stream 0");
    const b = this.blocks.headers(flags, id, p);
    if (b !== null) this.headerBlock(id, b.block, b.end);
  }

  private headerBlock(id: number, block: Uint8Array, endStream: boolean): void {
    // a client repeats its calls' header block: decoded once while the table stays
    const fields = decodeHeaderBlock(this.decoder, block);
    const existing = this.streams.get(id);
    if (existing) {
      // trailers from the client end its request
      if (!endStream) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, "HEADERS without END_STREAM");
      }
      this.remoteEnd(existing);
      return;
    }
    if (id % 2 === 0 || id <= this.lastStreamId) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, `HEADERS opening stream ${id}`);
    }
    this.lastStreamId = id;
    if (this.goawaySent || this.streams.size >= this.maxStreams) {
      this.control(frameOf(T_RST, 0, id, u32(H2Error.REFUSED_STREAM)));
      return;
    }
    const s = new H2Stream(id, this, this.peerInitialWindow, fields);
    this.streams.set(id, s);
    safe(() => this.onStream(s));
    if (endStream) this.remoteEnd(s);
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
      if (id > this.lastStreamId) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, "DATA on an idle stream");
      }
      return; // a stream we already finished or reset
    }
    if (s.remoteEnded) {
      s.reset(H2Error.STREAM_CLOSED);
      safe(() => s.onClose());
      return;
    }
    s.recvUnacked += p.length;
    if (s.recvUnacked > STREAM_WINDOW) {
      s.reset(H2Error.FLOW_CONTROL_ERROR);
      safe(() => s.onClose());
      return;
    }
    if (s.recvUnacked >= STREAM_WINDOW / 2) {
      this.control(frameOf(T_WINDOW, 0, id, u32(s.recvUnacked)));
      s.recvUnacked = 0;
    }
    if (data.length > 0) safe(() => s.onData(data));
    if (flags & F_END_STREAM) this.remoteEnd(s);
  }

  private remoteEnd(s: H2Stream): void {
    if (s.remoteEnded) return;
    s.remoteEnded = true;
    safe(() => s.onEnd());
  }

  /** @internal Queues a control frame (written before stream data). */
  control(f: Uint8Array, _ordered = false): void {
    if (this.closed) return;
    this.controlQueue.push(f);
    this.controlBytes += f.length;
    if (this.controlBytes > MAX_CONTROL_BACKLOG) {
      // the peer provokes frames but does not read them
      this.closeNow();
      return;
    }
    this.pump();
  }

  /** @internal HEADERS (+ CONTINUATION) frames for a header block. */
  headersFrames(id: number, block: Uint8Array, endStream: boolean): Uint8Array {
    return headersFrames(id, block, endStream, this.peerMaxFrame);
  }

  /** @internal A trailers-only answer: headers with END_STREAM; the stream is done. */
  streamFinished(s: H2Stream, block: Uint8Array): void {
    this.forget(s);
    this.control(this.headersFrames(s.id, block, true));
    this.maybeFinish();
  }

  /** @internal Removes a stream from the table; false when it was not there. */
  forget(s: H2Stream): boolean {
    const had = this.streams.delete(s.id);
    const i = this.rr.indexOf(s);
    if (i >= 0) this.rr.splice(i, 1);
    if (had) queueMicrotask(() => this.maybeFinish());
    return had;
  }

  /**
   * @internal Starts the write pump if idle, after the current microtasks: frames queued in the
   * same turn (a response's HEADERS and first DATA, trailers after a short answer) go out in
   * one socket write.
   */
  pump(): void {
    this.pumpWanted = true;
    if (this.pumping || this.closed) return;
    this.pumping = true;
    this.pumpTicks = PUMP_DEFER_TICKS;
    queueMicrotask(this.pumpTick);
  }

  /** Microtask turns the pump still waits (see {@link PUMP_DEFER_TICKS}). */
  private pumpTicks = 0;
  /** One deferral step, a closure per connection rather than one per turn of every pump. */
  private readonly pumpTick = (): void => {
    if (--this.pumpTicks > 0) queueMicrotask(this.pumpTick);
    else void this.pumpLoop();
  };

  private async pumpLoop(): Promise<void> {
    try {
      await this.pumpRounds();
    } catch {
      this.closeNow(); // a bug here must cost this connection only
    }
  }

  /** Writes rounds of frames; clears `pumping` in the same turn as its last check. */
  private async pumpRounds(): Promise<void> {
    while (true) {
      if (this.closed) break;
      this.pumpWanted = false;
      const out: Uint8Array[] = [];
      let size = 0;
      while (this.controlQueue.length > 0 && size < WRITE_BATCH) {
        const f = this.controlQueue.shift()!;
        out.push(f);
        size += f.length;
        this.controlBytes -= f.length;
      }
      const touched: H2Stream[] = [];
      // round robin over streams with output
      for (const s of this.streams.values()) {
        if ((s.queued > 0 || s.trailers) && !this.rr.includes(s)) this.rr.push(s);
      }
      let progress = true;
      while (size < WRITE_BATCH && progress) {
        progress = false;
        for (let k = 0; k < this.rr.length && size < WRITE_BATCH; k++) {
          const s = this.rr[k];
          if (s.queued > 0) {
            const n = Math.min(s.queued, s.sendWindow, this.sendWindow, this.peerMaxFrame);
            if (n <= 0) continue;
            s.sendWindow -= n;
            this.sendWindow -= n;
            out.push(dataHeader(s.id, n));
            take(s, n, out);
            size += 9 + n;
            touched.push(s);
            progress = true;
          }
          if (s.queued === 0 && s.trailers) {
            out.push(this.headersFrames(s.id, s.trailers, true));
            size += s.trailers.length + 9;
            s.trailers = null;
            this.forget(s);
            k--;
            progress = true;
          }
        }
        this.rr = this.rr.filter((s) => s.queued > 0 || s.trailers);
      }
      if (out.length === 0) {
        if (this.pumpWanted) continue;
        break;
      }
      if (touched.length > 0) this.pingStrikesForgiven = true;
      const ok = await this.writeAll(joinFrames(out, size, this.spare));
      if (!ok) break;
      recycleSpareBuffers(out, this.spare);
      for (const s of touched) s.drained();
    }
    this.pumping = false;
  }

  private async writeAll(b: Uint8Array): Promise<boolean> {
    this.writeStartedAt = Date.now();
    try {
      let o = 0;
      while (o < b.length) o += await this.conn.write(b.subarray(o));
      return true;
    } catch {
      this.closeNow();
      return false;
    } finally {
      this.writeStartedAt = 0;
    }
  }

  private maybeFinish(): void {
    if ((this.peerGoaway || this.goawaySent) && this.streams.size === 0 && !this.closed) {
      // let queued frames go out, then close
      this.flush(1000).then(() => this.closeNow());
    }
  }

  /** Sends GOAWAY: no new streams; the connection closes once running streams finish. */
  goaway(code: number = H2Error.NO_ERROR, debug = ""): void {
    if (this.goawaySent || this.closed) return;
    this.goawaySent = true;
    this.control(goawayFrame(this.lastStreamId, code, debug));
    if (code !== H2Error.NO_ERROR) {
      // a connection error: flush what we can, then drop the connection
      setTimeout(() => this.closeNow(), 50);
    }
    this.maybeFinish();
  }

  /** Closes the socket at once; open streams see onClose("connection"). */
  closeNow(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
    this.teardown();
  }

  private teardown(): void {
    this.closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.rr = [];
    this.controlQueue = [];
    this.controlBytes = 0;
    for (const s of streams) {
      s.fail(new Error("connection closed"));
      safe(() => s.onClose());
    }
    this.onGone(this);
  }
}

/**
 * Moves the next `n` queued bytes of `s` to `out` as views of its queue (a DATA payload may span
 * several writes of the layer above; the round's single copy joins them for the socket).
 */
function take(s: H2Stream, n: number, out: Uint8Array[]): void {
  let left = n;
  while (left > 0) {
    const h = s.queue[0];
    if (h.length <= left) {
      s.queue.shift();
      out.push(h);
      left -= h.length;
    } else {
      out.push(h.subarray(0, left));
      s.queue[0] = h.subarray(left);
      left = 0;
    }
  }
  s.queued -= n;
}

/**
 * The frames of one socket write (`out`, `size` bytes) as one array. A piece queued whole whose
 * writer left its buffer's other bytes unused (`spare`: the Series answer's frame buffer) takes
 * the frames before it (HEADERS, its DATA frame header) and after it (trailers) in place, when
 * they fit there, instead of a fresh array and a copy of the whole answer (issue 19); else a
 * copy.
 */
export function joinFrames(
  out: Uint8Array[],
  size: number,
  spare: WeakSet<Uint8Array>,
): Uint8Array {
  let before = 0;
  for (let k = 0; k < out.length; k++) {
    const p = out[k];
    if (!spare.has(p)) {
      before += p.length;
      continue;
    }
    const after = size - before - p.length;
    if (p.byteOffset < before || p.buffer.byteLength - p.byteOffset - p.length < after) break;
    const whole = new Uint8Array(p.buffer, p.byteOffset - before, size);
    let o = 0;
    for (let j = 0; j < out.length; j++) {
      if (j !== k) whole.set(out[j], o);
      o += out[j].length;
    }
    return whole;
  }
  return concat(out, size);
}

/** Byte length of the smallest buffer {@link takeSpareBuffer} lends; each larger one doubles. */
export const SPARE_BUFFER_BYTES = 4096 + 512;
const SPARE_BUFFER_CLASSES = 6;
/** Byte length of the largest buffer {@link takeSpareBuffer} lends (144 KiB). */
export const SPARE_BUFFER_MAX_BYTES = SPARE_BUFFER_BYTES << (SPARE_BUFFER_CLASSES - 1);
/** Bytes kept for reuse per size class (at least two buffers). */
const FREE_SPARE_BYTES_PER_CLASS = 256 << 10;
const freeSpareBuffers: ArrayBuffer[][] = Array.from({ length: SPARE_BUFFER_CLASSES }, () => []);
/** Lent by takeSpareBuffer and not yet handed back: a buffer goes back to the pool once only. */
const lentSpareBuffers = new WeakSet<ArrayBuffer>();

/** Size class of a buffer of `bytes` (the smallest that holds them). */
function spareClass(bytes: number): number {
  let k = 0;
  while ((SPARE_BUFFER_BYTES << k) < bytes) k++;
  return k;
}

/**
 * A buffer of at least `bytes` (at most {@link SPARE_BUFFER_MAX_BYTES}) for a writer's `spare`
 * pieces (the Series answer's frame buffer), reused: a fresh one per call (outside the V8 heap,
 * zeroed) was part of the store gateway's fixed cost per call (issue 19). The connection takes it
 * back once a socket write that carried a piece of it whole has completed; a piece split over
 * writes, dropped with its stream or never written leaves its buffer to the garbage collector.
 * Its bytes are not zeroed.
 */
export function takeSpareBuffer(bytes = SPARE_BUFFER_BYTES): ArrayBuffer {
  const k = spareClass(bytes);
  if (k >= SPARE_BUFFER_CLASSES) throw new RangeError(`no spare buffer of ${bytes} bytes`);
  const b = freeSpareBuffers[k].pop() ?? new ArrayBuffer(SPARE_BUFFER_BYTES << k);
  lentSpareBuffers.add(b);
  return b;
}

/** Hands back the lent buffers of the spare pieces of a completed socket write. */
function recycleSpareBuffers(out: Uint8Array[], spare: WeakSet<Uint8Array>): void {
  for (const p of out) {
    const b = p.buffer as ArrayBuffer;
    if (!spare.has(p) || !lentSpareBuffers.has(b)) continue;
    lentSpareBuffers.delete(b);
    const free = freeSpareBuffers[spareClass(b.byteLength)];
    if (free.length < Math.max(2, FREE_SPARE_BYTES_PER_CLASS / b.byteLength)) free.push(b);
  }
}

/** Runs a callback of the layer above; its failure must not break the connection. */
function safe(fn: () => void): void {
  try {
    fn();
  } catch { /* the gRPC layer reports its own errors */ }
}

/** Accepts plaintext HTTP/2 connections and hands their streams to `onStream`. */
export class H2Server {
  private listener: Deno.Listener | null = null;
  private tlsServer: tls.Server | null = null;
  private readonly conns = new Set<H2Connection>();
  private accepting: Promise<void> | null = null;
  private shutDown = false;

  constructor(
    private readonly onStream: (s: H2Stream) => void,
    private readonly opts: H2ServerOptions = {},
  ) {}

  /** Listens on `hostname:port` (0 = a free port); returns the bound port. */
  listen(hostname: string, port: number): number {
    const l = Deno.listen({ hostname, port, transport: "tcp" });
    this.listener = l;
    this.accepting = this.acceptLoop(l);
    return (l.addr as Deno.NetAddr).port;
  }

  private async acceptLoop(l: Deno.Listener): Promise<void> {
    while (true) {
      let c: Deno.Conn;
      try {
        c = await l.accept();
      } catch {
        return; // listener closed
      }
      try {
        (c as Deno.TcpConn).setNoDelay(true);
      } catch { /* not TCP */ }
      this.serve(c);
    }
  }

  /** Serves one connection already accepted (a TLS socket, see {@link listenTls}). */
  serve(c: ByteConn): void {
    const h = new H2Connection(c, this.onStream, this.opts, (x) => this.conns.delete(x));
    this.conns.add(h);
    h.run();
  }

  /**
   * Listens for TLS connections negotiating `h2` by ALPN (gRPC over TLS) on `hostname:port`;
   * resolves with the bound port. TLS runs on node:tls (client-certificate verification and a
   * minimum version, which Deno.listenTls lacks), HTTP/2 on {@link H2Connection}. node:tls is
   * imported here, not with this module: a process (an evaluation Worker) that never serves TLS
   * starts without it.
   */
  async listenTls(hostname: string, port: number, opts: tls.TlsOptions): Promise<number> {
    const { default: nodeTls } = await import("node:tls");
    if (this.shutDown) throw new Error("the gRPC server was shut down before it listened");
    const srv = nodeTls.createServer({ ...opts, ALPNProtocols: ["h2"] }, (sock) => {
      sock.on("error", () => {}); // reported to the connection through its reads
      try {
        sock.setNoDelay(true);
      } catch { /* not TCP */ }
      this.serve(nodeSocketConn(sock));
    });
    srv.on("tlsClientError", () => {}); // a failed handshake costs that connection only
    this.tlsServer = srv;
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      srv.once("error", onError);
      srv.listen(port, hostname, () => {
        srv.off("error", onError);
        const a = srv.address();
        if (a === null || typeof a === "string") {
          reject(new Error(`TLS server bound to an unexpected address ${a}`));
          return;
        }
        resolve(a.port);
      });
    });
  }

  /** Open connections. */
  get connections(): ReadonlySet<H2Connection> {
    return this.conns;
  }

  /** Stops accepting and sends GOAWAY on every connection. */
  async shutdown(): Promise<void> {
    this.shutDown = true;
    try {
      this.listener?.close();
    } catch { /* closed */ }
    this.listener = null;
    const t = this.tlsServer;
    this.tlsServer = null;
    // stops accepting; its callback waits for open connections, which GOAWAY/destroy end
    t?.close();
    await this.accepting;
    for (const c of this.conns) c.goaway(H2Error.NO_ERROR, "server shutting down");
  }

  /** Closes every connection at once. */
  destroy(): void {
    for (const c of [...this.conns]) c.closeNow();
  }
}
