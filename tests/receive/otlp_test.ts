// OTLP ingestion in-process: requests made by the OpenTelemetry JS SDK (sdk-metrics collected and
// serialized by otlp-transformer, the same code its OTLP exporters use) through the receive
// handler's `POST /api/v1/otlp` into an in-memory writer: names with unit and type suffixes,
// labels, job/instance, target_info, promoted resource attributes, histograms, stale markers, the
// tenant header; protobuf, JSON and gzip bodies decode to the same series; bad bodies are 400 and
// store nothing; request limits apply as to remote write.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { gzipSync } from "node:zlib";
import {
  AggregationTemporality,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from "@opentelemetry/otlp-transformer";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";
import { directRequestInfo } from "../../server/http.ts";
import { singleNodeHashring } from "../../receive/hashring.ts";
import { noLimits, parseLimitsConfig, type ReceiveLimits } from "../../receive/limits.ts";
import type { PromSeries } from "../../receive/remote_write.ts";
import { type LocalWriteOutcome, type LocalWriter, ReceiveHandler } from "../../receive/handler.ts";
import {
  otlpLabelName,
  otlpMetricName,
  OtlpTranslateError,
  type OtlpTranslateOptions,
  translateOtlp,
} from "../../receive/otlp_translate.ts";
import { decodeOtlpJson, type OtlpMetricKind } from "../../receive/otlp_decode.ts";
import { isStaleAt } from "../../tsdb/value.ts";

const quiet = new Logger("error", "logfmt", {}, () => {});

/** Keeps every written series per tenant, keyed by its labels printed `a="b",…`. */
class Recorder implements LocalWriter {
  readonly series = new Map<string, Map<string, PromSeries>>();
  write(tenant: string, series: readonly PromSeries[]): Promise<LocalWriteOutcome> {
    let t = this.series.get(tenant);
    if (!t) this.series.set(tenant, t = new Map());
    for (const s of series) t.set(key(s.labels), s);
    return Promise.resolve({
      appended: series.length,
      outOfOrder: 0,
      outOfBounds: 0,
      duplicate: 0,
    });
  }
  /** `labels → first value` of a tenant. */
  values(tenant = "default-tenant"): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, s] of this.series.get(tenant) ?? []) out[k] = s.values[0];
    return out;
  }
}

function key(ls: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ls.length; i += 2) parts.push(`${ls[i]}=${JSON.stringify(ls[i + 1])}`);
  return parts.join(",");
}

function handler(
  db: Recorder,
  otlp?: OtlpTranslateOptions,
  limits: ReceiveLimits = noLimits(),
): ReceiveHandler {
  return new ReceiveHandler({
    hashring: () => singleNodeHashring("local"),
    localEndpoint: "",
    replicationFactor: 1,
    tenantHeader: "THANOS-TENANT",
    defaultTenant: "default-tenant",
    replicaHeader: "THANOS-REPLICA",
    db,
    limits,
    forwardTimeoutMs: 2000,
    logger: quiet,
    registry: new Registry(),
    mode: "IngestorOnly",
    otlp,
  });
}

async function postOtlp(
  h: ReceiveHandler,
  body: Uint8Array,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const route = h.routes().find((r) => r.path === "/api/v1/otlp")!;
  const req = new Request("http://receiver/api/v1/otlp", {
    method: "POST",
    body: body as Uint8Array<ArrayBuffer>,
    headers: { "content-type": "application/x-protobuf", ...headers },
  });
  const res = await route.handler(req, {}, directRequestInfo(req));
  return { status: res.status, text: await res.text() };
}

class CollectingReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Records a counter, an up-down counter, a gauge and a histogram with the SDK; collects them. */
async function sdkMetrics(delta = false): Promise<ResourceMetrics> {
  const reader = new CollectingReader(
    delta ? { aggregationTemporalitySelector: () => AggregationTemporality.DELTA } : {},
  );
  const provider = new MeterProvider({
    resource: resourceFromAttributes({
      "service.name": "checkout",
      "service.namespace": "shop",
      "service.instance.id": "i-1",
      "deployment.environment": "prod",
      "host.name": "web-1",
    }),
    readers: [reader],
  });
  const meter = provider.getMeter("test");
  const requests = meter.createCounter("http.server.requests", { unit: "{request}" });
  requests.add(3, { "http.method": "GET", "http.status_code": 200 });
  requests.add(2, { "http.method": "POST", "http.status_code": 201 });
  const queue = meter.createUpDownCounter("queue.length");
  queue.add(5);
  queue.add(-2);
  const temp = meter.createGauge("room.temperature", { unit: "Cel" });
  temp.record(21.5, { room: "kitchen" });
  const latency = meter.createHistogram("http.server.duration", {
    unit: "ms",
    advice: { explicitBucketBoundaries: [10, 100, 1000] },
  });
  for (const v of [5, 50, 50, 500, 5000]) latency.record(v, { route: "/pay" });
  const { resourceMetrics, errors } = await reader.collect();
  assertEquals(errors, []);
  await provider.shutdown();
  return resourceMetrics;
}

