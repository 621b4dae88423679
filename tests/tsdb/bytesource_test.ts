import { assertEquals } from "../helpers/assert.ts";
import { FileByteSource } from "../../tsdb/bytesource.ts";

/** A file of `n` bytes whose byte at `i` is `i * 7 + (i >> 8)` (mod 256): offsets show in it. */
async function withPatternFile(n: number, fn: (path: string, bytes: Uint8Array) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "bytesource-test-" });
  try {
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = (i * 7 + (i >> 8)) & 0xff;
    await Deno.writeFile(`${dir}/f`, bytes);
    await fn(`${dir}/f`, bytes);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Whether `p` settles before a chain of three microtasks does: a read made in place settles in
 * one; a seek and a read through asynchronous file calls take twice as many at best.
 */
async function settlesWithinMicrotasks(p: Promise<unknown>): Promise<boolean> {
  let chain: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < 3; i++) chain = chain.then(() => undefined);
  return await Promise.race([p.then(() => true), chain.then(() => false)]);
}

Deno.test("a small read of a local file is answered without a hop to the blocking pool", async () => {
  await withPatternFile(200_000, async (path, bytes) => {
    const src = await FileByteSource.open(path);
    try {
      const small = src.read(1000, 4096);
      assertEquals(await settlesWithinMicrotasks(small), true);
      assertEquals(await small, bytes.subarray(1000, 5096));
      // clamped at the end of the file, and empty past it
      assertEquals(await src.read(199_990, 100), bytes.subarray(199_990));
      assertEquals((await src.read(300_000, 10)).length, 0);
    } finally {
      src.close();
    }
  });
});

Deno.test("reads of a local file issued while a long one runs are served after it, each with its own bytes", async () => {
  await withPatternFile(3 << 20, async (path, bytes) => {
    const src = await FileByteSource.open(path);
    try {
      const order: string[] = [];
      const long = src.read(0, 2 << 20).then((b) => (order.push("long"), b));
      // small reads at other offsets while the long one holds the file position
      const smalls = [5_000, 2_500_000, 100].map((at) =>
        src.read(at, 512).then((b) => (order.push(`small ${at}`), { at, b }))
      );
      assertEquals(await long, bytes.subarray(0, 2 << 20));
      for (const { at, b } of await Promise.all(smalls)) {
        assertEquals(b, bytes.subarray(at, at + 512));
      }
      assertEquals(order, ["long", "small 5000", "small 2500000", "small 100"]);
      // and once it is done, small reads are immediate again
      assertEquals(await settlesWithinMicrotasks(src.read(10, 10)), true);
    } finally {
      src.close();
    }
  });
});
