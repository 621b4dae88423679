// Fewer socket writes per call (issue 19: the fixed cost of an instant query). Over a byte
// stream that records every write: our HTTP/2 client sends a request's HEADERS and its DATA in
// one write, and our HTTP/2 server sends a short answer's HEADERS, DATA and trailers in one
// write (also when the trailers follow a few async returns later, as a gRPC handler's do),
// instead of one write (one syscall, one wake-up of the peer) per frame. Fewer frames per answer:
// our client announces 256 KiB frames and our server sends DATA frames up to what the peer
// announced, so a 600 KB Series answer is three frames instead of thirty-seven.

import { assert, assertEquals } from "../helpers/assert.ts";
import { h2Frame, PREFACE, RecordingConn } from "../helpers/h2_raw.ts";
import {
  CLIENT_MAX_FRAME,
  H2ClientConnection,
  type H2ClientStream,
} from "../../storeapi/h2client.ts";
import {
  H2Server,
  type H2Stream,
  joinFrames,
  SPARE_BUFFER_BYTES,
  SPARE_BUFFER_MAX_BYTES,
  takeSpareBuffer,
} from "../../storeapi/h2server.ts";
import {
  S_INITIAL_WINDOW_SIZE,
  S_MAX_FRAME_SIZE,
  T_DATA,
  T_GOAWAY,
  T_HEADERS,
  T_SETTINGS,
} from "../../storeapi/h2frame.ts";
import { hpackEncode } from "../../storeapi/hpack.ts";

/**
 * A RecordingConn whose writes, while `held`, complete only at {@link release}: a socket that
 * has not taken the bytes yet. `writes` keeps the bytes as they were when the write completed.
 */
class HeldConn extends RecordingConn {
  held = false;
  private pending: (() => void)[] = [];

  override write(p: Uint8Array): Promise<number> {
    if (!this.held) return super.write(p);
    this.handed.push(p);
    return new Promise((resolve) =>
      this.pending.push(() => {
        this.writes.push(p.slice());
        resolve(p.length);
      })
    );
  }

  release(): void {
    this.held = false;
    const p = this.pending;
    this.pending = [];
    for (const done of p) done();
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

/**
 * Serves one request (stream 1, END_STREAM) with `onStream` on an H2Server over a recording
 * connection, after the SETTINGS exchange; resolves once the answer has had time to be written.
 * The caller closes the connection (the server is gone with it).
 */
async function answerOneRequest(onStream: (s: H2Stream) => void): Promise<RecordingConn> {
  const server = new H2Server(onStream);
  const conn = new RecordingConn();
  server.serve(conn);
  const close = conn.close.bind(conn);
  conn.close = () => {
    close();
    server.destroy();
  };
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
  return conn;
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
  const conn = await answerOneRequest((s: H2Stream) => {
    s.onEnd = () => {
      // what a short unary or Series answer does within one turn
      s.respond({ ":status": "200", "content-type": "application/grpc" });
      void s.write(new Uint8Array([0, 0, 0, 0, 1, 42]));
      s.end({ "grpc-status": "0" });
    };
  });
  try {
    const withStream = conn.writes.filter((w) => frames(w).some((f) => f.id === 1));
    assertEquals(
      withStream.map((w) => frames(w).filter((f) => f.id === 1).map((f) => f.type)),
      [[T_HEADERS, T_DATA, T_HEADERS]],
    );
  } finally {
    conn.close();
  }
});

Deno.test("server: an answer written with spare room takes its HEADERS, DATA header and trailers in place", async () => {
  // the Series handler's frame buffer: room before and after the gRPC frames it hands over
  const room = new Uint8Array(256 + 6 + 64);
  const payload = room.subarray(256, 262);
  payload.set([0, 0, 0, 0, 1, 42]);
  const conn = await answerOneRequest((s) => {
    s.onEnd = () => {
      s.respond({ ":status": "200", "content-type": "application/grpc" });
      void s.write(payload, true);
      s.end({ "grpc-status": "0" });
    };
  });
  try {
    const k = writeWith(conn.writes, T_DATA, 1);
    assert(k >= 0, "no DATA written");
    const w = conn.handed[k];
    assertEquals(frames(w).map((f) => f.type), [T_HEADERS, T_DATA, T_HEADERS]);
    // no copy: the write is a view of the handler's buffer, the payload where it was put
    assert(w.buffer === room.buffer, "the answer was copied into a new array");
    const dataAt = w.indexOf(42) - 5;
    assertEquals(w.byteOffset + dataAt, payload.byteOffset);
  } finally {
    conn.close();
  }
});

Deno.test("joinFrames: frames placed around a spare piece equal the copy; without room, a copy", () => {
  const before = [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])];
  const after = [new Uint8Array([9, 9, 9, 9])];
  const body = [6, 7, 8];
  const joined = (head: number, tail: number, spare: boolean) => {
    const buf = new Uint8Array(head + 3 + tail).fill(0xee);
    const p = buf.subarray(head, head + 3);
    p.set(body);
    const set = new WeakSet<Uint8Array>();
    if (spare) set.add(p);
    return { buf, out: joinFrames([...before, p, ...after], 12, set) };
  };
  const want = [1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9];
  const fits = joined(5, 4, true);
  assertEquals([...fits.out], want);
  assert(fits.out.buffer === fits.buf.buffer);
  for (const [head, tail, spare] of [[4, 4, true], [5, 3, true], [8, 8, false]] as const) {
    const r = joined(head, tail, spare);
    assertEquals([...r.out], want, `head ${head}, tail ${tail}, spare ${spare}`);
    assert(r.out.buffer !== r.buf.buffer, `head ${head}, tail ${tail}: written in place`);
    // the spare buffer's other bytes untouched when it had no room
    assertEquals(r.buf.subarray(0, head).every((b) => b === 0xee), true);
  }
});

