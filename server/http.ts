// The HTTP server every role has: `/metrics`, `/-/healthy`, `/-/ready`, plus the role's own
// routes declared as one table; request metrics; graceful shutdown within a grace period.

import { type Histogram, METRICS_CONTENT_TYPE, Registry } from "../metrics/registry.ts";
import type { Logger } from "../logging/log.ts";

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
  private readonly routes: { methods: Set<string>; pattern: URLPattern; route: Route }[] = [];
  private server?: Deno.HttpServer<Deno.NetAddr>;
  private readonly duration: Histogram;
  private readonly shutdownController = new AbortController();
  /** Address actually bound (port resolved when 0 was asked for). */
  addr?: Deno.NetAddr;

  constructor(
    private readonly opts: {
      /** Where to listen (the launcher parsed `--http-address`). */
      address: { hostname: string; port: number };
      logger: Logger;
      registry: Registry;
      probe: Probe;
      /** Prefix under which the role's routes are served (`--web.route-prefix`). */
      routePrefix?: string;
    },
  ) {
    this.duration = opts.registry.histogram({
      name: "http_request_duration_seconds",
      help: "Tracks the latencies for HTTP requests.",
      labelNames: ["code", "handler", "method"],
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
      this.routes.push({
        methods,
        pattern: new URLPattern({ pathname: prefix + r.path }),
        route: r,
      });
    }
  }

  /** Starts listening; resolves once bound. */
  start(): Promise<void> {
    const { hostname, port } = this.opts.address;
    return new Promise((resolve, reject) => {
      try {
        this.server = Deno.serve({
          hostname,
          port,
          signal: this.shutdownController.signal,
          onListen: (addr) => {
            this.addr = addr as Deno.NetAddr;
            this.opts.logger.info("listening for requests and metrics", {
              service: "http/server",
              address: `${addr.hostname}:${addr.port}`,
            });
            resolve();
          },
          onError: (e) => {
            this.opts.logger.error("HTTP handler failed", { err: e });
            return text(500, "internal server error");
          },
        }, (req, info) => this.handle(req, info));
      } catch (e) {
        reject(e);
      }
    });
  }

  private async handle(req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Promise<Response> {
    const start = performance.now();
    const url = new URL(req.url);
    let name = "not-found";
    let res: Response;
    try {
      let allowed: string[] = [];
      let found: { route: Route; params: Record<string, string> } | undefined;
      for (const r of this.routes) {
        const m = r.pattern.exec({ pathname: url.pathname });
        if (!m) continue;
        if (!r.methods.has(req.method)) {
          allowed = allowed.concat([...r.methods]);
          continue;
        }
        const params: Record<string, string> = {};
        for (const [k, v] of Object.entries(m.pathname.groups)) {
          if (v !== undefined) params[k] = decodeURIComponent(v);
        }
        found = { route: r.route, params };
        break;
      }
      if (found) {
        name = found.route.name ?? found.route.path;
        res = await found.route.handler(req, found.params, {
          // Aborted when the client disconnects (deno.json opts in to "no-legacy-abort", so a
          // successful response does not abort it too).
          signal: req.signal,
          remoteAddr: `${info.remoteAddr.hostname}:${info.remoteAddr.port}`,
        });
      } else if (allowed.length > 0) {
        res = new Response("method not allowed\n", {
          status: 405,
          headers: { allow: allowed.join(", ") },
        });
      } else {
        res = text(404, "404 page not found");
      }
    } catch (e) {
      this.opts.logger.error("HTTP handler failed", { path: url.pathname, err: e });
      res = text(500, `internal server error: ${(e as Error).message}`);
    }
    this.duration.observe(
      { code: String(res.status), handler: name, method: req.method.toLowerCase() },
      (performance.now() - start) / 1000,
    );
    return res;
  }

  /** Stops accepting connections and waits up to `graceMs` for in-flight requests. */
  async shutdown(graceMs: number): Promise<void> {
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
