// A raw HTTP/2 client for hostile-peer tests of the gRPC server: frames written by hand over a
// TCP socket, so a test can reset, GOAWAY, stop reading, or send malformed frames and gRPC
// messages at exactly the point it wants. Responses are parsed just enough to read gRPC
// statuses (HPACK through storeapi/hpack.ts).

import { HpackDecoder, hpackEncode } from "../../storeapi/hpack.ts";
import type { ByteConn } from "../../storeapi/h2frame.ts";

export const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** One HTTP/2 frame. */
export function h2Frame(type: number, flags: number, id: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(9 + payload.length);
  f[0] = (payload.length >>> 16) & 0xff;
  f[1] = (payload.length >>> 8) & 0xff;
  f[2] = payload.length & 0xff;
  f[3] = type;
  f[4] = flags;
  new DataView(f.buffer).setUint32(5, id);
  f.set(payload, 9);
  return f;
}

/** A gRPC length-prefixed message with an announced length (default: the real one). */
export function grpcMessage(body: Uint8Array, announced = body.length, flag = 0): Uint8Array {
  const m = new Uint8Array(5 + body.length);
  m[0] = flag;
  new DataView(m.buffer).setUint32(1, announced >>> 0);
  m.set(body, 5);
  return m;
}

/** What came back on one stream. */
export interface RawStreamResult {
  headers: Record<string, string>[];
  data: number;
  reset?: number;
  /** DATA bytes not yet credited back with WINDOW_UPDATE. */
  unacked?: number;
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
}

/** A raw client connection. */
export class RawH2 {
  readonly streams = new Map<number, RawStreamResult>();
  private readonly dec = new HpackDecoder();
  /** Every header block received (HEADERS payloads; servers here send no padding or priority). */
  readonly headerBlocks: Uint8Array[] = [];
  private nextId = 1;
  /** GOAWAY received (error code), if any. */
  goaway?: number;
  /** The debug text of that GOAWAY. */
  goawayDebug?: string;
  /** PING ACKs received. */
  pingAcks = 0;
  /** The server closed the connection. */
  eof = false;
  private reading = true;
  private pending: Uint8Array = new Uint8Array(0);
  private readLoop: Promise<void>;
  private unacked = 0;

  private constructor(readonly conn: Deno.Conn, readonly autoWindow: boolean) {
    this.readLoop = this.read();
  }

