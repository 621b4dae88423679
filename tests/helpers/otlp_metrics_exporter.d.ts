// The part of @opentelemetry/exporter-metrics-otlp-proto's API the OTLP ingestion tests use. Its
// own declarations reference `types="node"`, which pulls a second @types/node into the program and
// breaks the type check of node:http2 code elsewhere (see tracing/otlp_exporter.d.ts); this file
// replaces them (`@ts-types` in tests/e2e/receive_otlp_test.ts).

import type { PushMetricExporter } from "@opentelemetry/sdk-metrics";

export interface OtlpMetricExporterConfig {
  url?: string;
  headers?: Record<string, string>;
  timeoutMillis?: number;
  compression?: "gzip" | "none";
}

export declare class OTLPMetricExporter implements PushMetricExporter {
  constructor(config?: OtlpMetricExporterConfig);
  export: PushMetricExporter["export"];
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}
