// The bucket conformance suite, run against FILESYSTEM and S3 (a real S3-compatible server:
// npm s3rver in a Deno child process on 127.0.0.1), and fault tests through a small
// fault-injecting HTTP proxy in front of that server (both from tests/helpers/s3.ts).

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { createHash } from "node:crypto";
import {
  type Bucket,
  BucketTimeoutError,
  InvalidObjectNameError,
  ObjectNotFoundError,
  TransientBucketError,
} from "../../objstore/bucket.ts";
import { bucketPermissions, createBucket, parseBucketConfig } from "../../objstore/config.ts";
import { InstrumentedBucket } from "../../objstore/instrumented.ts";
import { S3Bucket } from "../../objstore/s3.ts";
import { bucketByteSource } from "../../objstore/bytesource.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import { Registry } from "../../metrics/registry.ts";
import {
  s3ConfigYaml,
  s3Error,
  s3TestGate,
  startFaultProxy,
  startS3Server,
} from "../helpers/s3.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const n of it) out.push(n);
  return out;
}

function pattern(size: number, seed = 1): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0;
  for (let i = 0; i < words.length; i++) {
    x = (x + 0x9e3779b9) >>> 0;
    words[i] = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0;
  }
  return new Uint8Array(words.buffer, 0, size);
}

function md5(b: Uint8Array): string {
  return createHash("md5").update(b).digest("hex");
}

