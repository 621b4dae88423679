// HTTP/2 framing shared by our server (h2server.ts) and client (h2client.ts): frame constants,
// frame building, header-block splitting, the bounded frame reader and the byte transport both
// run on (RFC 9113, https://www.rfc-editor.org/rfc/rfc9113). One copy of each mechanism: the
// connection logic of each side lives in its own file, the bytes-on-the-wire code lives here.

import type { Buffer } from "node:buffer";
import type tls from "node:tls";
import { type HpackDecoder, HpackError } from "./hpack.ts";

/** HTTP/2 error codes (RFC 9113 §7). */
export const H2Error = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
} as const;

export const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
export const T_DATA = 0x0;
export const T_HEADERS = 0x1;
export const T_PRIORITY = 0x2;
export const T_RST = 0x3;
export const T_SETTINGS = 0x4;
export const T_PUSH = 0x5;
export const T_PING = 0x6;
export const T_GOAWAY = 0x7;
export const T_WINDOW = 0x8;
export const T_CONT = 0x9;
export const F_END_STREAM = 0x1;
export const F_ACK = 0x1;
export const F_END_HEADERS = 0x4;
export const F_PADDED = 0x8;
export const F_PRIORITY = 0x20;

/** SETTINGS identifiers (RFC 9113 §6.5.2). */
export const S_HEADER_TABLE_SIZE = 0x1;
export const S_ENABLE_PUSH = 0x2;
export const S_MAX_CONCURRENT_STREAMS = 0x3;
export const S_INITIAL_WINDOW_SIZE = 0x4;
export const S_MAX_FRAME_SIZE = 0x5;
export const S_MAX_HEADER_LIST_SIZE = 0x6;

/** The largest frame we accept unless we announced more (the default SETTINGS_MAX_FRAME_SIZE). */
export const MAX_FRAME = 16384;
/** The largest header block (HEADERS + CONTINUATION) we accept. */
export const MAX_HEADER_BLOCK = 64 << 10;
export const MAX_WINDOW = 0x7fffffff;

/** A connection error: the connection ends with GOAWAY(code). */
export class ConnectionError extends Error {
  constructor(readonly code: number, msg: string) {
    super(msg);
  }
}

/**
 * A complete header block's fields ({@link HpackDecoder.decodeRecord}); a block that does not
 * decode ends the connection with COMPRESSION_ERROR (RFC 7540 §4.3).
 */
export function decodeHeaderBlock(
  decoder: HpackDecoder,
  block: Uint8Array,
): Readonly<Record<string, string>> {
  try {
    return decoder.decodeRecord(block);
  } catch (e) {
    if (e instanceof HpackError) throw new ConnectionError(H2Error.COMPRESSION_ERROR, e.message);
    throw e;
  }
}

export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
}

/** One frame: 9-byte header + payload. */
export function frameOf(type: number, flags: number, id: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(9 + payload.length);
  const len = payload.length;
  f[0] = (len >>> 16) & 0xff;
  f[1] = (len >>> 8) & 0xff;
  f[2] = len & 0xff;
  f[3] = type;
  f[4] = flags;
  new DataView(f.buffer).setUint32(5, id & MAX_WINDOW);
  f.set(payload, 9);
  return f;
}

/** The 9-byte header of a DATA frame of `len` bytes (the payload is written separately). */
export function dataHeader(id: number, len: number, endStream = false): Uint8Array {
  const f = new Uint8Array(9);
  f[0] = (len >>> 16) & 0xff;
  f[1] = (len >>> 8) & 0xff;
  f[2] = len & 0xff;
  f[3] = T_DATA;
  f[4] = endStream ? F_END_STREAM : 0;
  new DataView(f.buffer).setUint32(5, id & MAX_WINDOW);
  return f;
}

/** A SETTINGS frame with the given (identifier, value) pairs. */
export function settingsFrame(settings: [number, number][]): Uint8Array {
  const s = new Uint8Array(6 * settings.length);
  const dv = new DataView(s.buffer);
  settings.forEach(([k, v], i) => {
    dv.setUint16(i * 6, k);
    dv.setUint32(i * 6 + 2, v);
  });
  return frameOf(T_SETTINGS, 0, 0, s);
}

/** A GOAWAY frame naming `lastStreamId`, with a short debug text. */
export function goawayFrame(lastStreamId: number, code: number, debug = ""): Uint8Array {
  const dbg = new TextEncoder().encode(debug.slice(0, 256));
  const p = new Uint8Array(8 + dbg.length);
  const dv = new DataView(p.buffer);
  dv.setUint32(0, lastStreamId);
  dv.setUint32(4, code);
  p.set(dbg, 8);
  return frameOf(T_GOAWAY, 0, 0, p);
}

