// Turns tracing on in one thread (a role's worker, or a PromQL evaluation Worker): an
// OpenTelemetry tracer provider whose spans go through a bounded queue to an OTLP/HTTP protobuf
// exporter (https://opentelemetry.io/docs/specs/otlp/#otlphttp), the W3C trace-context
// propagator, and an AsyncLocalStorage context so the active span follows async calls. A
// collector that is down or slow never blocks the role: spans past the queue bound are dropped
// and counted, failed exports are counted and logged at most once a minute.

import { type Context, context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { ExportResultCode, W3CTraceContextPropagator } from "@opentelemetry/core";
// @ts-types="./otlp_exporter.d.ts"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  type Span as SdkSpan,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import type { Logger } from "../logging/log.ts";
import type { OtlpConfig, SamplerType } from "./config.ts";
import { type ChannelFactory, OtlpGrpcExporter } from "./grpc_exporter.ts";
import { setTracingEnabled } from "./tracer.ts";
import { tracingStats } from "./stats.ts";

/** Spans waiting for export, at most (past it, new spans are dropped and counted). */
export const MAX_QUEUED_SPANS = 2048;

/** A running tracer; `shutdown` flushes what is queued (bounded by the export timeout). */
export interface TracingHandle {
  shutdown(): Promise<void>;
}

function sampler(type: SamplerType, ratio: number): Sampler {
  switch (type) {
    case "alwayssample":
      return new AlwaysOnSampler();
    case "neversample":
      return new AlwaysOffSampler();
    case "traceidratiobased":
      return new TraceIdRatioBasedSampler(ratio);
    case "parentbasedalwayssample":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbasedneversample":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbasedtraceidratiobased":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

/** Counts what the exporter sent and what failed; releases the queue slots either way. */
class CountingExporter implements SpanExporter {
  private lastLog = 0;
  constructor(
    private readonly inner: SpanExporter,
    private readonly release: (n: number) => void,
    private readonly logger?: Logger,
  ) {}

  export(spans: ReadableSpan[], done: (r: { code: ExportResultCode; error?: Error }) => void) {
    this.inner.export(spans, (r) => {
      this.release(spans.length);
      if (r.code === ExportResultCode.SUCCESS) tracingStats.exportedSpans += spans.length;
      else {
        tracingStats.failedExports++;
        const now = Date.now();
        if (this.logger && now - this.lastLog > 60_000) {
          this.lastLog = now;
          this.logger.warn("tracing: exporting spans failed; they are dropped", {
            err: r.error?.message ?? "unknown error",
            spans: spans.length,
          });
        }
      }
      done(r);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** Hands ended spans to the batch processor while fewer than the bound wait; drops the rest. */
class BoundedProcessor implements SpanProcessor {
  queued = 0;
  constructor(private readonly inner: SpanProcessor, private readonly max: number) {}

  onStart(span: SdkSpan, parent: Context): void {
    this.inner.onStart(span, parent);
  }

  onEnd(span: ReadableSpan): void {
    if (!span.spanContext().traceFlags) return; // not sampled: never exported
    if (this.queued >= this.max) {
      tracingStats.droppedSpans++;
      return;
    }
    this.queued++;
    this.inner.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/** OTLP/HTTP: POSTs of protobuf, by the OpenTelemetry exporter. */
function httpExporter(cfg: OtlpConfig, readFile: (p: string) => string | undefined): SpanExporter {
  return new OTLPTraceExporter({
    url: cfg.url,
    headers: cfg.headers,
    timeoutMillis: cfg.timeoutMs,
    compression: cfg.gzip ? "gzip" : "none",
    httpAgentOptions: cfg.url.startsWith("https:")
      ? {
        ca: readFile(cfg.tls.caFile),
        cert: readFile(cfg.tls.certFile),
        key: readFile(cfg.tls.keyFile),
      }
      : {},
  });
}

/** OTLP/gRPC: unary Export calls over the channel the caller opens. */
function grpcExporter(cfg: OtlpConfig, opts: TracingOptions): SpanExporter {
  if (!opts.grpcChannel) throw new Error("bug: OTLP over gRPC needs a gRPC channel factory");
  const f = (p: string) => p === "" ? undefined : p;
  const tls = cfg.tlsEnabled
    ? { caFile: f(cfg.tls.caFile), certFile: f(cfg.tls.certFile), keyFile: f(cfg.tls.keyFile) }
    : undefined;
  return new OtlpGrpcExporter(opts.grpcChannel(cfg.url, tls, cfg.gzip), cfg.timeoutMs, cfg.headers);
}

/** Options of {@link initTracing}. */
export interface TracingOptions {
  /** `service.name` when the config names none (Thanos uses the binary's name). */
  defaultServiceName: string;
  logger?: Logger;
  /** How long export batches wait (ms; default 1s). */
  batchDelayMs?: number;
  /** Opens the gRPC channel of `client_type: grpc` (the project's client, storeapi/grpc.ts). */
  grpcChannel?: ChannelFactory;
}

/**
 * Starts exporting this thread's spans per `cfg` and makes the tracer functions of
 * tracing/tracer.ts record. Throws when a TLS file cannot be read.
 */
export function initTracing(cfg: OtlpConfig, opts: TracingOptions): TracingHandle {
  const readFile = (p: string) => p === "" ? undefined : Deno.readTextFileSync(p);
  const exporter: SpanExporter = cfg.clientType === "grpc"
    ? grpcExporter(cfg, opts)
    : httpExporter(cfg, readFile);
  let bounded: BoundedProcessor | null = null;
  const counting = new CountingExporter(exporter, (n) => {
    if (bounded) bounded.queued = Math.max(0, bounded.queued - n);
  }, opts.logger);
  const batch = new BatchSpanProcessor({
    exporter: counting,
    // our bound comes first; the batch processor's own (which drops silently) is never reached
    maxQueueSize: MAX_QUEUED_SPANS * 2,
    maxExportBatchSize: 512,
    scheduledDelayMillis: opts.batchDelayMs ?? 1000,
    exportTimeoutMillis: cfg.timeoutMs,
  });
  bounded = new BoundedProcessor(batch, MAX_QUEUED_SPANS);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      ...cfg.resourceAttributes,
      "service.name": cfg.serviceName || opts.defaultServiceName,
    }),
    sampler: sampler(cfg.sampler, cfg.samplerParam),
    spanProcessors: [bounded],
  });
  // a second start in the same thread (tests) replaces the first: the API registers once
  trace.disable();
  context.disable();
  propagation.disable();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  setTracingEnabled(true);
  return {
    async shutdown() {
      setTracingEnabled(false);
      try {
        await provider.shutdown();
      } catch { /* the collector is gone: what was queued is dropped */ }
    },
  };
}
