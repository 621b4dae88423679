// OTLP ingestion CPU, printed, never asserted: `deno run -A bench/otlp_bench.ts [points=2000]`.
// An OpenTelemetry SDK request (`points` counter points with three attributes each, plus 100
// histogram points with 10 buckets, one resource) serialized by the SDK's own protobuf serializer;
// timed: decode only (receive/otlp_decode.ts), decode + translate (receive/otlp_translate.ts),
// and for scale, remote-write decoding of the same series (receive/remote_write.ts).

import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { ProtobufMetricsSerializer } from "@opentelemetry/otlp-transformer";
import { decodeOtlpProtobuf } from "../receive/otlp_decode.ts";
import { DEFAULT_OTLP_OPTIONS, translateOtlp } from "../receive/otlp_translate.ts";
import { decodeWriteRequest, encodeWriteRequest } from "../receive/remote_write.ts";
import { snappyBlockCompress } from "../storeapi/snappy.ts";

const POINTS = Number(Deno.args[0] ?? 2000);

class Reader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const reader = new Reader();
const provider = new MeterProvider({
  resource: resourceFromAttributes({
    "service.name": "bench",
    "service.instance.id": "i-1",
    "host.name": "h",
  }),
  readers: [reader],
});
const meter = provider.getMeter("bench");
const counter = meter.createCounter("http.server.requests", { unit: "{request}" });
for (let i = 0; i < POINTS; i++) {
  counter.add(i + 1, { "http.route": `/r${i % 100}`, "http.method": "GET", shard: String(i) });
}
const hist = meter.createHistogram("http.server.duration", { unit: "ms" });
for (let i = 0; i < 100; i++) hist.record(i * 7, { "http.route": `/r${i}` });
const { resourceMetrics } = await reader.collect();
const body = ProtobufMetricsSerializer.serializeRequest(resourceMetrics)!;
const series = translateOtlp(decodeOtlpProtobuf(body), DEFAULT_OTLP_OPTIONS);
const rw = snappyBlockCompress(encodeWriteRequest({ series }));

function time(what: string, f: () => void): number {
  for (let i = 0; i < 20; i++) f(); // warm-up
  const rounds = 100;
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) f();
  const ms = (performance.now() - t0) / rounds;
  console.log(
    `${what.padEnd(34)} ${ms.toFixed(3)} ms/request  ` +
      `${(series.length / ms * 1000 / 1e6).toFixed(2)} M series/s`,
  );
  return ms;
}

console.log(
  `request: ${POINTS} counter + 100 histogram points → ${series.length} series; ` +
    `OTLP body ${body.length} B, remote write body ${rw.length} B`,
);
time("OTLP protobuf decode", () => decodeOtlpProtobuf(body));
const full = time(
  "OTLP decode + translate",
  () => translateOtlp(decodeOtlpProtobuf(body), DEFAULT_OTLP_OPTIONS),
);
const prw = time("remote write decode (same series)", () => decodeWriteRequest(rw));
console.log(`OTLP / remote write: ${(full / prw).toFixed(1)}×`);
await provider.shutdown();
