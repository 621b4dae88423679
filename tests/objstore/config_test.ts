import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  BucketConfigError,
  bucketPermissions,
  createBucket,
  parseBucketConfig,
  parsePromDuration,
} from "../../objstore/config.ts";
import { S3Bucket } from "../../objstore/s3.ts";

function configError(yaml: string, env?: Record<string, string>): string {
  const e = assertThrows(() => parseBucketConfig(yaml, { env }), BucketConfigError);
  assert(!e.message.includes("\n"), `one line: ${e.message}`);
  return e.message;
}

Deno.test("FILESYSTEM config: type is case-insensitive and prefix is trimmed", () => {
  for (const t of ["FILESYSTEM", "filesystem", "FileSystem"]) {
    const c = parseBucketConfig(`type: ${t}\nconfig:\n  directory: /data/bkt\nprefix: /a/b//\n`);
    assertEquals(c, { type: "FILESYSTEM", prefix: "a/b", config: { directory: "/data/bkt" } });
  }
  // Only the first YAML document counts.
  const c = parseBucketConfig("type: FILESYSTEM\nconfig:\n  directory: d\n---\ntype: S3\n");
  assertEquals(c.type, "FILESYSTEM");
});

Deno.test("S3 config: every Thanos field is read, with Thanos' defaults", () => {
  const c = parseBucketConfig(`type: s3
config:
  bucket: thanos
  endpoint: minio:9000
  access_key: AK
  secret_key: SK
  insecure: true
  bucket_lookup_type: virtual-host
  put_user_metadata:
    X-Amz-Storage-Class: STANDARD_IA
    team: obs
  http_config:
    idle_conn_timeout: 1m30s
    response_header_timeout: 30s
    insecure_skip_verify: true
  sse_config:
    type: SSE-KMS
    kms_key_id: key-1
    kms_encryption_context: { a: b }
  list_objects_version: v1
`);
  assert(c.type === "S3");
  const s = c.config;
  assertEquals(s.bucket, "thanos");
  assertEquals(s.endpoint, "minio:9000");
  assertEquals(s.region, "");
  assertEquals(s.insecure, true);
  assertEquals(s.bucket_lookup_type, "virtual-hosted");
  assertEquals(s.part_size, 64 * 1024 * 1024);
  assertEquals(s.send_content_md5, true);
  assertEquals(s.disable_multipart, false);
  assertEquals(s.put_user_metadata, { "X-Amz-Storage-Class": "STANDARD_IA", team: "obs" });
  assertEquals(s.http_config.idle_conn_timeout, 90_000);
  assertEquals(s.http_config.response_header_timeout, 30_000);
  assertEquals(s.http_config.tls_handshake_timeout, 10_000);
  assertEquals(s.http_config.max_idle_conns, 100);
  assertEquals(s.http_config.insecure_skip_verify, true);
  assertEquals(s.http_config.tls_config.ca_file, "");
  assertEquals(s.sse_config, {
    type: "SSE-KMS",
    kms_key_id: "key-1",
    kms_encryption_context: { a: "b" },
    encryption_key: "",
  });
  assertEquals(s.list_objects_version, "v1");
  assertEquals(s.trace, { enable: false });
});

Deno.test("bad configs give one line naming the problem", () => {
  const base = "type: S3\nconfig:\n  endpoint: s3.amazonaws.com\n";
  assert(configError(base).includes("missing field config.bucket"));
  assert(configError("type: S3\nconfig:\n  bucket: b\n").includes("config.endpoint"));
  const unknown = configError(base + "  bucket: b\n  buckets: typo\n");
  assert(unknown.includes("unknown field config.buckets"), unknown);
  const nested = configError(base + "  bucket: b\n  http_config:\n    idle_timeout: 1s\n");
  assert(nested.includes("unknown field config.http_config.idle_timeout"), nested);
  const envelope = configError("type: FILESYSTEM\nconfig: {directory: d}\nprefx: a\n");
  assert(envelope.includes("unknown field prefx"), envelope);
  const wrongInt = configError(base + "  bucket: b\n  part_size: lots\n");
  assertEquals(
    wrongInt,
    'objstore config: field config.part_size: expected a non-negative integer, got string "lots"',
  );
  const wrongBool = configError(base + "  bucket: b\n  insecure: maybe\n");
  assert(wrongBool.includes("field config.insecure: expected a boolean"), wrongBool);
  const wrongDur = configError(base + "  bucket: b\n  http_config: {idle_conn_timeout: 5}\n");
  assert(wrongDur.includes("config.http_config.idle_conn_timeout: expected a duration"), wrongDur);
  const wrongMap = configError(base + "  bucket: b\n  put_user_metadata: [a]\n");
  assert(wrongMap.includes("config.put_user_metadata: expected a mapping"), wrongMap);
  const lookup = configError(base + "  bucket: b\n  bucket_lookup_type: dns\n");
  assert(lookup.includes("auto, virtual-hosted, path"), lookup);
  const gcs = configError("type: GCS\nconfig:\n  bucket: b\n");
  assertEquals(
    gcs,
    "objstore config: type GCS is not supported by this build; supported types: FILESYSTEM, S3, AZURE",
  );
  assert(configError("type: FTP\nconfig: {}\n").includes("supported types: FILESYSTEM, S3"));
  assert(configError("config:\n  directory: d\n").includes("missing field type"));
  assert(configError("type: FILESYSTEM\n").includes("config.directory"));
  assert(configError("").includes("empty configuration"));
  assert(configError("type: [S3\n").includes("invalid YAML"));
  const v2 = configError(base + "  bucket: b\n  signature_version2: true\n");
  assert(v2.includes("signature_version2: true is not supported"), v2);
  const both = configError(base + "  bucket: b\n  access_key: x\n");
  assert(both.includes("config.secret_key"), both);
  const scheme = configError("type: S3\nconfig:\n  bucket: b\n  endpoint: http://minio:9000\n");
  assert(scheme.includes("without scheme"), scheme);
  const ssec = configError(base + "  bucket: b\n  sse_config: {type: SSE-C}\n");
  assert(ssec.includes("encryption_key"), ssec);
  const sse = configError(base + "  bucket: b\n  sse_config: {type: SSE-X}\n");
  assert(sse.includes("SSE-S3, SSE-KMS, SSE-C"), sse);
});

