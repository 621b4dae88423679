// The bucket conformance suite every provider runs (FILESYSTEM, memory, S3, AZURE): Thanos'
// objstore acceptance test and more, plus the small data helpers the provider tests share.

import { assert, assertEquals, assertRejects } from "./assert.ts";
import { createHash } from "node:crypto";
import {
  type Bucket,
  InvalidObjectNameError,
  ObjectNotFoundError,
  streamBucketRange,
} from "../../objstore/bucket.ts";
import { bucketByteSource } from "../../objstore/bytesource.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

export async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const n of it) out.push(n);
  return out;
}

export function pattern(size: number, seed = 1): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0;
  for (let i = 0; i < words.length; i++) {
    x = (x + 0x9e3779b9) >>> 0;
    words[i] = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0;
  }
  return new Uint8Array(words.buffer, 0, size);
}

export function md5(b: Uint8Array): string {
  return createHash("md5").update(b).digest("hex");
}

export function streamOf(chunks: Uint8Array[], failAfter?: number): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (failAfter !== undefined && i === failAfter) {
        ctrl.error(new Error("source stream broke"));
        return;
      }
      if (i < chunks.length) ctrl.enqueue(chunks[i++]);
      else ctrl.close();
    },
  });
}

/** A range read through `streamBucketRange`: its pieces copied and joined, and the count. */
export async function streamed(
  b: Bucket,
  name: string,
  offset: number,
  length: number,
): Promise<{ bytes: Uint8Array; count: number; pieces: number }> {
  const parts: Uint8Array[] = [];
  const count = await streamBucketRange(b, name, offset, length, (p) => parts.push(p.slice()));
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { bytes, count, pieces: parts.length };
}

export interface SuiteTarget {
  bucket: Bucket;
  /** Requests the provider sent so far (S3 only). */
  requests?: () => number;
}

