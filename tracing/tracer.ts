// What the libraries call to trace: spans, the active span, and W3C trace context in and out of
// HTTP headers and gRPC metadata. Until `tracing/setup.ts` turns tracing on in this thread,
// every call returns at once with a shared no-op span (no allocation, no context switch), so an
// untraced role pays a flag check per call.
//
// Spans follow the OpenTelemetry API (https://opentelemetry.io/docs/specs/otel/trace/api/); the
// trace context travels as the W3C `traceparent`/`tracestate` headers
// (https://www.w3.org/TR/trace-context/), the propagator Thanos's OTLP tracer uses.

import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  INVALID_SPAN_CONTEXT,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";

export { type Attributes, type Span, SpanKind };

let enabled = false;

/** The tracer name spans are recorded under (the instrumentation scope). */
const SCOPE = "thanos-ts";

const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** Set in the context of work that records no span ({@link untraced}). */
const UNTRACED = createContextKey("thanos-ts untraced");

/** Turns span recording on or off in this thread (tracing/setup.ts). */
export function setTracingEnabled(on: boolean): void {
  enabled = on;
}

/** True when spans are recorded in this thread. */
export function tracingEnabled(): boolean {
  return enabled;
}

/**
 * Starts a span, a child of `parent` (default: the active context). With tracing off, a shared
 * no-op span. End it with {@link endSpan} or `span.end()`.
 */
export function startSpan(
  name: string,
  attributes?: Attributes,
  kind: SpanKind = SpanKind.INTERNAL,
  parent?: Context,
): Span {
  if (!enabled) return NOOP_SPAN;
  const active = context.active();
  if (active.getValue(UNTRACED) === true) return NOOP_SPAN;
  return trace.getTracer(SCOPE).startSpan(name, { kind, attributes }, parent ?? active);
}

/**
 * Runs `fn` so that no span is recorded in it or its async continuations (a no-op span each,
 * and so no trace context sent on): the start-up warm-ups' synthetic queries, which no one
 * asked for, stay out of the traces.
 */
export function untraced<T>(fn: () => T): T {
  if (!enabled) return fn();
  return context.with(context.active().setValue(UNTRACED, true), fn);
}

/** Ends a span, marking it failed with `err` when given. */
export function endSpan(span: Span, err?: unknown): void {
  if (!enabled) return;
  if (err !== undefined) {
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: err instanceof Error ? err.message : String(err),
    });
  }
  span.end();
}

/**
 * Runs `fn` with `span` as the active span (its async continuations included), in `base` (default:
 * the active context).
 */
export function withSpan<T>(span: Span, fn: () => T, base?: Context): T {
  // the no-op span of untraced work: its context stays (and with it the untraced mark)
  if (!enabled || span === NOOP_SPAN) return fn();
  return context.with(trace.setSpan(base ?? context.active(), span), fn);
}

/**
 * Runs `fn` inside a new span that ends when `fn` settles (failed when it throws or rejects).
 */
export function inSpan<T>(
  name: string,
  attributes: Attributes | undefined,
  fn: (span: Span) => Promise<T>,
  kind: SpanKind = SpanKind.INTERNAL,
  parent?: Context,
): Promise<T> {
  if (!enabled) return fn(NOOP_SPAN);
  const span = startSpan(name, attributes, kind, parent);
  return withSpan(span, async () => {
    try {
      const r = await fn(span);
      endSpan(span);
      return r;
    } catch (e) {
      endSpan(span, e);
      throw e;
    }
  }, parent);
}

/**
 * Runs an HTTP handler inside a server span named `route`, continuing the trace of the
 * request's `traceparent` header (a new trace without one); records method, route and status.
 */
export async function traceHttpRequest(
  req: Request,
  route: string,
  fn: () => Response | Promise<Response>,
): Promise<Response> {
  if (!enabled) return await fn();
  const parent = contextFromHeaders(req.headers);
  const span = startSpan(
    route,
    {
      "http.request.method": req.method,
      "http.route": route,
      "url.path": new URL(req.url).pathname,
    },
    SpanKind.SERVER,
    parent,
  );
  let res: Response;
  try {
    res = await context.with(trace.setSpan(parent, span), fn);
  } catch (e) {
    endSpan(span, e);
    throw e;
  }
  span.setAttribute("http.response.status_code", res.status);
  endSpan(span, res.status >= 500 ? `HTTP ${res.status}` : undefined);
  return res;
}

/**
 * `metadata` plus the active trace context (`traceparent`, `tracestate`), for an outgoing gRPC
 * call or HTTP request. Returns `metadata` itself (possibly undefined) when tracing is off or
 * no span is active.
 */
export function withTraceContext(
  metadata: Record<string, string> | undefined,
): Record<string, string> | undefined {
  if (!enabled) return metadata;
  const active = context.active();
  if (trace.getSpan(active) === undefined) return metadata;
  const out: Record<string, string> = { ...metadata };
  propagation.inject(active, out);
  return out;
}

/** The W3C `traceparent` of the active span, or "" (to hand a trace to another thread). */
export function activeTraceparent(): string {
  if (!enabled) return "";
  const out: Record<string, string> = {};
  propagation.inject(context.active(), out);
  return out.traceparent ?? "";
}

/**
 * The context carried by incoming headers or gRPC metadata (`traceparent`, `tracestate`;
 * lower-case names), or the root context when they carry none (or tracing is off).
 */
export function contextFromHeaders(
  headers: Readonly<Record<string, string | undefined>> | Headers,
): Context {
  if (!enabled) return ROOT_CONTEXT;
  const get = headers instanceof Headers
    ? (k: string) => headers.get(k) ?? undefined
    : (k: string) => headers[k];
  const carrier: Record<string, string> = {};
  for (const k of ["traceparent", "tracestate"]) {
    const v = get(k);
    if (v !== undefined) carrier[k] = v;
  }
  if (carrier.traceparent === undefined) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/**
 * Runs a server-side call (a gRPC method) inside a server span named `name` that continues the
 * trace of the incoming `traceparent` in `metadata`; the span fails when `fn` rejects.
 */
export function traceServerCall<T>(
  name: string,
  metadata: Readonly<Record<string, string>>,
  attributes: Attributes | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  if (!enabled) return fn();
  return inSpan(name, attributes, () => fn(), SpanKind.SERVER, contextFromHeaders(metadata));
}