Deno.test("server: trailers sent a few async returns after the last DATA join it in one write", async () => {
  const conn = await answerOneRequest((s: H2Stream) => {
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
  try {
    const withStream = conn.writes.filter((w) => frames(w).some((f) => f.id === 1));
    assertEquals(
      withStream.map((w) => frames(w).filter((f) => f.id === 1).map((f) => f.type)),
      [[T_HEADERS, T_DATA, T_HEADERS]],
    );
  } finally {
    conn.close();
  }
});

/** Every frame of the writes (after the first `skip` bytes: a client's preface), with its payload. */
function framesWithPayload(
  writes: Uint8Array[],
  skip = 0,
): { type: number; flags: number; id: number; payload: Uint8Array }[] {
  const all = new Uint8Array(writes.reduce((n, w) => n + w.length, 0));
  let o = 0;
  for (const w of writes) {
    all.set(w, o);
    o += w.length;
  }
  const out = [];
  for (let p = skip; p + 9 <= all.length;) {
    const len = (all[p] << 16) | (all[p + 1] << 8) | all[p + 2];
    const id = ((all[p + 5] & 0x7f) << 24) | (all[p + 6] << 16) | (all[p + 7] << 8) | all[p + 8];
    out.push({
      type: all[p + 3],
      flags: all[p + 4],
      id,
      payload: all.subarray(p + 9, p + 9 + len),
    });
    p += 9 + len;
  }
  return out;
}

function settingsPayload(pairs: [number, number][]): Uint8Array {
  const p = new Uint8Array(6 * pairs.length);
  const dv = new DataView(p.buffer);
  pairs.forEach(([k, v], i) => {
    dv.setUint16(i * 6, k);
    dv.setUint32(i * 6 + 2, v);
  });
  return p;
}

Deno.test("server: DATA frames grow to the client's SETTINGS_MAX_FRAME_SIZE, payloads intact across the handler's writes", async () => {
  // 600,000 bytes written as six 100,000-byte pieces: frames span the pieces
  const answer = Uint8Array.from({ length: 600_000 }, (_, i) => (i * 31 + (i >> 9)) & 0xff);
  const server = new H2Server((s: H2Stream) => {
    s.onEnd = () => {
      s.respond({ ":status": "200", "content-type": "application/grpc" });
      for (let o = 0; o < answer.length; o += 100_000) {
        void s.write(answer.subarray(o, o + 100_000));
      }
      s.end({ "grpc-status": "0" });
    };
  });
  const conn = new RecordingConn();
  server.serve(conn);
  try {
    conn.feed(PREFACE);
    conn.feed(h2Frame(
      0x4,
      0,
      0,
      settingsPayload([[S_MAX_FRAME_SIZE, 256 << 10], [S_INITIAL_WINDOW_SIZE, 1 << 20]]),
    ));
    const inc = new Uint8Array(4);
    new DataView(inc.buffer).setUint32(0, 1 << 20);
    conn.feed(h2Frame(0x8, 0, 0, inc)); // the connection window: 1 MiB more
    await settle();
    conn.feed(h2Frame(
      0x1,
      0x4 | 0x1,
      1,
      hpackEncode([
        [":method", "POST"],
        [":scheme", "http"],
        [":path", "/x"],
        [":authority", "x"],
      ]),
    ));
    await settle();
    const data = framesWithPayload(conn.writes).filter((f) => f.type === T_DATA && f.id === 1);
    assertEquals(data.map((f) => f.payload.length), [256 << 10, 256 << 10, 600_000 - (512 << 10)]);
    const got = new Uint8Array(600_000);
    let o = 0;
    for (const f of data) {
      got.set(f.payload, o);
      o += f.payload.length;
    }
    assertEquals(got, answer);
  } finally {
    conn.close();
    server.destroy();
  }
});

Deno.test("client: announces SETTINGS_MAX_FRAME_SIZE and takes DATA frames that large, not larger", async () => {
  const conn = new RecordingConn();
  const c = H2ClientConnection.over(conn);
  try {
    conn.feed(h2Frame(0x4, 0, 0, new Uint8Array(0))); // the server's SETTINGS
    await settle();
    const settings = framesWithPayload(conn.writes, PREFACE.length)
      .filter((f) => f.type === T_SETTINGS && (f.flags & 1) === 0);
    const announced = new Map<number, number>();
    for (const f of settings) {
      const dv = new DataView(f.payload.buffer, f.payload.byteOffset, f.payload.length);
      for (let o = 0; o < f.payload.length; o += 6) {
        announced.set(dv.getUint16(o), dv.getUint32(o + 2));
      }
    }
    assertEquals(announced.get(S_MAX_FRAME_SIZE), CLIENT_MAX_FRAME);
    const request = (): Promise<H2ClientStream> =>
      c.request(
        [[":method", "POST"], [":scheme", "http"], [":path", "/x"], [":authority", "x"]],
        new Uint8Array(0),
        new AbortController().signal,
      );
    const s = await request();
    const big = Uint8Array.from({ length: CLIENT_MAX_FRAME }, (_, i) => (i * 13) & 0xff);
    conn.feed(h2Frame(0x1, 0x4, s.id, hpackEncode([[":status", "200"]])));
    conn.feed(h2Frame(0x0, 0, s.id, big));
    conn.feed(h2Frame(0x1, 0x4 | 0x1, s.id, hpackEncode([["grpc-status", "0"]])));
    const parts: Uint8Array[] = [];
    for (let b = await s.read(); b !== null; b = await s.read()) parts.push(b);
    assertEquals(parts, [big]);
    // one byte over what we announced ends the connection (FRAME_SIZE_ERROR)
    const s2 = await request();
    conn.feed(h2Frame(0x0, 0, s2.id, new Uint8Array(CLIENT_MAX_FRAME + 1)));
    let failed = false;
    try {
      await s2.read();
    } catch {
      failed = true;
    }
    assert(failed, "a frame over the announced size was taken");
    await settle();
    const goaway = framesWithPayload(conn.writes, PREFACE.length).find((f) => f.type === T_GOAWAY);
    assert(goaway !== undefined, "no GOAWAY for the oversized frame");
    assertEquals(new DataView(goaway.payload.buffer, goaway.payload.byteOffset).getUint32(4), 0x6);
  } finally {
    c.close();
    conn.close();
  }
});

/** A server on a HeldConn after the SETTINGS exchange (the client's SETTINGS: `settings`). */
async function heldServer(
  onStream: (s: H2Stream) => void,
  settings: [number, number][] = [],
): Promise<{ conn: HeldConn; server: H2Server }> {
  const server = new H2Server(onStream);
  const conn = new HeldConn();
  server.serve(conn);
  conn.feed(PREFACE);
  conn.feed(h2Frame(0x4, 0, 0, settingsPayload(settings)));
  await settle();
  return { conn, server };
}

const REQUEST_BLOCK = () =>
  hpackEncode([[":method", "POST"], [":scheme", "http"], [":path", "/x"], [":authority", "x"]]);

/** Answers a request with `n` bytes of `fill` in a lent buffer, written as a spare piece. */
function answerFromLentBuffer(n: number, fill: number, lent: ArrayBuffer[]) {
  return (s: H2Stream) => {
    s.onEnd = () => {
      const b = takeSpareBuffer();
      lent.push(b);
      const piece = new Uint8Array(b, 256, n).fill(fill);
      s.respond({ ":status": "200", "content-type": "application/grpc" });
      void s.write(piece, true);
      s.end({ "grpc-status": "0" });
    };
  };
}

/** The DATA payload bytes of stream `id` in the completed writes. */
function dataOf(writes: Uint8Array[], id: number): number[] {
  return framesWithPayload(writes).filter((f) => f.type === T_DATA && f.id === id)
    .flatMap((f) => [...f.payload]);
}

Deno.test("server: a lent buffer is not lent again while a socket write holds it, and is once written", async () => {
  const lent: ArrayBuffer[] = [];
  const { conn, server } = await heldServer(answerFromLentBuffer(300, 0x11, lent));
  try {
    conn.held = true;
    conn.feed(h2Frame(0x1, 0x4 | 0x1, 1, REQUEST_BLOCK()));
    await settle();
    assertEquals(lent.length, 1);
    // another call's buffer while the answer's write is pending: not the one being written
    const other = takeSpareBuffer();
    assert(other !== lent[0], "a buffer still held by a pending write was lent again");
    new Uint8Array(other).fill(0xff);
    conn.release();
    await settle();
    assertEquals(dataOf(conn.writes, 1), new Array(300).fill(0x11));
    assertEquals(other.byteLength, SPARE_BUFFER_BYTES);
    // written: the buffer is lent again
    assert(takeSpareBuffer() === lent[0], "a written buffer was not reused");
  } finally {
    conn.close();
    server.destroy();
  }
});

Deno.test("server: a lent buffer split over writes by flow control is kept until its last byte is written", async () => {
  const lent: ArrayBuffer[] = [];
  // the client's stream window takes 100 bytes: the 1,000-byte piece leaves in two writes
  const { conn, server } = await heldServer(answerFromLentBuffer(1000, 0x22, lent), [
    [S_INITIAL_WINDOW_SIZE, 100],
  ]);
  try {
    conn.feed(h2Frame(0x1, 0x4 | 0x1, 1, REQUEST_BLOCK()));
    await settle();
    assertEquals(dataOf(conn.writes, 1).length, 100);
    // the rest is still queued: lending must not hand out the piece's buffer, whose bytes
    // another call would overwrite
    const taken = [takeSpareBuffer(), takeSpareBuffer()];
    assert(!taken.includes(lent[0]), "the buffer of a partly written piece was lent again");
    for (const b of taken) new Uint8Array(b).fill(0xff);
    const inc = new Uint8Array(4);
    new DataView(inc.buffer).setUint32(0, 10_000);
    conn.feed(h2Frame(0x8, 0, 1, inc));
    await settle();
    assertEquals(dataOf(conn.writes, 1), new Array(1000).fill(0x22));
  } finally {
    conn.close();
    server.destroy();
  }
});

Deno.test("takeSpareBuffer: the smallest size class that holds the bytes, none past the largest", () => {
  for (
    const [bytes, want] of [
      [1, SPARE_BUFFER_BYTES],
      [SPARE_BUFFER_BYTES, SPARE_BUFFER_BYTES],
      [SPARE_BUFFER_BYTES + 1, 2 * SPARE_BUFFER_BYTES],
      [40_000, 16 * SPARE_BUFFER_BYTES],
      [SPARE_BUFFER_MAX_BYTES, SPARE_BUFFER_MAX_BYTES],
    ]
  ) {
    assertEquals(takeSpareBuffer(bytes).byteLength, want, `${bytes} bytes`);
  }
  let refused = false;
  try {
    takeSpareBuffer(SPARE_BUFFER_MAX_BYTES + 1);
  } catch (e) {
    refused = e instanceof RangeError;
  }
  assert(refused, "a buffer past the largest class was lent");
});
