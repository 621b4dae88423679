// The shared retry/timeout/metrics layer with a scripted in-memory provider.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import {
  type Bucket,
  type IterOptions,
  ObjectNotFoundError,
  type RangePieceSink,
  TransientBucketError,
} from "../../objstore/bucket.ts";
import { InstrumentedBucket } from "../../objstore/instrumented.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import { pattern, streamed } from "../helpers/bucket_conformance.ts";
import { Registry } from "../../metrics/registry.ts";

class ScriptedBucket implements Bucket {
  readonly name = "scripted";
  calls = 0;
  failures: Error[] = [];
  names = ["a", "b/", "c", "d"];
  private nextFailure(): void {
    this.calls++;
    const f = this.failures.shift();
    if (f) throw f;
  }
  get(name: string): Promise<Uint8Array> {
    try {
      this.nextFailure();
    } catch (e) {
      return Promise.reject(e);
    }
    if (name === "missing") return Promise.reject(new ObjectNotFoundError(this.name, name));
    return Promise.resolve(new Uint8Array([1]));
  }
  getRange(name: string): Promise<Uint8Array> {
    return this.get(name);
  }
  async upload(_n: string, data: Uint8Array | ReadableStream<Uint8Array>): Promise<void> {
    if (!(data instanceof Uint8Array)) await data.cancel();
    this.nextFailure();
  }
  delete(): Promise<void> {
    return Promise.resolve();
  }
  exists(): Promise<boolean> {
    return Promise.resolve(true);
  }
  attributes() {
    return Promise.resolve({ size: 1, lastModified: new Date() });
  }
  async *iter(_dir: string, _opts?: IterOptions): AsyncIterable<string> {
    this.calls++;
    for (let i = 0; i < this.names.length; i++) {
      // Fails after two names on the first listing only.
      if (i === 2 && this.failures.length > 0) throw this.failures.shift()!;
      yield this.names[i];
    }
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const fast = { initialBackoffMs: 1, maxBackoffMs: 2 };

Deno.test("transient errors are retried, other errors are not", async () => {
  const inner = new ScriptedBucket();
  const reg = new Registry();
  const b = new InstrumentedBucket(inner, { registry: reg, maxRetries: 3, ...fast });
  inner.failures = [new TransientBucketError("503"), new TransientBucketError("reset")];
  assertEquals(await b.get("x"), new Uint8Array([1]));
  assertEquals(inner.calls, 3);
  inner.calls = 0;
  inner.failures = [new Error("access denied")];
  await assertRejects(() => b.get("x"), Error, "access denied");
  assertEquals(inner.calls, 1);
  inner.calls = 0;
  inner.failures = Array.from({ length: 10 }, () => new TransientBucketError("503"));
  const e = await assertRejects(() => b.get("x"), TransientBucketError);
  assert(e.message.includes("failed after 4 attempts"), e.message);
  assertEquals(inner.calls, 4);
  inner.failures = [];
  await assertRejects(() => b.get("missing"), ObjectNotFoundError);
  const text = await reg.expose();
  assert(text.includes('operations_total{bucket="scripted",operation="get"} 4'), text);
  // access denied + retries exhausted; not-found is an expected answer.
  assert(text.includes('failures_total{bucket="scripted",operation="get"} 2'), text);
  assert(text.includes('duration_seconds_count{bucket="scripted",operation="get"} 1'), text);
});

Deno.test("a listing that fails midway resumes without repeating names", async () => {
  const inner = new ScriptedBucket();
  const b = new InstrumentedBucket(inner, fast);
  inner.failures = [new TransientBucketError("connection reset")];
  const seen: string[] = [];
  for await (const n of b.iter("")) seen.push(n);
  assertEquals(seen, ["a", "b/", "c", "d"]);
  assertEquals(inner.calls, 2);
});

Deno.test("stream uploads are not retried (a stream can be read once)", async () => {
  const inner = new ScriptedBucket();
  const b = new InstrumentedBucket(inner, fast);
  inner.failures = [new TransientBucketError("503")];
  await assertRejects(() => b.upload("x", new Blob([new Uint8Array(3)]).stream()));
  assertEquals(inner.calls, 1);
  inner.calls = 0;
  inner.failures = [new TransientBucketError("503")];
  await b.upload("x", new Uint8Array(3));
  assertEquals(inner.calls, 2);
});

Deno.test("an aborted caller signal stops the operation without retries", async () => {
  const inner = new ScriptedBucket();
  const b = new InstrumentedBucket(inner, fast);
  const ac = new AbortController();
  ac.abort(new Error("shutting down"));
  await assertRejects(() => b.get("x", ac.signal), Error, "shutting down");
  assertEquals(inner.calls, 0);
});

/** An in-memory bucket streaming ranges in 100-byte pieces, failing once after `failAt` bytes. */
class PiecewiseBucket extends MemoryBucket {
  failAt = -1;
  ranges: [number, number][] = [];
  async streamRange(
    name: string,
    offset: number,
    length: number,
    sink: RangePieceSink,
  ): Promise<number> {
    this.ranges.push([offset, length]);
    const b = await this.getRange(name, offset, length);
    for (let p = 0; p < b.length; p += 100) {
      if (this.failAt >= 0 && p >= this.failAt) {
        this.failAt = -1;
        throw new TransientBucketError("connection reset mid-body");
      }
      sink(b.subarray(p, p + 100));
    }
    return b.length;
  }
}

Deno.test("a streamed range failing midway resumes after the bytes already handed over", async () => {
  const inner = new PiecewiseBucket();
  const data = pattern(1000, 2);
  await inner.upload("o", data);
  const reg = new Registry();
  const b = new InstrumentedBucket(inner, { registry: reg, ...fast });
  inner.failAt = 300;
  const got = await streamed(b, "o", 50, 900);
  assertEquals(got.bytes, data.subarray(50, 950));
  assertEquals(got.count, 900);
  assertEquals(inner.ranges, [[50, 900], [350, 600]]);
  // to the end of the object: the retry reads to the end too
  inner.ranges = [];
  inner.failAt = 500;
  assertEquals((await streamed(b, "o", 100, -1)).bytes, data.subarray(100));
  assertEquals(inner.ranges, [[100, -1], [600, -1]]);
  const text = await reg.expose();
  // one get_range operation per streamed range, counting the bytes read once
  assert(text.includes('operations_total{bucket="memory",operation="get_range"} 2'), text);
  assert(
    text.includes('fetched_bytes_total{bucket="memory",operation="get_range"} 1800'),
    text,
  );
});

Deno.test("a provider without streamRange is streamed as one getRange piece", async () => {
  const inner = new ScriptedBucket();
  const reg = new Registry();
  const b = new InstrumentedBucket(inner, { registry: reg, maxRetries: 3, ...fast });
  inner.failures = [new TransientBucketError("503")];
  const got = await streamed(b, "x", 0, 1);
  assertEquals(got, { bytes: new Uint8Array([1]), count: 1, pieces: 1 });
  assertEquals(inner.calls, 2);
  await assertRejects(() => streamed(b, "missing", 0, 1), ObjectNotFoundError);
  const text = await reg.expose();
  assert(text.includes('operations_total{bucket="scripted",operation="get_range"} 2'), text);
  assert(text.includes('fetched_bytes_total{bucket="scripted",operation="get_range"} 1'), text);
});
