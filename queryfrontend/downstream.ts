// The frontend's client of the downstream querier (`--query-frontend.downstream-url`): requests
// the frontend builds (split parts, label requests) with retries on 5xx and network errors like
// Cortex's retry middleware (https://thanos.io/tip/components/query-frontend.md/#retry), and
// the reverse proxy for everything the frontend does not handle itself (instant queries, the
// UI, status pages).

import type { Histogram, Registry } from "../metrics/registry.ts";
import { inSpan, type Span, SpanKind, withTraceContext } from "../tracing/tracer.ts";
import { goJSONString } from "../strconv/json.ts";

/** A downstream answer, body read. */
export interface DownstreamAnswer {
  status: number;
  text: string;
  headers: Headers;
}

/** Options of {@link Downstream}. */
export interface DownstreamOptions {
  /** Base URL of the querier, e.g. `http://thanos-query:10902`. */
  url: string;
  /** Request headers passed on to the querier for requests the frontend builds. */
  forwardHeaders: readonly string[];
  /** Per-attempt timeout (0: none) — the tripper config's `response_header_timeout`. */
  timeoutMs: number;
  registry: Registry;
}

// Hop-by-hop headers are not forwarded by proxies (RFC 9110 §7.6.1).
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
]);

/** A downstream querier: retried API calls and the pass-through proxy. */
export class Downstream {
  readonly #base: URL;
  readonly #retries: Histogram;

  constructor(private readonly o: DownstreamOptions) {
    this.#base = new URL(o.url.endsWith("/") ? o.url : o.url + "/");
    this.#retries = o.registry.histogram({
      name: "cortex_query_frontend_retries",
      help: "Number of times a request is retried.",
      buckets: [0, 1, 2, 3, 4, 5],
    });
  }

  /** The downstream URL of a frontend path (`/api/v1/query`) and query string. */
  url(path: string, search = ""): URL {
    const u = new URL(path.replace(/^\/+/, ""), this.#base);
    u.search = search;
    return u;
  }

  /** The headers of `req` that `--query-frontend.forward-header` names. */
  forwarded(req: Request): Headers {
    const h = new Headers();
    for (const name of this.o.forwardHeaders) {
      const v = req.headers.get(name);
      if (v !== null) h.set(name, v);
    }
    return h;
  }

  /**
   * GET `path` with `params`, up to `maxTries` attempts while the querier answers 5xx or cannot
   * be reached. A last network failure becomes a 503 in Prometheus' error format.
   */
  async get(
    path: string,
    params: URLSearchParams,
    headers: Headers,
    maxTries: number,
    signal?: AbortSignal,
  ): Promise<DownstreamAnswer> {
    const url = this.url(path, params.toString());
    // one client span per downstream request (its attempts included); the querier continues
    // the trace from the `traceparent` sent with each attempt
    return await inSpan("query_frontend_downstream", spanAttributes("GET", path), async (span) => {
      let last: DownstreamAnswer | undefined;
      let lastError = "";
      const tries = Math.max(1, maxTries);
      for (let attempt = 0; attempt < tries; attempt++) {
        if (signal?.aborted) break;
        if (attempt > 0) this.#retries.observe(attempt);
        try {
          const r = await fetch(url, {
            headers: withTraceHeaders(headers),
            signal: this.#signal(signal),
          });
          const text = await r.text();
          last = { status: r.status, text, headers: r.headers };
          if (Math.floor(r.status / 100) !== 5) return answered(span, last, attempt);
        } catch (e) {
          last = undefined;
          lastError = (e as Error)?.message ?? String(e);
        }
      }
      if (last !== undefined) return answered(span, last, tries - 1);
      if (signal?.aborted) lastError = "request canceled";
      return answered(span, unavailable(`downstream ${this.#base.origin}: ${lastError}`), tries);
    }, SpanKind.CLIENT);
  }

  #signal(outer?: AbortSignal): AbortSignal | undefined {
    const signals: AbortSignal[] = [];
    if (outer) signals.push(outer);
    if (this.o.timeoutMs > 0) signals.push(AbortSignal.timeout(this.o.timeoutMs));
    return signals.length === 0 ? undefined : AbortSignal.any(signals);
  }

  /**
   * Forwards `req` unchanged (path, query, method, headers, body) and relays the answer; up to
   * `maxTries` attempts while the querier answers 5xx or cannot be reached.
   */
  proxy(req: Request, path: string, signal?: AbortSignal, maxTries = 1): Promise<Response> {
    return inSpan(
      "query_frontend_downstream",
      spanAttributes(req.method, path),
      async (span) => {
        const res = await this.#proxy(req, path, signal, maxTries);
        span.setAttribute("http.response.status_code", res.status);
        return res;
      },
      SpanKind.CLIENT,
    );
  }

  async #proxy(req: Request, path: string, signal?: AbortSignal, maxTries = 1): Promise<Response> {
    const src = new URL(req.url);
    const headers = new Headers();
    for (const [k, v] of req.headers) if (!HOP_BY_HOP.has(k.toLowerCase())) headers.set(k, v);
    // the body is decompressed by fetch; never ask for an encoding we would relay wrongly
    headers.delete("accept-encoding");
    const traced = withTraceContext(undefined);
    if (traced !== undefined) {
      // traced: the querier continues this frontend's trace, not the caller's directly
      headers.delete("traceparent");
      headers.delete("tracestate");
      for (const [k, v] of Object.entries(traced)) headers.set(k, v);
    }
    const body = req.method === "GET" || req.method === "HEAD"
      ? undefined
      : await req.arrayBuffer().catch(() => undefined);
    const tries = Math.max(1, maxTries);
    let lastError = "";
    for (let attempt = 0; attempt < tries; attempt++) {
      if (attempt > 0) this.#retries.observe(attempt);
      try {
        const r = await fetch(this.url(path, src.search), {
          method: req.method,
          headers,
          body,
          redirect: "manual",
          signal: this.#signal(signal),
        });
        if (Math.floor(r.status / 100) === 5 && attempt + 1 < tries) {
          await r.body?.cancel();
          continue;
        }
        const out = new Headers();
        for (const [k, v] of r.headers) {
          if (!HOP_BY_HOP.has(k.toLowerCase()) && k.toLowerCase() !== "content-encoding") {
            out.set(k, v);
          }
        }
        return new Response(r.body, { status: r.status, statusText: r.statusText, headers: out });
      } catch (e) {
        lastError = (e as Error)?.message ?? String(e);
        if (signal?.aborted) break;
      }
    }
    const a = unavailable(`downstream ${this.#base.origin}: ${lastError}`);
    return new Response(a.text, { status: a.status, headers: a.headers });
  }
}

function spanAttributes(method: string, path: string): Record<string, string> {
  return { "http.request.method": method, "url.path": path };
}

/** `headers` plus the active trace context (the same object when there is none). */
function withTraceHeaders(headers: Headers): Headers {
  const t = withTraceContext(undefined);
  if (t === undefined) return headers;
  const out = new Headers(headers);
  for (const [k, v] of Object.entries(t)) out.set(k, v);
  return out;
}

/** Records a downstream answer on its span. */
function answered(span: Span, a: DownstreamAnswer, retries: number): DownstreamAnswer {
  span.setAttribute("http.response.status_code", a.status);
  if (retries > 0) span.setAttribute("retries", retries);
  return a;
}

/** A 503 in Prometheus' error envelope. */
export function unavailable(msg: string): DownstreamAnswer {
  return {
    status: 503,
    text: `{"status":"error","errorType":"unavailable","error":${goJSONString(msg)}}`,
    headers: new Headers({ "content-type": "application/json" }),
  };
}
