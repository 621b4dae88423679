// readFrames, the HTTP/2 frame reader both our client and server run on (issue 19: the fixed cost
// of a query): frames arrive intact however the bytes are split (DATA in pieces, END_STREAM on
// the last), bytes handed on are never overwritten, large DATA pieces are views of the read
// buffer (no copy) and small ones copies, and a long answer is read in reads that grow from
// 16 KiB to 256 KiB (a 40 KB Series answer in one read instead of three, a 1 MB one in seven
// instead of nineteen) and never past that.

import { assert, assertEquals } from "../helpers/assert.ts";
import { h2Frame } from "../helpers/h2_raw.ts";
import {
  type ByteConn,
  ConnectionError,
  F_END_STREAM,
  F_PADDED,
  H2Error,
  readFrames,
  T_DATA,
} from "../../storeapi/h2frame.ts";

/** A ByteConn over fixed bytes: each read takes at most `split(i)` bytes; records the room asked. */
class ScriptedConn implements ByteConn {
  readonly asked: number[] = [];
  /** The buffers read into. */
  readonly buffers = new Set<ArrayBufferLike>();
  private off = 0;
  constructor(private readonly bytes: Uint8Array, private readonly split: (i: number) => number) {}

  read(p: Uint8Array): Promise<number | null> {
    this.asked.push(p.length);
    this.buffers.add(p.buffer);
    if (this.off >= this.bytes.length) return Promise.resolve(null);
    const n = Math.min(p.length, this.split(this.asked.length - 1), this.bytes.length - this.off);
    p.set(this.bytes.subarray(this.off, this.off + n));
    this.off += n;
    return Promise.resolve(n);
  }
  write(p: Uint8Array): Promise<number> {
    return Promise.resolve(p.length);
  }
  close(): void {}
}

/**
 * DATA frames with payloads of the given sizes, each byte a function of its place, frame k on
 * stream 2k + 1 with END_STREAM (so the pieces of one frame can be told apart).
 */
function dataFrames(sizes: number[]): { wire: Uint8Array; payloads: Uint8Array[] } {
  const payloads = sizes.map((n, k) =>
    Uint8Array.from({ length: n }, (_, i) => (i * 7 + k) & 0xff)
  );
  const frames = payloads.map((p, k) => h2Frame(T_DATA, F_END_STREAM, 2 * k + 1, p));
  const wire = new Uint8Array(frames.reduce((a, f) => a + f.length, 0));
  let o = 0;
  for (const f of frames) {
    wire.set(f, o);
    o += f.length;
  }
  return { wire, payloads };
}

type Got = { type: number; flags: number; id: number; p: Uint8Array };

async function readAll(conn: ByteConn, maxFrame?: number): Promise<Got[]> {
  const got: Got[] = [];
  await readFrames(conn, (type, flags, id, p) => got.push({ type, flags, id, p }), () => false, {
    maxFrame,
  });
  return got;
}

/**
 * The frames of `got` put together again: DATA pieces up to the one with END_STREAM (all on one
 * stream, END_STREAM on no other piece); other frames as they came.
 */
function framesOf(got: Got[]): Got[] {
  const out: Got[] = [];
  let parts: Got[] = [];
  for (const g of got) {
    if (g.type !== T_DATA) {
      assertEquals(parts.length, 0, "a frame inside a DATA frame's pieces");
      out.push(g);
      continue;
    }
    if (parts.length > 0) assertEquals(g.id, parts[0].id, "a piece of another stream");
    parts.push(g);
    if ((g.flags & F_END_STREAM) === 0) continue;
    const p = new Uint8Array(parts.reduce((n, x) => n + x.p.length, 0));
    let o = 0;
    for (const x of parts) {
      p.set(x.p, o);
      o += x.p.length;
    }
    out.push({ type: T_DATA, flags: g.flags, id: g.id, p });
    parts = [];
  }
  assertEquals(parts.length, 0, "pieces without END_STREAM at the end");
  return out;
}

Deno.test("readFrames: frames arrive intact whatever the read sizes, DATA in pieces with END_STREAM on the last", async () => {
  const sizes = [0, 1, 8, 9, 100, 16384, 5000, 16384, 16384, 3, 12000, 16384, 7];
  const { wire: data, payloads } = dataFrames(sizes);
  // a WINDOW_UPDATE and a padded DATA frame (4 bytes of data, 3 of padding) after them
  const padded = Uint8Array.from([3, 1, 2, 3, 4, 0, 0, 0]);
  const tail = [
    h2Frame(0x8, 0, 0, Uint8Array.from([0, 0, 1, 0])),
    h2Frame(T_DATA, F_PADDED | F_END_STREAM, 99, padded),
  ];
  const wire = new Uint8Array(data.length + tail[0].length + tail[1].length);
  wire.set(data);
  wire.set(tail[0], data.length);
  wire.set(tail[1], data.length + tail[0].length);
  for (
    const split of [
      () => 1,
      () => 7,
      () => 9,
      () => 4096,
      () => 1 << 20,
      (i: number) => (i * 977) % 20000 + 1,
    ]
  ) {
    const got = await readAll(new ScriptedConn(wire, split));
    // every piece kept until the end: bytes handed on were never overwritten
    const frames = framesOf(got);
    assertEquals(frames.length, payloads.length + 2);
    for (let k = 0; k < payloads.length; k++) {
      assertEquals(frames[k].id, 2 * k + 1);
      assertEquals(frames[k].p, payloads[k], `frame ${k}`);
    }
    assertEquals(frames[payloads.length].type, 0x8);
    assertEquals(frames[payloads.length].p, Uint8Array.from([0, 0, 1, 0]));
    // a padded DATA frame comes whole, with its flags
    const last = got[got.length - 1];
    assertEquals([last.flags, last.id, last.p], [F_PADDED | F_END_STREAM, 99, padded]);
  }
});

