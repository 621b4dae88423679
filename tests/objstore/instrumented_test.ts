// The shared retry/timeout/metrics layer with a scripted in-memory provider.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import {
  type Bucket,
  type IterOptions,
  ObjectNotFoundError,
  TransientBucketError,
} from "../../objstore/bucket.ts";
import { InstrumentedBucket } from "../../objstore/instrumented.ts";
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
