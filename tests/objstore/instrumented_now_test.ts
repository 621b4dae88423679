// The instrumented bucket's reads answered on the caller's thread (`getRangeNow`,
// `streamRangeNow`): counted like any get_range, and a failure there is the first attempt's.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import {
  ObjectNotFoundError,
  PrefixedBucket,
  type RangePieceSink,
  TransientBucketError,
} from "../../objstore/bucket.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { InstrumentedBucket } from "../../objstore/instrumented.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import { pattern, streamed } from "../helpers/bucket_conformance.ts";
import { Registry } from "../../metrics/registry.ts";

/** A memory bucket that answers ranges of up to `nowMax` bytes on the thread, failing on cue. */
class NowBucket extends MemoryBucket {
  nowMax = 100;
  nowCalls = 0;
  asyncCalls = 0;
  /** Errors the next `…Now` calls throw (after handing `failAfter` bytes when streaming). */
  nowFailures: Error[] = [];
  failAfter = 0;

  getRangeNow(name: string, offset: number, length: number): Uint8Array | null {
    this.nowCalls++;
    if (length < 0 || length > this.nowMax) return null;
    const f = this.nowFailures.shift();
    if (f) throw f;
    const all = this.bytes(name);
    return all.slice(offset, Math.min(all.length, offset + length));
  }

  streamRangeNow(name: string, offset: number, length: number, sink: RangePieceSink) {
    this.nowCalls++;
    if (length < 0 || length > this.nowMax) return null;
    const all = this.bytes(name);
    const end = Math.min(all.length, offset + length);
    const f = this.nowFailures.shift();
    if (f) {
      sink(all.subarray(offset, offset + this.failAfter));
      throw f;
    }
    sink(all.subarray(offset, end));
    return end - offset;
  }

  override getRange(name: string, offset: number, length: number) {
    this.asyncCalls++;
    return super.getRange(name, offset, length);
  }

  private bytes(name: string): Uint8Array {
    const o = this.objects.get(name);
    if (o === undefined) throw new ObjectNotFoundError(this.name, name);
    return o.data;
  }
}

const fast = { initialBackoffMs: 1, maxBackoffMs: 2 };

async function metric(reg: Registry, name: string): Promise<number> {
  const text = await reg.expose();
  const line = text.split("\n").find((l) =>
    l.startsWith(`thanos_objstore_bucket_${name}{bucket="memory",operation="get_range"} `)
  );
  assert(line !== undefined, text);
  return Number(line.split(" ")[1]);
}

Deno.test("a range read answered on the thread counts as one get_range of its bytes", async () => {
  const inner = new NowBucket();
  const data = pattern(1000, 3);
  await inner.upload("o", data);
  const reg = new Registry();
  const b = new InstrumentedBucket(inner, { registry: reg, ...fast });
  assertEquals(await b.getRange("o", 10, 50), data.subarray(10, 60));
  assertEquals((await streamed(b, "o", 990, 100)).bytes, data.subarray(990));
  assertEquals(inner.asyncCalls, 0);
  assertEquals(await metric(reg, "operations_total"), 2);
  assertEquals(await metric(reg, "operation_fetched_bytes_total"), 60);
  assertEquals(await metric(reg, "operation_duration_seconds_count"), 2);
  // a range the provider would wait for goes the ordinary way
  assertEquals(await b.getRange("o", 0, 500), data.subarray(0, 500));
  assertEquals(inner.asyncCalls, 1);
  assertEquals(await metric(reg, "operations_total"), 3);
  assertEquals(await metric(reg, "operation_fetched_bytes_total"), 560);
});

Deno.test("a failed range read on the thread is the first attempt: retried when transient", async () => {
  const inner = new NowBucket();
  const data = pattern(300, 5);
  await inner.upload("o", data);
  const reg = new Registry();
  const b = new InstrumentedBucket(inner, { registry: reg, maxRetries: 2, ...fast });
  inner.nowFailures = [new TransientBucketError("503")];
  assertEquals(await b.getRange("o", 5, 20), data.subarray(5, 25));
  assertEquals(inner.asyncCalls, 1);
  // one operation, as for a retried read that never was on the thread
  assertEquals(await metric(reg, "operations_total"), 1);
  assertEquals(await metric(reg, "operation_failures_total"), 0);
  // not transient: thrown at once, not retried, and a missing object is no failure
  const before = inner.asyncCalls;
  await assertRejects(() => b.getRange("missing", 0, 10), ObjectNotFoundError);
  assertEquals(inner.asyncCalls, before);
  inner.nowFailures = [new Error("disk on fire")];
  await assertRejects(() => b.getRange("o", 0, 10), Error, "disk on fire");
  assertEquals(inner.asyncCalls, before);
  assertEquals(await metric(reg, "operation_failures_total"), 1);
  // an aborted caller is not read at all
  const calls = inner.nowCalls;
  const ctrl = new AbortController();
  ctrl.abort(new Error("gone"));
  await assertRejects(() => b.getRange("o", 0, 10, ctrl.signal), Error, "gone");
  assertEquals(inner.nowCalls, calls);
});

Deno.test("a streamed range failing on the thread resumes after the bytes handed over", async () => {
  const inner = new NowBucket();
  const data = pattern(200, 7);
  await inner.upload("o", data);
  const reg = new Registry();
  const b = new InstrumentedBucket(inner, { registry: reg, ...fast });
  inner.nowFailures = [new TransientBucketError("reset")];
  inner.failAfter = 30;
  const got = await streamed(b, "o", 40, 80);
  assertEquals(got.bytes, data.subarray(40, 120));
  assertEquals(got.count, 80);
  assertEquals(await metric(reg, "operations_total"), 1);
  assertEquals(await metric(reg, "operation_fetched_bytes_total"), 80);
});

Deno.test("a FILESYSTEM bucket reads small ranges on the thread, through a prefix too", async () => {
  const root = await Deno.makeTempDir({ prefix: "instrumented-now-" });
  try {
    const data = pattern(5000, 11);
    await Deno.mkdir(`${root}/p/01BLOCK`, { recursive: true });
    await Deno.writeFile(`${root}/p/01BLOCK/index`, data);
    const fs = new FilesystemBucket(root);
    const b = new PrefixedBucket(fs, "p");
    assertEquals(b.getRangeNow("01BLOCK/index", 4990, 100), data.subarray(4990));
    assertEquals(fs.getRangeNow("p/01BLOCK/index", 0, -1), null);
    assertEquals(fs.getRangeNow("p/01BLOCK/index", 0, (1 << 20) + 1), null);
    const pieces: Uint8Array[] = [];
    assertEquals(b.streamRangeNow("01BLOCK/index", 100, 200, (p) => pieces.push(p.slice())), 200);
    assertEquals(pieces[0], data.subarray(100, 300));
    assertEquals(fs.streamRangeNow("p/01BLOCK/index", 0, -1, () => {}), null);
    // the prefixed bucket's own stream and range, off the thread-answered path
    assertEquals((await streamed(b, "01BLOCK/index", 4000, -1)).bytes, data.subarray(4000));
    assertEquals(await b.getRange("01BLOCK/index", 0, -1), data);
    // a replaced object is read anew on the thread as well
    await Deno.writeFile(`${root}/p/01BLOCK/index.tmp`, pattern(5000, 12));
    await Deno.rename(`${root}/p/01BLOCK/index.tmp`, `${root}/p/01BLOCK/index`);
    assertEquals(b.getRangeNow("01BLOCK/index", 0, 10), pattern(5000, 12).subarray(0, 10));
    await fs.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