const JOB = 'instance="i-1",job="shop/checkout"';

Deno.test("OTLP metric names get unit and type suffixes as Thanos's translator", () => {
  const cases: [string, string, OtlpMetricKind, boolean, string][] = [
    ["system.filesystem.usage", "By", "gauge", false, "system_filesystem_usage_bytes"],
    ["system.io", "By", "sum", true, "system_io_bytes_total"],
    ["cpu.utilization", "1", "gauge", false, "cpu_utilization_ratio"],
    ["http.server.duration", "ms", "histogram", false, "http_server_duration_milliseconds"],
    ["requests", "{request}", "sum", true, "requests_total"],
    ["requests_total", "", "sum", true, "requests_total"],
    ["net.throughput", "By/s", "gauge", false, "net_throughput_bytes_per_second"],
    ["queue.length", "", "sum", false, "queue_length"],
    ["latency_seconds", "s", "histogram", false, "latency_seconds"],
    ["2xx.count", "", "gauge", false, "_2xx_count"],
    ["foo__bar..baz", "", "gauge", false, "foo_bar_baz"],
    ["speed", "m/h", "gauge", false, "speed_meters_per_hour"],
    ["odd", "foo bar", "gauge", false, "odd_foo_bar"],
  ];
  for (const [name, unit, kind, monotonic, want] of cases) {
    assertEquals(otlpMetricName({ name, unit, kind, monotonic }), want, `${name} [${unit}]`);
  }
});

Deno.test("OTLP attribute keys become Prometheus label names as otlptranslator's LabelNamer", () => {
  const cases: [string, string][] = [
    ["http.method", "http_method"],
    ["123invalid", "key_123invalid"],
    ["__reserved__", "__reserved__"],
    ["__a.b__", "__a_b__"],
    ["a__b", "a_b"],
    ["_x", "_x"],
    ["ünï", "_n_"],
  ];
  for (const [k, want] of cases) assertEquals(otlpLabelName(k), want, k);
  assertThrows(() => otlpLabelName(""), OtlpTranslateError, "label name is empty");
  assertThrows(() => otlpLabelName("..."), OtlpTranslateError, "resulted in invalid name");
});

Deno.test("OTLP from the SDK: counters, up-down counters, gauges, histograms, target_info", async () => {
  const rm = await sdkMetrics();
  const db = new Recorder();
  const r = await postOtlp(handler(db), ProtobufMetricsSerializer.serializeRequest(rm)!);
  assertEquals(r, { status: 200, text: "" });
  const got = db.values();
  const want: Record<string, number> = {
    [`__name__="http_server_requests_total",http_method="GET",http_status_code="200",${JOB}`]: 3,
    [`__name__="http_server_requests_total",http_method="POST",http_status_code="201",${JOB}`]: 2,
    [`__name__="queue_length",${JOB}`]: 3,
    [`__name__="room_temperature_celsius",${JOB},room="kitchen"`]: 21.5,
    [`__name__="http_server_duration_milliseconds_count",${JOB},route="/pay"`]: 5,
    [`__name__="http_server_duration_milliseconds_sum",${JOB},route="/pay"`]: 5605,
    [`__name__="http_server_duration_milliseconds_bucket",${JOB},le="10",route="/pay"`]: 1,
    [`__name__="http_server_duration_milliseconds_bucket",${JOB},le="100",route="/pay"`]: 3,
    [`__name__="http_server_duration_milliseconds_bucket",${JOB},le="1000",route="/pay"`]: 4,
    [`__name__="http_server_duration_milliseconds_bucket",${JOB},le="+Inf",route="/pay"`]: 5,
    [`__name__="target_info",deployment_environment="prod",host_name="web-1",${JOB}`]: 1,
  };
  assertEquals(got, want);
  // every sample carries the point's time in ms
  const now = Date.now();
  for (const s of db.series.get("default-tenant")!.values()) {
    assert(Math.abs(s.timestamps[0] - now) < 600_000, `timestamp ${s.timestamps[0]}`);
  }
});

