// The HTTP server every role has: `/metrics`, `/-/healthy`, `/-/ready`, plus the role's own
// routes declared as one table; request metrics; graceful shutdown within a grace period.
//
// Request bodies are never read by the runtime's `req.text()`/`arrayBuffer()`: those reserve the
// announced Content-Length up front (500 connections announcing 10 MiB held gigabytes). Handlers
// read bodies with `info.readBody(limit)` (or {@link readBody}): chunk by chunk, refused with 413
// once past the limit (at once when the announced length is already past it), and cut off with
// 408 when the sender is slower than the body read timeout (Prometheus's `--web.read-timeout`
// default, 5m: https://prometheus.io/docs/prometheus/latest/command-line/prometheus/).

import { type Histogram, METRICS_CONTENT_TYPE, Registry } from "../metrics/registry.ts";
import type { Logger } from "../logging/log.ts";
import { traceHttpRequest } from "../tracing/tracer.ts";
import { type PeerCertificate, TENANT_METRIC_LABEL } from "./tenancy.ts";
import { ClientCertListener, type ConnectionInfo } from "./mtls.ts";

/** Paths whose requests get no trace span: probes and the metrics scrape. */
const UNTRACED = /^\/(-\/|metrics$)/;
import {
  type HttpLogSettings,
  type HttpRequestFacts,
  HttpRequestLogger,
  requestLogConfig,
} from "./request_log.ts";
import {
  BasicAuth,
  loadTlsPem,
  needsNodeListener,
  RateLimiter,
  unauthorized,
  type WebConfig,
} from "./web_config.ts";

/** One route: method(s), a URLPattern pathname, and its handler. */
export interface Route {
  method: string | readonly string[];
  /** URLPattern pathname, e.g. `/api/v1/label/:name/values`. */
  path: string;
  /** Name used in metrics' `handler` label (defaults to `path`). */
  name?: string;
  handler: (
    req: Request,
    params: Record<string, string>,
    info: RequestInfo,
  ) => Response | Promise<Response>;
}

/** Per-request context passed to handlers. */
export interface RequestInfo {
  /** Aborted when the client goes away or the server shuts down. */
  signal: AbortSignal;
  remoteAddr: string;
  /** Path parameters as sent, still percent-encoded (for messages about undecodable bytes). */
  rawParams: Record<string, string>;
  /** Reads the request body, at most `limit` bytes, within the server's body read timeout. */
  readBody(limit: number): Promise<Uint8Array>;
  /** The client's TLS certificate, when the server asked for one and it was sent. */
  peerCertificate?: PeerCertificate;
  /** The request's URL as the server parsed it (absent: parse `req.url`). */
  url?: URL;
  /**
   * The URL's query as `URL.search` has it for reading its parameters (`?…` or empty), taken
   * from `req.url` without parsing the whole URL when its path is plain (absent: read `url`).
   */
  search?: string;
  /**
   * Set when the server hands each chunk of a streamed response body to the runtime, which keeps
   * the chunk's memory alive by itself until it is written (Deno.serve): once the stream's next
   * chunk is pulled, a handler may detach a chunk it alone owns, so that the memory is freed when
   * written rather than when the garbage collector reaches the chunk (issue 19, the querier's
   * peak). Unset: the consumer may still read a chunk later (node:https, in-process readers).
   */
  handsOffBodyChunks?: boolean;
}

/** A RequestInfo for calling a route handler directly (tests, in-process callers). */
export function directRequestInfo(
  req: Request,
  rawParams: Record<string, string> = {},
  remoteAddr = "127.0.0.1:1",
): RequestInfo {
  return { signal: req.signal, remoteAddr, rawParams, readBody: (limit) => readBody(req, limit) };
}

/** Default bound on reading one request body (Prometheus's `--web.read-timeout`). */
export const DEFAULT_BODY_READ_TIMEOUT_MS = 5 * 60_000;

