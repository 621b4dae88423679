// tracing/config.ts: Thanos's tracing YAML, what this build refuses, and the grants it needs.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  OTEL_ENV,
  parseTracingConfig,
  TracingConfigError,
  tracingPermissions,
} from "../../tracing/config.ts";

Deno.test("blank config: tracing off", () => {
  assertEquals(parseTracingConfig(""), null);
  assertEquals(parseTracingConfig("  \n"), null);
  assertEquals(tracingPermissions(""), { net: [], read: [], env: [] });
});

Deno.test("OTLP over HTTP: Thanos's fields and defaults", () => {
  const c = parseTracingConfig(`type: OTLP
config:
  client_type: http
  service_name: q1
  endpoint: 127.0.0.1:4318
  insecure: true
  timeout: 3s
  compression: gzip
  headers: {x-team: a}
  sampler_type: traceidratiobased
  sampler_param: "0.25"
  retry_config: {retry_enabled: true, retry_initial_interval: 1s}
`)!;
  assertEquals(c.url, "http://127.0.0.1:4318/v1/traces");
  assertEquals(c.hostPort, "127.0.0.1:4318");
  assertEquals(c.serviceName, "q1");
  assertEquals(c.timeoutMs, 3000);
  assertEquals(c.gzip, true);
  assertEquals(c.headers, { "x-team": "a" });
  assertEquals(c.sampler, "traceidratiobased");
  assertEquals(c.samplerParam, 0.25);
  const d = parseTracingConfig("type: otlp\nconfig: {client_type: HTTP}")!;
  assertEquals(d.url, "https://localhost:4318/v1/traces");
  assertEquals(d.timeoutMs, 10_000);
  assertEquals(d.sampler, "parentbasedtraceidratiobased");
  assertEquals(d.samplerParam, 1);
  const p = parseTracingConfig(
    "type: OTLP\nconfig: {client_type: http, endpoint: c:9, url_path: x/y, insecure: true}",
  )!;
  assertEquals(p.url, "http://c:9/x/y");
});

Deno.test("OTLP over gRPC: Thanos's default client_type", () => {
  const c = parseTracingConfig("type: OTLP\nconfig: {endpoint: 'c:4317', insecure: true}")!;
  assertEquals(c.clientType, "grpc");
  assertEquals(c.url, "c:4317");
  assertEquals(c.tlsEnabled, false);
  const d = parseTracingConfig("type: OTLP\nconfig: {client_type: grpc}")!;
  assertEquals(d.url, "localhost:4317");
  assertEquals(d.tlsEnabled, true);
  assertEquals(tracingPermissions("type: OTLP\nconfig: {endpoint: 'otel:4317'}"), {
    net: ["otel:4317"],
    read: [],
    env: [],
  });
});

Deno.test("other tracers and bad values are refused on one line naming them", () => {
  const cases: [string, RegExp][] = [
    ["type: JAEGER\nconfig: {}", /type JAEGER is not supported by this build; only OTLP/],
    ["type: DATADOG", /type DATADOG is not supported.*OTLP/],
    ["type: ELASTIC_APM", /ELASTIC_APM/],
    ["type: LIGHTSTEP", /LIGHTSTEP/],
    ["type: GOOGLE_CLOUD", /GOOGLE_CLOUD/],
    ["type: ZIPKIN2", /unknown type "ZIPKIN2"/],
    ["config: {}", /type is missing/],
    ["type: OTLP\nconfig: {client_type: udp}", /only 'http' and 'grpc'/],
    ["type: OTLP\nconfig: {client_type: http, endpoint: 'http://c:1'}", /want host:port/],
    ["type: OTLP\nconfig: {client_type: http, timeout: soon}", /config.timeout/],
    ["type: OTLP\nconfig: {client_type: http, sampler_type: sometimes}", /sampler_type/],
    ["type: OTLP\nconfig: {client_type: http, sampler_param: '2'}", /sampler_param/],
    ["type: OTLP\nconfig: {client_type: http, colour: red}", /unknown field colour/],
    ["type: OTLP\nconfig: {client_type: http, compression: lz4}", /compression/],
    ["type: [", /invalid YAML/],
  ];
  for (const [yaml, re] of cases) {
    const e = assertThrows(() => parseTracingConfig(yaml), TracingConfigError);
    assert(re.test(e.message), `${JSON.stringify(yaml)}: ${e.message}`);
    assert(!e.message.includes("\n"), e.message);
  }
});

Deno.test("permissions: the collector, TLS files and the OTEL_ variables", () => {
  const p = tracingPermissions(`type: OTLP
config:
  client_type: http
  endpoint: otel.example:4318
  tls_config: {ca_file: /etc/ca.pem}
`);
  assertEquals(p.net, ["otel.example:4318"]);
  assertEquals(p.read, ["/etc/ca.pem"]);
  assertEquals(p.env, [...OTEL_ENV]);
  assert(OTEL_ENV.includes("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"));
});
