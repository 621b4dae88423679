// The AZURE bucket: Thanos' config fields and checks, the permission grants derived from them,
// the shared conformance suite against a real Azure Blob Storage emulator (npm azurite, from
// tests/helpers/azurite.ts), and transient faults (503s injected by the fault proxy of
// tests/helpers/s3.ts, a stopped server) retried per the config and counted in the metrics.

import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { BucketTimeoutError, TransientBucketError } from "../../objstore/bucket.ts";
import {
  type AzureConfig,
  BucketConfigError,
  bucketPermissions,
  createBucket,
  parseBucketConfig,
} from "../../objstore/config.ts";
import type { InstrumentedBucket } from "../../objstore/instrumented.ts";
import type { AzureBucket } from "../../objstore/azure.ts";
import { Registry } from "../../metrics/registry.ts";
import {
  azureConfigYaml,
  AZURITE_KEY,
  azuriteTestGate,
  startAzurite,
  TEST_CONTAINER,
  TEST_TLS,
} from "../helpers/azurite.ts";
import { startFaultProxy } from "../helpers/s3.ts";
import { collect, conformance } from "../helpers/bucket_conformance.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function azure(yaml: string): AzureConfig {
  const c = parseBucketConfig(yaml);
  assertEquals(c.type, "AZURE");
  return c.config as AzureConfig;
}

Deno.test("AZURE config: Thanos' fields, defaults and max_retries fallback", () => {
  const c = azure(`type: azure
config:
  storage_account: acct
  storage_account_key: $(AZ_KEY)
  container: metrics
  max_retries: 4
  reader_config:
    max_retry_requests: 2
  pipeline_config:
    try_timeout: 30s
    retry_delay: 2s
    max_retry_delay: 1m
  http_config:
    idle_conn_timeout: 1m30s
    insecure_skip_verify: true
  msi_resource: ""
prefix: tenant
`.replace("$(AZ_KEY)", "a2V5"));
  assertEquals(c.endpoint, "blob.core.windows.net");
  assertEquals(c.storage_create_container, true);
  assertEquals(c.storage_account_key, "a2V5");
  assertEquals(c.pipeline_config, {
    max_tries: 4,
    try_timeout: 30_000,
    retry_delay: 2_000,
    max_retry_delay: 60_000,
  });
  assertEquals(c.reader_config.max_retry_requests, 2, "an explicit value wins over max_retries");
  assertEquals(c.http_config.idle_conn_timeout, 90_000);
  assertEquals(c.http_config.response_header_timeout, 120_000);
  assertEquals(c.http_config.insecure_skip_verify, true);
  // $(VAR) expansion as for every bucket type
  const e = parseBucketConfig(
    "type: AZURE\nconfig:\n  storage_account: a\n  storage_account_key: $(K)\n  container: c\n",
    { env: { K: "s3cr3t" } },
  );
  assertEquals((e.config as AzureConfig).storage_account_key, "s3cr3t");
});

Deno.test("AZURE config: bad or unsupported settings are one-line errors naming the field", () => {
  const base = "type: AZURE\nconfig:\n  storage_account: a\n  container: c\n";
  for (
    const [extra, want] of [
      ["  storage_account_key: k\n  storage_connection_string: x\n", "cannot both be set"],
      ["  storage_account_key: k\n  user_assigned_id: u\n", "user_assigned_id cannot be set"],
      ["  storage_account_key: k\n  client_id: x\n", "must be set together"],
      ["  user_assigned_id: 1234\n", "config.user_assigned_id (managed identity) is not supported"],
      ["", "managed or workload identity) is not supported"],
      [
        "  az_tenant_id: t\n  client_id: c\n  client_secret: s\n",
        "client_id/client_secret (service principal) is not supported",
      ],
      ["  storage_account_key: k\n  endpoint: https://x.y\n", "config.endpoint"],
      ["  storage_account_key: k\n  colour: blue\n", "unknown field config.colour"],
      ["  storage_account_key: k\n  pipeline_config:\n    max_tries: -1\n", "max_tries"],
      ["  storage_connection_string: AccountKey=x\n", "neither BlobEndpoint nor AccountName"],
      ["  storage_connection_string: BlobEndpoint=ftp://x\n", "not an http(s) URL"],
      [
        "  storage_account_key: k\n  http_config:\n    force_attempt_http2: true\n",
        "force_attempt",
      ],
    ]
  ) {
    const e = assertThrows(() => parseBucketConfig(base + extra), BucketConfigError);
    assert(e.message.includes(want), `${extra}: ${e.message}`);
    assertEquals(e.message.split("\n").length, 1);
  }
  const noAccount = assertThrows(
    () => parseBucketConfig("type: AZURE\nconfig:\n  storage_account_key: k\n  container: c\n"),
    BucketConfigError,
  );
  assert(noAccount.message.includes("storage_account"), noAccount.message);
});