Deno.test("readFrames: large DATA pieces are views of the buffer read into, small ones and other frames copies", async () => {
  const { wire, payloads } = dataFrames([200_000, 10, 100_000]);
  const conn = new ScriptedConn(wire, () => 1 << 30);
  const got = await readAll(conn, 256 << 10);
  assertEquals(framesOf(got).map((f) => f.p), payloads);
  let viewed = 0;
  for (const g of got) {
    if (conn.buffers.has(g.p.buffer)) {
      // a view: at least a sixteenth of the buffer it holds
      assert(g.p.length * 16 >= g.p.buffer.byteLength, `a ${g.p.length}-byte piece holds a buffer`);
      viewed += g.p.length;
    } else assertEquals(g.p.buffer.byteLength, g.p.length, "a copy of its own");
  }
  assert(got.some((g) => g.p.length === 10 && !conn.buffers.has(g.p.buffer)), "10 bytes viewed");
  assert(viewed >= 290_000, `only ${viewed} bytes handed on as views`);
  // a buffer read into is never read into again over bytes handed on: all pieces still intact
  assertEquals(framesOf(got).map((f) => f.p), payloads);
});

Deno.test("readFrames: a DATA frame split over many reads goes on as it arrives, not when whole", async () => {
  const { wire, payloads } = dataFrames([100_000]);
  const seen: number[] = [];
  let reads = 0;
  const conn = new ScriptedConn(wire, () => {
    reads++;
    return 20_000;
  });
  await readFrames(conn, (_t, _f, _id, p) => seen.push(reads * 1e6 + p.length), () => false, {
    maxFrame: 256 << 10,
  });
  // each read's bytes are handed on in the same turn as the read
  assertEquals(seen.map((x) => Math.floor(x / 1e6)), [1, 2, 3, 4, 5, 6]);
  assertEquals(seen.reduce((n, x) => n + (x % 1e6), 0), payloads[0].length);
});

Deno.test("readFrames: a long answer is read in reads that grow from 16 KiB to 256 KiB and no further", async () => {
  // 1 MiB of 16 KiB DATA frames, the peer always having more than asked
  const { wire, payloads } = dataFrames(new Array(64).fill(16384));
  const conn = new ScriptedConn(wire, () => 1 << 30);
  const got = await readAll(conn);
  assertEquals(framesOf(got).map((f) => f.p), payloads);
  assertEquals(conn.asked[0], 16 << 10, "an idle connection reads into 16 KiB");
  assertEquals(Math.max(...conn.asked), 256 << 10, "reads grow to 256 KiB, never past it");
  // 16 + 32 + 64 + 128 KiB, then 256 KiB reads: about 8 reads for 1 MiB (64 KiB reads took 19)
  assert(conn.asked.length <= 9, `1 MiB read in ${conn.asked.length} reads`);
});

Deno.test("readFrames: reads that come back short do not grow the read", async () => {
  const { wire } = dataFrames(new Array(16).fill(1000));
  const conn = new ScriptedConn(wire, () => 1009);
  await readAll(conn);
  assertEquals(Math.max(...conn.asked), 16 << 10);
});

Deno.test("readFrames: frames up to the announced maxFrame are taken, one byte more is a FRAME_SIZE_ERROR", async () => {
  const frameError = async (sizes: number[], maxFrame?: number): Promise<number | undefined> => {
    const { wire } = dataFrames(sizes);
    try {
      await readFrames(new ScriptedConn(wire, () => 1 << 30), () => {}, () => false, { maxFrame });
      return undefined;
    } catch (e) {
      if (e instanceof ConnectionError) return e.code;
      throw e;
    }
  };
  assertEquals(await frameError([16384]), undefined);
  assertEquals(await frameError([16385]), H2Error.FRAME_SIZE_ERROR, "default: 16 KiB");
  assertEquals(await frameError([100, 200_000, 256 << 10], 256 << 10), undefined);
  assertEquals(await frameError([(256 << 10) + 1], 256 << 10), H2Error.FRAME_SIZE_ERROR);
  // a large frame arrives intact
  const { wire, payloads } = dataFrames([200_000, 5]);
  const got = await readAll(new ScriptedConn(wire, () => 70_000), 256 << 10);
  assertEquals(framesOf(got).map((f) => f.p), payloads);
});