/** HEADERS (+ CONTINUATION) frames carrying `block`, split at the peer's max frame size. */
export function headersFrames(
  id: number,
  block: Uint8Array,
  endStream: boolean,
  maxFrame: number,
): Uint8Array {
  if (block.length <= maxFrame) {
    return frameOf(T_HEADERS, F_END_HEADERS | (endStream ? F_END_STREAM : 0), id, block);
  }
  const parts: Uint8Array[] = [];
  for (let o = 0; o < block.length; o += maxFrame) {
    const last = o + maxFrame >= block.length;
    const frag = block.subarray(o, Math.min(block.length, o + maxFrame));
    if (o === 0) parts.push(frameOf(T_HEADERS, endStream ? F_END_STREAM : 0, id, frag));
    else parts.push(frameOf(T_CONT, last ? F_END_HEADERS : 0, id, frag));
  }
  return concat(parts, parts.reduce((n, x) => n + x.length, 0));
}

/** The header-block fragment of a HEADERS payload (padding and priority removed). */
export function headersFragment(flags: number, p: Uint8Array): Uint8Array {
  let off = 0;
  let end = p.length;
  if (flags & F_PADDED) {
    if (p.length < 1) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "padding");
    end -= p[0];
    off = 1;
  }
  if (flags & F_PRIORITY) off += 5;
  if (off > end) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "padding exceeds payload");
  return p.subarray(off, end);
}

/** The data of a DATA payload (padding removed). */
export function dataPayload(flags: number, p: Uint8Array): Uint8Array {
  if ((flags & F_PADDED) === 0) return p;
  if (p.length < 1 || p[0] >= p.length) {
    throw new ConnectionError(H2Error.PROTOCOL_ERROR, "DATA padding");
  }
  return p.subarray(1, p.length - p[0]);
}

/** Assembles HEADERS + CONTINUATION into one bounded header block. */
export class HeaderBlockAssembler {
  private pending: { id: number; parts: Uint8Array[]; size: number; end: boolean } | null = null;

  /** True while a block waits for CONTINUATION (any other frame is a protocol error). */
  get open(): boolean {
    return this.pending !== null;
  }

  /** A HEADERS frame; returns the block when complete, else null. */
  headers(flags: number, id: number, p: Uint8Array): { block: Uint8Array; end: boolean } | null {
    const frag = headersFragment(flags, p);
    const end = (flags & F_END_STREAM) !== 0;
    if (flags & F_END_HEADERS) return { block: frag, end };
    this.pending = { id, parts: [frag], size: frag.length, end };
    return null;
  }

  /** A CONTINUATION frame; returns the block with its stream id when complete, else null. */
  continuation(
    flags: number,
    id: number,
    p: Uint8Array,
  ): { id: number; block: Uint8Array; end: boolean } | null {
    const b = this.pending;
    if (b === null || b.id !== id) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "unexpected CONTINUATION");
    }
    b.parts.push(p);
    b.size += p.length;
    if (b.size > MAX_HEADER_BLOCK) {
      throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, "header block too large");
    }
    if ((flags & F_END_HEADERS) === 0) return null;
    this.pending = null;
    return { id, block: concat(b.parts, b.size), end: b.end };
  }
}

/** Applies a WINDOW_UPDATE payload's increment; throws for a malformed frame. */
export function windowIncrement(p: Uint8Array): number {
  if (p.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "WINDOW_UPDATE size");
  return new DataView(p.buffer, p.byteOffset).getUint32(0) & MAX_WINDOW;
}

/** The (identifier, value) pairs of a non-ACK SETTINGS payload; validates the values we use. */
export function parseSettings(flags: number, id: number, p: Uint8Array): [number, number][] | null {
  if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "SETTINGS on a stream");
  if (flags & F_ACK) {
    if (p.length !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "SETTINGS ack size");
    return null;
  }
  if (p.length % 6 !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "SETTINGS size");
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  const out: [number, number][] = [];
  for (let o = 0; o < p.length; o += 6) {
    const key = dv.getUint16(o);
    const v = dv.getUint32(o + 2);
    if (key === S_INITIAL_WINDOW_SIZE && v > MAX_WINDOW) {
      throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, "window size");
    }
    if (key === S_MAX_FRAME_SIZE && (v < 16384 || v > 0xffffff)) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "max frame size out of range");
    }
    if (key === S_ENABLE_PUSH && v > 1) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "ENABLE_PUSH out of range");
    }
    out.push([key, v]);
  }
  return out;
}