Deno.test("AZURE permissions: the blob service host of the account or connection string", () => {
  const key = bucketPermissions(
    parseBucketConfig(
      "type: AZURE\nconfig:\n  storage_account: acct\n  storage_account_key: k\n  container: c\n",
    ),
  );
  assertEquals(key.net, ["acct.blob.core.windows.net:443"]);
  // no ca_file: HTTPS trusts the system bundle, read from the distribution's usual places
  assert(key.read.includes("/etc/ssl/certs/ca-certificates.crt"), key.read.join());
  const sovereign = bucketPermissions(parseBucketConfig(
    "type: AZURE\nconfig:\n  storage_account: acct\n  storage_account_key: k\n  container: c\n" +
      "  endpoint: blob.core.chinacloudapi.cn\n  http_config:\n    tls_config:\n" +
      "      ca_file: /etc/ca.pem\n",
  ));
  assertEquals(sovereign.net, ["acct.blob.core.chinacloudapi.cn:443"]);
  assertEquals(sovereign.read, ["/etc/ca.pem"]);
  const cs = (s: string) =>
    bucketPermissions(
      parseBucketConfig(
        `type: AZURE\nconfig:\n  storage_account: acct\n  container: c\n` +
          `  storage_connection_string: "${s}"\n`,
      ),
    ).net;
  assertEquals(cs("BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;AccountKey=x"), [
    "127.0.0.1:10000",
  ]);
  assertEquals(
    cs(
      "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=x;EndpointSuffix=core.usgovcloudapi.net",
    ),
    ["acct.blob.core.usgovcloudapi.net:443"],
  );
  assertEquals(cs("UseDevelopmentStorage=true"), ["127.0.0.1:10000"]);
});

const gate = await azuriteTestGate();

Deno.test({
  name: "AZURE bucket (Azurite) passes the conformance suite",
  ignore: gate.ignore,
  async fn(t) {
    const srv = await startAzurite();
    try {
      const reg = new Registry();
      const b = await createBucket(parseBucketConfig(azureConfigYaml(srv.endpoint)), {
        registry: reg,
      });
      const az = (b as InstrumentedBucket).unwrapped as AzureBucket;
      await conformance(t, { bucket: b, requests: () => az.requests });
      const text = await reg.expose();
      // Only get("") failed: not-found answers are expected, not failures.
      assert(
        text.includes(
          `thanos_objstore_bucket_operation_failures_total{bucket="${TEST_CONTAINER}",operation="get"} 1`,
        ),
        text,
      );
      assert(
        new RegExp(
          `thanos_objstore_bucket_operation_duration_seconds_count\\{bucket="${TEST_CONTAINER}",operation="upload"\\} [1-9]`,
        ).test(text),
        text,
      );
      await b.close();
    } finally {
      await srv.stop();
    }
  },
});

Deno.test({
  name: "AZURE bucket with a prefix, and a second view of the same container",
  ignore: gate.ignore,
  async fn() {
    const srv = await startAzurite();
    try {
      const b = await createBucket(
        parseBucketConfig(azureConfigYaml(srv.endpoint, "prefix: /tenant-a/\n")),
      );
      const raw = await createBucket(parseBucketConfig(azureConfigYaml(srv.endpoint)));
      for (const n of ["a/1", "a/2", "b/c/3", "top"]) await b.upload(n, enc.encode(n));
      await raw.upload("outside", enc.encode("x"));
      assertEquals(await collect(b.iter("")), ["a/", "b/", "top"]);
      assertEquals(await collect(b.iter("", { recursive: true })), ["a/1", "a/2", "b/c/3", "top"]);
      assertEquals(await collect(raw.iter("")), ["outside", "tenant-a/"]);
      assertEquals(dec.decode(await raw.get("tenant-a/b/c/3")), "b/c/3");
      await b.close();
      await raw.close();
    } finally {
      await srv.stop();
    }
  },
});