Deno.test("OTLP protobuf, JSON and gzip bodies of the same metrics store the same series", async () => {
  const rm = await sdkMetrics();
  const pb = ProtobufMetricsSerializer.serializeRequest(rm)!;
  const json = JsonMetricsSerializer.serializeRequest(rm)!;
  const answers: Record<string, number>[] = [];
  for (
    const [body, headers] of [
      [pb, {}],
      [json, { "content-type": "application/json" }],
      [gzipSync(pb), { "content-encoding": "gzip" }],
      [gzipSync(json), { "content-type": "application/json", "content-encoding": "gzip" }],
    ] as [Uint8Array, Record<string, string>][]
  ) {
    const db = new Recorder();
    const r = await postOtlp(handler(db), body, headers);
    assertEquals(r.status, 200, r.text);
    answers.push(db.values());
  }
  assertEquals(answers[0][`__name__="queue_length",${JOB}`], 3);
  for (const a of answers.slice(1)) assertEquals(a, answers[0]);
});

Deno.test("OTLP: promoted resource attributes, target_info off, the tenant header", async () => {
  const rm = await sdkMetrics();
  const db = new Recorder();
  const h = handler(db, {
    enableTargetInfo: false,
    promoteResourceAttributes: ["deployment.environment", "not.there"],
  });
  const r = await postOtlp(h, ProtobufMetricsSerializer.serializeRequest(rm)!, {
    "THANOS-TENANT": "team-a",
  });
  assertEquals(r.status, 200, r.text);
  assertEquals(db.series.has("default-tenant"), false);
  const got = db.values("team-a");
  assertEquals(got[`__name__="queue_length",deployment_environment="prod",${JOB}`], 3);
  assert(!Object.keys(got).some((k) => k.includes("target_info")), Object.keys(got).join("\n"));
});

Deno.test("OTLP: bad bodies and untranslatable metrics are 400 with a reason, nothing stored", async () => {
  const db = new Recorder();
  const h = handler(db);
  const rm = await sdkMetrics();
  const pb = ProtobufMetricsSerializer.serializeRequest(rm)!;
  const delta = ProtobufMetricsSerializer.serializeRequest(await sdkMetrics(true))!;
  const cases: [string, Uint8Array, Record<string, string>, string][] = [
    ["truncated protobuf", pb.subarray(0, pb.length - 7), {}, "unmarshal OTLP protobuf request"],
    ["garbage", new TextEncoder().encode("hello, receiver"), {}, "cannot decode"],
    ["bad JSON", new TextEncoder().encode("{"), { "content-type": "application/json" }, "JSON"],
    [
      "JSON of the wrong shape",
      new TextEncoder().encode('{"resourceMetrics": {"x": 1}}'),
      { "content-type": "application/json" },
      "resourceMetrics: want an array",
    ],
    ["content type", pb, { "content-type": "text/plain" }, "unsupported content type: text/plain"],
    ["compression", pb, { "content-encoding": "snappy" }, "unsupported compression: snappy"],
    ["not gzip", pb, { "content-encoding": "gzip" }, "gzip"],
    ["delta temporality", delta, {}, 'invalid temporality for metric "http.server.requests"'],
  ];
  for (const [what, body, headers, want] of cases) {
    const r = await postOtlp(h, body, headers);
    assertEquals(r.status, 400, `${what}: ${r.text}`);
    assert(r.text.includes(want), `${what}: ${r.text}`);
  }
  const expo = new TextEncoder().encode(JSON.stringify({
    resourceMetrics: [{
      scopeMetrics: [{
        metrics: [{
          name: "latency",
          exponentialHistogram: {
            aggregationTemporality: 2,
            dataPoints: [{ timeUnixNano: "1700000000000000000", count: "1", scale: 2 }],
          },
        }, {
          name: "ok",
          gauge: { dataPoints: [{ timeUnixNano: "1700000000000000000", asInt: "1" }] },
        }],
      }],
    }],
  }));
  const r = await postOtlp(h, expo, { "content-type": "application/json" });
  assertEquals(r.status, 400, r.text);
  assert(r.text.includes('exponential histogram "latency"'), r.text);
  assertEquals(db.series.size, 0);
});

