// OTLP ingestion end to end: the OpenTelemetry JS SDK's metrics pipeline (MeterProvider, periodic
// reader, the OTLP/HTTP protobuf exporter) sends counters, up-down counters, gauges and
// histograms to a running `thanos receive` at `/api/v1/otlp` with a tenant header; `thanos
// query` over the receiver's StoreAPI answers them with Prometheus names, labels and values.
// Malformed bodies get 400 with a reason, are counted, and store nothing.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { eventually, instant, type LabProc, startLabQuerier } from "../helpers/sidecar_lab.ts";
import { postRaw, type ReceiveCluster, startReceivers } from "../helpers/receive_lab.ts";
// @ts-types="../helpers/otlp_metrics_exporter.d.ts"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { resourceFromAttributes } from "@opentelemetry/resources";

const TENANT_LABEL = "tenant_id";

e2eTest(
  "receive: OTLP metrics from the OpenTelemetry SDK exporter are queryable with Prometheus names",
  { peers: [] },
  async () => {
    const dirs = new TempDirs();
    let cluster: ReceiveCluster | undefined;
    let querier: LabProc | undefined;
    let provider: MeterProvider | undefined;
    try {
      cluster = await startReceivers(dirs, {
        n: 1,
        replicationFactor: 1,
        extraFlags: [
          `--receive.tenant-label-name=${TENANT_LABEL}`,
          "--receive.otlp-promote-resource-attributes=deployment.environment",
        ],
      });
      const node = cluster.nodes[0];
      const otlpUrl = node.writeUrl.replace("/api/v1/receive", "/api/v1/otlp");
      querier = await startLabQuerier(cluster.grpcAddresses);
      const q = querier.http;

      const exporter = new OTLPMetricExporter({
        url: otlpUrl,
        headers: { "THANOS-TENANT": "team-otel" },
      });
      provider = new MeterProvider({
        resource: resourceFromAttributes({
          "service.name": "checkout",
          "service.namespace": "shop",
          "service.instance.id": "pod-7",
          "deployment.environment": "prod",
        }),
        readers: [
          new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 }),
        ],
      });
      const meter = provider.getMeter("e2e");
      meter.createCounter("orders.placed", { unit: "{order}" }).add(7, { "payment.kind": "card" });
      const inflight = meter.createUpDownCounter("http.server.active_requests");
      inflight.add(4);
      inflight.add(-1);
      meter.createGauge("memory.used", { unit: "By" }).record(1048576);
      const latency = meter.createHistogram("rpc.duration", {
        unit: "s",
        advice: { explicitBucketBoundaries: [0.1, 1] },
      });
      for (const v of [0.05, 0.5, 0.7, 3]) latency.record(v, { "rpc.method": "Pay" });
      await provider.forceFlush();

      const base = {
        deployment_environment: "prod",
        instance: "pod-7",
        job: "shop/checkout",
        replica: "r0",
        [TENANT_LABEL]: "team-otel",
      };
      const want: [string, Record<string, string>, string][] = [
        ["orders_placed_total", { payment_kind: "card" }, "7"],
        ["http_server_active_requests", {}, "3"],
        ["memory_used_bytes", {}, "1048576"],
        ["rpc_duration_seconds_count", { rpc_method: "Pay" }, "4"],
        ["rpc_duration_seconds_sum", { rpc_method: "Pay" }, "4.25"],
        ["rpc_duration_seconds_bucket", { rpc_method: "Pay", le: "0.1" }, "1"],
        ["rpc_duration_seconds_bucket", { rpc_method: "Pay", le: "1" }, "3"],
        ["rpc_duration_seconds_bucket", { rpc_method: "Pay", le: "+Inf" }, "4"],
      ];
      await eventually("the OTLP series to be queryable", async () => {
        return (await instant(q, "orders_placed_total")).length === 1;
      });
      for (const [name, extra, value] of want) {
        const sel = Object.entries(extra).map(([k, v]) => `${k}="${v}"`).join(",");
        const res = await instant(q, `${name}{${sel}}`);
        assertEquals(res.length, 1, `${name}{${sel}}: ${JSON.stringify(res)}`);
        assertEquals(res[0].metric, { __name__: name, ...base, ...extra });
        assertEquals(res[0].value![1], value, name);
      }
      const info = await instant(q, "target_info");
      assertEquals(info.map((s) => s.metric), [{
        __name__: "target_info",
        instance: "pod-7",
        job: "shop/checkout",
        replica: "r0",
        [TENANT_LABEL]: "team-otel",
        deployment_environment: "prod",
      }]);

      // the exporter's gzip compression, another tenant
      const gz = new MeterProvider({
        resource: resourceFromAttributes({ "service.name": "batch" }),
        readers: [
          new PeriodicExportingMetricReader({
            exporter: new OTLPMetricExporter({
              url: otlpUrl,
              compression: "gzip",
              headers: { "THANOS-TENANT": "team-gzip" },
            }),
            exportIntervalMillis: 3_600_000,
          }),
        ],
      });
      gz.getMeter("e2e").createCounter("jobs.done").add(2);
      await gz.forceFlush();
      await gz.shutdown();
      await eventually("the gzip tenant's series", async () => {
        const r = await instant(q, "jobs_done_total");
        return r.length === 1 && r[0].metric[TENANT_LABEL] === "team-gzip" &&
          r[0].metric.job === "batch" && r[0].value![1] === "2";
      });

      // malformed bodies: 400 with a reason, counted, nothing stored
      const bad = await postRaw(otlpUrl, new TextEncoder().encode("\x0a\xff\xff\xff"), {
        "content-type": "application/x-protobuf",
        "content-encoding": "",
        "THANOS-TENANT": "team-bad",
      });
      assertEquals(bad.status, 400, bad.body);
      assert(bad.body.includes("unmarshal OTLP protobuf request"), bad.body);
      const badJson = await postRaw(
        otlpUrl,
        new TextEncoder().encode(JSON.stringify({
          resourceMetrics: [{
            scopeMetrics: [{
              metrics: [{
                name: "bad.delta",
                sum: {
                  aggregationTemporality: 1,
                  isMonotonic: true,
                  dataPoints: [{ timeUnixNano: String(Date.now() * 1e6), asInt: "1" }],
                },
              }],
            }],
          }],
        })),
        { "content-type": "application/json", "content-encoding": "", "THANOS-TENANT": "team-bad" },
      );
      assertEquals(badJson.status, 400, badJson.body);
      assert(badJson.body.includes('invalid temporality for metric "bad.delta"'), badJson.body);
      const metrics = await (await fetch(`${node.http}/metrics`)).text();
      assert(
        metrics.includes('thanos_receive_otlp_requests_rejected_total{reason="decode"} 1'),
        metrics.split("\n").filter((l) => l.includes("otlp")).join("\n"),
      );
      assert(metrics.includes('thanos_receive_otlp_requests_rejected_total{reason="translate"} 1'));
      assertEquals(await instant(q, `{${TENANT_LABEL}="team-bad"}`), []);
      assertEquals(await instant(q, "bad_delta_total"), []);
    } finally {
      await provider?.shutdown().catch(() => {});
      await querier?.stop();
      await cluster?.stop();
      await dirs.cleanup();
    }
  },
);
