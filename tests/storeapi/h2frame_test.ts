// readFrames, the HTTP/2 frame reader both our client and server run on (issue 19: the fixed cost
// of a query): frames arrive intact however the bytes are split, each payload is the reader's
// own copy, and a long answer is read in reads that grow from 16 KiB to 256 KiB (a 40 KB Series
// answer in one read instead of three, a 1 MB one in seven instead of nineteen) and never past
// that.

import { assert, assertEquals } from "../helpers/assert.ts";
import { h2Frame } from "../helpers/h2_raw.ts";
import {
  type ByteConn,
  ConnectionError,
  H2Error,
  readFrames,
  T_DATA,
} from "../../storeapi/h2frame.ts";

/** A ByteConn over fixed bytes: each read takes at most `split(i)` bytes; records the room asked. */
class ScriptedConn implements ByteConn {
  readonly asked: number[] = [];
  private off = 0;
  constructor(private readonly bytes: Uint8Array, private readonly split: (i: number) => number) {}

  read(p: Uint8Array): Promise<number | null> {
    this.asked.push(p.length);
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

/** DATA frames on stream 1 with payloads of the given sizes, each byte a function of its place. */
function dataFrames(sizes: number[]): { wire: Uint8Array; payloads: Uint8Array[] } {
  const payloads = sizes.map((n, k) =>
    Uint8Array.from({ length: n }, (_, i) => (i * 7 + k) & 0xff)
  );
  const frames = payloads.map((p) => h2Frame(T_DATA, 0, 1, p));
  const wire = new Uint8Array(frames.reduce((a, f) => a + f.length, 0));
  let o = 0;
  for (const f of frames) {
    wire.set(f, o);
    o += f.length;
  }
  return { wire, payloads };
}

async function readAll(conn: ByteConn): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  await readFrames(conn, (_t, _f, _id, p) => got.push(p), () => false);
  return got;
}

Deno.test("readFrames: frames arrive intact whatever the read sizes, as payloads of their own", async () => {
  const sizes = [0, 1, 8, 9, 100, 16384, 5000, 16384, 16384, 3, 12000, 16384, 7];
  const { wire, payloads } = dataFrames(sizes);
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
    assertEquals(got.length, payloads.length);
    for (let k = 0; k < got.length; k++) assertEquals(got[k], payloads[k], `frame ${k}`);
    // each payload is its own copy: no two share a buffer with the reader or each other
    const buffers = new Set(got.filter((p) => p.length > 0).map((p) => p.buffer));
    assertEquals(buffers.size, got.filter((p) => p.length > 0).length);
  }
});

Deno.test("readFrames: a long answer is read in reads that grow from 16 KiB to 256 KiB and no further", async () => {
  // 1 MiB of 16 KiB DATA frames, the peer always having more than asked
  const { wire, payloads } = dataFrames(new Array(64).fill(16384));
  const conn = new ScriptedConn(wire, () => 1 << 30);
  const got = await readAll(conn);
  assertEquals(got.length, payloads.length);
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
  const got: Uint8Array[] = [];
  await readFrames(
    new ScriptedConn(wire, () => 70_000),
    (_t, _f, _id, p) => got.push(p),
    () => false,
    {
      maxFrame: 256 << 10,
    },
  );
  assertEquals(got, payloads);
});