Deno.test({
  name: "AZURE 503s are retried per max_retries and counted in the bucket metrics",
  ignore: gate.ignore,
  async fn() {
    const srv = await startAzurite();
    const proxy = startFaultProxy(srv.endpoint);
    try {
      const reg = new Registry();
      const logs: string[] = [];
      // max_retries: 2 → pipeline_config.max_tries 2 → two retries after the first try
      const b = await createBucket(
        parseBucketConfig(
          azureConfigYaml(
            proxy.endpoint,
            "  max_retries: 2\n  pipeline_config:\n    retry_delay: 10ms\n    max_retry_delay: 50ms\n",
          ),
        ),
        { registry: reg, logger: (m) => logs.push(m) },
      );
      await b.upload("blk/meta.json", enc.encode('{"version":1}'));
      let injected = 0;
      const unavailable = () =>
        new Response("<Error><Code>ServerBusy</Code></Error>", {
          status: 503,
          headers: { "x-ms-error-code": "ServerBusy" },
        });
      proxy.fault = (req, url) => {
        if (req.method === "GET" && url.pathname.endsWith("/blk/meta.json") && injected < 2) {
          injected++;
          return unavailable();
        }
        return "forward";
      };
      assertEquals(dec.decode(await b.get("blk/meta.json")), '{"version":1}');
      const gets = proxy.requests.filter((r) =>
        r.method === "GET" && r.path.endsWith("/blk/meta.json")
      );
      assertEquals(gets.length, 3);
      assertEquals(gets.slice(0, 2).map((r) => r.status), [503, 503]);
      assertEquals(gets[2].status, 200);
      assertEquals(logs.length, 2, "two retries logged");
      let text = await reg.expose();
      assert(text.includes(`operations_total{bucket="${TEST_CONTAINER}",operation="get"} 1`), text);
      assert(text.includes(`failures_total{bucket="${TEST_CONTAINER}",operation="get"} 0`), text);
      // Three 503s in a row exceed max_retries 2: one failed operation after 3 attempts.
      proxy.fault = (req) => req.method === "HEAD" ? unavailable() : "forward";
      const before = proxy.requests.length;
      const e = await assertRejects(() => b.attributes("blk/meta.json"), TransientBucketError);
      assert(/3 attempts/.test(e.message), e.message);
      assert(e.message.includes("ServerBusy"), e.message);
      assertEquals(proxy.requests.slice(before).filter((r) => r.method === "HEAD").length, 3);
      text = await reg.expose();
      assert(
        text.includes(`failures_total{bucket="${TEST_CONTAINER}",operation="attributes"} 1`),
        text,
      );
      await b.close();
    } finally {
      await proxy.close();
      await srv.stop();
    }
  },
});

Deno.test({
  name: "AZURE server stopped mid-test gives bounded retries then a clear error in time",
  ignore: gate.ignore,
  async fn() {
    const srv = await startAzurite();
    let stopped = false;
    try {
      const reg = new Registry();
      const b = await createBucket(parseBucketConfig(azureConfigYaml(srv.endpoint)), {
        registry: reg,
        timeoutMs: 8_000,
        maxRetries: 2,
      });
      await b.upload("blk/index", enc.encode("index"));
      await srv.stop();
      stopped = true;
      const e = await assertRejects(() => b.get("blk/index"));
      assert(
        e instanceof TransientBucketError || e instanceof BucketTimeoutError,
        `unexpected error ${e}`,
      );
      assert(/3 attempts/.test(e.message), e.message);
      assert(e.message.includes(srv.endpoint), `error names the endpoint: ${e.message}`);
      assert(
        (await reg.expose()).includes(
          `failures_total{bucket="${TEST_CONTAINER}",operation="get"} 1`,
        ),
      );
      await b.close();
    } finally {
      if (!stopped) await srv.stop();
    }
  },
});