/** A request the server refuses before its handler could use it: 413, 408 or 400. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * Reads `req`'s body incrementally: never more than `limit` bytes are kept (HttpError 413 past
 * it, before reading anything when Content-Length already says so), and the whole body must
 * arrive within `timeoutMs` (HttpError 408). Memory grows with the bytes received, never with
 * the length a client announces.
 */
export async function readBody(
  req: Request,
  limit: number,
  timeoutMs = DEFAULT_BODY_READ_TIMEOUT_MS,
): Promise<Uint8Array> {
  const announced = req.headers.get("content-length");
  if (announced !== null && /^\d+$/.test(announced.trim()) && Number(announced) > limit) {
    await req.body?.cancel().catch(() => {});
    throw new HttpError(
      413,
      `request body too large: ${announced} bytes exceeds the limit of ${limit}`,
    );
  }
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), timeoutMs));
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), expired]);
      if (next === "timeout") {
        throw new HttpError(408, `request body not received within ${timeoutMs / 1000}s`);
      }
      if (next.done) break;
      size += next.value.byteLength;
      if (size > limit) {
        throw new HttpError(413, `request body too large: more than the limit of ${limit} bytes`);
      }
      chunks.push(next.value);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    if (e instanceof HttpError) throw e;
    throw new HttpError(400, `reading request body: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** Percent-decodes a URL path segment into bytes (Go's unescaping: invalid escapes kept as is). */
export function percentDecodeBytes(s: string): Uint8Array {
  const raw = new TextEncoder().encode(s);
  const out = new Uint8Array(raw.length);
  let n = 0;
  const hex = (c: number) =>
    c >= 0x30 && c <= 0x39
      ? c - 0x30
      : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66
      ? (c | 0x20) - 0x57
      : -1;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x25 && i + 2 < raw.length && hex(raw[i + 1]) >= 0 && hex(raw[i + 2]) >= 0) {
      out[n++] = hex(raw[i + 1]) * 16 + hex(raw[i + 2]);
      i += 2;
    } else {
      out[n++] = raw[i];
    }
  }
  return out.subarray(0, n);
}

/** The role's readiness and health, flipped by the component as it starts and stops. */
export class Probe {
  healthy = true;
  ready = false;
  /** Why the role is not ready (shown in `/-/ready`'s body). */
  notReadyReason = "starting";
  setReady(): void {
    this.ready = true;
    this.notReadyReason = "";
  }
  setNotReady(reason: string): void {
    this.ready = false;
    this.notReadyReason = reason;
  }
}

/** HTTP server of one role. */
export class HttpServer {
  private readonly routes: {
    methods: Set<string>;
    pattern: URLPattern;
    /** The pathname itself when the pattern has no parameters or wildcards (matched by ===). */
    exact: string | null;
    route: Route;
  }[] = [];
  private server?: Deno.HttpServer<Deno.NetAddr>;
  /** The node:https listener, when the web config asks clients for certificates. */
  private certListener?: ClientCertListener;
  private readonly duration: Histogram;
  private readonly shutdownController = new AbortController();
  /** Address actually bound (port resolved when 0 was asked for). */
  addr?: Deno.NetAddr;
  private readonly auth?: BasicAuth;
  private readonly limiter?: RateLimiter;
  private readonly requestLog?: HttpRequestLogger;

  constructor(
    private readonly opts: {
      /** Where to listen (the launcher parsed `--http-address`). */
      address: { hostname: string; port: number };
      logger: Logger;
      registry: Registry;
      probe: Probe;
      /** Prefix under which the role's routes are served (`--web.route-prefix`). */
      routePrefix?: string;
      /** Bound on reading one request body (default {@link DEFAULT_BODY_READ_TIMEOUT_MS}). */
      bodyReadTimeoutMs?: number;
      /** `--http.config`: TLS, headers, basic auth, rate limit (server/web_config.ts). */
      web?: WebConfig;
      /** Request logging (server/request_log.ts); default the role's installed config. */
      requestLog?: HttpLogSettings | null;
      /**
       * A `tenant` label on the request metrics, as Thanos's querier and query frontend have
       * (extprom `NewTenantInstrumentationMiddleware`): the value of `header`, else
       * `defaultTenant`.
       */
      tenantLabel?: { header: string; defaultTenant: string };
    },
  ) {
    const rl = opts.requestLog !== undefined ? opts.requestLog : requestLogConfig().http;
    if (rl) this.requestLog = new HttpRequestLogger(rl, opts.logger);
    const web = opts.web;
    if (web && web.users.size > 0) this.auth = new BasicAuth(web.users);
    if (web?.rateLimit) {
      this.limiter = new RateLimiter(web.rateLimit.intervalMs, web.rateLimit.burst);
    }
    this.duration = opts.registry.histogram({
      name: "http_request_duration_seconds",
      help: "Tracks the latencies for HTTP requests.",
      labelNames: opts.tenantLabel
        ? ["code", "handler", "method", TENANT_METRIC_LABEL]
        : ["code", "handler", "method"],
    });
    this.add([
      {
        method: "GET",
        path: "/metrics",
        handler: async () =>
          new Response(await opts.registry.expose(), {
            headers: { "content-type": METRICS_CONTENT_TYPE },
          }),
      },
      {
        method: ["GET", "HEAD"],
        path: "/-/healthy",
        handler: () => opts.probe.healthy ? text(200, "OK") : text(503, "NOT OK"),
      },
      {
        method: ["GET", "HEAD"],
        path: "/-/ready",
        handler: () =>
          opts.probe.ready ? text(200, "OK") : text(503, `NOT OK: ${opts.probe.notReadyReason}`),
      },
    ], false);
  }

  /** Adds routes (under the route prefix unless `prefixed` is false). */
  add(routes: readonly Route[], prefixed = true): void {
    const prefix = prefixed ? (this.opts.routePrefix ?? "").replace(/\/$/, "") : "";
    for (const r of routes) {
      const methods = new Set(typeof r.method === "string" ? [r.method] : r.method);
      const pathname = prefix + r.path;
      this.routes.push({
        methods,
        pattern: new URLPattern({ pathname }),
        // only characters URLPattern takes literally and URL pathnames keep as they are
        exact: /^\/[A-Za-z0-9/_.~-]*$/.test(pathname) && !pathname.includes("/.") ? pathname : null,
        route: r,
      });
    }
  }

  /**
   * Starts listening; resolves once bound. Deno.serve serves, unless the web config asks clients
   * for certificates or turns HTTP/2 off, which only the node:https listener (server/mtls.ts)
   * can do.
   */
  async start(): Promise<void> {
    const { hostname, port } = this.opts.address;
    const web = this.opts.web;
    const pem = web?.tls ? await loadTlsPem(web.tls) : undefined;
    if (web?.tls && pem && needsNodeListener(web)) {
      this.certListener = await ClientCertListener.listen({
        hostname,
        port,
        cert: pem.cert,
        key: pem.key,
        ...(pem.clientCA !== undefined ? { clientCA: pem.clientCA } : {}),
        clientAuth: web.tls.clientAuth ?? "NoClientCert",
        allowedSans: web.tls.allowedSans ?? [],
        ...(web.tls.minVersion ? { minVersion: web.tls.minVersion } : {}),
        ...(web.tls.maxVersion ? { maxVersion: web.tls.maxVersion } : {}),
        logger: this.opts.logger,
      }, (req, conn) => this.serveWeb(req, conn));
      const addr = { transport: "tcp" as const, hostname, port: this.certListener.port };
      this.addr = addr;
      this.opts.logger.info("listening for requests and metrics", {
        service: "http/server",
        address: hostPort(hostname, addr.port),
      });
      this.opts.logger.info("TLS is enabled.", {
        http2: false,
        client_auth_type: web.tls.clientAuth,
        address: hostPort(hostname, addr.port),
      });
      return;
    }
    const tls = pem ? { cert: pem.cert, key: pem.key } : undefined;
    return new Promise((resolve, reject) => {
      try {
        this.server = Deno.serve({
          hostname,
          port,
          ...tls,
          signal: this.shutdownController.signal,
          onListen: (addr) => {
            this.addr = addr as Deno.NetAddr;
            this.opts.logger.info("listening for requests and metrics", {
              service: "http/server",
              address: hostPort(addr.hostname, addr.port),
            });
            // the toolkit's line (https://github.com/prometheus/exporter-toolkit, web.Serve)
            if (this.opts.web) {
              this.opts.logger.info(tls ? "TLS is enabled." : "TLS is disabled.", {
                http2: tls !== undefined,
                address: hostPort(addr.hostname, addr.port),
              });
            }
            resolve();
          },
          onError: (e) => {
            this.opts.logger.error("HTTP handler failed", { err: e });
            return text(500, "internal server error");
          },
        }, (req, info) => this.serveWeb(req, new ServedConnection(info)));
      } catch (e) {
        reject(e);
      }
    });
  }

  /**
   * The `--http.config` layer in front of every route, in the toolkit's order: rate limit (429),
   * configured headers, then basic auth (401 with `WWW-Authenticate: Basic`).
   */
  private async serveWeb(req: Request, conn: ConnectionInfo): Promise<Response> {
    const web = this.opts.web;
    if (!web) return this.handle(req, conn);
    let res: Response;
    if (this.limiter && !this.limiter.allow()) res = text(429, "Too Many Requests");
    else if (this.auth && !(await this.auth.allows(req))) {
      await req.body?.cancel().catch(() => {});
      res = unauthorized();
    } else res = await this.handle(req, conn);
    const headers = Object.entries(web.headers);
    if (headers.length === 0) return res;
    try {
      for (const [k, v] of headers) res.headers.set(k, v);
      return res;
    } catch {
      // immutable headers (a Response from fetch): answer with a copy
      const h = new Headers(res.headers);
      for (const [k, v] of headers) h.set(k, v);
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers: h });
    }
  }

  private async handle(req: Request, conn: ConnectionInfo): Promise<Response> {
    const start = performance.now();
    // the URL parser only for paths it would change (issue 19: a few µs of every request)
    const plain = plainRequestTarget(req.url);
    let parsed = plain === null ? new URL(req.url) : undefined;
    const pathname = plain === null ? parsed!.pathname : plain.pathname;
    let name = "not-found";
    let res: Response;
    let logged: HttpRequestFacts | undefined;
    try {
      // httprouter's rules (Prometheus's and Thanos's router): 405 only when the path has a
      // route for another method, the catch-all OPTIONS route never makes it a 405
      // (https://github.com/julienschmidt/httprouter, `allowed`)
      const allowed = new Set<string>();
      let found:
        | { route: Route; params: Record<string, string>; raw: Record<string, string> }
        | undefined;
      for (const r of this.routes) {
        // a static route matches its own pathname only, without parameters: no URLPattern call
        let groups: Record<string, string | undefined>;
        if (r.exact !== null) {
          if (r.exact !== pathname) continue;
          groups = {};
        } else {
          const m = r.pattern.exec({ pathname });
          if (!m) continue;
          groups = m.pathname.groups;
        }
        if (!r.methods.has(req.method)) {
          for (const x of r.methods) if (x !== "OPTIONS") allowed.add(x);
          continue;
        }
        const params: Record<string, string> = {};
        const raw: Record<string, string> = {};
        for (const [k, v] of Object.entries(groups)) {
          if (v === undefined) continue;
          raw[k] = v;
          params[k] = new TextDecoder().decode(percentDecodeBytes(v));
        }
        found = { route: r.route, params, raw };
        break;
      }
      if (found) {
        name = found.route.name ?? found.route.path;
        const timeoutMs = this.opts.bodyReadTimeoutMs ?? DEFAULT_BODY_READ_TIMEOUT_MS;
        const { route, params, raw } = found;
        // Thanos's request logging, for the role's own routes (not probes and /metrics)
        if (
          this.requestLog && !UNTRACED.test(pathname) &&
          this.requestLog.decides(parsed ??= new URL(req.url), req.headers.get("host"))
        ) {
          logged = { req, url: parsed, name, remoteAddr: conn.remoteAddr };
          this.requestLog.start(logged);
        }
        const info = new RoutedRequestInfo(req, conn, raw, timeoutMs, parsed, plain?.search);
        const call = () => route.handler(req, params, info);
        // a server span per request (not for probes and /metrics), continuing a `traceparent`
        res = UNTRACED.test(pathname) ? await call() : await traceHttpRequest(req, name, call);
      } else if (allowed.size > 0) {
        res = new Response("Method Not Allowed\n", {
          status: 405,
          headers: {
            allow: [...allowed, "OPTIONS"].sort().join(", "),
            "content-type": "text/plain; charset=utf-8",
          },
        });
      } else {
        res = text(404, "404 page not found");
      }
    } catch (e) {
      if (e instanceof HttpError) {
        res = text(e.status, e.message);
      } else {
        this.opts.logger.error("HTTP handler failed", { path: pathname, err: e });
        res = text(500, `internal server error: ${(e as Error).message}`);
      }
    }
    // label values in the order of the histogram's label names
    const code = String(res.status);
    const method = req.method.toLowerCase();
    const tl = this.opts.tenantLabel;
    const series = tl
      ? this.duration.labels(code, name, method, req.headers.get(tl.header) || tl.defaultTenant)
      : this.duration.labels(code, name, method);
    series.observe((performance.now() - start) / 1000);
    if (logged) this.requestLog!.finish(logged, res.status, performance.now() - start);
    return res;
  }

  /** Stops accepting connections and waits up to `graceMs` for in-flight requests. */
  async shutdown(graceMs: number): Promise<void> {
    if (this.certListener) {
      const l = this.certListener;
      this.certListener = undefined;
      await l.shutdown(graceMs);
      this.opts.logger.info("internal server is shutdown gracefully", { service: "http/server" });
      return;
    }
    if (!this.server) return;
    const server = this.server;
    this.server = undefined;
    if (graceMs <= 0) {
      // no grace: close at once. Aborting after a graceful shutdown has started can race with
      // it closing the listener (Deno then throws BadResource from the abort listener).
      this.shutdownController.abort();
      await server.finished;
      this.opts.logger.info("internal server is shutdown gracefully", { service: "http/server" });
      return;
    }
    const graceful = server.shutdown();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), graceMs));
    const outcome = await Promise.race([graceful.then(() => "done" as const), timeout]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      this.opts.logger.warn("HTTP grace period over, closing remaining connections");
      this.shutdownController.abort();
      await server.finished;
    }
    this.opts.logger.info("internal server is shutdown gracefully", { service: "http/server" });
  }
}

/**
 * The client address of a request served by Deno.serve, read only by the handlers that use it
 * (request logs, the ruler's and receiver's messages): Deno asks the runtime for it on every
 * read (issue 19, fixed cost), and throws "Request closed" once the response is done, so the
 * first read is kept.
 *
 * A class, not an object literal with a getter: a literal's accessor is a new function per
 * request, so each such object gets a map (hidden class) of its own. Those maps live in old
 * space and keep the request's objects alive through every young-generation GC until a full
 * one (about 1.5 KiB promoted per request, measured), and optimized code that checked such a
 * map is thrown away when it dies (issue 19: per-request promotion and deoptimizations).
 */
class ServedConnection implements ConnectionInfo {
  #remote: string | undefined;
  /** Deno.serve's body writer holds each chunk's backing store until it is written. */
  readonly handsOffBodyChunks = true;

  constructor(private readonly info: Deno.ServeHandlerInfo<Deno.NetAddr>) {}

  get remoteAddr(): string {
    if (this.#remote !== undefined) return this.#remote;
    try {
      this.#remote = `${this.info.remoteAddr.hostname}:${this.info.remoteAddr.port}`;
    } catch {
      this.#remote = ""; // first asked after the response: the connection is gone
    }
    return this.#remote;
  }
}

/** A routed request's {@link RequestInfo} (a class for the reason {@link ServedConnection} is). */
class RoutedRequestInfo implements RequestInfo {
  /**
   * Aborted when the client disconnects (deno.json opts in to "no-legacy-abort", so a
   * successful response does not abort it too).
   */
  readonly signal: AbortSignal;
  readonly peerCertificate?: PeerCertificate;
  readonly handsOffBodyChunks: boolean;

  constructor(
    private readonly req: Request,
    private readonly conn: ConnectionInfo,
    readonly rawParams: Record<string, string>,
    private readonly bodyTimeoutMs: number,
    private parsed: URL | undefined,
    readonly search: string | undefined,
  ) {
    this.signal = req.signal;
    this.peerCertificate = conn.peerCertificate;
    this.handsOffBodyChunks = conn.handsOffBodyChunks === true;
  }

  /** The request's URL, parsed on first use when the server did not need to. */
  get url(): URL {
    return this.parsed ??= new URL(this.req.url);
  }

  /**
   * A getter returning a new function, not a field holding one: handlers pass it on unbound. A
   * per-request closure stored in a field kept each request's objects alive through
   * young-generation GCs (a `/-/healthy` request promoted 0.28 KiB instead of 0.06, measured),
   * one that is only returned does not; it is made for the few requests that have a body.
   */
  get readBody(): (limit: number) => Promise<Uint8Array> {
    const { req, bodyTimeoutMs } = this;
    return (limit) => readBody(req, limit, bodyTimeoutMs);
  }

  get remoteAddr(): string {
    return this.conn.remoteAddr;
  }
}

/** A path the URL parser keeps as it is: characters it never escapes, no `.` segment. */
const PLAIN_PATH = /^\/[A-Za-z0-9/_.~-]*$/;

/**
 * The path and query of an absolute request URL (`req.url`: scheme, authority, then the target
 * as the client sent it) when `new URL` would give the same `pathname` and query parameters: a
 * plain path ({@link PLAIN_PATH}) and no `#` (the parser would cut a fragment off). The parser
 * escapes a few other query characters, which the parameters' decoding turns back. Null: parse.
 *
 * @internal exported for tests
 */
export function plainRequestTarget(href: string): { pathname: string; search: string } | null {
  const scheme = href.indexOf("://");
  if (scheme < 0) return null;
  const at = href.indexOf("/", scheme + 3);
  if (at < 0) return null;
  // an authority the parser would end earlier (`\`, `?`, `#`: a hostile Host header) is its own
  for (let i = scheme + 3; i < at; i++) {
    const c = href.charCodeAt(i);
    if (c === 0x5c || c === 0x3f || c === 0x23) return null;
  }
  const q = href.indexOf("?", at);
  const pathname = q < 0 ? href.slice(at) : href.slice(at, q);
  if (!PLAIN_PATH.test(pathname) || pathname.includes("/.")) return null;
  if (q < 0) return { pathname, search: "" };
  if (href.includes("#", q)) return null;
  return { pathname, search: q === href.length - 1 ? "" : href.slice(q) };
}

/** `host:port` as Go prints it: an IPv6 address in brackets (`[::]:10902`). */
export function hostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

function text(status: number, body: string): Response {
  return new Response(body + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** A JSON response. */
export function json(status: number, body: unknown, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}
