// The exporter's counters and their metrics, apart from tracing/setup.ts so that a role exposes the
// metrics without loading the OpenTelemetry SDK, which setup.ts imports when tracing starts.

import type { Registry } from "../metrics/registry.ts";

/** Counters of this thread's exporter. */
export const tracingStats = {
  /** Spans dropped because the queue was full (the collector is down or slow). */
  droppedSpans: 0,
  /** Export requests that failed. */
  failedExports: 0,
  /** Spans handed to the collector successfully. */
  exportedSpans: 0,
};

/**
 * Exposes this thread's exporter counters on `registry`:
 * `thanos_tracing_spans_dropped_total`, `thanos_tracing_export_failures_total`,
 * `thanos_tracing_spans_exported_total`.
 */
export function registerTracingMetrics(registry: Registry): void {
  const dropped = registry.counter({
    name: "thanos_tracing_spans_dropped_total",
    help: "Spans dropped because the export queue was full (collector down or slow).",
  });
  const failed = registry.counter({
    name: "thanos_tracing_export_failures_total",
    help: "OTLP span export requests that failed.",
  });
  const exported = registry.counter({
    name: "thanos_tracing_spans_exported_total",
    help: "Spans exported to the OTLP collector.",
  });
  registry.onCollect(() => {
    dropped.labels().value = tracingStats.droppedSpans;
    failed.labels().value = tracingStats.failedExports;
    exported.labels().value = tracingStats.exportedSpans;
  });
}