Deno.test("OTLP: no recorded value is a stale marker; timestamps are exact milliseconds", async () => {
  const db = new Recorder();
  const body = new TextEncoder().encode(JSON.stringify({
    resourceMetrics: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: "svc" } }] },
      scopeMetrics: [{
        metrics: [{
          name: "up.down",
          sum: {
            aggregationTemporality: "AGGREGATION_TEMPORALITY_CUMULATIVE",
            isMonotonic: false,
            dataPoints: [
              { timeUnixNano: "1700000000123999999", asDouble: 4 },
              { timeUnixNano: "1700000000124000000", asDouble: 5, flags: 1 },
            ],
          },
        }, {
          name: "summary",
          summary: {
            dataPoints: [{
              timeUnixNano: "1700000000123000000",
              count: "10",
              sum: 20.5,
              quantileValues: [{ quantile: 0.5, value: 2 }, { quantile: 0.99, value: 7 }],
              attributes: [{ key: "n", value: { intValue: "9007199254740993" } }],
            }],
          },
        }],
      }],
    }],
  }));
  const r = await postOtlp(handler(db), body, { "content-type": "application/json" });
  assertEquals(r.status, 200, r.text);
  const t = db.series.get("default-tenant")!;
  const s = t.get('__name__="up_down",job="svc"')!;
  assertEquals([...s.timestamps], [1700000000123, 1700000000124]);
  assertEquals(s.values[0], 4);
  assert(isStaleAt(s.values, 1), "the flagged point is Prometheus's stale marker");
  assertEquals(db.values(), {
    '__name__="up_down",job="svc"': 4,
    '__name__="summary_sum",job="svc",n="9007199254740993"': 20.5,
    '__name__="summary_count",job="svc",n="9007199254740993"': 10,
    '__name__="summary",job="svc",n="9007199254740993",quantile="0.5"': 2,
    '__name__="summary",job="svc",n="9007199254740993",quantile="0.99"': 7,
  });
});

Deno.test("OTLP exemplars: sums keep theirs, histograms put each on its bucket; le as Go prints", () => {
  const trace = "0102030405060708090a0b0c0d0e0f10";
  const span = "0102030405060708";
  const ex = (v: number, attrs: { key: string; value: { stringValue: string } }[] = []) => ({
    timeUnixNano: "1700000000001000000",
    asDouble: v,
    traceId: trace,
    spanId: span,
    filteredAttributes: attrs,
  });
  const req = decodeOtlpJson(new TextEncoder().encode(JSON.stringify({
    resourceMetrics: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: "svc" } }] },
      scopeMetrics: [{
        metrics: [{
          name: "hits",
          sum: {
            aggregationTemporality: 2,
            isMonotonic: true,
            dataPoints: [{
              timeUnixNano: "1700000000002000000",
              asInt: 3,
              exemplars: [ex(1, [{ key: "user", value: { stringValue: "u1" } }])],
            }],
          },
        }, {
          name: "lat",
          unit: "s",
          histogram: {
            aggregationTemporality: 2,
            dataPoints: [{
              timeUnixNano: "1700000000002000000",
              count: 3,
              sum: 0.3,
              bucketCounts: [1, 1, 1, 0],
              explicitBounds: [0.0000001, 0.25, 1e21],
              // long attributes: over 128 characters with the ids, so they are left out
              exemplars: [ex(0.2, [{ key: "x", value: { stringValue: "y".repeat(100) } }])],
            }],
          },
        }],
      }],
    }],
  })));
  const series = translateOtlp(req, { enableTargetInfo: true, promoteResourceAttributes: [] });
  const byKey = new Map(series.map((s) => [key(s.labels), s]));
  assertEquals([...byKey.keys()].sort(), [
    '__name__="hits_total",job="svc"',
    '__name__="lat_seconds_bucket",job="svc",le="+Inf"',
    '__name__="lat_seconds_bucket",job="svc",le="0.0000001"',
    '__name__="lat_seconds_bucket",job="svc",le="0.25"',
    '__name__="lat_seconds_bucket",job="svc",le="1000000000000000000000"',
    '__name__="lat_seconds_count",job="svc"',
    '__name__="lat_seconds_sum",job="svc"',
  ]);
  assertEquals(byKey.get('__name__="hits_total",job="svc"')!.exemplars, [{
    labels: ["span_id", span, "trace_id", trace, "user", "u1"],
    value: 1,
    timestamp: 1700000000001,
  }]);
  assertEquals(byKey.get('__name__="lat_seconds_bucket",job="svc",le="0.25"')!.exemplars, [{
    labels: ["span_id", span, "trace_id", trace],
    value: 0.2,
    timestamp: 1700000000001,
  }]);
  const withExemplars = series.filter((s) => s.exemplars !== undefined).length;
  assertEquals(withExemplars, 2);
  assertEquals(
    [...byKey.get('__name__="lat_seconds_bucket",job="svc",le="1000000000000000000000"')!.values],
    [3],
  );
});

Deno.test("OTLP requests meet remote write's request limits: series and body size → 413", async () => {
  const body = ProtobufMetricsSerializer.serializeRequest(await sdkMetrics())!;
  for (
    const [limit, want] of [
      ["series_limit: 3", "too many timeseries: 11 exceeds the series_limit of 3"],
      ["size_bytes_limit: 100", "write request too large"],
    ]
  ) {
    const db = new Recorder();
    const limits = parseLimitsConfig(`write:\n  default:\n    request:\n      ${limit}\n`);
    const r = await postOtlp(handler(db, undefined, limits), body);
    assertEquals(r.status, 413, r.text);
    assert(r.text.includes(want), r.text);
    assertEquals(db.series.size, 0);
  }
});