export function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** What a connection runs on: a Deno.Conn (TCP) or a TLS socket ({@link nodeSocketConn}). */
export interface ByteConn {
  /** Reads into `p`; null at EOF. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; resolves with the count written. */
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/** What readFrames reads into at first: an idle connection costs little. */
const READ_MIN = 16 << 10;
/**
 * Room readFrames grows to while reads fill it: a 40 KB answer is one read, not three, a 1 MB
 * Series stream four reads instead of sixteen (each a syscall and an event-loop turn).
 */
const READ_MAX = 256 << 10;

/**
 * Reads frames from `conn` until EOF, a read error or `stop()`: each complete frame goes to
 * `onFrame` (payload copied: it may be kept). Frames over `maxFrame` (the SETTINGS_MAX_FRAME_SIZE
 * we announced; default {@link MAX_FRAME}) are a connection error. Bytes are read straight into the frame buffer (no copy from a read buffer); its room
 * starts at {@link READ_MIN} and grows to {@link READ_MAX} while reads fill it, so memory is
 * one partial frame plus one read. With `preface`, the peer's first bytes must be the client
 * connection preface (server side).
 */
export async function readFrames(
  conn: ByteConn,
  onFrame: (type: number, flags: number, id: number, payload: Uint8Array) => void,
  stop: () => boolean,
  opts: { preface?: boolean; onPreface?: () => void; maxFrame?: number } = {},
): Promise<void> {
  let prefaceSeen = !opts.preface;
  const maxFrame = opts.maxFrame ?? MAX_FRAME;
  let buf = new Uint8Array(READ_MIN);
  let start = 0;
  let end = 0;
  /** The room the next read gets. */
  let want = READ_MIN;
  while (!stop()) {
    if (buf.length - end < want) {
      // move the partial frame to the front, in a larger buffer when the read needs the room
      const live = end - start;
      const nb = live + want > buf.length ? new Uint8Array(live + want) : buf;
      if (nb === buf) buf.copyWithin(0, start, end);
      else nb.set(buf.subarray(start, end), 0);
      buf = nb;
      start = 0;
      end = live;
    }
    let n: number | null;
    try {
      n = await conn.read(buf.subarray(end, end + want));
    } catch {
      return;
    }
    if (n === null) return;
    // a full read: more is probably waiting, read it in fewer calls
    if (n === want) want = Math.min(READ_MAX, want * 2);
    end += n;
    if (!prefaceSeen) {
      const have = Math.min(end - start, PREFACE.length);
      for (let i = 0; i < have; i++) {
        if (buf[start + i] !== PREFACE[i]) {
          throw new ConnectionError(H2Error.PROTOCOL_ERROR, "not an HTTP/2 preface");
        }
      }
      if (have < PREFACE.length) continue;
      start += PREFACE.length;
      prefaceSeen = true;
      opts.onPreface?.();
    }
    while (end - start >= 9) {
      const len = (buf[start] << 16) | (buf[start + 1] << 8) | buf[start + 2];
      if (len > maxFrame) {
        throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `frame of ${len} bytes`);
      }
      if (end - start < 9 + len) break;
      const type = buf[start + 3];
      const flags = buf[start + 4];
      const id = ((buf[start + 5] << 24) | (buf[start + 6] << 16) | (buf[start + 7] << 8) |
        buf[start + 8]) & MAX_WINDOW;
      const payload = buf.slice(start + 9, start + 9 + len);
      start += 9 + len;
      onFrame(type, flags, id, payload);
      if (stop()) return;
    }
    if (start === end) start = end = 0;
  }
}

/** Bytes buffered from a TLS socket before it is paused (the reader applies backpressure). */
const SOCKET_HIGH_WATER = 1 << 20;

/**
 * A node:tls socket as a {@link ByteConn}. TLS runs on node:tls because it has what the
 * `--grpc-*-tls-*` flags need (client-certificate verification on the server, a minimum version,
 * SNI names and skip-verify on the client), which Deno.listenTls/connectTls lack; HTTP/2 stays
 * ours (no nghttp2). Received bytes are buffered up to a high-water mark, then the socket pauses.
 */
export function nodeSocketConn(s: tls.TLSSocket): ByteConn {
  const chunks: Uint8Array[] = [];
  let buffered = 0;
  let ended = false;
  let failed: Error | undefined;
  let wake: (() => void) | undefined;
  const writes = new Set<(e: Error) => void>();
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
    if (ended) {
      for (const r of writes) r(failed ?? new Error("connection closed"));
      writes.clear();
    }
  };
  s.on("data", (c: Buffer) => {
    chunks.push(new Uint8Array(c.buffer, c.byteOffset, c.length));
    buffered += c.length;
    if (buffered >= SOCKET_HIGH_WATER) s.pause();
    notify();
  });
  s.on("end", () => {
    ended = true;
    notify();
  });
  s.on("close", () => {
    ended = true;
    notify();
  });
  s.on("error", (e: Error) => {
    failed ??= e;
    ended = true;
    notify();
  });
  return {
    async read(p: Uint8Array): Promise<number | null> {
      while (chunks.length === 0) {
        if (ended) {
          if (failed !== undefined) throw failed;
          return null;
        }
        await new Promise<void>((r) => wake = r);
      }
      let n = 0;
      while (chunks.length > 0 && n < p.length) {
        const c = chunks[0];
        const k = Math.min(c.length, p.length - n);
        p.set(c.subarray(0, k), n);
        n += k;
        if (k === c.length) chunks.shift();
        else chunks[0] = c.subarray(k);
      }
      buffered -= n;
      if (buffered < SOCKET_HIGH_WATER / 2 && s.isPaused() && !ended) s.resume();
      return n;
    },
    write(p: Uint8Array): Promise<number> {
      return new Promise((resolve, reject) => {
        if (s.destroyed || ended) {
          reject(failed ?? new Error("connection closed"));
          return;
        }
        // a socket that closes before the write completes must not leave the writer waiting
        writes.add(reject);
        s.write(p, (e?: Error | null) => {
          writes.delete(reject);
          if (e) reject(e);
          else resolve(p.length);
        });
      });
    },
    close(): void {
      s.destroy();
    },
  };
}