  /** Connects and sends the preface and SETTINGS (optionally a stream window, other pairs). */
  static async connect(
    port: number,
    opts: { initialWindow?: number; autoWindow?: boolean; settings?: [number, number][] } = {},
  ): Promise<RawH2> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const c = new RawH2(conn, opts.autoWindow ?? true);
    const pairs: [number, number][] = [...(opts.settings ?? [])];
    if (opts.initialWindow !== undefined) pairs.push([0x4, opts.initialWindow]);
    const settings = new Uint8Array(6 * pairs.length);
    const dv = new DataView(settings.buffer);
    pairs.forEach(([k, v], i) => {
      dv.setUint16(i * 6, k);
      dv.setUint32(i * 6 + 2, v);
    });
    await c.write(PREFACE, h2Frame(0x4, 0, 0, settings));
    return c;
  }

  /** Writes bytes; false when the socket is gone. */
  async write(...parts: Uint8Array[]): Promise<boolean> {
    try {
      for (const p of parts) {
        let o = 0;
        while (o < p.length) o += await this.conn.write(p.subarray(o));
      }
      return true;
    } catch {
      return false;
    }
  }

  /** Opens a gRPC call: HEADERS for `path` (+ extra headers), then optional DATA. */
  async call(
    path: string,
    body?: Uint8Array,
    extra: Record<string, string> = {},
    endStream = true,
  ): Promise<number> {
    const id = this.nextId;
    this.nextId += 2;
    this.streams.set(id, { headers: [], data: 0 });
    const block = hpackEncode(Object.entries({
      ":method": "POST",
      ":scheme": "http",
      ":path": path,
      ":authority": "127.0.0.1",
      "content-type": "application/grpc",
      te: "trailers",
      ...extra,
    }));
    const frames = [h2Frame(0x1, 0x4 | (body === undefined && endStream ? 1 : 0), id, block)];
    if (body !== undefined) frames.push(h2Frame(0x0, endStream ? 1 : 0, id, body));
    await this.write(...frames);
    return id;
  }

  /** RST_STREAM(CANCEL) on a stream. */
  rst(id: number, code = 0x8): Promise<boolean> {
    const p = new Uint8Array(4);
    new DataView(p.buffer).setUint32(0, code);
    return this.write(h2Frame(0x3, 0, id, p));
  }

  /** Sends GOAWAY(NO_ERROR) naming the last stream opened. */
  sendGoaway(code = 0): Promise<boolean> {
    const p = new Uint8Array(8);
    new DataView(p.buffer).setUint32(0, Math.max(0, this.nextId - 2));
    new DataView(p.buffer).setUint32(4, code);
    return this.write(h2Frame(0x7, 0, 0, p));
  }

  /** Stops reading the socket (the server's writes back up). */
  stopReading(): void {
    this.reading = false;
  }

  /** Bytes of DATA received on all streams. */
  get dataBytes(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.data;
    return n;
  }

  /** The grpc-status a stream ended with (trailers or trailers-only), if any. */
  status(id: number): { code: number; message: string; http?: string } | undefined {
    const s = this.streams.get(id);
    if (!s) return undefined;
    for (const h of s.headers) {
      if (h["grpc-status"] !== undefined) {
        return {
          code: Number(h["grpc-status"]),
          message: decodeURIComponent(h["grpc-message"] ?? ""),
          http: s.headers[0]?.[":status"],
        };
      }
    }
    if (s.headers[0]?.[":status"] && s.headers[0][":status"] !== "200") {
      return { code: -1, message: "", http: s.headers[0][":status"] };
    }
    return undefined;
  }

  /** Waits (bounded) until `pred` holds; returns whether it did. */
  async until(pred: () => boolean, ms = 5000): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (pred()) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return pred();
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }

  /** Resolves when the read loop ended (socket closed). */
  closed(): Promise<void> {
    return this.readLoop;
  }

  private async read(): Promise<void> {
    const buf = new Uint8Array(64 << 10);
    while (true) {
      while (!this.reading) await new Promise((r) => setTimeout(r, 20));
      let n: number | null;
      try {
        n = await this.conn.read(buf);
      } catch {
        n = null;
      }
      if (n === null) {
        this.eof = true;
        return;
      }
      const all = new Uint8Array(this.pending.length + n);
      all.set(this.pending);
      all.set(buf.subarray(0, n), this.pending.length);
      let p = 0;
      while (all.length - p >= 9) {
        const len = (all[p] << 16) | (all[p + 1] << 8) | all[p + 2];
        if (all.length - p < 9 + len) break;
        const type = all[p + 3];
        const flags = all[p + 4];
        const id = new DataView(all.buffer, all.byteOffset + p + 5, 4).getUint32(0) & 0x7fffffff;
        const payload = all.subarray(p + 9, p + 9 + len);
        p += 9 + len;
        await this.onFrame(type, flags, id, payload);
      }
      this.pending = all.slice(p);
    }
  }

  private async onFrame(type: number, flags: number, id: number, p: Uint8Array): Promise<void> {
    const s = this.streams.get(id);
    if (type === 0x0) {
      // flow control: credit the connection and the stream separately once half-used
      this.unacked += p.length;
      if (s) {
        s.data += p.length;
        s.unacked = (s.unacked ?? 0) + p.length;
      }
      if (!this.autoWindow) return;
      const frames: Uint8Array[] = [];
      if (this.unacked > 32 << 10) {
        frames.push(h2Frame(0x8, 0, 0, u32(this.unacked)));
        this.unacked = 0;
      }
      if (s && s.unacked! > 32 << 10) {
        frames.push(h2Frame(0x8, 0, id, u32(s.unacked!)));
        s.unacked = 0;
      }
      if (frames.length > 0) await this.write(...frames);
    } else if (type === 0x1) {
      this.headerBlocks.push(p.slice());
      const h = Object.fromEntries(this.dec.decode(p));
      s?.headers.push(h);
    } else if (type === 0x3 && s) {
      s.reset = new DataView(p.buffer, p.byteOffset, 4).getUint32(0);
    } else if (type === 0x4 && (flags & 1) === 0) {
      await this.write(h2Frame(0x4, 1, 0, new Uint8Array(0)));
    } else if (type === 0x7) {
      this.goaway = new DataView(p.buffer, p.byteOffset + 4, 4).getUint32(0);
      this.goawayDebug = new TextDecoder().decode(p.subarray(8));
    } else if (type === 0x6 && (flags & 1) === 1) {
      this.pingAcks++;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/2 server for hostile-peer tests of the gRPC client: the test decides, stream by
// stream, which frames go out (and whether windows are respected).

/** One request stream a {@link RawH2Server} received. */
export interface RawServerStream {
  id: number;
  headers: Record<string, string>;
  /** Request body bytes. */
  body: number;
  /** RST_STREAM code received from the client, if any. */
  reset?: number;
  /** Window the client granted this stream (initial + WINDOW_UPDATEs - DATA sent). */
  window: number;
}

/** One connection of a {@link RawH2Server}. */
export class RawServerConn {
  readonly streams = new Map<number, RawServerStream>();
  private readonly dec = new HpackDecoder();
  /** Every header block received (HEADERS payloads; the helper sends no padding or priority). */
  readonly headerBlocks: Uint8Array[] = [];
  private initialWindow = 65535;
  /** Connection window the client granted. */
  window = 65535;
  /** WINDOW_UPDATE increments received, per stream id (0 = connection). */
  readonly credits = new Map<number, number>();
  closed = false;
  /** False: the socket is not read (the client's writes back up). */
  reading = true;
  private waiters: (() => void)[] = [];

  constructor(
    readonly conn: Deno.Conn,
    private readonly onRequest: (c: RawServerConn, s: RawServerStream) => void,
  ) {}

  /** Writes bytes; false when the socket is gone. */
  async write(...parts: Uint8Array[]): Promise<boolean> {
    try {
      for (const p of parts) {
        let o = 0;
        while (o < p.length) o += await this.conn.write(p.subarray(o));
      }
      return true;
    } catch {
      return false;
    }
  }

  /** HEADERS (one frame, END_HEADERS) with the given fields. */
  headers(id: number, fields: Record<string, string>, endStream = false): Promise<boolean> {
    return this.write(
      h2Frame(0x1, 0x4 | (endStream ? 1 : 0), id, hpackEncode(Object.entries(fields))),
    );
  }

  /** Response headers of a gRPC answer. */
  respond(id: number): Promise<boolean> {
    return this.headers(id, { ":status": "200", "content-type": "application/grpc" });
  }

  /** gRPC trailers. */
  trailers(id: number, code = 0, message = ""): Promise<boolean> {
    return this.headers(id, { "grpc-status": String(code), "grpc-message": message }, true);
  }

  /** DATA frames (16 KiB each) ignoring flow control. */
  async data(id: number, bytes: Uint8Array, endStream = false): Promise<boolean> {
    for (let o = 0; o < bytes.length || (o === 0 && bytes.length === 0); o += 16384) {
      const last = o + 16384 >= bytes.length;
      const ok = await this.write(
        h2Frame(0x0, last && endStream ? 1 : 0, id, bytes.subarray(o, o + 16384)),
      );
      if (!ok) return false;
      if (bytes.length === 0) break;
    }
    return true;
  }

  /**
   * DATA within the client's windows: waits (up to `maxWaitMs` per frame) for credit; returns
   * the bytes sent.
   */
  async dataInWindow(id: number, bytes: Uint8Array, maxWaitMs = 2000): Promise<number> {
    let o = 0;
    while (o < bytes.length && !this.closed) {
      const s = this.streams.get(id);
      if (!s || s.reset !== undefined) break;
      const n = Math.min(16384, bytes.length - o, s.window, this.window);
      if (n <= 0) {
        const woke = await Promise.race([
          new Promise<boolean>((r) => this.waiters.push(() => r(true))),
          new Promise<boolean>((r) => setTimeout(() => r(false), maxWaitMs)),
        ]);
        if (!woke) break;
        continue;
      }
      s.window -= n;
      this.window -= n;
      if (!await this.write(h2Frame(0x0, 0, id, bytes.subarray(o, o + n)))) break;
      o += n;
    }
    return o;
  }

  rst(id: number, code = 0x8): Promise<boolean> {
    return this.write(h2Frame(0x3, 0, id, u32(code)));
  }

  goaway(lastStreamId: number, code = 0): Promise<boolean> {
    const p = new Uint8Array(8);
    new DataView(p.buffer).setUint32(0, lastStreamId);
    new DataView(p.buffer).setUint32(4, code);
    return this.write(h2Frame(0x7, 0, 0, p));
  }

  /** SETTINGS with (identifier, value) pairs. */
  settings(pairs: [number, number][]): Promise<boolean> {
    const p = new Uint8Array(6 * pairs.length);
    const dv = new DataView(p.buffer);
    pairs.forEach(([k, v], i) => {
      dv.setUint16(i * 6, k);
      dv.setUint32(i * 6 + 2, v);
    });
    return this.write(h2Frame(0x4, 0, 0, p));
  }

  close(): void {
    this.closed = true;
    try {
      this.conn.close();
    } catch { /* closed */ }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x();
  }

  /** @internal Reads the client's preface and frames until the socket closes. */
  async run(): Promise<void> {
    const buf = new Uint8Array(64 << 10);
    let pending = new Uint8Array(0);
    let prefaceLeft = PREFACE.length;
    while (!this.closed) {
      while (!this.reading && !this.closed) await new Promise((r) => setTimeout(r, 20));
      let n: number | null;
      try {
        n = await this.conn.read(buf);
      } catch {
        n = null;
      }
      if (n === null) break;
      const all = new Uint8Array(pending.length + n);
      all.set(pending);
      all.set(buf.subarray(0, n), pending.length);
      let p = 0;
      if (prefaceLeft > 0) {
        const k = Math.min(prefaceLeft, all.length);
        prefaceLeft -= k;
        p = k;
      }
      while (all.length - p >= 9) {
        const len = (all[p] << 16) | (all[p + 1] << 8) | all[p + 2];
        if (all.length - p < 9 + len) break;
        const type = all[p + 3];
        const flags = all[p + 4];
        const id = new DataView(all.buffer, all.byteOffset + p + 5, 4).getUint32(0) & 0x7fffffff;
        const payload = all.slice(p + 9, p + 9 + len);
        p += 9 + len;
        this.onFrame(type, flags, id, payload);
      }
      pending = all.slice(p);
    }
    this.closed = true;
    this.wake();
  }

  private onFrame(type: number, flags: number, id: number, p: Uint8Array): void {
    const s = this.streams.get(id);
    if (type === 0x1) {
      this.headerBlocks.push(p.slice());
      const h = Object.fromEntries(this.dec.decode(p));
      if (!s) {
        const ns: RawServerStream = { id, headers: h, body: 0, window: this.initialWindow };
        this.streams.set(id, ns);
        if (flags & 1) this.onRequest(this, ns);
      }
    } else if (type === 0x0 && s) {
      s.body += p.length;
      if (flags & 1) this.onRequest(this, s);
    } else if (type === 0x3 && s) {
      s.reset = new DataView(p.buffer, p.byteOffset, 4).getUint32(0);
      this.wake();
    } else if (type === 0x4 && (flags & 1) === 0) {
      const dv = new DataView(p.buffer, p.byteOffset, p.length);
      for (let o = 0; o + 6 <= p.length; o += 6) {
        if (dv.getUint16(o) === 0x4) {
          const v = dv.getUint32(o + 2);
          for (const x of this.streams.values()) x.window += v - this.initialWindow;
          this.initialWindow = v;
        }
      }
      this.write(h2Frame(0x4, 1, 0, new Uint8Array(0)));
    } else if (type === 0x6 && (flags & 1) === 0) {
      this.write(h2Frame(0x6, 1, 0, p));
    } else if (type === 0x8) {
      const inc = new DataView(p.buffer, p.byteOffset, 4).getUint32(0) & 0x7fffffff;
      this.credits.set(id, (this.credits.get(id) ?? 0) + inc);
      if (id === 0) this.window += inc;
      else if (s) s.window += inc;
      this.wake();
    }
  }
}

/** A raw HTTP/2 server: `onRequest` runs once a stream's request is complete. */
export class RawH2Server {
  readonly conns: RawServerConn[] = [];
  private constructor(
    private readonly listener: Deno.Listener,
    readonly port: number,
  ) {}

  static listen(
    port: number,
    onRequest: (c: RawServerConn, s: RawServerStream) => void,
    onConnect: (c: RawServerConn) => void = (c) => {
      c.settings([]);
    },
  ): RawH2Server {
    const l = Deno.listen({ hostname: "127.0.0.1", port });
    const srv = new RawH2Server(l, (l.addr as Deno.NetAddr).port);
    (async () => {
      while (true) {
        let c: Deno.Conn;
        try {
          c = await l.accept();
        } catch {
          return;
        }
        const rc = new RawServerConn(c, onRequest);
        srv.conns.push(rc);
        onConnect(rc);
        rc.run();
      }
    })();
    return srv;
  }

  close(): void {
    try {
      this.listener.close();
    } catch { /* closed */ }
    for (const c of this.conns) c.close();
  }
}

/** A ByteConn fed by the test; each write is kept as one entry. */
export class RecordingConn implements ByteConn {
  readonly writes: Uint8Array[] = [];
  /** The arrays handed to `write` themselves (`writes` holds copies). */
  readonly handed: Uint8Array[] = [];
  private incoming: Uint8Array[] = [];
  private wake: (() => void) | null = null;
  private closed = false;

  feed(b: Uint8Array): void {
    this.incoming.push(b);
    this.wake?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    for (let i = 0; i < 1000; i++) {
      const b = this.incoming.shift();
      if (b !== undefined) {
        const n = Math.min(b.length, p.length);
        p.set(b.subarray(0, n));
        if (n < b.length) this.incoming.unshift(b.subarray(n));
        return n;
      }
      if (this.closed) return null;
      await new Promise<void>((r) => this.wake = r);
    }
    return null;
  }

  write(p: Uint8Array): Promise<number> {
    this.writes.push(p.slice());
    this.handed.push(p);
    return Promise.resolve(p.length);
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }
}
