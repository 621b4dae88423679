// Fewer socket writes per call (issue 19: the fixed cost of an instant query). Over a byte
// stream that records every write: our HTTP/2 client sends a request's HEADERS and its DATA in
// one write, and our HTTP/2 server sends a short answer's HEADERS, DATA and trailers in one
// write (also when the trailers follow a few async returns later, as a gRPC handler's do),
// instead of one write (one syscall, one wake-up of the peer) per frame.

import { assert, assertEquals } from "../helpers/assert.ts";
import { h2Frame, PREFACE } from "../helpers/h2_raw.ts";
import { H2ClientConnection } from "../../storeapi/h2client.ts";
import { H2Server, type H2Stream } from "../../storeapi/h2server.ts";
import { type ByteConn, T_DATA, T_HEADERS } from "../../storeapi/h2frame.ts";
import { hpackEncode } from "../../storeapi/hpack.ts";

/** A ByteConn fed by the test; each write is kept as one entry. */
class RecordingConn implements ByteConn {
  readonly writes: Uint8Array[] = [];
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
    return Promise.resolve(p.length);
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }
}

/** The frames (type, flags, stream id) of one write. */
function frames(w: Uint8Array): { type: number; flags: number; id: number }[] {
  const out = [];
  let o = 0;
  while (o + 9 <= w.length) {
    const len = (w[o] << 16) | (w[o + 1] << 8) | w[o + 2];
    const id = ((w[o + 5] & 0x7f) << 24) | (w[o + 6] << 16) | (w[o + 7] << 8) | w[o + 8];
    out.push({ type: w[o + 3], flags: w[o + 4], id });
    o += 9 + len;
  }
  return out;
}

/** Index of the write holding a frame of `type` on stream `id`, -1 when none. */
function writeWith(writes: Uint8Array[], type: number, id: number): number {
  return writes.findIndex((w) => frames(w).some((f) => f.type === type && f.id === id));
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
}

Deno.test("client: a request's HEADERS and DATA leave in one socket write", async () => {
  const conn = new RecordingConn();
  const c = H2ClientConnection.over(conn);
  try {
    conn.feed(h2Frame(0x4, 0, 0, new Uint8Array(0))); // the server's SETTINGS
    await settle();
    const body = new Uint8Array(100).fill(7);
    const s = await c.request(
      [
        [":method", "POST"],
        [":scheme", "http"],
        [":path", "/thanos.Store/Series"],
        [":authority", "x"],
      ],
      body,
      new AbortController().signal,
    );
    await settle();
    const h = writeWith(conn.writes, T_HEADERS, s.id);
    const d = writeWith(conn.writes, T_DATA, s.id);
    assert(h >= 0 && d >= 0, `frames of stream ${s.id} not written`);
    assertEquals(d, h, `HEADERS in write ${h}, DATA in write ${d}`);
  } finally {
    c.close();
    conn.close();
  }
});

Deno.test("server: a short answer's HEADERS, DATA and trailers leave in one socket write", async () => {
  const server = new H2Server((s: H2Stream) => {
    s.onEnd = () => {
      // what a short unary or Series answer does within one turn
      s.respond({ ":status": "200", "content-type": "application/grpc" });
      void s.write(new Uint8Array([0, 0, 0, 0, 1, 42]));
      s.end({ "grpc-status": "0" });
    };
  });
  const conn = new RecordingConn();
  server.serve(conn);
  try {
    const block = hpackEncode([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/x"],
      [":authority", "x"],
    ]);
    conn.feed(PREFACE);
    conn.feed(h2Frame(0x4, 0, 0, new Uint8Array(0)));
    await settle(); // the SETTINGS exchange is written: the connection's writer is idle
    conn.feed(h2Frame(0x1, 0x4 | 0x1, 1, block));
    await settle();
    const withStream = conn.writes.filter((w) => frames(w).some((f) => f.id === 1));
    assertEquals(
      withStream.map((w) => frames(w).filter((f) => f.id === 1).map((f) => f.type)),
      [[T_HEADERS, T_DATA, T_HEADERS]],
    );
  } finally {
    conn.close();
    server.destroy();
  }
});

Deno.test("server: trailers sent a few async returns after the last DATA join it in one write", async () => {
  const server = new H2Server((s: H2Stream) => {
    // the shape of a gRPC call: send() in a helper, the handler returns through async frames,
    // then the call sends its trailers
    const send = async (b: Uint8Array) => {
      s.respond({ ":status": "200", "content-type": "application/grpc" });
      await s.write(b);
    };
    const handler = async () => {
      await send(new Uint8Array([0, 0, 0, 0, 1, 42]));
    };
    s.onEnd = () => {
      void (async () => {
        await handler();
        s.end({ "grpc-status": "0" });
      })();
    };
  });
  const conn = new RecordingConn();
  server.serve(conn);
  try {
    const block = hpackEncode([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/x"],
      [":authority", "x"],
    ]);
    conn.feed(PREFACE);
    conn.feed(h2Frame(0x4, 0, 0, new Uint8Array(0)));
    await settle();
    conn.feed(h2Frame(0x1, 0x4 | 0x1, 1, block));
    await settle();
    const withStream = conn.writes.filter((w) => frames(w).some((f) => f.id === 1));
    assertEquals(
      withStream.map((w) => frames(w).filter((f) => f.id === 1).map((f) => f.type)),
      [[T_HEADERS, T_DATA, T_HEADERS]],
    );
  } finally {
    conn.close();
    server.destroy();
  }
});
