// The Prometheus client of the sidecar: status APIs read at start-up, auth from the http client
// config, version checks, and the block-duration validation done before uploading.

import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import {
  HttpClientConfigError,
  matchersToSelector,
  parseHttpClientConfig,
  PrometheusClient,
  PrometheusRequestError,
  versionAtLeast,
} from "../../promclient/client.ts";
import { PrometheusConfigError, validateBlockDurations } from "../../promclient/validate.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

async function withServer(
  handler: (req: Request) => Response,
  fn: (url: string) => Promise<void>,
): Promise<void> {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    handler,
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    ac.abort();
    await server.finished;
  }
}

const ok = (data: unknown) => Response.json({ status: "success", data });

Deno.test("start-up APIs: version, oldest sample, external labels, flags", async () => {
  const seen: Record<string, string> = {};
  await withServer((req) => {
    const p = new URL(req.url).pathname;
    seen[p] = req.headers.get("authorization") ?? "";
    seen.ua = req.headers.get("user-agent") ?? "";
    switch (p) {
      case "/api/v1/status/buildinfo":
        return ok({ version: "2.42.0+ds" });
      case "/metrics":
        return new Response(
          "# TYPE prometheus_tsdb_lowest_timestamp_seconds gauge\n" +
            "prometheus_tsdb_lowest_timestamp_seconds 1.7e+09\n",
        );
      case "/api/v1/status/config":
        return ok({ yaml: "global:\n  external_labels:\n    region: east\n    a: 1\n" });
      default:
        return new Response("404 page not found", { status: 404 });
    }
  }, async (url) => {
    const c = new PrometheusClient(url, {
      http: await parseHttpClientConfig("bearer_token: s3cret\n", () => Promise.reject()),
      userAgent: "Thanos/0.1.0",
    });
    assertEquals(await c.version(), "2.42.0+ds");
    assertEquals(await c.lowestTimestamp(), 1_700_000_000_000);
    assertEquals(await c.externalLabels(), ["a", "1", "region", "east"]);
    assertEquals(await c.flags(), null, "404: too old for the flags API");
    assertEquals(seen["/metrics"], "Bearer s3cret");
    assertEquals(seen.ua, "Thanos/0.1.0");
  });
});

Deno.test("a Prometheus without data reports -Infinity as oldest sample; errors name the API", async () => {
  await withServer((req) => {
    if (new URL(req.url).pathname === "/metrics") {
      return new Response("prometheus_tsdb_lowest_timestamp_seconds 9.223372036854776e+15\n");
    }
    return Response.json({ status: "error", errorType: "internal", error: "boom" }, {
      status: 500,
    });
  }, async (url) => {
    const c = new PrometheusClient(url);
    assertEquals(await c.lowestTimestamp(), -Infinity);
    const e = await assertRejects(() => c.externalLabels(), PrometheusRequestError);
    assert(e.message.includes("/api/v1/status/config") && e.message.includes("boom"), e.message);
  });
});

Deno.test("basic auth is sent; files the sandbox refuses give an actionable error", async () => {
  const cfg = await parseHttpClientConfig(
    "basic_auth:\n  username: u\n  password: p\n",
    () => Promise.reject(new Error("unused")),
  );
  let auth = "";
  await withServer((req) => {
    auth = req.headers.get("authorization") ?? "";
    return ok({ version: "2.13.0" });
  }, async (url) => {
    await new PrometheusClient(url, { http: cfg }).version();
  });
  assertEquals(auth, `Basic ${btoa("u:p")}`);
  const denied = Object.assign(new Error("Requires read access"), { name: "NotCapable" });
  await assertRejects(
    () => parseHttpClientConfig("bearer_token_file: /etc/token\n", () => Promise.reject(denied)),
    HttpClientConfigError,
    "put the value inline",
  );
  // insecure_skip_verify (the Prometheus Operator always passes it): no effect on http, refused
  // for https, where it would mean an unverified connection
  const skip = await parseHttpClientConfig(
    '{"tls_config": {"insecure_skip_verify":true}}',
    () => Promise.reject(),
  );
  assertEquals(skip.tls?.insecureSkipVerify, true);
  new PrometheusClient("http://localhost:9090/", { http: skip }).close();
  assertThrows(
    () => new PrometheusClient("https://prometheus:9090", { http: skip }),
    HttpClientConfigError,
    "insecure_skip_verify is not supported by Thanos-TS for an https --prometheus.url",
  );
});

Deno.test("matchers become a series selector; versions compare numerically", () => {
  assertEquals(
    matchersToSelector([
      new Matcher(MatchType.Equal, "__name__", "up"),
      new Matcher(MatchType.Regexp, "job", 'a"|b'),
    ]),
    '{__name__="up",job=~"a\\"|b"}',
  );
  assert(versionAtLeast("2.42.0+ds", "2.24.0"));
  assert(versionAtLeast("v2.13.1", "2.13.0"));
  assert(!versionAtLeast("2.9.10", "2.13.0"));
  assert(!versionAtLeast("0", "2.13.0"));
});

Deno.test("uploads need min-block-duration = max-block-duration, or the delay-compact file", () => {
  validateBlockDurations(
    { "storage.tsdb.min-block-duration": "2h", "storage.tsdb.max-block-duration": "2h" },
    "/data/thanos.shipper.json",
  );
  validateBlockDurations(null, "/data/thanos.shipper.json");
  assertThrows(
    () =>
      validateBlockDurations(
        { "storage.tsdb.min-block-duration": "2h", "storage.tsdb.max-block-duration": "1d" },
        "/data/thanos.shipper.json",
      ),
    PrometheusConfigError,
    "--storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h",
  );
  validateBlockDurations({
    "storage.tsdb.min-block-duration": "2h",
    "storage.tsdb.max-block-duration": "1d",
    "storage.tsdb.delay-compact-file.path": "/data/thanos.shipper.json",
  }, "/data/thanos.shipper.json");
});