Deno.test({
  name: "AZURE with a wrong account key fails at start with the service's error, not retried",
  ignore: gate.ignore,
  async fn() {
    const srv = await startAzurite();
    try {
      const bad = azureConfigYaml(srv.endpoint).replace(AZURITE_KEY, btoa("wrong key"));
      const e = await assertRejects(() => createBucket(parseBucketConfig(bad)));
      assert(!(e instanceof TransientBucketError), String(e));
      assert(/403|AuthorizationFailure|Authentication/i.test(e.message), e.message);
    } finally {
      await srv.stop();
    }
  },
});

Deno.test({
  name: "AZURE over HTTPS: http_config.tls_config.ca_file or insecure_skip_verify, else refused",
  ignore: gate.ignore,
  async fn() {
    const srv = await startAzurite({ tls: true });
    try {
      const yaml = (extra: string) =>
        parseBucketConfig(azureConfigYaml(srv.endpoint, extra, "https"));
      const trusted = await createBucket(
        yaml(`  http_config:\n    tls_config:\n      ca_file: ${TEST_TLS.ca}\n`),
        { maxRetries: 0 },
      );
      await trusted.upload("tls/obj", enc.encode("over tls"));
      assertEquals(dec.decode(await trusted.get("tls/obj")), "over tls");
      await trusted.close();
      const skip = await createBucket(
        yaml("  http_config:\n    insecure_skip_verify: true\n"),
        { maxRetries: 0 },
      );
      assertEquals(await collect(skip.iter("tls")), ["tls/obj"]);
      await skip.close();
      // An unknown CA: a clear, non-transient error at start (creating the container).
      const e = await assertRejects(() => createBucket(yaml(""), { maxRetries: 0 }));
      assert(!(e instanceof TransientBucketError), String(e));
      assert(/certificate|self.signed|issuer/i.test(e.message), e.message);
    } finally {
      await srv.stop();
    }
  },
});

Deno.test({
  name: "AZURE try_timeout and response_header_timeout cut a hung request; retried per max_tries",
  ignore: gate.ignore,
  async fn() {
    const srv = await startAzurite();
    const proxy = startFaultProxy(srv.endpoint);
    try {
      const reg = new Registry();
      const logs: string[] = [];
      const b = await createBucket(
        parseBucketConfig(
          azureConfigYaml(
            proxy.endpoint,
            "  pipeline_config:\n    try_timeout: 300ms\n    max_tries: 2\n    retry_delay: 10ms\n",
          ),
        ),
        { registry: reg, timeoutMs: 20_000, logger: (m) => logs.push(m) },
      );
      await b.upload("blk/meta.json", enc.encode("{}"));
      const before = proxy.requests.length;
      proxy.fault = () => "hang";
      // Not the 20s operation deadline: each try gives up on its own, 3 tries in all.
      const e = await assertRejects(() => b.attributes("blk/meta.json"), TransientBucketError);
      assert(/3 attempts/.test(e.message), e.message);
      assert(e.message.includes("try_timeout"), e.message);
      assertEquals(logs.length, 2, "two retries logged");
      // (≥: Node's HTTP client in Deno may resend a request whose reused socket it gave up on)
      assert(proxy.requests.length - before >= 3, `${proxy.requests.length - before} requests`);
      // A hung request that answers in time on a retry succeeds.
      let hung = 0;
      proxy.fault = () => hung++ < 1 ? "hang" : "forward";
      assertEquals(await b.exists("blk/meta.json"), true);
      assert(
        (await reg.expose()).includes(
          `failures_total{bucket="${TEST_CONTAINER}",operation="exists"} 0`,
        ),
      );
      await b.close();
      // http_config.response_header_timeout bounds the wait for headers the same way.
      const h = await createBucket(
        parseBucketConfig(
          azureConfigYaml(
            proxy.endpoint,
            "  max_retries: 1\n  http_config:\n    response_header_timeout: 300ms\n",
          ),
        ),
        { timeoutMs: 20_000, initialBackoffMs: 10 },
      );
      proxy.fault = () => "hang";
      const e2 = await assertRejects(() => h.get("blk/meta.json"), TransientBucketError);
      assert(/2 attempts/.test(e2.message), e2.message);
      assert(e2.message.includes("response_header_timeout"), e2.message);
      await h.close();
    } finally {
      await proxy.close();
      await srv.stop();
    }
  },
});
