// OTLP over gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` with the
// ExportTraceServiceRequest protobuf (https://opentelemetry.io/docs/specs/otlp/#otlpgrpc), sent
// over a unary-call channel the caller provides (the project's own gRPC client in
// storeapi/grpc.ts, which sits above this package). The request bytes come from the OpenTelemetry
// protobuf serializer, the same body OTLP/HTTP posts.

import { ExportResultCode } from "@opentelemetry/core";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";

/** The full method of the OTLP trace service. */
export const OTLP_TRACE_EXPORT_METHOD =
  "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/** A gRPC channel as the exporter uses it (storeapi/grpc.ts GrpcChannel fits). */
export interface UnaryChannel {
  unary(
    method: string,
    request: Uint8Array,
    opts: { timeoutMs?: number; metadata?: Record<string, string> },
  ): Promise<Uint8Array>;
  close(): void;
}

/** TLS of the channel to the collector (files; absent = plaintext h2c). */
export interface CollectorTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** Opens a channel to `address` (`host:port`). */
export type ChannelFactory = (address: string, tls?: CollectorTls, gzip?: boolean) => UnaryChannel;

/** Span exporter over OTLP/gRPC; every export is one unary call with a deadline. */
export class OtlpGrpcExporter implements SpanExporter {
  private closed = false;

  constructor(
    private readonly channel: UnaryChannel,
    private readonly timeoutMs: number,
    private readonly headers: Record<string, string>,
  ) {}

  export(
    spans: ReadableSpan[],
    done: (r: { code: ExportResultCode; error?: Error }) => void,
  ): void {
    if (this.closed) {
      done({ code: ExportResultCode.FAILED, error: new Error("exporter is shut down") });
      return;
    }
    let body: Uint8Array | undefined;
    try {
      body = ProtobufTraceSerializer.serializeRequest(spans);
    } catch (e) {
      done({ code: ExportResultCode.FAILED, error: e as Error });
      return;
    }
    if (body === undefined) {
      done({ code: ExportResultCode.FAILED, error: new Error("spans could not be encoded") });
      return;
    }
    this.channel.unary(OTLP_TRACE_EXPORT_METHOD, body, {
      timeoutMs: this.timeoutMs,
      metadata: this.headers,
    }).then(
      () => done({ code: ExportResultCode.SUCCESS }),
      (e) => done({ code: ExportResultCode.FAILED, error: e as Error }),
    );
  }

  shutdown(): Promise<void> {
    this.closed = true;
    this.channel.close();
    return Promise.resolve();
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
}