function streamOf(chunks: Uint8Array[], failAfter?: number): ReadableStream<Uint8Array> {
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

interface SuiteTarget {
  bucket: Bucket;
  /** Requests the provider sent so far (S3 only). */
  requests?: () => number;
}

/** The conformance suite every provider must pass (Thanos' acceptance test and more). */
async function conformance(t: Deno.TestContext, target: SuiteTarget): Promise<void> {
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

const gate = await s3TestGate();

Deno.test("FILESYSTEM bucket passes the conformance suite", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const reg = new Registry();
    const b = await createBucket(
      parseBucketConfig(`type: filesystem\nconfig:\n  directory: ${dir}\n`),
      { registry: reg },
    );
    await conformance(t, { bucket: b });
    const text = await reg.expose();
    assert(
      /thanos_objstore_bucket_operations_total\{bucket="fs: [^"]+",operation="get"\} [1-9]/.test(
        text,
      ),
      text,
    );
    await b.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("in-memory bucket passes the conformance suite", async (t) => {
  await conformance(t, { bucket: new InstrumentedBucket(new MemoryBucket()) });
});

Deno.test({
  name: "S3 bucket (s3rver) passes the conformance suite",
  ignore: gate.ignore,
  async fn(t) {
    const srv = await startS3Server();
    try {
      const reg = new Registry();
      const b = await createBucket(
        parseBucketConfig(s3ConfigYaml(srv.endpoint, "  part_size: 5242880\n")),
        { registry: reg },
      );
      const s3 = (b as InstrumentedBucket).unwrapped as S3Bucket;
      await conformance(t, { bucket: b, requests: () => s3.requests });
      const text = await reg.expose();
      // Only get("") failed: not-found answers are expected, not failures.
      assert(
        text.includes(
          'thanos_objstore_bucket_operation_failures_total{bucket="thanos-test",operation="get"} 1',
        ),
        text,
      );
      assert(
        /thanos_objstore_bucket_operation_duration_seconds_count\{bucket="thanos-test",operation="upload"\} [1-9]/
          .test(text),
        text,
      );
      await b.close();
    } finally {
      await srv.stop();
    }
  },
});

Deno.test({
  name: "S3 bucket with ListObjects v1 and a prefix lists like v2",
  ignore: gate.ignore,
  async fn() {
    const srv = await startS3Server();
    try {
      const b = await createBucket(
        parseBucketConfig(
          s3ConfigYaml(srv.endpoint, "  list_objects_version: v1\nprefix: /tenant-a/\n"),
        ),
      );
      const raw = await createBucket(parseBucketConfig(s3ConfigYaml(srv.endpoint)));
      // (s3rver does not report a common prefix whose objects are all nested deeper, so b/ also
      // gets a direct child.)
      for (const n of ["a/1", "a/2", "b/4", "b/c/3", "top"]) await b.upload(n, enc.encode(n));
      await raw.upload("outside", enc.encode("x"));
      assertEquals(await collect(b.iter("")), ["a/", "b/", "top"]);
      assertEquals(await collect(b.iter("", { recursive: true })), [
        "a/1",
        "a/2",
        "b/4",
        "b/c/3",
        "top",
      ]);
      assertEquals(await collect(raw.iter("")), ["outside", "tenant-a/"]);
      assertEquals(dec.decode(await raw.get("tenant-a/b/c/3")), "b/c/3");
      await b.close();
      await raw.close();
    } finally {
      await srv.stop();
    }
  },
});

Deno.test("FILESYSTEM prefix maps names under <directory>/<prefix>/", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const b = await createBucket(
      parseBucketConfig(`type: FILESYSTEM\nprefix: "//t1/x/"\nconfig:\n  directory: ${dir}\n`),
    );
    await b.upload("blk/meta.json", enc.encode("{}"));
    assertEquals(await Deno.readTextFile(`${dir}/t1/x/blk/meta.json`), "{}");
    assertEquals(await collect(b.iter("")), ["blk/"]);
    assertEquals(await collect(b.iter("blk")), ["blk/meta.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function listFilesRecursive(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await listFilesRecursive(p));
    else out.push(p);
  }
  return out;
}

Deno.test("FILESYSTEM failed upload leaves no partial file and keeps the old object", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const b = await createBucket(
      parseBucketConfig(`type: FILESYSTEM\nconfig:\n  directory: ${dir}`),
    );
    const mib = pattern(1024 * 1024);
    await assertRejects(() => b.upload("blk/chunks/000001", streamOf([mib, mib, mib], 2)));
    assertEquals(await b.exists("blk/chunks/000001"), false);
    assertEquals(await listFilesRecursive(dir), [], "no temporary or partial files remain");
    await b.upload("blk/index", enc.encode("v1"));
    await assertRejects(() => b.upload("blk/index", streamOf([mib, mib], 1)));
    assertEquals(dec.decode(await b.get("blk/index")), "v1");
    assertEquals(await listFilesRecursive(dir), [`${dir}/blk/index`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "S3 503 answered twice is retried transparently",
  ignore: gate.ignore,
  async fn() {
    const srv = await startS3Server();
    const proxy = startFaultProxy(srv.endpoint);
    try {
      const reg = new Registry();
      const b = await createBucket(parseBucketConfig(s3ConfigYaml(proxy.endpoint)), {
        registry: reg,
        maxRetries: 5,
      });
      await b.upload("blk/meta.json", enc.encode('{"version":1}'));
      let injected = 0;
      proxy.fault = (req, url) => {
        if (req.method === "GET" && url.pathname.endsWith("/blk/meta.json") && injected < 2) {
          injected++;
          return s3Error(503, "ServiceUnavailable");
        }
        return "forward";
      };
      assertEquals(dec.decode(await b.get("blk/meta.json")), '{"version":1}');
      const gets = proxy.requests.filter((r) => r.method === "GET");
      assertEquals(gets.map((r) => r.status), [503, 503, 200]);
      const text = await reg.expose();
      assert(text.includes('operations_total{bucket="thanos-test",operation="get"} 1'), text);
      assert(text.includes('failures_total{bucket="thanos-test",operation="get"} 0'), text);
      // Throttling (SlowDown) is transient too.
      injected = 0;
      proxy.fault = (req) => {
        if (req.method === "HEAD" && injected < 1) {
          injected++;
          return new Response(null, { status: 503 });
        }
        return "forward";
      };
      assertEquals(await b.exists("blk/meta.json"), true);
      await b.close();
    } finally {
      await proxy.close();
      await srv.stop();
    }
  },
});

Deno.test({
  name: "S3 server stopped mid-test gives bounded retries then a clear error in time",
  ignore: gate.ignore,
  async fn() {
    const srv = await startS3Server();
    let stopped = false;
    try {
      const reg = new Registry();
      const logs: string[] = [];
      const b = await createBucket(parseBucketConfig(s3ConfigYaml(srv.endpoint)), {
        registry: reg,
        timeoutMs: 5_000,
        maxRetries: 3,
        logger: (msg) => logs.push(msg),
      });
      await b.upload("blk/index", enc.encode("index"));
      await srv.stop();
      stopped = true;
      const start = performance.now();
      const e = await assertRejects(() => b.get("blk/index"));
      const took = performance.now() - start;
      assert(took < 5_000 + 1_000, `error after ${took}ms, beyond the 5s timeout`);
      assert(
        e instanceof TransientBucketError || e instanceof BucketTimeoutError,
        `unexpected error ${e}`,
      );
      assert(/4 attempts/.test(e.message), e.message);
      assert(e.message.includes(srv.endpoint), `error names the endpoint: ${e.message}`);
      assertEquals(logs.length, 3, "three retries logged");
      assert(
        (await reg.expose()).includes('failures_total{bucket="thanos-test",operation="get"} 1'),
      );
      await b.close();
    } finally {
      if (!stopped) await srv.stop();
    }
  },
});

Deno.test({
  name: "S3 server that never answers fails with BucketTimeoutError at the deadline",
  ignore: gate.ignore,
  async fn() {
    const srv = await startS3Server();
    const proxy = startFaultProxy(srv.endpoint);
    try {
      const b = await createBucket(parseBucketConfig(s3ConfigYaml(proxy.endpoint)), {
        timeoutMs: 1_500,
      });
      proxy.fault = () => "hang";
      const start = performance.now();
      const e = await assertRejects(() => b.attributes("blk/meta.json"), BucketTimeoutError);
      const took = performance.now() - start;
      assert(took >= 1_400 && took < 3_000, `timed out after ${took}ms`);
      assert(e.message.includes("timed out after 1500ms"), e.message);
      // A caller's AbortSignal cancels too, without retries.
      const ac = new AbortController();
      setTimeout(() => ac.abort(new Error("shutdown")), 200);
      const e2 = await assertRejects(() => b.get("blk/meta.json", ac.signal));
      assertEquals(e2.message, "shutdown");
      await b.close();
    } finally {
      await proxy.close();
      await srv.stop();
    }
  },
});

Deno.test({
  name: "S3 failed multipart upload is aborted and leaves no object",
  ignore: gate.ignore,
  async fn() {
    const srv = await startS3Server();
    const proxy = startFaultProxy(srv.endpoint);
    try {
      const b = await createBucket(
        parseBucketConfig(s3ConfigYaml(proxy.endpoint, "  part_size: 5242880\n")),
        { maxRetries: 1 },
      );
      proxy.fault = (req, url) => {
        if (req.method === "PUT" && url.searchParams.get("partNumber") === "3") {
          return s3Error(403, "AccessDenied");
        }
        // s3rver lacks AbortMultipartUpload: answer it like S3 does.
        if (req.method === "DELETE" && url.searchParams.has("uploadId")) {
          return new Response(null, { status: 204 });
        }
        return "forward";
      };
      const data = pattern(12 * 1024 * 1024, 3);
      const e = await assertRejects(() => b.upload("blk/chunks/000001", data));
      assert(e.message.includes("AccessDenied"), e.message);
      const aborts = proxy.requests.filter((r) =>
        r.method === "DELETE" && r.search.includes("uploadId")
      );
      assertEquals(aborts.length, 1, "the multipart upload was aborted");
      assertEquals(await b.exists("blk/chunks/000001"), false);
      // A broken source stream aborts the upload the same way.
      const mib = pattern(1024 * 1024);
      const chunks = Array.from({ length: 8 }, () => mib);
      await assertRejects(() => b.upload("blk/chunks/000002", streamOf(chunks, 7)));
      assertEquals(
        proxy.requests.filter((r) => r.method === "DELETE" && r.search.includes("uploadId"))
          .length,
        2,
      );
      assertEquals(await b.exists("blk/chunks/000002"), false);
      await b.close();
    } finally {
      await proxy.close();
      await srv.stop();
    }
  },
});

Deno.test({
  name: "s3rver test peer starts on 127.0.0.1 and stops cleanly",
  ignore: gate.ignore,
  async fn() {
    const srv = await startS3Server();
    try {
      const res = await fetch(`http://${srv.endpoint}/`);
      await res.body?.cancel();
      assert(res.status === 200 || res.status === 403, `unexpected status ${res.status}`);
    } finally {
      await srv.stop();
    }
    let refused = false;
    try {
      await fetch(`http://${srv.endpoint}/`);
    } catch {
      refused = true;
    }
    assertEquals(refused, true);
  },
});

Deno.test({
  name: "S3 bucket works inside exactly the Deno permissions bucketPermissions grants",
  ignore: gate.ignore,
  async fn() {
    const srv = await startS3Server();
    const dir = await Deno.makeTempDir();
    try {
      const script = `${dir}/use_bucket.ts`;
      await Deno.writeTextFile(
        script,
        `import { createBucket, parseBucketConfig } from "${
          import.meta.resolve("../../objstore/config.ts")
        }";
const b = await createBucket(parseBucketConfig(Deno.args[0]), { maxRetries: 0 });
await b.upload("x/y", new TextEncoder().encode("hello"));
const back = new TextDecoder().decode(await b.get("x/y"));
const names = [];
for await (const n of b.iter("")) names.push(n);
await b.close();
console.log(JSON.stringify({ back, names }));
`,
      );
      const withKeys = s3ConfigYaml(srv.endpoint);
      // Without keys the SDK's credential chain finds them in the environment.
      const chain = withKeys.replace(/ {2}access_key.*\n {2}secret_key.*\n/, "");
      for (const yaml of [withKeys, chain]) {
        const p = bucketPermissions(parseBucketConfig(yaml));
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--no-prompt",
            // the script lives outside the repo: name the config whose import map resolves "yaml"
            `--config=${new URL("../../deno.json", import.meta.url).pathname}`,
            `--allow-net=${p.net.join(",")}`,
            p.env === true ? "--allow-env" : `--allow-env=${p.env.join(",")}`,
            `--allow-sys=${p.sys.join(",")}`,
            ...(p.read.length > 0 ? [`--allow-read=${p.read.join(",")}`] : []),
            script,
            yaml,
          ],
          env: { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const err = new TextDecoder().decode(out.stderr);
        assert(out.success, `bucket failed under its permissions: ${err.slice(0, 1500)}`);
        assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)), {
          back: "hello",
          names: ["x/"],
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
      await srv.stop();
    }
  },
});
