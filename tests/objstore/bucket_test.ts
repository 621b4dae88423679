// The bucket conformance suite (tests/helpers/bucket_conformance.ts), run against FILESYSTEM and
// S3 (a real S3-compatible server: npm s3rver in a Deno child process on 127.0.0.1; AZURE runs
// it in azure_test.ts), and fault tests through a small
// fault-injecting HTTP proxy in front of that server (both from tests/helpers/s3.ts).

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { BucketTimeoutError, TransientBucketError } from "../../objstore/bucket.ts";
import { bucketPermissions, createBucket, parseBucketConfig } from "../../objstore/config.ts";
import { InstrumentedBucket } from "../../objstore/instrumented.ts";
import { S3Bucket } from "../../objstore/s3.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import { Registry } from "../../metrics/registry.ts";
import {
  s3ConfigYaml,
  s3Error,
  s3TestGate,
  startFaultProxy,
  startS3Server,
} from "../helpers/s3.ts";
import {
  collect,
  conformance,
  pattern,
  streamed,
  streamOf,
} from "../helpers/bucket_conformance.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

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
    // ranges stream through the prefix from the provider, in pieces
    const data = pattern(300_000, 8);
    await b.upload("blk/chunks/000001", data);
    const got = await streamed(b, "blk/chunks/000001", 10, 299_000);
    assertEquals(got.bytes, data.subarray(10, 299_010));
    assert(got.pieces > 1, `${got.pieces} pieces`);
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