/** The conformance suite every provider must pass (Thanos' acceptance test and more). */
export async function conformance(t: Deno.TestContext, target: SuiteTarget): Promise<void> {
  const b = target.bucket;

  await t.step("missing objects give ObjectNotFoundError; exists is false", async () => {
    await assertRejects(() => b.get("id1/obj_1.some"), ObjectNotFoundError);
    await assertRejects(() => b.getRange("id1/obj_1.some", 0, 3), ObjectNotFoundError);
    await assertRejects(() => b.attributes("id1/obj_1.some"), ObjectNotFoundError);
    await assertRejects(() => b.delete("id1/obj_1.some"), ObjectNotFoundError);
    assertEquals(await b.exists("id1/obj_1.some"), false);
    const e = await assertRejects(() => b.get(""));
    assert(!(e instanceof ObjectNotFoundError), "an empty name is a user error, not not-found");
    assert(e instanceof InvalidObjectNameError, String(e));
  });

  await t.step("upload then get, attributes and exists see the object", async () => {
    const before = Date.now();
    await b.upload("id1/obj_1.some", enc.encode("@test-data@"));
    assertEquals(dec.decode(await b.get("id1/obj_1.some")), "@test-data@");
    const attrs = await b.attributes("id1/obj_1.some");
    assertEquals(attrs.size, 11);
    assert(Math.abs(attrs.lastModified.getTime() - before) < 5 * 60_000, "lastModified is recent");
    assertEquals(await b.exists("id1/obj_1.some"), true);
    assertEquals(await b.exists("id1"), false);
  });

  await t.step("range reads at the start, middle and end of an object", async () => {
    const data = pattern(1000, 7);
    await b.upload("ranges/obj", data);
    assertEquals(await b.getRange("ranges/obj", 0, 10), data.subarray(0, 10));
    assertEquals(await b.getRange("ranges/obj", 500, 100), data.subarray(500, 600));
    assertEquals(await b.getRange("ranges/obj", 990, 10), data.subarray(990, 1000));
    assertEquals(await b.getRange("ranges/obj", 995, 100), data.subarray(995), "short at end");
    assertEquals(await b.getRange("ranges/obj", 900, -1), data.subarray(900), "to the end");
    assertEquals((await b.getRange("ranges/obj", 2000, 10)).length, 0, "past the end");
    assertEquals((await b.getRange("ranges/obj", 10, 0)).length, 0, "empty range");
    assertEquals(dec.decode(await b.getRange("id1/obj_1.some", 1, 3)), "tes");
    assertEquals(dec.decode(await b.getRange("id1/obj_1.some", 3, 9999)), "st-data@");
    const src = await bucketByteSource(b, "ranges/obj");
    assertEquals(src.size, 1000);
    assertEquals(await src.read(998, 10), data.subarray(998));
    await b.delete("ranges/obj");
  });

  await t.step("ranges streamed in pieces are getRange's bytes, short at the end", async () => {
    const data = pattern(300_000, 9);
    await b.upload("ranges/streamed", data);
    for (
      const [offset, length] of [
        [0, 10],
        [1000, 200_000], // several pieces
        [299_990, 10],
        [299_000, 5000], // short at the end
        [100_000, -1], // to the end
        [400_000, 10], // past the end
        [10, 0],
      ]
    ) {
      const got = await streamed(b, "ranges/streamed", offset, length);
      assertEquals(
        got.bytes,
        await b.getRange("ranges/streamed", offset, length),
        `${offset}+${length}`,
      );
      assertEquals(got.count, got.bytes.length);
    }
    await assertRejects(() => streamed(b, "ranges/missing", 0, 10), ObjectNotFoundError);
    await b.delete("ranges/streamed");
  });

  await t.step("upload overwrites an existing object", async () => {
    await b.upload("id1/obj_2.some", enc.encode("first version, longer"));
    await b.upload("id1/obj_2.some", enc.encode("@test-data2@"));
    assertEquals(dec.decode(await b.get("id1/obj_2.some")), "@test-data2@");
    assertEquals((await b.attributes("id1/obj_2.some")).size, 12);
  });

  await t.step("stream uploads and file uploads", async () => {
    await b.upload(
      "id1/obj_3.some",
      streamOf([enc.encode("@test"), enc.encode("-"), enc.encode("data3@")]),
    );
    assertEquals(dec.decode(await b.get("id1/obj_3.some")), "@test-data3@");
    const tmp = await Deno.makeTempFile();
    try {
      await Deno.writeTextFile(tmp, "@test-data4@");
      await b.uploadFile!("id1/sub/subobj_1.some", tmp);
    } finally {
      await Deno.remove(tmp);
    }
    assertEquals(dec.decode(await b.get("id1/sub/subobj_1.some")), "@test-data4@");
    await b.upload("id1/sub/subobj_2.some", enc.encode("@test-data5@"));
    await b.upload("id2/obj_4.some", enc.encode("@test-data6@"));
    await b.upload("obj_5.some", enc.encode("@test-data7@"));
    await b.upload("id1/sub/deeper/x", enc.encode("x"));
  });

  await t.step("iter lists one level with sub-directories, or recursively", async () => {
    assertEquals(await collect(b.iter("")), ["id1/", "id2/", "obj_5.some"]);
    const all = [
      "id1/obj_1.some",
      "id1/obj_2.some",
      "id1/obj_3.some",
      "id1/sub/deeper/x",
      "id1/sub/subobj_1.some",
      "id1/sub/subobj_2.some",
      "id2/obj_4.some",
      "obj_5.some",
    ];
    assertEquals(await collect(b.iter("", { recursive: true })), all);
    const id1 = ["id1/obj_1.some", "id1/obj_2.some", "id1/obj_3.some", "id1/sub/"];
    assertEquals(await collect(b.iter("id1/")), id1);
    assertEquals(await collect(b.iter("id1")), id1);
    assertEquals(await collect(b.iter("id1", { recursive: true })), all.slice(0, 6));
    assertEquals(await collect(b.iter("id1/sub")), [
      "id1/sub/deeper/",
      "id1/sub/subobj_1.some",
      "id1/sub/subobj_2.some",
    ]);
    assertEquals(await collect(b.iter("id0")), []);
    assertEquals(await collect(b.iter("obj_5.some")), []);
  });

  await t.step("delete removes objects and emptied directories from listings", async () => {
    await b.delete("id1/obj_2.some");
    assertEquals(await collect(b.iter("id1/")), ["id1/obj_1.some", "id1/obj_3.some", "id1/sub/"]);
    await b.delete("id2/obj_4.some");
    assertEquals(await collect(b.iter("")), ["id1/", "obj_5.some"]);
    await assertRejects(() => b.delete("id2/obj_4.some"), ObjectNotFoundError);
  });

  await t.step("a 50 MiB file upload is multipart and reads back exactly", async () => {
    const size = 50 * 1024 * 1024;
    const data = pattern(size, 42);
    const tmp = await Deno.makeTempFile();
    try {
      await Deno.writeFile(tmp, data);
      const before = target.requests?.() ?? 0;
      await b.uploadFile!("big/chunks/000001", tmp);
      if (target.requests) {
        // create + 10 parts of 5 MiB + complete
        const sent = target.requests() - before;
        assert(sent >= 12, `expected a multipart upload (≥ 12 requests), saw ${sent}`);
      }
    } finally {
      await Deno.remove(tmp);
    }
    assertEquals((await b.attributes("big/chunks/000001")).size, size);
    assertEquals(await b.getRange("big/chunks/000001", 0, 4096), data.subarray(0, 4096));
    const mid = 5 * 1024 * 1024 - 100; // straddles the first part boundary
    assertEquals(await b.getRange("big/chunks/000001", mid, 300), data.subarray(mid, mid + 300));
    assertEquals(await b.getRange("big/chunks/000001", size - 77, 1000), data.subarray(size - 77));
    assertEquals(md5(await b.get("big/chunks/000001")), md5(data));
    // longer than a synchronous FILESYSTEM read
    const long = await streamed(b, "big/chunks/000001", mid, 3 * 1024 * 1024);
    assertEquals(md5(long.bytes), md5(data.subarray(mid, mid + 3 * 1024 * 1024)));
    // A 12 MiB stream of small chunks is multipart too (parts assembled from the stream).
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < 12; i++) chunks.push(pattern(1024 * 1024, 100 + i));
    await b.upload("big/stream", streamOf(chunks));
    const back = await b.get("big/stream");
    assertEquals(back.length, 12 * 1024 * 1024);
    assertEquals(back.subarray(11 * 1024 * 1024), chunks[11]);
    await b.delete("big/chunks/000001");
    await b.delete("big/stream");
  });
}
