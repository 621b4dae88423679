// The part of @opentelemetry/exporter-trace-otlp-proto's API that tracing/setup.ts uses. Its own
// declarations reference `types="node"`, which pulls a second @types/node into the program and
// breaks the type check of node:http2 code elsewhere (storeapi/grpc.ts); this file replaces
// them (`@ts-types` in tracing/setup.ts).

import type { SpanExporter } from "@opentelemetry/sdk-trace";

export interface OtlpHttpExporterConfig {
  url?: string;
  headers?: Record<string, string>;
  timeoutMillis?: number;
  compression?: "gzip" | "none";
  httpAgentOptions?: { ca?: string; cert?: string; key?: string; keepAlive?: boolean };
}

export declare class OTLPTraceExporter implements SpanExporter {
  constructor(config?: OtlpHttpExporterConfig);
  export: SpanExporter["export"];
  shutdown(): Promise<void>;
  forceFlush(): Promise<void>;
}