Deno.test("$(VAR) references are substituted from the given environment", () => {
  const yaml = "type: S3\nconfig:\n  bucket: $(BUCKET)\n  endpoint: e:9000\n" +
    "  access_key: $(AK)\n  secret_key: $(SK)\n";
  const c = parseBucketConfig(yaml, { env: { BUCKET: "b1", AK: "a", SK: "s" } });
  assert(c.type === "S3");
  assertEquals([c.config.bucket, c.config.access_key, c.config.secret_key], ["b1", "a", "s"]);
  const msg = configError(yaml, { BUCKET: "b1" });
  assert(msg.includes("environment variable AK"), msg);
});

Deno.test("durations use Prometheus syntax", () => {
  assertEquals(parsePromDuration("1m30s"), 90_000);
  assertEquals(parsePromDuration("2h"), 7_200_000);
  assertEquals(parsePromDuration("1d"), 86_400_000);
  assertEquals(parsePromDuration("250ms"), 250);
  assertEquals(parsePromDuration("0"), 0);
  assertEquals(parsePromDuration("5"), null);
  assertEquals(parsePromDuration("1.5s"), null);
});

Deno.test("bucket lookup: auto uses virtual-host on AWS and path style elsewhere", () => {
  const s3 = (extra: string) => {
    const c = parseBucketConfig(`type: S3\nconfig:\n  bucket: b\n${extra}`);
    if (c.type !== "S3") throw new Error("not S3");
    return c.config;
  };
  assertEquals(S3Bucket.usesVirtualHost(s3("  endpoint: s3.eu-west-1.amazonaws.com\n")), true);
  assertEquals(S3Bucket.regionFor(s3("  endpoint: s3.eu-west-1.amazonaws.com\n")), "eu-west-1");
  assertEquals(S3Bucket.usesVirtualHost(s3("  endpoint: minio.local:9000\n")), false);
  assertEquals(S3Bucket.regionFor(s3("  endpoint: minio.local:9000\n")), "us-east-1");
  assertEquals(
    S3Bucket.usesVirtualHost(s3("  endpoint: minio:9000\n  bucket_lookup_type: virtual-hosted\n")),
    true,
  );
  assertEquals(
    S3Bucket.usesVirtualHost(s3("  endpoint: s3.amazonaws.com\n  bucket_lookup_type: path\n")),
    false,
  );
});

Deno.test("bucketPermissions names exactly what a bucket needs", () => {
  const fs = bucketPermissions(
    parseBucketConfig("type: FILESYSTEM\nconfig:\n  directory: /var/bkt\n"),
  );
  assertEquals(fs, { net: [], read: ["/var/bkt"], write: ["/var/bkt"], env: [], sys: [] });
  const withKeys = bucketPermissions(
    parseBucketConfig(
      "type: S3\nconfig:\n  bucket: b\n  endpoint: minio:9000\n  access_key: a\n  secret_key: s\n",
    ),
  );
  assertEquals(withKeys.net, ["minio:9000"]);
  const chain = bucketPermissions(
    parseBucketConfig("type: S3\nconfig:\n  bucket: b\n  endpoint: s3.eu-west-1.amazonaws.com\n"),
    { homeDir: "/home/u" },
  );
  assert(chain.net.includes("s3.eu-west-1.amazonaws.com:443"));
  assert(chain.net.includes("b.s3.eu-west-1.amazonaws.com:443"), "virtual-host name");
  assert(chain.net.includes("169.254.169.254:80"), "instance metadata for the credential chain");
  assert(chain.read.includes("/home/u/.aws"));
  assert(chain.read.includes("/etc/ssl/certs/ca-certificates.crt"), "system CAs for HTTPS");
  assertEquals(chain.env, true);
});

Deno.test("createBucket builds a FILESYSTEM bucket named after its directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const b = await createBucket(
      parseBucketConfig(`type: FILESYSTEM\nconfig: {directory: ${dir}}`),
    );
    assertEquals(b.name, `fs: ${dir}`);
    await b.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
